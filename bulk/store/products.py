"""Products by SKU: save (create, or merge into the stored product), delete, read, in store scope.

Store scope follows Magento: a product's values live at the admin store (id 0, `all`) and a store
view may override the store-view attributes. A create writes the admin values. An update sent
with a store view's code writes that view's overrides of store-view attributes (other attributes
are global); an update sent with `all` writes the admin values and drops the views' overrides of
what it changed, so every view shows the new value.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from bulk.db import Prepared, Slot, write_transaction
from bulk.handlers import PermanentError
from bulk.store import inventory, media
from bulk.store.errors import ATTRIBUTE_EMPTY, no_such_entity, product_not_found
from bulk.store.models import (
    Category,
    CategoryProduct,
    Insert,
    JSONField,
    Product,
    ProductStoreValues,
    SourceItem,
    product_by_sku,
)
from bulk.store.seed import ensure_roots
from bulk.store.values import (
    CUSTOM_ATTRIBUTES,
    EXTENSION_ATTRIBUTES,
    as_id,
    column_int,
    column_text,
    custom_attribute_list,
    custom_attribute_map,
    merge_values,
    put,
    without,
)

ADMIN_STORE_ID = 0
SKU_MAX_LENGTH = 64
SKU_TOO_LONG = "SKU length should be %1 characters maximum."
DEFAULT_WEBSITE_IDS = [1]
# What Magento gives a product the save does not describe.
NEW_PRODUCT_VALUES = {"status": 1, "visibility": 4}
DEFAULT_TYPE_ID = "simple"
# The product attribute set every Magento has ("Default"); others are configured.
DEFAULT_ATTRIBUTE_SET_ID = 4
INVALID_PRODUCT_DATA = "Invalid product data: %1"
INVALID_ATTRIBUTE_SET = "Invalid attribute set entity type"

# Store-view scoped attributes; every other field is global. Custom attributes are store-view
# scoped (Magento's default for new attributes) unless listed as global here.
STORE_VIEW_FIELDS = frozenset({"name", "status", "visibility"})
GLOBAL_ATTRIBUTES = frozenset({"category_ids", "cost", "msrp", "special_price", "special_from_date",
                               "special_to_date", "tax_class_id"})
# Product fields kept in columns or tables of their own, not in the value document.
_NOT_VALUES = ("id", "sku", "type_id", "attribute_set_id", "created_at", "updated_at", "media_gallery_entries",
               EXTENSION_ATTRIBUTES)
# Extension attributes with tables of their own.
_STOCK_ITEM = "stock_item"
_CATEGORY_LINKS = "category_links"


def checked_sku(sku: Any) -> str:
    """Magento's SKU rules: required (after trimming) and at most 64 characters."""
    sku = "" if sku is None else str(sku).strip()
    if not sku:
        raise PermanentError(ATTRIBUTE_EMPTY, ["sku"])
    if len(sku) > SKU_MAX_LENGTH:
        raise PermanentError(SKU_TOO_LONG, [SKU_MAX_LENGTH])
    return sku


_insert_product = Insert(Product)


def find(sku: str) -> Product:
    """The product with this SKU, or Magento's not-found error."""
    product = product_by_sku(sku=sku)
    if product is None:
        raise product_not_found()
    return product


def save(product: dict[str, Any], store_id: int, now: str, sku: Any = None,
         attribute_sets: Collection[int] = (DEFAULT_ATTRIBUTE_SET_ID,)) -> dict[str, Any]:
    """ProductRepository::save: create or update by SKU; returns the product as the store shows it.

    `attribute_sets`: the product attribute sets that exist (Magento's resource model refuses others)."""
    sku = checked_sku(product.get("sku") or sku)
    changes = without(product, _NOT_VALUES)
    if CUSTOM_ATTRIBUTES in changes:
        changes[CUSTOM_ATTRIBUTES] = custom_attribute_map(changes[CUSTOM_ATTRIBUTES])
    extension = dict(product.get(EXTENSION_ATTRIBUTES) or {})
    stock_item = extension.pop(_STOCK_ITEM, None)
    category_links = extension.pop(_CATEGORY_LINKS, None)
    if extension:
        changes[EXTENSION_ATTRIBUTES] = extension
    with write_transaction():
        row = product_by_sku(sku=sku)
        attribute_set_id = product.get("attribute_set_id") or (DEFAULT_ATTRIBUTE_SET_ID if row is None
                                                                else row.attribute_set_id)
        if attribute_set_id not in attribute_sets:
            raise PermanentError(INVALID_PRODUCT_DATA, [INVALID_ATTRIBUTE_SET])
        type_id = column_text(product.get("type_id") or (DEFAULT_TYPE_ID if row is None else row.type_id), "type_id",
                              Product.type_id.max_length)
        if row is None:
            row = _insert_product(
                sku=sku, type_id=type_id, attribute_set_id=attribute_set_id,
                created_at=now, updated_at=now, values=merge_values(NEW_PRODUCT_VALUES, changes))
        else:
            row.type_id = type_id
            row.attribute_set_id = attribute_set_id
            row.updated_at = now
            _write_scoped(row, changes, store_id)
        inventory.save_stock_item(row, stock_item)
        if category_links is not None:
            ensure_roots(now)
            _replace_category_links(row, category_links)
        if product.get("media_gallery_entries") is not None:
            media.replace_entries(row, product["media_gallery_entries"])
    return output(row, store_id)


def _write_scoped(row: Product, changes: dict[str, Any], store_id: int) -> None:
    if store_id == ADMIN_STORE_ID:
        write_store_values(row, ADMIN_STORE_ID, changes)
        _drop_overrides(row, changes)
        return
    scoped, global_changes = _split_by_scope(changes)
    write_store_values(row, ADMIN_STORE_ID, global_changes)
    if scoped:
        write_store_values(row, store_id, scoped)


