"""In `accept` mode a bulk's outcomes are known when it is accepted: its operations are stored
complete and the drainer publishes the bulk (`queue.publish_known`). Until then every reader shows
them open, exactly as before; once published, complete with their route's message."""

from __future__ import annotations

import pytest

from bulk import drainer, finished_tally, queue, summaries
from bulk.dashboard import reads
from bulk.db import database
from bulk.models import Bulk, Operation, WebhookDelivery
from bulk.statuses import OperationStatus
from tests.spies import answers_of
from tests.store_client import operations
from tests.store_client import submit as submit_over_http
from tests.test_http_status import search
from tests.webhook_receiver import SECRET

COMPLETE, OPEN = int(OperationStatus.COMPLETE), int(OperationStatus.OPEN)
CREATE = "POST /V1/products"


@pytest.fixture
def app(make_app):
    return make_app(BULK_PROCESSING="accept", BULK_WEBHOOK_URL="https://hooks.example/bulk", BULK_WEBHOOK_SECRET=SECRET)


@pytest.fixture
def in_place(monkeypatch):
    """What each `complete_backlog` call answered: publishing must leave nothing for it."""
    return answers_of(monkeypatch, queue, "complete_backlog", lambda completed: None if completed is None else len(completed))


def submit(client, auth, service, skus: list[str]) -> str:
    route = service.catalogue.get(CREATE)
    return submit_over_http(client, auth, "POST", route.bulk_path, [{"product": {"sku": sku}} for sku in skus])


def stored(bulk_uuid: str) -> list[tuple[int, str | None, bool]]:
    """Each operation's row: status, result message, whether it holds a payload."""
    with database.connection_context():
        return [(row.status, row.result_message, row.serialized_data is not None)
                for row in Operation.select().where(Operation.bulk == bulk_uuid).order_by(Operation.operation_key)]


def bulk_row(bulk_uuid: str) -> Bulk:
    with database.connection_context():
        return Bulk.get(Bulk.uuid == bulk_uuid)


def shown(client, auth, bulk_uuid: str) -> dict:
    """What the API shows of the bulk: statuses and messages (detailed-status), whether the payload is
    shown, the short status's counts, and the per-status counts of operation-status/<n>."""
    detailed = operations(client, auth, bulk_uuid)
    short = client.get(f"/rest/V1/bulk/{bulk_uuid}/status", headers=auth).get_json()
    counts = {status: client.get(f"/rest/V1/bulk/{bulk_uuid}/operation-status/{status}", headers=auth).get_json()
              for status in (COMPLETE, OPEN)}
    return {"operations": [(item["status"], item["result_message"], item["serialized_data"] is not None)
                           for item in detailed],
            "short": [item["status"] for item in short["operations_list"]], "counts": counts}


def open_operations(client) -> int:
    return client.get("/health").get_json()["open_operations"]


def test_an_accepted_bulk_is_stored_complete_and_shown_open_until_the_drainer_publishes_it(
        client, auth, service, in_place):
    message = service.catalogue.get(CREATE).success_message
    bulk_uuid = submit(client, auth, service, ["A", "B"])
    assert stored(bulk_uuid) == [(COMPLETE, message, True)] * 2
    assert bulk_row(bulk_uuid).outcome_known and bulk_row(bulk_uuid).finished_at is None
    assert shown(client, auth, bulk_uuid) == {"operations": [(OPEN, None, True)] * 2, "short": [OPEN] * 2,
                                              "counts": {COMPLETE: 0, OPEN: 2}}
    assert open_operations(client) == 2

    assert service.drainer.drain() == 2
    assert in_place == []
    assert shown(client, auth, bulk_uuid) == {"operations": [(COMPLETE, message, False)] * 2,
                                              "short": [COMPLETE] * 2, "counts": {COMPLETE: 2, OPEN: 0}}
    assert bulk_row(bulk_uuid).finished_at is not None
    assert open_operations(client) == 0
    with database.connection_context():
        assert finished_tally.last_hour(service.clock.time()) == {COMPLETE: 2}


def test_each_route_s_operations_read_back_with_its_own_success_message(client, auth, service, in_place):
    routes = [service.catalogue.get(key) for key in (CREATE, "PUT /V1/products/:sku", "DELETE /V1/products/:sku")]
    sent = [submit_over_http(client, auth, "POST", routes[0].bulk_path, [{"product": {"sku": "A"}}]),
            submit_over_http(client, auth, "PUT", routes[1].bulk_path, [{"product": {"sku": "A"}, "sku": "A"}]),
            submit_over_http(client, auth, "DELETE", routes[2].bulk_path, [{"sku": "A"}])]
    assert service.drainer.drain() == 3 and in_place == []
    assert len({route.success_message for route in routes}) == 2  # create and update both `save`
    for route, bulk_uuid in zip(routes, sent, strict=True):
        assert shown(client, auth, bulk_uuid)["operations"] == [(COMPLETE, route.success_message, False)]


def test_the_operation_search_filters_and_shows_the_status_readers_see(client, auth, service):
    bulk_uuid = submit(client, auth, service, ["A"])

    def found(status: int) -> list[tuple[str, int, str | None]]:
        response = search(client, auth, groups=[[("status", str(status), "eq")]])
        assert response.status_code == 200, response.get_data(as_text=True)
        return [(item["bulk_uuid"], item["status"], item["result_message"]) for item in response.get_json()["items"]]

    assert (found(OPEN), found(COMPLETE)) == ([(bulk_uuid, OPEN, None)], [])
    service.drainer.drain()
    message = service.catalogue.get(CREATE).success_message
    assert (found(OPEN), found(COMPLETE)) == ([], [(bulk_uuid, COMPLETE, message)])


