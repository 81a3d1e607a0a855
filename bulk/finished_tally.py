"""Operations finished, counted per minute and final status: the dashboard's "finished in the last hour".

Each transaction that records final statuses adds its counts to the current minute's rows, one
statement per status, so the figure commits with the statuses it counts. It replaced an index of
operations by finish time, which gave every finished operation an index entry to write (README,
Benchmarks: with the drainer on, 1.15x the submits per second on PostgreSQL without it).

The count is by the minute: the last hour is the minutes that began within it. The housekeeping
sweep forgets older minutes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import peewee

from bulk.db import Prepared, Slot, tuples
from bulk.models import FinishedTally

MINUTE = 60
HOUR = 3_600


def _add() -> peewee.Query:
    return (FinishedTally
            .insert(minute=Slot("minute"), status=Slot("status"), operations=Slot("operations"))
            .on_conflict(conflict_target=[FinishedTally.minute, FinishedTally.status],
                         update={FinishedTally.operations: FinishedTally.operations + peewee.EXCLUDED.operations}))


_ADD = Prepared(_add)


def add(finished: Mapping[int, int], now: float) -> None:
    """In the transaction that records them: count `finished` (operations by final status) in `now`'s
    minute. Statuses go in order, so two PostgreSQL transactions lock their rows in the same order."""
    minute = int(now // MINUTE)
    for status in sorted(finished):
        if finished[status]:
            _ADD.execute(minute=minute, status=int(status), operations=finished[status])


def _first_minute_of_hour(now: float) -> int:
    """The first minute that began within the hour before `now`."""
    return math.ceil((now - HOUR) / MINUTE)


def last_hour(now: float) -> dict[int, int]:
    """Operations that finished in the minutes that began within the last hour, by final status."""
    return {int(status): int(count) for status, count in tuples(
        FinishedTally.select(FinishedTally.status, peewee.fn.SUM(FinishedTally.operations))
        .where(FinishedTally.minute >= _first_minute_of_hour(now)).group_by(FinishedTally.status))}


def forget_before_last_hour(now: float) -> int:
    """Delete the minutes `last_hour` no longer reads; returns how many rows went."""
    return FinishedTally.delete().where(FinishedTally.minute < _first_minute_of_hour(now)).execute()
