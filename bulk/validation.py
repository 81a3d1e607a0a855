"""Accept-time checking of argument maps, compiled from the routes' marshmallow schemas.

`Schema.load` costs ~50-90 us per product item here; a 100-item bulk would spend most of its time
in it. The accept path only needs a verdict and Magento's first error, so each schema is compiled
once into plain closures over the same field `check` functions marshmallow uses (schemas.base):
~10x faster, same messages. Full conversion (`load_arguments`) happens when an operation runs.
"""

from __future__ import annotations

from typing import Any, Callable

from marshmallow import Schema, ValidationError, fields

from bulk.errors import UNSUPPORTED_FIELD
from bulk.phrases import Phrase
from schemas.base import (DataObject, DataObjectList, MagentoField, MagentoSchema, invalid_type,
                          normalise_key, phrases_from_marshmallow, required)

ArgumentsChecker = Callable[[dict], list[Phrase]]
_ValueChecker = Callable[[Any], "Phrase | None"]


def compile_checker(schema: type[MagentoSchema] | None) -> ArgumentsChecker:
    """A function returning the Magento phrases that make an argument map invalid ([] when valid)."""
    if schema is None:
        return _accept_any
    return _compile_schema(schema)


def _accept_any(item: dict) -> list[Phrase]:
    return []


def _compile_schema(schema: type[MagentoSchema]) -> ArgumentsChecker:
    declared = schema._declared_fields
    key_map = schema.key_map()
    checks = {name: _compile_field(field) for name, field in declared.items()}
    required_names = [name for name, field in declared.items() if field.required]
    ignore_unknown = schema.ignore_unknown

    def check(data: dict) -> list[Phrase]:
        seen: dict[str, Any] = {}
        for key, value in data.items():
            name = key if key in declared else key_map.get(normalise_key(key))
            if name is None:
                if ignore_unknown:
                    continue
                return [Phrase(UNSUPPORTED_FIELD, {"fieldName": key})]
            if name not in seen:
                seen[name] = value
        # Magento reports every missing argument at once, and other problems one at a time.
        missing = [required(name).messages[0] for name in required_names if seen.get(name) is None]
        if missing:
            return missing
        for name, value in seen.items():
            if value is not None:
                error = checks[name](value)
                if error is not None:
                    return [error]
        return []

    return check


def _compile_field(field: fields.Field) -> _ValueChecker:
    if isinstance(field, DataObjectList):
        return _list_checker(field.type_name, _compile_field(field.inner))
    if isinstance(field, DataObject):
        return _object_checker(field.type_name, _compile_schema(field.nested))
    if isinstance(field, MagentoField):
        return _with_validators(field, field.check)
    return _with_validators(field, lambda value: field.deserialize(value))


def _object_checker(type_name: str, check_schema: ArgumentsChecker) -> _ValueChecker:
    def check(value: Any) -> Phrase | None:
        if not isinstance(value, dict):
            return invalid_type(value, type_name).messages[0]
        errors = check_schema(value)
        return errors[0] if errors else None

    return check


def _list_checker(type_name: str, check_entry: _ValueChecker) -> _ValueChecker:
    def check(value: Any) -> Phrase | None:
        if not isinstance(value, list):
            return invalid_type(value, type_name).messages[0]
        for entry in value:
            if entry is not None:
                error = check_entry(entry)
                if error is not None:
                    return error
        return None

    return check


def _with_validators(field: fields.Field, convert: Callable[[Any], Any]) -> _ValueChecker:
    validators = list(field.validators)

    def check(value: Any) -> Phrase | None:
        try:
            converted = convert(value)
            for validator in validators:
                validator(converted)
        except ValidationError as error:
            return phrases_from_marshmallow(error.messages, field.name)[0]
        return None

    return check


def check_with_marshmallow(schema: Schema, item: dict) -> list[Phrase]:
    """The slow reference path, for tests that compare both."""
    try:
        schema.load(item)
    except ValidationError as error:
        return phrases_from_marshmallow(error.messages)
    return []
