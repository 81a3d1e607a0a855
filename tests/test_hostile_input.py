"""Hostile input answered like bad input (issue 11): linear-time `like`, 400s in Magento's shape, never a 500.

Each test reproduces what an attack on the service found; all run on SQLite and PostgreSQL, and the
two engines must answer alike.
"""

from __future__ import annotations

import peewee
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulk.errors import WebapiError
from bulk.jsonutil import json_response
from bulk.like import LikePattern, sql_like
from bulk.views import body, nesting
from tests.magento import assert_magento_error
from tests.store_client import criteria, submit

INVALID_TYPE = 'The "%value" value\'s type is invalid. The "%type" type was expected. Verify and try again.'

# -- `like` -----------------------------------------------------------------------------------------

# Against a long run of `a`s, each `%a` multiplied the work of a translated regex (`.*a.*a...b`): five
# took 11 s on 200 characters. These never finish that way (the suite's timeout ends the test).
LONG_NAME = "a" * 3000
HOSTILE = "%a" * 12 + "%b"


def _product(sku: str, name: str) -> dict:
    return {"product": {"sku": sku, "name": name, "price": 1, "type_id": "simple", "attribute_set_id": 4}}


def test_like_on_products_takes_linear_time(client, auth, service):
    submit(client, auth, "POST", "/V1/products", [_product("long", LONG_NAME), _product("short", "ab")])
    assert service.drainer.drain() == 2
    for pattern, skus in ((HOSTILE, []), ("%a" * 12 + "%", ["long"]), ("%a%b", ["short"]), ("_" * 3000, ["long"])):
        found = client.get("/rest/V1/products?" + criteria(("name", pattern, "like")), headers=auth)
        assert found.status_code == 200, found.get_data(as_text=True)
        assert sorted(item["sku"] for item in found.get_json()["items"]) == skus, pattern
        unfound = client.get("/rest/V1/products?" + criteria(("name", pattern, "nlike"), ("sku", "%", "like")),
                             headers=auth)
        assert sorted(item["sku"] for item in unfound.get_json()["items"]) == sorted({"long", "short"} - set(skus))


def test_like_on_customers_takes_linear_time(client, auth, service):
    customer = {"customer": {"email": "long@example.com", "firstname": LONG_NAME[:255], "lastname": "L"}}
    submit(client, auth, "POST", "/V1/customers", [customer])
    assert service.drainer.drain() == 1
    for pattern, total in ((HOSTILE, 0), ("%A" * 12 + "%", 1)):
        found = client.get("/rest/V1/customers/search?" + criteria(("firstname", pattern, "like")), headers=auth)
        assert found.status_code == 200, found.get_data(as_text=True)
        assert found.get_json()["total_count"] == total


@pytest.mark.parametrize("pattern, text, expected", [
    ("%pack%", "Strive Shoulder PACK", True),      # case-insensitive, as MySQL's default collation
    ("s_rive%", "Strive", True),
    ("s_ive%", "Strive", False),                   # `_` is exactly one character
    ("100\\%", "100%", True),                      # MySQL's escape character
    ("100\\%", "1000", False),
    ("a\\_b", "a_b", True),
    ("a\\_b", "axb", False),
    ("a\\\\b", "a\\b", True),                      # an escaped backslash
    ("a\\", "a\\", True),                          # a backslash that ends the pattern is itself
    ("a\\b", "ab", True),                          # `\b` is a literal b
    ("%", "", True),
    ("", "", True),
    ("_", "", False),
    ("%a%", "line\nwith a newline", True),
    ("ΟΔΟΣ", "οδος", True),                        # the final sigma folds like any other
    ("i̇stanbul%", "İstanbul", False),             # one character stays one character
    ("_stanbul", "İstanbul", True),
])
def test_like_semantics_follow_mysql(pattern, text, expected):
    assert LikePattern(pattern).matches(text) is expected


def _reference_matches(pattern: str, text: str) -> bool:
    """MySQL's LIKE written the slow obvious way (recursion over both strings), for short inputs."""
    tokens: list[tuple[str, str]] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            tokens.append(("char", pattern[index + 1]))
            index += 2
            continue
        tokens.append(("many", "") if char == "%" else ("one", "") if char == "_" else ("char", char))
        index += 1

    def match(t: int, s: int) -> bool:
        if t == len(tokens):
            return s == len(text)
        kind, char = tokens[t]
        if kind == "many":
            return any(match(t + 1, rest) for rest in range(s, len(text) + 1))
        if s == len(text):
            return False
        return (kind == "one" or text[s].lower() == char.lower()) and match(t + 1, s + 1)

    return match(0, 0)


