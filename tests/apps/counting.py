"""A service whose only handler records each call in the database: the proof of exactly-once.

`gunicorn tests.apps.counting:app` serves it; COUNTING_DELAY_SECONDS makes each operation slow,
so tests can kill or stop processes while operations are held; COUNTING_RUNNING_DIR gets a file
named after each process that has started running operations (its batch is not committed yet).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from bulk.factory import create_app
from bulk.handlers import Job, transactional
from tests.apps.call_log import HandlerCall


@transactional
def count_call(job: Job) -> None:
    HandlerCall.create(operation_id=job.operation.id, pid=os.getpid())
    running = os.environ.get("COUNTING_RUNNING_DIR")
    if running:
        # Outside the database: the call is not visible there before its batch commits.
        Path(running, str(os.getpid())).touch()
    delay = float(os.environ.get("COUNTING_DELAY_SECONDS", "0"))
    if delay:
        time.sleep(delay)


def counting_app():
    app = create_app()
    app.extensions["bulk"].processing.add_wrapper(lambda route, handler: count_call)
    return app


app = counting_app()
