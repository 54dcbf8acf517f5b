"""What every benchmark shares: progress lines, percentiles, a time limit, cached data sets, the results' header
and JSON line, and the servers it starts and stops.

Children are started so that they die with the benchmark (even on SIGKILL), and stopped with SIGTERM, then
SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import inspect
import json
import math
import os
import platform
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
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


@contextlib.contextmanager
def time_limited(
    results: dict, seconds: float, workdir: Path, interrupted: Callable[[], bool] = lambda: False
) -> Iterator[None]:
    """Run the body under ``arm_time_limit``: at the limit, keep what was measured and mark the results timed out."""
    arm_time_limit(seconds)
    try:
        yield
    except Exception as exc:
        # ``interrupted``: the benchmark stopped a query itself at the limit, so its error means the same.
        if not isinstance(exc, BenchTimeout) and not interrupted():
            raise
        log(f"--time-limit of {seconds:.0f} s reached: stopping with what was measured")
        results["timed_out"] = True
    finally:
        signal.alarm(0)
        shutil.rmtree(workdir, ignore_errors=True)


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


def results_header(benchmark: str, now: datetime | None = None, **extra) -> dict:
    """The first keys of a benchmark's JSON line (what ran, when, where, on which code), then ``extra``'s."""
    return {
        "benchmark": benchmark,
        "date": (now or datetime.now(UTC)).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "code": code_version(),
        **extra,
    }


def print_results(title: str, table: str, results: dict) -> None:
    """A benchmark's stdout: its title, its table, then the JSON line that bench/all.py reads."""
    print(title)
    print(table)
    print(json.dumps(results, ensure_ascii=False, default=str))


# -- cached SQLite data sets ----------------------------------------------------------------------


def generator_digest(parts: tuple, constants: tuple, files: tuple[str, ...] = ()) -> str:
    """A short hash of the migrations as they are now, a generator's source, the files it runs and its constants."""
    digest = hashlib.sha256()
    # Hashed whole, not just their revision ids: an unreleased migration may be edited in place.
    for script in sorted((PROJECT_ROOT / "migrations" / "versions").glob("*.py")):
        digest.update(script.name.encode() + b"\0" + script.read_bytes())
    digest.update("".join(inspect.getsource(part) for part in parts).encode())
    for name in files:
        path = PROJECT_ROOT / name
        digest.update(path.read_bytes() if path.exists() else b"")
    digest.update(repr(constants).encode())
    return digest.hexdigest()[:16]


def remove_sqlite(path: Path) -> None:
    """The database file and its companions, its stamp included."""
    for suffix in ("", "-wal", "-shm", "-journal", ".stamp"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def sqlite_bytes(path: Path) -> int:
    """The size of the database file and its write-ahead log."""
    return sum(Path(f"{path}{s}").stat().st_size for s in ("", "-wal") if Path(f"{path}{s}").exists())


def reusable_dataset(
    path: Path,
    stamp: dict,
    rebuild: bool,
    build: Callable[[], tuple[dict, dict]],  # fills the emptied file: (what its stamp file keeps, what to return)
    reuse: Callable[[dict], dict | None],  # gets what the stamp file kept: what to return, or None to rebuild
) -> dict:
    """The SQLite data set at ``path``: reused when its stamp file says it was built from ``stamp``, else rebuilt."""
    stamp_file = Path(f"{path}.stamp")
    if not rebuild and path.exists() and stamp_file.exists():
        saved = None
        with contextlib.suppress(ValueError):  # a stamp file cut short or not ours: rebuild
            found = json.loads(stamp_file.read_text())
            if isinstance(found, dict) and found.pop("stamp", None) == stamp:
                saved = found
        reused = None if saved is None else reuse(saved)
        if reused is not None:
            return reused
    remove_sqlite(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    saved, built = build()
    stamp_file.write_text(json.dumps({"stamp": stamp, **saved}))
    return built


# -- processes ------------------------------------------------------------------------------------


def _die_with_parent() -> None:
    """In the child (Linux): SIGTERM when the benchmark dies without cleaning up (SIGKILL, a crash)."""
    with contextlib.suppress(Exception):
        # PR_SET_PDEATHSIG. It fires when the *thread* that started the child ends: spawn from the main thread.
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


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