def test_publishing_stamps_and_announces_the_bulk_in_its_transaction(client, auth, service):
    bulk_uuid = submit(client, auth, service, ["A", "B", "C"])
    with database.connection_context():
        assert not WebhookDelivery.select().exists()
    service.drainer.drain()
    with database.connection_context():
        [delivery] = WebhookDelivery.select()
    assert (delivery.event_type, delivery.bulk_uuid) == ("bulk.finished", bulk_uuid)
    assert '"complete":3' in delivery.payload.replace(" ", "")


def test_the_cli_and_dashboard_count_an_unpublished_bulk_as_open(client, auth, service):
    bulk_uuid = submit(client, auth, service, ["A", "B"])
    with database.connection_context():
        assert [s.uuid for s in summaries.recent_bulks(10, "open")] == [bulk_uuid]
        assert summaries.recent_bulks(10, "finished") == []
        assert summaries.find_summary(bulk_uuid).counts == {"open": 2}
        assert [row["status"] for row in summaries.operations(bulk_uuid)] == [OPEN, OPEN]
        assert reads.status_counts([bulk_uuid]) == {bulk_uuid: {OPEN: 2}}
        assert [row.status for row in reads.operations(bulk_uuid, "open", 1)[0]] == [OPEN, OPEN]
        assert reads.operations(bulk_uuid, "complete", 1)[0] == []
        overview = reads.overview(service.clock.time())
        assert overview.open_operations == 2 and overview.oldest_open_age is not None
    service.drainer.drain()
    with database.connection_context():
        assert summaries.recent_bulks(10, "open") == []
        assert summaries.find_summary(bulk_uuid).counts == {"complete": 2}
        assert [row.status for row in reads.operations(bulk_uuid, "complete", 1)[0]] == [COMPLETE, COMPLETE]
        assert reads.overview(service.clock.time()).open_operations == 0


def test_an_unpublished_bulk_is_neither_deleted_nor_purged(client, auth, service, clock):
    bulk_uuid = submit(client, auth, service, ["A"])
    response = client.delete(f"/rest/V1/bulk/{bulk_uuid}", headers=auth)
    assert response.status_code == 409, response.get_data(as_text=True)
    with database.connection_context():
        assert queue.purge_finished(clock.time() + 3600) == 0
    service.drainer.drain()
    assert client.delete(f"/rest/V1/bulk/{bulk_uuid}", headers=auth).status_code == 200


def test_unpublished_operations_count_against_the_open_operations_bound(make_app, auth):
    app = make_app(BULK_PROCESSING="accept", BULK_MAX_OPEN_OPERATIONS="3")
    client = app.test_client()
    service = app.extensions["bulk"]
    submit(client, auth, service, ["A", "B"])
    route = service.catalogue.get(CREATE)
    response = client.post(f"/rest/default/async/bulk{route.bulk_path}", headers=auth,
                           json=[{"product": {"sku": "C"}}, {"product": {"sku": "D"}}])
    assert response.status_code == 503, response.get_data(as_text=True)
    service.drainer.drain()
    submit(client, auth, service, ["C", "D"])


def test_the_oldest_bulks_are_published_first_a_bounded_number_at_a_time(client, auth, service, clock, monkeypatch):
    monkeypatch.setattr(queue, "PUBLISH_BULKS", 2)
    sent = []
    for number in range(5):
        clock.advance(0.01)  # a bulk uuid sorts by its millisecond
        sent.append(submit(client, auth, service, [f"S{number}"]))
    published: list[list[str]] = []
    original = queue.publish_known
    monkeypatch.setattr(queue, "publish_known", lambda *args, **kwargs: published.append(
        (result := original(*args, **kwargs)).bulk_uuids) or result)
    assert service.drainer.drain() == 5
    assert published == [sent[0:2], sent[2:4], sent[4:5]]


def test_a_bulk_published_already_is_not_published_or_counted_again(client, auth, service):
    bulk_uuid = submit(client, auth, service, ["A", "B"])
    now = service.clock.time()
    with database.connection_context():
        first = queue.publish_known(now)
        again = queue.publish_known(now)
        assert (first.bulk_uuids, first.operations) == ([bulk_uuid], 2)
        assert (again.read, again.operations) == (0, 0)
        assert finished_tally.last_hour(now) == {COMPLETE: 2}


def test_routes_whose_handlers_run_are_stored_open(make_app, auth):
    app = make_app(BULK_PROCESSING="store")
    client = app.test_client()
    service = app.extensions["bulk"]
    bulk_uuid = submit(client, auth, service, ["A"])
    assert stored(bulk_uuid) == [(OPEN, None, True)]
    assert not bulk_row(bulk_uuid).outcome_known


def test_after_a_tick_that_only_published_the_next_waits_longer_than_after_a_claim(make_app, auth, monkeypatch):
    """A publish costs a commit whatever it publishes: they are spaced out further (a claim's wait, 0.02 s
    here, is the floor)."""
    waits = {}
    for mode in ("accept", "store"):
        app = make_app(BULK_PROCESSING=mode, BULK_CLAIM_COALESCE_SECONDS="0.02")
        client, service = app.test_client(), app.extensions["bulk"]
        submit(client, auth, service, ["A"])
        paused: list[float] = []
        monkeypatch.setattr(service.drainer, "pause", paused.append)
        assert service.drainer.tick()
        service.drainer.tick()
        waits[mode] = paused[0]
    assert waits["store"] <= 0.02 < drainer.PUBLISH_COALESCE_SECONDS - 0.05 < waits["accept"]
