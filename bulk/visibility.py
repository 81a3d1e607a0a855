"""Who sees which bulk: the rule Magento's admin UI applies (`IsAllowedForBulkUuid`, `AccessManager`),
applied here to the REST status, search, retry and delete endpoints too.

A caller sees its own bulks (same user type and id), and other owners' bulks of a user type when it
has that type's child resource of the bulk-actions resource; full-access callers (the admin, an
integration with all resources) see every bulk. A bulk one may not see answers like an unknown one.
"""

from __future__ import annotations

from functools import reduce

import peewee

from bulk.auth import Caller
from bulk.models import Bulk
from bulk.statuses import UserType

# Magento_AsynchronousOperations' acl.xml: "Bulk Actions / Own Bulk Actions" and its children.
BULK_ACTIONS = "Magento_AsynchronousOperations::system_magento_logging_bulk_operations"
OWNER_TYPE_RESOURCES = {
    UserType.GUEST: f"{BULK_ACTIONS}_guests",
    UserType.CUSTOMER: f"{BULK_ACTIONS}_customers",
    UserType.INTEGRATION: f"{BULK_ACTIONS}_integrations",
    UserType.ADMIN: f"{BULK_ACTIONS}_admin",
}


def sees_every_bulk(caller: Caller) -> bool:
    return caller.user_type != UserType.GUEST and caller.resources is None


def _visible_types(caller: Caller) -> list[int]:
    return [int(user_type) for user_type, resource in OWNER_TYPE_RESOURCES.items() if caller.is_allowed([resource])]


def may_see(caller: Caller, bulk: Bulk) -> bool:
    """Whether the caller may see (and so retry or delete) this bulk."""
    if sees_every_bulk(caller):
        return True
    if caller.user_type == UserType.GUEST:
        return False
    if caller.user_id is not None and (int(caller.user_type), caller.user_id) == (bulk.user_type, bulk.user_id):
        return True
    return bulk.user_type in _visible_types(caller)


def visible_bulks(caller: Caller) -> peewee.Expression | None:
    """The condition on `Bulk` rows the caller may see; None when it sees them all."""
    if sees_every_bulk(caller):
        return None
    conditions = []
    if caller.user_type != UserType.GUEST and caller.user_id is not None:
        conditions.append((Bulk.user_type == int(caller.user_type)) & (Bulk.user_id == caller.user_id))
    types = _visible_types(caller)
    if types:
        conditions.append(Bulk.user_type.in_(types))
    if not conditions:
        return Bulk.id < 0  # nothing
    return reduce(lambda left, right: left | right, conditions)
