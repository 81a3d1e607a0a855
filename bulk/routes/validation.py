"""Accept-time checking of argument maps, compiled from the routes' marshmallow schemas.

`Schema.load` costs ~50-90 us per product item here; a 100-item bulk would spend most of its time
in it. The accept path only needs a verdict and Magento's first error, so each schema is compiled
once into plain closures over the same field `check` functions marshmallow uses (schemas.base):
~10x faster, same messages. Full conversion (`load_arguments`) happens when an operation runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import Schema, ValidationError, fields

from bulk.phrases import UNSUPPORTED_FIELD, Phrase
from schemas.base import (
    DataObject,
    DataObjectList,
    ExtensionAttributes,
    MagentoField,
    MagentoSchema,
    invalid_type,
    normalise_key,
    phrases_from_marshmallow,
    required,
)
from schemas.common import CustomAttributes

ArgumentsChecker = Callable[[dict], list[Phrase]]
# Converters return nothing and raise marshmallow's ValidationError carrying Magento phrases.
_Converter = Callable[[Any], Any]


def compile_checker(schema: type[MagentoSchema] | None) -> ArgumentsChecker:
    """A function returning the Magento phrases that make an argument map invalid ([] when valid)."""
    if schema is None:
        return _accept_any
    validate = _compile_schema(schema)

    def check(item: dict) -> list[Phrase]:
        try:
            validate(item)
        except ValidationError as error:
            return phrases_from_marshmallow(error.messages)
        return []

    return check


def _accept_any(item: dict) -> list[Phrase]:
    return []


def _compile_schema(schema: type[MagentoSchema]) -> _Converter:
    declared = schema._declared_fields
    key_map = schema.key_map()
    converters = {name: _compile_field(field) for name, field in declared.items()}
    required_names = [name for name, field in declared.items() if field.required]
    ignore_unknown = schema.ignore_unknown

    def validate(data: dict) -> None:
        if data.keys() <= converters.keys():
            # Fast path, the usual case: every key is spelled as declared, so none is unknown
            # or a second spelling of another.
            for name, value in data.items():
                if value is not None:
                    converters[name](value)
            values = data
        else:
            values = _resolve_keys(data)
        # Conversion errors stop at the first; missing arguments are reported all together.
        missing = [required(name).messages[0] for name in required_names if values.get(name) is None]
        if missing:
            raise ValidationError(missing)

    def _resolve_keys(data: dict) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for key, value in data.items():
            name = key if key in declared else key_map.get(normalise_key(key)) if isinstance(key, str) else None
            if name is None:
                if ignore_unknown:
                    continue
                raise ValidationError(Phrase(UNSUPPORTED_FIELD, {"fieldName": key}))
            values.setdefault(name, value)  # the first spelling wins, as in Magento
        for name, value in values.items():
            if value is not None:
                converters[name](value)
        return values

    return validate


def _compile_field(field: fields.Field) -> _Converter:
    if isinstance(field, CustomAttributes):
        return field.check
    if isinstance(field, ExtensionAttributes):
        return _extension_converter(field.type_name, {key: _compile_field(known) for key, known in field.known.items()})
    if isinstance(field, DataObjectList):
        return _list_converter(field.type_name, _compile_field(field.inner))
    if isinstance(field, DataObject):
        return _object_converter(field.type_name, _compile_schema(field.schema_class))
    convert = field.check if isinstance(field, MagentoField) else field.deserialize
    if not field.validators:
        return convert
    validators = list(field.validators)

    def convert_and_validate(value: Any) -> None:
        converted = convert(value)
        for validator in validators:
            validator(converted)

    return convert_and_validate


def _object_converter(type_name: str, validate: _Converter) -> _Converter:
    def convert(value: Any) -> None:
        if not isinstance(value, dict):
            raise invalid_type(value, type_name)
        validate(value)

    return convert


def _extension_converter(type_name: str, known: dict[str, _Converter]) -> _Converter:
    def convert(value: Any) -> None:
        if not isinstance(value, dict):
            raise invalid_type(value, type_name)
        for key, convert_known in known.items():
            if value.get(key) is not None:
                convert_known(value[key])

    return convert


def _list_converter(type_name: str, convert_entry: _Converter) -> _Converter:
    def convert(value: Any) -> None:
        if not isinstance(value, list):
            raise invalid_type(value, type_name)
        for entry in value:
            convert_entry(entry)

    return convert


def check_with_marshmallow(schema: Schema, item: dict) -> list[Phrase]:
    """The slow reference path, for tests that compare both."""
    try:
        schema.load(item)
    except ValidationError as error:
        return phrases_from_marshmallow(error.messages)
    return []
