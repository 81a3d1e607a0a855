"""The dashboard's pages through Flask's test client, on both engines: sign-in, sessions, CSRF, lists, actions.

The browser tests (tests/test_dashboard_browser.py) drive the same pages in Chromium.
"""

from __future__ import annotations

import re

import pytest

from bulk.dashboard import reads
from bulk.handlers import PermanentError, RetriableError
from bulk.heartbeats import FORGET_AFTER_SECONDS
from tests.dashboard_helpers import (
    bulk_uuids,
    csrf_token,
    post_form,
    row_html,
    sign_in,
    status_counts,
    text,
)
from tests.magento import assert_magento_error
from tests.oauth_helpers import create_integration, requests_auth, send_signed
from tests.test_http_status import drain_with, outcome_by_sku, submit

SIGN_IN_FAILED = ("The account sign-in was incorrect or your account is disabled temporarily. "
                  "Please wait and try again later.")


@pytest.fixture
def admin(client):
    """`client`, signed in to the dashboard."""
    assert sign_in(client).status_code == 302
    return client


def cookie_header(response) -> str:
    [cookie] = [value for value in response.headers.getlist("Set-Cookie") if value.startswith("bulk_dashboard=")]
    return cookie


# -- redirects and access --------------------------------------------------------------------------


def test_root_redirects_to_the_dashboard_and_api_paths_never_redirect(client, auth):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard"
    # The API keeps answering in Magento's shape, never with a redirect.
    unauthorised = client.get("/rest/V1/bulk/x/status")
    assert unauthorised.status_code == 401
    assert unauthorised.get_json()["message"] == "The consumer isn't authorized to access %resources."
    assert client.get("/rest/V1/bulk/abc/status", headers=auth).status_code == 404
    assert client.post("/", json={}).status_code == 400  # the API's catch-all still takes other methods at /


def test_pages_without_a_session_lead_to_the_sign_in_form(client):
    response = client.get("/dashboard?state=open")
    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard/sign-in?next=/dashboard?state%3Dopen"
    assert client.get("/dashboard/bulks/abc").headers["Location"].startswith("/dashboard/sign-in?next=")
    live = client.get("/dashboard/live")
    assert live.status_code == 401
    assert live.get_json() == {"signed_in": False}
    form = client.get("/dashboard/sign-in")
    assert form.status_code == 200
    html = form.get_data(as_text=True)
    assert 'name="username"' in html and 'name="password"' in html and 'type="password"' in html
    assert '<meta name="viewport"' in html


def test_actions_without_a_session_do_nothing(client, auth, service):
    bulk_uuid = submit(client, auth, ["bad-1"])
    drain_with(service, outcome_by_sku)
    token = csrf_token(client)  # an anonymous session's token: the form is genuine, the user is not signed in
    response = client.post(f"/dashboard/bulks/{bulk_uuid}/delete", data={"csrf_token": token, "confirmed": "yes"})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/dashboard/sign-in")
    assert client.get(f"/rest/V1/bulk/{bulk_uuid}/status", headers=auth).status_code == 200


def test_unknown_dashboard_paths_and_bulks_answer_a_404_page(admin):
    for path in ("/dashboard/nothing-here", "/dashboard/bulks/no-such-uuid", "/dashboard/bulks/" + "x" * 300,
                 "/dashboard/bulks/a%00b", "/dashboard/bulks/" + "a" * 65):
        response = admin.get(path)
        assert response.status_code == 404, path
        assert response.mimetype == "text/html"
    assert "There is no bulk no-such-uuid" in text(admin.get("/dashboard/bulks/no-such-uuid").get_data(as_text=True))
    assert admin.get("/dashboard/bulks/no-such-uuid/live").status_code == 404
    assert admin.get("/dashboard/bulks/a%00b/live").status_code == 404
    token = csrf_token(admin, "/dashboard")
    assert admin.post("/dashboard/bulks/no-such-uuid/retry", data={"csrf_token": token}).status_code == 404


