"""Hostile input, generated: random items on every built-in route (bulk, single async and sync), random
searchCriteria and random path segments, on both engines.

Whatever arrives, the service answers below 500, every 4xx is Magento's error body, and no answer (nor
an operation's `result_message` once drained) carries Python's or a database's own text. Generated
text comes from a small alphabet that cannot spell those words, so an answer that echoes input never
looks like a leak and a leak is always the service's. Deterministic (`derandomize`) and bounded.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from marshmallow import fields

from bulk.routes.builtin import builtin_routes
from bulk.routes.catalogue import Route
from schemas.base import (
    Boolean,
    DataObject,
    DataObjectList,
    Float,
    FreeList,
    FreeObject,
    Integer,
    MagentoSchema,
    String,
    StringList,
)
from schemas.common import CustomAttributes

FUZZ = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])

# What only Python, peewee, marshmallow, orjson or a database would write.
INTERNAL_TEXT = re.compile(
    r"Traceback|File \"|\b[A-Z][A-Za-z]*(?:Error|Exception)\b|NoneType|has no attribute|not subscriptable|"
    r"not iterable|unsupported operand|invalid literal|int too large|out of range|[Ss][Qq][Ll]ite|psycopg|"
    r"SQLSTATE|syntax error|violates|unique constraint|constraint failed|peewee|orjson|marshmallow|relation \"|HINT:|DETAIL:|"
    r"Not a valid|Unknown field|Missing data for required field|Field may not be null|string literal|"
    r"Recursion|recursion|Invalid input type|Invalid value\.|Length must be")
ERROR_KEYS = {"message", "errors", "code", "parameters"}


# -- what is generated ---------------------------------------------------------------------------

# No letter but a, b and é: no generated text can spell a word of INTERNAL_TEXT. NUL bytes and deep
# nesting, refused wherever they appear, have a test of their own, so that most items here get through.
ALPHABET = "ab01 %_-.é"
texts = st.text(ALPHABET, max_size=12)
hostile_texts = st.one_of(texts, st.sampled_from(["", " ", "0", "-1", "1e400", "NaN", "99999999999999999999",
                                                  "-18446744073709551615", "a" * 70, "%a%a%b"]))
small_integers = st.integers(-3, 5)
# Integers PHP's int holds, then some it does not (JSON gives the latter as floats).
int64_edges = st.sampled_from([2**31 - 1, 2**31, 2**32, 2**63 - 1, -(2**63)])
big_integers = st.sampled_from([2**63, 2**64 - 1, 10**20, -(2**64)])
integers = st.one_of(small_integers, small_integers, small_integers, int64_edges)
numbers = st.one_of(integers, st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([1e30, -0.0, 0.5]))
scalars = st.one_of(st.none(), st.booleans(), numbers, big_integers, hostile_texts)
# Keys the store reads inside free-form objects (extension attributes, order parts) besides random ones.
STORE_KEYS = ["stock_item", "category_links", "website_ids", "category_id", "position", "qty", "is_in_stock",
              "item_id", "sku", "id", "value", "base64_encoded_data", "name", "type"]
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.one_of(texts, st.sampled_from(STORE_KEYS)), inner, max_size=3)),
    max_leaves=8)

anything = json_values

# Values that name stored entities, so updates, links and deletes meet real rows as well.
SKUS = ["A", "B", "24-MB01"]
EMAILS = ["a@example.com", "b@example.com", "A@EXAMPLE.COM"]
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
FAVOURITES: dict[str, st.SearchStrategy[Any]] = {
    "sku": st.sampled_from(SKUS), "productSku": st.sampled_from(SKUS), "linked_product_sku": st.sampled_from(SKUS),
    "email": st.sampled_from(EMAILS), "password": st.sampled_from(["Passw0rd!x", "short"]),
    "firstname": st.just("Ann"), "lastname": st.just("Lee"), "name": st.sampled_from(["Bags", "Gear"]),
    "source_code": st.sampled_from(["default", "eu"]), "type_id": st.sampled_from(["simple", "configurable"]),
    "price_type": st.sampled_from(["fixed", "discount"]), "customer_group": st.sampled_from(["General", "x"]),
    "base64_encoded_data": st.just(PNG), "type": st.just("image/png"),
}
IDS = st.integers(0, 4)


def field_values(name: str, field: fields.Field) -> st.SearchStrategy[Any]:
    """Values of the field's own type, hostile ones among them (`mutated` puts anything anywhere)."""
    own: st.SearchStrategy[Any]
    if name in FAVOURITES:
        own = FAVOURITES[name]
    elif isinstance(field, CustomAttributes):
        codes = st.one_of(st.sampled_from(["color", "url_key"]), texts.filter(lambda text: text.strip("0")))
        own = st.one_of(st.lists(st.fixed_dictionaries({"attribute_code": codes, "value": json_values}), max_size=3),
                        st.dictionaries(codes, json_values, max_size=2))
    elif isinstance(field, DataObjectList):
        own = st.lists(data_objects(field.inner.schema_class), max_size=3)
    elif isinstance(field, DataObject):
        own = data_objects(field.schema_class)
    elif isinstance(field, Integer):
        own = st.one_of(IDS, integers) if name.lower().endswith("id") else integers
    elif isinstance(field, Float):
        own = numbers
    elif isinstance(field, Boolean):
        own = st.one_of(st.booleans(), st.sampled_from([0, 1, "true", "0"]))
    elif isinstance(field, StringList):
        own = st.lists(hostile_texts, max_size=3)
    elif isinstance(field, FreeObject):
        own = st.dictionaries(st.sampled_from(STORE_KEYS), json_values, max_size=3)
    elif isinstance(field, FreeList):
        own = st.lists(json_values, max_size=3)
    elif isinstance(field, String):
        own = hostile_texts
    else:
        own = json_values
    return own


