"""Integrations' own webhook endpoints, on both engines: which deliveries the recording transactions
write, signing with each integration's own secret (verified with `standardwebhooks`), endpoints
changed or removed while deliveries wait, the CLI as a process, and the listing and dashboard."""

from __future__ import annotations

import base64
import json
import time
import uuid

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from bulk import queue
from bulk.clock import ManualClock
from bulk.config import BULK_FINISHED, OPERATION_FAILED
from bulk.db import database
from bulk.handlers import Outcome
from bulk.integrations import INTEGRATION_MODELS, IntegrationError, IntegrationStore
from bulk.models import Bulk, IntegrationEndpoint, WebhookDelivery
from bulk.queue import NewBulk, NewOperation
from bulk.retries import RetryPolicy
from bulk.statuses import OperationStatus, UserType
from bulk.testing.signing import TestIntegration
from bulk.webhooks.delivery import NO_ENDPOINT, DeliverySettings, WebhookSender
from bulk.webhooks.signing import Signer
from bulk.webhooks.subscriptions import Subscriptions
from tests.dashboard_helpers import sign_in, text
from tests.oauth_helpers import BULK_ACTIONS, requests_auth, send_signed
from tests.test_http_status import drain_with
from tests.test_integrations_cli import flask_bulk
from tests.webhook_receiver import SECRET, Receiver, Reply

NOW = 1_700_000_000.0
GLOBAL = "https://hooks.example.com/all"
COMPLETE, PERMANENT = OperationStatus.COMPLETE, OperationStatus.NOT_RETRIABLY_FAILED
INTEGRATION, ADMIN = int(UserType.INTEGRATION), int(UserType.ADMIN)
PRODUCTS = "/rest/default/async/bulk/V1/products"


def own_endpoint(integration_id: int, url: str) -> None:
    IntegrationEndpoint.create(integration_id=integration_id, endpoint=url, secret="sealed", created_at=NOW)


def new_bulk(user_type: int, user_id: int | None, size: int = 1, now: float = NOW) -> str:
    bulk_uuid = str(uuid.uuid4())
    queue.enqueue(NewBulk(bulk_uuid, user_id, user_type, "Topic async.x", [
        NewOperation(i, "async.x", "POST /V1/x", "{}") for i in range(size)]), now)
    return bulk_uuid


def drain(subscriptions: Subscriptions, failing: frozenset[int] = frozenset(), now: float = NOW) -> None:
    """Claim every open operation and record them in one transaction (operation keys in `failing` fail)."""
    token = uuid.uuid4().hex
    claimed = queue.claim(token, 1000, 60, now)
    queue.record(token, [Outcome(op.id, PERMANENT, "no", 7) if op.operation_key in failing
                         else Outcome(op.id, COMPLETE, "done") for op in claimed], now, subscriptions)


def receivers_of(bulk_uuid: str, event_type: str = BULK_FINISHED) -> set[tuple[str, int | None]]:
    rows = WebhookDelivery.select().where(WebhookDelivery.bulk_uuid == bulk_uuid,
                                          WebhookDelivery.event_type == event_type)
    return {(row.url, row.integration_id) for row in rows}


# -- the outbox: who receives what --------------------------------------------------------------


def test_an_integrations_bulk_goes_to_its_own_endpoint_and_the_global_one_gets_every_bulk(db):
    own_endpoint(5, "https://erp.example.com/hooks?token=five")
    own_endpoint(6, "https://crm.example.com/hooks")
    bulks = {"five": new_bulk(INTEGRATION, 5), "six": new_bulk(INTEGRATION, 6), "seven": new_bulk(INTEGRATION, 7),
             "admin five": new_bulk(ADMIN, 5), "guest": new_bulk(int(UserType.GUEST), None)}
    drain(Subscriptions(GLOBAL, frozenset({BULK_FINISHED})))  # all five bulks finish in one transaction

    assert receivers_of(bulks["five"]) == {(GLOBAL, None), ("https://erp.example.com/hooks?token=five", 5)}
    assert receivers_of(bulks["six"]) == {(GLOBAL, None), ("https://crm.example.com/hooks", 6)}
    # No endpoint of its own; and an admin whose id is an integration's is not that integration.
    for name in ("seven", "admin five", "guest"):
        assert receivers_of(bulks[name]) == {(GLOBAL, None)}, name
    # One event, one id, whoever receives it.
    five = WebhookDelivery.select().where(WebhookDelivery.bulk_uuid == bulks["five"])
    assert len({row.webhook_id for row in five}) == 1
    assert len({row.payload for row in five}) == 1


