"""`make demo`'s runner: everything comes up, answers, its simulated drivers drive, and everything stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from redis import Redis

from drivers.positions import POSITIONS
from tests.support.servers import free_port, wait_until

ROOT = Path(__file__).resolve().parent.parent


def processes_started_for(marker: str) -> list[int]:
    """Pids of live processes whose environment carries ``marker`` (the demo's instance folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                status = (entry / "status").read_text()
                if "\nState:\tZ" not in status:  # a zombie has already exited
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_demo_serves_the_console_and_stops_everything(tmp_path, stop_signal):
    port, redis_port = free_port(), free_port()
    instance = tmp_path / "demo-instance"
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "SECRET_KEY")}
    env["CABDESK_INSTANCE"] = str(instance)
    log = (tmp_path / "demo.log").open("w")
    demo = subprocess.Popen(
        [
            sys.executable,
            "scripts/demo.py",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--redis-port",
            str(redis_port),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        health = wait_until(
            lambda: (r := requests.get(f"{base}/healthz", timeout=2)).status_code == 200 and r,
            timeout=120,
            what="the demo's /healthz to answer 200",
        )
        assert health.json()["workers"]["count"] >= 1
        output = (tmp_path / "demo.log").read_text()
        assert f"http://127.0.0.1:{port}/" in output
        assert "demo-agent" in output and "demo-admin" in output

        session = requests.Session()
        page = session.get(f"{base}/login", timeout=5)
        token = page.text.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
        response = session.post(
            f"{base}/login",
            data={"username": "agent", "password": "demo-agent", "csrf_token": token},
            timeout=5,
        )
        assert response.url.endswith("/console/")
        looked_up = session.get(f"{base}/console/", params={"phone": "09"}, timeout=5)
        assert looked_up.status_code == 200
        assert processes_started_for(str(instance)), "the demo's processes should be running"
        # The driver simulator (the "drivers" process) puts its drivers on the map within a tick or two.
        with Redis(port=redis_port) as redis:
            wait_until(lambda: redis.zcard(POSITIONS) > 0, timeout=60, what="a simulated driver's position in Redis")
    finally:
        demo.send_signal(stop_signal)
        code = demo.wait(timeout=60)
        log.close()
    assert code == 0, (tmp_path / "demo.log").read_text()[-3000:]
    assert processes_started_for(str(instance)) == []
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base}/healthz", timeout=2)
