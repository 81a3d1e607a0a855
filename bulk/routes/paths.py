"""Magento route templates (`/V1/products/:sku`): matching, bulk form, topic and lookup names."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_PARAM = re.compile(r"/:(\w+)")


def split_path(path: str) -> list[str]:
    """Path segments; a leading or trailing slash is ignored, an empty inner segment is kept."""
    return path.strip("/").split("/")


def bulk_path(template: str) -> str:
    """Magento's BulkServiceConfig rule: each `/:name` becomes `/by` + name with its first letter upper-cased."""
    return _PARAM.sub(lambda m: "/by" + m.group(1)[:1].upper() + m.group(1)[1:], template)


def topic_name(service_class: str, service_method: str, http_method: str) -> str:
    """Magento's topic: `async.<interface with dots>.<method>.<http method>`, all lower case."""
    return "async." + ".".join(
        [service_class.strip("\\").replace("\\", "."), service_method, http_method]).lower()


@dataclass(frozen=True)
class RouteTemplate:
    """A sync route URL with `:param` segments."""

    path: str
    segments: tuple[str, ...] = field(init=False)
    params: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        if not self.path.startswith("/V"):
            raise ValueError(f"route URL must start with /V<version>/, got {self.path!r}")
        segments = tuple(split_path(self.path))
        if any(not segment or segment == ":" for segment in segments):
            raise ValueError(f"route URL has an empty segment: {self.path!r}")
        object.__setattr__(self, "segments", segments)
        object.__setattr__(self, "params", tuple(s[1:] for s in segments if s.startswith(":")))

    @property
    def bulk_path(self) -> str:
        return bulk_path(self.path)

    def match(self, segments: list[str]) -> dict[str, str] | None:
        """The `:param` values if `segments` fit this template, else None."""
        if len(segments) != len(self.segments):
            return None
        values: dict[str, str] = {}
        for expected, actual in zip(self.segments, segments, strict=True):
            if expected.startswith(":"):
                if not actual:
                    return None
                values[expected[1:]] = actual
            elif expected != actual:
                return None
        return values

    def specificity(self) -> tuple[int, ...]:
        """Sort key: literal segments win over parameters, earliest position first."""
        return tuple(1 if s.startswith(":") else 0 for s in self.segments)

    def fill(self, values: Mapping[str, object]) -> str:
        """The concrete path with each `:param` replaced by its value."""
        return "/" + "/".join(
            str(values[s[1:]]) if s.startswith(":") else s for s in self.segments)
