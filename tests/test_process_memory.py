"""A web process or worker stays small over a shift: freed heap pages go back, requests leave no classes behind.

The soaks in bench/README.md measure the slope; these check the two mechanisms behind it where they can fail.
"""

from __future__ import annotations

import gc
import json
import socket
import subprocess
import sys

from config import PROJECT_ROOT

# Allocate ~170 MB in blocks glibc's malloc serves from its heap (above Python's 512-byte small objects), keep one in
# 32 so the freed ones are holes in the middle of the heap, then run a full collection.
FRAGMENTED_HEAP = """
import gc, json, os, sys
sys.path.insert(0, {root!r})
if {settle}:
    from core.memory import settle_after_startup
    settle_after_startup()
def rss_mb():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
gc.disable()
before = rss_mb()
blocks = [bytearray(3000) for _ in range(60000)]
kept = blocks[::32]
del blocks
freed = rss_mb()
gc.collect()
print(json.dumps({{"before": before, "freed": freed, "collected": rss_mb()}}))
"""


def fragmented_heap(settle: bool) -> dict:
    """RSS in MB of a fresh interpreter: at start, after freeing most of a fragmented heap, after a full collection."""
    script = FRAGMENTED_HEAP.format(root=str(PROJECT_ROOT), settle=settle)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    return json.loads(done.stdout)


def test_a_full_collection_gives_the_heaps_freed_pages_back_to_the_system():
    plain = fragmented_heap(settle=False)
    settled = fragmented_heap(settle=True)
    # Without the trim glibc keeps the holes resident: the collection changes nothing (what the hook is for).
    assert plain["freed"] - plain["before"] > 100
    assert plain["collected"] > plain["freed"] - 20
    # With it, the collection hands back most of what was freed; what stays is the one block in 32 still held.
    assert settled["freed"] - settled["before"] > 100
    assert settled["collected"] < settled["before"] + (settled["freed"] - settled["before"]) / 3


def classes_alive() -> int:
    """How many classes the collector tracks outside the frozen startup heap."""
    return sum(1 for thing in gc.get_objects() if isinstance(thing, type))


def test_a_page_under_gunicorn_leaves_no_class_behind(client):
    # gunicorn puts its socket in the environ; engine.io's middleware then defines a class for the request.
    ours, theirs = socket.socketpair()
    environ = {"gunicorn.socket": ours}
    client.get("/login", environ_overrides=environ)  # first-use loading (templates, translations) first
    gc.collect()
    gc.disable()
    try:
        before = classes_alive()
        for _ in range(50):
            assert client.get("/login", environ_overrides=environ).status_code == 200
        after = classes_alive()
    finally:
        gc.enable()
        ours.close()
        theirs.close()
    assert after - before < 5


def test_socketio_still_answers_on_its_own_path(client):
    opened = client.get("/socket.io/?EIO=4&transport=polling")
    assert opened.status_code == 200
    assert opened.get_data(as_text=True).startswith("0{")  # engine.io's open packet: handshake data follows