# -- signing in ------------------------------------------------------------------------------------


def test_signing_in_sets_a_signed_http_only_same_site_cookie_limited_to_the_dashboard(client):
    response = sign_in(client, next_url="/dashboard/bulks/abc?state=failed")
    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard/bulks/abc?state=failed"
    cookie = cookie_header(response)
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Path=/dashboard" in cookie
    assert "Secure" not in cookie  # plain HTTP here: a Secure cookie would never come back
    assert client.get("/dashboard").status_code == 200


def test_the_cookie_is_secure_over_https(make_app):
    client = make_app().test_client()
    response = sign_in_over(client, "https://localhost")
    assert "Secure" in cookie_header(response)


def test_the_cookie_can_always_be_secure(make_app):
    client = make_app(BULK_DASHBOARD_SECURE_COOKIE="always").test_client()
    assert "Secure" in cookie_header(sign_in(client))


def sign_in_over(client, base_url: str):
    page = client.get("/dashboard/sign-in", base_url=base_url)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    # Over HTTPS, Flask-WTF also checks that the form came from this site (Referer).
    return client.post("/dashboard/sign-in", base_url=base_url, headers={"Referer": base_url + "/dashboard/sign-in"},
                       data={"csrf_token": token, "username": "admin", "password": "admin123"})


def test_a_wrong_password_shows_magentos_message_as_an_alert_and_no_session(client):
    response = sign_in(client, password="wrong")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert re.search(r'role="alert"[^>]*>' + re.escape(SIGN_IN_FAILED.replace("'", "&#39;")), html)
    assert 'value="admin"' in html  # the username stays filled in
    assert "wrong" not in html
    assert client.get("/dashboard").status_code == 302


def test_sign_in_failures_count_toward_the_token_endpoints_lock_out(make_app):
    client = make_app(BULK_LOGIN_MAX_FAILURES=2).test_client()
    for _ in range(2):
        assert SIGN_IN_FAILED.replace("'", "&#39;") in sign_in(client, password="wrong").get_data(as_text=True)
    # Locked: the right password is refused by the API and by the dashboard alike.
    assert_magento_error(client.post("/rest/V1/integration/admin/token",
                                     json={"username": "admin", "password": "admin123"}), 401, SIGN_IN_FAILED)
    assert sign_in(client).status_code == 200
    assert client.get("/dashboard").status_code == 302


def test_token_endpoint_failures_lock_the_dashboard_too(make_app):
    client = make_app(BULK_LOGIN_MAX_FAILURES=2).test_client()
    for _ in range(2):
        client.post("/rest/V1/integration/admin/token", json={"username": "admin", "password": "nope"})
    assert sign_in(client).status_code == 200
    assert client.get("/dashboard").status_code == 302


def test_forms_without_a_valid_csrf_token_are_refused(client, admin):
    for data in ({"username": "admin", "password": "admin123"},
                 {"username": "admin", "password": "admin123", "csrf_token": "forged"}):
        fresh = client.application.test_client()
        response = fresh.post("/dashboard/sign-in", data=data)
        assert response.status_code == 400
        assert response.mimetype == "text/html"
        assert "This form has expired or did not come from this dashboard" in text(response.get_data(as_text=True))
        assert fresh.get("/dashboard").status_code == 302
    assert admin.post("/dashboard/sign-out").status_code == 400
    assert admin.get("/dashboard").status_code == 200  # still signed in


def test_a_token_from_another_session_is_refused(make_app):
    app = make_app()
    first, second = app.test_client(), app.test_client()
    token = csrf_token(first)
    csrf_token(second)
    response = second.post("/dashboard/sign-in", data={"csrf_token": token, "username": "admin", "password": "admin123"})
    assert response.status_code == 400


def test_next_never_leads_off_the_dashboard(client):
    for target in ("https://evil.example/", "//evil.example/dashboard", "/rest/V1/bulk", "/\\evil.example"):
        assert sign_in(client.application.test_client(), next_url=target).headers["Location"] == "/dashboard"


