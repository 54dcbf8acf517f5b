"""The real application as production runs it: gunicorn (gthread) in a subprocess, set up by the CLI.

``live_server(redis_url, users={"ana": "agent"})`` brings a fresh SQLite file to the newest schema with
``flask db upgrade``, creates the accounts with ``flask user create … --password-stdin``, starts
gunicorn on a free loopback port and yields a :class:`LiveServer`; afterwards it stops gunicorn with
SIGTERM and checks that it exited cleanly. gunicorn's output goes to a log file; a failing test shows
it (see :func:`show_log_on_failure`).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from config import PROJECT_ROOT
from tests.support.servers import free_port, wait_until

VENV_BIN = PROJECT_ROOT / ".venv" / "bin"
SECRET_KEY = "live-server-test-secret-key"
DEFAULT_PASSWORD = "correct horse battery"

# Every variable config.load_config reads (found in its source, so a new setting is never missed): a
# developer's shell must not leak one into the test server.
_CONFIG_VARIABLES = tuple(
    sorted(
        set(re.findall(r'env(?:\.get\(|, )"([A-Z][A-Z0-9_]+)"', (PROJECT_ROOT / "config" / "__init__.py").read_text()))
    )
)


@dataclass
class LiveServer:
    """A running gunicorn serving Cabdesk."""

    url: str
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen = field(repr=False)

    def log(self, start: int = 0) -> str:
        """gunicorn's stdout and stderr so far, from byte ``start`` on."""
        with open(self.log_path, "rb") as handle:
            handle.seek(start)
            return handle.read().decode("utf-8", errors="replace")

    def log_size(self) -> int:
        """How many bytes gunicorn has logged so far."""
        return self.log_path.stat().st_size


