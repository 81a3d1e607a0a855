"""Options: a configurable product's options, and the options of a product attribute."""

from __future__ import annotations

from typing import Any

from bulk.db import write_transaction
from bulk.handlers import PermanentError
from bulk.store import products
from bulk.store.models import AttributeOption
from bulk.store.values import EXTENSION_ATTRIBUTES, column_int, column_text

CONFIGURABLE = "configurable"
NOT_CONFIGURABLE = 'This is implemented for the "%1" configurable product only.'
ATTRIBUTE_CODE_EMPTY = "The attribute code is empty. Enter the code and try again."
LABEL_EXISTS = 'Admin store attribute option label "%1" is already exists.'
_CONFIGURABLE_OPTIONS = "configurable_product_options"


def save_configurable_option(sku: str, option: dict[str, Any]) -> int:
    """OptionRepository::save: add the option (or replace the one for the same attribute); its id."""
    with write_transaction():
        product = products.find(sku)
        if product.type_id != CONFIGURABLE:
            raise PermanentError(NOT_CONFIGURABLE, [sku])
        extension = dict(product.values.get(EXTENSION_ATTRIBUTES) or {})
        existing = list(extension.get(_CONFIGURABLE_OPTIONS) or [])
        same = next((entry for entry in existing if entry.get("attribute_id") == option.get("attribute_id")), None)
        option_id = same["id"] if same else max((entry.get("id") or 0 for entry in existing), default=0) + 1
        saved = {**option, "id": option_id, "product_id": product.id}
        extension[_CONFIGURABLE_OPTIONS] = [saved if entry is same else entry for entry in existing] \
            if same else [*existing, saved]
        products.write_store_values(product, products.ADMIN_STORE_ID, {EXTENSION_ATTRIBUTES: extension})
    return option_id


def add_attribute_option(attribute_code: str, option: dict[str, Any]) -> str:
    """ProductAttributeOptionManagement::add: a new option with a unique admin label; its id."""
    if not attribute_code.strip():
        raise PermanentError(ATTRIBUTE_CODE_EMPTY)
    label = str(option.get("label") or "").strip()
    column_text(attribute_code, "attribute_code", AttributeOption.attribute_code.max_length)
    column_text(label, "label", AttributeOption.label.max_length)
    sort_order = column_int(option.get("sort_order") or 0, "sort_order")
    with write_transaction():
        duplicate = AttributeOption.select().where(AttributeOption.attribute_code == attribute_code,
                                                   AttributeOption.label == label).exists()
        if duplicate:
            raise PermanentError(LABEL_EXISTS, [label])
        row = AttributeOption.create(attribute_code=attribute_code, label=label,
                                     sort_order=sort_order,
                                     is_default=bool(option.get("is_default")),
                                     store_labels=option.get("store_labels") or [])
    return str(row.id)
