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
                found = _identifier_in(value, _ID_OBJECTS.get(normalise_key(name)))
                if found is not None:
                    break
    if found is None:
        return None
    kind, value = found
    return f"{kind}:{value}".lower()[:MAX_LENGTH]


def _identifier_in(mapping: dict, id_kind: str | None) -> tuple[str, str] | None:
    found: dict[str, str] = {}
    for key, value in mapping.items():
        if not isinstance(key, str) or not _is_identifier_value(value):
            continue
        name = normalise_key(key)
        kind = id_kind if name == "id" else _IDENTIFIERS.get(name)
        if kind is not None:
            found.setdefault(kind, str(value))
    return next(((kind, found[kind]) for kind in _PRIORITY if kind in found), None)


def _is_identifier_value(value: Any) -> bool:
    if isinstance(value, str):
        return value != ""
    return isinstance(value, int) and not isinstance(value, bool)
