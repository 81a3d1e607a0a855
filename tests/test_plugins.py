"""Plug-in modules named by BULK_PLUGINS: imported at start, their handlers run the operations."""

from __future__ import annotations

import json
import sys
import textwrap
import uuid

import pytest

from bulk.config import ConfigError
from bulk.plugins import handler
from tests.upstream import Upstream

PLUGIN = '''
from bulk.handlers import PermanentError, RetriableError
from bulk.plugins import handler

CALLS = []


@handler("PUT /V1/products/:sku")
def save_product(arguments, store):
    product = arguments["product"]
    CALLS.append((product["sku"], store.id, store.code))
    if product["sku"] == "locked":
        raise RetriableError("The %1 row is locked, try again.", ["catalog_product_entity"], code=1205)
    if product.get("price", 0) < 0:
        raise PermanentError('The "%attribute" value is invalid.', {"attribute": "price"})
    return {"sku": product["sku"], "price": product.get("price"), "store": store.code}


@handler("async.magento.catalog.api.productrepositoryinterface.deletebyid.delete")
def delete_product(arguments, store):
    CALLS.append(("deleted", arguments["sku"]))
    return True


def helper_without_mark():
    return None
'''


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """Write a plug-in module under a fresh name; returns a function that writes and names it."""
    def write(source: str = PLUGIN) -> str:
        name = f"shop_plugin_{uuid.uuid4().hex[:8]}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        monkeypatch.delitem(sys.modules, name, raising=False)
        return name

    monkeypatch.syspath_prepend(str(tmp_path))
    yield write
    for name in [name for name in sys.modules if name.startswith("shop_plugin_")]:
        del sys.modules[name]


def submit(client, auth, url, method, items) -> str:
    response = client.open(url, method=method, json=items, headers=auth)
    assert response.status_code == 202, response.get_data(as_text=True)
    return response.get_json()["bulk_uuid"]


def operations(client, auth, bulk_uuid) -> list[dict]:
    return client.get(f"/rest/V1/bulk/{bulk_uuid}/detailed-status", headers=auth).get_json()["operations_list"]


def token_of(client) -> dict:
    token = client.post("/rest/V1/integration/admin/token", json={"username": "admin", "password": "admin123"})
    return {"Authorization": f"Bearer {token.get_json()}"}


def test_a_plugin_module_handles_its_routes_and_topics(make_app, plugin, clock):
    name = plugin()
    app = make_app(BULK_PLUGINS=name, BULK_STORES="default:1,fr:2", BULK_RETRY_ATTEMPTS="2")
    client, service = app.test_client(), app.extensions["bulk"]
    service.ensure_ready_without_worker()
    auth = token_of(client)
    saved = submit(client, auth, "/rest/fr/async/bulk/V1/products/bySku", "PUT", [
        {"product": {"sku": "A", "price": "12.5"}}, {"product": {"sku": "B", "price": -1}},
        {"product": {"sku": "locked"}}])
    deleted = submit(client, auth, "/rest/async/V1/products/Z", "DELETE", None)
    service.drainer.drain()
    module = sys.modules[name]
    assert module.CALLS == [("A", 2, "fr"), ("B", 2, "fr"), ("locked", 2, "fr"), ("deleted", "Z")]
    ok, bad, locked = operations(client, auth, saved)
    # The handler got the decoded arguments: "12.5" became a float, as the schema says.
    assert json.loads(ok["result_serialized_data"]) == {"sku": "A", "price": 12.5, "store": "fr"}
    assert (ok["status"], bad["status"], bad["result_message"]) == (1, 3, 'The "price" value is invalid.')
    assert (locked["status"], locked["result_message"], locked["error_code"]) == \
        (4, "The catalog_product_entity row is locked, try again.", 1205)
    clock.advance(10)
    service.drainer.drain()
    assert operations(client, auth, saved)[2]["status"] == 2
    assert operations(client, auth, deleted)[0]["result_serialized_data"] == "true"


def test_a_plugin_wins_over_forwarding_for_its_routes(make_app, plugin):
    name = plugin()
    with Upstream() as upstream:
        app = make_app(BULK_PLUGINS=name, BULK_PROCESSING="forward", BULK_UPSTREAM_URL=upstream.url)
        client, service = app.test_client(), app.extensions["bulk"]
        service.ensure_ready_without_worker()
        auth = token_of(client)
        submit(client, auth, "/rest/async/bulk/V1/products/bySku", "PUT", [{"product": {"sku": "A"}}])
        submit(client, auth, "/rest/async/bulk/V1/products", "POST", [{"product": {"sku": "B"}}])
        service.drainer.drain()
        assert [call.path for call in upstream.calls] == ["/rest/default/V1/products"]
    assert sys.modules[name].CALLS == [("A", 1, "default")]


@pytest.mark.parametrize("source, message", [
    ("import nowhere_to_be_found\n", "cannot import"),
    ("VALUE = 1\n", "marks no function"),
    ("from bulk.plugins import handler\n\n@handler('PUT /V1/productz/:sku')\ndef f(a, s):\n    return None\n",
     "'PUT /V1/productz/:sku', which is no configured route"),
])
def test_a_bad_plugin_stops_the_start_with_its_name(make_app, plugin, source, message):
    name = plugin(source)
    with pytest.raises(ConfigError, match="BULK_PLUGINS") as caught:
        make_app(BULK_PLUGINS=name)
    assert message in str(caught.value) and name in str(caught.value)


def test_a_plugin_marked_transactional_runs_in_the_recording_transaction(make_app, plugin):
    name = plugin('''
        from bulk.handlers import transactional
        from bulk.plugins import handler

        @handler("POST /V1/products")
        @transactional
        def save(arguments, store):
            return None

        @handler("PUT /V1/products/:sku")
        def call_out(arguments, store):
            return None
    ''')
    service = make_app(BULK_PLUGINS=name).extensions["bulk"]
    local = service.processing.handler_for(service.catalogue.get("POST /V1/products"))
    outside = service.processing.handler_for(service.catalogue.get("PUT /V1/products/:sku"))
    assert getattr(local, "transactional", False) and not getattr(outside, "transactional", False)


def test_a_plugin_marked_no_op_completes_its_operations_without_being_called(make_app, plugin):
    # In forward mode: these operations are acknowledged, neither forwarded nor run.
    name = plugin('''
        from bulk.handlers import no_op
        from bulk.plugins import handler

        @handler("POST /V1/products")
        @no_op
        def ignore(arguments, store):
            raise RuntimeError("a no-op handler is never called")
    ''')
    with Upstream() as upstream:
        app = make_app(BULK_PLUGINS=name, BULK_PROCESSING="forward", BULK_UPSTREAM_URL=upstream.url)
        client, service = app.test_client(), app.extensions["bulk"]
        service.ensure_ready_without_worker()
        auth = token_of(client)
        bulk_uuid = submit(client, auth, "/rest/async/bulk/V1/products", "POST",
                           [{"product": {"sku": "A"}}, {"product": {"sku": "B"}}])
        assert service.drainer.drain() == 2
        assert upstream.calls == []
    route = service.catalogue.get("POST /V1/products")
    assert [(op["status"], op["result_message"]) for op in operations(client, auth, bulk_uuid)] == \
        [(1, route.success_message)] * 2


def test_the_decorator_needs_a_key_and_leaves_the_function_callable():
    with pytest.raises(TypeError):
        handler()

    @handler("POST /V1/products", "async.x")
    def save(arguments, store):
        return arguments

    assert save({"a": 1}, None) == {"a": 1}
