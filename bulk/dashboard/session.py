"""Signing in to the dashboard: a signed session cookie, CSRF tokens, and who counts as signed in.

The session is Flask's signed cookie (nothing stored on the server): HttpOnly, SameSite=Lax, limited
to `/dashboard`, and Secure when the request came over HTTPS as the WSGI server reports it (gunicorn
trusts `X-Forwarded-Proto` from the addresses in `FORWARDED_ALLOW_IPS`) or always with
`BULK_DASHBOARD_SECURE_COOKIE=always`. It says who signed in and until when (by the service clock,
like admin tokens), and carries a fingerprint of the admin credentials, so changing the admin
password or the secret signs every dashboard session out, and the token generation, so
`flask --app app bulk tokens revoke` does too.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from flask import Flask, current_app, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect

from bulk.revocation import FIRST_GENERATION
from bulk.service import BulkService

COOKIE_NAME = "bulk_dashboard"
COOKIE_PATH = "/dashboard"
_SESSION_KEY = "dashboard"


class DashboardSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, with the Secure flag decided per request."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def _derived_key(secret: bytes, purpose: str) -> bytes:
    return hmac.new(secret, purpose.encode(), hashlib.sha256).digest()


def configure_sessions(app: Flask, service: BulkService) -> None:
    """Give the app its session cookie settings and CSRF protection (checked by the dashboard only)."""
    settings = service.settings
    # A key of its own, derived from BULK_SECRET_KEY: a session cookie can never pass for a token.
    app.secret_key = _derived_key(settings.secret, "bulk.dashboard.session")
    app.session_interface = DashboardSessionInterface()
    app.config.update(
        SESSION_COOKIE_NAME=COOKIE_NAME,
        SESSION_COOKIE_PATH=COOKIE_PATH,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.dashboard_secure_cookie == "always",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.token_lifetime_hours),
        # The API takes no cookies and needs no CSRF token: only the dashboard's own forms are checked.
        WTF_CSRF_CHECK_DEFAULT=False,
        # A token lives as long as the session that holds it.
        WTF_CSRF_TIME_LIMIT=None,
    )
    CSRFProtect(app)


def check_csrf() -> None:
    """Refuse a form without this session's CSRF token (400, rendered by the dashboard)."""
    current_app.extensions["csrf"].protect()


def _fingerprint(service: BulkService) -> str:
    settings = service.settings
    credentials = f"{settings.admin_username}\0{settings.admin_password or ''}".encode()
    return hmac.new(_derived_key(settings.secret, "bulk.dashboard.credentials"), credentials,
                    hashlib.sha256).hexdigest()[:32]


def start_session(service: BulkService, username: str) -> None:
    """Signed in: a fresh session (no state carried over from before, CSRF token included)."""
    session.clear()
    session.permanent = True
    session[_SESSION_KEY] = {
        "user": username,
        "until": service.clock.time() + service.settings.token_lifetime_hours * 3600,
        "key": _fingerprint(service),
        "generation": service.tokens.generations.current(),
    }


def end_session() -> None:
    session.clear()


def signed_in_user(service: BulkService) -> str | None:
    """The signed-in admin's name, or None (no session, expired, or credentials changed since)."""
    state = session.get(_SESSION_KEY)
    if not isinstance(state, dict):
        return None
    until = state.get("until")
    if not isinstance(until, (int, float)) or until <= service.clock.time():
        return None
    if not hmac.compare_digest(str(state.get("key", "")), _fingerprint(service)):
        return None
    if state.get("generation", FIRST_GENERATION) != service.tokens.generations.current():
        return None
    user = state.get("user")
    return user if isinstance(user, str) else None
