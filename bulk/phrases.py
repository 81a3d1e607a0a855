"""Magento phrases: a raw message with `%name` / `%1` placeholders plus its parameters, and the texts.

The texts shared across the service live here, quoted exactly from Magento where clients match them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

_PLACEHOLDER = re.compile(r"%(\w+)")

Parameters = Mapping[str, Any] | Sequence[Any] | None


class Phrase(str):
    """A message template that remembers its parameters; `str(phrase)` is the raw template.

    It subclasses `str` so that marshmallow can carry it as an ordinary error message.
    """

    parameters: Parameters

    def __new__(cls, template: str, parameters: Parameters = None) -> Phrase:
        phrase = super().__new__(cls, template)
        phrase.parameters = parameters
        return phrase

    def render(self) -> str:
        """Substitute placeholders the way Magento's renderer does (what `getMessage()` returns)."""
        return render(str(self), self.parameters)


def render(template: str, parameters: Parameters) -> str:
    """Replace `%name` and `%1` in `template`; unknown placeholders stay as written."""
    if not parameters:
        return template

    def substitute(match: re.Match[str]) -> str:
        key = match.group(1)
        if isinstance(parameters, Mapping):
            if key in parameters:
                return str(parameters[key])
        elif key.isdigit() and 0 < int(key) <= len(parameters):
            return str(parameters[int(key) - 1])
        return match.group(0)

    return _PLACEHOLDER.sub(substitute, template)


# Message texts clients match against, quoted exactly from Magento.
CANNOT_PROCESS = "Specified request cannot be processed."
NO_ROUTE = "Request does not match any route."
METHOD_INVALID = "Request method is invalid."
DECODING_ERROR = "Decoding error."
CONTENT_TYPE_EMPTY = "Content-Type header is empty."
CONTENT_TYPE_INVALID = "Content-Type header is invalid."
CHARSET_UNSUPPORTED = "UTF-8 is the only supported charset."
NOT_AUTHORIZED = "The consumer isn't authorized to access %resources."
REQUIRED_FIELD = '"%fieldName" is required. Enter and try again.'
UNSUPPORTED_FIELD = '"%fieldName" is not supported. Correct the field name and try again.'
INVALID_TYPE = 'The "%value" value\'s type is invalid. The "%type" type was expected. Verify and try again.'
MANY_INPUT_ERRORS = "One or more input exceptions have occurred."
# InputException::invalidFieldValue; AlreadyExistsException's default.
INVALID_FIELD_VALUE = 'Invalid value of "%value" provided for the %fieldName field.'
UNIQUE_CONSTRAINT = "Unique constraint violation found"
# ServiceInputProcessor's custom attribute conversion; the detail is wrapped in the first, rendered.
FIELD_PROCESSING_ERROR = 'Error occurred during "%field_name" processing. %details'
EMPTY_CUSTOM_ATTRIBUTE = "An empty custom attribute is specified. Enter the attribute and try again."
CUSTOM_ATTRIBUTE_WITHOUT_CODE = ("A custom attribute is specified with a missing attribute code. "
                                 "Verify the code and try again.")
CUSTOM_ATTRIBUTE_WITHOUT_VALUE = 'The "%1" attribute code doesn\'t have a value set. Enter the value and try again.'
MAX_ITEMS = 'Maximum items of type "%type" is %max'
BULK_NOT_FOUND = "Bulk uuid %bulkUuid not exist"
SIGN_IN_FAILED = ("The account sign-in was incorrect or your account is disabled temporarily. "
                  "Please wait and try again later.")
INTERNAL_ERROR = "Internal Error. Details are available in Magento log file. Report ID: %1"

# Our own texts, for situations Magento answers with a web server page or not at all.
BODY_TOO_LARGE = "The request body is larger than %max bytes."
DATABASE_BUSY = "The service is busy. Try again in %seconds second(s)."
DATABASE_UNAVAILABLE = "The service cannot reach its database. Try again in %seconds second(s)."
DATABASE_UNWRITABLE = "The service cannot write to its database (%reason). Try again in %seconds second(s)."
DATABASE_RETRIABLE = "The database was busy or could not be reached. Retry the operation."


def report_id() -> str:
    """A new id for INTERNAL_ERROR, in Magento's form (`webapi-<13 hex digits>`): the answer names it
    and the log record with the details carries it."""
    return f"webapi-{uuid.uuid4().hex[:13]}"
