"""Large bulk bodies are decoded a window of items at a time: the same verdicts and values as a
whole-body decode, with memory for one window's objects instead of the whole tree."""

from __future__ import annotations

import gc
import json
import tracemalloc

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulk.models import Operation
from bulk.views.array_items import WINDOW_BYTES, Malformed, array_items
from tests.magento import assert_magento_error, bearer

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False)
    | st.text(alphabet=st.characters(codec="utf-8"), max_size=8) | st.sampled_from(['a,b]}', 'q"x\\', "[{", "ü"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4),
    max_leaves=20)
NOISE = b' \t\n[]{},:"\\01-.eE+aetrufnl\xc3\xbc\xff'


def verdict(decode):
    try:
        return ("ok", decode())
    except (orjson.JSONDecodeError, Malformed):
        return ("malformed", None)


def windowed(data: bytes, window_bytes: int) -> list:
    items = array_items(data, 10**9, window_bytes)
    decoded = list(items)
    assert len(items) == len(decoded)
    return decoded


@settings(max_examples=400, derandomize=True, database=None, deadline=None)
@given(items=st.lists(JSON_VALUES, max_size=8), indent=st.sampled_from([None, 1]), ascii_only=st.booleans(),
       window_bytes=st.integers(1, 64),
       edits=st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(NOISE), st.sampled_from("idr")), max_size=3))
def test_windows_decode_exactly_what_a_whole_decode_does(items, indent, ascii_only, window_bytes, edits):
    data = bytearray(json.dumps(items, indent=indent, ensure_ascii=ascii_only).encode())
    for position, byte, kind in edits:  # noise: the verdict must still agree
        position %= len(data) + 1
        if kind == "i":
            data[position:position] = bytes([byte])
        elif position < len(data):
            if kind == "d":
                del data[position]
            else:
                data[position] = byte
    data = bytes(data)
    if not data.lstrip(b" \t\n\r").startswith(b"["):
        return  # only arrays take this path
    assert verdict(lambda: windowed(data, window_bytes)) == verdict(lambda: orjson.loads(data))


@pytest.mark.parametrize("data", [
    b"[" + b"1," * 200_000 + b"1]",                    # many scalars: counted a run at a time
    b"[" + b"[[]]," * 100_000 + b"[]]",                # many small containers
    b"[[" + b"[[[[[[[]]]]]]]," * 20_000 + b"[]]]",      # one item, children deeper than a match skips
])
def test_dense_bodies_are_split_exactly(data):
    assert windowed(data, 4096) == orjson.loads(data)


def test_past_the_item_limit_the_scan_stops_and_len_says_so():
    data = b"[" + b"{}," * 10_000 + b"{} x"  # malformed far past the limit
    assert 100 < len(array_items(data, 100, 64)) < 10_001


def test_a_window_holds_a_fraction_of_what_a_whole_decode_holds():
    data = orjson.dumps([{"customer": {"extension_attributes": {"tags": ["ab"] * 2000}}}] * 900)
    assert len(data) > 8 * WINDOW_BYTES

    def peak(decode) -> int:
        gc.collect()
        tracemalloc.start()
        for _ in decode():
            pass
        top = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return top

    whole, windows = peak(lambda: orjson.loads(data)), peak(lambda: array_items(data, 10**9))
    assert windows * 4 < whole, (windows, whole)


def customers(count: int, padding: int) -> list[dict]:
    return [{"customer": {"email": f"c{n}@example.com", "firstname": "Ann", "lastname": "Lee",
                          "addresses": [{"street": ["1 Main St", "x" * padding], "city": "Calder"}]},
             } for n in range(count)]


@pytest.fixture
def admin(client):
    return {**bearer(client.post("/rest/V1/integration/admin/token",
                                 json={"username": "admin", "password": "admin123"}).get_json()),
            "Content-Type": "application/json"}


def test_a_large_bulk_stores_what_a_small_one_would(client, admin):
    items = customers(600, 3000)
    large = orjson.dumps(items)
    assert len(large) > 1.5 * WINDOW_BYTES
    answer = client.post("/rest/async/bulk/V1/customers", data=large, headers=admin)
    assert answer.status_code == 202, answer.get_data(as_text=True)
    hashes = [item["data_hash"] for item in answer.get_json()["request_items"]]
    assert [item["id"] for item in answer.get_json()["request_items"]] == list(range(600))
    for index in (0, 299, 599):
        small = client.post("/rest/async/bulk/V1/customers", data=orjson.dumps([items[index]]), headers=admin)
        assert small.get_json()["request_items"][0]["data_hash"] == hashes[index]
    assert Operation.select().count() == 603


def test_a_large_bulk_is_refused_as_a_small_one_would_be(client, admin):
    items = customers(600, 3000)
    del items[-1]["customer"]["email"]
    items[-1]["customer"]["unknown_field"] = 1
    response = client.post("/rest/async/bulk/V1/customers", data=orjson.dumps(items), headers=admin)
    assert_magento_error(response, 400, '"%fieldName" is not supported. Correct the field name and try again.',
                         {"fieldName": "unknown_field"})
    # Malformed JSON at the very end wins over an invalid first item, as with a whole-body decode.
    items = customers(600, 3000)
    items[0]["customer"]["unknown_field"] = 1
    response = client.post("/rest/async/bulk/V1/customers", data=orjson.dumps(items)[:-1] + b",]", headers=admin)
    assert_magento_error(response, 400, "Decoding error.")
    assert Operation.select().count() == 0


def test_a_large_bulk_over_the_item_limit_is_refused(make_app):
    client = make_app(BULK_MAX_ITEMS="50").test_client()
    token = client.post("/rest/V1/integration/admin/token", json={"username": "admin", "password": "admin123"})
    response = client.post("/rest/async/bulk/V1/customers", data=orjson.dumps(customers(400, 3000)),
                           headers={**bearer(token.get_json()), "Content-Type": "application/json"})
    assert_magento_error(response, 400, 'Maximum items of type "%type" is %max',
                         {"type": "Magento\\Customer\\Api\\AccountManagementInterface", "max": 50})
