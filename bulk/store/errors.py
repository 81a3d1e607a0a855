"""The failures the store raises, with Magento's messages (raw, `%placeholders` kept)."""

from __future__ import annotations

from collections.abc import Sequence

from bulk.handlers import PermanentError
from bulk.phrases import Parameters, Phrase

PRODUCT_NOT_FOUND = "The product that was requested doesn't exist. Verify the product and try again."
NO_SUCH_ENTITY = "No such entity with %fieldName = %fieldValue"
ATTRIBUTE_EMPTY = 'The "%1" attribute value is empty. Set the attribute and try again.'


class NoSuchEntity(PermanentError):
    """Magento's NoSuchEntityException: status 3 when queued, 404 when called synchronously."""

    http_status = 404


class ValidationFailed(PermanentError):
    """An exception that carries several Magento phrases (InputException, MSI's ValidationException)."""

    def __init__(self, message: str, errors: Sequence[Phrase], parameters: Parameters = None) -> None:
        super().__init__(message, parameters)
        self.errors = list(errors)


def product_not_found() -> NoSuchEntity:
    return NoSuchEntity(PRODUCT_NOT_FOUND)


def no_such_entity(field_name: str, value: object) -> NoSuchEntity:
    return NoSuchEntity(NO_SUCH_ENTITY, {"fieldName": field_name, "fieldValue": value})
