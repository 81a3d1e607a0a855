"""How the dashboard shows stored values: owners, statuses, ages, and stored items with secrets masked."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bulk.jsonutil import loads
from bulk.secret_fields import MASK, SECRET_NAMES, mask
from bulk.statuses import OperationStatus, UserType
from schemas.base import normalise_key

STATUS_LABELS = {
    OperationStatus.COMPLETE: "Complete",
    OperationStatus.RETRIABLY_FAILED: "Failed, retriable",
    OperationStatus.NOT_RETRIABLY_FAILED: "Failed",
    OperationStatus.OPEN: "Open",
    OperationStatus.REJECTED: "Rejected",
}
# Short labels for column headers and badges on narrow screens.
STATUS_SHORT = {
    OperationStatus.COMPLETE: "Complete",
    OperationStatus.RETRIABLY_FAILED: "Retriable",
    OperationStatus.NOT_RETRIABLY_FAILED: "Failed",
    OperationStatus.OPEN: "Open",
    OperationStatus.REJECTED: "Rejected",
}


def mask_secrets(value: Any) -> Any:
    """A copy of a decoded item with every password-like field's value replaced by MASK, at any depth."""
    if isinstance(value, dict):
        return {key: MASK if isinstance(key, str) and normalise_key(key) in SECRET_NAMES else mask_secrets(item)
                for key, item in value.items()}
    if isinstance(value, list):
        return [mask_secrets(item) for item in value]
    return value


def stored_item(serialized_data: str | None) -> str | None:
    """The item an operation carries (its `serialized_data` envelope opened), masked and indented.

    None when nothing is stored (Magento clears the payload of a complete operation). A payload that
    cannot be read is not shown at all: raw text could hold a secret the masking did not see.
    """
    if serialized_data is None:
        return None
    try:
        # Sealed values (bulk.secret_fields) first, then any secret field by name (routes without a schema).
        envelope = loads(mask(serialized_data) or "")
        meta = envelope.get("meta_information") if isinstance(envelope, dict) else None
        item = loads(meta) if isinstance(meta, str) else envelope
    except ValueError:
        return "(stored data cannot be read)"
    return json.dumps(mask_secrets(item), indent=2, ensure_ascii=False)


def owner_label(user_type: int | None, user_id: int | None, integration_names: Mapping[int, str]) -> str:
    """Who submitted a bulk, as people read it: "Admin #1", "Integration erp #5", "Guest"."""
    try:
        kind = UserType(user_type).name.capitalize() if user_type is not None else "Unknown"
    except ValueError:
        kind = f"User type {user_type}"
    if user_type == UserType.GUEST or user_id is None:
        return kind
    if user_type == UserType.INTEGRATION and user_id in integration_names:
        return f"{kind} {integration_names[user_id]} #{user_id}"
    return f"{kind} #{user_id}"


def owner_value(user_type: int | None, user_id: int | None) -> str:
    """The owner filter's value for an owner: `<type>:<id>` (`4:` for guests)."""
    return f"{'' if user_type is None else user_type}:{'' if user_id is None else user_id}"


def parse_owner(value: str | None) -> tuple[int, int | None] | None:
    """An owner filter value back to (user type, user id); None for no filter or a malformed value."""
    if not value:
        return None
    kind, separator, user_id = value.partition(":")
    if not separator or not kind.isdigit() or len(kind) > 2 or (user_id and not (user_id.isdigit()
                                                                                  and len(user_id) < 19)):
        return None
    return int(kind), int(user_id) if user_id else None


def duration(seconds: float | None) -> str:
    """A short, readable length of time: "42 s", "3 min 5 s", "2 h 10 min", "3 d 4 h"; "—" for none."""
    if seconds is None:
        return "—"
    total = max(int(seconds), 0)
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"