PATTERN_TEXT = st.text(alphabet="aAb%_\\", max_size=8)
TEXT = st.text(alphabet="aAb%_\\", max_size=10)


@settings(max_examples=400, derandomize=True, database=None, deadline=None)
@given(pattern=PATTERN_TEXT, text=TEXT)
def test_like_matcher_agrees_with_a_reference(pattern, text):
    assert LikePattern(pattern).matches(text) is _reference_matches(pattern, text)


@settings(max_examples=150, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pattern=PATTERN_TEXT, text=TEXT)
def test_like_in_sql_agrees_with_the_matcher_on_both_engines(db, pattern, text):
    parsed = LikePattern(pattern)
    query = peewee.Select(columns=[sql_like(peewee.Value(text), parsed)]).bind(db)
    assert bool(query.scalar()) is parsed.matches(text), (pattern, text, parsed.sql())


@pytest.mark.parametrize("field, pattern, total", [
    ("status", "4%", 1),            # an integer column compared as text, as MySQL does
    ("status", "3%", 0),
    ("start_time", "2023-11-14%", 1),
    ("start_time", "%:20", 1),
    ("topic_name", "%\\%", 0),      # a literal percent sign: the pattern must not end in an escape
    ("topic_name", "%\\", 0),       # a pattern ending in the escape character
    ("topic_name", "ASYNC.MAGENTO%", 1),
    ("topic_name", "async.magento.catalog.api.productrepositoryinterface.save.pos_", 1),
])
def test_like_on_the_operation_search_reads_patterns_alike_on_both_engines(client, auth, field, pattern, total):
    submit(client, auth, "POST", "/V1/products", [_product("a", "A")])
    for condition, expected in (("like", total), ("nlike", 1 - total)):
        found = client.get("/rest/V1/bulk?" + criteria((field, pattern, condition)), headers=auth)
        assert found.status_code == 200, found.get_data(as_text=True)
        assert found.get_json()["total_count"] == expected, (condition, found.get_json())


@pytest.mark.parametrize("filters, total", [
    ([("start_time", "zzz", "gt")], 0),                         # not a time: compared as text, like MySQL
    ([("start_time", "", "eq")], 0),
    ([("start_time", "2023-11-14 22:13:20,zz", "in")], 1),
    ([("start_time", "zz,yy", "nin")], 1),
    ([("start_time", "\x01", "gt")], 1),
    ([("start_time", "2023-11-14T22:13:20", "eq")], 1),         # ISO 8601 is a time
    ([("start_time", "2023-11-14T23:13:20+01:00", "eq")], 1),   # ... in UTC
    ([("start_time", "2023-11-14", "gt")], 1),
    ([("start_time", "2023-11-14 22:13:20.5", "lt")], 1),
])
def test_operation_search_compares_any_start_time_value_alike_on_both_engines(client, auth, filters, total):
    submit(client, auth, "POST", "/V1/products", [_product("a", "A")])
    found = client.get("/rest/V1/bulk?" + criteria(*filters), headers=auth)
    assert found.status_code == 200, found.get_data(as_text=True)
    assert found.get_json()["total_count"] == total


# -- searchCriteria shapes --------------------------------------------------------------------------

SEARCHES = ("/rest/V1/bulk", "/rest/V1/products", "/rest/V1/customers/search")
FILTER = "searchCriteria[filter_groups][0][filters][0]"
SORT = "searchCriteria[sort_orders][0]"


@pytest.mark.parametrize("url", SEARCHES)
@pytest.mark.parametrize("query, expected_type", [
    (f"{FILTER}[field][a]=b", "string"),                              # a field that is a map
    (f"{FILTER}[field]=status&{FILTER}[value][a]=1", "string"),
    (f"{FILTER}[field]=status&{FILTER}[value]=1&{FILTER}[condition_type][]=eq", "string"),
    (f"{SORT}[field][a]=b", "string"),
    (f"{SORT}[field]=status&{SORT}[direction][x]=ASC", "string"),
    ("searchCriteria[pageSize][a]=1", "int"),
    ("searchCriteria[pageSize]=1&searchCriteria[currentPage][]=2", "int"),
])
def test_a_map_where_searchcriteria_wants_a_value_is_magentos_type_error(client, auth, url, query, expected_type):
    # Magento's TypeProcessor names the PHP type of what it got: "array".
    assert_magento_error(client.get(f"{url}?{query}", headers=auth), 400, INVALID_TYPE,
                         {"value": "array", "type": expected_type})


