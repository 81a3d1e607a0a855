"""What the drainer runs for an operation: the processing mode's handler, unless a plug-in's wins.

A processing mode (`BULK_PROCESSING`) is a function given a `ModeContext`, with only what modes
use, that answers `ModeHandlers`; `bulk.service` names the modes and wires the chosen one. This
module imports no mode, so a new mode is one module plus its line in `bulk.service.MODES`.

Resolution order for a route: a handler registered for its route key or topic (plug-ins), then the
mode's. Wrappers (failure injection, instrumentation) then wrap it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from bulk.clock import Clock
from bulk.config import Settings
from bulk.handlers import Handler, HandlerFor, accept_handler
from bulk.routes.catalogue import Route
from bulk.urls import Stores

HandlerWrapper = Callable[[Route, Handler], Handler]


@dataclass(frozen=True)
class ModeContext:
    """What a processing mode may use: settings, stores, the clock, and a hook run at shutdown."""

    settings: Settings
    stores: Stores
    clock: Clock
    on_shutdown: Callable[[Callable[[], None]], None]


@dataclass(frozen=True)
class ModeHandlers:
    """A mode's handlers: one for each route's queued operations, and those that may also run a
    synchronous call at once, by route key (the store's sync writes)."""

    handler_for: HandlerFor
    sync_handlers: Mapping[str, Handler] = field(default_factory=dict)


ModeFactory = Callable[[ModeContext], ModeHandlers]


def accept_mode(context: ModeContext) -> ModeHandlers:
    """`BULK_PROCESSING=accept`: every operation completes without side effects."""
    return ModeHandlers(lambda route: accept_handler)


class Processing:
    """The handler lookup the drainer uses."""

    def __init__(self, mode: str, handlers: ModeHandlers) -> None:
        self.mode = mode
        self._mode_handlers = handlers
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
                   or self._mode_handlers.handler_for(route))
        for wrap in self._wrappers:
            handler = wrap(route, handler)
        return handler

    def sync_handler(self, route: Route) -> Handler | None:
        """The handler that runs a synchronous call of `route` at once, if the mode has one."""
        return self._mode_handlers.sync_handlers.get(route.key)
