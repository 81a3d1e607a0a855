"""Turning a request's items into a stored bulk: validate, serialise, hash, enqueue."""

from __future__ import annotations

import hashlib
import hmac
import os
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, NamedTuple

from bulk import queue
from bulk.auth import Caller
from bulk.entity_keys import entity_key
from bulk.errors import WebapiError, not_authorized
from bulk.idempotency import StoredKey
from bulk.jsonutil import php_json_encode
from bulk.phrases import MAX_ITEMS
from bulk.routes.catalogue import Route
from schemas.base import DataObject, find_key, normalise_key

ACCEPTED = "accepted"
REJECTED = "rejected"


# A route's item sealer (bulk.secret_fields), or None for a route whose items carry no secret field.
Sealer = Callable[[Any], Any]


def _no_sealing(route: Route) -> Sealer | None:
    return None


def _outcome_unknown(route: Route) -> str | None:
    return None


@dataclass(frozen=True)
class AcceptPolicy:
    max_items: int
    reject_invalid_items: bool
    hasher: DataHasher
    sealer_for: Callable[[Route], Sealer | None] = _no_sealing
    # The success message every operation of the route completes with, when that is known before it
    # runs (its handler is `no_op`: `accept` mode); its bulks are then stored complete (`queue.NewBulk`).
    outcome_for: Callable[[Route], str | None] = _outcome_unknown


class RequestItem(NamedTuple):
    """One entry of `request_items` in the 202 answer (a tuple: built for every item)."""

    id: int
    data_hash: str | None
    status: str
    error_message: str | None = None
    error_code: int | None = None


@dataclass(frozen=True)
class Accepted:
    bulk_uuid: str
    request_items: list[RequestItem]

    @property
    def errors(self) -> bool:
        return any(item.status == REJECTED for item in self.request_items)


def accept(route: Route, items: Collection[tuple[int | str, Any]], store_id: int, caller: Caller,
           policy: AcceptPolicy, now: float, submitter_authorization: str | None = None,
           idempotency_key: Callable[[Accepted], StoredKey] | None = None,
           within: Callable[[int], None] | None = None) -> Accepted:
    """Validate every item, then store the bulk with one open operation per accepted item.

    `submitter_authorization` is stored with the bulk only when forwarded calls pass it on.
    `idempotency_key` gives the submit's key and answer, stored in the same transaction; `within`
    runs in the storing transaction too (see `queue.enqueue`).
    """
    if len(items) > policy.max_items:
        raise WebapiError(MAX_ITEMS, {"type": route.item_type, "max": policy.max_items})
    request_items: list[RequestItem] = []
    operations: list[queue.NewOperation] = []
    # Only what is stored is kept: each item's decoded form is let go once it is serialised.
    refused_resource: str | None = None
    hasher = policy.hasher
    seal = policy.sealer_for(route)
    for position, (key, item) in enumerate(items):
        arguments = _as_argument_map(item)
        if arguments is None:
            continue  # Magento skips scalar items silently: no request item, no operation.
        operation_key = key if isinstance(key, int) else position
        problems = route.checker(arguments)
        if problems:
            if not policy.reject_invalid_items:
                raise WebapiError.from_phrases(problems)
            request_items.append(RequestItem(operation_key, None, REJECTED,
                                             "; ".join(p.render() for p in problems), 0))
            continue
        # Secret fields (passwords) are stored sealed; only routes that have them pay for it.
        serialized = serialize_operation(item if seal is None else seal(item), store_id)
        operations.append(queue.NewOperation(operation_key, route.topic_name, route.key, serialized,
                                             entity_key(arguments)))
        request_items.append(RequestItem(operation_key, hasher(serialized), ACCEPTED))
        refused_resource = refused_resource or restricted_resource(route, arguments, caller)
    if refused_resource is not None:
        # After every item was validated, as Magento checks restricted fields once the input is read.
        raise not_authorized([refused_resource])
    accepted = Accepted(time_ordered_uuid(now), request_items)
    queue.enqueue(queue.NewBulk(accepted.bulk_uuid, caller.user_id, int(caller.user_type), route.description,
                                operations, submitter_authorization,
                                idempotency_key(accepted) if idempotency_key is not None else None,
                                policy.outcome_for(route)), now, within)
    return accepted


