"""The dashboard's pages and actions: sign-in, the bulk list, a bulk's page, retry, delete, live numbers.

Pages are rendered on the server (templates/dashboard); `static/dashboard.js` polls the `live`
endpoints (small JSON) and updates numbers in place while the page is open. Every form posts a CSRF
token; the filter form is a GET that changes nothing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any, NamedTuple
from urllib.parse import urlencode, urlsplit

import peewee
from flask import (
    Blueprint,
    abort,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as WerkzeugResponse

from bulk import queue
from bulk.clock import magento_time
from bulk.dashboard import reads
from bulk.dashboard.present import (
    STATUS_LABELS,
    STATUS_SHORT,
    duration,
    owner_label,
    owner_value,
    parse_owner,
    stored_item,
)
from bulk.dashboard.session import check_csrf, end_session, signed_in_user, start_session
from bulk.errors import WebapiError
from bulk.heartbeats import RUNNING, SILENT_AFTER_SECONDS
from bulk.models import WebhookDelivery
from bulk.phrases import Phrase
from bulk.service import current_service
from bulk.sign_in import sign_in_admin
from bulk.statuses import OperationStatus, UserType
from bulk.views.guard import client_address
from bulk.views.manage import BULK_HAS_OPEN_OPERATIONS, RETRY_SCOPES, reopen_operations
from bulk.webhooks import outbox

log = logging.getLogger(__name__)

dashboard = Blueprint("dashboard", __name__, template_folder="templates", static_folder="static",
                      static_url_path="/dashboard/static")

STATUSES = list(OperationStatus)
PROGRESS_WORDS = {
    OperationStatus.COMPLETE: "complete", OperationStatus.RETRIABLY_FAILED: "retriably failed",
    OperationStatus.NOT_RETRIABLY_FAILED: "failed", OperationStatus.OPEN: "open", OperationStatus.REJECTED: "rejected",
}
# Pages poll faster while work is open; the script reads these from the page.
POLL_OPEN_MS = 2000
POLL_IDLE_MS = 5000


# -- sign-in ---------------------------------------------------------------------------------------


def signed_in(view: Callable[..., Any]) -> Callable[..., Any]:
    """Pages need a signed-in admin: others go to the sign-in form (the live endpoints answer 401)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        user = signed_in_user(current_service())
        if user is None:
            if request.endpoint and request.endpoint.endswith("_live"):
                return jsonify({"signed_in": False}), 401
            return redirect(url_for("dashboard.sign_in", next=request.full_path.rstrip("?")))
        g.dashboard_user = user
        return view(*args, **kwargs)

    return wrapper


@dashboard.context_processor
def _poll_intervals() -> dict[str, int]:
    return {"poll_open_ms": POLL_OPEN_MS, "poll_idle_ms": POLL_IDLE_MS}


@dashboard.before_request
def _check_forms() -> None:
    if request.method == "POST":
        check_csrf()


