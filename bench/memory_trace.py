"""Where a web process's memory grows: tracemalloc in the gunicorn worker, snapshots on the load run's signal.

Used by ``python -m bench.load_run --trace-memory``: gunicorn is started with ``-c python:bench.memory_trace``,
so ``post_worker_init`` below runs in the web worker once the app is loaded. Each SIGUSR2 then takes a snapshot
and writes ``$CABDESK_BENCH_TRACE_DIR/growth-N.json``: what grew since the first snapshot and since the one
before (compared in the worker: pickling a traced heap under load takes the GIL for many seconds). Tracing costs
CPU and memory of its own, so a traced run's latencies and RSS are not the office's: it answers *what* grows.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import tracemalloc
from pathlib import Path

FRAMES = 4  # enough to see which of our functions a library allocation was made for
TRACE_DIR = "CABDESK_BENCH_TRACE_DIR"


def post_worker_init(worker) -> None:
    """gunicorn hook: start tracing in the web worker and dump a snapshot on every SIGUSR2."""
    folder = Path(os.environ[TRACE_DIR])
    tracemalloc.start(FRAMES)
    taken: list[tracemalloc.Snapshot] = []
    count = [0]

    def dump() -> None:
        snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
        figures = {}
        if taken:
            figures = {"whole_run": growth(taken[0], snapshot), "since_last": growth(taken[-1], snapshot)}
        taken[1:] = [snapshot]  # the first and the latest are all a comparison needs
        count[0] += 1
        partial = folder / f"growth-{count[0]}.partial"
        partial.write_text(json.dumps(figures))
        partial.rename(folder / f"growth-{count[0]}.json")  # whole files only: the run waits for the name

    # Off the main thread: it accepts the connections, and a dump of a big heap takes seconds.
    signal.signal(signal.SIGUSR2, lambda *_: threading.Thread(target=dump, name="tracemalloc dump").start())
    worker.log.info("tracemalloc on (%d frames): SIGUSR2 writes a snapshot to %s", FRAMES, folder)


def snapshots(folder: Path) -> list[Path]:
    """The comparisons written so far, oldest first."""
    return sorted(folder.glob("growth-*.json"), key=lambda path: int(path.stem.split("-")[1]))


def growth(old: tracemalloc.Snapshot, new: tracemalloc.Snapshot, top: int = 15) -> dict:
    """What grew between two snapshots: the traced total and the allocation sites that grew most."""
    total = sum(stat.size for stat in new.statistics("filename")) - sum(
        stat.size for stat in old.statistics("filename")
    )
    sites = []
    for stat in new.compare_to(old, "traceback")[:top]:
        frames = [_where(frame) for frame in reversed(stat.traceback)]
        sites.append(
            {
                "grew_kb": round(stat.size_diff / 1024, 1),
                "blocks_grew": stat.count_diff,
                "now_kb": round(stat.size / 1024, 1),
                "where": " ← ".join(frames),  # the allocation first, then its callers
            }
        )
    return {"traced_growth_mb": round(total / 2**20, 2), "sites": sites}


def _where(frame) -> str:
    return f"{frame.filename.rsplit('site-packages/', 1)[-1]}:{frame.lineno}"