@pytest.mark.parametrize("url", SEARCHES)
@pytest.mark.parametrize("index", ["²", "٣", "1" * 5000, "-1", "x"])
def test_odd_filter_group_indexes_are_read_in_order_not_crashed_on(client, auth, url, index):
    field = "status" if url.endswith("bulk") else "id"
    query = (f"searchCriteria[filter_groups][{index}][filters][0][field]={field}"
             f"&searchCriteria[filter_groups][{index}][filters][0][value]=1"
             f"&searchCriteria[filter_groups][{index}][filters][0][condition_type]=gteq")
    found = client.get(f"{url}?{query}", headers=auth)
    assert found.status_code == 200, found.get_data(as_text=True)
    assert found.get_json()["search_criteria"]["filter_groups"] == [
        {"filters": [{"field": field, "value": "1", "condition_type": "gteq"}]}]


@pytest.mark.parametrize("url", SEARCHES)
def test_a_page_beyond_any_offset_is_empty_not_an_overflow(client, auth, url):
    submit(client, auth, "POST", "/V1/products", [_product("a", "A")])
    biggest = 2**63 - 1
    found = client.get(f"{url}?searchCriteria[pageSize]={biggest}&searchCriteria[currentPage]=3", headers=auth)
    assert found.status_code == 200, found.get_data(as_text=True)
    body = found.get_json()
    assert body["items"] == []
    assert (body["search_criteria"]["page_size"], body["search_criteria"]["current_page"]) == (biggest, 3)
    first = client.get(f"{url}?searchCriteria[pageSize]={biggest}&searchCriteria[currentPage]=1", headers=auth)
    assert len(first.get_json()["items"]) == (1 if url.endswith("bulk") else 0)


# -- integers beyond 64 bits ------------------------------------------------------------------------

TWENTY_DIGITS = "99999999999999999999"


@pytest.mark.parametrize("url, value", [
    (f"/rest/V1/bulk/x/operation-status/{TWENTY_DIGITS}", TWENTY_DIGITS),
    ("/rest/V1/bulk/x/operation-status/-9223372036854775809", "-9223372036854775809"),
    (f"/rest/V1/bulk?searchCriteria[pageSize]={TWENTY_DIGITS}", TWENTY_DIGITS),
    (f"/rest/V1/bulk?searchCriteria[pageSize]=5&searchCriteria[currentPage]={TWENTY_DIGITS}", TWENTY_DIGITS),
    (f"/rest/V1/products?searchCriteria[pageSize]={2**63}", str(2**63)),
    (f"/rest/V1/customers/search?searchCriteria[currentPage]={TWENTY_DIGITS}", TWENTY_DIGITS),
    ("/rest/V1/bulk?" + criteria(("status", TWENTY_DIGITS, "eq")), TWENTY_DIGITS),
    ("/rest/V1/bulk?" + criteria(("status", f"1,{TWENTY_DIGITS}", "in")), TWENTY_DIGITS),
    (f"/rest/V1/customers/{TWENTY_DIGITS}", TWENTY_DIGITS),
    (f"/rest/V1/categories/{TWENTY_DIGITS}", TWENTY_DIGITS),
    (f"/rest/V1/bulk/x/operation-status/{'1' * 5000}", "1" * 5000),
])
def test_integers_beyond_64_bits_are_magentos_type_error(client, auth, url, value):
    assert_magento_error(client.get(url, headers=auth), 400, INVALID_TYPE, {"value": value, "type": "int"})


@pytest.mark.parametrize("url", ["/rest/V1/customers/9223372036854775807", "/rest/V1/categories/9223372036854775807"])
def test_the_largest_64_bit_id_is_just_not_found(client, auth, url):
    response = client.get(url, headers=auth)
    assert response.status_code == 404, response.get_data(as_text=True)
    assert set(response.get_json()) <= {"message", "parameters"}


# -- nesting ----------------------------------------------------------------------------------------

