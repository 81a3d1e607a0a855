"""Argument validation: Magento's messages, and the compiled checker agreeing with marshmallow."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulk.routes.builtin import builtin_routes
from bulk.routes.validation import check_with_marshmallow, compile_checker
from schemas.base import ArgumentsError, load_arguments
from schemas.catalog import ProductSaveArguments
from schemas.customer import CustomerCreateArguments

REQUIRED = '"%fieldName" is required. Enter and try again.'
UNSUPPORTED = '"%fieldName" is not supported. Correct the field name and try again.'
INVALID = 'The "%value" value\'s type is invalid. The "%type" type was expected. Verify and try again.'


def problems(schema, item):
    return [(str(phrase), phrase.parameters) for phrase in compile_checker(schema)(item)]


def test_missing_argument():
    assert problems(ProductSaveArguments, {}) == [(REQUIRED, {"fieldName": "product"})]
    assert problems(ProductSaveArguments, {"product": None}) == [(REQUIRED, {"fieldName": "product"})]


def test_unknown_field_in_a_data_object():
    assert problems(ProductSaveArguments, {"product": {"sku": "a", "wrong_attribute": 1}}) == \
        [(UNSUPPORTED, {"fieldName": "wrong_attribute"})]


def test_unknown_top_level_keys_are_ignored_like_magento():
    # Magento reads only the method's parameters: `sku` beside `product` (PUT bySku) is fine.
    assert problems(ProductSaveArguments, {"sku": "a", "product": {"sku": "a"}}) == []


@pytest.mark.parametrize("item, value, type_name", [
    ({"product": {"price": "abc"}}, "abc", "float"),
    ({"product": {"attribute_set_id": "4x"}}, "4x", "int"),
    ({"product": {"status": True}}, "true", "int"),
    ({"product": {"name": {"a": 1}}}, '{"a":1}', "string"),
    ({"product": "sku"}, "sku", "\\Magento\\Catalog\\Api\\Data\\ProductInterface"),
    ({"product": {"tier_prices": {}}}, "{}", "\\Magento\\Catalog\\Api\\Data\\ProductTierPriceInterface[]"),
    ({"product": {"tier_prices": [{"qty": "many"}]}}, "many", "float"),
    ({"product": {}, "saveOptions": "maybe"}, "maybe", "bool"),
])
def test_wrong_types(item, value, type_name):
    assert problems(ProductSaveArguments, item) == [(INVALID, {"value": value, "type": type_name})]


def test_lenient_conversions_match_php():
    item = {"product": {"price": "12.50", "attribute_set_id": "4", "status": 1.0, "name": 42,
                        "custom_attributes": [{"attribute_code": "color", "value": [1, 2]}]},
            "saveOptions": "true"}
    assert problems(ProductSaveArguments, item) == []
    loaded = load_arguments(ProductSaveArguments(), item)
    assert loaded["product"]["price"] == 12.5
    assert loaded["product"]["attribute_set_id"] == 4
    assert loaded["product"]["name"] == "42"
    assert loaded["saveOptions"] is True


def test_keys_match_regardless_of_case_and_underscores_first_wins():
    item = {"Customer": {"firstName": "Ann", "first_name": "ignored", "EMAIL": "a@example.com"}}
    assert problems(CustomerCreateArguments, item) == []
    loaded = load_arguments(CustomerCreateArguments(), item)
    assert loaded["customer"] == {"firstname": "Ann", "email": "a@example.com"}
    assert loaded["redirectUrl"] == ""


def test_several_missing_arguments_are_reported_together():
    from schemas.catalog import CustomOptionDeleteArguments

    assert problems(CustomOptionDeleteArguments, {}) == [
        (REQUIRED, {"fieldName": "sku"}), (REQUIRED, {"fieldName": "optionId"})]


def test_load_arguments_raises_with_phrases():
    with pytest.raises(ArgumentsError) as caught:
        load_arguments(ProductSaveArguments(), {"product": {"price": "x"}})
    assert caught.value.phrases[0].render() == \
        'The "x" value\'s type is invalid. The "float" type was expected. Verify and try again.'


# -- the compiled checker and marshmallow never disagree -------------------------------------

FIELD_NAMES = ["product", "saveOptions", "sku", "price", "name", "attribute_set_id", "status",
               "custom_attributes", "attribute_code", "value", "tier_prices", "qty", "customer",
               "email", "addresses", "street", "region", "region_id", "option", "values", "optionId",
               "productLink", "cartItem", "customerId", "extension_attributes", "Price", "SKU",
               "unknown_thing", "save_options", "group_id", "website_id", "product_links", "types"]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False, allow_infinity=False),
                    st.sampled_from(["", "1", "0", "true", "12.5", "abc", "4"]))
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=3),
                               st.dictionaries(st.sampled_from(FIELD_NAMES), children, max_size=4)),
    max_leaves=12)
argument_maps = st.dictionaries(st.sampled_from(FIELD_NAMES), json_values, max_size=4)

SCHEMAS = sorted({route.schema for route in builtin_routes() if route.schema}, key=lambda s: s.__name__)


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: s.__name__)
@settings(max_examples=150, deadline=None)
@given(item=argument_maps)
def test_compiled_checker_agrees_with_marshmallow(schema, item):
    fast = [(str(p), p.parameters) for p in compile_checker(schema)(item)]
    slow = [(str(p), p.parameters) for p in check_with_marshmallow(schema(), item)]
    assert bool(fast) == bool(slow), (fast, slow)
    for phrase in fast:
        assert phrase in slow, (fast, slow)
