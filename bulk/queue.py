"""The queue: store accepted bulks, claim open operations with a lease, record outcomes.

This is the only module that writes an operation's `status`. Every function takes `now` (epoch
seconds) from its caller, so tests and the drainer decide what time it is (`record` and
`fail_stuck` fall back to the wall clock). The transactions that give operations a final status also
stamp the bulks they finish and write their webhook events (`bulk.webhooks.outbox`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any, NamedTuple, TypeVar

import peewee

from bulk import finished_tally, idempotency, metrics
from bulk.clock import utc_datetime
from bulk.config import OPERATION_FAILED
from bulk.db import (
    Prepared,
    PreparedRows,
    Slot,
    database,
    execute_together,
    is_lock_contention,
    is_postgresql,
    list_parameter,
    one_of,
    write_transaction,
)
from bulk.handlers import ClaimedOperation, Outcome
from bulk.idempotency import StoredKey
from bulk.models import Bulk, Operation, unfinished_bulk, unpublished_bulk
from bulk.statuses import OperationStatus
from bulk.unpublished import unpublished_operations
from bulk.webhooks import outbox
from bulk.webhooks.subscriptions import NO_SUBSCRIPTIONS, Subscriptions


class NewOperation(NamedTuple):
    """One operation to store (a tuple: built for every item of every request)."""

    operation_key: int
    topic_name: str
    route_key: str
    serialized_data: str
    # The entity it changes (bulk.entity_keys): operations of a bulk with one key run in order.
    entity_key: str | None = None


@dataclass(frozen=True)
class NewBulk:
    uuid: str
    user_id: int | None
    user_type: int
    description: str
    operations: Sequence[NewOperation]
    # Kept only when forwarded calls carry the submitter's credentials (BULK_UPSTREAM_AUTH=passthrough).
    submitter_authorization: str | None = None
    # The submit's Idempotency-Key, stored with the bulk (bulk.idempotency).
    idempotency_key: StoredKey | None = None
    # When every operation's route is handled by a `no_op` handler (`accept` mode): the success
    # message each completes with. They are stored complete, and the bulk waits to be published
    # (`publish_known`); until then readers show them open (`bulk.unpublished`).
    outcome_message: str | None = None


_INSERT_BULK = Prepared(lambda: Bulk.insert({
    Bulk.uuid: Slot("uuid"), Bulk.user_id: Slot("user_id"), Bulk.user_type: Slot("user_type"),
    Bulk.description: Slot("description"), Bulk.operation_count: Slot("operation_count"),
    Bulk.start_time: Slot("start_time", Bulk.start_time),
    Bulk.submitter_authorization: Slot("submitter_authorization"), Bulk.outcome_known: Slot("outcome_known")})
    .returning())
_OPERATION_COLUMNS = ("bulk_uuid", "operation_key", "topic_name", "route_key", "serialized_data", "status",
                      "result_message", "attempts", "entity_key")
_INSERT_OPERATIONS = PreparedRows(Operation, _OPERATION_COLUMNS)


def enqueue(bulk: NewBulk, now: float, within: Callable[[int], None] | None = None) -> None:
    """Store a bulk and all its operations in one transaction: whole or not at all.

    `within(operation count)` runs first in the same transaction: the request's own bookkeeping
    (its OAuth nonce, rate counters), committed with the bulk or refused (raising) with it.
    With `outcome_message` the operations are stored complete with it, not open (see `NewBulk`).
    """
    known = bulk.outcome_message is not None and bool(bulk.operations)
    status = int(OperationStatus.COMPLETE if known else OperationStatus.OPEN)
    message = bulk.outcome_message
    with write_transaction():
        if bulk.idempotency_key is not None:
            # First: a duplicate that lost the race fails before writing anything else.
            idempotency.store(bulk.idempotency_key, bulk.uuid, now)
        if within is not None:
            within(len(bulk.operations))
        _INSERT_BULK.execute(uuid=bulk.uuid, user_id=bulk.user_id, user_type=bulk.user_type,
                             description=bulk.description, operation_count=len(bulk.operations),
                             start_time=utc_datetime(now),
                             submitter_authorization=bulk.submitter_authorization, outcome_known=known)
        if bulk.operations:
            _INSERT_OPERATIONS.insert([
                (bulk.uuid, op.operation_key, op.topic_name, op.route_key, op.serialized_data, status, message, 0,
                 op.entity_key)
                for op in bulk.operations])


def _open(operation: Any = Operation) -> peewee.Expression:
    """`status = 4`, written as a literal: SQLite uses a partial index (`WHERE status = 4`) only for
    a query whose own condition names the same constant, never for a bound parameter."""
    return operation.status == peewee.SQL(str(int(OperationStatus.OPEN)))


def _still_open() -> peewee.Expression:
    """`status = 4` for lookups by id (`_id_among`), written so that no index of open operations
    matches it on either engine: such a lookup goes by the primary key. (With `_open()`, a
    PostgreSQL planner whose statistics predate a backlog read the whole open-by-entity index to
    find the ids of one claim: 70-90 ms a statement at 100,000 open operations.)"""
    return peewee.Cast(Operation.status, "INTEGER") == peewee.SQL(str(int(OperationStatus.OPEN)))


def _open_in_bulk_order(*columns: Any) -> peewee.ModelSelect[Operation]:
    """`columns` of open operations in bulk order, oldest first: a walk of the open-by-bulk index
    (from the oldest unfinished bulk on PostgreSQL; callers add their conditions and a limit)."""
    return Operation.select(*columns).where(*_open_from_oldest_unfinished()).order_by(Operation.bulk, Operation.id)


def _open_from_oldest_unfinished() -> list[peewee.Expression]:
    """The conditions of a walk of the open operations: on PostgreSQL from the oldest unfinished bulk
    (`_from_oldest_unfinished_bulk`). SQLite removes a finished operation's entries at once, so there
    the bound only cost its subquery (0.96-0.98x drainer-on req/s, bench/checkouts_ab.py)."""
    return [_open(), _from_oldest_unfinished_bulk()] if is_postgresql() else [_open()]


def _from_oldest_unfinished_bulk() -> peewee.Expression:
    """Operations of the oldest bulk that has open ones and of later bulks: where a walk of the
    open-by-bulk index in bulk order begins on PostgreSQL, found in the small index of unfinished
    bulks.

    On PostgreSQL an operation's entry stays in the open-by-bulk index after it finishes, dead,
    until VACUUM removes it, and a walk from the index's start steps over every one: a drainer's
    batch cost grew with what finished since the last VACUUM (in-process, 1.0 to 1.5 ms of server
    CPU per 100 operations over 300,000 finished; with this bound about 0.95 throughout). It is exact,
    not a guess: every open operation's bulk is unfinished (the operations and the bulk's
    `finished_at` change in one transaction, and one statement reads both in one snapshot), and
    with no unfinished bulk the bound is NULL, which matches nothing: there is no open operation.
    A bulk left unstamped (none should be) only makes the walk start earlier.
    """
    return Operation.bulk >= _oldest_unfinished_bulk()


def _oldest_unfinished_bulk() -> peewee.ModelSelect[Bulk]:
    return (Bulk.select(Bulk.uuid)
            .where(unfinished_bulk())
            .order_by(Bulk.uuid).limit(1))


# --- Claiming: a plan read outside the write lock, then one short UPDATE of the planned rows. ---
#
# Fairness: each claim takes turns through the bulks that have open operations (in bulk uuid
# order, up to BULKS_PER_CLAIM of them, continuing after the last bulk of the previous claim,
# `Turn`) and gives each of them an equal share of the batch, oldest operations first. A bulk of
# 100,000 operations therefore delays a small bulk submitted after it by one claim at most, instead
# of until it has drained; per-entity order is untouched (only the first open operation of an
# entity is ever claimable). What the turn's bulks cannot use goes to the oldest claimable
# operations, so a claim is only short when nothing more is claimable near the queue's head.

# Bulks one claim visits at most: the turn goes on from there with the next claim. Bounds the cost
# of a claim when many bulks are open, and what a small bulk waits: (open bulks / this) claims.
BULKS_PER_CLAIM = 8


@dataclass
class Turn:
    """Where a drainer's turn through the bulks stands: the last bulk its previous claim visited."""

    after: str = ""
    # Whether its last plan held every claimable operation: only then is the whole backlog read
    # first (`_whole_backlog`). Behind a deep queue that read is skipped: without statistics for a
    # new backlog, PostgreSQL reads every open operation for it (36 ms a claim at 100,000 deep).
    caught_up: bool = True


