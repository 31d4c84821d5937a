"""Stage timings in milliseconds, recorded with a context manager instead of hand-written perf_counter pairs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


class Timings(dict[str, float]):
    """Milliseconds per stage; a stage timed twice accumulates."""

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t = time.perf_counter()
        try:
            yield
        finally:
            self[name] = self.get(name, 0.0) + (time.perf_counter() - t) * 1000
