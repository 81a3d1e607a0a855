"""Synchronous endpoints this service answers itself, declared next to their views.

Each view module exports `ENDPOINTS`; `bulk.views.dispatch` matches requests against all of them,
checks the ACL, and calls the view with the URL's `:param` values. A view that needs the store or
the caller reads `current_target()` / `current_caller()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from flask import Response, g

from bulk.auth import Caller
from bulk.templates import RouteTemplate
from bulk.urls import Target

if TYPE_CHECKING:
    from bulk.service import BulkService


@dataclass(frozen=True)
class Endpoint:
    """A sync route: method, URL template, ACL resources, and the view called with its `:param` values."""

    method: str
    template: RouteTemplate
    resources: tuple[str, ...]
    view: Callable[..., Response]
    # Given the running service, whether the endpoint exists; a disabled one matches no request.
    enabled: Callable[["BulkService"], bool] | None = None


def endpoint(method: str, url: str, resources: tuple[str, ...], view: Callable[..., Response],
             enabled: Callable[["BulkService"], bool] | None = None) -> Endpoint:
    return Endpoint(method, RouteTemplate(url), resources, view, enabled)


def current_target() -> Target:
    """Where the request went: store code and id, and the routed path."""
    return g.bulk_target


def current_caller() -> Caller:
    """Who is calling (already authorised for the endpoint's resources)."""
    return g.bulk_caller
