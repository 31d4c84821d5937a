"""BM25 scored with a sparse term x passage matrix, from rank-bm25's statistics.

rank-bm25 counts term and document frequencies and document lengths; the per-term weights are
precomputed into a CSR matrix so a query touches only the postings of its terms instead of looping
over every passage in Python (``BM25Okapi.get_scores`` does the latter). Two idf formulas:

- ``lucene`` (the default): log(1 + (N - df + 0.5) / (df + 0.5)), the formula of Lucene,
  Elasticsearch and Milvus; with the same tokens (``index.text.tokenize`` and the Milvus analyzer
  agree) both backends give the same scores (tests/test_milvus.py).
- ``okapi``: rank-bm25's ``BM25Okapi`` idf, scores identical to its ``get_scores``.
"""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import numpy as np
import scipy.sparse as sp

from docqa.index.backend import BM25Idf, top_k
from docqa.index.text import tokenize


def lucene_idf(n: int, df):
    """log(1 + (N - df + 0.5) / (df + 0.5)): the idf of Lucene, Elasticsearch and Milvus (scalar or array df)."""
    d = np.asarray(df, dtype=np.float64)
    return np.log(1 + (n - d + 0.5) / (d + 0.5))


class BM25Index:
    """Okapi BM25 over tokenised passages; ``search`` returns (rows, scores) best first."""

    def __init__(self, matrix: sp.csr_matrix, vocab: dict[str, int]) -> None:
        self.matrix = matrix  # terms x passages, BM25 weight of term in passage
        self.vocab = vocab

    @classmethod
    def build(
        cls,
        corpus_tokens: list[list[str]],
        k1: float = 1.5,
        b: float = 0.75,
        epsilon: float = 0.25,
        idf: BM25Idf = "lucene",
    ) -> BM25Index:
        """Weights of every (term, passage) pair for the given parameters and idf formula."""
        from rank_bm25 import BM25Okapi

        if idf not in get_args(BM25Idf):
            raise ValueError(f"unknown idf {idf!r} (choose {', '.join(get_args(BM25Idf))})")
        n = len(corpus_tokens)
        if n == 0:
            return cls(sp.csr_matrix((0, 0), dtype=np.float32), {})
        bm = BM25Okapi(corpus_tokens, k1=k1, b=b, epsilon=epsilon)
        vocab: dict[str, int] = {}
        rows, cols, vals = [], [], []
        doc_len = np.asarray(bm.doc_len, dtype=np.float64)
        norm = k1 * (1 - b + b * doc_len / bm.avgdl)
        for j, freqs in enumerate(bm.doc_freqs):
            for term, tf in freqs.items():
                rows.append(vocab.setdefault(term, len(vocab)))
                cols.append(j)
                vals.append(tf * (k1 + 1) / (tf + norm[j]))
        m = sp.csr_matrix((np.asarray(vals), (rows, cols)), shape=(len(vocab), n))  # term frequency part
        if idf == "lucene":
            w = lucene_idf(n, np.diff(m.indptr))  # a term's row holds one entry per passage containing it
        else:
            w = np.array([bm.idf[t] for t in vocab])
        m.data *= np.repeat(w, np.diff(m.indptr))
        return cls(m.astype(np.float32), vocab)

    @property
    def size(self) -> int:
        return self.matrix.shape[1]

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every passage for ``query`` (with ``okapi``, rank-bm25's ``get_scores``)."""
        ids = [self.vocab[t] for t in tokenize(query) if t in self.vocab]
        if not ids or self.size == 0:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self.matrix[ids].sum(axis=0), dtype=np.float32).ravel()

    def search(self, query: str, k: int, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k passage rows with positive score, best first (only among ``rows`` when given)."""
        s = self.scores(query)
        if rows is not None:
            masked = np.zeros_like(s)
            masked[rows] = s[rows]
            s = masked
        top = top_k(s, k)
        return top, s[top]

    def term_idf(self, terms) -> dict[str, float]:
        """The Lucene idf of each term (always positive; df = 0 if unknown)."""
        n = max(1, self.size)
        out = {}
        for t in terms:
            i = self.vocab.get(t)
            df = 0 if i is None else int(self.matrix.indptr[i + 1] - self.matrix.indptr[i])
            out[t] = float(lucene_idf(n, df))
        return out

    def save(self, folder: Path) -> list[str]:
        import json

        sp.save_npz(folder / "bm25.npz", self.matrix, compressed=False)
        (folder / "bm25_vocab.json").write_text(json.dumps(self.vocab), encoding="utf-8")
        return ["bm25.npz", "bm25_vocab.json"]

    @classmethod
    def load(cls, folder: Path) -> BM25Index:
        import json

        m = sp.load_npz(folder / "bm25.npz").tocsr()
        vocab = json.loads((folder / "bm25_vocab.json").read_text(encoding="utf-8"))
        return cls(m, vocab)
