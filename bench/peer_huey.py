"""The peer users compare us with: a minimal Flask app that enqueues each item of a bulk as a huey task.

    PEER_HUEY=sqlite PEER_HUEY_PATH=/tmp/huey.db gunicorn bench.peer_huey:app
    PEER_HUEY=redis gunicorn bench.peer_huey:app            (the local Redis, port 6379)

POST any path with a JSON array: one task per item, answered 202 with the task ids (huey has no
batch enqueue). Served under the same gunicorn worker settings as the service (bench/http_submit.py).
"""

from __future__ import annotations

import os

import orjson
from flask import Flask, Response, request
from huey import RedisHuey, SqliteHuey


def create_app() -> Flask:
    if os.environ.get("PEER_HUEY", "sqlite") == "redis":
        huey = RedisHuey("bench-peer", host="127.0.0.1", port=6379, db=int(os.environ.get("PEER_REDIS_DB", "15")))
    else:
        huey = SqliteHuey("bench-peer", filename=os.environ["PEER_HUEY_PATH"])

    @huey.task()
    def save(item):  # never executed here: the benchmark measures the front door
        return item

    app = Flask(__name__)

    @app.post("/<path:anything>")
    def enqueue(anything: str) -> Response:
        items = orjson.loads(request.get_data())
        ids = [save(item).id for item in items]
        return Response(orjson.dumps({"task_ids": ids}), status=202, content_type="application/json")

    @app.get("/health")
    def health() -> Response:
        return Response(b'{"status":"ok"}', content_type="application/json")

    return app


app = create_app() if os.environ.get("PEER_HUEY") else None
