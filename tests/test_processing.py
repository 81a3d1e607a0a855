"""Which handler runs an operation: registered, route's own, mode's; wrappers around it."""

from __future__ import annotations

from dataclasses import replace

from bulk.builtin_routes import builtin_catalogue
from bulk.processing import MODES, Processing


def mode(route):
    return "mode"


def test_resolution_order_and_wrappers():
    catalogue = builtin_catalogue()
    put = catalogue.get("PUT /V1/products/:sku")
    post = catalogue.get("POST /V1/products")
    processing = Processing("test", lambda route: mode)
    assert processing.handler_for(post) is mode
    processing.register("async.magento.catalog.api.productrepositoryinterface.save.post", "by topic")
    processing.register("PUT /V1/products/:sku", "by route")
    assert processing.handler_for(post) == "by topic"
    assert processing.handler_for(put) == "by route"
    own = replace(catalogue.get("DELETE /V1/products/:sku"), handler="own")
    assert processing.handler_for(own) == "own"

    def wrapper(route, handler):
        return ("wrapped", handler)

    processing.add_wrapper(wrapper)
    assert processing.handler_for(put) == ("wrapped", "by route")
    processing.remove_wrapper(wrapper)
    assert processing.handler_for(put) == "by route"


def test_accept_mode_completes_without_side_effects(service):
    handler_for = MODES["accept"](service)
    assert handler_for(builtin_catalogue().get("POST /V1/products"))(None) is None
