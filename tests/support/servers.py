"""Real servers for tests: redis-server and PostgreSQL on free loopback ports, started and stopped here."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition: Callable[[], object], timeout: float = 10.0, what: str = "condition") -> object:
    """Poll ``condition`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = condition()
        except Exception:  # the server is not up yet: the condition raising means "not yet"
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


@contextmanager
def redis_server(port: int | None = None) -> Iterator[str]:
    """A throwaway redis-server (on ``port``, to bring one back after an outage); yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (make test installs it)")
    port = port or free_port()
    workdir = tempfile.mkdtemp(prefix="cabdesk-redis-")
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
    )
    from redis import Redis

    client = Redis(port=port)
    try:
        wait_until(client.ping, what="redis-server")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def _postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (make test installs it)")
    return Path(found[-1]).parent


class PostgresCluster:
    """A throwaway PostgreSQL cluster on a free port that can be stopped and started again (a restart, as in a fault).

    PostgreSQL refuses to run as root, so as root the cluster belongs to the ``postgres`` user.
    The server runs as that user directly (not under ``runuser``, which would catch our signal and
    SIGKILL the postmaster two seconds later), so it gets the shutdown signal itself.
    """

    def __init__(self, launcher: Callable[..., subprocess.Popen] = subprocess.Popen) -> None:
        # ``launcher`` starts the postmaster: a benchmark passes one that ties it to its own life.
        self.launcher = launcher
        self.bindir = _postgres_bin()
        self.port = free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="cabdesk-pg-"))
        self.datadir = self.workdir / "data"
        self.as_owner: dict = {}
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.workdir, owner.pw_uid, owner.pw_gid)
            self.as_owner = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
        self.process: subprocess.Popen | None = None
        self.url = f"postgresql+psycopg://cabdesk@127.0.0.1:{self.port}/cabdesk"

    def create(self) -> None:
        """initdb, start, and create the empty ``cabdesk`` database."""
        subprocess.run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.datadir),
                "-U",
                "cabdesk",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
            check=True,
            cwd=self.workdir,
            stdout=subprocess.DEVNULL,
            **self.as_owner,
        )
        self.start()
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="cabdesk", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute("CREATE DATABASE cabdesk")

    def start(self) -> None:
        """Start the postmaster on the cluster's port and wait until it takes connections."""
        import psycopg

        with tempfile.TemporaryFile("w+") as log:  # the server's stderr, shown if it fails to start
            self.process = process = self.launcher(
                [
                    str(self.bindir / "postgres"),
                    "-D",
                    str(self.datadir),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.workdir),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                ],
                cwd=self.workdir,
                stdout=subprocess.DEVNULL,
                stderr=log,
                **self.as_owner,
            )

            def ready():
                if process.poll() is not None:
                    return "exited"
                with psycopg.connect(host="127.0.0.1", port=self.port, user="cabdesk", dbname="postgres"):
                    return "up"

            if wait_until(ready, timeout=30, what="PostgreSQL") == "exited":
                log.seek(0)
                raise RuntimeError(f"PostgreSQL exited with status {process.returncode}:\n{log.read()}")

    def stop(self) -> None:
        """A fast shutdown: open sessions are ended."""
        if self.process is not None:
            _stop_postgres(self.process)
            self.process = None

    def remove(self) -> None:
        """Stop the server and delete the cluster."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)


@contextmanager
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A running throwaway cluster with an empty ``cabdesk`` database; removed afterwards."""
    cluster = PostgresCluster()
    try:
        cluster.create()
        yield cluster
    finally:
        cluster.remove()


@contextmanager
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a free port; yields a SQLAlchemy URL of an empty database."""
    with postgres_cluster() as cluster:
        yield cluster.url


def _stop_postgres(process: subprocess.Popen) -> None:
    """Fast shutdown: the postmaster ends open sessions and waits for all its children before exiting.

    SIGTERM would be a "smart" shutdown that waits for every client to disconnect first.
    """
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGQUIT)  # immediate shutdown, children included
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
