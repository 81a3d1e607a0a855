"""Magento's path processing: optional `/rest`, optional store code, then which processor applies."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

ALL_STORES = "all"
ADMIN_STORE_ID = 0

ASYNC = "async"
BULK = "bulk"
SYNC = "sync"

_SYNC_PATH = re.compile(r"^V\d+(/|$)")


@dataclass(frozen=True)
class Target:
    """Where a request goes: processor kind, the path it routes on (`/V1/...`), and the store."""

    kind: str
    path: str
    store_code: str
    store_id: int


class Stores:
    """Known store codes; the first is the default, `all` is the admin store (id 0)."""

    def __init__(self, stores: Mapping[str, int]) -> None:
        self._ids = {**stores, ALL_STORES: ADMIN_STORE_ID}
        self.default_code = next(iter(stores))
        self._codes: dict[int, str] = {}
        for code, store_id in self._ids.items():
            self._codes.setdefault(store_id, code)

    def id_of(self, code: str) -> int | None:
        return self._ids.get(code)

    def code_of(self, store_id: int) -> str | None:
        """The code of a store id (the first configured one; `all` for the admin store)."""
        return self._codes.get(store_id)


def parse_target(raw_path: str, stores: Stores, customize: Callable[[str], str]) -> Target | None:
    """Resolve a request path, or None when no processor would accept it (Magento answers 400)."""
    segments = raw_path.strip("/").split("/")
    if segments and segments[0] == "rest":
        segments = segments[1:]
    store_code = stores.default_code
    # A known store code (or `all`) is taken out of the path; anything else stays and fails to route.
    if segments and stores.id_of(segments[0]) is not None:
        store_code = segments.pop(0)
    path = customize("/".join(segments))
    store_id = stores.id_of(store_code)
    assert store_id is not None
    if path.startswith("async/bulk/V"):
        return Target(BULK, path[len("async/bulk"):], store_code, store_id)
    if path.startswith("async/V"):
        return Target(ASYNC, path[len("async"):], store_code, store_id)
    if _SYNC_PATH.match(path):
        return Target(SYNC, "/" + path, store_code, store_id)
    return None