def test_without_a_global_endpoint_only_bulks_with_an_endpoint_of_their_own_are_announced(db):
    own_endpoint(5, "https://erp.example.com/hooks")
    five, seven, admin = new_bulk(INTEGRATION, 5, 2), new_bulk(INTEGRATION, 7, 2), new_bulk(ADMIN, 1, 2)
    drain(Subscriptions(None, frozenset({BULK_FINISHED, OPERATION_FAILED})), failing=frozenset({1}))

    assert receivers_of(five) == {("https://erp.example.com/hooks", 5)}
    assert receivers_of(five, OPERATION_FAILED) == {("https://erp.example.com/hooks", 5)}
    [failure] = WebhookDelivery.select().where(WebhookDelivery.event_type == OPERATION_FAILED)
    assert json.loads(failure.payload)["data"]["id"] == 1
    assert WebhookDelivery.select().count() == 2
    # The others finished all the same, announced to no one.
    assert all(Bulk.get(Bulk.uuid == bulk_uuid).finished_at is not None for bulk_uuid in (five, seven, admin))


def test_an_endpoint_set_after_the_bulk_finished_gets_nothing_of_it(db):
    done = new_bulk(INTEGRATION, 5)
    drain(Subscriptions(None, frozenset({BULK_FINISHED})))
    own_endpoint(5, "https://erp.example.com/hooks")
    later = new_bulk(INTEGRATION, 5)
    drain(Subscriptions(None, frozenset({BULK_FINISHED})))
    assert receivers_of(done) == set()
    assert receivers_of(later) == {("https://erp.example.com/hooks", 5)}


# -- sending: each endpoint signed with its own secret -------------------------------------------


@pytest.fixture
def store(db):
    database.create_tables(INTEGRATION_MODELS)
    return IntegrationStore(b"a service secret for these tests")


@pytest.fixture
def real_clock():
    # Receivers refuse signatures more than 5 minutes off their own clock.
    return ManualClock(float(int(time.time())))


def sender(store: IntegrationStore, clock, allow_private: bool = True) -> WebhookSender:
    return WebhookSender(Signer(SECRET), clock, DeliverySettings(
        allow_private=allow_private, retry=RetryPolicy(2**31, 1.0, 300.0, jitter=lambda: 1.0)),
        endpoints=store.webhook_endpoints)


def send_all(webhooks: WebhookSender) -> int:
    try:
        return webhooks.send_due()
    finally:
        webhooks.close()


def bulk_uuids(receiver: Receiver) -> list[str]:
    return [event["data"]["bulk_uuid"] for event in receiver.accepted(BULK_FINISHED)]


def test_each_endpoint_gets_its_integrations_events_signed_with_its_own_secret(store, real_clock):
    now = real_clock.time()
    with Receiver() as everything, Receiver(secret=None) as erp_hooks, Receiver(secret=None) as crm_hooks:
        erp = store.create("erp", None, now, endpoint=erp_hooks.url)
        crm = store.create("crm", None, now, endpoint=crm_hooks.url + "?token=crm")
        assert erp.endpoint and crm.endpoint
        erp_hooks.secret, crm_hooks.secret = erp.endpoint.webhook_secret, crm.endpoint.webhook_secret
        erp_bulk, crm_bulk = new_bulk(INTEGRATION, erp.id, now=now), new_bulk(INTEGRATION, crm.id, now=now)
        drain(Subscriptions(everything.url, frozenset({BULK_FINISHED})), now=now)
        assert send_all(sender(store, real_clock)) == 4

    assert erp.endpoint.webhook_secret != crm.endpoint.webhook_secret != SECRET
    assert sorted(bulk_uuids(everything)) == sorted([erp_bulk, crm_bulk])
    assert bulk_uuids(erp_hooks) == [erp_bulk] and bulk_uuids(crm_hooks) == [crm_bulk]
    assert all(r.verified for r in [*everything.received, *erp_hooks.received, *crm_hooks.received])
    # One integration's secret verifies neither another's deliveries nor the global ones.
    [erp_request] = erp_hooks.received
    for other in (crm.endpoint.webhook_secret, SECRET):
        with pytest.raises(WebhookVerificationError):
            Webhook(other).verify(erp_request.body, erp_request.headers)
    assert {row.status for row in WebhookDelivery.select()} == {"delivered"}