def test_sign_out_ends_the_session(admin):
    response = post_form(admin, "/dashboard/sign-out", "/dashboard")
    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard/sign-in"
    assert "You are signed out." in admin.get("/dashboard/sign-in").get_data(as_text=True)
    assert admin.get("/dashboard").status_code == 302


def test_sessions_end_with_the_token_lifetime_by_the_service_clock(admin, clock):
    clock.advance(4 * 3600 - 1)
    assert admin.get("/dashboard").status_code == 200
    clock.advance(1)
    assert admin.get("/dashboard").status_code == 302


def test_changing_the_admin_password_signs_sessions_out(make_app, tmp_path):
    client = make_app().test_client()
    assert sign_in(client).status_code == 302
    cookie = client.get_cookie("bulk_dashboard", path="/dashboard").value
    other = make_app(BULK_ADMIN_PASSWORD="another-password").test_client()
    other.set_cookie("bulk_dashboard", cookie, path="/dashboard")
    assert other.get("/dashboard").status_code == 302


def test_pages_say_what_they_allow(admin):
    response = admin.get("/dashboard")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"
    # Pages name their icon (`<link rel="icon">`); `/favicon.ico` stays an API path like any other.
    assert 'rel="icon" href="/dashboard/static/favicon.svg"' in response.get_data(as_text=True)
    with admin.get("/dashboard/static/favicon.svg") as svg:
        assert svg.status_code == 200 and svg.data.startswith(b"<svg")


# -- the bulk list ---------------------------------------------------------------------------------


def test_the_list_shows_bulks_newest_first_with_their_counts(admin, auth, service, clock):
    first = submit(admin, auth, ["ok-1", "bad-1", "retry-1"])
    clock.advance(60)
    second = submit(admin, auth, ["ok-2", "ok-3"])
    drain_with(service, outcome_by_sku)
    clock.advance(60)
    third = submit(admin, auth, ["ok-4"])
    html = admin.get("/dashboard").get_data(as_text=True)
    assert bulk_uuids(html) == [third, second, first]
    row = row_html(html, "data-bulk-uuid", first)
    assert status_counts(row) == {1: 1, 2: 1, 3: 1, 4: 0, 5: 0}
    assert "Topic async.magento.catalog.api.productrepositoryinterface.save.post" in row
    assert "Admin #1" in row
    assert "2023-11-14 22:13:20" in row
    assert 'role="progressbar"' in row and 'aria-valuenow="100"' in row
    assert status_counts(row_html(html, "data-bulk-uuid", third)) == {1: 0, 2: 0, 3: 0, 4: 1, 5: 0}
    assert 'aria-valuenow="0"' in row_html(html, "data-bulk-uuid", third)


def test_the_list_filters_by_state_topic_and_owner(admin, auth, service, clock):
    failed = submit(admin, auth, ["bad-1"])
    done = submit(admin, auth, ["ok-1"])
    drain_with(service, outcome_by_sku)
    opened = submit(admin, auth, ["ok-2"], url="/rest/async/bulk/V1/products/bySku", method="PUT")
    guest = admin.post("/rest/async/bulk/V1/customers", json=[
        {"customer": {"email": "ann@example.com", "firstname": "Ann", "lastname": "Lee"}}]).get_json()["bulk_uuid"]

    def listed(**args):
        return set(bulk_uuids(admin.get("/dashboard", query_string=args).get_data(as_text=True)))

    assert listed() == {failed, done, opened, guest}
    assert listed(state="open") == {opened, guest}
    assert listed(state="finished") == {failed, done}
    assert listed(state="failed") == {failed}
    assert listed(topic="PRODUCTREPOSITORYINTERFACE.SAVE.PUT") == {opened}
    assert listed(topic="100%_") == set()  # wildcards are text, not patterns
    assert listed(owner="4:") == {guest}
    assert listed(owner="2:1") == {failed, done, opened}
    html = admin.get("/dashboard").get_data(as_text=True)
    assert '<option value="4:"' in html and ">Guest</option>" in html


