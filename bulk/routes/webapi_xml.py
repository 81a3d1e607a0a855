"""Routes from Magento's own `etc/webapi.xml` files (BULK_WEBAPI_FILES).

Every non-GET `<route>` becomes a single-async and a bulk route with Magento's topic name and ACL
resources. Without a schema its items are accepted as any JSON object and stored as sent. A route
already in the catalogue (built in, or from BULK_ROUTES_FILE) keeps its richer definition.

The files are parsed with defusedxml: no DTDs, no entity expansion, no external references.
"""

from __future__ import annotations

from pathlib import Path
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree
from defusedxml import DefusedXmlException

from bulk.config import ConfigError
from bulk.routes.catalogue import ASYNC_METHODS, Catalogue, Route
from bulk.routes.paths import RouteTemplate


def load_webapi_files(paths: tuple[str, ...], catalogue: Catalogue) -> int:
    """Add the async routes of every file to `catalogue`; returns how many were added."""
    added = 0
    for path in paths:
        for route in parse_webapi_xml(path):
            if catalogue.get(route.key) is None:
                catalogue.add(route)
                added += 1
    return added


def parse_webapi_xml(path: str | Path) -> list[Route]:
    """The non-GET routes of one webapi.xml; any problem is a ConfigError naming the file."""
    path = Path(path)
    try:
        root = defusedxml.ElementTree.parse(path, forbid_dtd=True).getroot()
    except FileNotFoundError:
        raise ConfigError(f"BULK_WEBAPI_FILES: {path} does not exist") from None
    except (ParseError, DefusedXmlException) as error:
        raise ConfigError(f"BULK_WEBAPI_FILES: {path} is not a usable webapi.xml: {error!r}") from None
    if root.tag != "routes":
        raise ConfigError(f"BULK_WEBAPI_FILES: {path}: the root element must be <routes>, got <{root.tag}>")
    routes = []
    for index, element in enumerate(root.findall("route")):
        if element.get("method", "").upper() not in ASYNC_METHODS:
            continue  # GET routes have no async form
        try:
            routes.append(_route(element))
        except ValueError as error:
            raise ConfigError(f"BULK_WEBAPI_FILES: {path}: route {index + 1} "
                              f"({element.get('method')} {element.get('url')}): {error}") from None
    return routes


def _route(element: Element) -> Route:
    service = element.find("service")
    if service is None or not service.get("class") or not service.get("method"):
        raise ValueError("needs <service class=... method=...>")
    resources = tuple(resource.get("ref", "").strip() for resource in element.iterfind("resources/resource"))
    if not all(resources):
        raise ValueError("a <resource> has no ref")
    return Route(
        method=element.get("method", "").upper(),
        template=RouteTemplate(element.get("url", "")),
        service_class=service.get("class", "").strip().lstrip("\\"),
        service_method=service.get("method", "").strip(),
        resources=resources,
    )