def time_ordered_uuid(now: float) -> str:
    """A bulk uuid that sorts by submission time: UUID version 7 (RFC 9562), milliseconds first.

    Clients treat the uuid as an opaque string (Magento's are version 4); the drainer's turn
    through bulks goes in uuid order, so this makes it go oldest first (see `queue.plan_claim`).
    """
    value = (int(now * 1000) & _MILLISECONDS) << 80 | int.from_bytes(os.urandom(10), "big")
    value = value & ~(0xF << 76) | 0x7 << 76  # version 7
    value = value & ~(0x3 << 62) | 0x2 << 62  # RFC 4122 variant
    return str(uuid.UUID(int=value))


_MILLISECONDS = (1 << 48) - 1


def _as_argument_map(item: Any) -> dict | None:
    """Objects are argument maps; a JSON array is a PHP array too (keys "0", "1", ...); scalars are not."""
    if isinstance(item, dict):
        return item
    if isinstance(item, list):
        return {str(index): value for index, value in enumerate(item)}
    return None


def serialize_operation(arguments: dict, store_id: int) -> str:
    """`serialized_data` as Magento 2.4 stores it: the argument map JSON-encoded inside an envelope.

    Equal to php_json_encode({"entity_id": None, "entity_link": "", "meta_information": <json>,
    "store_id": "<id>"}), assembled around the one variable part because it runs for every item.
    """
    meta = php_json_encode(php_json_encode(arguments))
    return f'{{"entity_id":null,"entity_link":"","meta_information":{meta},"store_id":"{int(store_id)}"}}'


class DataHasher:
    """Magento's `data_hash`: Encryptor::hash(serialized_data, SHA256), a keyed HMAC in lowercase hex.

    The keyed state is prepared once and copied per item (cheaper than a fresh HMAC each time).
    """

    def __init__(self, secret: bytes) -> None:
        self._keyed = hmac.new(secret, digestmod=hashlib.sha256)

    def __call__(self, serialized_data: str) -> str:
        state = self._keyed.copy()
        state.update(serialized_data.encode())
        return state.hexdigest()


def single_async_arguments(route: Route, body: Any, path_values: dict[str, str]) -> dict:
    """The one argument map of a single async call: body plus URL values (URL wins).

    For PUT, Magento also writes the last URL value into the entity object of the body when that
    object has a field of the same name (`PUT /V1/products/:sku` sets `product.sku`).
    """
    arguments = dict(body) if isinstance(body, dict) else {}
    arguments.update(path_values)
    if route.method == "PUT" and path_values and route.schema is not None:
        name, value = list(path_values.items())[-1]
        _override_entity_id(route, arguments, name, value)
    return arguments


def _override_entity_id(route: Route, arguments: dict, name: str, value: str) -> None:
    assert route.schema is not None
    for argument, field in route.schema._declared_fields.items():
        if not isinstance(field, DataObject):
            continue
        # Only the first entity argument is considered, as in Magento's ParamsOverrider.
        entity_name = find_key(arguments, argument)
        entity = arguments.get(entity_name) if entity_name is not None else None
        target = field.schema_class.key_map().get(normalise_key(name))
        if entity_name is not None and isinstance(entity, dict) and target is not None:
            arguments[entity_name] = {**entity, (find_key(entity, name) or target): value}
        return


def lookup(mapping: Any, dotted: str) -> Any:
    """`customer.group_id` inside an argument map, matching keys like Magento does."""
    value = mapping
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        key = find_key(value, part)
        value = value.get(key) if key is not None else None
    return value


def restricted_resource(route: Route, arguments: dict, caller: Caller) -> str | None:
    """The resource a field of this item needs and the caller lacks: Magento then rejects the whole
    request (APSB25-08)."""
    for dotted, resource in route.restricted_fields.items():
        if not caller.is_allowed([resource]) and lookup(arguments, dotted) is not None:
            return resource
    return None


def check_restricted_fields(route: Route, arguments: dict, caller: Caller) -> None:
    """One item (a synchronous call): 401 when a field needs a resource the caller lacks."""
    refused = restricted_resource(route, arguments, caller)
    if refused is not None:
        raise not_authorized([refused])
