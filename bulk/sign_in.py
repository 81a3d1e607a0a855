"""The admin sign-in (token endpoint and dashboard): Magento's lock-out, counted per client address.

Magento locks an admin account after `BULK_LOGIN_MAX_FAILURES` failed sign-ins in a row, for
`BULK_LOGIN_LOCK_MINUTES`, for everyone: six wrong passwords from anywhere locked the only admin
out. Here failures are counted per (username, client address), so a client locks out only itself
(an IPv6 /64 counts as one address: a client picks any address in it); the account-wide lock stays
as a backstop against guessing from many addresses, at `BULK_LOGIN_ACCOUNT_MAX_FAILURES`.

A failed sign-in always does the same work, whether the username is right or wrong and whether the
address is locked: both digests compared, the same rows read and one upsert each for the address
and the account (a name that is no account's counts under the empty name). So neither timing nor
the database's write pattern tells a guesser which usernames exist.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from ipaddress import IPv6Address, ip_address, ip_network

from bulk.auth import ADMIN, Caller
from bulk.db import database, is_postgresql, write_transaction
from bulk.errors import WebapiError
from bulk.models import AdminSignInFailures
from bulk.phrases import REQUIRED_FIELD, SIGN_IN_FAILED

# The address that stands for all of them: the account-wide count.
EVERY_ADDRESS = "*"
# Failures with a name that is no account's are counted under this name (never a username: it is required).
NO_ACCOUNT = ""
_ADDRESS_LENGTH = 64
# Serialises sign-ins on PostgreSQL, so concurrent failures all count (SQLite's write lock does it there).
_ADVISORY_LOCK_KEY = 4_201_174


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


@dataclass(frozen=True)
class AdminAccount:
    username: str
    password: str
    max_failures: int
    lock_seconds: float
    account_max_failures: int = 0
    _username_digest: bytes = field(init=False, repr=False)
    _password_digest: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_username_digest", _digest(self.username))
        object.__setattr__(self, "_password_digest", _digest(self.password))

    def matches(self, username: str, password: str) -> tuple[bool, bool]:
        """(right username, right password): digests of equal length compared in constant time, both always."""
        name = hmac.compare_digest(_digest(username), self._username_digest)
        secret = hmac.compare_digest(_digest(password), self._password_digest)
        return name, secret


def counted_address(address: str) -> str:
    """The address failures are counted under: an IPv4 address, an IPv6 /64, or the text (shortened)."""
    try:
        parsed = ip_address(address)
    except ValueError:
        return address[:_ADDRESS_LENGTH] or "unknown"
    if isinstance(parsed, IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


def sign_in_admin(account: AdminAccount, username: object, password: object, now: float, address: str) -> Caller:
    """Check admin credentials like Magento (401s, lock-out after repeated failures from `address`)."""
    for field_name, value in (("username", username), ("password", password)):
        if not isinstance(value, str) or not value:
            raise WebapiError(REQUIRED_FIELD, {"fieldName": field_name}, status=401)
    assert isinstance(username, str) and isinstance(password, str)
    name_matches, password_matches = account.matches(username, password)
    if not account.max_failures:
        if name_matches and password_matches:
            return ADMIN
        raise WebapiError(SIGN_IN_FAILED, status=401)
    counts = _Counts(account, account.username if name_matches else NO_ACCOUNT, counted_address(address), now)
    with write_transaction():
        if is_postgresql():
            database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_ADVISORY_LOCK_KEY,))
        rows = counts.read()
        if name_matches and password_matches:
            if counts.locked(rows):
                raise WebapiError(SIGN_IN_FAILED, status=401)  # the right password is no failure: nothing written
            counts.forget()
            return ADMIN
        counts.record_failure(rows)
    raise WebapiError(SIGN_IN_FAILED, status=401)


@dataclass(frozen=True)
class _Counts:
    """One sign-in's two counters: its address's and the account-wide one."""

    account: AdminAccount
    username: str
    address: str
    now: float

    def _limits(self) -> dict[str, int]:
        limits = {self.address: self.account.max_failures}
        if self.account.account_max_failures:
            limits[EVERY_ADDRESS] = self.account.account_max_failures
        return limits

    def read(self) -> dict[str, AdminSignInFailures]:
        rows = AdminSignInFailures.select().where(AdminSignInFailures.username == self.username,
                                                  AdminSignInFailures.address.in_(list(self._limits())))
        return {row.address: row for row in rows}

    def locked(self, rows: dict[str, AdminSignInFailures]) -> bool:
        return any(row.locked_until is not None and row.locked_until > self.now for row in rows.values())

    def forget(self) -> None:
        """A successful sign-in: the counts start again (another address's lock stays)."""
        (AdminSignInFailures.delete()
         .where(AdminSignInFailures.username == self.username,
                AdminSignInFailures.address.in_(list(self._limits())))
         .execute())

    def record_failure(self, rows: dict[str, AdminSignInFailures]) -> None:
        for address, limit in self._limits().items():
            failures, locked_until = self._after_failure(rows.get(address), limit)
            (AdminSignInFailures
             .insert(username=self.username, address=address, failures=failures, last_failure_at=self.now,
                     locked_until=locked_until)
             .on_conflict(conflict_target=[AdminSignInFailures.username, AdminSignInFailures.address],
                          update={AdminSignInFailures.failures: failures,
                                  AdminSignInFailures.last_failure_at: self.now,
                                  AdminSignInFailures.locked_until: locked_until})
             .execute())

    def _after_failure(self, row: AdminSignInFailures | None, limit: int) -> tuple[int, float | None]:
        """(failures, locked until) once this failure is counted: a lock in force is not extended; an
        expired lock, or a last failure longer ago than a lock lasts, starts the count again."""
        lock_seconds = self.account.lock_seconds
        if row is not None and row.locked_until is not None and row.locked_until > self.now:
            return row.failures + 1, row.locked_until
        recent = row is not None and row.locked_until is None and row.last_failure_at > self.now - lock_seconds
        failures = (row.failures if recent and row is not None else 0) + 1
        return failures, (self.now + lock_seconds if failures >= limit else None)


def unlock(username: str | None = None, address: str | None = None) -> int:
    """Lift sign-in locks and forget failure counts (all, or one username's / one address's); how many."""
    query = AdminSignInFailures.delete()
    if username is not None:
        query = query.where(AdminSignInFailures.username == username)
    if address is not None:
        query = query.where(AdminSignInFailures.address == counted_address(address))
    with write_transaction():
        return int(query.execute())


def sweep_failures(now: float, lock_seconds: float) -> int:
    """Forget counts that no longer matter: last failure longer ago than a lock lasts, no lock in force."""
    return int(AdminSignInFailures.delete()
               .where(AdminSignInFailures.last_failure_at < now - lock_seconds,
                      AdminSignInFailures.locked_until.is_null() | (AdminSignInFailures.locked_until <= now))
               .execute())
