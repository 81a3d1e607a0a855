"""On SQLite the drainers of several processes take turns to plan and claim (`queue.sqlite_claim_turn`):
while one process's drainer has the turn, another's skips its round instead of planning the same
operations and running their pure handlers a second time."""

from __future__ import annotations

import fcntl
import multiprocessing
import os

import pytest

from bulk import queue
from bulk.clock import ManualClock
from bulk.db import database
from bulk.drainer import Drainer, DrainerSettings
from bulk.handlers import Job
from bulk.models import Operation
from bulk.routes.builtin import builtin_catalogue
from bulk.statuses import OperationStatus
from bulk.writer_lock import CLAIMS
from tests.test_fair_draining import NOW, drainer, submit

pytestmark = pytest.mark.engines("sqlite")


def _hold_claim_turn(lock_path: str, holding, release) -> None:
    handle = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.lockf(handle, fcntl.LOCK_EX, 1, CLAIMS)
    holding.set()
    release.wait(30)


def _try_claim_turn(lock_path: str, answer) -> None:
    handle = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, CLAIMS)
        answer.put(True)
    except OSError:
        answer.put(False)


def another_process_can_take_the_turn() -> bool:
    context = multiprocessing.get_context("spawn")
    answer = context.Queue()
    probe = context.Process(target=_try_claim_turn, args=(database.obj.claim_turn.lock_file.path, answer))
    probe.start()
    probe.join(30)
    return answer.get(timeout=5)


def test_a_drainer_skips_its_round_while_another_process_has_the_claim_turn(db, monkeypatch):
    submit(["A", "B"])
    plans: list[int] = []
    real_plan = queue.plan_claim
    monkeypatch.setattr(queue, "plan_claim", lambda *args, **kwargs: plans.append(1) or real_plan(*args, **kwargs))
    context = multiprocessing.get_context("spawn")
    holding, release = context.Event(), context.Event()
    other = context.Process(target=_hold_claim_turn, args=(database.obj.claim_turn.lock_file.path, holding, release))
    other.start()
    try:
        assert holding.wait(30)
        worker = drainer(batch_size=10)
        assert worker.run_once() == 0
        assert plans == []  # not even planned: the process with the turn takes what is claimable
    finally:
        release.set()
        other.join(30)
    assert worker.run_once() == 2
    assert another_process_can_take_the_turn()  # let go once the batch is recorded


def test_outside_effects_run_after_the_claim_turn_is_let_go(db):
    submit(["A"])
    turn_free_while_running: list[bool] = []

    def outside(job: Job) -> None:
        turn_free_while_running.append(another_process_can_take_the_turn())

    worker = Drainer(builtin_catalogue(), lambda route: outside, ManualClock(NOW), DrainerSettings(batch_size=10))
    assert worker.run_once() == 1
    assert turn_free_while_running == [True]
    assert Operation.get().status == OperationStatus.COMPLETE
