"""Load extra routes from the JSON file named by BULK_ROUTES_FILE into a catalogue."""

from __future__ import annotations

import importlib
from pathlib import Path

import orjson
from marshmallow import ValidationError

from bulk.config import ConfigError
from bulk.routes.catalogue import Catalogue, DuplicateRoute, Route
from bulk.routes.paths import RouteTemplate
from schemas.base import Arguments
from schemas.route_file import RouteFile, arguments_schema


def load_route_file(path: str | Path, catalogue: Catalogue) -> None:
    """Add every route and customisation of the file; any mistake is a ConfigError naming the file."""
    path = Path(path)
    try:
        document = RouteFile().load(orjson.loads(path.read_bytes()))
    except FileNotFoundError:
        raise ConfigError(f"BULK_ROUTES_FILE: {path} does not exist") from None
    except orjson.JSONDecodeError as error:
        raise ConfigError(f"BULK_ROUTES_FILE: {path} is not valid JSON: {error}") from None
    except ValidationError as error:
        raise ConfigError(f"BULK_ROUTES_FILE: {path}: {error.messages}") from None
    for index, declaration in enumerate(document["routes"]):
        try:
            catalogue.add(_route(declaration, index))
        except (ValueError, DuplicateRoute) as error:
            raise ConfigError(f"BULK_ROUTES_FILE: {path}: routes[{index}]: {error}") from None
    for requested, endpoint in document["customizations"].items():
        catalogue.add_customization(requested, endpoint)


def _route(declaration: dict, index: int) -> Route:
    service_class, _, service_method = declaration["service"].partition("::")
    if "schema" in declaration and "arguments" in declaration:
        raise ValueError("give either 'schema' or 'arguments', not both")
    schema = None
    if "schema" in declaration:
        schema = _import_schema(declaration["schema"])
    elif "arguments" in declaration:
        schema = arguments_schema(f"RouteFileArguments{index}", declaration["arguments"])
    return Route(
        method=declaration["method"],
        template=RouteTemplate(declaration["url"]),
        service_class=service_class.lstrip("\\"),
        service_method=service_method,
        resources=tuple(declaration["resources"]),
        schema=schema,
        implementation=declaration.get("implementation"),
    )


def _import_schema(reference: str) -> type[Arguments]:
    module_name, _, class_name = reference.partition(":")
    try:
        schema = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"schema {reference!r} cannot be imported: {error}") from None
    if not (isinstance(schema, type) and issubclass(schema, Arguments)):
        raise ValueError(f"schema {reference!r} is not a schemas.base.Arguments subclass")
    return schema