_object_strategies: dict[type, st.SearchStrategy[dict]] = {}


def data_objects(schema: type[MagentoSchema]) -> st.SearchStrategy[dict]:
    if schema not in _object_strategies:
        _object_strategies[schema] = st.deferred(lambda: _fields_of(schema._declared_fields))
    return _object_strategies[schema]


def _fields_of(declared: dict[str, fields.Field], extra: dict[str, st.SearchStrategy[Any]] | None = None
               ) -> st.SearchStrategy[dict]:
    """The required fields and those an entity is found by (a SKU, an email), and some others."""
    values = {name: field_values(name, field) for name, field in declared.items()}
    always = {name for name, field in declared.items() if field.required or name in FAVOURITES}
    return st.fixed_dictionaries({name: values[name] for name in always},
                                 optional={**{name: values[name] for name in values.keys() - always}, **(extra or {})})


def arguments_for(route: Route) -> st.SearchStrategy[Any]:
    """One argument map for the route: its schema's arguments, the URL's values as item keys, or junk."""
    declared = route.schema._declared_fields if route.schema else {}
    extra = {param: FAVOURITES.get(param, st.one_of(IDS, hostile_texts)) for param in route.template.params
             if param not in declared}
    well_typed = _fields_of(declared, extra)
    return st.one_of(well_typed, well_typed, well_typed, mutated(well_typed), anything)


