"""Resident memory of the load run's processes, sampled once a second: peaks and the slope once warm.

RSS is ``VmRSS`` of ``/proc/<pid>/status`` (what the kernel counts as in memory for that process: its own pages and
the shared ones it touches). gunicorn is two processes: the master (which only watches) and its one worker (which
serves): both are sampled, separately. Redis is sampled from ``/proc`` as well, and its ``INFO`` ``used_memory``
(what its allocator holds for data) beside it.

The slope is the least-squares line through the samples taken after the warm-up, in MB per 10 minutes: a process
that keeps growing at a steady rate leaks, one that grew at start and then stays flat does not (its slope over the
last half of the samples, given beside, is then flatter). Over a few minutes it mostly measures caches filling; only a
long run (``--soak``) says much.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path

TARGETS_MB = {"web": 250.0, "worker": 150.0, "redis": 100.0}
SLOPE_TARGET_MB_PER_10_MIN = 1.0
SLOPE_JUDGED_AFTER_S = 600  # a slope over less than 10 minutes is shown, not judged: caches are still filling


def rss_mb(pid: int) -> float | None:
    """VmRSS of a process in MB (None when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return None
    return None


def children(pid: int) -> list[int]:
    """A process's live children."""
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found.extend(int(child) for child in (task / "children").read_text().split())
    except (FileNotFoundError, ProcessLookupError, ValueError):
        pass
    return found


def slope_mb_per_10_min(samples: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, MB) samples, in MB per 10 minutes (None with fewer than 10 samples)."""
    if len(samples) < 10:
        return None
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_v = sum(v for _, v in samples) / n
    spread = sum((t - mean_t) ** 2 for t, _ in samples)
    if spread == 0:
        return None
    return sum((t - mean_t) * (v - mean_v) for t, v in samples) / spread * 600


class MemorySampler:
    """A thread sampling every watched process (name → pid, with its kind for the targets) once a second."""

    def __init__(self, processes: dict[str, tuple[str, int]], redis, warm_from: float):
        self.processes = processes  # name → (kind, pid); kind in TARGETS_MB or "info"
        self.redis = redis
        self.warm_from = warm_from
        self.samples: dict[str, list[tuple[float, float]]] = {name: [] for name in processes}
        self.samples["redis used_memory"] = []
        self.load: list[tuple[float, float]] = []  # the 1-minute load average, for the record
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="memory", daemon=True)

    def __enter__(self) -> MemorySampler:
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stopping.set()
        self.thread.join(5)

    def _run(self) -> None:
        while not self.stopping.is_set():
            now = time.time()
            self.load.append((now, os.getloadavg()[0]))
            for name, (_, pid) in list(self.processes.items()):  # the run may add one meanwhile
                value = rss_mb(pid)
                if value is not None:
                    self.samples.setdefault(name, []).append((now, value))
            # Redis busy or gone at the end: a missing sample, not an error.
            with contextlib.suppress(Exception):
                used = int(self.redis.info("memory")["used_memory"]) / 2**20
                self.samples["redis used_memory"].append((now, used))
            self.stopping.wait(1.0)

    def load_figures(self) -> dict:
        """The machine's 1-minute load average once warm: mean and highest."""
        warm = [value for t, value in self.load if t >= self.warm_from]
        if not warm:
            return {}
        return {"mean": round(sum(warm) / len(warm), 2), "max": round(max(warm), 2)}

    def figures(self) -> dict:
        """Per process: kind, first and last warm sample, peak, slope, the target and whether it was met."""
        kinds = {name: kind for name, (kind, _) in self.processes.items()}
        kinds["redis used_memory"] = "redis"
        result = {}
        for name, samples in self.samples.items():
            warm = [(t - self.warm_from, v) for t, v in samples if t >= self.warm_from]
            kind = kinds[name]
            peak = max((v for _, v in samples), default=None)
            target = TARGETS_MB.get(kind)
            slope = slope_mb_per_10_min(warm)
            result[name] = {
                "kind": kind,
                "samples": len(samples),
                "start_mb": round(samples[0][1], 1) if samples else None,
                "warm_start_mb": round(warm[0][1], 1) if warm else None,
                "end_mb": round(samples[-1][1], 1) if samples else None,
                "peak_mb": round(peak, 1) if peak is not None else None,
                "slope_mb_per_10_min": round(slope, 2) if slope is not None else None,
                # Growth that levels off (caches filling) shows here as a flatter line than over the whole run.
                "last_half_slope_mb_per_10_min": _rounded(slope_mb_per_10_min(warm[len(warm) // 2 :])),
                "warm_seconds": round(warm[-1][0] - warm[0][0]) if len(warm) > 1 else 0,
                "target_mb": target,
                "peak_met": None if target is None or peak is None else peak <= target,
                "slope_met": None
                if slope is None or target is None or warm[-1][0] - warm[0][0] < SLOPE_JUDGED_AFTER_S
                else slope < SLOPE_TARGET_MB_PER_10_MIN,
            }
        return result


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
