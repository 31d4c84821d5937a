"""Give freed heap memory back to the operating system after an index update.

A server answers in many threads while an update builds and swaps a new index; glibc keeps the old index's
freed memory in per-thread arenas, so a long-running server's RSS climbs with every upload although nothing is
leaked (docs/reliability.md, soak). ``malloc_trim(0)`` after each swap returns it. Elsewhere than glibc this does
nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache


@lru_cache(maxsize=1)
def _libc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def release_free_memory() -> bool:
    """Return freed heap pages to the OS (True when glibc's ``malloc_trim`` ran)."""
    libc = _libc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True