def _places(value: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) inside a JSON value."""
    keys = value.keys() if isinstance(value, dict) else range(len(value)) if isinstance(value, list) else ()
    return [place for key in keys for place in [(value, key), *_places(value[key])]]


@st.composite
def mutated(draw: st.DrawFn, items: st.SearchStrategy[Any], values: st.SearchStrategy[Any] = anything) -> Any:
    """A well-typed item with one value anywhere in it replaced by one of `values`: most items are
    accepted and get deep into the store, and the rest go wrong in one place."""
    item = draw(items)
    places = _places(item)
    if places:
        container, key = draw(st.sampled_from(places))
        container[key] = draw(values)
    return item


def nested(depth: int) -> Any:
    value: Any = "a"
    for _ in range(depth):
        value = [value]
    return value


# A NUL byte in a text, or a value nested past what a parser or encoder may go (Magento bounds
# nesting at parse time); Python's own JSON encoder in the test client stops near 1000 levels.
structurally_hostile = st.one_of(st.sampled_from(["\x00", "a\x00b", "\x00" * 3]),
                                 st.sampled_from([2, 120, 127, 128, 129, 200, 253, 254, 255, 700]).map(nested))


ROUTES = sorted(builtin_routes(), key=lambda route: route.key)
segments = st.one_of(st.sampled_from(SKUS), IDS.map(str), hostile_texts.filter(bool), st.sampled_from(["\x00", "a\x00"]))


def path_of(template: str, values: list[str]) -> str:
    parts = iter(values)
    return re.sub(r":\w+", lambda _: quote(next(parts, "a"), safe=""), template)


# -- what must hold of every answer ----------------------------------------------------------------

def check_answer(response) -> Any:
    """Below 500, Magento's error shape on a 4xx, no internal text; the decoded body."""
    text = response.get_data(as_text=True)
    where = f"{response.request.method} {response.request.path}: {response.status_code} {text[:500]}"
    assert response.status_code < 500, where
    assert not INTERNAL_TEXT.search(text), where
    if 400 <= response.status_code < 500:
        assert response.headers["Content-Type"].startswith("application/json"), where
        body = response.get_json()
        assert isinstance(body, dict) and set(body) <= ERROR_KEYS, where
        assert isinstance(body["message"], str) and body["message"], where
        assert isinstance(body.get("parameters", []), (list, dict)), where
        for error in body.get("errors", []):
            assert isinstance(error["message"], str) and set(error) <= {"message", "parameters"}, where
        return body
    return response.get_json(silent=True)


def drain_and_check(client, auth, service, bulk_uuids: list[str]) -> None:
    """Run what was queued, then read it back: every operation finished, in Magento's words."""
    service.drainer.drain()
    for bulk_uuid in bulk_uuids:
        body = check_answer(client.get(f"/rest/V1/bulk/{bulk_uuid}/detailed-status", headers=auth))
        for operation in body["operations_list"]:
            assert operation["status"] in (1, 2, 3), operation
            # The drainer's last line (a failure no handler meant) is never the way an item fails.
            assert not (operation["result_message"] or "").startswith("Internal Error."), operation
    for path in ("/rest/V1/products?searchCriteria=", "/rest/V1/customers/search?searchCriteria=",
                 "/rest/V1/inventory/source-items?searchCriteria=", "/rest/V1/categories/3"):
        check_answer(client.get(path, headers=auth))


# -- the tests -----------------------------------------------------------------------------------------

def send_everywhere(client, auth, service, data, route: Route, items: list[Any]) -> None:
    """The items as one bulk, the first as a single async call, the last as a sync call (the store
    runs those it models); then drained and read back."""
    # Anonymous routes (customers' createAccount) are tried as a guest as well.
    caller = {} if route.is_anonymous and data.draw(st.booleans(), label="as a guest") else auth
    path_values = data.draw(st.lists(segments, min_size=len(route.template.params),
                                     max_size=len(route.template.params)), label="path values")
    accepted = []
    bulk = check_answer(client.open(f"/rest/default/async/bulk{route.bulk_path}", method=route.method,
                                    json=items, headers=caller))
    if isinstance(bulk, dict) and "bulk_uuid" in bulk:
        accepted.append(bulk["bulk_uuid"])
    event(f"bulk: {'accepted' if accepted else 'refused'}")
    path = path_of(route.template.path, path_values)
    single = check_answer(client.open(f"/rest/all/async{path}", method=route.method, json=items[0], headers=caller))
    if isinstance(single, dict) and "bulk_uuid" in single:
        accepted.append(single["bulk_uuid"])
    check_answer(client.open(f"/rest/default{path}", method=route.method, json=items[-1], headers=caller))
    drain_and_check(client, auth, service, accepted)


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: route.key)
@settings(FUZZ, max_examples=25)
@given(data=st.data())
def test_random_items_on_every_route(client, auth, service, route, data):
    items = data.draw(st.lists(arguments_for(route), min_size=1, max_size=3), label="items")
    send_everywhere(client, auth, service, data, route, items)


