"""Price storages (`BasePriceStorage`, `SpecialPriceStorage`, `TierPriceStorage`, `CostStorage`).

As in Magento, an update checks every price, saves the valid ones and returns the failed ones as
`PriceUpdateResultInterface[]` (`{"message", "parameters"}`): the operation itself succeeds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from bulk.db import write_transaction
from bulk.store import products
from bulk.store.models import Product, product_by_sku
from bulk.store.values import CUSTOM_ATTRIBUTES

INVALID_ATTRIBUTE = "Invalid attribute %fieldName = %fieldValue."
STORE_NOT_FOUND = "Requested store is not found. Row ID: SKU = %SKU, Store ID: %storeId."
# Product types that have their own price (configurable and grouped products take their children's).
PRICED_TYPES = frozenset({"simple", "virtual", "bundle", "downloadable"})
PRICE_TYPES = ("fixed", "discount")
# Magento's built-in customer groups, by the code the tier price storage names them with.
CUSTOMER_GROUPS = {"all groups": 32000, "not logged in": 0, "general": 1, "wholesale": 2, "retailer": 3}
ALL_WEBSITES = 0

Failure = dict[str, Any]
Check = Callable[[dict[str, Any]], list[Failure]]


def failure(message: str, parameters: dict[str, Any]) -> Failure:
    """One PriceUpdateResultInterface; Magento lists the parameter values in order."""
    return {"message": message, "parameters": [_text(value) for value in parameters.values()]}


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def _invalid(field_name: str, value: Any) -> Failure:
    return failure(INVALID_ATTRIBUTE, {"fieldName": field_name, "fieldValue": value})


class PriceUpdate:
    """Validate a list of prices against the store, then apply the valid ones in one transaction."""

    def __init__(self, store_ids: Iterable[int]) -> None:
        self._store_ids = {0, *store_ids}

    def _run(self, prices: list[dict[str, Any]], checks: Iterable[Check],
             apply: Callable[[Product, dict[str, Any]], None]) -> list[Failure]:
        failures: list[Failure] = []
        with write_transaction():
            for price in prices:
                product = product_by_sku(sku=price.get("sku")) if price.get("sku") else None
                problems = [] if product is not None and product.type_id in PRICED_TYPES \
                    else [_invalid("SKU", price.get("sku"))]
                for check in checks:
                    problems.extend(check(price))
                if problems:
                    failures.extend(problems)
                    continue
                assert product is not None
                apply(product, price)
        return failures

    def _store_known(self, price: dict[str, Any]) -> list[Failure]:
        if price.get("store_id") in self._store_ids:
            return []
        return [failure(STORE_NOT_FOUND, {"SKU": price.get("sku"), "storeId": price.get("store_id")})]

    def base_prices(self, prices: list[dict[str, Any]]) -> list[Failure]:
        """The product's price (global scope, as Magento's default price scope)."""
        return self._run(prices, (_non_negative("price", "Price"), self._store_known),
                         lambda product, price: products.write_store_values(
                             product, products.ADMIN_STORE_ID, {"price": price["price"]}))

    def costs(self, prices: list[dict[str, Any]]) -> list[Failure]:
        """The `cost` attribute (global)."""
        return self._run(prices, (_non_negative("cost", "Cost"), self._store_known),
                         lambda product, price: products.write_store_values(
                             product, products.ADMIN_STORE_ID, {CUSTOM_ATTRIBUTES: {"cost": price["cost"]}}))

    def special_prices(self, prices: list[dict[str, Any]]) -> list[Failure]:
        """`special_price` and its dates, in the store the price names."""
        return self._run(prices, (_non_negative("price", "Price"), self._store_known),
                         lambda product, price: products.write_store_values(product, price["store_id"], {
                             CUSTOM_ATTRIBUTES: {"special_price": price["price"],
                                                 "special_from_date": price.get("price_from"),
                                                 "special_to_date": price.get("price_to")}}))

    def tier_prices(self, prices: list[dict[str, Any]]) -> list[Failure]:
        """Add or replace tier prices by (website, customer group, quantity); others stay."""
        return self._run(prices, (_non_negative("price", "Price"), _tier_checks), _apply_tier_price)


def _non_negative(key: str, field_name: str) -> Check:
    def check(price: dict[str, Any]) -> list[Failure]:
        value = price.get(key)
        return [_invalid(field_name, value)] if value is None or value < 0 else []

    return check


def _tier_checks(price: dict[str, Any]) -> list[Failure]:
    problems = []
    if price.get("price_type") not in PRICE_TYPES:
        problems.append(_invalid("Price Type", price.get("price_type")))
    elif price["price_type"] == "discount" and (price.get("price") or 0) > 100:
        problems.append(_invalid("Price", price.get("price")))
    if price.get("quantity") is None or price["quantity"] <= 0:
        problems.append(_invalid("Quantity", price.get("quantity")))
    if str(price.get("customer_group") or "").lower() not in CUSTOMER_GROUPS:
        problems.append(_invalid("Customer Group", price.get("customer_group")))
    if price.get("website_id") is None or price["website_id"] < 0:
        problems.append(_invalid("Website Id", price.get("website_id")))
    return problems


def _apply_tier_price(product: Product, price: dict[str, Any]) -> None:
    group_id = CUSTOMER_GROUPS[str(price["customer_group"]).lower()]
    tier: dict[str, Any] = {"customer_group_id": group_id, "qty": price["quantity"]}
    extension: dict[str, Any] = {"website_id": price["website_id"]}
    if price["price_type"] == "discount":
        tier["value"] = 0.0
        extension["percentage_value"] = price["price"]
    else:
        tier["value"] = price["price"]
    tier["extension_attributes"] = extension
    same = (price["website_id"], group_id, float(price["quantity"]))
    kept = [existing for existing in product.values.get("tier_prices") or []
            if ((existing.get("extension_attributes") or {}).get("website_id", ALL_WEBSITES),
                existing.get("customer_group_id"), float(existing.get("qty") or 0)) != same]
    products.write_store_values(product, products.ADMIN_STORE_ID, {"tier_prices": [*kept, tier]})
