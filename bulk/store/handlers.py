"""The `store` processing mode: the store function behind each built-in route.

Each handler takes the operation's converted arguments and store, and returns what the sync
endpoint answers (stored as `result_serialized_data`). Routes without one here (carts, custom
options, CMS, imported routes) complete as in `accept` mode. Every effect is a write to this
database, so the handlers are `transactional`: the drainer commits them with the outcome.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bulk.clock import Clock, magento_time
from bulk.db import write_transaction
from bulk.handlers import Handler, Job, accept_handler, transactional
from bulk.processing import ModeContext, ModeHandlers
from bulk.store import categories, customers, inventory, media, options, orders, products
from bulk.store.prices import PriceUpdate

# Route key -> StoreHandlers method.
ROUTES = {
    "POST /V1/products": "save_product",
    "PUT /V1/products/:sku": "save_product",
    "DELETE /V1/products/:sku": "delete_product",
    "POST /V1/products/base-prices": "update_base_prices",
    "POST /V1/products/special-price": "update_special_prices",
    "POST /V1/products/tier-prices": "update_tier_prices",
    "POST /V1/products/cost": "update_costs",
    "POST /V1/products/:sku/media": "create_media",
    "PUT /V1/products/:productSku/stockItems/:itemId": "update_stock_item",
    "POST /V1/inventory/source-items": "save_source_items",
    "POST /V1/configurable-products/:sku/options": "save_configurable_option",
    "POST /V1/products/attributes/:attributeCode/options": "add_attribute_option",
    "POST /V1/categories": "save_category",
    "PUT /V1/categories/:id": "save_category",
    "DELETE /V1/categories/:categoryId": "delete_category",
    "POST /V1/categories/:categoryId/products": "assign_product",
    "DELETE /V1/categories/:categoryId/products/:sku": "unassign_product",
    "POST /V1/customers": "create_customer",
    "PUT /V1/customers/:customerId": "save_customer",
    "DELETE /V1/customers/:customerId": "delete_customer",
    "POST /V1/orders": "save_order",
}


def timestamp(clock: Clock) -> str:
    """Magento's timestamp text for now: UTC, `YYYY-MM-DD HH:MM:SS`."""
    return magento_time(clock.time())


def store_mode(context: ModeContext) -> ModeHandlers:
    """`BULK_PROCESSING=store`: the store runs its routes, queued or called synchronously; other
    routes' operations complete as in `accept` mode."""
    settings = context.settings
    handlers = StoreHandlers(context.clock, settings.stores.values(), settings.stores[settings.default_store_code],
                             settings.store_attribute_sets).by_route()
    return ModeHandlers(lambda route: handlers.get(route.key, accept_handler), sync_handlers=handlers)


class StoreHandlers:
    """Handlers bound to the service's clock (timestamps), stores (price store ids, the store a
    customer created in the admin store belongs to) and the product attribute sets configured."""

    def __init__(self, clock: Clock, store_ids: Iterable[int], default_store_id: int,
                 attribute_sets: Iterable[int] = ()) -> None:
        self._clock = clock
        self._prices = PriceUpdate(store_ids)
        self._default_store_id = default_store_id
        self._attribute_sets = frozenset((products.DEFAULT_ATTRIBUTE_SET_ID, *attribute_sets))

    def by_route(self) -> dict[str, Handler]:
        return {key: getattr(self, name) for key, name in ROUTES.items()}

    def now(self) -> str:
        return timestamp(self._clock)

    @transactional
    def save_product(self, job: Job) -> Any:
        arguments = job.arguments
        return products.save(arguments["product"], _store(job), self.now(), arguments.get("sku"), self._attribute_sets)

    @transactional
    def delete_product(self, job: Job) -> Any:
        return products.delete(job.arguments["sku"])

    @transactional
    def update_base_prices(self, job: Job) -> Any:
        return self._prices.base_prices(job.arguments["prices"])

    @transactional
    def update_special_prices(self, job: Job) -> Any:
        return self._prices.special_prices(job.arguments["prices"])

    @transactional
    def update_tier_prices(self, job: Job) -> Any:
        return self._prices.tier_prices(job.arguments["prices"])

    @transactional
    def update_costs(self, job: Job) -> Any:
        return self._prices.costs(job.arguments["prices"])

    @transactional
    def create_media(self, job: Job) -> Any:
        with write_transaction():
            return media.create(products.find(job.arguments["sku"]), job.arguments["entry"])

    @transactional
    def update_stock_item(self, job: Job) -> Any:
        with write_transaction():
            return inventory.update_stock_item(products.find(job.arguments["productSku"]),
                                               job.arguments["stockItem"])

    @transactional
    def save_source_items(self, job: Job) -> Any:
        return inventory.save_source_items(job.arguments["sourceItems"])

    @transactional
    def save_configurable_option(self, job: Job) -> Any:
        return options.save_configurable_option(job.arguments["sku"], job.arguments["option"])

    @transactional
    def add_attribute_option(self, job: Job) -> Any:
        return options.add_attribute_option(job.arguments["attributeCode"], job.arguments["option"])

    @transactional
    def save_category(self, job: Job) -> Any:
        return categories.save(job.arguments["category"], self.now(), job.arguments.get("id"))

    @transactional
    def delete_category(self, job: Job) -> Any:
        return categories.delete(job.arguments["categoryId"], self.now())

    @transactional
    def assign_product(self, job: Job) -> Any:
        return categories.assign_product(job.arguments["productLink"], job.arguments.get("categoryId"), self.now())

    @transactional
    def unassign_product(self, job: Job) -> Any:
        return categories.unassign_product(job.arguments["categoryId"], job.arguments["sku"], self.now())

    @transactional
    def create_customer(self, job: Job) -> Any:
        arguments = job.arguments
        return customers.create_account(arguments["customer"], arguments.get("password"),
                                        self._customer_store(job), self.now())

    @transactional
    def save_customer(self, job: Job) -> Any:
        arguments = job.arguments
        return customers.save(arguments["customer"], self._customer_store(job), self.now(),
                              arguments.get("customerId"), password_hash=arguments.get("passwordHash"))

    def _customer_store(self, job: Job) -> int:
        store_id = _store(job)
        return store_id if store_id != products.ADMIN_STORE_ID else self._default_store_id

    @transactional
    def delete_customer(self, job: Job) -> Any:
        return customers.delete(job.arguments["customerId"])

    @transactional
    def save_order(self, job: Job) -> Any:
        return orders.save(job.arguments["entity"], self.now())


def _store(job: Job) -> int:
    return job.store_id if job.store_id is not None else products.ADMIN_STORE_ID
