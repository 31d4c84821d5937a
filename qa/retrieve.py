"""Hybrid retrieval: BM25 and dense rankings from any index backend, fused; every hit keeps all its scores."""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal

import numpy as np

from docqa.index.backend import IndexView, Scored
from docqa.index.encoder import Encoder
from docqa.qa.fusion import FusionSettings, fuse
from docqa.qa.timing import Timings
from docqa.qa.types import Hit

RetrievalMode = Literal["hybrid", "bm25", "dense"]


class Retriever:
    """Searches an index view with BM25, dense vectors, or both fused."""

    def __init__(self, encoder: Encoder, fusion: FusionSettings | None = None) -> None:
        self.encoder = encoder
        self.fusion = fusion or FusionSettings()

    def search(
        self,
        view: IndexView,
        question: str,
        k: int = 5,
        mode: RetrievalMode = "hybrid",
        query_vec: np.ndarray | None = None,
        doc_ids: Collection[str] | None = None,
        timings: Timings | None = None,
    ) -> list[Hit]:
        """Top-k hits for ``question`` in ``view`` (only passages of ``doc_ids`` when given)."""
        if k < 1:
            raise ValueError(f"k must be at least 1, not {k}")
        if mode not in ("hybrid", "bm25", "dense"):
            raise ValueError(f"unknown retrieval mode {mode!r}")
        timings = timings if timings is not None else Timings()
        n = max(k, self.fusion.candidates)
        dense: list[Scored] = []
        bm25: list[Scored] = []
        if mode in ("hybrid", "dense"):
            if query_vec is None:
                with timings.stage("embed_query"):
                    query_vec = self.encoder.encode([question])[0]
            with timings.stage("dense"):
                dense = view.dense_search(query_vec, n, doc_ids)
        if mode in ("hybrid", "bm25"):
            with timings.stage("bm25"):
                bm25 = view.bm25_search(question, n, doc_ids)
        with timings.stage("fusion"):
            if mode == "hybrid":
                ranked = fuse(bm25, dense, self.fusion)[:k]
            else:
                ranked = list(dense if mode == "dense" else bm25)[:k]
            b_pos = {pid: (i, s) for i, (pid, s) in enumerate(bm25)}
            d_pos = {pid: (i, s) for i, (pid, s) in enumerate(dense)}
            hits = []
            for rank, (pid, score) in enumerate(ranked, start=1):
                b = b_pos.get(pid)
                d = d_pos.get(pid)
                hits.append(
                    Hit(
                        passage=view.passage(pid),
                        fused=float(score),
                        bm25=b[1] if b else None,
                        dense=d[1] if d else None,
                        bm25_rank=b[0] + 1 if b else None,
                        dense_rank=d[0] + 1 if d else None,
                        rank=rank,
                    )
                )
        return hits
