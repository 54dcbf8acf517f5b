"""`make demo`: the whole office on one machine.

Starts Redis, brings the database up to date, loads the demo office into an empty database, then
runs the web console, an RQ worker (with RQ's scheduler for delayed jobs), the cron scheduler and
the driver simulator until Ctrl-C or SIGTERM, which stops every process it started.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config import DEMO_REDIS_PORT, INSTANCE_PATH  # noqa: E402

VENV_BIN = ROOT / ".venv" / "bin"
WORKER_CLASS = "core.worker.CabdeskWorker"  # builds the app once instead of once a job (core/worker.py)
DEMO_LOGINS = [
    ("agent", "demo-agent"),
    ("dispatcher", "demo-dispatcher"),
    ("supervisor", "demo-supervisor"),
    ("admin", "demo-admin"),
]


def run(*args: str, env: dict) -> None:
    """Run a setup step, stopping the demo with its message if it fails."""
    result = subprocess.run(args, cwd=ROOT, env=env, check=False)  # noqa: S603  (our own commands)
    if result.returncode != 0:
        sys.exit(f"demo: step failed: {' '.join(args)}")


def start_redis(env: dict, port: int) -> subprocess.Popen | None:
    """Start the demo's own Redis unless REDIS_URL names another server; wait until it answers."""
    if os.environ.get("REDIS_URL"):
        return None
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        sys.exit("demo: redis-server is not installed. As root: apt-get install -y redis-server")
    data_dir = Path(env.get("CABDESK_INSTANCE", INSTANCE_PATH)) / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    # Append-only file: queued jobs survive a restart of the demo.
    arguments = f"--port {port} --bind 127.0.0.1 --appendonly yes --daemonize no --loglevel warning"
    process = subprocess.Popen(  # noqa: S603  (fixed arguments)
        [redis_server, *arguments.split(), "--dir", str(data_dir), "--save", ""]
    )
    from redis import Redis
    from redis.exceptions import ConnectionError as RedisConnectionError

    client = Redis(port=port, socket_connect_timeout=0.5)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"demo: redis-server exited (is port {port} in use?)")
        try:
            client.ping()
            return process
        except RedisConnectionError:
            time.sleep(0.1)
    process.terminate()
    sys.exit("demo: redis-server did not answer within 15 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", default=os.environ.get("PORT", "5000"))
    parser.add_argument("--redis-port", type=int, default=DEMO_REDIS_PORT, help="port of the demo's own Redis")
    options = parser.parse_args()

    env = dict(os.environ)
    env.setdefault("REDIS_URL", f"redis://127.0.0.1:{options.redis_port}/0")
    flask = [str(VENV_BIN / "flask"), "--app", "wsgi"]
    redis_process = start_redis(env, options.redis_port)
    try:
        run(*flask, "db", "upgrade", env=env)
        run(*flask, "demo", "seed", "--if-empty", env=env)

        from honcho.manager import Manager

        manager = Manager()
        # One process with many threads: Flask-SocketIO's threading mode keeps each websocket on a thread.
        bind = f"{options.host}:{options.port}"
        gunicorn = (
            f"{VENV_BIN / 'gunicorn'} --worker-class gthread -w 1 --threads 100 --no-control-socket -b {bind} wsgi:app"
        )
        manager.add_process("web", gunicorn, env=env, cwd=str(ROOT))
        manager.add_process(
            "worker",
            f"{VENV_BIN / 'rq'} worker --with-scheduler --worker-class {WORKER_CLASS} --url {env['REDIS_URL']} default",
            env=env,
            cwd=str(ROOT),
        )
        manager.add_process(
            "cron", f"{VENV_BIN / 'rq'} cron --url {env['REDIS_URL']} cron_jobs", env=env, cwd=str(ROOT)
        )
        # Some of the demo's drivers on the road (demo/simulator.py), so bookings are dispatched with nobody
        # logged in on the driver page.
        manager.add_process("drivers", f"{' '.join(flask)} demo drive", env=env, cwd=str(ROOT))

        host = options.host if options.host not in ("0.0.0.0", "::") else "127.0.0.1"  # noqa: S104
        print(f"\nCabdesk is starting at http://{host}:{options.port}/  (Ctrl-C stops everything)")
        print("Demo logins (username / password):")
        for username, password in DEMO_LOGINS:
            print(f"  {username:<11} {password}")
        print("Drivers: the phone page is /driver/ — log in with any demo driver's number and PIN 1404")
        print("         (the drivers process simulates up to 20 of them and logs their call signs: pick another)")
        print(f"Redis: {urlsplit(env['REDIS_URL']).netloc}\n", flush=True)
        manager.loop()
        code = manager.returncode or 0
    finally:
        if redis_process is not None:
            redis_process.terminate()
            redis_process.wait(timeout=15)
    sys.exit(code if code not in (130, 143) else 0)


if __name__ == "__main__":
    main()
