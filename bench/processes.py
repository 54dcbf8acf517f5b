"""What every benchmark shares: progress lines, percentiles, a time limit, and the servers it starts and stops.

Children are started so that they die with the benchmark (even on SIGKILL), and stopped with SIGTERM, then
SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import math
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def log(message: str) -> None:
    """Progress goes to stderr, so stdout carries the table and the JSON line only."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class BenchTimeout(Exception):
    """The whole run went past --time-limit."""


def _alarm(_signum, _frame):
    raise BenchTimeout


def _terminated(signum, _frame):
    raise SystemExit(128 + signum)


def arm_time_limit(seconds: float) -> None:
    """Raise BenchTimeout in the main thread after ``seconds``, and exit cleanly on SIGTERM (children stopped)."""
    signal.signal(signal.SIGTERM, _terminated)
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(math.ceil(seconds))


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..1)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def summary(values: list[float]) -> dict:
    """n, p50, p99 and max of times in seconds, as milliseconds."""

    def ms(value):
        return None if value is None else round(value * 1000, 2)

    return {
        "n": len(values),
        "p50_ms": ms(percentile(values, 0.50)),
        "p99_ms": ms(percentile(values, 0.99)),
        "max_ms": ms(max(values) if values else None),
    }


# -- processes ------------------------------------------------------------------------------------


def _die_with_parent() -> None:
    """In the child (Linux): SIGTERM when the benchmark dies without cleaning up (SIGKILL, a crash)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def spawn(args: list[str], **kwargs) -> subprocess.Popen:
    """Start a child process that dies with the benchmark."""
    preexec = _die_with_parent if sys.platform.startswith("linux") else None
    return subprocess.Popen(args, stdin=subprocess.DEVNULL, preexec_fn=preexec, **kwargs)


def stop_process(process: subprocess.Popen, name: str, grace: float) -> None:
    """SIGTERM, then SIGKILL if it does not go within ``grace`` seconds."""
    if process.poll() is not None:
        log(f"{name} had already exited (status {process.returncode})")
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        log(f"{name} ignored SIGTERM for {grace:.0f} s: killing it")
        process.kill()
        process.wait()


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """A throwaway redis-server on a free loopback port, no persistence; yields its URL."""
    from redis import Redis

    from tests.support.servers import free_port, wait_until

    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    args += ["--dir", str(workdir), "--daemonize", "no", "--loglevel", "warning"]
    process = spawn(args, stdout=subprocess.DEVNULL)
    client = Redis(port=port)
    try:
        wait_until(client.ping, timeout=15, what="redis-server")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        client.close()
        stop_process(process, "redis-server", 10)


@contextlib.contextmanager
def gunicorn(
    env: dict[str, str], workdir: Path, app_spec: str, threads: int, config: str | None = None
) -> Iterator[str]:
    """The application under gunicorn as production runs it (gthread, one worker); yields its base URL."""
    import requests

    from tests.support.servers import free_port, wait_until

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = workdir / "gunicorn.log"
    args = [str(Path(sys.executable).with_name("gunicorn")), "--worker-class", "gthread", "-w", "1"]
    args += ["--threads", str(threads), "-b", f"127.0.0.1:{port}", "--graceful-timeout", "10"]
    args += [*(("-c", config) if config else ()), app_spec]
    with open(log_path, "wb") as output:
        process = spawn(args, cwd=PROJECT_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)

    def up():
        if process.poll() is not None:
            return "exited"
        return "up" if requests.get(url + "/login", timeout=2).status_code == 200 else None

    try:
        try:
            state = wait_until(up, timeout=60, what=f"gunicorn to serve {url}/login")
        except TimeoutError as exc:
            raise RuntimeError(f"{exc}\n{log_path.read_text(errors='replace')[-4000:]}") from None
        if state == "exited":
            raise RuntimeError(f"gunicorn exited at start:\n{log_path.read_text(errors='replace')[-4000:]}")
        yield url
    finally:
        stop_process(process, "gunicorn", 20)
        logged = log_path.read_text(errors="replace")
        errors = [line for line in logged.splitlines() if "Traceback" in line or " ERROR" in line]
        if errors:
            log(f"gunicorn logged {len(errors)} error line(s); the last 3000 characters of its log:\n{logged[-3000:]}")


def code_version() -> str:
    """The commit measured, and whether the working tree differed from it."""
    try:
        return subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except Exception:
        return "unknown"


async def read_http_response(reader) -> tuple[int, bytes, bool]:
    """One HTTP/1.1 response from an asyncio stream: (status, body, whether the server closes the connection)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" not in headers:
        raise RuntimeError(f"no Content-Length in the answer ({lines[0]})")
    body = await reader.readexactly(int(headers["content-length"]))
    return status, body, headers.get("connection", "").lower() == "close"


def location_request(host: str, driver_id: int, token: str, lat: float, lon: float) -> bytes:
    """The raw HTTP/1.1 request a driver's phone sends with its position (keep-alive, its bearer token)."""
    body = json.dumps({"lat": round(lat, 6), "lon": round(lon, 6)}).encode()
    head = (
        f"POST /api/drivers/{driver_id}/location HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body
