"""Fusing the BM25 and dense rankings into one."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FusionSettings:
    """``method``: "rrf" (weighted reciprocal rank fusion) or "minmax" (weighted sum of min-max scores)."""

    method: str = "minmax"
    rrf_k: float = 60.0
    bm25_weight: float = 1.0
    dense_weight: float = 1.0
    candidates: int = 50

    def __post_init__(self) -> None:
        if self.method not in {"rrf", "minmax"}:
            raise ValueError(f"unknown fusion method {self.method!r}")


def fuse(
    bm25: tuple[np.ndarray, np.ndarray],
    dense: tuple[np.ndarray, np.ndarray],
    settings: FusionSettings,
) -> list[tuple[int, float]]:
    """Fused (row, score) pairs, best first. Each input is (rows best first, scores)."""
    fused: dict[int, float] = {}
    for (rows, scores), w in ((bm25, settings.bm25_weight), (dense, settings.dense_weight)):
        if len(rows) == 0 or w == 0:
            continue
        if settings.method == "rrf":
            contrib = w / (settings.rrf_k + np.arange(1, len(rows) + 1))
        else:
            lo, hi = float(scores.min()), float(scores.max())
            contrib = w * ((scores - lo) / (hi - lo) if hi > lo else np.ones(len(scores)))
        for r, c in zip(rows.tolist(), contrib.tolist(), strict=True):
            fused[r] = fused.get(r, 0.0) + c
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))
