"""Micro-batching: forward passes of concurrent questions run as one batch.

A caller that finds the model idle becomes the leader: it waits ``wait_ms`` for other callers to queue their
windows, pads everything to one length, runs one forward pass and hands each caller its rows. Callers that
arrive while a batch runs queue for the next one; the first of them leads it. No background thread: nothing to
start or stop, and a single caller pays only ``wait_ms`` when ``wait_ms`` > 0 (0 batches only what is already
waiting, which is what a busy server has).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray]
Forward = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass
class _Request:
    inputs: Arrays
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    out: tuple[np.ndarray, np.ndarray] | None = None
    error: BaseException | None = None


class MicroBatcher:
    """Calls ``forward(input_ids, attention_mask, token_type_ids)`` on batches gathered from concurrent callers."""

    def __init__(self, forward: Forward, wait_ms: float = 0.0, max_windows: int = 32, pad_id: int = 0) -> None:
        self.forward = forward
        self.wait_s = max(0.0, wait_ms) / 1000
        self.max_windows = max_windows
        self.pad_id = pad_id
        self._lock = threading.Lock()
        self._queue: list[_Request] = []
        self._busy = False
        self.batches = 0  # forward passes run (for tests and benchmarks)
        self.requests = 0

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray, token_type_ids: np.ndarray):
        req = _Request((input_ids, attention_mask, token_type_ids))
        with self._lock:
            self._queue.append(req)
            self.requests += 1
            lead = not self._busy
            self._busy = True
        if not lead:
            req.done.wait()
            if not req.lead:
                if req.error is not None:
                    raise req.error
                assert req.out is not None
                return req.out
        if self.wait_s:
            time.sleep(self.wait_s)
        self._run_one_batch()
        if req.error is not None:
            raise req.error
        assert req.out is not None
        return req.out

    def _run_one_batch(self) -> None:
        with self._lock:
            batch, n = [], 0
            while self._queue and (not batch or n + len(self._queue[0].inputs[0]) <= self.max_windows):
                r = self._queue.pop(0)
                batch.append(r)
                n += len(r.inputs[0])
        try:
            starts, ends = self.forward(*self._stack(batch))
            row = 0
            for r in batch:
                k, length = r.inputs[0].shape
                r.out = (starts[row : row + k, :length], ends[row : row + k, :length])
                row += k
        except BaseException as exc:  # every caller of the batch gets the error
            for r in batch:
                r.error = exc
        with self._lock:
            self.batches += 1
            nxt = self._queue[0] if self._queue else None
            if nxt is None:
                self._busy = False
            else:
                nxt.lead = True  # the next batch is led by its first caller
        for r in batch:
            r.done.set()
        if nxt is not None:
            nxt.done.set()

    def _stack(self, batch: list[_Request]) -> Arrays:
        if len(batch) == 1:
            return batch[0].inputs
        width = max(r.inputs[0].shape[1] for r in batch)
        out = []
        for j, fill in enumerate((self.pad_id, 0, 0)):
            parts = []
            for r in batch:
                a = r.inputs[j]
                parts.append(
                    np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=fill) if a.shape[1] < width else a
                )
            out.append(np.concatenate(parts))
        return out[0], out[1], out[2]