@dashboard.after_request
def _page_headers(response: WerkzeugResponse) -> WerkzeugResponse:
    # Everything the pages use is served from here: no inline script or style, no other origin.
    response.headers.setdefault("Content-Security-Policy", (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"))
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if not request.path.startswith("/dashboard/static/"):
        response.headers["Cache-Control"] = "no-store"
    return response


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: only a dashboard path of this site (no open redirect)."""
    if target:
        parts = urlsplit(target)
        if (not parts.scheme and not parts.netloc and parts.path.startswith("/dashboard")
                and "\\" not in target and not target.startswith("//")):
            return target
    return url_for("dashboard.bulk_list")


@dashboard.get("/")
def root() -> ResponseReturnValue:
    return redirect(url_for("dashboard.bulk_list"), 302)


@dashboard.route("/dashboard/sign-in", methods=["GET", "POST"])
def sign_in() -> Any:
    service = current_service()
    next_url = _safe_next(request.values.get("next"))
    if request.method == "GET":
        if signed_in_user(service) is not None:
            return redirect(next_url)
        return render_template("dashboard/sign_in.html", next_url=next_url, error=None, username="")
    username = request.form.get("username", "")
    try:
        # The token endpoint's own check: failures here count toward the same lock-out.
        sign_in_admin(service.admin_account, username, request.form.get("password", ""), service.clock.time(),
                      client_address(service.settings))
    except WebapiError as error:
        message = Phrase(error.message, error.parameters).render()
        return render_template("dashboard/sign_in.html", next_url=next_url, error=message,
                               username=username[:255])
    start_session(service, username)
    return redirect(next_url)


@dashboard.route("/dashboard/sign-out", methods=["POST"])
def sign_out() -> ResponseReturnValue:
    end_session()
    flash("You are signed out.", "info")
    return redirect(url_for("dashboard.sign_in"))


# -- the bulk list ---------------------------------------------------------------------------------


def _filters() -> reads.BulkFilters:
    state = request.args.get("state", "")
    return reads.BulkFilters(
        state=state if state in reads.BULK_STATES else "",
        # Text to look for; control characters (NUL among them) can be in no description.
        topic="".join(char for char in request.args.get("topic", "") if char.isprintable()).strip()[:255],
        owner=parse_owner(request.args.get("owner")),
    )


def _filter_args(filters: reads.BulkFilters) -> dict[str, str]:
    args = {"state": filters.state, "topic": filters.topic,
            "owner": owner_value(*filters.owner) if filters.owner else ""}
    return {key: value for key, value in args.items() if value}


def _page_url(endpoint: str, args: dict[str, str], page: int, **values: Any) -> str:
    query = {**args, **({"page": str(page)} if page > 1 else {})}
    base = url_for(endpoint, **values)
    return f"{base}?{urlencode(query)}" if query else base


@dashboard.get("/dashboard")
@signed_in
def bulk_list() -> str:
    filters = _filters()
    rows, page = reads.bulks(filters, reads.clamp_page(request.args.get("page")))
    service = current_service()
    args = _filter_args(filters)
    labels = _labels()
    return render_template(
        "dashboard/bulks.html", rows=[_bulk_view(row, labels) for row in rows],
        page=_pager(page, "dashboard.bulk_list", args),
        filters=filters, states=reads.BULK_STATES,
        owners=[(owner_value(*owner), owner_label(*owner, labels.integrations)) for owner in reads.owners()],
        topics=sorted({route.description for route in service.catalogue}),
        overview=_overview_view(service.clock.time()),
        live_url=_page_url("dashboard.bulk_list_live", args, page.number))


@dashboard.get("/dashboard/live")
@signed_in
def bulk_list_live() -> ResponseReturnValue:
    filters = _filters()
    rows, page = reads.bulks(filters, reads.clamp_page(request.args.get("page")))
    overview = _overview_view(current_service().clock.time())
    labels = _labels()
    return jsonify({"overview": overview, "bulks": [_bulk_view(row, labels) for row in rows],
                    "page": _pager(page, "dashboard.bulk_list", _filter_args(filters)),
                    "open": overview["open_operations"] > 0})


# -- one bulk --------------------------------------------------------------------------------------


def _bulk_or_404(bulk_uuid: str) -> reads.BulkRow:
    row = reads.find_bulk(bulk_uuid)
    if row is None:
        abort(404, description=f"There is no bulk {bulk_uuid}: it may have been deleted, or purged after "
                               "its retention period.")
    return row


def _operation_state() -> str:
    state = request.args.get("state", "")
    return state if state in reads.OPERATION_STATES else ""


@dashboard.get("/dashboard/bulks/<bulk_uuid>")
@signed_in
def bulk_page(bulk_uuid: str) -> str:
    row = _bulk_or_404(bulk_uuid)
    state = _operation_state()
    operations, page = reads.operations(bulk_uuid, state, reads.clamp_page(request.args.get("page")))
    args = {"state": state} if state else {}
    labels = _labels()
    return render_template(
        "dashboard/bulk.html", bulk=_bulk_view(row, labels),
        operations=[_operation_view(op) for op in operations],
        deliveries=[_delivery_view(delivery, labels) for delivery in outbox.deliveries_of(bulk_uuid)],
        page=_pager(page, "dashboard.bulk_page", args, bulk_uuid=bulk_uuid), state=state,
        states=reads.OPERATION_STATES,
        live_url=_page_url("dashboard.bulk_page_live", args, page.number, bulk_uuid=bulk_uuid))


@dashboard.get("/dashboard/bulks/<bulk_uuid>/live")
@signed_in
def bulk_page_live(bulk_uuid: str) -> ResponseReturnValue:
    row = reads.find_bulk(bulk_uuid)
    if row is None:
        return jsonify({"bulk": None}), 404
    state = _operation_state()
    operations, page = reads.operations(bulk_uuid, state, reads.clamp_page(request.args.get("page")))
    args = {"state": state} if state else {}
    return jsonify({"bulk": _bulk_view(row, _labels()), "operations": [_operation_view(op) for op in operations],
                    "page": _pager(page, "dashboard.bulk_page", args, bulk_uuid=bulk_uuid), "open": row.open > 0})


@dashboard.post("/dashboard/bulks/<bulk_uuid>/retry")
@signed_in
def retry(bulk_uuid: str) -> ResponseReturnValue:
    """Re-open every failed operation (2 and 3), through the API's own retry code."""
    _bulk_or_404(bulk_uuid)
    reopened = reopen_operations(bulk_uuid, RETRY_SCOPES["failed"])
    if reopened:
        flash(f"Re-opened {len(reopened)} failed operation(s): they run again now.", "success")
    else:
        flash("No failed operation to retry.", "info")
    return redirect(url_for("dashboard.bulk_page", bulk_uuid=bulk_uuid))


@dashboard.post("/dashboard/bulks/<bulk_uuid>/delete")
@signed_in
def delete(bulk_uuid: str) -> Any:
    """First post: the confirmation page. Confirmed: delete as `DELETE /V1/bulk/<uuid>` does."""
    row = _bulk_or_404(bulk_uuid)
    if request.form.get("confirmed") != "yes":
        return render_template("dashboard/confirm_delete.html", bulk=_bulk_view(row, _labels()))
    deleted = queue.delete_finished_bulk(bulk_uuid)
    if deleted is None:
        abort(404)
    if not deleted:
        flash(Phrase(BULK_HAS_OPEN_OPERATIONS, {"bulkUuid": bulk_uuid, "count": row.open}).render(), "error")
        return redirect(url_for("dashboard.bulk_page", bulk_uuid=bulk_uuid))
    flash(f"Deleted bulk {bulk_uuid} and its {row.operation_count} operation(s).", "success")
    return redirect(url_for("dashboard.bulk_list"))


@dashboard.route("/dashboard/<path:rest>", methods=["GET", "POST"])
def unknown(rest: str) -> ResponseReturnValue:
    # Without this, a mistyped dashboard URL would fall through to the API's catch-all.
    abort(404)


# -- views of rows ---------------------------------------------------------------------------------


class _Labels(NamedTuple):
    """How rows name things: each bulk description ("Topic <topic>") by its route as people read it
    ("PUT /V1/products/:sku"), and each integration by its name."""

    routes: dict[str, str]
    integrations: dict[int, str]


def _labels() -> _Labels:
    routes: dict[str, str] = {}
    for route in current_service().catalogue:
        routes.setdefault(route.description, route.key)
    return _Labels(routes, reads.integration_names())


def _bulk_view(row: reads.BulkRow, labels: _Labels) -> dict[str, Any]:
    total = row.operation_count or sum(row.counts.values())
    counts = {str(int(status)): row.counts.get(status, 0) for status in STATUSES}
    finished = total - row.open
    percent = 100 if total == 0 else round(100 * finished / total)
    segments = []
    x = 0.0
    for status in (OperationStatus.COMPLETE, OperationStatus.RETRIABLY_FAILED, OperationStatus.NOT_RETRIABLY_FAILED,
                   OperationStatus.REJECTED):
        width = 0.0 if total == 0 else round(100 * row.counts.get(status, 0) / total, 2)
        segments.append({"status": str(int(status)), "x": round(x, 2), "width": width})
        x += width
    parts = [f"{row.counts[status]} {PROGRESS_WORDS[status]}" for status in STATUSES if row.counts.get(status)]
    progress_text = f"{percent}% finished" + (": " + ", ".join(parts) if parts else "")
    return {
        "uuid": row.uuid,
        "url": url_for("dashboard.bulk_page", bulk_uuid=row.uuid),
        "description": row.description,
        "route": labels.routes.get(row.description) or row.description.removeprefix("Topic "),
        "owner": owner_label(row.user_type, row.user_id, labels.integrations),
        "start_time": row.start_time.strftime("%Y-%m-%d %H:%M:%S") if row.start_time else "",
        "operation_count": row.operation_count,
        "counts": counts,
        "open": row.open,
        "failed": row.failed,
        "percent": percent,
        "segments": segments,
        "progress_text": progress_text,
        "state": "open" if row.open else ("failed" if row.failed else "done"),
    }


def _operation_view(row: reads.OperationRow) -> dict[str, Any]:
    status = OperationStatus(row.status)
    return {
        "id": row.id,
        "status": str(int(status)),
        "status_label": STATUS_LABELS[status],
        "result_message": row.result_message or "",
        "error_code": "" if row.error_code is None else str(row.error_code),
        "item": stored_item(row.serialized_data),
    }


def _delivery_view(row: WebhookDelivery, labels: _Labels) -> dict[str, Any]:
    """A webhook delivery of the bulk: to whom (the global endpoint or an integration's own), how it went."""
    return {
        "type": row.event_type,
        "webhook_id": row.webhook_id,
        "subscriber": "Global (BULK_WEBHOOK_URL)" if row.integration_id is None
        else owner_label(UserType.INTEGRATION, row.integration_id, labels.integrations),
        # Without its query string, which may carry the receiver's token.
        "url": outbox.shown_url(row.url),
        "status": row.status,
        "attempts": row.attempts,
        "last_answer": row.last_error or ("" if row.last_status is None else f"HTTP {row.last_status}"),
        "next_attempt_at": magento_time(row.next_attempt_at) if row.status == outbox.PENDING else "",
    }


def _pager(page: reads.Page, endpoint: str, args: dict[str, str], **values: Any) -> dict[str, Any]:
    return {
        "number": page.number, "pages": page.pages, "total": page.total,
        "newer": _page_url(endpoint, args, page.number - 1, **values) if page.number > 1 else None,
        "older": _page_url(endpoint, args, page.number + 1, **values) if page.number < page.pages else None,
    }


def _overview_view(now: float) -> dict[str, Any]:
    found = reads.overview(now)
    workers = []
    for worker in found.workers:
        silent = now - worker.beat_at > SILENT_AFTER_SECONDS
        if silent:
            state, label = "bad", "silent"
        elif worker.drainer != RUNNING:
            state, label = "bad", "drainer stopped"
        elif worker.drainer_tick_age is not None and worker.drainer_tick_age > 30:
            # A long batch (forward mode, slow upstream) or a stuck handler: worth a look.
            state, label = "warn", f"busy for {duration(worker.drainer_tick_age)}"
        else:
            state, label = "ok", "draining"
        workers.append({"worker": worker.worker, "state": state, "label": label,
                        "last_beat": f"{duration(now - worker.beat_at)} ago",
                        "up": duration(now - worker.started_at)})
    return {
        "open_operations": found.open_operations,
        "oldest_open": duration(found.oldest_open_age),
        "completed_last_hour": found.completed_last_hour,
        "failed_last_hour": found.failed_last_hour,
        "workers": workers,
    }


# -- errors ----------------------------------------------------------------------------------------


@dashboard.app_template_global()
def status_label(status: str | int) -> str:
    return STATUS_LABELS[OperationStatus(int(status))]


@dashboard.app_template_global()
def status_short(status: str | int) -> str:
    return STATUS_SHORT[OperationStatus(int(status))]


@dashboard.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> tuple[str, int]:
    code = error.code or 500
    if isinstance(error, CSRFError):
        message = "This form has expired or did not come from this dashboard. Go back, reload the page and try again."
    elif code == 404:
        message = error.description or "" if "bulk" in (error.description or "") else "There is no such page."
    else:
        message = error.name
    return render_template("dashboard/error.html", code=code, message=message), code


@dashboard.errorhandler(peewee.OperationalError)
@dashboard.errorhandler(peewee.InterfaceError)
def _database_error(error: Exception) -> tuple[str, int, dict[str, str]]:
    log.warning("dashboard: database unavailable: %s", error)
    retry_after = current_service().settings.busy_retry_after
    return (render_template("dashboard/error.html", code=503,
                            message="The database is busy or unreachable. Try again in a moment."),
            503, {"Retry-After": str(retry_after)})


@dashboard.errorhandler(Exception)
def _unexpected_error(error: Exception) -> tuple[str, int]:
    report_id = f"dashboard-{uuid.uuid4().hex[:13]}"
    log.exception("dashboard: unhandled error, report %s", report_id)
    return render_template("dashboard/error.html", code=500,
                           message=f"Something went wrong. The log has the details under report {report_id}."), 500
