"""Hybrid passage index: FAISS dense vectors + BM25, persisted atomically with a checksummed manifest."""

from index.bm25 import BM25Index
from index.store import BuildStats, IndexSettings, PassageIndex, build_index, default_index_dir, load_index, open_index

__all__ = [
    "BM25Index",
    "BuildStats",
    "IndexSettings",
    "PassageIndex",
    "build_index",
    "default_index_dir",
    "load_index",
    "open_index",
]