def test_pending_deliveries_follow_a_changed_endpoint_and_its_new_secret(store, real_clock):
    now = real_clock.time()
    with Receiver(secret=None, script=[Reply(503)]) as old, Receiver(secret=None) as new:
        erp = store.create("erp", None, now, endpoint=old.url)
        assert erp.endpoint
        old.secret = erp.endpoint.webhook_secret
        bulk_uuid = new_bulk(INTEGRATION, erp.id, now=now)
        drain(Subscriptions(None, frozenset({BULK_FINISHED})), now=now)
        webhooks = sender(store, real_clock)
        try:
            assert webhooks.run_once() == 1  # 503: tried again in a second
            _, issued = store.set_endpoint("erp", new.url, now)
            new.secret = issued.webhook_secret
            real_clock.advance(1)
            assert webhooks.run_once() == 1
        finally:
            webhooks.close()

    assert issued.webhook_secret != erp.endpoint.webhook_secret
    assert bulk_uuids(new) == [bulk_uuid] and new.received[0].verified
    assert old.received[0].headers["webhook-id"] == new.received[0].headers["webhook-id"]
    with pytest.raises(WebhookVerificationError):
        Webhook(erp.endpoint.webhook_secret).verify(new.received[0].body, new.received[0].headers)
    [row] = WebhookDelivery.select()
    assert (row.status, row.attempts, row.url, row.integration_id) == ("delivered", 2, new.url, erp.id)


@pytest.mark.parametrize("how", ["removed", "deleted"])
def test_a_removed_endpoint_or_deleted_integration_fails_its_pending_deliveries(store, real_clock, how):
    now = real_clock.time()
    with Receiver() as everything, Receiver(secret=None) as erp_hooks:
        erp = store.create("erp", None, now, endpoint=erp_hooks.url)
        new_bulk(INTEGRATION, erp.id, now=now)
        drain(Subscriptions(everything.url, frozenset({BULK_FINISHED})), now=now)
        if how == "removed":
            store.remove_endpoint("erp")
        else:
            store.delete("erp")
        assert send_all(sender(store, real_clock)) == 2
    assert erp_hooks.received == [] and len(everything.accepted()) == 1
    assert {(row.integration_id, row.status, row.last_error) for row in WebhookDelivery.select()} == {
        (None, "delivered", None), (erp.id, "failed", NO_ENDPOINT)}
    assert IntegrationEndpoint.select().count() == 0


def test_an_endpoint_at_a_loopback_address_is_refused_unless_private_addresses_are_allowed(store, real_clock):
    with Receiver(secret=None) as erp_hooks:
        erp = store.create("erp", None, real_clock.time(), endpoint=erp_hooks.url)
        new_bulk(INTEGRATION, erp.id, now=real_clock.time())
        drain(Subscriptions(None, frozenset({BULK_FINISHED})), now=real_clock.time())
        assert send_all(sender(store, real_clock, allow_private=False)) == 1
    assert erp_hooks.received == []
    [row] = WebhookDelivery.select()
    assert row.status == "failed" and "not public" in row.last_error


def test_endpoints_are_checked_as_the_global_one_and_their_secrets_kept_sealed(store):
    for wrong in ("ftp://hooks.example.com/x", "https://user:pw@hooks.example.com/x", "hooks.example.com",
                  "https://hooks.example.com/x#part", "https://hooks.example.com/" + "x" * 2100):
        with pytest.raises(IntegrationError, match="endpoint"):
            store.create(f"erp-{len(wrong)}", None, NOW, endpoint=wrong)
    assert store.all() == []  # nothing half-made
    issued = store.create("erp", None, NOW, endpoint="https://hooks.example.com/erp?token=t")
    assert issued.endpoint is not None
    secret = issued.endpoint.webhook_secret
    assert secret.startswith("whsec_") and len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    [row] = IntegrationEndpoint.select()
    assert secret.removeprefix("whsec_") not in row.secret and row.endpoint == "https://hooks.example.com/erp?token=t"
    assert store.webhook_endpoints([issued.id]) == {issued.id: ("https://hooks.example.com/erp?token=t", secret)}
    # Another service secret cannot open it: the sender is told so (and fails the delivery, saying why).
    assert IntegrationStore(b"another service secret, not ours").webhook_endpoints([issued.id]) == {
        issued.id: ("https://hooks.example.com/erp?token=t", None)}


# -- the CLI, as a process ---------------------------------------------------------------------


