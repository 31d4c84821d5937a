"""Calibrated confidence of a span: a logistic model of the reader's and the retrievers' evidence.

Features of one candidate span (one per passage read), computed the same way at run time and when the model
is fit (``python -m train.calibrate``, SQuAD v2.0 dev half a, cross-validated by article):

- ``margin``: span logit (start + end) minus the no-answer (CLS) logit of its window
- ``prob``: softmax probability of the span among the spans of its window
- ``inv_rank``: 1 / retrieval rank of its passage
- ``dense``: cosine of question and passage (0 when the dense retriever did not return it)
- ``bm25_rel``: BM25 score of the passage / best BM25 score among the passages read
- ``agree``: 1 when both retrievers returned the passage
- ``top_dense``: the best cosine of any retrieved passage (is anything in the documents about this?)
- ``gap``: margin minus the best margin among the passages read (0 for the best)
- ``type``: answer-type agreement (``qa.answer_type``: +1 fits the wh-word, -1 does not, 0 no expectation)
- ``cover``: idf-weighted share of the question's terms found in the passage (a term found in no document has
  the highest idf, so "the capital of France" asked of documents that never name France covers little)
- ``sent_cover``: the same share within the span's sentence (a near miss often shares the passage, not the
  sentence)
- ``ent_cover``: share of the question's named entities and numbers (spaCy) found in the passage (1 when it
  names none): "the Russian military research center" asked of a passage about a Chinese one
- ``support``: share of the other passages' best spans that agree with this one (token F1 >= 0.5)

Which of them the shipped model uses is in ``reader.json``; the others are measured candidates
(``python -m train.calibrate sweep``, docs/answer-policy.md).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from docqa.index.text import tokenize

FEATURES: tuple[str, ...] = (
    "margin",
    "prob",
    "inv_rank",
    "dense",
    "bm25_rel",
    "agree",
    "top_dense",
    "gap",
    "type",
    "cover",
    "sent_cover",
    "ent_cover",
    "support",
)

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def coverage(q_terms: Sequence[str], passage: str, idf: Mapping[str, float]) -> float:
    """idf-weighted share of the distinct question terms that occur in ``passage`` (0 without terms)."""
    terms = set(q_terms)
    total = sum(idf.get(t, 1.0) for t in terms)
    if total <= 0:
        return 0.0
    found = set(tokenize(passage))
    return sum(idf.get(t, 1.0) for t in terms if t in found) / total


def question_entities(question: str) -> list[str]:
    """The named entities (spaCy) and numbers of a question, lower-cased, each once."""
    from docqa.qa.answer_type import entities

    found = [e.lower() for e in entities(question)] + _NUMBER.findall(question)
    return list(dict.fromkeys(f for f in found if f.strip()))


def entity_coverage(entities: Sequence[str], passage: str) -> float:
    """Share of ``entities`` found in ``passage`` (case-insensitive, as written); 1.0 when there are none."""
    if not entities:
        return 1.0
    low = passage.lower()
    return sum(e in low for e in entities) / len(entities)


def support(span: str, others: Sequence[str]) -> float:
    """Share of ``others`` (the other passages' best spans) that agree with ``span`` (token F1 >= 0.5)."""
    from docqa.qa.metrics import f1_score

    if not others:
        return 0.0
    return sum(f1_score(o, span) >= 0.5 for o in others) / len(others)


def candidate_features(c: Mapping[str, Any], cands: Sequence[Mapping[str, Any]], top_dense: float) -> list[float]:
    """The FEATURES of candidate ``c`` among ``cands`` (each: score, null, prob, rank, dense, bm25, ranks, and the
    optional evidence type, cover, sent_cover, ent_cover, support)."""
    margins = [x["score"] - x["null"] for x in cands]
    best_bm25 = max((x["bm25"] or 0.0) for x in cands) if cands else 0.0
    margin = c["score"] - c["null"]
    return [
        margin,
        c["prob"],
        1.0 / max(1, c["rank"]),
        c["dense"] or 0.0,
        (c["bm25"] or 0.0) / best_bm25 if best_bm25 > 0 else 0.0,
        float(c["bm25_rank"] is not None and c["dense_rank"] is not None),
        top_dense,
        margin - max(margins) if margins else 0.0,
        float(c.get("type", 0.0)),
        float(c.get("cover", 0.0)),
        float(c.get("sent_cover", 0.0)),
        float(c.get("ent_cover", 1.0)),
        float(c.get("support", 0.0)),
    ]


@dataclass(frozen=True)
class ConfidenceModel:
    """sigmoid(coef . (x - mean) / std + intercept) over the named features."""

    names: tuple[str, ...]
    coef: tuple[float, ...]
    intercept: float
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Confidence of each row of ``x`` (columns in ``names`` order)."""
        if len(x) == 0:
            return np.zeros(0)
        z = ((np.asarray(x, dtype=np.float64) - self.mean) / self.std) @ np.asarray(self.coef) + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))

    def one(self, values: Mapping[str, float]) -> float:
        """Confidence of one candidate given its feature values by name."""
        z = sum(c * (values[n] - m) / s for n, c, m, s in zip(self.names, self.coef, self.mean, self.std, strict=True))
        z += self.intercept
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, names: Sequence[str], c: float = 1.0) -> ConfidenceModel:
        """Logistic regression on standardised features (label: the span's F1 with a gold answer >= 0.5)."""
        from sklearn.linear_model import LogisticRegression

        mean = x.mean(axis=0)
        std = x.std(axis=0)
        std[std == 0] = 1.0
        lr = LogisticRegression(C=c, max_iter=1000).fit((x - mean) / std, y)
        return cls(tuple(names), tuple(lr.coef_[0].tolist()), float(lr.intercept_[0]), tuple(mean), tuple(std))

    def to_json(self) -> dict[str, Any]:
        return {
            "features": list(self.names),
            "coef": list(self.coef),
            "intercept": self.intercept,
            "mean": list(self.mean),
            "std": list(self.std),
        }

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> ConfidenceModel:
        """The model stored in ``reader.json`` (older files: a*margin + b*prob + c*inv_rank + d)."""
        cal = meta.get("calibration", {})
        if "features" in cal:
            return cls(
                tuple(cal["features"]),
                tuple(cal["coef"]),
                float(cal["intercept"]),
                tuple(cal["mean"]),
                tuple(cal["std"]),
            )
        names = ("margin", "prob", "inv_rank")
        coef = (float(cal.get("a", 1.0)), float(cal.get("b", 0.0)), float(cal.get("c", 0.0)))
        return cls(names, coef, float(cal.get("d", 0.0)), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