MAX_NESTING = 128  # bulk.views.nesting.MAX_NESTING, restated: the test pins the number clients see


def _nested(levels: int) -> str:
    """A JSON value of `levels` arrays, innermost an object: `[[...[{}]...]]`."""
    return "[" * (levels - 1) + "{}" + "]" * (levels - 1)


def _deep_products(depth: int) -> bytes:
    """A one-product bulk whose custom attribute value brings the whole body to `depth` levels."""
    # body list > item > product > custom_attributes list > attribute object: the value starts at level 6.
    return ('[{"product": {"sku": "deep", "name": "Deep", "price": 1, "type_id": "simple", "attribute_set_id": 4, '
            '"custom_attributes": [{"attribute_code": "deep", "value": ' + _nested(depth - 5) + "}]}}]").encode()


@pytest.mark.parametrize("depth", [MAX_NESTING + 1, 253, 254, 300, 511, 600, 1023, 1100])
def test_bodies_nested_too_deep_are_a_decoding_error(client, auth, depth):
    json = {"Content-Type": "application/json"}
    assert_magento_error(client.post("/rest/async/bulk/V1/products", data=_deep_products(depth),
                                     headers={**auth, **json}), 400, "Decoding error.")
    uuid = submit(client, auth, "POST", "/V1/products", [_product("a", "A")])
    assert_magento_error(client.post(f"/rest/V1/bulk/{uuid}/retry", data='{"scope": ' + _nested(depth - 1) + "}",
                                     headers={**auth, **json}), 400, "Decoding error.")
    # Anonymous: a guest's customer account, the value deep inside an address.
    customer = ('{"customer": {"email": "deep@example.com", "firstname": "D", "lastname": "P", "addresses": '
                '[{"street": ' + _nested(depth - 4) + "}]}}")
    assert_magento_error(client.post("/rest/async/V1/customers", data=customer, headers=json), 400, "Decoding error.")


def test_bodies_nested_to_the_limit_are_served_end_to_end(client, auth, service):
    response = client.post("/rest/async/bulk/V1/products", data=_deep_products(MAX_NESTING),
                           headers={**auth, "Content-Type": "application/json"})
    assert response.status_code == 202, response.get_data(as_text=True)
    uuid = response.get_json()["bulk_uuid"]
    assert service.drainer.drain() == 1
    detail = client.get(f"/rest/V1/bulk/{uuid}/detailed-status", headers=auth)
    assert detail.status_code == 200
    assert detail.get_json()["operations_list"][0]["status"] == 1, detail.get_json()
    for url in ("/rest/V1/products/deep", "/rest/V1/products?" + criteria(("sku", "deep", "eq")),
                "/rest/V1/bulk?" + criteria(("bulk_uuid", uuid, "eq"))):
        read = client.get(url, headers=auth)
        assert read.status_code == 200, (url, read.get_data(as_text=True)[:200])
    retried = client.post(f"/rest/V1/bulk/{uuid}/retry", data='{"scope": ' + _nested(MAX_NESTING - 1) + "}",
                          headers={**auth, "Content-Type": "application/json"})
    assert_magento_error(retried, 400, INVALID_TYPE, {"value": "array", "type": "string"})


@pytest.mark.parametrize("depth, fits", [(1, True), (MAX_NESTING, True), (MAX_NESTING + 1, False)])
def test_the_nesting_limit_is_exact(depth, fits):
    assert MAX_NESTING == nesting.MAX_NESTING
    for raw in (_nested(depth), '{"a": ' + _nested(depth - 1) + "}" if depth > 1 else "{}"):
        if fits:
            body.decode_body(raw.encode(), "application/json")
        else:
            with pytest.raises(WebapiError, match=r"^Decoding error\.$"):
                body.decode_body(raw.encode(), "application/json")


# -- NUL characters ---------------------------------------------------------------------------------

NUL = "A NUL character is not accepted in the request %part."
ITEM = _product("nul", "NUL")


