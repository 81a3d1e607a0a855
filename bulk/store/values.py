"""Attribute value documents: merging a save into stored values, and Magento's output shapes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bulk.handlers import PermanentError
from bulk.phrases import INVALID_FIELD_VALUE
from schemas.base import INT64

# Kept as {code: value} inside a document (merged by code), shown as a list of objects.
CUSTOM_ATTRIBUTES = "custom_attributes"
EXTENSION_ATTRIBUTES = "extension_attributes"


def custom_attribute_map(attributes: Iterable[dict] | None) -> dict[str, Any]:
    """`[{"attribute_code": "color", "value": "red"}]` -> `{"color": "red"}`."""
    return {entry["attribute_code"]: entry.get("value") for entry in attributes or ()}


def custom_attribute_list(attributes: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The output form of a stored attribute map; unset (null) values are left out, as in Magento."""
    return [{"attribute_code": code, "value": value}
            for code, value in (attributes or {}).items() if value is not None]


def merge_values(stored: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A save merges into what is stored: fields sent replace, fields not sent stay; custom and
    extension attributes merge by code."""
    merged = dict(stored)
    for key, value in changes.items():
        if key in (CUSTOM_ATTRIBUTES, EXTENSION_ATTRIBUTES) and isinstance(value, dict):
            merged[key] = {**(merged.get(key) or {}), **value}
        else:
            merged[key] = value
    return merged


def without(values: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    excluded = set(keys)
    return {key: value for key, value in values.items() if key not in excluded}


def put(output: dict[str, Any], key: str, value: Any) -> None:
    """Set `key` unless the value is null: Magento's output processor leaves nulls out."""
    if value is not None:
        output[key] = value


def as_id(value: Any) -> int | None:
    """The entity id a number or numeric text names (`category_id` is a string in Magento's links),
    or None: anything else names no row, and PostgreSQL would refuse to compare it with an id."""
    if isinstance(value, bool):
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        return None
    return number if number in INT64 else None


# The store's integer columns: `int` in Magento's MySQL tables, `integer` in PostgreSQL here.
INT32 = range(-(2**31), 2**31)


def column_int(value: int, field_name: str) -> int:
    """A value for an integer column, or InputException::invalidFieldValue (SQLite would keep a larger
    one, PostgreSQL would refuse it: both engines answer alike)."""
    if value not in INT32:
        raise invalid_field_value(field_name, value)
    return value


def column_text(value: str, field_name: str, max_length: int) -> str:
    """A value for a text column of `max_length` characters (PostgreSQL enforces it, SQLite not)."""
    if len(value) > max_length:
        raise invalid_field_value(field_name, value)
    return value


def invalid_field_value(field_name: str, value: Any) -> PermanentError:
    return PermanentError(INVALID_FIELD_VALUE, {"fieldName": field_name, "value": value})
