"""Fusing the BM25 and dense rankings into one (the same code for every index backend)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar, get_args

FusionMethod = Literal["minmax", "rrf"]
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class FusionSettings:
    """``minmax``: weighted sum of min-max normalised scores (the default, chosen on SQuAD half a);
    ``rrf``: weighted reciprocal rank fusion with constant ``rrf_k``. ``candidates``: depth of each ranking."""

    method: FusionMethod = "minmax"
    rrf_k: float = 60.0
    bm25_weight: float = 1.0
    dense_weight: float = 1.0
    candidates: int = 50

    def __post_init__(self) -> None:
        if self.method not in get_args(FusionMethod):
            raise ValueError(f"unknown fusion method {self.method!r} (choose {', '.join(get_args(FusionMethod))})")
        if self.candidates < 1 or self.rrf_k <= 0 or min(self.bm25_weight, self.dense_weight) < 0:
            raise ValueError(f"invalid fusion settings: {self}")


def fuse(
    bm25: Sequence[tuple[K, float]], dense: Sequence[tuple[K, float]], settings: FusionSettings
) -> list[tuple[K, float]]:
    """Fused (key, score) pairs, best first; ties broken by key. Each input is a ranking, best first."""
    fused: dict[K, float] = {}
    for ranking, w in ((bm25, settings.bm25_weight), (dense, settings.dense_weight)):
        if not ranking or w == 0:
            continue
        if settings.method == "rrf":
            contrib = [w / (settings.rrf_k + i) for i in range(1, len(ranking) + 1)]
        else:
            scores = [float(s) for _, s in ranking]
            lo, hi = min(scores), max(scores)
            contrib = [w * ((s - lo) / (hi - lo) if hi > lo else 1.0) for s in scores]
        for (key, _), c in zip(ranking, contrib, strict=True):
            fused[key] = fused.get(key, 0.0) + c
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))
