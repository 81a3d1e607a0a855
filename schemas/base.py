"""Marshmallow building blocks that convert input the way Magento's ServiceInputProcessor does.

Each field knows one Magento type. Its `check(value)` returns the converted value or raises
`ValidationError` with a Magento phrase; marshmallow's `_deserialize` and the compiled accept-time
checker (`bulk.validation`) both call it, so the two paths cannot disagree about a value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import orjson
from marshmallow import Schema, ValidationError, fields, pre_load
from marshmallow.types import StrSequenceOrSet

from bulk.phrases import INVALID_TYPE, REQUIRED_FIELD, UNSUPPORTED_FIELD, Phrase


def normalise_key(key: str) -> str:
    """Magento accepts `customer_id`, `customerId` and `CustomerId` for the same name."""
    return key.replace("_", "").lower()


def find_key(mapping: dict, name: str) -> str | None:
    """The key of `mapping` that Magento would read for `name` (case and underscores ignored)."""
    wanted = normalise_key(name)
    return next((key for key in mapping if isinstance(key, str) and normalise_key(key) == wanted), None)


def invalid_type(value: Any, type_name: str) -> ValidationError:
    return ValidationError(Phrase(INVALID_TYPE, {"value": _shown(value), "type": type_name}))


def required(field_name: str) -> ValidationError:
    return ValidationError(Phrase(REQUIRED_FIELD, {"fieldName": field_name}))


def _shown(value: Any) -> str:
    """How a rejected value appears in the message (PHP prints scalars as text)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    return orjson.dumps(value).decode()


class MagentoField(fields.Field):
    """A field with a Magento type name and a `check` shared by both validation paths."""

    type_name: str = "mixed"

    def __init__(self, **kwargs: Any) -> None:
        # Magento accepts null for any optional field; a required argument that is null is missing.
        kwargs.setdefault("allow_none", not kwargs.get("required", False))
        super().__init__(**kwargs)

    def check(self, value: Any) -> Any:
        return value

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        return self.check(value)


class Mixed(MagentoField):
    """Any JSON value (`custom_attributes[].value`, anything Magento types as `mixed`)."""


class String(MagentoField):
    type_name = "string"

    def check(self, value: Any) -> Any:
        if isinstance(value, str):
            return value
        # PHP casts scalars to string; true becomes "1".
        if isinstance(value, bool):
            return "1" if value else ""
        if isinstance(value, (int, float)):
            return str(value)
        raise invalid_type(value, self.type_name)


