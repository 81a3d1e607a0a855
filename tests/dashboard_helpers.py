"""Driving the dashboard through Flask's test client: CSRF tokens, signing in, reading rows."""

from __future__ import annotations

import re
from html import unescape

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client, path: str = "/dashboard/sign-in") -> str:
    """The CSRF token the page at `path` puts in its forms (this client's session)."""
    page = client.get(path)
    assert page.status_code == 200, page.status_code
    match = CSRF.search(page.get_data(as_text=True))
    assert match, "no CSRF token on the page"
    return match.group(1)


def sign_in(client, username: str = "admin", password: str = "admin123", next_url: str | None = None):
    """Post the sign-in form as a browser would (CSRF token from the form); returns the answer."""
    data = {"csrf_token": csrf_token(client), "username": username, "password": password}
    if next_url is not None:
        data["next"] = next_url
    return client.post("/dashboard/sign-in", data=data)


def post_form(client, path: str, page: str, **fields: str):
    """Post a dashboard form with the CSRF token of `page` (the page the form is on)."""
    return client.post(path, data={"csrf_token": csrf_token(client, page), **fields})


def row_html(html: str, attribute: str, value: str) -> str:
    """The `<tr>` carrying `attribute="value"`."""
    match = re.search(rf'<tr {attribute}="{re.escape(value)}".*?</tr>', html, re.S)
    assert match, f"no row {attribute}={value}"
    return match.group(0)


def status_counts(row: str) -> dict[int, int]:
    """The `data-status` cells of a bulk row: {status: count}."""
    return {int(status): int(count) for status, count in
            re.findall(r'data-status="(\d)"\s+data-label="[^"]*">(\d+)</td>', row)}


def bulk_uuids(html: str) -> list[str]:
    """The bulks listed on a page, in order."""
    return re.findall(r'<tr data-bulk-uuid="([^"]+)"', html)


def text(html: str) -> str:
    """The page's text without tags (for reading messages)."""
    return unescape(re.sub(r"<[^>]+>", " ", html))
