"""Where a web process's resident memory goes, cheaply enough to run inside an ordinary soak: no tracing.

Used by ``python -m bench.load_run --census-memory``: gunicorn is started with ``-c python:bench.memory_census``,
so ``post_worker_init`` below runs in the web worker once the app is loaded. Each SIGUSR2 then writes
``$CABDESK_BENCH_TRACE_DIR/census-N.json``, which splits the resident memory into the parts that can grow:

- ``heap_in_use_mb`` / ``heap_free_mb``: glibc's malloc, every arena (``mallinfo2``). Free bytes that keep growing
  beside a flat in-use figure are fragmentation, not a leak. Under jemalloc (``LD_PRELOAD``, the load run's
  ``--allocator`` and ``--web-b-allocator``) its own figures instead: bytes allocated, and what it keeps resident
  beyond them;
- ``mmapped_mb``: glibc's blocks big enough for a mapping of their own (jemalloc: counted in the two above);
- ``python_blocks``: the live blocks of Python's small-object allocator (``sys.getallocatedblocks``): Python
  objects piling up show here first;
- ``threads``: each thread the process has started holds a stack (and, uncapped, may get an arena);
- ``full_collections``: the collector's full passes so far, each followed by a trim (``core/memory.py``);
- ``compiled_statements``: SQLAlchemy's cache of compiled SQL, which fills up to its bound as new shapes come, and
  ``statements``: their SQL, so two censuses tell which shapes arrived between them;
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
    heap = c_heap()
    statements = _compiled_statements(app)
    objects = gc.get_objects()  # generations 0–2: the permanent (frozen) generation is left out
    types = Counter(type(thing).__qualname__ for thing in objects)
    total = len(objects)
    del objects
    return {
        "at": time.time(),
        "rss_mb": round(rss_mb(os.getpid()), 2),
        **heap,
        "python_blocks": sys.getallocatedblocks(),
        "threads": threading.active_count(),
        "full_collections": gc.get_stats()[2]["collections"],
        "compiled_statements": len(statements),
        "statements": statements,
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
    changed["new_statements"] = sorted(set(last.get("statements", ())) - set(first.get("statements", ())))
    changed["minutes"] = round((last["at"] - first["at"]) / 60, 1)
    return changed


def _compiled_statements(app) -> list[str]:
    """The SQL of each statement in SQLAlchemy's compiled cache (an LRU of ``query_cache_size``, 500 by default)."""
    from core.extensions import db

    with app.app_context():
        cache = db.engine._compiled_cache
    entries = [] if cache is None else list(cache.values())
    return sorted(" ".join(str(compiled).split()) for compiled in entries)


def c_heap() -> dict:
    """The C heap's figures, MB: jemalloc's where it is preloaded, else glibc's (None where neither answers)."""
    process = ctypes.CDLL(None)
    if hasattr(process, "mallctl"):
        return {"allocator": "jemalloc", **_jemalloc(process.mallctl)}
    try:
        mallinfo2 = process.mallinfo2  # glibc 2.33 and later
    except AttributeError:
        return {"allocator": None, "heap_in_use_mb": None, "heap_free_mb": None, "mmapped_mb": None}
    mallinfo2.restype = _MallInfo2
    heap = mallinfo2()
    return {
        "allocator": "glibc",
        "heap_in_use_mb": round(heap.uordblks / MB, 2),
        "heap_free_mb": round(heap.fordblks / MB, 2),
        "mmapped_mb": round(heap.hblkhd / MB, 2),
    }


def _jemalloc(mallctl) -> dict:
    size = ctypes.c_size_t
    mallctl.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.POINTER(size), ctypes.c_void_p, size]
    mallctl.restype = ctypes.c_int
    epoch = ctypes.c_uint64(1)  # jemalloc's statistics are a snapshot, refreshed by writing the epoch
    mallctl(b"epoch", None, None, ctypes.byref(epoch), ctypes.sizeof(epoch))

    def read(name: bytes) -> int:
        value, length = size(0), size(ctypes.sizeof(size))
        if mallctl(name, ctypes.byref(value), ctypes.byref(length), None, 0):
            raise OSError(f"jemalloc has no {name.decode()}")
        return value.value

    allocated, resident = read(b"stats.allocated"), read(b"stats.resident")
    return {
        "heap_in_use_mb": round(allocated / MB, 2),
        "heap_free_mb": round((resident - allocated) / MB, 2),  # dirty pages not yet decayed, metadata, slack
        "mmapped_mb": 0.0,
    }
