"""Faults the load run can inject while the office is busy (an RQ worker killed in the middle of a job), and its
looks into the web workers' memory (``bench/memory_trace.py``, ``bench/memory_census.py``).

``python -m bench.load_run --kill-worker-at MINUTES`` kills "rq worker 2" (SIGKILL: no warm shutdown, no
cleanup) at that point of the measured period, at a moment RQ says it is running a job of the office's own work
(a dispatch, a text, a feedback request: not one of rq cron's periodic pushes), and starts a new one
in its place, as systemd's ``Restart=always`` would. The run's reconciliation then says whether anything was
lost or doubled: the job in flight is RQ's "abandoned" job, and the outbox, feedback and dispatch sweeps pick
up its work after their leases.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

from bench.memory_census import censuses
from bench.memory_trace import snapshots
from bench.processes import log

VICTIM = "rq worker 2"
BUSY_WAIT_SECONDS = 90.0
# Jobs whose loss would lose something an office cares about, unlike the periodic pushes and sweeps.
OFFICE_WORK = ("dispatch.tasks.dispatch_job", "notifications.tasks.send_text", "feedback.tasks.ask_for_feedback")
CENSUS_EVERY_SECONDS = 300.0


def current_job(redis, pid: int) -> tuple[str | None, str | None]:
    """The id and function of the job the RQ worker with this pid is running, if any."""
    from rq import Worker
    from rq.exceptions import NoSuchJobError

    for worker in Worker.all(connection=redis):
        if worker.pid == pid:
            job_id = worker.get_current_job_id()
            if job_id is None:
                return None, None
            try:
                return job_id, worker.get_current_job().func_name
            except (NoSuchJobError, AttributeError):  # finished between the two reads
                return None, None
    return None, None


def kill_worker_mid_job(topology: dict) -> dict:
    """SIGKILL the victim worker while it runs the office's work (else after 90 s regardless); what it was doing."""
    process = topology["rq"][VICTIM]
    redis = topology["redis"]
    deadline = time.time() + BUSY_WAIT_SECONDS
    job_id, function = current_job(redis, process.pid)
    while function not in OFFICE_WORK and time.time() < deadline:
        time.sleep(0.002)  # a job lasts milliseconds: look often (two Redis reads)
        job_id, function = current_job(redis, process.pid)
    process.send_signal(signal.SIGKILL)
    process.wait()
    log(f"{VICTIM} (pid {process.pid}) killed with SIGKILL in job {job_id} ({function})")
    return {"killed_at": time.time(), "pid": process.pid, "job_id": job_id, "job_function": function}


def restart_worker(topology: dict, restart) -> None:
    """Start the victim's successor, as systemd's ``Restart=always`` would; sampled for memory like the others."""
    topology["rq"][VICTIM] = restart()
    topology["processes"][f"{VICTIM} (after the kill)"] = ("worker", topology["rq"][VICTIM].pid)
    log(f"a new {VICTIM} started (pid {topology['rq'][VICTIM].pid})")


def job_fate(redis, killed: dict) -> dict:
    """Where RQ left the killed job by the end of the run: its status and, if it failed, why."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    if not killed.get("job_id"):
        return {"status": "no job was running"}
    try:
        job = Job.fetch(killed["job_id"], connection=redis)
    except NoSuchJobError:
        return {"status": "gone (its result expired)"}
    result = job.latest_result()
    return {
        "status": job.get_status(refresh=True),
        "last_result": None if result is None else str(result.type),
        "exc": None if result is None or not result.exc_string else result.exc_string.strip().splitlines()[-1],
    }


class Interventions:
    """What the run does to the office at set times: looks at the web workers' memory, a worker killed."""

    def __init__(self, args, topology: dict, warm: float, until: float, restart):
        self.topology = topology
        self.restart = restart
        self.due: list[tuple[float, str]] = []
        self.figures: dict = {}
        self.threads: list[threading.Thread] = []
        self.snapshots_asked = 0
        self.restarted = False
        self.census = args.census_memory
        self.written = censuses if args.census_memory else snapshots  # a web worker's files, oldest first
        if args.trace_memory:
            self.due += [(warm, "snapshot"), ((warm + until) / 2, "snapshot"), (until, "snapshot")]
        elif args.census_memory:
            steps = max(1, round((until - warm) / CENSUS_EVERY_SECONDS))
            self.due += [(warm + (until - warm) * i / steps, "snapshot") for i in range(steps + 1)]
        if args.kill_worker_at is not None:
            self.due.append((warm + args.kill_worker_at * 60, "kill"))
        self.due.sort()

    def tick(self, now: float) -> None:
        """Do what has fallen due; the kill in a thread of its own, as it waits for the worker to be busy."""
        if "worker_killed" in self.figures and not self.restarted:
            # From this (the main) thread: a child dies with the thread that started it (PR_SET_PDEATHSIG).
            restart_worker(self.topology, self.restart)
            self.restarted = True
        while self.due and self.due[0][0] <= now:
            _, what = self.due.pop(0)
            if what == "snapshot":
                self.snapshot()
            else:
                thread = threading.Thread(target=self._kill, name="kill worker")
                thread.start()
                self.threads.append(thread)

    def finish(self) -> None:
        """The end of the calls: what is still due happens now, and a kill in progress is waited for."""
        self.tick(float("inf"))
        for thread in self.threads:
            thread.join()
        self.tick(float("inf"))  # the successor of a worker killed just now
        from tests.support.servers import wait_until

        asked = self.snapshots_asked
        for name, folder, _ in self.web_workers():
            wait_until(lambda f=folder: len(self.written(f)) >= asked, timeout=300, what=f"{name}'s memory look")

    def _kill(self) -> None:
        self.figures["worker_killed"] = kill_worker_mid_job(self.topology)

    def snapshot(self) -> None:
        """Ask every web worker for a snapshot or census; ``finish`` waits for them (a snapshot takes a while)."""
        for _, _, pid in self.web_workers():
            os.kill(pid, signal.SIGUSR2)
        self.snapshots_asked += 1

    def web_workers(self) -> list[tuple[str, Path, int]]:
        """Each traced web worker: its name, its snapshot folder and its pid."""
        return [
            (name, self.topology["trace_dirs"][name], pid)
            for name, (kind, pid) in self.topology["processes"].items()
            if kind == "web" and name in self.topology["trace_dirs"]
        ]

    def results(self) -> dict:
        """The kill and the killed job's fate; per web worker, what grew over the run and over its last half."""
        from bench.memory_census import growth

        if "worker_killed" in self.figures:
            self.figures["worker_killed"]["job_fate"] = job_fate(self.topology["redis"], self.figures["worker_killed"])
        for name, folder, _ in self.web_workers():
            written = [json.loads(path.read_text()) for path in self.written(folder)]
            if not self.census:
                self.figures.setdefault("memory_trace", {})[name] = written[-1]
                continue
            parts = [{k: v for k, v in one.items() if k not in ("types", "statements")} for one in written]
            self.figures.setdefault("memory_census", {})[name] = {
                "whole_run": growth(written[0], written[-1]),
                "last_half": growth(written[len(written) // 2], written[-1]),
                "censuses": parts,
            }
        return self.figures
