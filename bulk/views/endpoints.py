"""Synchronous endpoints this service answers itself, declared next to their views.

Each view module exports `ENDPOINTS`; the app keeps them in one table (`Endpoints`), in matching
order, which `bulk.views.dispatch` matches requests against before checking the ACL and calling the
view with the URL's `:param` values. Other packages add theirs with `add_endpoints` (`bulk.testing`).
A view that needs the store or the caller reads `current_target()` / `current_caller()`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from flask import Flask, Response, current_app, g

from bulk.auth import Caller
from bulk.routes.paths import RouteTemplate
from bulk.urls import Target

_EXTENSION = "bulk.endpoints"


@dataclass(frozen=True)
class Endpoint:
    """A sync route: method, URL template, ACL resources, and the view called with its `:param` values."""

    method: str
    template: RouteTemplate
    resources: tuple[str, ...]
    view: Callable[..., Response]


def endpoint(method: str, url: str, resources: tuple[str, ...], view: Callable[..., Response]) -> Endpoint:
    return Endpoint(method, RouteTemplate(url), resources, view)


class Endpoints:
    """An app's synchronous endpoints, in matching order (the first that fits wins)."""

    def __init__(self, endpoints: Iterable[Endpoint] = ()) -> None:
        self._endpoints = list(endpoints)

    def add(self, endpoints: Iterable[Endpoint]) -> None:
        self._endpoints.extend(endpoints)

    def match(self, method: str, segments: list[str]) -> tuple[Endpoint, dict[str, str]] | None:
        """The endpoint for a request and its `:param` values, or None."""
        for candidate in self._endpoints:
            if candidate.method == method:
                values = candidate.template.match(segments)
                if values is not None:
                    return candidate, values
        return None

    def __iter__(self) -> Iterator[Endpoint]:
        return iter(self._endpoints)


def install_endpoints(app: Flask, endpoints: Iterable[Endpoint]) -> None:
    """Give the app its table of synchronous endpoints (the factory does this once)."""
    app.extensions[_EXTENSION] = Endpoints(endpoints)


def add_endpoints(app: Flask, endpoints: Iterable[Endpoint]) -> None:
    """Serve more synchronous endpoints, matched after those the app already has."""
    app.extensions[_EXTENSION].add(endpoints)


def current_endpoints() -> Endpoints:
    return current_app.extensions[_EXTENSION]


def current_target() -> Target:
    """Where the request went: store code and id, and the routed path."""
    return g.bulk_target


def current_caller() -> Caller:
    """Who is calling (already authorised for the endpoint's resources)."""
    return g.bulk_caller
