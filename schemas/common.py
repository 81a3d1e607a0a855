"""Data interfaces shared by several areas (`Magento\\Framework\\Api\\AttributeInterface`)."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError

from bulk.phrases import (
    CUSTOM_ATTRIBUTE_WITHOUT_CODE,
    CUSTOM_ATTRIBUTE_WITHOUT_VALUE,
    EMPTY_CUSTOM_ATTRIBUTE,
    FIELD_PROCESSING_ERROR,
    Phrase,
    render,
)
from schemas.base import DataObjectList, MagentoSchema, Mixed, String, invalid_type


class CustomAttribute(MagentoSchema):
    data_type = "\\Magento\\Framework\\Api\\AttributeInterface"

    attribute_code = String(required=True)
    value = Mixed()


# Checks an attribute code like any string argument (one instance: a field costs more to build than to use).
_CODE = String()


class CustomAttributes(DataObjectList):
    """`custom_attributes`, read as ServiceInputProcessor::convertCustomAttributeValue reads it.

    A list of `{"attribute_code", "value"}` or an object of code: value. An entry that is no object
    is a value whose code is its key (its index in a list), so `[null]` and `["red"]` name no code.
    Magento's errors are rendered into its wrapping message, as its REST layer answers them (Magento
    wraps once more for each enclosing data object below the argument, e.g. a customer's addresses;
    here only `custom_attributes` is named). The converted value is always the list form, which the
    store reads.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(CustomAttribute, **kwargs)
        self.field_name = "custom_attributes"

    def check(self, value: Any) -> list[dict[str, Any]]:
        if isinstance(value, list):
            entries: Any = enumerate(value)
        elif isinstance(value, dict):
            entries = value.items()
        else:
            raise invalid_type(value, self.type_name)
        return [self._attribute(key, entry) for key, entry in entries]

    def _attribute(self, key: Any, entry: Any) -> dict[str, Any]:
        if not isinstance(entry, dict):
            entry = {"attribute_code": key, "value": entry}
        code = entry.get("attribute_code")
        if code is None:
            code = entry.get("attributeCode")
        if _php_empty(code):
            raise self._error(EMPTY_CUSTOM_ATTRIBUTE if entry.get("value") is None else CUSTOM_ATTRIBUTE_WITHOUT_CODE)
        code = _CODE.check(code)
        if "value" not in entry:
            raise self._error(render(CUSTOM_ATTRIBUTE_WITHOUT_VALUE, [code]))
        return {"attribute_code": code, "value": entry["value"]}

    def _error(self, detail: str) -> ValidationError:
        return ValidationError(Phrase(render(FIELD_PROCESSING_ERROR, {"field_name": self.field_name,
                                                                      "details": detail})))

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        return None if value is None else self.check(value)


def _php_empty(value: Any) -> bool:
    """PHP's `!$value`: null, false, 0, 0.0, "", "0" and empty arrays are all false."""
    return value is None or value in (False, 0, "", "0") or value == [] or value == {}
