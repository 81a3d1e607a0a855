"""Stock: the legacy stock item of each product, and MSI source items (quantities per source)."""

from __future__ import annotations

from typing import Any

from bulk.db import Prepared, Slot, write_transaction
from bulk.phrases import Phrase
from bulk.store.errors import ValidationFailed
from bulk.store.models import Insert, JSONField, Lookup, Product, SourceItem, StockItem, product_by_sku
from bulk.store.values import column_int, column_text, merge_values

DEFAULT_STOCK_ID = 1
DEFAULT_SOURCE = "default"
# A new product's stock item, as Magento creates it (keys in StockItemInterface order).
NEW_STOCK_ITEM: dict[str, Any] = {
    "qty": 0.0, "is_in_stock": False, "is_qty_decimal": False, "show_default_notification_message": False,
    "use_config_min_qty": True, "min_qty": 0.0, "use_config_min_sale_qty": 1, "min_sale_qty": 1.0,
    "use_config_max_sale_qty": True, "max_sale_qty": 10000.0, "use_config_backorders": True, "backorders": 0,
    "use_config_notify_stock_qty": True, "notify_stock_qty": 1.0, "use_config_qty_increments": True,
    "qty_increments": 0.0, "use_config_enable_qty_inc": True, "enable_qty_increments": False,
    "use_config_manage_stock": True, "manage_stock": True, "low_stock_date": None, "is_decimal_divided": False,
    "stock_status_changed_auto": 0,
}
# Identity fields the store decides, whatever a client sends.
_IDENTITY = ("item_id", "product_id", "stock_id")

INPUT_EMPTY = "Input data is empty"
VALIDATION_FAILED = "Validation Failed"
FIELD_EMPTY = '"%field" can not be empty.'


def save_stock_item(product: Product, stock_item: dict[str, Any] | None) -> int:
    """Create the product's stock item if it has none, then merge `stock_item` (converted with the
    product's extension attributes) into it."""
    return _merge(product, {} if stock_item is None else _values(stock_item))


def update_stock_item(product: Product, stock_item: dict[str, Any]) -> int:
    """StockRegistry::updateStockItemBySku: merge the values; returns the item id."""
    return _merge(product, _values(stock_item))


def _values(stock_item: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in stock_item.items() if key not in _IDENTITY}


_stock_item_of = Lookup(StockItem, lambda: StockItem.product == Slot("product"))
_insert_stock_item = Insert(StockItem)


def _merge(product: Product, changes: dict[str, Any]) -> int:
    row = _stock_item_of(product=product.id)
    if row is None:
        row = _insert_stock_item(product=product, values=merge_values(NEW_STOCK_ITEM, changes))
    elif changes:
        row.values = merge_values(row.values, changes)
        row.save()
    return row.id


_STOCK_ITEM_OF = Prepared(lambda: StockItem.select(StockItem.id, StockItem.values)
                          .where(StockItem.product == Slot("product")))


def stock_item_output(product: Product) -> dict[str, Any]:
    """StockItemInterface; a product saved before it had a stock item shows Magento's defaults."""
    row = _STOCK_ITEM_OF.execute(product=product.id).fetchone()
    body: dict[str, Any] = {"item_id": None if row is None else row[0], "product_id": product.id,
                            "stock_id": DEFAULT_STOCK_ID}
    body.update(NEW_STOCK_ITEM if row is None else JSONField().python_value(row[1]))
    return body


def save_source_items(source_items: list[dict[str, Any]]) -> None:
    """SourceItemsSave::execute: all items valid, or none saved (Magento's ValidationException)."""
    if not source_items:
        raise ValidationFailed(INPUT_EMPTY, [])
    errors = [Phrase(FIELD_EMPTY, {"field": field})
              for item in source_items for field in ("sku", "source_code")
              if not str(item.get(field) or "").strip()]
    if errors:
        raise ValidationFailed(VALIDATION_FAILED, errors)
    with write_transaction():
        for item in source_items:
            column_text(item["sku"], "sku", SourceItem.sku.max_length)
            column_text(item["source_code"], "source_code", SourceItem.source_code.max_length)
            quantity, status = float(item.get("quantity") or 0), column_int(item.get("status") or 0, "status")
            (SourceItem.insert(sku=item["sku"], source_code=item["source_code"], quantity=quantity, status=status)
             .on_conflict(conflict_target=[SourceItem.sku, SourceItem.source_code],
                          update={SourceItem.quantity: quantity, SourceItem.status: status})
             .execute())
            product = product_by_sku(sku=item["sku"])
            if item["source_code"] == DEFAULT_SOURCE and product is not None:
                # MSI keeps the legacy stock item in step with the default source.
                _merge(product, {"qty": quantity, "is_in_stock": status == 1})


def source_item_output(row: SourceItem) -> dict[str, Any]:
    return {"sku": row.sku, "source_code": row.source_code, "quantity": row.quantity, "status": row.status}