@FUZZ
@given(data=st.data())
def test_nul_bytes_and_deep_nesting_anywhere_in_items(client, auth, service, data):
    route = data.draw(st.sampled_from(ROUTES), label="route")
    well_typed = _fields_of(route.schema._declared_fields if route.schema else {})
    items = data.draw(st.lists(mutated(well_typed, structurally_hostile), min_size=1, max_size=2), label="items")
    send_everywhere(client, auth, service, data, route, items)


SEARCHES = ["/V1/products", "/V1/customers/search", "/V1/inventory/source-items", "/V1/bulk"]
CRITERIA_KEYS = st.one_of(
    st.builds(lambda group, index, part: f"searchCriteria[filter_groups][{group}][filters][{index}][{part}]",
              st.sampled_from(["0", "1", "99999999999999999999", "-1", "a"]), st.sampled_from(["0", "1", "x"]),
              st.sampled_from(["field", "value", "condition_type", "field][a", "value][]"])),
    st.builds(lambda index, part: f"searchCriteria[sort_orders][{index}][{part}]",
              st.sampled_from(["0", "1", "99999999999999999999"]), st.sampled_from(["field", "direction", "field][a"])),
    st.sampled_from(["searchCriteria[pageSize]", "searchCriteria[currentPage]", "searchCriteria[page_size]",
                     "searchCriteria", "searchCriteria[]", "searchCriteria[x]", "other"]))
CRITERIA_VALUES = st.one_of(
    hostile_texts, big_integers.map(str), st.just("a\x00b"),
    st.sampled_from(["sku", "name", "price", "email", "status", "id", "entity_id", "quantity", "like", "eq", "in",
                     "nin", "gt", "lteq", "neq", "null", "notnull", "from", "to", "finset", "ASC", "DESC",
                     "%a%", "a,b", "9223372036854775807", "1.5"]))


@FUZZ
@given(data=st.data())
def test_random_search_criteria(client, auth, service, data):
    if data.draw(st.booleans(), label="with data"):
        client.post("/rest/V1/products", json={"product": {"sku": "A", "name": "a%b", "price": 1}}, headers=auth)
    pairs = data.draw(st.lists(st.tuples(CRITERIA_KEYS, CRITERIA_VALUES), max_size=8), label="query")
    search = data.draw(st.sampled_from(SEARCHES), label="search")
    check_answer(client.get(f"/rest/V1{search.removeprefix('/V1')}?{urlencode(pairs)}", headers=auth))


PATHS = ["/V1/products/:sku", "/V1/products/:sku/media", "/V1/stockItems/:sku", "/V1/categories/:id",
         "/V1/customers/:id", "/V1/bulk/:uuid/status", "/V1/bulk/:uuid/detailed-status",
         "/V1/bulk/:uuid/operation-status/:status", "/V1/bulk/:uuid/webhooks", "/V1/bulk/:uuid/retry",
         "/V1/bulk/:uuid", *(route.template.path for route in ROUTES)]


@FUZZ
@given(data=st.data())
def test_random_path_segments(client, auth, service, data):
    bulk_uuid = check_answer(client.post("/rest/async/bulk/V1/products", json=[{"product": {"sku": "A"}}],
                                         headers=auth))["bulk_uuid"]
    service.drainer.drain()
    template = data.draw(st.sampled_from(PATHS), label="template")
    values = data.draw(st.lists(st.one_of(segments, st.just(bulk_uuid)), min_size=3, max_size=3), label="segments")
    method = data.draw(st.sampled_from(["GET", "POST", "PUT", "DELETE"]), label="method")
    store = data.draw(st.sampled_from(["", "/default", "/all", "/" + quote(values[2], safe="")]), label="store")
    body = data.draw(st.one_of(st.none(), anything, st.fixed_dictionaries(
        {}, optional={"scope": anything, "operation_ids": anything})), label="body")
    path = path_of(template, values)
    for prefix in (f"/rest{store}", f"/rest{store}/async", f"/rest{store}/async/bulk"):
        check_answer(client.open(prefix + path, method=method, json=body, headers=auth))