def server_environment(workdir: Path, redis_url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of the server and of its CLI commands: settings only from here."""
    env = {name: value for name, value in os.environ.items() if name not in _CONFIG_VARIABLES}
    env.update(
        {
            "DATABASE_URL": f"sqlite:///{workdir / 'cabdesk.sqlite3'}",
            "REDIS_URL": redis_url,
            "SECRET_KEY": SECRET_KEY,
            "CABDESK_INSTANCE": str(workdir / "instance"),
            "PYTHONUNBUFFERED": "1",
            # gunicorn ≥ 25 opens a control socket at $XDG_RUNTIME_DIR/gunicorn.ctl, else at
            # ~/.gunicorn/gunicorn.ctl, and unlinks whatever is there: keep it away from a running demo.
            "XDG_RUNTIME_DIR": str(workdir),
        }
    )
    env.update(extra or {})
    return env


def flask_command(args: list[str], env: Mapping[str, str], stdin: str | None = None) -> str:
    """Run ``flask --app wsgi ARGS`` from the project root; its output, or an error that shows it."""
    result = subprocess.run(
        [str(VENV_BIN / "flask"), "--app", "wsgi", *args],
        cwd=PROJECT_ROOT,
        env=dict(env),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(f"`flask {' '.join(args)}` exited with {result.returncode}:\n{result.stdout}{result.stderr}")
    return result.stdout


def create_users(users: Mapping[str, str], password: str, env: Mapping[str, str]) -> None:
    """``flask user create NAME --role ROLE --password-stdin`` for each account, a few at a time."""

    def create(item: tuple[str, str]) -> None:
        username, role = item
        out = flask_command(
            ["user", "create", username, "--role", role, "--password-stdin"], env, stdin=f"{password}\n"
        )
        expected = f"created {role} {username}"
        if expected not in out:
            raise RuntimeError(f"`flask user create {username}` said {out!r}, not {expected!r}")

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        list(pool.map(create, users.items()))  # list(): re-raises the first failure


@contextmanager
def live_server(
    redis_url: str,
    users: Mapping[str, str] | None = None,
    password: str = DEFAULT_PASSWORD,
    template_db: Path | None = None,
    extra_env: Mapping[str, str] | None = None,
    startup_timeout: float = 30.0,
) -> Iterator[LiveServer]:
    """Cabdesk under gunicorn on a free port, with ``users`` (username → role) sharing ``password``.

    ``template_db``: a SQLite file already at the newest schema to copy instead of running the migrations.
    """
    workdir = Path(tempfile.mkdtemp(prefix="cabdesk-live-"))
    env = server_environment(workdir, redis_url, extra_env)
    log_path = workdir / "gunicorn.log"
    process: subprocess.Popen | None = None
    try:
        if template_db is not None:
            shutil.copy(template_db, workdir / "cabdesk.sqlite3")
        else:
            flask_command(["db", "upgrade"], env)
        create_users(users or {}, password, env)

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [
                    str(VENV_BIN / "gunicorn"),
                    "--worker-class",
                    "gthread",
                    "-w",
                    "1",
                    "--threads",
                    "20",
                    "-b",
                    f"127.0.0.1:{port}",
                    "wsgi:app",
                ],
                cwd=PROJECT_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        server = LiveServer(url=url, env=env, log_path=log_path, process=process)
        _wait_for_login_page(server, startup_timeout)
        try:
            yield server
        except BaseException:
            # Used directly in a test (not through a fixture): the failure comes with the server's side.
            sys.stderr.write(f"--- gunicorn log ({log_path}) ---\n{server.log()}\n")
            raise
    finally:
        try:
            if process is not None:
                _stop(process, log_path)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


def _wait_for_login_page(server: LiveServer, timeout: float) -> None:
    def up():
        if server.process.poll() is not None:
            return "exited"
        with urllib.request.urlopen(server.url + "/login", timeout=2) as response:  # noqa: S310 (loopback)
            return "up" if response.status == 200 else None

    try:
        state = wait_until(up, timeout=timeout, what=f"gunicorn to serve {server.url}/login")
    except TimeoutError as exc:
        raise RuntimeError(f"{exc}\n--- gunicorn log ---\n{server.log()}") from None
    if state == "exited":
        raise RuntimeError(
            f"gunicorn exited with status {server.process.returncode} before serving /login:\n{server.log()}"
        )


def _stop(process: subprocess.Popen, log_path: Path) -> None:
    """SIGTERM (gunicorn's graceful shutdown), and insist that it worked."""
    if process.poll() is not None:
        status = process.returncode
        raise RuntimeError(f"gunicorn died during the tests (status {status}):\n{log_path.read_text()}")
    process.send_signal(signal.SIGTERM)
    try:
        status = process.wait(timeout=35)  # gunicorn's graceful timeout is 30 s
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGQUIT)  # quick shutdown, the worker included
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        raise RuntimeError(f"gunicorn ignored SIGTERM:\n{log_path.read_text()}") from None
    if status != 0:
        raise RuntimeError(f"gunicorn exited with status {status} on SIGTERM:\n{log_path.read_text()}")


class _LogOnFailure:
    """A pytest plugin: each failing test of ``module_path`` reports what gunicorn logged meanwhile."""

    def __init__(self, server: LiveServer, module_path: Path):
        self.server = server
        self.module_path = Path(module_path)
        self.start = 0

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item):
        if item.path == self.module_path:
            self.start = self.server.log_size()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = yield
        if report.failed and item.path == self.module_path:
            logged = self.server.log(self.start).strip() or "(nothing)"
            report.sections.append(("gunicorn log", logged))
        return report


@contextmanager
def show_log_on_failure(config: pytest.Config, server: LiveServer, module_path: Path) -> Iterator[None]:
    """While open, a failing test in ``module_path`` shows gunicorn's log from the start of that test."""
    plugin = _LogOnFailure(server, module_path)
    config.pluginmanager.register(plugin)
    try:
        yield
    finally:
        config.pluginmanager.unregister(plugin)
