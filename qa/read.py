"""Sentence-level reading: pick the sentence of the top passages that best answers the question."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from index.store import PassageIndex
from qa.text import tokenize
from qa.types import Hit


@dataclass(frozen=True)
class SentenceScorerSettings:
    """score = w_cos * cos(question, sentence) + w_overlap * idf-weighted term overlap + w_rank * 1/rank."""

    w_cos: float = 0.6
    w_overlap: float = 0.4
    w_rank: float = 0.0
    passages: int = 3


@dataclass
class SentenceCandidate:
    hit: Hit
    sentence_index: int  # position inside hit.passage.sentences
    score: float
    cos: float
    overlap: float

    @property
    def start(self) -> int:
        return self.hit.passage.sentences[self.sentence_index].start

    @property
    def end(self) -> int:
        return self.hit.passage.sentences[self.sentence_index].end


class SentenceScorer:
    """Scores every sentence of the top passages by embedding similarity and term overlap."""

    def __init__(self, index: PassageIndex, settings: SentenceScorerSettings | None = None) -> None:
        self.index = index
        self.settings = settings or SentenceScorerSettings()
        m = index.bm25.matrix
        n = max(1, index.bm25.size)
        df = np.diff(m.indptr) if m.shape[0] else np.zeros(0)
        self.idf = {t: float(np.log(1 + (n - df[i] + 0.5) / (df[i] + 0.5))) for t, i in index.bm25.vocab.items()}
        self.default_idf = float(np.log(1 + (n + 0.5) / 0.5))

    def overlap(self, q_terms: list[str], sentence: str) -> float:
        if not q_terms:
            return 0.0
        s_terms = set(tokenize(sentence))
        total = sum(self.idf.get(t, self.default_idf) for t in set(q_terms))
        got = sum(self.idf.get(t, self.default_idf) for t in set(q_terms) if t in s_terms)
        return got / total if total else 0.0

    def score(self, question: str, query_vec: np.ndarray, hits: list[Hit], encoder=None) -> list[SentenceCandidate]:
        """All sentences of the top ``settings.passages`` hits, best first (each sentence once)."""
        st = self.settings
        q_terms = tokenize(question)
        seen: set[int] = set()
        cands: list[SentenceCandidate] = []
        for hit in hits[: st.passages]:
            rows = self.index.sentence_rows[hit.row]
            doc = self.index.documents[hit.passage.doc_id]
            if len(self.index.sentence_emb):
                vecs = self.index.sentence_emb[rows].astype(np.float32)
            else:  # index built without sentence vectors: embed this passage's sentences now
                vecs = encoder.encode([doc.text[s.start : s.end] for s in hit.passage.sentences])
            cos = vecs @ query_vec
            for i, (r, span) in enumerate(zip(rows, hit.passage.sentences, strict=True)):
                if r in seen:
                    continue
                seen.add(r)
                ov = self.overlap(q_terms, doc.text[span.start : span.end])
                s = st.w_cos * float(cos[i]) + st.w_overlap * ov + st.w_rank / hit.rank
                cands.append(SentenceCandidate(hit, i, s, float(cos[i]), ov))
        cands.sort(key=lambda c: -c.score)
        return cands