def _bulks_with_open_operations() -> peewee.Node:
    """Up to `limit` bulks with open operations whose uuid sorts after `after`, in uuid order.

    A recursive skip through the open-operations-by-bulk index: one index probe per bulk found,
    however many operations each has. On PostgreSQL the first probe starts no earlier than the
    oldest unfinished bulk (`_from_oldest_unfinished_bulk`: a turn begins again from the start).
    """
    table = Operation._meta.table_name
    not_before_oldest = ((peewee.SQL(" AND o.bulk_uuid >= "), peewee.NodeList((_oldest_unfinished_bulk(),),
                                                                             parens=True))
                         if is_postgresql() else ())
    return peewee.NodeList((
        peewee.SQL(f'WITH RECURSIVE turn(bulk_uuid, position) AS ('
                   f'SELECT (SELECT MIN(o.bulk_uuid) FROM "{table}" AS o WHERE o.status = {int(OperationStatus.OPEN)}'
                   f' AND o.bulk_uuid > '), Slot("after"), *not_before_oldest, peewee.SQL('), 1'
                   f' UNION ALL SELECT (SELECT MIN(o.bulk_uuid) FROM "{table}" AS o'
                   f' WHERE o.status = {int(OperationStatus.OPEN)} AND o.bulk_uuid > turn.bulk_uuid), turn.position + 1'
                   f' FROM turn WHERE turn.bulk_uuid IS NOT NULL AND turn.position < '), Slot("limit"),
        peewee.SQL(') SELECT bulk_uuid FROM turn WHERE bulk_uuid IS NOT NULL')), glue="")


_BULKS_WITH_OPEN_OPERATIONS = Prepared(_bulks_with_open_operations)


def _claimable_among(available: peewee.ModelSelect[Operation], order: tuple[str, ...]) -> peewee.Query:
    """The first `take` rows of `available` (id, entity_key, ...: open and due, at most `scan` of
    them, in `order`) with no earlier open operation for their entity."""
    oldest = available.alias("oldest")
    earlier = Operation.alias("earlier")
    blocking = (earlier.select(peewee.SQL("1"))
                .where(earlier.entity_key == oldest.c.entity_key, _open(earlier), earlier.id < oldest.c.id))
    return (peewee.Select([oldest], [oldest.c.id, oldest.c.entity_key])
            .where(oldest.c.entity_key.is_null() | ~peewee.fn.EXISTS(blocking))
            .order_by(*(getattr(oldest.c, column) for column in order)).limit(Slot("take")))


def _due() -> peewee.Expression:
    return Operation.available_at.is_null() | (Operation.available_at <= Slot("now"))


def _oldest_claimable_of_bulk() -> peewee.Query:
    """The first `take` claimable operations of one bulk after id `after_id`, among its `scan` oldest
    available ones there (not held, not waiting for a retry): a bulk whose operations wait behind an
    earlier bulk's for the same SKUs (a feed sent again) is passed over cheaply until they are done."""
    available = (Operation.select(Operation.id, Operation.entity_key)
                 .where(Operation.bulk == Slot("bulk"), _open(), Operation.id > Slot("after_id"), _due())
                 .order_by(Operation.id).limit(Slot("scan")))
    return _claimable_among(available, ("id",))


_OLDEST_CLAIMABLE_OF_BULK = Prepared(_oldest_claimable_of_bulk)


def _oldest_claimable() -> peewee.Query:
    """The first `take` claimable operations of all, oldest bulk first, among the `scan` oldest
    available ones (one ordered walk of the open-operations-by-bulk index, however deep the queue)."""
    available = (_open_in_bulk_order(Operation.id, Operation.entity_key, Operation.bulk)
                 .where(_due()).limit(Slot("scan")))
    return _claimable_among(available, ("bulk_uuid", "id"))


_OLDEST_CLAIMABLE = Prepared(_oldest_claimable)


# A claim's plan: (id, entity key) of the operations it means to take.
Plan = list[tuple[int, str | None]]


def plan_claim(limit: int, now: float, turn: Turn | None = None, chain: bool = False) -> Plan:
    """Which operations a claim of up to `limit` should take, fairly across bulks (a read).

    Empty when nothing is claimable, so an idle or blocked queue never takes the write lock.
    With `chain`, a claim that has room also takes the operations that wait only behind operations
    it takes (see `_add_chains`). When the whole backlog fits in `limit`, that is the plan
    (`_whole_backlog`), read first while the drainer keeps up (`Turn.caught_up`).
    """
    turn = turn if turn is not None else Turn()
    if turn.caught_up:
        backlog = _OPEN_AND_DUE.execute(scan=limit + 1, now=now).fetchall()
        if len(backlog) <= limit:
            return _whole_backlog(backlog, chain)
    ids = _fair_plan(limit, now, turn, chain)
    turn.caught_up = len(ids) < limit
    return ids


def _fair_plan(limit: int, now: float, turn: Turn, chain: bool) -> Plan:
    """Shares of the turn's bulks, then the oldest claimable operations, then chains."""
    most = min(limit, BULKS_PER_CLAIM)
    bulks = _open_bulks(turn.after, most)
    if len(bulks) < most and turn.after:
        # Round the turn: the bulks from the start, up to the one it began after.
        bulks += [bulk for bulk in _open_bulks("", most - len(bulks)) if bulk <= turn.after]
    if not bulks:
        return []
    turn.after = bulks[-1]
    ids = _shares(bulks, limit, now)
    if len(ids) < limit:
        # Work-conserving: what the turn's bulks could not use goes to the oldest claimable
        # operations of all (bulk uuids sort by submission time). Without this a claim stays short
        # when bulks are small (a turn visits BULKS_PER_CLAIM of them), and comes back empty when a
        # feed is sent again: every bulk's operations then wait behind the previous bulk's for the
        # same SKUs, and the turn finds only waiting bulks until it comes round to the oldest.
        taken = {operation_id for operation_id, _ in ids}
        # How far past waiting operations to look. With chains, those waiting behind the claim's
        # own operations are taken next (below), so a shallow look does; without, deeper.
        scan = limit + 256 if chain else limit * 8 + 256
        oldest = _OLDEST_CLAIMABLE.execute(scan=scan, take=limit, now=now).fetchall()
        ids += [(row[0], row[1]) for row in oldest if row[0] not in taken][:limit - len(ids)]
    if chain:
        _add_chains(ids, limit, now)
    return ids


