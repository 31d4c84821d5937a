"""Hybrid retrieval: BM25 and dense rankings, fused; every hit keeps all its scores."""

from __future__ import annotations

import time

import numpy as np

from index.store import PassageIndex
from qa.embed import Encoder
from qa.fusion import FusionSettings, fuse
from qa.types import Hit


class Retriever:
    """Searches a PassageIndex with BM25, dense vectors, or both fused."""

    def __init__(self, index: PassageIndex, encoder: Encoder, fusion: FusionSettings | None = None) -> None:
        self.index = index
        self.encoder = encoder
        self.fusion = fusion or FusionSettings()

    def search(
        self,
        question: str,
        k: int = 5,
        mode: str = "hybrid",
        timings: dict[str, float] | None = None,
        query_vec: np.ndarray | None = None,
    ) -> list[Hit]:
        """Top-k hits for ``question``; ``mode`` is "hybrid", "bm25" or "dense"."""
        timings = timings if timings is not None else {}
        n = max(k, self.fusion.candidates)
        empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
        dense = bm25 = empty
        if mode in ("hybrid", "dense"):
            if query_vec is None:
                t = time.perf_counter()
                query_vec = self.encoder.encode([question])[0]
                timings["embed_query"] = (time.perf_counter() - t) * 1000
            t = time.perf_counter()
            dense = self.index.dense_search(query_vec, n)
            timings["faiss"] = (time.perf_counter() - t) * 1000
        if mode in ("hybrid", "bm25"):
            t = time.perf_counter()
            bm25 = self.index.bm25.search(question, n)
            timings["bm25"] = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        if mode == "hybrid":
            ranked = fuse(bm25, dense, self.fusion)[:k]
        else:
            rows, scores = dense if mode == "dense" else bm25
            ranked = list(zip(rows.tolist()[:k], scores.tolist()[:k], strict=True))
        b_pos = {r: (i, float(s)) for i, (r, s) in enumerate(zip(*bm25, strict=True))}
        d_pos = {r: (i, float(s)) for i, (r, s) in enumerate(zip(*dense, strict=True))}
        hits = []
        for rank, (row, score) in enumerate(ranked):
            b = b_pos.get(row)
            d = d_pos.get(row)
            hits.append(
                Hit(
                    passage=self.index.passages[row],
                    fused=float(score),
                    bm25=b[1] if b else None,
                    dense=d[1] if d else None,
                    bm25_rank=b[0] + 1 if b else None,
                    dense_rank=d[0] + 1 if d else None,
                    rank=rank + 1,
                    row=row,
                )
            )
        timings["fusion"] = (time.perf_counter() - t) * 1000
        return hits
