"""Everything that turns documents into a searchable index: ingest -> passages -> BM25 + vectors -> backends.

This package never imports ``qa`` or ``ui`` (a test checks it): question answering builds on it, not the
other way round.
"""

from docqa.index.backend import IndexBackend, IndexSettings, IndexView, Scored, default_index_dir
from docqa.index.bm25 import BM25Index
from docqa.index.faiss_store import FaissStore, FaissView, load_version
from docqa.index.ingest import IngestLimits, IngestReport, ingest, read_document
from docqa.index.passages import PassageSettings, make_passages
from docqa.index.sync import make_backend, open_index, sync, sync_documents
from docqa.index.types import BuildStats, Document, DocumentInfo, Passage, Span

__all__ = [
    "BM25Index",
    "BuildStats",
    "Document",
    "DocumentInfo",
    "FaissStore",
    "FaissView",
    "IndexBackend",
    "IndexSettings",
    "IndexView",
    "IngestLimits",
    "IngestReport",
    "Passage",
    "PassageSettings",
    "Scored",
    "Span",
    "default_index_dir",
    "ingest",
    "load_version",
    "make_backend",
    "make_passages",
    "open_index",
    "read_document",
    "sync",
    "sync_documents",
]
