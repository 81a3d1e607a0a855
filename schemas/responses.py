"""What the service answers, as marshmallow schemas: the API schema documents (`bulk.apidocs`) use them.

The answers themselves are built as plain dicts on the hot paths (`bulk.views.responses`); these
schemas describe the same shapes, with Magento's data interface names.
"""

from __future__ import annotations

from typing import ClassVar

from marshmallow import Schema, fields

ASYNC_DATA = "\\Magento\\AsynchronousOperations\\Api\\Data\\"


class Described(Schema):
    """A response shape with the Magento type it stands for (its definition name in the document)."""

    data_type: ClassVar[str] = ""
    # A fixed definition name (Magento's error definitions are not named after a class).
    definition_name: ClassVar[str | None] = None


class ErrorParameters(fields.Raw):
    """A list for `%1` placeholders, an object for `%name` ones (as Magento renders them)."""


class ErrorItem(Described):
    definition_name = "error-errors-item"

    message = fields.String(metadata={"description": "Error message, with %placeholders"})
    parameters = ErrorParameters(metadata={"description": "Values of the message's placeholders"})


class ErrorResponse(Described):
    """Every error answer: `{"message", "errors"?, "code"?, "parameters"?}` (never a trace here)."""

    definition_name = "error-response"

    message = fields.String(required=True, metadata={"description": "Error message, with %placeholders"})
    errors = fields.List(fields.Nested(ErrorItem), metadata={"description": "Several input errors at once"})
    code = fields.Integer(metadata={"description": "Error code"})
    parameters = ErrorParameters(metadata={"description": "Values of the message's placeholders"})
    trace = fields.String(metadata={"description": "Stack trace (Magento in developer mode; never sent here)"})


class ItemStatus(Described):
    data_type = ASYNC_DATA + "ItemStatusInterface"

    id = fields.Integer(required=True, metadata={"description": "Index of the item in the request"})
    data_hash = fields.String(allow_none=True, metadata={"description": "HMAC-SHA256 of the stored operation"})
    status = fields.String(required=True, metadata={"description": "accepted or rejected"})
    error_message = fields.String(metadata={"description": "Why the item was rejected"})
    error_code = fields.Integer()


class AsyncResponse(Described):
    """The 202 answer of every async and bulk request."""

    data_type = ASYNC_DATA + "AsyncResponseInterface"

    bulk_uuid = fields.String(required=True)
    request_items = fields.List(fields.Nested(ItemStatus), required=True)
    errors = fields.Boolean(required=True, metadata={"description": "True when an item was rejected"})


class OperationShort(Described):
    data_type = ASYNC_DATA + "OperationShortDetailsInterface"

    id = fields.Integer(required=True)
    status = fields.Integer(required=True, metadata={"description": "1 complete, 2 retriably failed, "
                                                                    "3 not retriably failed, 4 open, 5 rejected"})
    result_message = fields.String(allow_none=True)
    error_code = fields.Integer(allow_none=True)


class OperationDetails(Described):
    data_type = ASYNC_DATA + "OperationInterface"

    id = fields.Integer(required=True)
    bulk_uuid = fields.String()
    topic_name = fields.String()
    serialized_data = fields.String(allow_none=True)
    result_serialized_data = fields.String(allow_none=True)
    status = fields.Integer(required=True)
    result_message = fields.String(allow_none=True)
    error_code = fields.Integer(allow_none=True)


class BulkStatus(Described):
    data_type = ASYNC_DATA + "BulkOperationsStatusInterface"

    bulk_id = fields.String(required=True)
    description = fields.String()
    operation_count = fields.Integer()
    operations_list = fields.List(fields.Nested(OperationShort), required=True)
    start_time = fields.String()
    user_id = fields.Integer(allow_none=True)
    user_type = fields.Integer(allow_none=True)


class DetailedBulkStatus(BulkStatus):
    data_type = ASYNC_DATA + "DetailedBulkOperationsStatusInterface"

    operations_list = fields.List(fields.Nested(OperationDetails), required=True)


class OperationSearchItem(OperationDetails):
    data_type = ASYNC_DATA + "OperationSearchResultItem"

    extension_attributes = fields.Dict(metadata={"description": "{\"start_time\": ...} of the bulk"})


class OperationSearchResults(Described):
    data_type = ASYNC_DATA + "OperationSearchResultsInterface"

    items = fields.List(fields.Nested(OperationSearchItem), required=True)
    search_criteria = fields.Dict(required=True)
    total_count = fields.Integer(required=True)


class SearchResults(Described):
    """`SearchResultsInterface` of the store's searches (products, customers, source items)."""

    data_type = "\\Magento\\Framework\\Api\\SearchResultsInterface"

    items = fields.List(fields.Dict(), required=True)
    search_criteria = fields.Dict(required=True)
    total_count = fields.Integer(required=True)


class RetryAnswer(Described):
    """`POST /V1/bulk/:bulkUuid/retry` (this service's own endpoint)."""

    definition_name = "bulk-retry-response"

    bulk_id = fields.String(required=True)
    reopened_operation_ids = fields.List(fields.Integer(), required=True)