# At most `scan` open and due operations, in the open-by-bulk index's order: the whole backlog when
# fewer come back. (SQLite walks that index and stops after `scan`; see `Turn.caught_up` for PostgreSQL.)
_OPEN_AND_DUE = Prepared(lambda: _open_in_bulk_order(Operation.id, Operation.entity_key).where(_due())
                         .limit(Slot("scan")))


def _whole_backlog(rows: list[tuple[int, str | None]], chain: bool) -> Plan:
    """The plan of a claim with room for every open and due operation: all of them in id order
    (without `chain`, only each entity's first), with no turn to take and no scans to make.

    Fairness needs no turn when nothing is left out, and taken in id order with chains, each
    entity's operations are already in the order they must run (an entity's earlier open
    operation has a smaller id, so it is in the plan too, or held, which `select_planned` checks).
    This is the claim of a drainer that keeps up, and it used to cost a query per chain layer.
    """
    rows.sort()
    return _takeable(rows, chain, entity_at=1)


_Row = TypeVar("_Row", bound=tuple)


def _takeable(rows: list[_Row], chain: bool, entity_at: int, due_at: int | None = None) -> list[_Row]:
    """The rows of a backlog (open operations in id order, their entity key at `entity_at` and, if
    `due_at`, whether they are due) a claim may take: those due whose entity has no earlier open
    operation left out (not due, or, without `chain`, not its entity's first)."""
    taken: list[_Row] = []
    left_out: set[str] = set()
    for row in rows:
        entity = row[entity_at]
        due = True if due_at is None else row[due_at]
        if entity is None:
            if due:
                taken.append(row)
        elif entity not in left_out:
            if due:
                taken.append(row)
            if not due or not chain:
                left_out.add(entity)
    return taken


# At most `scan` open operations, due or not, as `ClaimedOperation`s without payloads and then
# whether each is due; in the open-by-bulk index's order. `select_whole_backlog` reads it.
# On PostgreSQL the rows are locked (FOR UPDATE), as a planned claim's are.
def _open_backlog() -> peewee.Query:
    query = _open_in_bulk_order(Operation.id, Operation.bulk, Operation.operation_key, Operation.topic_name,
                                Operation.route_key, peewee.SQL("NULL"), Operation.attempts + 1, Operation.entity_key,
                                _due()).limit(Slot("scan"))
    return query.for_update() if is_postgresql() else query


_OPEN_BACKLOG = Prepared(_open_backlog)
# Whether any operation is open and due: a drainer that finds none takes no write lock. Looked for
# from the newest end of the open-by-bulk index: on PostgreSQL that index keeps an entry for every
# operation finished since the last vacuum (thousands under load), all at its oldest end (bulk uuids
# sort by submission time), and a walk from there reads each of their pages before the first open one.
_ANY_DUE = Prepared(lambda: Operation.select(peewee.SQL("1")).where(_open(), _due())
                    .order_by(Operation.bulk.desc(), Operation.id.desc()).limit(1))


def any_due(now: float) -> bool:
    """Whether some operation is open and due (a read, without the write lock)."""
    return _ANY_DUE.execute(now=now).fetchone() is not None


def select_whole_backlog(limit: int, now: float, chain: bool = False,
                         wants_payload: Callable[[str], bool] | None = None) -> list[ClaimedOperation] | None:
    """Under SQLite's write lock or PostgreSQL's claim turn (`take_claim_turn`): every claimable
    operation, in id order, when every open operation fits in `limit`; None when they do not (a
    claim then plans fairly, `plan_claim`).

    One read is the whole claim of a drainer that keeps up. No other claim can change what it
    reads (on PostgreSQL the rows are also locked, as `select_planned` locks them, against any
    other writer), so it needs no plan made before and no checks after (`select_planned`): an
    operation is taken when it is due and no earlier open operation of its entity is left out
    (held, waiting for a retry, or, without `chain`, not its entity's first). On PostgreSQL this
    one statement replaced a plan, a locking read of the planned rows and a read of their
    entities' earlier open operations.
    `wants_payload` as `select_planned`'s.
    """
    rows = _OPEN_BACKLOG.execute(scan=limit + 1, now=now).fetchall()
    if len(rows) > limit:
        return None
    rows.sort()
    taken = [ClaimedOperation(*row[:-1]) for row in _takeable(rows, chain, entity_at=7, due_at=8)]
    return _with_payloads(taken, _wanting_payloads(taken, wants_payload))


def _successors() -> peewee.Query:
    """For each operation of `ids` that has an entity, the next open operation of that entity, if due."""
    later = Operation.alias("later")
    layer = Operation.alias("layer")
    next_of_entity = (later.select(peewee.fn.MIN(later.id))
                      .where(later.entity_key == layer.entity_key, _open(later), later.id > layer.id))
    nexts = (layer.select(next_of_entity.alias("next_id"))
             .where(one_of(layer.id, Slot("ids")), layer.entity_key.is_null(False))).alias("nexts")
    return (Operation.select(Operation.id, Operation.entity_key).join(nexts, on=(Operation.id == nexts.c.next_id))
            .where(_due()).order_by(Operation.id))


_SUCCESSORS = Prepared(_successors)


def _add_chains(ids: Plan, limit: int, now: float) -> None:
    """Fill the claim's room with the operations that wait only behind operations it takes.

    A feed sent again queues every bulk's SKUs behind the previous bulk's: one operation per SKU is
    claimable at a time, so each claim took one bulk's worth, however large the batch, and under a
    steady load the drainer fell behind. One drainer running a SKU's next operations right after
    its first, in id order, keeps their order; so each round adds the next open operation of every
    entity the previous round added (stopping at one held or waiting for a retry).
    """
    layer = ids
    while layer and len(ids) < limit:
        rows = _SUCCESSORS.execute(ids=_ids_parameter([operation_id for operation_id, _ in layer]), now=now)
        layer = [(row[0], row[1]) for row in rows.fetchall()]
        layer = layer[:limit - len(ids)]
        ids += layer


def _open_bulks(after: str, limit: int) -> list[str]:
    return [row[0] for row in _BULKS_WITH_OPEN_OPERATIONS.execute(after=after, limit=limit).fetchall()]


