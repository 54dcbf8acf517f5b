"""Where a web process's resident memory goes, cheaply enough to run inside an ordinary soak: no tracing.

Used by ``python -m bench.load_run --census-memory``: gunicorn is started with ``-c python:bench.memory_census``,
so ``post_worker_init`` below runs in the web worker once the app is loaded. Each SIGUSR2 then writes
``$CABDESK_BENCH_TRACE_DIR/census-N.json``, which splits the resident memory into the parts that can grow:

- ``heap_in_use_mb`` / ``heap_free_mb``: glibc's malloc, every arena (``mallinfo2``). Free bytes that keep growing
  beside a flat in-use figure are fragmentation, not a leak;
- ``mmapped_mb``: malloc's blocks big enough for a mapping of their own;
- ``python_blocks``: the live blocks of Python's small-object allocator (``sys.getallocatedblocks``): Python
  objects piling up show here first;
- ``threads``: each thread the process has started holds a stack (and, uncapped, may get an arena);
- ``full_collections``: the collector's full passes so far, each followed by a trim (``core/memory.py``);
- ``compiled_statements``: SQLAlchemy's cache of compiled SQL, which fills up to its bound as new shapes come;
- ``objects`` and ``types``: the objects the garbage collector tracks, by type, outside the frozen startup heap
  (``gc.freeze()`` in wsgi.py), so the census counts only what the shift created.

tracemalloc (``bench/memory_trace.py``) names allocation sites but costs the web workers several times their CPU,
so a traced run is no longer the office's run; this census costs a few tenths of a second per signal.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from bench.load_memory import rss_mb
from bench.memory_trace import TRACE_DIR

MB = 2**20


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def post_worker_init(worker) -> None:
    """gunicorn hook: write a census of the web worker's memory on every SIGUSR2."""
    folder = Path(os.environ[TRACE_DIR])
    count = [0]
    app = worker.wsgi  # the Flask app gunicorn loaded (wsgi:app)

    def write() -> None:
        count[0] += 1
        partial = folder / f"census-{count[0]}.partial"
        partial.write_text(json.dumps(census(app)))
        partial.rename(folder / f"census-{count[0]}.json")  # whole files only: the run waits for the name

    signal.signal(signal.SIGUSR2, lambda *_: threading.Thread(target=write, name="memory census").start())
    worker.log.info("memory census on: SIGUSR2 writes one to %s", folder)


def census(app) -> dict:
    """This process's memory, split into the parts that can grow (see the module's docstring)."""
    heap = _mallinfo2()
    objects = gc.get_objects()  # generations 0–2: the permanent (frozen) generation is left out
    types = Counter(type(thing).__qualname__ for thing in objects)
    total = len(objects)
    del objects
    return {
        "at": time.time(),
        "rss_mb": round(rss_mb(os.getpid()), 2),
        "heap_in_use_mb": None if heap is None else round(heap.uordblks / MB, 2),
        "heap_free_mb": None if heap is None else round(heap.fordblks / MB, 2),
        "mmapped_mb": None if heap is None else round(heap.hblkhd / MB, 2),
        "python_blocks": sys.getallocatedblocks(),
        "threads": threading.active_count(),
        "full_collections": gc.get_stats()[2]["collections"],
        "compiled_statements": _compiled_statements(app),
        "objects": total,
        "types": dict(types.most_common(150)),
    }


def censuses(folder: Path) -> list[Path]:
    """The censuses written so far, oldest first."""
    return sorted(folder.glob("census-*.json"), key=lambda path: int(path.stem.split("-")[1]))


def growth(first: dict, last: dict, top: int = 8) -> dict:
    """What changed from one census to another: each part, and the object types whose count grew most."""
    parts = (
        "rss_mb",
        "heap_in_use_mb",
        "heap_free_mb",
        "mmapped_mb",
        "python_blocks",
        "threads",
        "objects",
        "full_collections",
        "compiled_statements",
    )
    changed = {
        part: None if first.get(part) is None or last.get(part) is None else round(last[part] - first[part], 2)
        for part in parts
    }
    known = ("heap_in_use_mb", "heap_free_mb", "mmapped_mb")
    if changed["rss_mb"] is not None and all(changed[part] is not None for part in known):
        # RSS counts touched pages; the rest is mostly Python's own arenas (mmap) and thread stacks.
        changed["rest_mb"] = round(changed["rss_mb"] - sum(changed[part] for part in known), 2)
    grew = Counter(last["types"])
    grew.subtract(first["types"])
    changed["types"] = [(name, n) for name, n in grew.most_common(top) if n > 0]
    changed["minutes"] = round((last["at"] - first["at"]) / 60, 1)
    return changed


def _compiled_statements(app) -> int | None:
    """How many compiled statements SQLAlchemy's cache holds (an LRU of ``query_cache_size``, 500 by default)."""
    from core.extensions import db

    with app.app_context():
        cache = db.engine._compiled_cache
    return None if cache is None else len(cache)


def _mallinfo2() -> _MallInfo2 | None:
    try:
        function = ctypes.CDLL(None).mallinfo2  # glibc 2.33 and later
    except AttributeError:
        return None
    function.restype = _MallInfo2
    return function()
