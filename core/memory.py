"""A long-running process's memory: set up once the app is built, in the web processes and the RQ workers."""

from __future__ import annotations

import ctypes
import gc
from collections.abc import Callable

FULL_COLLECTION = 2


def malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none (musl, macOS)."""
    try:
        function = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):
        return None
    function.argtypes = [ctypes.c_size_t]
    function.restype = ctypes.c_int
    return function


_TRIM = malloc_trim()


def settle_after_startup() -> None:
    """Freeze what startup built, and give the heap's free pages back to the system after every full collection."""
    # What the app built lives as long as the process: full collections need not walk it again, so they come often
    # enough to free a shift's cyclic garbage early.
    gc.freeze()
    if _TRIM is not None and _trim_after_full_collection not in gc.callbacks:
        gc.callbacks.append(_trim_after_full_collection)


def _trim_after_full_collection(phase: str, info: dict) -> None:
    # glibc keeps the pages of chunks freed in the middle of its heap resident until malloc_trim, so after a burst
    # (a year's report, a big import) a process would keep its peak for good. Ruby's collector trims after each major
    # collection for the same reason. It walks the free chunks of glibc's arenas: a fraction of a millisecond.
    if phase == "stop" and info["generation"] == FULL_COLLECTION:
        _TRIM(0)
