"""Magento's REST schema documents (Swagger 2.0), generated from the route catalogue and the schemas.

Three documents, as Magento serves them:

- `rest`  (`/rest/<store>/schema`): the synchronous endpoints (token, bulk status, retry and delete,
  the store's reads and, where the processing mode runs them, the catalogue routes called without
  `/async`);
- `async` (`/rest/<store>/async/schema`): every catalogue route as `POST|PUT|DELETE /V1/...`
  answering 202 with the async response (Magento's WebapiAsync drops GET routes);
- `bulk`  (`/rest/<store>/async/bulk/schema`): every catalogue route at its `byParam` path, taking
  an array of argument maps.

Like Magento's generator, a document lists only the operations the caller may use (an anonymous
caller sees the anonymous routes). Request bodies come from each route's marshmallow argument
schema through apispec's marshmallow plugin; answers from `schemas.responses`.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema, fields

from bulk.auth import Caller
from bulk.routes.catalogue import Route
from bulk.views.endpoints import Endpoint
from schemas import base, catalog, customer, inventory, responses

REST = "rest"
ASYNC = "async"
BULK = "bulk"
KINDS = (REST, ASYNC, BULK)
# Magento's info.version is the platform's major.minor.
MAGENTO_VERSION = "2.4"
TITLE = "Magento-compatible asynchronous bulk Web API"
BEARER = "Bearer"

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_PARAM = re.compile(r":(\w+)")


def security_definitions() -> dict[str, dict[str, Any]]:
    """How callers authenticate: the `Authorization` header, with an admin's bearer token or an
    integration's OAuth 1.0a signature. One scheme, as Swagger 2.0 has no OAuth 1 type and two schemes
    on one header would read as two headers to send."""
    return {BEARER: {"type": "apiKey", "name": "Authorization", "in": "header",
                     "description": "`Bearer <token>`: an admin token from POST /V1/integration/admin/token; or "
                                    "`OAuth oauth_consumer_key=..., oauth_signature=...`: an integration's request "
                                    "signed with OAuth 1.0a (HMAC-SHA256)."}}


def definition_name(data_type: str) -> str:
    """Magento's definition names: `\\Magento\\Catalog\\Api\\Data\\ProductInterface` ->
    `catalog-data-product-interface`."""
    parts = [part for part in data_type.strip("\\").split("\\") if part and part != "Api"]
    if parts and parts[0] == "Magento":
        parts = parts[1:]
    return "-".join(_CAMEL.sub("-", part).lower() for part in parts)


def service_name(service_class: str, version: str = "V1") -> str:
    """Magento's service names: `Magento\\Catalog\\Api\\ProductRepositoryInterface` -> `catalogProductRepositoryV1`."""
    parts = [part for part in service_class.strip("\\").split("\\") if part and part != "Api"]
    if parts and parts[0] == "Magento":
        parts = parts[1:]
    if parts and parts[-1].endswith("Interface"):
        parts[-1] = parts[-1][: -len("Interface")]
    name = "".join(parts)
    return name[:1].lower() + name[1:] + version


def _version(path: str) -> str:
    return path.strip("/").split("/", 1)[0]


def _swagger_path(template: str) -> str:
    return _PARAM.sub(r"{\1}", template)


# -- the schemas' field types --------------------------------------------------------------------

_FIELD_TYPES: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "object": {"type": "object"},
    "array": {"type": "array", "items": {}},
    "string[]": {"type": "array", "items": {"type": "string"}},
    "mixed": {},
}


def _magento_field(converter: Any, field: fields.Field, **kwargs: Any) -> dict[str, Any]:
    """apispec attribute function: our Magento field types as JSON schema (they are not marshmallow's)."""
    if isinstance(field, base.MagentoField):
        # A list of data objects whose fields are not declared (an order's items) is a list of objects.
        other = {"type": "array", "items": {"type": "object"}} if field.type_name.endswith("[]") else {}
        attributes = dict(_FIELD_TYPES.get(field.type_name, other))
        attributes["description"] = f"Magento type `{field.type_name}`"
        return attributes
    if isinstance(field, responses.ErrorParameters):
        return {"description": "A list for `%1` placeholders, an object for `%name` ones"}
    return {}