def test_an_integrations_bulks_are_shown_with_its_name(admin, service, clock):
    integration = create_integration(service, name="erp-connector")
    # Signed at the service's (manual) time, which the dashboard session also lives by.
    signing = requests_auth(integration, timestamp=str(int(clock.time())))
    signed = send_signed(admin, "POST", "/rest/async/bulk/V1/products", signing,
                         json=[{"product": {"sku": "from-the-erp"}}])
    assert signed.status_code == 202
    html = admin.get("/dashboard").get_data(as_text=True)
    assert f"Integration erp-connector #{integration.id}" in row_html(html, "data-bulk-uuid",
                                                                      signed.get_json()["bulk_uuid"])
    assert f'<option value="1:{integration.id}"' in html


def test_the_list_has_pages(admin, auth, monkeypatch, clock):
    monkeypatch.setattr(reads, "BULKS_PER_PAGE", 2)
    uuids = []
    for index in range(5):
        uuids.append(submit(admin, auth, [f"ok-{index}"]))
        clock.advance(1)
    newest_first = uuids[::-1]
    first = admin.get("/dashboard").get_data(as_text=True)
    assert bulk_uuids(first) == newest_first[:2]
    assert "Page 1 of 3 · 5 bulks" in first
    assert bulk_uuids(admin.get("/dashboard?page=2").get_data(as_text=True)) == newest_first[2:4]
    last = admin.get("/dashboard?page=3").get_data(as_text=True)
    assert bulk_uuids(last) == newest_first[4:]
    assert 'href="/dashboard?page=2"' in last
    live = admin.get("/dashboard/live?page=2").get_json()
    assert [bulk["uuid"] for bulk in live["bulks"]] == newest_first[2:4]
    assert live["page"]["older"] == "/dashboard?page=3"


@pytest.mark.parametrize("query", [
    "page=abc", "page=-3", "page=99999999999999999999", "owner=garbage", "owner=2:99999999999999999999999",
    "state=everything", "topic=%25%00", "page=0&state=open&owner=:", "topic=" + "x" * 5000,
])
def test_odd_filters_never_break_the_list(admin, auth, query):
    submit(admin, auth, ["ok-1"])
    response = admin.get("/dashboard?" + query)
    assert response.status_code == 200
    assert admin.get("/dashboard/live?" + query).status_code == 200


def test_the_live_endpoint_gives_counts_and_the_overview(admin, auth, service, clock):
    bulk_uuid = submit(admin, auth, ["ok-1", "bad-1", "retry-1", "ok-2"])
    clock.advance(90)
    live = admin.get("/dashboard/live").get_json()
    assert live["open"] is True
    assert live["overview"]["open_operations"] == 4
    assert live["overview"]["oldest_open"] == "1 min 30 s"
    [bulk] = live["bulks"]
    assert bulk["uuid"] == bulk_uuid and bulk["counts"] == {"1": 0, "2": 0, "3": 0, "4": 4, "5": 0}
    drain_with(service, outcome_by_sku)
    live = admin.get("/dashboard/live").get_json()
    assert live["open"] is False
    assert live["bulks"][0]["counts"] == {"1": 2, "2": 1, "3": 1, "4": 0, "5": 0}
    assert live["bulks"][0]["percent"] == 100
    overview = live["overview"]
    assert (overview["open_operations"], overview["oldest_open"]) == (0, "—")
    assert (overview["completed_last_hour"], overview["failed_last_hour"]) == (2, 2)
    # The overview's page shows the same numbers.
    html = admin.get("/dashboard").get_data(as_text=True)
    assert re.search(r'data-overview="completed_last_hour">2<', html)
    clock.advance(3601)
    overview = admin.get("/dashboard/live").get_json()["overview"]
    assert (overview["completed_last_hour"], overview["failed_last_hour"]) == (0, 0)