def test_the_cli_sets_shows_changes_and_removes_an_endpoint(database_url, tmp_path):
    created = flask_bulk(database_url, tmp_path, "create", "erp", "--all-resources",
                         "--endpoint", "https://erp.example.com/hooks?token=t")
    assert created.returncode == 0, created.stderr
    body = json.loads(created.stdout)
    assert body["endpoint"] == "https://erp.example.com/hooks?token=t"
    assert body["webhook_secret"].startswith("whsec_")

    shown = flask_bulk(database_url, tmp_path, "show", "erp")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["endpoint"] == "https://erp.example.com/hooks?token=t"
    assert body["webhook_secret"] not in shown.stdout

    changed = flask_bulk(database_url, tmp_path, "endpoint", str(body["id"]), "https://erp.example.com/v2")
    assert changed.returncode == 0, changed.stderr
    fresh = json.loads(changed.stdout)
    assert (fresh["id"], fresh["name"], fresh["endpoint"]) == (body["id"], "erp", "https://erp.example.com/v2")
    assert fresh["webhook_secret"].startswith("whsec_") and fresh["webhook_secret"] != body["webhook_secret"]

    removed = flask_bulk(database_url, tmp_path, "endpoint", "erp", "--remove")
    assert json.loads(removed.stdout) == {"id": body["id"], "name": "erp", "endpoint": None}
    [listed] = json.loads(flask_bulk(database_url, tmp_path, "list").stdout)
    assert listed["endpoint"] is None

    for arguments, message in ((("endpoint", "erp", "ftp://erp.example.com/x"), "http(s) URL"),
                               (("endpoint", "erp"), "--remove"),
                               (("endpoint", "nobody", "https://x.example.com/"), "no integration"),
                               (("create", "crm", "--all-resources", "--endpoint", "https://u:p@x.example.com/"),
                                "user:password@")):
        result = flask_bulk(database_url, tmp_path, *arguments)
        assert result.returncode != 0 and message in result.stderr, (arguments, result.stderr)
        assert "Traceback" not in result.stderr


# -- through the app: signed submits, the listing and the dashboard -------------------------------


def test_a_signed_integration_bulk_is_delivered_to_its_endpoint_and_listed_with_it(make_app, clock):
    clock.set(float(int(time.time())))
    with Receiver() as everything, Receiver(secret=None) as erp_hooks:
        app = make_app(BULK_WEBHOOK_URL=everything.url, BULK_WEBHOOK_SECRET=SECRET, BULK_WEBHOOK_ALLOW_PRIVATE="1")
        service = app.extensions["bulk"]
        service.ensure_ready_without_worker()
        with database.connection_context():
            issued = service.integrations.create("erp", ["Magento_Catalog::products", BULK_ACTIONS], clock.time(),
                                                 endpoint=erp_hooks.url + "?token=kept-private")
            other = service.integrations.create("crm", ["Magento_Catalog::products"], clock.time())
        assert issued.endpoint
        erp_hooks.secret = issued.endpoint.webhook_secret
        erp, crm = (requests_auth(TestIntegration.from_json(i.to_json())) for i in (issued, other))
        client = app.test_client()
        erp_bulk = send_signed(client, "POST", PRODUCTS, erp, json=[{"product": {"sku": "A"}}]).get_json()["bulk_uuid"]
        crm_bulk = send_signed(client, "POST", PRODUCTS, crm, json=[{"product": {"sku": "B"}}]).get_json()["bulk_uuid"]
        drain_with(service, lambda job: None)
        assert service.webhooks.send_due() == 3

    assert bulk_uuids(erp_hooks) == [erp_bulk] and erp_hooks.received[0].verified
    assert sorted(bulk_uuids(everything)) == sorted([erp_bulk, crm_bulk])
    listing = send_signed(client, "GET", f"/rest/V1/bulk/{erp_bulk}/webhooks", erp)
    assert listing.status_code == 200, listing.get_json()
    shown = {(d["integration_id"], d["url"], d["status"]) for d in listing.get_json()["deliveries"]}
    assert shown == {(None, everything.url, "delivered"), (issued.id, erp_hooks.url, "delivered")}

    assert sign_in(client).status_code == 302
    page = client.get(f"/dashboard/bulks/{erp_bulk}").get_data(as_text=True)
    assert f"Integration erp #{issued.id}" in text(page) and "Global (BULK_WEBHOOK_URL)" in text(page)
    assert erp_hooks.url in page and "kept-private" not in page
    page = client.get(f"/dashboard/bulks/{crm_bulk}").get_data(as_text=True)
    assert "Integration erp" not in text(page) and erp_hooks.url not in page