class _Names:
    """Definition names for schema classes: Magento's for data interfaces, unique in a document."""

    def __init__(self) -> None:
        self._taken: dict[str, type] = {}
        self._given: dict[type, str] = {}

    def __call__(self, schema: Any) -> str:
        cls = schema if isinstance(schema, type) else type(schema)
        if cls in self._given:
            return self._given[cls]
        name = getattr(cls, "definition_name", None)
        data_type = getattr(cls, "data_type", "")
        if not name and data_type and data_type != "object" and not issubclass(cls, base.Arguments):
            name = definition_name(data_type)
        name = name or _CAMEL.sub("-", cls.__name__).lower()
        unique, counter = name, 2
        while unique in self._taken and self._taken[unique] is not cls:
            unique, counter = f"{name}-{counter}", counter + 1
        self._taken[unique] = cls
        self._given[cls] = unique
        return unique


# -- what each synchronous endpoint is, in Magento's terms ---------------------------------------

@dataclass(frozen=True)
class Operation:
    service: str
    method: str
    summary: str
    response: Any = None  # a schema class, a JSON schema dict, or None (no body described)


_STATUS_SERVICE = "asynchronousOperationsBulkStatusV1"
_SEARCH_CRITERIA = ("searchCriteria[filterGroups][0][filters][0][field]",
                    "searchCriteria[filterGroups][0][filters][0][value]",
                    "searchCriteria[filterGroups][0][filters][0][conditionType]",
                    "searchCriteria[sortOrders][0][field]", "searchCriteria[sortOrders][0][direction]",
                    "searchCriteria[pageSize]", "searchCriteria[currentPage]")
KNOWN_ENDPOINTS: dict[tuple[str, str], Operation] = {
    ("POST", "/V1/integration/admin/token"): Operation(
        "integrationAdminTokenServiceV1", "createAdminAccessToken", "Create an admin access token.",
        {"type": "string", "description": "The token, a bare JSON string"}),
    ("GET", "/V1/bulk/:bulkUuid/status"): Operation(
        _STATUS_SERVICE, "getBulkShortStatus", "A bulk's operations, short.", responses.BulkStatus),
    ("GET", "/V1/bulk/:bulkUuid/detailed-status"): Operation(
        _STATUS_SERVICE, "getBulkDetailedStatus", "A bulk's operations in full.", responses.DetailedBulkStatus),
    ("GET", "/V1/bulk/:bulkUuid/operation-status/:status"): Operation(
        _STATUS_SERVICE, "getOperationsCountByBulkIdAndStatus", "How many of a bulk's operations have a status.",
        {"type": "integer"}),
    ("GET", "/V1/bulk"): Operation(
        "asynchronousOperationsOperationRepositoryV1", "getList", "Search operations.",
        responses.OperationSearchResults),
    ("POST", "/V1/bulk/:bulkUuid/retry"): Operation(
        "bulkManagementV1", "retry", "Re-open a bulk's failed operations (this service's own).",
        responses.RetryAnswer),
    ("DELETE", "/V1/bulk/:bulkUuid"): Operation(
        "bulkManagementV1", "delete", "Delete a finished bulk (this service's own; 409 while open).",
        {"type": "boolean"}),
    ("GET", "/V1/products"): Operation("catalogProductRepositoryV1", "getList", "Search products.",
                                       responses.SearchResults),
    ("GET", "/V1/products/:sku"): Operation("catalogProductRepositoryV1", "get", "A product.", catalog.Product),
    ("GET", "/V1/products/:sku/media"): Operation(
        "catalogProductAttributeMediaGalleryManagementV1", "getList", "A product's media gallery entries.",
        {"type": "array", "items": catalog.MediaGalleryEntry}),
    ("GET", "/V1/stockItems/:productSku"): Operation(
        "catalogInventoryStockRegistryV1", "getStockItemBySku", "A product's stock item.", inventory.StockItem),
    ("GET", "/V1/inventory/source-items"): Operation(
        "inventoryApiSourceItemRepositoryV1", "getList", "Search source items.", responses.SearchResults),
    ("GET", "/V1/categories/:categoryId"): Operation("catalogCategoryRepositoryV1", "get", "A category.",
                                                     catalog.Category),
    ("GET", "/V1/customers/search"): Operation("customerCustomerRepositoryV1", "getList", "Search customers.",
                                               responses.SearchResults),
    ("GET", "/V1/customers/:customerId"): Operation("customerCustomerRepositoryV1", "getById", "A customer.",
                                                    customer.Customer),
}
_SEARCHES = {"/V1/bulk", "/V1/products", "/V1/inventory/source-items", "/V1/customers/search"}
_INTEGER_PARAMS = {"status", "categoryId", "customerId", "optionId", "itemId", "quoteId", "id", "pageId", "blockId"}