@pytest.mark.parametrize("url, part", [
    ("/rest/V1/products/a%00b", "path"),
    ("/rest/V1/bulk/a%00b/status", "path"),
    ("/rest/V1/bulk/a%00b/detailed-status", "path"),
    ("/rest/V1/bulk/a%00b/webhooks", "path"),
    ("/rest/V1/customers/1%00", "path"),
    ("/rest/V1/categories/%002", "path"),
    ("/rest/a%00b/V1/products/x", "path"),
    ("/rest/V1/bulk?" + criteria(("topic_name", "a\x00b", "eq")), "query"),
    ("/rest/V1/bulk?" + criteria(("topic_name", "%\x00%", "like")), "query"),
    ("/rest/V1/bulk?" + criteria(("start_time", "\x00", "gt")), "query"),
    ("/rest/V1/products?" + criteria(("sku", "a\x00b", "eq")), "query"),
    ("/rest/V1/customers/search?" + criteria(("email", "%\x00", "like")), "query"),
    ("/rest/V1/bulk?searchCriteria[pageSize]=1&x%00=1", "query"),
])
def test_nul_in_the_path_or_query_is_refused_alike_on_both_engines(client, auth, url, part):
    # PostgreSQL cannot hold a NUL in text: it answered 500, SQLite 200 or 404.
    assert_magento_error(client.get(url, headers=auth), 400, NUL, {"part": part})


@pytest.mark.parametrize("url, item, anonymous", [
    ("/rest/async/bulk/V1/products", [{"product": {**ITEM["product"], "sku": "a\x00b"}}], False),
    ("/rest/async/bulk/V1/products", [{"product": {**ITEM["product"], "name": "\x00"}}], False),
    ("/rest/async/bulk/V1/products", [{"product": {**ITEM["product"], "a\x00": 1}}], False),       # in a key
    ("/rest/async/bulk/V1/products", [{"product": {**ITEM["product"], "custom_attributes": [
        {"attribute_code": "x", "value": ["deep", {"er": "\x00"}]}]}}], False),
    ("/rest/async/V1/customers", {"customer": {"email": "a\x00@example.com", "firstname": "A", "lastname": "B"}},
     True),
    ("/rest/V1/integration/admin/token", {"username": "ad\x00min", "password": "admin123"}, True),
])
def test_nul_in_a_body_is_refused_alike_on_both_engines(client, auth, service, url, item, anonymous):
    response = client.post(url, json=item, headers={} if anonymous else auth)
    assert_magento_error(response, 400, NUL, {"part": "body"})
    assert service.drainer.drain() == 0


def test_an_escaped_backslash_before_u0000_is_text_not_nul(client, auth, service):
    # As JSON text: `\\u0000` is a backslash then "u0000"; `\\\u0000` is a backslash then NUL.
    for sku, accepted in (("a\\\\u0000", True), ("\\\\\\\\u0000", True), ("a\\\\\\u0000", False)):
        raw = ('[{"product": {"sku": "' + sku + '", "name": "N", "price": 1, "type_id": "simple", '
               '"attribute_set_id": 4}}]').encode()
        response = client.post("/rest/async/bulk/V1/products", data=raw,
                               headers={**auth, "Content-Type": "application/json"})
        if accepted:
            assert response.status_code == 202, (sku, response.get_data(as_text=True))
        else:
            assert_magento_error(response, 400, NUL, {"part": "body"})
    assert service.drainer.drain() == 2
    assert client.get("/rest/V1/products/a%5Cu0000", headers=auth).get_json()["sku"] == "a\\u0000"


def test_nul_in_a_retry_body_is_refused(client, auth):
    uuid = submit(client, auth, "POST", "/V1/products", [ITEM])
    assert_magento_error(client.post(f"/rest/V1/bulk/{uuid}/retry", json={"scope": "fail\x00ed"}, headers=auth),
                         400, NUL, {"part": "body"})


@pytest.mark.parametrize("header", ["Idempotency-Key", "X-Request-Id", "X-Anything"])
def test_nul_in_a_header_is_refused(client, auth, header):
    # gunicorn refuses these itself; other servers pass them on.
    response = client.post("/rest/async/bulk/V1/products", json=[ITEM], headers={**auth, header: "a\x00b"})
    assert_magento_error(response, 400, NUL, {"part": "header"})


def test_an_answer_carrying_an_integer_beyond_64_bits_is_still_written():
    # `/V1/customers/<20 digits>` once failed inside the error handler: the 404 named the id, and
    # orjson refuses integers beyond 64 bits, so the answer was not Magento's shape.
    body = {"message": "No such entity with %fieldName = %fieldValue",
            "parameters": {"fieldName": "customerId", "fieldValue": 2**70}}
    assert json_response(body, 404).get_json() == body
