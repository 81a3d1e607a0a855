"""The route catalogue: which (method, URL) pairs are async/bulk routes, and everything about each."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from marshmallow import Schema

from bulk.routes.paths import RouteTemplate, split_path, topic_name
from bulk.routes.validation import ArgumentsChecker, compile_checker
from schemas.base import MagentoSchema

ANONYMOUS = "anonymous"
ASYNC_METHODS = ("POST", "PUT", "DELETE")


def default_implementation(service_class: str) -> str:
    """The concrete class Magento's DI usually picks: `...\\Api\\FooRepositoryInterface` ->
    `...\\Model\\FooRepository\\Interceptor` (used in `Service execution success <Class>::<method>`)."""
    name = service_class.strip("\\")
    if name.endswith("Interface"):
        name = name[: -len("Interface")]
    return name.replace("\\Api\\", "\\Model\\", 1) + "\\Interceptor"


@dataclass(frozen=True, eq=False)
class Route:
    """One non-GET Magento route, usable as `/async/V1/<url>` and `/async/bulk/V1/<byParam url>`."""

    method: str
    template: RouteTemplate
    service_class: str
    service_method: str
    resources: tuple[str, ...]
    schema: type[MagentoSchema] | None = None
    implementation: str | None = None
    # Fields that need an extra ACL resource when set (Magento's customer group_id check):
    # {"customer.group_id": "Magento_Customer::manage"}.
    restricted_fields: Mapping[str, str] = field(default_factory=dict)
    # Runs the operation when the service is in a processing mode that has handlers; None: default.
    handler: Callable[..., Any] | None = None

    def __post_init__(self) -> None:
        if self.method not in ASYNC_METHODS:
            raise ValueError(f"async routes are {', '.join(ASYNC_METHODS)}, got {self.method!r}")
        if not self.resources:
            raise ValueError(f"route {self.key} needs at least one ACL resource (or 'anonymous')")

    @property
    def key(self) -> str:
        return f"{self.method} {self.template.path}"

    @property
    def bulk_path(self) -> str:
        return self.template.bulk_path

    @cached_property
    def topic_name(self) -> str:
        return topic_name(self.service_class, self.service_method, self.method)

    @property
    def description(self) -> str:
        return f"Topic {self.topic_name}"

    @property
    def is_anonymous(self) -> bool:
        return ANONYMOUS in self.resources

    @cached_property
    def concrete_class(self) -> str:
        return self.implementation or default_implementation(self.service_class)

    @cached_property
    def success_message(self) -> str:
        """A completed operation's message, as Magento's consumer writes it."""
        return f"Service execution success {self.concrete_class}::{self.service_method}"

    @property
    def item_type(self) -> str:
        """The PHP type named in `Maximum items of type "%type"`."""
        return self.service_class

    @cached_property
    def checker(self) -> ArgumentsChecker:
        return compile_checker(self.schema)

    @cached_property
    def schema_instance(self) -> Schema | None:
        return self.schema() if self.schema else None


class DuplicateRoute(ValueError):
    """Two routes with the same method and URL."""


class Catalogue:
    """All async routes, indexed for matching by sync URL (single async) and bulk URL (bulk)."""

    def __init__(self) -> None:
        self._routes: dict[str, Route] = {}
        self._bulk: dict[tuple[str, str], Route] = {}
        self._by_method: dict[str, list[Route]] = {}
        self._customizations: dict[str, str] = {}

    def add(self, route: Route) -> None:
        if route.key in self._routes:
            raise DuplicateRoute(f"route {route.key} is defined twice")
        self._routes[route.key] = route
        self._bulk[(route.method, route.bulk_path)] = route
        candidates = self._by_method.setdefault(route.method, [])
        candidates.append(route)
        candidates.sort(key=lambda r: r.template.specificity())

    def add_customization(self, requested: str, endpoint: str) -> None:
        """Magento's route_customization.xml: `asyncProducts` -> `async/V1/products`."""
        self._customizations[requested.strip("/")] = endpoint.strip("/")

    def customize(self, path: str) -> str:
        return self._customizations.get(path.strip("/"), path)

    def match_async(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The route and its `:param` values for a single-async path like `/V1/products/24-MB01`."""
        segments = split_path(path)
        for route in self._by_method.get(method, ()):
            values = route.template.match(segments)
            if values is not None:
                return route, values
        return None

    def match_bulk(self, method: str, path: str) -> Route | None:
        """The route for a bulk path like `/V1/products/bySku` (the byParam segments are literal)."""
        return self._bulk.get((method, "/" + path.strip("/")))

    def get(self, key: str) -> Route | None:
        return self._routes.get(key)

    def __iter__(self) -> Iterator[Route]:
        return iter(sorted(self._routes.values(), key=lambda r: (r.template.path, r.method)))

    def __len__(self) -> int:
        return len(self._routes)