def _endpoint_operation(endpoint: Endpoint) -> Operation:
    known = KNOWN_ENDPOINTS.get((endpoint.method, endpoint.template.path))
    if known is not None:
        return known
    # Endpoints other packages add (the test controls): named after their first path segment and view.
    segment = endpoint.template.segments[1] if len(endpoint.template.segments) > 1 else "service"
    name = endpoint.view.__name__
    camel = "".join(part.title() for part in name.split("_"))
    return Operation(f"bulk{segment.title().replace('-', '')}{_version(endpoint.template.path)}",
                     camel[:1].lower() + camel[1:], (endpoint.view.__doc__ or name).strip().splitlines()[0])


# -- building a document -------------------------------------------------------------------------

@dataclass(frozen=True)
class Request:
    """What the document says about where it is served: `host`, `basePath`, `schemes`."""

    host: str
    base_path: str
    scheme: str


class _Document:
    def __init__(self, kind: str, request: Request, caller: Caller, services: set[str] | None) -> None:
        self.kind = kind
        self.caller = caller
        self.services = services
        self.names = _Names()
        self.plugin = MarshmallowPlugin(schema_name_resolver=self.names)
        self.spec = APISpec(title=TITLE, version=MAGENTO_VERSION, openapi_version="2.0", plugins=[self.plugin],
                            host=request.host, basePath=request.base_path, schemes=[request.scheme])
        assert self.plugin.converter is not None
        self.plugin.converter.add_attribute_function(_magento_field)
        for name, scheme in security_definitions().items():
            self.spec.components.security_scheme(name, scheme)
        self.spec.components.schema("error-response", schema=responses.ErrorResponse)
        self.tags: dict[str, str] = {}
        self.operation_ids: set[str] = set()
        self.paths: dict[str, dict[str, Any]] = {}

    def include(self, service: str, resources: tuple[str, ...]) -> bool:
        return (self.services is None or service in self.services) and self.caller.is_allowed(resources)

    def add(self, path: str, method: str, service: str, service_method: str, resources: tuple[str, ...],
            operation: dict[str, Any], description: str) -> None:
        self.tags.setdefault(service, description)
        operation_id = f"{service}{service_method[:1].upper()}{service_method[1:]}{method.title()}"
        while operation_id in self.operation_ids:
            operation_id += "X"
        self.operation_ids.add(operation_id)
        anonymous = "anonymous" in resources
        operation.update(tags=[service], operationId=operation_id,
                         security=[] if anonymous else [{BEARER: []}])
        operation["responses"].update(_error_responses(method, anonymous, self.kind))
        self.paths.setdefault(path, {})[method.lower()] = operation

    def finish(self) -> dict[str, Any]:
        for name in sorted(self.tags):
            self.spec.tag({"name": name, "description": self.tags[name]})
        for path in sorted(self.paths):
            self.spec.path(path=path, operations=self.paths[path])
        with warnings.catch_warnings():
            # apispec warns when two schema classes resolve to one name; `_Names` keeps them unique.
            warnings.simplefilter("error")
            return _without_null_defaults(self.spec.to_dict())


def _without_null_defaults(node: Any) -> Any:
    """Drop `"default": null`: optional fields default to nothing, and Swagger 2.0 has no null type."""
    if isinstance(node, dict):
        return {key: _without_null_defaults(value) for key, value in node.items()
                if not (key == "default" and value is None)}
    if isinstance(node, list):
        return [_without_null_defaults(value) for value in node]
    return node


_ERROR = {"$ref": "#/definitions/error-response"}


def _error_responses(method: str, anonymous: bool, kind: str) -> dict[str, Any]:
    error = {"schema": _ERROR}
    answers: dict[str, Any] = {"400": {"description": "400 Bad Request", **error}}
    if not anonymous:
        answers["401"] = {"description": "401 Unauthorized", **error}
    if kind != REST or method != "GET":
        answers["413"] = {"description": "413 Request body too large (BULK_MAX_BODY_BYTES)", **error}
    answers["503"] = {"description": "503 The database is busy or unreachable; retry after Retry-After", **error}
    answers["default"] = {"description": "Unexpected error", **error}
    return answers


