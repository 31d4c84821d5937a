"""Extractive question answering over documents: every answer is an exact, cited span of a source.

>>> from qa import answer
>>> a = answer("What is THAAD?")          # seed documents, index built on first use
>>> a.text, a.citations[0].doc_id, a.citations[0].start
"""

from __future__ import annotations

import threading
from pathlib import Path

from qa.errors import (
    IndexCorruptedError,
    IndexMismatchError,
    IndexNotFoundError,
    IngestError,
    QAError,
    QuestionError,
    ReaderError,
)
from qa.types import NOT_FOUND_TEXT, Answer, Citation, Document, Hit, Passage, Span

__all__ = [
    "QA",
    "NOT_FOUND_TEXT",
    "SEEDS_DIR",
    "Answer",
    "Citation",
    "Document",
    "Hit",
    "IndexCorruptedError",
    "IndexMismatchError",
    "IndexNotFoundError",
    "IngestError",
    "Passage",
    "QAError",
    "QASettings",
    "QuestionError",
    "ReaderError",
    "Span",
    "answer",
]

SEEDS_DIR = Path(__file__).resolve().parent.parent / "seeds"
_services: dict = {}
_lock = threading.Lock()


def __getattr__(name: str):
    # the pipeline imports the index package, which imports qa.text: load it lazily to avoid a cycle
    if name in {"QA", "QASettings"}:
        from qa import pipeline

        return getattr(pipeline, name)
    raise AttributeError(name)


def answer(question: str, corpus: str | Path = SEEDS_DIR, index_dir: str | Path | None = None) -> Answer:
    """Answer ``question`` from the documents in ``corpus`` (default: the seed documents).

    The index is loaded, or built when missing or stale, on first use and kept for later calls.
    """
    from qa.pipeline import QA

    key = (str(Path(corpus).resolve()), str(index_dir or ""))
    with _lock:
        service = _services.get(key)
        if service is None:
            service = _services[key] = QA.from_corpus(corpus, index_dir)
    return service.answer(question)