def test_the_overview_shows_each_workers_drainer(admin, service, clock):
    assert admin.get("/dashboard/live").get_json()["overview"]["workers"] == []
    service.heartbeat.tick()  # one beat, as the loop writes every few seconds
    [worker] = admin.get("/dashboard/live").get_json()["overview"]["workers"]
    assert worker["label"] == "drainer stopped"  # this app's drainer thread is off
    assert "data-worker=" in admin.get("/dashboard").get_data(as_text=True)
    clock.advance(60)
    [worker] = admin.get("/dashboard/live").get_json()["overview"]["workers"]
    assert (worker["state"], worker["label"], worker["last_beat"]) == ("bad", "silent", "1 min 0 s ago")
    clock.advance(FORGET_AFTER_SECONDS)
    service.heartbeat.tick()  # the sweep forgets silent workers; this one beats again
    assert len(admin.get("/dashboard/live").get_json()["overview"]["workers"]) == 1


# -- one bulk --------------------------------------------------------------------------------------


def test_the_bulk_page_shows_each_operation_with_secrets_masked(admin, service):
    customers = [{"customer": {"email": f"c{index}@example.com", "firstname": "Ann", "lastname": "Lee"},
                  "password": "Sup3r-secret!", "password_confirmation": "Sup3r-secret!",
                  "extra": {"new_password": "n3w-secret", "currentPassword": "old-secret"}} for index in range(3)]
    response = admin.post("/rest/async/bulk/V1/customers", json=customers)
    bulk_uuid = response.get_json()["bulk_uuid"]

    def handler(job):
        email = job.arguments["customer"]["email"]
        if email.startswith("c1"):
            raise PermanentError('A customer with the same email address already exists in an associated website.',
                                 code=409)
        if email.startswith("c2"):
            raise RetriableError("Lock wait timeout exceeded", code=1205)
        return {"id": 1}

    drain_with(service, handler)
    html = admin.get(f"/dashboard/bulks/{bulk_uuid}").get_data(as_text=True)
    assert status_counts(row_html(html, "data-bulk-uuid", bulk_uuid)) == {1: 1, 2: 1, 3: 1, 4: 0, 5: 0}
    done, failed, retriable = (row_html(html, "data-operation-id", str(index)) for index in range(3))
    assert "Complete (1)" in done and "Service execution success" in done and "cleared when complete" in done
    assert "Failed (3)" in failed and "already exists in an associated website." in failed
    assert '<td class="num" data-label="Error code" data-field="error_code">409</td>' in failed
    assert "Failed, retriable (2)" in retriable and "1205" in retriable
    assert "c1@example.com" in failed
    assert html.count("&#34;******&#34;") == 8  # four secrets in each of the two failed items
    for secret in ("Sup3r-secret!", "n3w-secret", "old-secret"):
        assert secret not in html
    assert 'data-action="retry"' in html
    live = admin.get(f"/dashboard/bulks/{bulk_uuid}/live").get_json()
    assert [op["status"] for op in live["operations"]] == ["1", "3", "2"]
    assert all("secret" not in (op["item"] or "") for op in live["operations"])


def test_the_bulk_page_filters_and_pages_operations(admin, auth, service, monkeypatch):
    monkeypatch.setattr(reads, "OPERATIONS_PER_PAGE", 2)
    bulk_uuid = submit(admin, auth, ["ok-0", "bad-1", "ok-2", "bad-3", "ok-4"])
    drain_with(service, outcome_by_sku)

    def ids(query=""):
        html = admin.get(f"/dashboard/bulks/{bulk_uuid}{query}").get_data(as_text=True)
        return [int(value) for value in re.findall(r'<tr data-operation-id="(\d+)"', html)]

    assert ids() == [0, 1]
    assert ids("?page=3") == [4]
    assert ids("?state=failed") == [1, 3]
    assert ids("?state=complete&page=2") == [4]
    assert ids("?state=open") == []