def _shares(bulks: list[str], limit: int, now: float) -> Plan:
    """Up to `limit` claimable ids from `bulks` in equal shares, oldest first in each; what a bulk
    cannot use (held, waiting, small) goes to those that used all of theirs."""
    ids: Plan = []
    taken_after = dict.fromkeys(bulks, 0)
    while taken_after and len(ids) < limit:
        share = -(-(limit - len(ids)) // len(taken_after))
        for bulk_uuid, after_id in list(taken_after.items()):
            take = min(share, limit - len(ids))
            rows = _OLDEST_CLAIMABLE_OF_BULK.execute(bulk=bulk_uuid, after_id=after_id, scan=take * 8 + 256,
                                                     take=take, now=now).fetchall()
            ids.extend((row[0], row[1]) for row in rows)
            if len(rows) < take or take == 0:
                del taken_after[bulk_uuid]
            else:
                taken_after[bulk_uuid] = rows[-1][0]
    return ids


def _due_of_plan(*columns: peewee.Node) -> peewee.Query:
    """`columns` of the planned operations (`ids`) still open and due (not held by a live lease nor
    waiting for a delayed retry). On PostgreSQL they are locked until the claiming transaction
    ends, and those another claim has locked meanwhile are skipped instead of waited for."""
    query = Operation.select(*columns).where(_id_among(), _still_open(), _due())
    return query.for_update(skip_locked=True) if is_postgresql() else query


# As `ClaimedOperation`s of their next try.
_DUE_OF_PLAN = Prepared(lambda: _due_of_plan(
    Operation.id, Operation.bulk, Operation.operation_key, Operation.topic_name, Operation.route_key,
    Operation.serialized_data, Operation.attempts + 1, Operation.entity_key))
# The same without payloads (None in their place), which `_with_payloads` reads where they are wanted:
# reading them (the biggest column) was most of a no-op claim's cost under the write lock.
_DUE_OF_PLAN_UNLOADED = Prepared(lambda: _due_of_plan(
    Operation.id, Operation.bulk, Operation.operation_key, Operation.topic_name, Operation.route_key,
    peewee.SQL("NULL"), Operation.attempts + 1, Operation.entity_key))
_PAYLOADS = Prepared(lambda: Operation.select(Operation.id, Operation.serialized_data).where(_id_among()))
# As (id, attempts + 1) only: for operations whose row was already read (`select_planned`'s `known`),
# so the write lock is not held while their payloads are read again.
_DUE_IDS_OF_PLAN = Prepared(lambda: _due_of_plan(Operation.id, Operation.attempts + 1))
# The open operations of the plan's entities (`keys`) up to its last id (`up_to`), to check that
# each planned operation is its entity's next (`_in_entity_order`).
_OPEN_OF_ENTITIES = Prepared(lambda: Operation.select(Operation.entity_key, Operation.id).where(
    one_of(Operation.entity_key, Slot("keys")), _open(), Operation.id <= Slot("up_to")))


# A try of an operation: counted, and its first start kept (Magento's stuck-operation rule; later
# tries keep it). Written by `hold`, or with the outcome for operations run in the transaction that
# selected them (`record`/`defer` with no token).
_THIS_TRY: dict[peewee.Field, Any] = {
    Operation.attempts: Operation.attempts + 1,
    Operation.started_at: peewee.fn.COALESCE(Operation.started_at, Slot("started_at", Operation.started_at)),
}


def _hold_statement() -> peewee.Query:
    return (Operation
            .update({Operation.claim_token: Slot("token"), Operation.claimed_by: Slot("holder"),
                     Operation.available_at: Slot("expires"), **_THIS_TRY})
            .where(_id_among(), _still_open()))


_HOLD = Prepared(_hold_statement)


# PostgreSQL advisory lock class of the drainers' claim turn (`take_claim_turn`); bulk.webhooks.outbox
# uses 13 for its per-bulk locks.
CLAIM_LOCK_CLASS = 14
_TAKE_CLAIM_TURN = Prepared(lambda: peewee.Select(columns=[peewee.fn.pg_try_advisory_xact_lock(CLAIM_LOCK_CLASS, 0)]))
_WAIT_FOR_CLAIM_TURN = Prepared(lambda: peewee.Select(columns=[peewee.fn.pg_advisory_xact_lock(CLAIM_LOCK_CLASS, 0)]))
# Sent with the turn, for the rest of the claim's transaction. The claim's reads walk the indexes of
# open operations (`status = 4`), which keep an entry for every operation finished since the table
# was last vacuumed: thousands under a steady load, more every batch. A plain index scan marks the
# entries of dead rows it meets, so later scans skip them without reading the table; a bitmap scan
# never does, and visits the table page of every one of them, each time. The planner, with few open
# operations in its statistics, chose bitmap scans: after 10,000 operations drained, the whole-backlog
# read took 644 pages and the outcome write's search 544, growing until the next vacuum; without
# bitmap scans 188 and 89 (tests/test_postgres_finished_entries.py).
# Nor table scans: the lookups by id (`_still_open`) then go by the primary key even where the
# planner, its statistics older than the backlog, guesses a few thousand rows cheaper to scan
# (a drain with a handler that runs, 6,000 deep, interleaved in-process with bench/scale.py's
# `depth_rate`: 2,480-2,601 operations a second against 1,914-2,104 with the partial index it
# chose before).
# The batch's handlers (the store's lookups by key) and its outcome writes (by id) run after it, in
# the same transaction: their statements are index lookups either way.
_INDEX_SCANS_ONLY = Prepared(lambda: peewee.SQL("SET LOCAL enable_bitmapscan = off; SET LOCAL enable_seqscan = off"))


def take_claim_turn() -> bool:
    """PostgreSQL: make this transaction the one that plans and selects a claim (until it ends),
    waiting in line while another drainer's is; False when the wait outlasts the connection's
    `lock_timeout` (BULK_DB_BUSY_TIMEOUT). SQLite: always True, its write lock already serialises them.

    Without a turn, drainers of several processes planned the same oldest operations at once: one
    locked them, the others found them locked, planned again and found them locked again, spending
    the database's CPU on plans that took nothing while the one claim that could run waited for it.
    A refused drainer used to give up and sleep a poll interval while the holder took the turn
    again right after its commit, so under a backlog one process drained alone (and in forward
    mode the others idled): PostgreSQL hands a released lock to those waiting for it in order, so
    waiting makes drainers take turns, one claim each.
    With the turn, the transaction's statements are planned without bitmap or table scans
    (`_INDEX_SCANS_ONLY`).
    """
    if not is_postgresql():
        return True
    if execute_together((_INDEX_SCANS_ONLY, _TAKE_CLAIM_TURN)).fetchone()[0]:
        return True  # free: no savepoint, one round trip (the usual case with one drainer)
    try:
        # A savepoint: a wait that times out aborts only it, and the claim's transaction goes on.
        with database.atomic():
            _WAIT_FOR_CLAIM_TURN.execute()
    except peewee.OperationalError as error:
        if not is_lock_contention(error):
            raise
        return False
    return True


def claim_planned(token: str, planned: Plan, limit: int, lease_seconds: float, now: float,
                  holder: str | None = None, turn: Turn | None = None, chain: bool = False) -> list[ClaimedOperation]:
    """Take what is still claimable of the `planned` operations for `token` (`select_planned`, then
    `hold`); call inside a write transaction."""
    claimed = select_planned(planned, limit, now, turn, chain)
    if claimed:
        hold(token, [operation.id for operation in claimed], lease_seconds, now, holder)
    return claimed


def select_planned(planned: Plan, limit: int, now: float, turn: Turn | None = None,
                   chain: bool = False, known: Mapping[int, ClaimedOperation] | None = None,
                   wants_payload: Callable[[str], bool] | None = None) -> list[ClaimedOperation]:
    """What may be taken of the `planned` operations, in id order, without writing; call inside a
    write transaction, whose lock (SQLite) or row locks (PostgreSQL) keep them from other claimers
    until it ends. Operations run within it need no claim of their own (`record(None, ...)`); `hold`
    claims the others.

    The plan was read without the lock. When another claimer took all of it meanwhile, the claim
    is planned again under the lock, where what it reads is current, so a claim only comes back
    empty when nothing is claimable (PostgreSQL: or held by a claim still in progress).
    `known`: planned operations already read (`read_due`), returned as they were read, with their
    tries counted again; only their ids and tries are read here.
    `wants_payload`: whether an operation of this route key needs its payload (`serialized_data`);
    the others come without it. Default: all do.
    """
    selected = _select_ids(planned, now, known, wants_payload)
    if not selected:
        planned = plan_claim(limit, now, turn, chain)
        selected = _select_ids(planned, now, None, wants_payload) if planned else []
    return selected


def hold(token: str, operation_ids: list[int], lease_seconds: float, now: float, holder: str | None = None) -> None:
    """Claim `operation_ids` (taken by `select_planned` in this transaction) for `token` until the lease
    ends: they run after it commits. Counts their try and their first start."""
    _HOLD.execute(token=token, holder=holder, expires=now + lease_seconds, started_at=utc_datetime(now),
                  ids=_ids_parameter(operation_ids))


def read_due(planned: Plan, now: float) -> list[ClaimedOperation]:
    """The planned operations still open and due, as a read (SQLite, outside a transaction: no lock);
    what a claim then gets of them is `select_planned`'s answer."""
    return _read_due([operation_id for operation_id, _ in planned], now)


def _read_due(ids: list[int], now: float, wants_payload: Callable[[str], bool] | None = None
              ) -> list[ClaimedOperation]:
    if wants_payload is None:
        return [ClaimedOperation(*row) for row in _DUE_OF_PLAN.execute(ids=_ids_parameter(ids), now=now).fetchall()]
    unloaded = [ClaimedOperation(*row)
                for row in _DUE_OF_PLAN_UNLOADED.execute(ids=_ids_parameter(ids), now=now).fetchall()]
    return _with_payloads(unloaded, _wanting_payloads(unloaded, wants_payload))


def _wanting_payloads(operations: list[ClaimedOperation], wants_payload: Callable[[str], bool] | None) -> list[int]:
    """The ids of `operations` whose payloads are wanted (all when `wants_payload` is None), asked
    once per route: a batch is mostly one route, and in `accept` mode no payload is wanted at all."""
    if wants_payload is None:
        return [operation.id for operation in operations]
    wanted = {key for key in {operation.route_key for operation in operations} if wants_payload(key)}
    return [operation.id for operation in operations if operation.route_key in wanted] if wanted else []


def _with_payloads(operations: list[ClaimedOperation], wanted: list[int]) -> list[ClaimedOperation]:
    """`operations` with the payloads of those in `wanted` read."""
    if not wanted:
        return operations
    payloads = dict(_PAYLOADS.execute(ids=_ids_parameter(wanted)).fetchall())
    return [operation._replace(serialized_data=payloads[operation.id]) if operation.id in payloads else operation
            for operation in operations]


def _select_ids(planned: Plan, now: float, known: Mapping[int, ClaimedOperation] | None = None,
                wants_payload: Callable[[str], bool] | None = None) -> list[ClaimedOperation]:
    due = _due_rows([op_id for op_id, _ in planned], now, known or {}, wants_payload)
    keys = sorted({entity for operation_id, entity in planned if entity is not None and operation_id in due})
    open_of_entities: list[tuple[str, int]] = []
    if keys:
        open_of_entities = _OPEN_OF_ENTITIES.execute(keys=list_parameter(keys),
                                                      up_to=max(op_id for op_id, _ in planned)).fetchall()
    return [due[operation_id] for operation_id in _in_entity_order(planned, set(due), open_of_entities)]


def _due_rows(ids: list[int], now: float, known: Mapping[int, ClaimedOperation],
              wants_payload: Callable[[str], bool] | None = None) -> dict[int, ClaimedOperation]:
    """The operations of `ids` still open and due, by id: those in `known` as read there (tries
    from now), the others read in full (payloads where `wants_payload`)."""
    if not known:
        return {operation.id: operation for operation in _read_due(ids, now, wants_payload)}
    due: dict[int, ClaimedOperation] = {}
    unread: list[int] = []
    for operation_id, attempts in _DUE_IDS_OF_PLAN.execute(ids=_ids_parameter(ids), now=now):
        operation = known.get(operation_id)
        if operation is None:
            unread.append(operation_id)
        else:
            due[operation_id] = operation if operation.attempts == attempts else operation._replace(attempts=attempts)
    if unread:
        due.update(_due_rows(unread, now, {}, wants_payload))
    return due


def _in_entity_order(planned: Plan, due: set[int], open_of_entities: list[tuple[str, int]]) -> list[int]:
    """The planned ids that may be taken: due, and each its entity's next open operation or the
    next after planned ones (a chain).

    So operations on one SKU or customer run one at a time, in submission order, retries included,
    across bulks too (a create and a later update never race, Magento issue #19843), and two
    drainers never hold the same entity's rows at once. A chain stops at the first planned
    operation that is no longer due (taken by another claimer since the plan was read, waiting for
    a retry) or no longer its entity's next (another operation of the entity was finished or opened
    again meanwhile): the rest waits for a later claim.
    """
    if len(due) == len(planned) and {operation_id for _, operation_id in open_of_entities} == \
            {operation_id for operation_id, entity in planned if entity is not None}:
        # The usual case, checked at C speed: every planned operation is due, and the open operations
        # of their entities (up to the last planned) are exactly the planned ones, so each is its
        # entity's next or follows planned ones: all of them, in id order.
        return sorted(due)
    taken = [operation_id for operation_id, entity in planned if entity is None and operation_id in due]
    planned_of: dict[str, list[int]] = {}
    for operation_id, entity in planned:
        if entity is not None:
            planned_of.setdefault(entity, []).append(operation_id)
    open_of: dict[str, list[int]] = {}
    for entity, operation_id in open_of_entities:
        open_of.setdefault(entity, []).append(operation_id)
    for entity, ids in planned_of.items():
        for mine, next_open in zip(sorted(ids), sorted(open_of.get(entity, ())), strict=False):
            if mine != next_open or mine not in due:
                break
            taken.append(mine)
    return sorted(taken)


def claim(token: str, limit: int, lease_seconds: float, now: float,
          holder: str | None = None, turn: Turn | None = None) -> list[ClaimedOperation]:
    """Atomically take up to `limit` claimable operations for `token`: oldest first within each bulk,
    in turns across bulks (see `plan_claim`)."""
    planned = plan_claim(limit, now, turn)
    if not planned:
        return []
    with write_transaction():
        return claim_planned(token, planned, limit, lease_seconds, now, holder, turn)


def _same_write(outcome: Outcome) -> tuple:
    return (outcome.status, outcome.error_code, outcome.result_message or "",
            outcome.result_serialized_data or "")


def _outcome_values(complete: bool) -> dict[peewee.Field, Any]:
    """What recording an outcome writes (the outcome's columns as slots; the queue columns cleared)."""
    values: dict[peewee.Field, Any] = {
        Operation.status: Slot("status"),
        Operation.error_code: Slot("error_code"),
        Operation.result_message: Slot("result_message"),
        Operation.result_serialized_data: Slot("result_serialized_data"),
        Operation.claim_token: None,
        Operation.claimed_by: None,
        Operation.available_at: None,
        Operation.finished_at: Slot("finished_at", Operation.finished_at),
    }
    if complete:
        # Magento clears the payload of a successful operation and keeps a failed one's.
        values[Operation.serialized_data] = None
    return values


def _record_statement(complete: bool, claimed: bool) -> peewee.Query:
    values = _outcome_values(complete)
    if claimed:
        # A claim token is only ever set on open operations and cleared with any status change, so
        # "held by this token" needs no status test (which would steer PostgreSQL's planner wrong).
        return Operation.update(values).where(_id_among(), Operation.claim_token == Slot("token"))
    return Operation.update({**values, **_THIS_TRY}).where(_id_among(), _still_open())


_RECORD_COMPLETE = Prepared(lambda: _record_statement(complete=True, claimed=True))
_RECORD_FAILED = Prepared(lambda: _record_statement(complete=False, claimed=True))
_RECORD_COMPLETE_SELECTED = Prepared(lambda: _record_statement(complete=True, claimed=False))
_RECORD_FAILED_SELECTED = Prepared(lambda: _record_statement(complete=False, claimed=False))


def record(token: str | None, outcomes: Iterable[Outcome], now: float | None = None,
           subscriptions: Subscriptions = NO_SUBSCRIPTIONS, completed: Mapping[str, list[int]] | None = None,
           bulk_uuids: Collection[str] | None = None) -> int:
    """Write outcomes for operations still held by `token`; returns how many rows changed.

    A drainer whose lease expired and was re-claimed by another no longer matches the token,
    so its late write is dropped instead of overwriting the newer holder's result (fencing).
    `token` None: operations selected and run in this same transaction (`select_planned`), never
    claimed; their try and first start are counted here.
    `completed`: more operations that completed with no result, their ids by success message (no
    outcome object each: `bulk.handlers.no_op`). `bulk_uuids`: their bulks, when the caller knows them.
    Bulks this finishes get `finished_at` = `now` (default: the wall clock) and, with `subscriptions`,
    their webhook events, in the same transaction; the operations get it as their finish time, and
    the rows changed are counted in `now`'s minute of `bulk.finished_tally`.
    """
    ordered = sorted(outcomes, key=_same_write)
    # Identical outcomes (the usual case) go out as one UPDATE per group.
    groups = [(first, [outcome.operation_id for outcome in (first, *rest)])
              for _, (first, *rest) in groupby(ordered, key=_same_write)]
    # (An outcome as the group's template: its own operation id is not used.)
    groups += [(Outcome(0, OperationStatus.COMPLETE, message), ids)
               for message, ids in (completed or {}).items() if ids]
    now = time.time() if now is None else now
    finished_at = utc_datetime(now)
    finished: Counter[int] = Counter()
    with write_transaction():
        failing = _failures_held(token, ordered, subscriptions)
        for first, ids in groups:
            complete = first.status == OperationStatus.COMPLETE
            if token is None:
                statement = _RECORD_COMPLETE_SELECTED if complete else _RECORD_FAILED_SELECTED
            else:
                statement = _RECORD_COMPLETE if complete else _RECORD_FAILED
            cursor = statement.execute(
                status=int(first.status), error_code=first.error_code, result_message=first.result_message,
                result_serialized_data=first.result_serialized_data, token=token, finished_at=finished_at,
                started_at=finished_at, ids=_ids_parameter(ids))
            finished[int(first.status)] += cursor.rowcount
        _after_finishing([operation_id for _, ids in groups for operation_id in ids], finished, now, subscriptions,
                         failing, bulk_uuids)
    return finished.total()


def _after_finishing(operation_ids: list[int], by_status: Mapping[int, int], now: float,
                     subscriptions: Subscriptions, failed: Collection[int] = (),
                     bulk_uuids: Collection[str] | None = None) -> None:
    """What a transaction that gives operations their final status writes besides the statuses: the
    bulks it finishes, stamped and announced (`outbox.enqueue_finished`), and the dashboard's count
    of finishes (`finished_tally.add`, `by_status`: how many rows got each status)."""
    outbox.enqueue_finished(operation_ids, now, subscriptions, failed, bulk_uuids)
    finished_tally.add(by_status, now)


# --- Completing open operations in place: `no_op` routes only (`accept` mode). ---
#
# A drainer that keeps up in `accept` mode read every open operation into Python only to write
# each of them complete: on SQLite that read was about a third of what a batch held the write
# lock for (in-process, batches of 300). Behind a deeper backlog it planned fair turns through
# the bulks and chains of each entity's operations, which cost far more per operation than the
# write, so it fell further behind (1000-item submits). When the oldest open operations, a batch
# of them in bulk order, are of `no_op` routes and due, one UPDATE per success message writes them
# complete and returns only what the outbox and the log need. Nothing is run, so there is nothing
# to order or to share fairly: within the batch every entity's operations complete together, and
# a later bulk's operations wait only for the batches of the bulks before it.


def _open_routes() -> peewee.Query:
    """Of the `scan` oldest open operations: each route key, how many, whether any of them is held
    or waits for a retry (a non-null `available_at`), and the first bulk among them."""
    backlog = (_open_in_bulk_order(Operation.route_key, Operation.available_at, Operation.bulk)
               .limit(Slot("scan")).alias("backlog"))
    return (peewee.Select([backlog], [backlog.c.route_key, peewee.fn.COUNT(peewee.SQL("*")),
                                      peewee.fn.MAX(backlog.c.available_at), peewee.fn.MIN(backlog.c.bulk_uuid)])
            .group_by(backlog.c.route_key))


_OPEN_ROUTES = Prepared(_open_routes)


# The (bulk uuid, id) of the open operation at position `last` in bulk order: the last one read.
_LAST_READ = Prepared(lambda: _open_in_bulk_order(Operation.bulk, Operation.id).limit(1).offset(Slot("last")))


def _complete_in_place() -> peewee.Query:
    # The open operations of the routes read, from the first bulk read up to the last operation read
    # in bulk order: a range of the open-by-bulk index on both engines. (Matching the read's rows with
    # `id IN (the read)` made PostgreSQL run that subquery once per row; an `id <=` bound made SQLite
    # walk the whole table by id; without the first bulk, PostgreSQL walked the index's dead entries
    # from its start, see `_from_oldest_unfinished_bulk`.) On PostgreSQL a submit that commits between
    # the read and this write may add a few operations to the range.
    return (Operation.update({**_outcome_values(complete=True), **_THIS_TRY})
            .where(_open(), Operation.bulk >= Slot("first_bulk"), one_of(Operation.route_key, Slot("route_keys")),
                   Operation.available_at.is_null(),
                   peewee.Tuple(Operation.bulk, Operation.id) <= peewee.Tuple(Slot("last_bulk"), Slot("last_id")))
            .returning(Operation.id, Operation.bulk))


_COMPLETE_IN_PLACE = Prepared(_complete_in_place)


def complete_backlog(limit: int, now: float, completes_with: Callable[[str], str | None],
                     subscriptions: Subscriptions = NO_SUBSCRIPTIONS) -> list[tuple[int, str]] | None:
    """Under SQLite's write lock or PostgreSQL's claim turn: record the `limit` oldest open
    operations (in bulk order) complete, when none of them is held or waits for a retry and every
    route key among them has a success message in `completes_with` (its handler is `no_op`);
    returns the (id, bulk uuid) of each. None, having written nothing, when they are not such
    operations: the claim then goes on as `select_whole_backlog`.

    Counted as their try, as `record(None, ...)` counts operations selected and run in its
    transaction; the bulks this finishes are stamped (and announced, with `subscriptions`) and
    the operations counted in the finished tally, as `record` does. On PostgreSQL, operations
    submitted between the read and the write may be taken too (they are open, due, of the routes
    read and no later in bulk order than the last one read).
    """
    routes = _OPEN_ROUTES.execute(scan=limit).fetchall()
    read = sum(row[1] for row in routes)
    if not read:
        return []
    if any(row[2] is not None for row in routes):
        return None
    by_message: dict[str, list[str]] = {}
    for route_key, *_ in routes:
        message = completes_with(route_key)
        if message is None:
            return None
        by_message.setdefault(message, []).append(route_key)
    # Found before the first write: each write takes its operations out of the bulk order's count.
    last_bulk, last_id = _LAST_READ.execute(last=read - 1).fetchone()
    first_bulk = min(row[3] for row in routes)
    finished_at = utc_datetime(now)
    completed: list[tuple[int, str]] = []
    for message, route_keys in by_message.items():
        completed += _COMPLETE_IN_PLACE.execute(
            status=int(OperationStatus.COMPLETE), error_code=None, result_message=message,
            result_serialized_data=None, finished_at=finished_at, started_at=finished_at, first_bulk=first_bulk,
            last_bulk=last_bulk, last_id=last_id, route_keys=list_parameter(route_keys)).fetchall()
    if completed:
        _after_finishing([operation_id for operation_id, _ in completed],
                         {int(OperationStatus.COMPLETE): len(completed)}, now, subscriptions,
                         bulk_uuids={bulk_uuid for _, bulk_uuid in completed})
    return completed


# --- Publishing bulks whose outcomes were known when accepted (`accept` mode). ---
#
# Their operations were stored complete (`enqueue` with an `outcome_message`), so publishing one
# writes a row per bulk: its `finished_at`, from which readers show the operations complete
# (`bulk.unpublished`). Completing them in place wrote a new version of every operation's row and
# its index entries, which on PostgreSQL cost the database 60% of what their insert had (drainer
# on, `pg_stat_statements`), and capped the front door at 0.7-0.8x of its rate with the drainer off.

# Bulks one publish takes at most: a bound on its transaction when a backlog of them waits.
PUBLISH_BULKS = 100

_UNPUBLISHED = Prepared(lambda: Bulk.select(Bulk.uuid, Bulk.operation_count).where(unpublished_bulk())
                        .order_by(Bulk.uuid).limit(Slot("limit")))


def any_unpublished() -> bool:
    """Whether a bulk waits to be published (a probe of a small index, without the write lock)."""
    return bool(_UNPUBLISHED.execute(limit=1).fetchall())


class Published(NamedTuple):
    read: int  # bulks waiting that the publish read (at most its limit)
    bulk_uuids: list[str]  # those it published (not those another drainer published first)
    operations: int  # theirs


def publish_known(now: float, subscriptions: Subscriptions = NO_SUBSCRIPTIONS, limit: int | None = None) -> Published:
    """Under SQLite's write lock or PostgreSQL's claim turn: publish the `limit` oldest bulks whose
    outcomes were known when accepted, stamping their `finished_at` (`now`) and announcing them (with
    `subscriptions`) as `record` does for the bulks it finishes; their operations are counted in
    the finished tally. `limit` None: PUBLISH_BULKS."""
    waiting = dict(_UNPUBLISHED.execute(limit=PUBLISH_BULKS if limit is None else limit).fetchall())
    bulk_uuids = outbox.finish_bulks(waiting, now, subscriptions)
    operations = sum(waiting[bulk_uuid] for bulk_uuid in bulk_uuids)
    if operations:
        finished_tally.add({int(OperationStatus.COMPLETE): operations}, now)
    return Published(len(waiting), bulk_uuids, operations)


def _failures_held(token: str | None, outcomes: list[Outcome], subscriptions: Subscriptions) -> set[int]:
    """The failures to announce one by one: only those `token` still holds (a fenced write announces none;
    operations run in their selecting transaction are held by it)."""
    if not subscriptions.wants(OPERATION_FAILED):
        return set()
    failed = [outcome.operation_id for outcome in outcomes if outcome.status in FAILED_STATUSES]
    if token is None:
        return set(failed)
    return held(token, failed) if failed else set()


def _id_among() -> peewee.Expression:
    """`id IN (...)` with every id in one bound parameter: one statement fits any batch size."""
    return one_of(Operation.id, Slot("ids"))


def _ids_parameter(ids: list[int]) -> Any:
    return list_parameter(ids)


def _held_statement() -> peewee.Query:
    query = Operation.select(Operation.id).where(_id_among(), Operation.claim_token == Slot("token"))
    # PostgreSQL: lock the rows, so no other drainer re-claims them before this transaction ends.
    return query


_HELD = Prepared(_held_statement)


def held(token: str, operation_ids: list[int]) -> set[int]:
    """Which of `operation_ids` `token` still holds (call inside the transaction that records them)."""
    cursor = _HELD.execute(token=token, ids=_ids_parameter(operation_ids))
    return {row[0] for row in cursor.fetchall()}


_EXTEND_LEASE = Prepared(lambda: Operation.update({Operation.available_at: Slot("until")})
                         .where(_id_among(), Operation.claim_token == Slot("token")))
_RELEASE = Prepared(lambda: Operation.update({Operation.claim_token: None, Operation.claimed_by: None,
                                              Operation.available_at: None})
                    .where(_id_among(), Operation.claim_token == Slot("token")))


def extend_lease(token: str, operation_ids: list[int], until: float) -> int:
    """Keep holding what `token` holds of `operation_ids` until `until` (a long batch still at work)."""
    with write_transaction():
        return _EXTEND_LEASE.execute(until=until, token=token, ids=_ids_parameter(operation_ids)).rowcount


def release(token: str, operation_ids: list[int]) -> int:
    """Give back what `token` still holds of `operation_ids`, so another drainer can take it at once."""
    with write_transaction():
        return _RELEASE.execute(token=token, ids=_ids_parameter(operation_ids)).rowcount


def open_count() -> int:
    """Operations not yet processed (backlog): those open and those of unpublished bulks."""
    return Operation.select().where(*_open_from_oldest_unfinished()).count() + unpublished_operations()


class Deferral(NamedTuple):
    """A retriable failure to try again later: the operation stays open until `available_at`."""

    operation_id: int
    available_at: float
    result_message: str | None
    error_code: int | None


def _defer_statement(claimed: bool) -> peewee.Query:
    values: dict[peewee.Field, Any] = {
        Operation.available_at: Slot("available_at"), Operation.claim_token: None, Operation.claimed_by: None,
        Operation.result_message: Slot("result_message"), Operation.error_code: Slot("error_code")}
    if claimed:
        return Operation.update(values).where(Operation.id == Slot("id"), Operation.claim_token == Slot("token"))
    return Operation.update({**values, **_THIS_TRY}).where(Operation.id == Slot("id"), _still_open())


_DEFER = Prepared(lambda: _defer_statement(claimed=True))
_DEFER_SELECTED = Prepared(lambda: _defer_statement(claimed=False))


def defer(token: str | None, deferrals: Iterable[Deferral], now: float | None = None) -> int:
    """Release operations `token` holds until their retry time, keeping the last failure visible.

    They stay open (status 4), so later operations of the same entity keep waiting behind them.
    `token` None: operations run in their selecting transaction, as for `record`; `now` is then
    their first start if they had none.
    """
    statement = _DEFER if token is not None else _DEFER_SELECTED
    started_at = utc_datetime(time.time() if now is None else now)
    changed = 0
    with write_transaction():
        for deferral in deferrals:
            changed += statement.execute(available_at=deferral.available_at, result_message=deferral.result_message,
                                         error_code=deferral.error_code, id=deferral.operation_id,
                                         token=token, started_at=started_at).rowcount
    return changed


FAILED_STATUSES = (OperationStatus.RETRIABLY_FAILED, OperationStatus.NOT_RETRIABLY_FAILED)


def reopen(bulk_uuid: str, statuses: Sequence[OperationStatus], operation_keys: Sequence[int] | None = None,
           submitter_authorization: str | None = None) -> list[int]:
    """Make a bulk's failed operations open again, as if new; returns their keys (ids), sorted.

    `statuses` chooses which failures (only 2 and 3 can be re-opened: a complete operation no longer
    has its payload); `operation_keys`, when given, narrows to those. With `submitter_authorization`
    the bulk's stored credentials are replaced (whoever re-opens it is the one forwarded with).
    """
    allowed = [int(status) for status in statuses if status in FAILED_STATUSES]
    if not allowed or operation_keys == []:
        return []
    condition = (Operation.bulk == bulk_uuid) & Operation.status.in_(allowed)
    if operation_keys is not None:
        condition &= Operation.operation_key.in_(list(operation_keys))
    with write_transaction():
        if is_postgresql():
            # Not while a transaction decides whether the bulk is finished (bulk.webhooks.outbox).
            database.execute(peewee.Select(columns=[outbox.bulk_lock(peewee.Value(bulk_uuid))]))
        rows = (Operation
                .update(status=int(OperationStatus.OPEN), result_message=None, error_code=None,
                        result_serialized_data=None, claim_token=None, claimed_by=None, available_at=None,
                        started_at=None, attempts=0, finished_at=None)
                .where(condition)
                .returning(Operation.operation_key)
                .execute())
        keys = sorted(row.operation_key for row in rows)
        if keys:
            # Open again: it finishes (and is announced) anew when these end.
            reopened: dict[peewee.Field, Any] = {Bulk.finished_at: None}
            if submitter_authorization is not None:
                reopened[Bulk.submitter_authorization] = submitter_authorization
            Bulk.update(reopened).where(Bulk.uuid == bulk_uuid).execute()
    metrics.operations_reopened(len(keys))
    return keys


def delete_finished_bulk(bulk_uuid: str) -> bool | None:
    """Delete a bulk and its operations unless some are open (or its known outcomes are not published
    yet): True deleted, False open, None unknown."""
    with write_transaction():
        found = Bulk.select(unpublished_bulk()).where(Bulk.uuid == bulk_uuid).tuples().first()
        if found is None:
            return None
        if found[0] or _open_operations(bulk_uuid).exists():
            return False
        Operation.delete().where(Operation.bulk == bulk_uuid).execute()
        Bulk.delete().where(Bulk.uuid == bulk_uuid).execute()
    return True


def _open_operations(bulk_uuid: Any) -> peewee.ModelSelect[Operation]:
    return Operation.select().where(Operation.bulk == bulk_uuid, _open())


def purge_finished(started_before: float, chunk: int = 200) -> int:
    """Delete bulks started before the time given that have no open operation; returns how many.

    Works in chunks, one transaction each, so other writers wait for a short lock at most.
    """
    purged = 0
    while True:
        with write_transaction():
            uuids = [row.uuid for row in
                     Bulk.select(Bulk.uuid)
                     .where(Bulk.start_time < utc_datetime(started_before), ~unpublished_bulk(),
                            ~peewee.fn.EXISTS(_open_operations(Bulk.uuid)))
                     .order_by(Bulk.id).limit(chunk)]
            if uuids:
                Operation.delete().where(Operation.bulk.in_(uuids)).execute()
                Bulk.delete().where(Bulk.uuid.in_(uuids)).execute()
        purged += len(uuids)
        if len(uuids) < chunk:
            return purged


UNKNOWN_ERROR = "Unknown Error"


def fail_stuck(started_before: float, now: float | None = None,
               subscriptions: Subscriptions = NO_SUBSCRIPTIONS) -> int:
    """Magento's `bulk_mark_incomplete_operations_as_failed`: open operations started before the time
    given end at status 2 `Unknown Error`, code 0 (their holder's late result is then fenced out).
    `now` (default: the wall clock) is their finish time; bulks this finishes are stamped and
    announced, and the operations counted in the finished tally, as `record` does."""
    now = time.time() if now is None else now
    with write_transaction():
        failed = [row[0] for row in
                  Operation
                  .update(status=int(OperationStatus.RETRIABLY_FAILED), result_message=UNKNOWN_ERROR, error_code=0,
                          claim_token=None, claimed_by=None, available_at=None, finished_at=utc_datetime(now))
                  .where(_open(), Operation.started_at.is_null(False),
                         Operation.started_at < utc_datetime(started_before))
                  .returning(Operation.id).tuples().execute()]
        _after_finishing(failed, {int(OperationStatus.RETRIABLY_FAILED): len(failed)}, now, subscriptions, failed)
    return len(failed)
