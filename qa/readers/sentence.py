"""Sentence-level reading: the sentence of the top passages that best answers the question.

score = w_cos * cos(question, sentence) + w_overlap * idf-weighted share of question terms in the sentence
        + w_rank / passage rank. Weights chosen on SQuAD half a (``bench/tune_sentence.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from docqa.index.backend import IndexView
from docqa.index.encoder import Encoder
from docqa.qa.confidence import coverage
from docqa.qa.readers import Candidate, Query
from docqa.qa.types import Hit


@dataclass(frozen=True)
class SentenceReaderSettings:
    """Weights of the sentence score, passages read, and the score under which the reader abstains."""

    w_cos: float = 0.6
    w_overlap: float = 0.4
    w_rank: float = 0.0
    passages: int = 3
    threshold: float = 0.35

    def __post_init__(self) -> None:
        if self.passages < 1 or min(self.w_cos, self.w_overlap, self.w_rank) < 0:
            raise ValueError(f"invalid sentence reader settings: {self}")


class SentenceReader:
    """Scores every sentence of the top passages by embedding similarity and term overlap."""

    name = "sentence"

    def __init__(self, encoder: Encoder, settings: SentenceReaderSettings | None = None) -> None:
        self.encoder = encoder
        self.settings = settings or SentenceReaderSettings()
        self.passages = self.settings.passages
        self.threshold = self.settings.threshold

    def read(self, query: Query, hits: Sequence[Hit], view: IndexView) -> list[Candidate]:
        """All sentences of the top ``passages`` hits, best first (each sentence once)."""
        st = self.settings
        q_terms = query.term_list()
        idf = view.term_idf(q_terms)
        seen: set[tuple[str, int, int]] = set()
        items: list[tuple[Hit, int, str]] = []
        for hit in hits[: st.passages]:
            doc = view.document(hit.passage.doc_id)
            for i, s in enumerate(hit.passage.sentences):
                key = (doc.doc_id, s.start, s.end)
                if key not in seen:
                    seen.add(key)
                    items.append((hit, i, doc.text[s.start : s.end]))
        if not items:
            return []
        cos = self.encoder.encode([t for _, _, t in items]) @ query.vector
        out: list[Candidate] = []
        for (hit, i, text), c in zip(items, cos.tolist(), strict=True):
            ov = coverage(q_terms, text, idf)
            score = st.w_cos * c + st.w_overlap * ov + st.w_rank / hit.rank
            span = hit.passage.sentences[i]
            feats = {"cos": c, "overlap": ov, "rank": float(hit.rank)}
            out.append(Candidate(hit, span.start, span.end, span, "sentence", score, min(1.0, max(0.0, score)), feats))
        out.sort(key=lambda c: -c.score)
        return out