def test_retry_reopens_failed_operations_through_the_apis_code(admin, auth, service):
    bulk_uuid = submit(admin, auth, ["ok-1", "bad-1", "retry-1"])
    drain_with(service, outcome_by_sku)
    woken = []
    service.drainer.notify = lambda: woken.append(True)
    response = post_form(admin, f"/dashboard/bulks/{bulk_uuid}/retry", f"/dashboard/bulks/{bulk_uuid}")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/dashboard/bulks/{bulk_uuid}"
    assert woken == [True]
    status = admin.get(f"/rest/V1/bulk/{bulk_uuid}/status", headers=auth).get_json()
    assert [op["status"] for op in status["operations_list"]] == [1, 4, 4]
    page = admin.get(f"/dashboard/bulks/{bulk_uuid}").get_data(as_text=True)
    assert "Re-opened 2 failed operation(s)" in page
    assert re.search(r'<form[^>]*retry[^>]*data-when="failed" hidden', page)  # nothing failed to retry now
    drain_with(service, lambda job: {"ok": True})
    assert [op["status"] for op in admin.get(f"/rest/V1/bulk/{bulk_uuid}/status", headers=auth)
            .get_json()["operations_list"]] == [1, 1, 1]
    post_form(admin, f"/dashboard/bulks/{bulk_uuid}/retry", f"/dashboard/bulks/{bulk_uuid}")
    assert "No failed operation to retry." in admin.get(f"/dashboard/bulks/{bulk_uuid}").get_data(as_text=True)


def test_delete_asks_first_then_deletes(admin, auth, service):
    bulk_uuid = submit(admin, auth, ["ok-1", "bad-1"])
    drain_with(service, outcome_by_sku)
    page = f"/dashboard/bulks/{bulk_uuid}"
    confirm = post_form(admin, f"{page}/delete", page)
    assert confirm.status_code == 200
    html = confirm.get_data(as_text=True)
    assert 'data-action="confirm-delete"' in html and 'name="confirmed" value="yes"' in html
    assert admin.get(f"/rest/V1/bulk/{bulk_uuid}/status", headers=auth).status_code == 200  # asked, not deleted
    response = post_form(admin, f"{page}/delete", page, confirmed="yes")
    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard"
    assert f"Deleted bulk {bulk_uuid} and its 2 operation(s)." in admin.get("/dashboard").get_data(as_text=True)
    assert admin.get(f"/rest/V1/bulk/{bulk_uuid}/status", headers=auth).status_code == 404
    assert admin.get(page).status_code == 404


def test_a_bulk_with_open_operations_is_not_deleted(admin, auth):
    bulk_uuid = submit(admin, auth, ["ok-1"])
    page = f"/dashboard/bulks/{bulk_uuid}"
    html = admin.get(page).get_data(as_text=True)
    assert re.search(r'<form[^>]*delete[^>]*data-when="finished" hidden', html)
    assert "operation(s) still open" in text(html)
    response = post_form(admin, f"{page}/delete", page, confirmed="yes")
    assert response.headers["Location"] == page
    assert "still has 1 open operation(s)" in admin.get(page).get_data(as_text=True)
    assert admin.get(f"/rest/V1/bulk/{bulk_uuid}/status", headers=auth).status_code == 200


def test_every_form_that_changes_something_carries_a_csrf_token(admin, auth, service):
    bulk_uuid = submit(admin, auth, ["ok-1", "bad-1"])
    drain_with(service, outcome_by_sku)
    pages = ["/dashboard", f"/dashboard/bulks/{bulk_uuid}"]
    htmls = [admin.get(page).get_data(as_text=True) for page in pages]
    htmls.append(post_form(admin, f"/dashboard/bulks/{bulk_uuid}/delete", pages[1]).get_data(as_text=True))
    htmls.append(admin.application.test_client().get("/dashboard/sign-in").get_data(as_text=True))
    forms = [form for html in htmls for form in re.findall(r"<form.*?</form>", html, re.S)]
    posts = [form for form in forms if 'method="post"' in form]
    assert len(posts) >= 6
    assert all('name="csrf_token"' in form for form in posts)
    assert all('method="get"' in form for form in forms if form not in posts)
