"""Idempotent submits: the `Idempotency-Key` request header (IETF httpapi draft).

The same key from the same caller with the same request (method, path, body) within
BULK_IDEMPOTENCY_HOURS answers the first 202 again, byte for byte, and stores nothing new; the same
key with another request answers 422; while the first request with the key is still being stored,
409. The key is stored in the transaction that stores its bulk, and a unique index on (caller, key)
decides between concurrent duplicates, so exactly one bulk is stored whatever the timing.
Without the header nothing of this runs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import peewee

from bulk.auth import Caller
from bulk.db import Prepared, Slot, database, is_postgresql, write_transaction
from bulk.errors import WebapiError
from bulk.models import IdempotencyKey

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
HOUR = 3600
# Seconds a client is told to wait before sending a request again whose key is being stored.
RETRY_AFTER_SECONDS = 1

# Our own texts: Magento has no such header.
INVALID_KEY = "The %header header must be 1 to %max printable ASCII characters."
KEY_REUSED = ("The %header was already used with another request in the last %hours hour(s); "
              "send a new request with a new key.")
KEY_IN_USE = "A request with this %header is still being stored. Try again in %seconds second(s)."


@dataclass(frozen=True)
class KeyedRequest:
    """A submit that carries a key: whose key, the key, and what the request was."""

    caller: str
    key: str
    fingerprint: str


@dataclass(frozen=True)
class StoredKey:
    """What is stored with the bulk: the keyed request and the 202 body it was answered."""

    request: KeyedRequest
    response: bytes
    # How long keys are remembered (BULK_IDEMPOTENCY_HOURS): an older one may be used again.
    hours: float


class KeyStoredMeanwhile(Exception):
    """Another request stored this key between the look-up and this request's transaction."""


def keyed_request(header: str, caller: Caller, method: str, path: str, body: bytes) -> KeyedRequest:
    """The keyed request of a submit that sent the header (400 when the key is malformed)."""
    key = _key(header)
    fingerprint = hashlib.sha256(b"\n".join((method.encode(), path.encode(), body))).hexdigest()
    return KeyedRequest(f"{int(caller.user_type)}:{'' if caller.user_id is None else caller.user_id}", key,
                        fingerprint)


def _key(header: str) -> str:
    """The key: a Structured Field string (`"abc"`, as the draft writes it) or a bare token (as Stripe's)."""
    value = header.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if not 0 < len(value) <= MAX_KEY_LENGTH or not all(" " <= char <= "~" for char in value):
        raise WebapiError(INVALID_KEY, {"header": HEADER, "max": MAX_KEY_LENGTH})
    return value


def _this_key() -> peewee.Expression:
    return (IdempotencyKey.caller == Slot("caller")) & (IdempotencyKey.key == Slot("key"))


# Rendered once: a client that sends keys sends one with every submit.
_FIND = Prepared(lambda: IdempotencyKey.select(IdempotencyKey.fingerprint, IdempotencyKey.response)
                 .where(_this_key(), IdempotencyKey.created_at > Slot("after")))
_FORGET_EXPIRED = Prepared(lambda: IdempotencyKey.delete()
                           .where(_this_key(), IdempotencyKey.created_at <= Slot("before")))
_INSERT = Prepared(lambda: IdempotencyKey.insert({
    IdempotencyKey.caller: Slot("caller"), IdempotencyKey.key: Slot("key"),
    IdempotencyKey.fingerprint: Slot("fingerprint"), IdempotencyKey.bulk_uuid: Slot("bulk_uuid"),
    IdempotencyKey.response: Slot("response"), IdempotencyKey.created_at: Slot("created_at")}))


def find(request: KeyedRequest, now: float, hours: float) -> bytes | None:
    """The 202 first answered to this key, or None; 422 when the key came with another request."""
    row = _FIND.execute(caller=request.caller, key=request.key, after=now - hours * HOUR).fetchone()
    if row is None:
        return None
    fingerprint, response = row
    if fingerprint != request.fingerprint:
        raise WebapiError(KEY_REUSED, {"header": HEADER, "hours": f"{hours:g}"}, status=422)
    return response.encode()


def key_in_use() -> WebapiError:
    return WebapiError(KEY_IN_USE, {"header": HEADER, "seconds": RETRY_AFTER_SECONDS}, status=409,
                       headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def store(stored: StoredKey, bulk_uuid: str, now: float) -> None:
    """Insert the key (inside the transaction that stores its bulk, before the bulk's rows).

    Raises `KeyStoredMeanwhile` when another request has stored it, and on PostgreSQL answers 409 at
    once while another transaction is storing it (SQLite's single writer makes a duplicate wait for
    the first to commit, so it then finds the stored answer instead).
    """
    request = stored.request
    if is_postgresql():
        lock = int.from_bytes(hashlib.sha256(f"{request.caller}\n{request.key}".encode()).digest()[:8],
                              "big", signed=True)
        if not database.execute_sql("SELECT pg_try_advisory_xact_lock(%s)", (lock,)).fetchone()[0]:
            raise key_in_use()
    # An expired key no longer counts: the caller may use it again.
    _FORGET_EXPIRED.execute(caller=request.caller, key=request.key, before=now - stored.hours * HOUR)
    try:
        _INSERT.execute(caller=request.caller, key=request.key, fingerprint=request.fingerprint,
                        bulk_uuid=bulk_uuid, response=stored.response.decode(), created_at=now)
    except peewee.IntegrityError:
        raise KeyStoredMeanwhile from None  # the whole transaction rolls back: no bulk either


def purge_expired(created_before: float) -> int:
    """Forget keys stored before the time given; returns how many."""
    with write_transaction():
        return IdempotencyKey.delete().where(IdempotencyKey.created_at <= created_before).execute()
