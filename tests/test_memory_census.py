"""The memory census (bench/memory_census.py) reads the C heap of the allocator a process runs on.

The soaks compare glibc's malloc with jemalloc side by side (``--web-b-allocator``); a census that read glibc's
figures in a jemalloc process would report an empty heap and put the whole growth under "the rest".
"""

from __future__ import annotations

import ctypes.util
import json
import os
import subprocess
import sys

from bench.load_run import NO_TCACHE, allocator_env, jemalloc_env, unit_allocator
from config import PROJECT_ROOT

# Heap figures before and after 30 MB in 3,000-byte blocks: above Python's small objects and below glibc's mmap
# threshold, so both allocators serve them from their heaps.
GROW_THE_HEAP = """
import json, sys
sys.path.insert(0, {root!r})
from bench.memory_census import c_heap
before = c_heap()
blocks = [bytearray(3000) for _ in range(10000)]
print(json.dumps({{"before": before, "after": c_heap()}}))
"""


# Seven blocks of each size glibc's per-thread cache takes (up to 1,032 bytes), freed again: that cache keeps them,
# outside the arenas' free lists, so glibc's count of bytes in use does not fall.
FREE_SMALL_BLOCKS = """
import ctypes, json, sys
sys.path.insert(0, {root!r})
from bench.memory_census import c_heap
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
blocks = [libc.malloc(size) for size in range(16, 1040, 16) for _ in range(7)]
held = c_heap()["heap_in_use_mb"]
for block in blocks:
    libc.free(block)
print(json.dumps({{"held": held, "freed": c_heap()["heap_in_use_mb"]}}))
"""


def in_interpreter(script: str, **env: str) -> dict:
    """What ``script`` prints, as JSON, run in a fresh interpreter with ``env`` added."""
    done = subprocess.run(
        [sys.executable, "-c", script.format(root=str(PROJECT_ROOT))],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env=os.environ | env,
    )
    return json.loads(done.stdout)


def heap_grown(**env: str) -> dict:
    """The census's heap figures in a fresh interpreter, before and after it allocates 30 MB."""
    return in_interpreter(GROW_THE_HEAP, **env)


def test_the_census_reads_glibcs_heap_in_an_ordinary_process():
    figures = heap_grown()
    assert figures["after"]["allocator"] == "glibc"
    assert figures["after"]["heap_in_use_mb"] - figures["before"]["heap_in_use_mb"] > 25


def test_the_load_runs_jemalloc_runs_a_process_on_jemalloc_and_the_census_reads_its_figures():
    assert ctypes.util.find_library("jemalloc"), "libjemalloc2 comes with Debian's redis-tools (make system-test)"
    figures = heap_grown(**jemalloc_env(2))
    assert figures["after"]["allocator"] == "jemalloc"
    # glibc's mallinfo2 would see none of it: jemalloc serves every malloc of the process.
    assert figures["after"]["heap_in_use_mb"] - figures["before"]["heap_in_use_mb"] > 25
    assert figures["after"]["heap_free_mb"] >= 0


def test_the_load_run_takes_the_web_units_allocator(tmp_path):
    # The unit preloads no allocator and turns glibc's per-thread caches off: gunicorn runs on glibc's malloc (two
    # arenas) without them, and so does the load run.
    assert unit_allocator() == "glibc-no-tcache"
    # A unit that preloads jemalloc, as docs/DEPLOYMENT.md tells how, is read as one.
    unit = tmp_path / "cabdesk-web@.service"
    lines = [f"Environment={name}={value}" for name, value in jemalloc_env(2).items()]
    unit.write_text("\n".join(["[Service]", "Environment=MALLOC_ARENA_MAX=2", *lines, "ExecStart=gunicorn"]))
    assert unit_allocator(unit) == "jemalloc"
    # One that turns glibc's per-thread cache off, among other tunables.
    unit.write_text(f"[Service]\nEnvironment=GLIBC_TUNABLES=glibc.malloc.trim_threshold=131072:{NO_TCACHE}\n")
    assert unit_allocator(unit) == "glibc-no-tcache"


def test_glibcs_per_thread_cache_counts_as_in_use_and_the_load_runs_tunable_turns_it_off():
    # Why the web unit turns it off: about 150 threads' caches of freed blocks looked like a heap that grows.
    cached = in_interpreter(FREE_SMALL_BLOCKS)
    assert cached["held"] - cached["freed"] < 0.05  # all 230 KB kept: the census's rounding, at most
    uncached = in_interpreter(FREE_SMALL_BLOCKS, **allocator_env("glibc-no-tcache", 2))
    assert uncached["held"] - uncached["freed"] > 0.15  # 448 blocks, 230 KB, back on the free lists