def _path_parameters(template: str, schema: type[Schema] | None) -> list[dict[str, Any]]:
    parameters = []
    for name in _PARAM.findall(template):
        kind = "string"
        if schema is not None:
            key = base.find_key(schema._declared_fields, name)
            field = schema._declared_fields.get(key) if key else None
            if isinstance(field, base.MagentoField):
                kind = {"int": "integer", "float": "number", "bool": "boolean"}.get(field.type_name, "string")
        elif name in _INTEGER_PARAMS:
            kind = "integer"
        parameters.append({"name": name, "in": "path", "required": True, "type": kind})
    return parameters


def _body(schema: type[Schema] | None, many: bool) -> dict[str, Any]:
    item: Any = schema if schema is not None else {"type": "object",
                                                   "description": "The argument map, stored as sent"}
    return {"name": "$body", "in": "body", "required": True,
            "schema": {"type": "array", "items": item} if many else item}


def _route_description(route: Route) -> str:
    return f"{route.service_class}"


def build_document(kind: str, request: Request, caller: Caller, routes: Iterable[Route],
                   endpoints: Iterable[Endpoint], runs_sync: Callable[[Route], bool],
                   services: set[str] | None = None) -> dict[str, Any]:
    """The Swagger 2.0 document of one kind (`rest`, `async`, `bulk`) as `caller` may use it."""
    document = _Document(kind, request, caller, services)
    if kind == REST:
        for endpoint in endpoints:
            _add_endpoint(document, endpoint)
        for route in routes:
            if runs_sync(route):
                _add_route(document, route, kind)
    else:
        for route in routes:
            _add_route(document, route, kind)
    return document.finish()


def _add_endpoint(document: _Document, endpoint: Endpoint) -> None:
    operation = _endpoint_operation(endpoint)
    if not document.include(operation.service, endpoint.resources):
        return
    path = endpoint.template.path
    parameters = _path_parameters(path, None)
    if path in _SEARCHES:
        parameters += [{"name": name, "in": "query", "required": False,
                        "type": "integer" if name.endswith(("[pageSize]", "[currentPage]")) else "string"}
                       for name in _SEARCH_CRITERIA]
    if endpoint.method in ("POST", "PUT"):
        body: dict[str, Any] = {"type": "object"}
        if path == "/V1/integration/admin/token":
            body = {"type": "object", "required": ["username", "password"],
                    "properties": {"username": {"type": "string"}, "password": {"type": "string"}}}
        elif path == "/V1/bulk/:bulkUuid/retry":
            body = {"type": "object", "properties": {
                "scope": {"type": "string", "enum": ["retriable", "failed"]},
                "operation_ids": {"type": "array", "items": {"type": "integer"}}}}
        parameters.append({"name": "$body", "in": "body", "required": False, "schema": body})
    success: dict[str, Any] = {"description": "200 Success."}
    if operation.response is not None:
        success["schema"] = operation.response
    answers: dict[str, Any] = {"200": success}
    if ":bulkUuid" in path or path.startswith(("/V1/products/", "/V1/categories/", "/V1/customers/:",
                                               "/V1/stockItems/")):
        answers["404"] = {"description": "404 Not Found", "schema": _ERROR}
    if path == "/V1/bulk/:bulkUuid" and endpoint.method == "DELETE":
        answers["409"] = {"description": "409 Operations still open", "schema": _ERROR}
    document.add(_swagger_path(path), endpoint.method, operation.service, operation.method, endpoint.resources,
                 {"summary": operation.summary, "parameters": parameters, "responses": answers},
                 operation.summary)


def _add_route(document: _Document, route: Route, kind: str) -> None:
    service = service_name(route.service_class, _version(route.template.path))
    if not document.include(service, route.resources):
        return
    if kind == BULK:
        path, parameters = route.bulk_path, [_body(route.schema, many=True)]
    else:
        path = _swagger_path(route.template.path)
        parameters = [*_path_parameters(route.template.path, route.schema), _body(route.schema, many=False)]
    if kind == REST:
        answers: dict[str, Any] = {"200": {"description": "200 Success."}}
    else:
        answers = {"202": {"description": "202 Accepted.", "schema": responses.AsyncResponse}}
    summary = f"{route.service_class}::{route.service_method}"
    if kind != REST:
        summary += f" (topic {route.topic_name})"
    document.add(path, route.method, service, route.service_method, route.resources,
                 {"summary": summary, "parameters": parameters, "responses": answers},
                 _route_description(route))
