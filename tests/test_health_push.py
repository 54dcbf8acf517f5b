"""The pages are told what is down: each web process checks the database, Redis and the workers and pushes changes.

Through real parts: gunicorn serving the console, a real ``rq worker`` of the office's class, a redis-server killed
and brought back on the same port (without its data, as a Redis without persistence comes back), and a Socket.IO
client on the console's namespace.
"""

from __future__ import annotations

import signal
import subprocess
import threading
from contextlib import ExitStack
from pathlib import Path

import requests
import socketio as socketio_client

from tests.support.live_server import VENV_BIN, live_server
from tests.support.servers import free_port, redis_server, wait_until

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "health-password-1"


def console_client(base_url: str, received: list) -> socketio_client.Client:
    """An agent's console channel, logged in through the form, recording every ``health`` it is sent."""
    http = requests.Session()
    page = http.get(f"{base_url}/login", timeout=10)
    token = page.text.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    http.post(f"{base_url}/login", data={"username": "agent1", "password": PASSWORD, "csrf_token": token}, timeout=10)
    client = socketio_client.Client(reconnection=True, reconnection_delay=0.2, reconnection_delay_max=1)
    lock = threading.Lock()

    def record(state):
        with lock:
            received.append(state)

    client.on("health", record, namespace="/console")
    cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
    headers = {"Cookie": cookie, "User-Agent": http.headers["User-Agent"]}
    client.connect(base_url, namespaces=["/console"], transports=["websocket"], headers=headers, wait_timeout=15)
    return client


def told(received: list, down: list[str]) -> dict:
    """Wait until the page's latest ``health`` says exactly these parts are down."""
    return wait_until(
        lambda: received and received[-1]["down"] == down and received[-1],
        timeout=30,
        what=f"health saying {down or 'all is well'} (last: {received[-1] if received else None})",
    )


def test_the_console_is_told_when_workers_or_redis_are_down_and_when_they_are_back(tmp_path):
    port = free_port()
    with ExitStack() as outage:
        redis_url = outage.enter_context(redis_server(port))
        with ExitStack() as stack:
            server = stack.enter_context(
                live_server(
                    redis_url, users={"agent1": "agent"}, password=PASSWORD, extra_env={"HEALTH_WATCH_SECONDS": "1"}
                )
            )
            received: list[dict] = []
            client = console_client(server.url, received)
            stack.callback(client.disconnect)

            # No worker yet: the page says so at once.
            assert told(received, ["workers"]) == {"ok": False, "down": ["workers"]}

            log = (tmp_path / "worker.log").open("wb")
            worker = subprocess.Popen(
                [str(VENV_BIN / "rq"), "worker", "--worker-class", "core.worker.CabdeskWorker", "--url", redis_url],
                cwd=ROOT,
                env=server.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                assert told(received, []) == {"ok": True, "down": []}

                # Redis dies: the page's own web process tells it, not through Redis.
                outage.close()
                told(received, ["redis", "workers"])
                assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 503

                # Redis comes back empty: the worker registers again and the page hears all is well.
                with redis_server(port):
                    told(received, [])
                    assert requests.get(f"{server.url}/healthz", timeout=10).json()["workers"]["count"] == 1
                    assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            finally:
                worker.send_signal(signal.SIGTERM)
                worker.wait(timeout=30)
                log.close()
