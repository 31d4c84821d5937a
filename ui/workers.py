"""Answering in N worker processes that share one read-only index (``docqa serve --workers N``).

Each worker opens the index folder read-only (the FAISS store's versioned files allow any number of readers)
and, before each question, switches to a newer version if the serving process has written one. The serving
process keeps the chat, the REST API and index updates; questions go to the pool.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
from collections.abc import Collection, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from docqa.qa.followup import Turn
from docqa.qa.settings import QASettings
from docqa.qa.types import Answer

_service = None


def _exit_with_parent() -> None:
    """End this worker when the serving process is gone (terminated or killed), so none is left behind."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="docqa-parent-watch").start()


def _init(index_dir: str, settings: QASettings, threads: int) -> None:
    global _service
    _exit_with_parent()
    import torch

    torch.set_num_threads(threads)
    from docqa.index.faiss_store import FaissStore
    from docqa.qa.pipeline import QA

    store = FaissStore(index_dir)
    store.load()
    _service = QA(store, settings)


def _answer(question: str, k: int | None, doc_ids: Collection[str] | None, history: Sequence[Turn] | None) -> Answer:
    assert _service is not None
    _service.backend.refresh()
    return _service.answer(question, k, doc_ids, history)


class AnswerPool:
    """``answer()`` over ``workers`` processes; each loads the index of ``index_dir`` and the reader once."""

    def __init__(self, index_dir: str | Path, workers: int, settings: QASettings | None = None) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        threads = max(1, (os.cpu_count() or 2) // workers)
        self.workers = workers
        self._pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=mp.get_context("spawn"),
            initializer=_init,
            initargs=(str(index_dir), settings or QASettings(), threads),
        )
        # start every worker now (model loading takes seconds), not on the first questions
        for f in [self._pool.submit(os.getpid) for _ in range(workers)]:
            f.result()

    def answer(
        self,
        question: str,
        k: int | None = None,
        doc_ids: Collection[str] | None = None,
        history: Sequence[Turn] | None = None,
    ) -> Answer:
        return self._pool.submit(_answer, question, k, doc_ids, list(history or [])).result()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
