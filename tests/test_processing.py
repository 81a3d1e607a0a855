"""Which handler runs an operation: registered, then the mode's; wrappers around it."""

from __future__ import annotations

from bulk.processing import ModeContext, ModeHandlers, Processing
from bulk.routes.builtin import builtin_catalogue
from bulk.service import MODES


def mode(route):
    return "mode"


def test_resolution_order_and_wrappers():
    catalogue = builtin_catalogue()
    put = catalogue.get("PUT /V1/products/:sku")
    post = catalogue.get("POST /V1/products")
    processing = Processing("test", ModeHandlers(lambda route: mode))
    assert processing.handler_for(post) is mode
    processing.register("async.magento.catalog.api.productrepositoryinterface.save.post", "by topic")
    processing.register("PUT /V1/products/:sku", "by route")
    assert processing.handler_for(post) == "by topic"
    assert processing.handler_for(put) == "by route"

    def wrapper(route, handler):
        return ("wrapped", handler)

    processing.add_wrapper(wrapper)
    assert processing.handler_for(put) == ("wrapped", "by route")
    processing.remove_wrapper(wrapper)
    assert processing.handler_for(put) == "by route"


def test_accept_mode_completes_without_side_effects(service):
    handlers = MODES["accept"](ModeContext(service.settings, service.stores, service.clock, service.on_shutdown))
    assert handlers.handler_for(builtin_catalogue().get("POST /V1/products"))(None) is None
    assert handlers.sync_handlers == {}


def test_only_the_store_mode_runs_sync_writes(service):
    route = builtin_catalogue().get("POST /V1/products")
    assert service.processing.sync_handler(route) is not None  # development default: store