def _split_by_scope(changes: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(store-view values, global values) of a save."""
    scoped = {key: value for key, value in changes.items() if key in STORE_VIEW_FIELDS}
    global_changes = {key: value for key, value in changes.items()
                      if key not in STORE_VIEW_FIELDS and key != CUSTOM_ATTRIBUTES}
    attributes = changes.get(CUSTOM_ATTRIBUTES) or {}
    scoped_attributes = {c: v for c, v in attributes.items() if c not in GLOBAL_ATTRIBUTES}
    global_attributes = {c: v for c, v in attributes.items() if c in GLOBAL_ATTRIBUTES}
    if scoped_attributes:
        scoped[CUSTOM_ATTRIBUTES] = scoped_attributes
    if global_attributes:
        global_changes[CUSTOM_ATTRIBUTES] = global_attributes
    return scoped, global_changes


def _drop_overrides(row: Product, changes: dict[str, Any]) -> None:
    """An admin-store save changes every view: remove the views' own values of what it set."""
    codes = set((changes.get(CUSTOM_ATTRIBUTES) or {}).keys())
    for override in ProductStoreValues.select().where(ProductStoreValues.product == row):
        values = without(override.values, changes.keys() - {CUSTOM_ATTRIBUTES})
        if CUSTOM_ATTRIBUTES in values:
            values[CUSTOM_ATTRIBUTES] = without(values[CUSTOM_ATTRIBUTES], codes)
        override.values = values
        override.save()


def write_store_values(row: Product, store_id: int, changes: dict[str, Any]) -> None:
    """Merge values into one store's scope as given (saves the product row for the admin store)."""
    if store_id == ADMIN_STORE_ID:
        row.values = merge_values(row.values, changes)
        row.save()
        return
    override, _ = ProductStoreValues.get_or_create(product=row, store_id=store_id, defaults={"values": {}})
    override.values = merge_values(override.values, changes)
    override.save()


def _replace_category_links(row: Product, links: list[dict[str, Any]]) -> None:
    CategoryProduct.delete().where(CategoryProduct.product == row).execute()
    for link in links:
        category_id = as_id(link.get("category_id"))
        if category_id is None or Category.get_or_none(Category.id == category_id) is None:
            raise no_such_entity("id", link.get("category_id"))
        CategoryProduct.create(category=category_id, product=row,
                               position=column_int(link.get("position") or 0, "position"))


def delete(sku: str) -> bool:
    """ProductRepository::deleteById."""
    with write_transaction():
        row = find(sku)
        # MSI removes a deleted product's source items; the rest cascades.
        SourceItem.delete().where(SourceItem.sku == row.sku).execute()
        row.delete_instance()
    return True


# Reads run for every product shown (results, GETs, search pages): rendered once (bulk.db.Prepared).
_OVERRIDE = Prepared(lambda: ProductStoreValues.select(ProductStoreValues.values).where(
    ProductStoreValues.product == Slot("product"), ProductStoreValues.store_id == Slot("store")))
_CATEGORY_LINKS_OF = Prepared(lambda: CategoryProduct.select(CategoryProduct.position, CategoryProduct.category)
                              .where(CategoryProduct.product == Slot("product")).order_by(CategoryProduct.category))


def resolved_values(row: Product, store_id: int) -> dict[str, Any]:
    """The product's values as a store view sees them: admin values under the view's own."""
    if store_id == ADMIN_STORE_ID:
        return row.values
    override = _OVERRIDE.execute(product=row.id, store=store_id).fetchone()
    return row.values if override is None else merge_values(row.values, JSONField().python_value(override[0]))


def output(row: Product, store_id: int) -> dict[str, Any]:
    """ProductInterface as Magento's REST output renders it, in its key order."""
    values = resolved_values(row, store_id)
    body: dict[str, Any] = {"id": row.id, "sku": row.sku}
    put(body, "name", values.get("name"))
    body["attribute_set_id"] = row.attribute_set_id
    for key in ("price", "status", "visibility"):
        put(body, key, values.get(key))
    body["type_id"] = row.type_id
    body["created_at"] = row.created_at
    body["updated_at"] = row.updated_at
    put(body, "weight", values.get("weight"))
    body["extension_attributes"] = _extension_output(row, values.get(EXTENSION_ATTRIBUTES) or {})
    for key in ("product_links", "options"):
        body[key] = values.get(key) or []
    body["media_gallery_entries"] = media.entries(row)
    body["tier_prices"] = values.get("tier_prices") or []
    body["custom_attributes"] = custom_attribute_list(values.get(CUSTOM_ATTRIBUTES))
    return body


def _extension_output(row: Product, extension: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"website_ids": extension.get("website_ids") or DEFAULT_WEBSITE_IDS}
    links = [{"position": position, "category_id": str(category_id)}
             for position, category_id in _CATEGORY_LINKS_OF.execute(product=row.id).fetchall()]
    if links:
        body[_CATEGORY_LINKS] = links
    body[_STOCK_ITEM] = inventory.stock_item_output(row)
    body.update(without(extension, body))
    return body


def search_fields(row: Product, store_id: int) -> dict[str, Any]:
    """The flat view a search filters on: columns, top-level values, custom attributes by code."""
    values = resolved_values(row, store_id)
    return {**(values.get(CUSTOM_ATTRIBUTES) or {}),
            **without(values, (CUSTOM_ATTRIBUTES, EXTENSION_ATTRIBUTES)),
            "id": row.id, "entity_id": row.id, "sku": row.sku, "type_id": row.type_id,
            "attribute_set_id": row.attribute_set_id, "created_at": row.created_at,
            "updated_at": row.updated_at}
