"""The README's webhook receiver, run as written, receives what the service sends."""

from __future__ import annotations

import re
import threading
import time

import pytest
from werkzeug.serving import make_server

from bulk.clock import ManualClock
from tests.test_http_status import drain_with, submit
from tests.test_readme import README
from tests.webhook_receiver import SECRET


def readme_receiver(monkeypatch):
    [code] = [block for block in re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)
              if block.startswith("# receiver.py")]
    monkeypatch.setenv("BULK_WEBHOOK_SECRET", SECRET)
    namespace: dict = {"__name__": "receiver"}
    exec(compile(code, "README.md receiver.py", "exec"), namespace)
    return namespace


@pytest.fixture
def clock():
    return ManualClock(float(int(time.time())))  # receivers check the signature's timestamp


@pytest.mark.engines("sqlite")
def test_the_readme_receiver_verifies_and_dedupes_what_the_service_sends(make_app, monkeypatch, capsys, engine):
    receiver = readme_receiver(monkeypatch)
    server = make_server("127.0.0.1", 0, receiver["app"], threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        app = make_app(BULK_WEBHOOK_URL=f"http://127.0.0.1:{server.server_port}/hooks/bulk",
                       BULK_WEBHOOK_SECRET=SECRET, BULK_WEBHOOK_ALLOW_PRIVATE="1")
        service = app.extensions["bulk"]
        client = app.test_client()
        token = client.post("/rest/V1/integration/admin/token", json={"username": "admin", "password": "admin123"})
        bulk_uuid = submit(client, {"Authorization": f"Bearer {token.get_json()}"}, ["A", "B"])
        drain_with(service, lambda job: None)
        assert service.webhooks.send_due() == 1
        [delivery] = client.get(f"/rest/V1/bulk/{bulk_uuid}/webhooks",
                                headers={"Authorization": f"Bearer {token.get_json()}"}).get_json()["deliveries"]
        assert (delivery["status"], delivery["last_status"]) == ("delivered", 204)
        assert receiver["handled"] == {delivery["webhook_id"]}
    finally:
        server.shutdown()
    out = capsys.readouterr().out
    assert f"bulk {bulk_uuid} finished: {{'complete': 2, 'failed_retriably': 0, " in out
