"""The pages are told what is down: each web process checks the database, Redis and the workers and pushes changes.

Through real parts: gunicorn serving the console, a real ``rq worker`` of the office's class, a redis-server killed
and brought back on the same port (without its data, as a Redis without persistence comes back), and a Socket.IO
client on the console's namespace.
"""

from __future__ import annotations

import signal
import subprocess
from contextlib import ExitStack
from pathlib import Path

import requests

from tests.support.live_server import VENV_BIN, live_server
from tests.support.screens import Screen
from tests.support.servers import free_port, redis_server, wait_until

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "health-password-1"


def console(base_url: str) -> Screen:
    """An agent's console, logged in through the form, recording every ``health`` it is sent."""
    screen = Screen(base_url, "/console", ("health",))
    return screen.log_in("/login", {"username": "agent1", "password": PASSWORD}, "/").connect()


def told(screen: Screen, down: list[str]) -> dict:
    """Wait until the page's latest ``health`` says exactly these parts are down."""

    def latest():
        with screen.lock:
            return screen.received[-1][1] if screen.received else None

    return wait_until(
        lambda: (last := latest()) is not None and last["down"] == down and last,
        timeout=30,
        what=f"health saying {down or 'all is well'} (last: {latest()})",
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
            page = console(server.url)
            stack.callback(page.client.disconnect)

            # No worker yet: the page says so at once.
            assert told(page, ["workers"]) == {"ok": False, "down": ["workers"]}

            log = (tmp_path / "worker.log").open("wb")
            worker = subprocess.Popen(
                [str(VENV_BIN / "rq"), "worker", "--worker-class", "core.worker.CabdeskWorker", "--url", redis_url],
                cwd=ROOT,
                env=server.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                assert told(page, []) == {"ok": True, "down": []}

                # Redis dies: the page's own web process tells it, not through Redis.
                outage.close()
                told(page, ["redis", "workers"])
                assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 503

                # Redis comes back empty: the worker registers again and the page hears all is well.
                with redis_server(port):
                    told(page, [])
                    assert requests.get(f"{server.url}/healthz", timeout=10).json()["workers"]["count"] == 1
                    assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            finally:
                worker.send_signal(signal.SIGTERM)
                worker.wait(timeout=30)
                log.close()
