"""Synchronous calls on the embedded store: reads in Magento's shapes, and sync writes.

A sync write (`POST /V1/products`, ...) is a catalogue route called without `/async`; in `store`
mode it runs the store's handler for that route at once, so a client can mix sync and async calls.
It is no queued operation: handler wrappers (failure injection, the test recorder) do not see it.
Errors follow Magento's sync mapping (`bulk.errors`): NoSuchEntityException 404, other
LocalizedExceptions 400.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Response, request

from bulk.accept import check_restricted_fields, serialize_operation, single_async_arguments
from bulk.auth import Caller
from bulk.errors import WebapiError, parse_int
from bulk.handlers import Handler, Job
from bulk.jsonutil import json_response
from bulk.routes.catalogue import Route
from bulk.search_criteria import parse_search_criteria
from bulk.service import BulkService, current_service
from bulk.store import categories, customers, inventory, media, products
from bulk.store.handlers import timestamp
from bulk.store.models import Customer, Product, SourceItem
from bulk.store.search import search
from bulk.store.seed import ensure_roots
from bulk.views.body import decode_body, read_body
from bulk.views.endpoints import current_target, endpoint

T = TypeVar("T")


# -- writes -------------------------------------------------------------------------------------

def sync_write_route(service: BulkService, method: str, path: str
                     ) -> tuple[Route, dict[str, str], Handler] | None:
    """The catalogue route a sync write path calls and its handler, when the mode runs it at once."""
    matched = service.catalogue.match_async(method, path)
    if matched is None:
        return None
    handler = service.processing.sync_handler(matched[0])
    return None if handler is None else (*matched, handler)


def run_sync_write(route: Route, path_values: dict[str, str], handler: Handler, caller: Caller) -> Response:
    """Validate like an async call, then run the route's handler now and answer its result."""
    body = decode_body(read_body(), request.headers.get("Content-Type"))
    arguments = single_async_arguments(route, body, path_values)
    problems = route.checker(arguments)
    if problems:
        raise WebapiError.from_phrases(problems)
    check_restricted_fields(route, arguments, caller)
    result = handler(Job(route, serialize_operation(arguments, current_target().store_id)))
    # A void service method answers an empty list, as Magento's REST output does.
    return json_response([] if result is None else result)


# -- reads --------------------------------------------------------------------------------------

def get_product(sku: str) -> Response:
    return json_response(products.output(products.find(sku), current_target().store_id))


def search_products() -> Response:
    store_id = current_target().store_id
    return _search(list(Product.select().order_by(Product.id)),
                   lambda row: products.search_fields(row, store_id),
                   lambda row: products.output(row, store_id))


def product_media(sku: str) -> Response:
    return json_response(media.entries(products.find(sku)))


def stock_item(product_sku: str) -> Response:
    return json_response(inventory.stock_item_output(products.find(product_sku)))


def search_source_items() -> Response:
    return _search(list(SourceItem.select().order_by(SourceItem.id)), inventory.source_item_output,
                   inventory.source_item_output)


def get_category(category_id: str) -> Response:
    ensure_roots(timestamp(current_service().clock))
    return json_response(categories.output(categories.find(parse_int(category_id))))


def get_customer(customer_id: str) -> Response:
    return json_response(customers.output(customers.find(parse_int(customer_id))))


def search_customers() -> Response:
    return _search(list(Customer.select().order_by(Customer.id)), customers.search_fields, customers.output)


def _search(rows: list[T], fields: Callable[[T], dict[str, Any]], shape: Callable[[T], dict[str, Any]]) -> Response:
    """Magento's `SearchResultsInterface`: items, the criteria echoed, and the total count."""
    criteria = parse_search_criteria(request.args.items(multi=True), None)
    page, total = search(rows, fields, criteria)
    return json_response({"items": [shape(row) for row in page], "search_criteria": criteria.echo(),
                          "total_count": total})


CATALOG_PRODUCTS = ("Magento_Catalog::products",)
CUSTOMERS = ("Magento_Customer::customer",)

ENDPOINTS = (
    endpoint("GET", "/V1/products", CATALOG_PRODUCTS, search_products),
    endpoint("GET", "/V1/products/:sku", CATALOG_PRODUCTS, get_product),
    endpoint("GET", "/V1/products/:sku/media", ("Magento_Catalog::catalog",), product_media),
    endpoint("GET", "/V1/stockItems/:productSku", ("Magento_CatalogInventory::cataloginventory",), stock_item),
    endpoint("GET", "/V1/inventory/source-items", ("Magento_InventoryApi::source",), search_source_items),
    endpoint("GET", "/V1/categories/:categoryId", ("Magento_Catalog::categories",), get_category),
    # `search` before `:customerId`, as Magento matches the literal segment first.
    endpoint("GET", "/V1/customers/search", CUSTOMERS, search_customers),
    endpoint("GET", "/V1/customers/:customerId", CUSTOMERS, get_customer),
)
