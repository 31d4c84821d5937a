"""Extractive question answering over documents: every answer is an exact, cited span of a source.

>>> from docqa.qa import answer
>>> a = answer("What is THAAD?")          # seed documents, index built on first use
>>> a.text, a.citations[0].doc_id, a.citations[0].start
"""

from __future__ import annotations

import threading
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from docqa.qa.errors import (
    BackendUnavailableError,
    BusyError,
    IndexCorruptedError,
    IndexMismatchError,
    IndexNotFoundError,
    IndexWriteError,
    IngestError,
    QAError,
    QuestionError,
    ReaderError,
    SettingsError,
)
from docqa.qa.pipeline import QA
from docqa.qa.settings import SEEDS_DIR, QASettings
from docqa.qa.types import NOT_FOUND_TEXT, Answer, Citation, Document, Hit, Passage, Span

try:
    __version__ = version("docqa")  # one version: pyproject.toml's, as installed
except PackageNotFoundError:  # pragma: no cover - running from a checkout that was never installed
    __version__ = "0+unknown"

__all__ = [
    "__version__",
    "NOT_FOUND_TEXT",
    "QA",
    "SEEDS_DIR",
    "Answer",
    "BackendUnavailableError",
    "BusyError",
    "Citation",
    "Document",
    "Hit",
    "IndexCorruptedError",
    "IndexMismatchError",
    "IndexNotFoundError",
    "IndexWriteError",
    "IngestError",
    "Passage",
    "QAError",
    "QASettings",
    "QuestionError",
    "ReaderError",
    "SettingsError",
    "Span",
    "answer",
]

_services: dict[tuple[str, str], QA] = {}
_lock = threading.Lock()


def answer(question: str, corpus: str | Path = SEEDS_DIR, index_dir: str | Path | None = None) -> Answer:
    """Answer ``question`` from the documents in ``corpus`` (default: the seed documents).

    The index is loaded, or built when missing or stale, on first use and kept for later calls.
    """
    key = (str(Path(corpus).resolve()), str(index_dir or ""))
    with _lock:
        service = _services.get(key)
        if service is None:
            service = _services[key] = QA.from_corpus(corpus, index_dir)
    return service.answer(question)
