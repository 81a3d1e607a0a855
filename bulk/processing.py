"""What the drainer runs for an operation: the processing mode's handler, unless overridden.

Resolution order for a route: a handler registered for its route key or topic (plug-ins), the
route's own handler, then the mode's. Wrappers (failure injection, instrumentation) then wrap it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from bulk.catalogue import Route
from bulk.forward import forward_mode
from bulk.handlers import Handler, accept_handler
from bulk.store.handlers import store_mode

if TYPE_CHECKING:
    from bulk.service import BulkService

HandlerFor = Callable[[Route], Handler]
HandlerWrapper = Callable[[Route, Handler], Handler]
# A processing mode builds its handler lookup from the running service (settings, clock, ...).
ModeFactory = Callable[["BulkService"], HandlerFor]


def _accept_mode(service: "BulkService") -> HandlerFor:
    return lambda route: accept_handler


# Processing modes by the name BULK_PROCESSING uses (config.PROCESSING_MODES lists the same names).
MODES: dict[str, ModeFactory] = {
    "accept": _accept_mode,
    "store": store_mode,
    "forward": forward_mode,
}


class Processing:
    """The handler lookup the drainer uses."""

    def __init__(self, mode: str, mode_handler_for: HandlerFor) -> None:
        self.mode = mode
        self._mode_handler_for = mode_handler_for
        self._registered: dict[str, Handler] = {}
        self._wrappers: list[HandlerWrapper] = []

    def register(self, route_key_or_topic: str, handler: Handler) -> None:
        """Run `handler` for the route (`"PUT /V1/products/:sku"`) or topic it names."""
        self._registered[route_key_or_topic] = handler

    def add_wrapper(self, wrapper: HandlerWrapper) -> None:
        self._wrappers.append(wrapper)

    def remove_wrapper(self, wrapper: HandlerWrapper) -> None:
        self._wrappers.remove(wrapper)

    def handler_for(self, route: Route) -> Handler:
        handler = (self._registered.get(route.key) or self._registered.get(route.topic_name)
                   or route.handler or self._mode_handler_for(route))
        for wrap in self._wrappers:
            handler = wrap(route, handler)
        return handler
