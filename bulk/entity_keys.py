"""Which entity an operation changes, so a bulk's calls for one SKU or customer run in order.

Worked out once per item when a bulk is accepted, from the argument map as the client sent it:
a top-level identifier (`sku`, `productSku`, `customerId`, `email`) wins, then one inside an
entity object (`product.sku`, `option.product_sku`, `customer.id`, `customer.email`). Keys are
lower-cased (Magento compares SKUs and e-mail addresses case-insensitively); two different
entities sharing a key only costs ordering, never correctness.
"""

from __future__ import annotations

from typing import Any

from schemas.base import normalise_key

MAX_LENGTH = 255

# Normalised argument or field name -> the kind of entity it identifies.
_IDENTIFIERS = {"sku": "sku", "productsku": "sku", "customerid": "customer", "email": "email"}
# When an object has several (a customer's id and e-mail), the stabler one wins.
_PRIORITY = ("sku", "customer", "email")
# Inside these objects, `id` identifies the entity too (`PUT /V1/customers/:customerId` sends `customer.id`).
_ID_OBJECTS = {"customer": "customer"}


def entity_key(arguments: dict) -> str | None:
    """`sku:<sku>`, `customer:<id>` or `email:<address>` for an argument map, or None."""
    found = _identifier_in(arguments, None)
    if found is None:
        for name, value in arguments.items():
            if isinstance(value, dict) and isinstance(name, str):
                found = _identifier_in(value, _ID_OBJECTS.get(_normalised(name)))
                if found is not None:
                    break
    if found is None:
        return None
    kind, value = found
    return f"{kind}:{value}".lower()[:MAX_LENGTH]


def _identifier_in(mapping: dict, id_kind: str | None) -> tuple[str, str] | None:
    found: dict[str, str] | None = None
    kinds = _KINDS
    for key, value in mapping.items():
        kind = kinds.get(key, _UNKNOWN)
        if kind is None:
            continue  # the usual case: a name that identifies nothing (`name`, `price`, ...)
        if kind is _UNKNOWN:
            kind = _learn(key)
            if kind is None:
                continue
        if kind == "id":
            kind = id_kind
            if kind is None:
                continue
        if not _is_identifier_value(value):
            continue
        if found is None:
            found = {}
        found.setdefault(kind, str(value))
    if found is None:
        return None
    for kind in _PRIORITY:
        if kind in found:
            return kind, found[kind]
    return None


# Argument and field names as sent -> the kind of entity they identify (`id`: the object's own
# kind, if any), None for the others. The same few names arrive in every item of every bulk, and
# normalising each of them was a tenth of a 100-item submit's CPU; with this, a name that
# identifies nothing costs one dict lookup. Bounded: names are the client's, so past this many
# new ones are worked out each time instead of remembered.
_KINDS: dict[object, str | None] = {}
_NORMALISED: dict[str, str] = {}
_REMEMBERED_MAX = 4096
_UNKNOWN = "?"


def _learn(key: object) -> str | None:
    if not isinstance(key, str):
        return None
    name = _normalised(key)
    kind = "id" if name == "id" else _IDENTIFIERS.get(name)
    if len(_KINDS) < _REMEMBERED_MAX:
        _KINDS[key] = kind
    return kind


def _normalised(key: str) -> str:
    name = _NORMALISED.get(key)
    if name is None:
        name = normalise_key(key)
        if len(_NORMALISED) < _REMEMBERED_MAX:
            _NORMALISED[key] = name
    return name


def _is_identifier_value(value: Any) -> bool:
    if isinstance(value, str):
        return value != ""
    return isinstance(value, int) and not isinstance(value, bool)