def _numeric(value: Any) -> float | int | None:
    """PHP's is_numeric: numbers and numeric strings, never booleans."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


# PHP's int: a value beyond it cannot be an id or a count in Magento, nor fit a database's BIGINT.
INT64 = range(-(2**63), 2**63)


class Integer(MagentoField):
    type_name = "int"

    def check(self, value: Any) -> Any:
        number = _numeric(value)
        if number is None or int(number) not in INT64:
            raise invalid_type(value, self.type_name)
        return int(number)


class Float(MagentoField):
    type_name = "float"

    def check(self, value: Any) -> Any:
        number = _numeric(value)
        if number is None:
            raise invalid_type(value, self.type_name)
        return float(number)


_TRUE_TEXT = frozenset(("1", "true"))
_FALSE_TEXT = frozenset(("0", "false", ""))


class Boolean(MagentoField):
    type_name = "bool"

    def check(self, value: Any) -> Any:
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)) and value in (0, 1):
            return bool(value)
        if isinstance(value, str):
            text = value.strip().lower()
            if text in _TRUE_TEXT:
                return True
            if text in _FALSE_TEXT:
                return False
        raise invalid_type(value, self.type_name)


class StringList(MagentoField):
    type_name = "string[]"

    def check(self, value: Any) -> Any:
        if not isinstance(value, list):
            raise invalid_type(value, self.type_name)
        return [String().check(entry) for entry in value]


class FreeObject(MagentoField):
    """An object whose keys depend on installed modules (`extension_attributes`): any keys allowed."""

    type_name = "object"

    def check(self, value: Any) -> Any:
        if not isinstance(value, dict):
            raise invalid_type(value, self.type_name)
        return value


class FreeList(MagentoField):
    """A list of any JSON values."""

    type_name = "array"

    def check(self, value: Any) -> Any:
        if not isinstance(value, list):
            raise invalid_type(value, self.type_name)
        return value


class FreeObjectList(MagentoField):
    """A list of data objects whose fields are not declared here (an order's items): each entry must
    be an object, whatever its keys."""

    def __init__(self, data_type: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entry_type = data_type
        self.type_name = data_type + "[]"

    def check(self, value: Any) -> Any:
        if not isinstance(value, list):
            raise invalid_type(value, self.type_name)
        for entry in value:
            if not isinstance(entry, dict):
                raise invalid_type(entry, self.entry_type)
        return value


class DataObject(fields.Nested):
    """A Magento data interface, e.g. `\\Magento\\Catalog\\Api\\Data\\ProductInterface`.

    As an entry of a list (`list_entry`) null is no data object: Magento would make an empty object
    of it that its services then trip over, so it is refused like any other non-object.
    """

    def __init__(self, schema: type[MagentoSchema], *, list_entry: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("allow_none", not kwargs.get("required", False) and not list_entry)
        super().__init__(schema, **kwargs)
        self.type_name = schema.data_type
        self.schema_class = schema
        self.list_entry = list_entry

    def deserialize(self, value: Any, attr: str | None = None, data: Any = None, **kwargs: Any) -> Any:
        if value is None and self.list_entry:
            raise invalid_type(value, self.type_name)
        return super().deserialize(value, attr, data, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any,
                     partial: bool | StrSequenceOrSet | None = None, **kwargs: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise invalid_type(value, self.type_name)
        return super()._deserialize(value, attr, data, partial, **kwargs)


class DataObjectList(fields.List):
    """A list of data objects, e.g. `...\\ProductLinkInterface[]`."""

    def __init__(self, schema: type[MagentoSchema], **kwargs: Any) -> None:
        kwargs.setdefault("allow_none", not kwargs.get("required", False))
        super().__init__(DataObject(schema, list_entry=True), **kwargs)
        self.type_name = schema.data_type + "[]"

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, list):
            raise invalid_type(value, self.type_name)
        return super()._deserialize(value, attr, data, **kwargs)


class ExtensionAttributes(FreeObject):
    """`extension_attributes`: which keys exist depends on the installed modules, so keys not named
    here pass as sent; the ones named (those this service reads) are typed as their modules declare
    them, e.g. a product's `category_links` (`CategoryLinkInterface[]`)."""

    def __init__(self, known: Mapping[str, fields.Field], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.known = dict(known)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        converted = dict(self.check(value))
        errors: dict[str, Any] = {}
        for key, field in self.known.items():
            if converted.get(key) is not None:
                try:
                    converted[key] = field.deserialize(converted[key])
                except ValidationError as error:
                    errors[key] = error.messages
        if errors:
            raise ValidationError(errors)
        return converted


class MagentoSchema(Schema):
    """A data object: keys matched like Magento (case and underscores ignored), unknown keys refused."""

    data_type: ClassVar[str] = "object"
    _key_map: ClassVar[dict[str, str]]
    # Method arguments ignore extra keys (Magento reads only the parameters it needs); data objects
    # refuse them ("is not supported").
    ignore_unknown: ClassVar[bool] = False

    class Meta:
        # Key matching and the unknown-key decision happen in `_normalise_keys`.
        unknown = "exclude"

    @classmethod
    def key_map(cls) -> dict[str, str]:
        """normalised input key -> declared field name."""
        cached = cls.__dict__.get("_key_map")
        if cached is None:
            cached = {normalise_key(name): name for name in cls._declared_fields}
            cls._key_map = cached
        return cached

    @pre_load
    def _normalise_keys(self, data: Any, **kwargs: Any) -> Any:
        if not isinstance(data, dict):
            return data
        key_map = self.key_map()
        out: dict[str, Any] = {}
        for key, value in data.items():
            name = key_map.get(normalise_key(key)) if isinstance(key, str) else None
            if name is None:
                if self.ignore_unknown:
                    continue
                raise ValidationError(Phrase(UNSUPPORTED_FIELD, {"fieldName": key}))
            # First spelling wins, as in Magento's input normalisation.
            out.setdefault(name, value)
        return out


class Arguments(MagentoSchema):
    """The argument map of one service method call: one bulk item, or one async body."""

    ignore_unknown = True


class ArgumentsError(ValidationError):
    """Raised by `load_arguments` with the Magento phrases that explain the failure."""

    def __init__(self, phrases: list[Phrase]) -> None:
        super().__init__([str(p) for p in phrases])
        self.phrases = phrases


def load_arguments(schema: Schema, item: dict[str, Any]) -> dict[str, Any]:
    """Fully convert one argument map (decoded names, typed values, defaults) with marshmallow."""
    try:
        return schema.load(item)
    except ValidationError as error:
        raise ArgumentsError(phrases_from_marshmallow(error.messages)) from None


# marshmallow's own texts for a required field that is absent or null; Magento calls both "required".
_MARSHMALLOW_MISSING = frozenset((fields.Field.default_error_messages["required"],
                                  fields.Field.default_error_messages["null"]))


def phrases_from_marshmallow(messages: Any, field_name: str | None = None) -> list[Phrase]:
    """Flatten marshmallow's nested error messages into Magento phrases, in input order."""
    if isinstance(messages, Phrase):
        return [messages]
    if isinstance(messages, str):
        if messages in _MARSHMALLOW_MISSING:
            return [Phrase(REQUIRED_FIELD, {"fieldName": field_name or ""})]
        return [Phrase(messages)]
    if isinstance(messages, list):
        return [phrase for entry in messages for phrase in phrases_from_marshmallow(entry, field_name)]
    if isinstance(messages, dict):
        return [phrase for key, entry in messages.items()
                for phrase in phrases_from_marshmallow(entry, key if isinstance(key, str) else field_name)]
    return []
