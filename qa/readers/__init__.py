"""Readers find the answer inside retrieved passages. Two implementations share one interface:

- :class:`qa.readers.span.SpanReader`: the trained extractive reader (short spans, calibrated confidence);
- :class:`qa.readers.sentence.SentenceReader`: scores whole sentences (embedding cosine + term overlap).

Both return :class:`Candidate` objects, best first; the pipeline decides which one answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from docqa.index.backend import IndexView
from docqa.index.text import tokenize
from docqa.index.types import Span
from docqa.qa.types import Hit

CandidateKind = Literal["span", "sentence"]


@dataclass(frozen=True)
class Query:
    """A cleaned question with what readers may need: its text, its unit vector and its BM25 terms."""

    text: str
    vector: np.ndarray
    terms: tuple[str, ...] = ()

    def term_list(self) -> list[str]:
        """The BM25 terms, or the question's tokens when none were given."""
        return list(self.terms) or tokenize(self.text)


@dataclass(frozen=True)
class Candidate:
    """One possible answer: document offsets of the answer and of its sentence, scores and confidence."""

    hit: Hit
    start: int
    end: int
    sentence: Span
    kind: CandidateKind
    score: float  # the reader's own score (span: start + end logit; sentence: weighted cosine + overlap)
    confidence: float  # calibrated probability that the answer is right
    features: Mapping[str, float] = field(default_factory=dict)

    @property
    def doc_id(self) -> str:
        return self.hit.passage.doc_id


@runtime_checkable
class Reader(Protocol):
    """Reads the top ``passages`` hits and returns candidates, best first."""

    name: str
    passages: int

    def read(self, query: Query, hits: Sequence[Hit], view: IndexView) -> list[Candidate]: ...


__all__ = ["Candidate", "CandidateKind", "Query", "Reader"]
