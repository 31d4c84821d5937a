"""BM25 scored with a sparse term x passage matrix, from the same statistics as rank-bm25.

Term and document frequencies and passage lengths are counted into compact arrays (``BM25Builder``, streamed, so
a million passages need no per-passage Python objects); the per-term weights are precomputed into a CSR matrix
so a query touches only the postings of its terms. The arrays are saved plain and memory-mapped when loaded. Beside
the weights, each term's count in each passage (``bm25_tf.npy``, aligned with the weights) and each passage's length
in tokens (``bm25_lengths.npy``) are saved, so the next version of an index re-weighs the passages it keeps from
these counts (``BM25Builder.add_kept``) instead of reading and tokenizing their text again. Two idf formulas:

- ``lucene`` (the default): log(1 + (N - df + 0.5) / (df + 0.5)), the formula of Lucene,
  Elasticsearch and Milvus; with the same tokens (``index.text.tokenize`` and the Milvus analyzer
  agree) both backends give the same scores (tests/test_milvus.py).
- ``okapi``: rank-bm25's ``BM25Okapi`` idf, scores identical to its ``get_scores``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
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


TF_MAX = np.iinfo(np.uint16).max  # term counts are stored as uint16 (a passage is far shorter than this)


class BM25Index:
    """Okapi BM25 over tokenised passages; ``search`` returns (rows, scores) best first.

    ``tf`` (term counts aligned with ``matrix.data``) and ``lengths`` (tokens per passage) are the counts the
    weights came from; None for an index saved before they were kept."""

    def __init__(
        self,
        matrix: sp.csr_matrix,
        vocab: dict[str, int],
        tf: np.ndarray | None = None,
        lengths: np.ndarray | None = None,
    ) -> None:
        self.matrix = matrix  # terms x passages, BM25 weight of term in passage
        self.vocab = vocab
        self.tf, self.lengths = tf, lengths

    @property
    def has_counts(self) -> bool:
        """Whether the term counts are here, so that a new version can re-weigh these passages without their text."""
        return self.tf is not None and self.lengths is not None

    def passage_counts(self) -> sp.csr_matrix:
        """Passages x terms: each passage's term counts (built from the stored counts; raises without them)."""
        if not self.has_counts:
            raise ValueError("this BM25 index keeps no term counts")
        m = self.matrix
        return sp.csr_matrix((self.tf, m.indices, m.indptr), shape=m.shape).T.tocsr()

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
        builder = BM25Builder()
        builder.add(corpus_tokens)
        return builder.build(k1, b, epsilon, idf)

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
        hit = np.flatnonzero(s > 0)  # rank only passages holding a query term (2.7x faster at 1M)
        top = hit[top_k(s[hit], k)]
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

    FILES = ("bm25_data.npy", "bm25_indices.npy", "bm25_indptr.npy", "bm25_vocab.json")
    COUNT_FILES = ("bm25_tf.npy", "bm25_lengths.npy")

    def save(self, folder: Path) -> list[str]:
        """Write the matrix as three plain arrays (so ``load`` can map them), the vocabulary and, when known, the
        term counts and passage lengths."""
        import json

        m = self.matrix
        ix = np.int32 if len(m.data) < 2**31 - 1 else np.int64  # scipy wants one dtype for indices and indptr
        np.save(folder / "bm25_data.npy", np.ascontiguousarray(m.data, dtype=np.float32))
        np.save(folder / "bm25_indices.npy", np.ascontiguousarray(m.indices, dtype=ix))
        np.save(folder / "bm25_indptr.npy", np.ascontiguousarray(m.indptr, dtype=ix))
        (folder / "bm25_vocab.json").write_text(json.dumps(self.vocab), encoding="utf-8")
        (folder / "bm25_shape.json").write_text(json.dumps(list(m.shape)), encoding="utf-8")
        if not self.has_counts:
            return [*self.FILES, "bm25_shape.json"]
        np.save(folder / "bm25_tf.npy", np.ascontiguousarray(self.tf, dtype=np.uint16))
        np.save(folder / "bm25_lengths.npy", np.ascontiguousarray(self.lengths, dtype=np.int32))
        return [*self.FILES, "bm25_shape.json", *self.COUNT_FILES]

    @classmethod
    def load(cls, folder: Path, mmap: bool = True) -> BM25Index:
        """Read what ``save`` wrote; the arrays are memory-mapped (read from disk as queries touch them)."""
        import json

        def read(name: str) -> np.ndarray:
            path = folder / name
            small = path.stat().st_size < 1 << 16  # an empty array cannot be mapped; a small one need not be
            return np.load(path, mmap_mode=None if small or not mmap else "r", allow_pickle=False)

        data, indices, indptr = read("bm25_data.npy"), read("bm25_indices.npy"), read("bm25_indptr.npy")
        shape = tuple(json.loads((folder / "bm25_shape.json").read_text(encoding="utf-8")))
        if len(indptr) != shape[0] + 1 or len(data) != len(indices) or (len(indptr) and indptr[-1] != len(data)):
            raise ValueError("BM25 arrays do not agree with each other")
        m = sp.csr_matrix(shape, dtype=np.float32)
        m.data, m.indices, m.indptr = data, indices, indptr  # no copy and no format check over every entry
        vocab = json.loads((folder / "bm25_vocab.json").read_text(encoding="utf-8"))
        tf = lengths = None
        if all((folder / f).is_file() for f in cls.COUNT_FILES):
            tf, lengths = read("bm25_tf.npy"), read("bm25_lengths.npy")
            if len(tf) != len(data) or len(lengths) != shape[1]:
                raise ValueError("BM25 term counts do not agree with the weights")
        return cls(m, vocab, tf, lengths)


class BM25Builder:
    """Collects the term counts of passages as they stream in (compact arrays, no per-passage Python objects),
    then weighs them all at once: the statistics (N, document frequencies, average length) need every passage."""

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}
        self._terms: list[np.ndarray] = []
        self._counts: list[np.ndarray] = []
        self._lengths: list[np.ndarray] = []
        self._nnz: list[np.ndarray] = []

    @property
    def size(self) -> int:
        return sum(len(x) for x in self._lengths)

    def add(self, corpus_tokens: Iterable[list[str]]) -> None:
        """Count the tokens of more passages (in row order)."""
        terms: list[int] = []
        counts: list[int] = []
        lengths: list[int] = []
        nnz: list[int] = []
        vocab = self.vocab
        for toks in corpus_tokens:
            c = Counter(toks)
            terms.extend(vocab.setdefault(t, len(vocab)) for t in c)
            counts.extend(c.values())
            lengths.append(len(toks))
            nnz.append(len(c))
        self._terms.append(np.asarray(terms, dtype=np.int32))
        self._counts.append(np.asarray(counts, dtype=np.float32))
        self._lengths.append(np.asarray(lengths, dtype=np.float64))
        self._nnz.append(np.asarray(nnz, dtype=np.int64))

    def add_kept(self, old: BM25Index, ranges: Iterable[tuple[int, int]], chunk: int = 1 << 20) -> None:
        """Count the passages of ``old`` in the row ranges ``(first, count)`` (in that order) from its stored term
        counts: what ``add`` gives for their tokens, without their text. ``old.has_counts`` must hold."""
        ranges = [(f, c) for f, c in ranges if c]
        if not ranges:
            return
        pm = old.passage_counts()  # passages x terms
        old_terms = np.empty(len(old.vocab), dtype=object)
        for term, i in old.vocab.items():
            old_terms[i] = term
        used = np.zeros(len(old.vocab), dtype=bool)
        for first, count in ranges:
            used[pm.indices[pm.indptr[first] : pm.indptr[first + count]]] = True
        remap = np.full(len(old.vocab), -1, dtype=np.int32)  # old term id -> this builder's id (kept terms only)
        vocab = self.vocab
        for i in np.flatnonzero(used):
            remap[i] = vocab.setdefault(old_terms[i], len(vocab))
        lengths = old.lengths
        for first, count in ranges:
            for a in range(first, first + count, chunk):  # bounded temporaries for a long range
                b = min(first + count, a + chunk)
                lo, hi = pm.indptr[a], pm.indptr[b]
                self._terms.append(remap[pm.indices[lo:hi]])
                self._counts.append(np.asarray(pm.data[lo:hi], dtype=np.float32))
                self._lengths.append(np.asarray(lengths[a:b], dtype=np.float64))
                self._nnz.append(np.diff(pm.indptr[a : b + 1]).astype(np.int64))

    def build(self, k1: float = 1.5, b: float = 0.75, epsilon: float = 0.25, idf: BM25Idf = "lucene") -> BM25Index:
        """The weighted term x passage matrix (frees the counts)."""
        if idf not in get_args(BM25Idf):
            raise ValueError(f"unknown idf {idf!r} (choose {', '.join(get_args(BM25Idf))})")
        n = self.size
        if n == 0:
            empty = sp.csr_matrix((0, 0), dtype=np.float32)
            return BM25Index(empty, {}, np.zeros(0, dtype=np.uint16), np.zeros(0, dtype=np.int32))
        terms = np.concatenate(self._terms)
        tf = np.concatenate(self._counts)
        lengths = np.concatenate(self._lengths)
        nnz = np.concatenate(self._nnz)
        self._terms, self._counts, self._lengths, self._nnz = [], [], [], []
        norm = (k1 * (1 - b + b * lengths / lengths.mean())).astype(np.float32)
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(nnz, out=indptr[1:])
        m = sp.csc_matrix((tf, terms, indptr), shape=(len(self.vocab), n)).tocsr()  # term counts, term-major
        del tf, terms
        counts = np.minimum(m.data, TF_MAX).astype(np.uint16)
        part = m.data  # tf (k1 + 1) / (tf + norm), in place
        part *= k1 + 1
        part /= part / (k1 + 1) + norm[m.indices]
        df = np.diff(m.indptr)  # a term's row holds one entry per passage containing it
        if idf == "lucene":
            w = lucene_idf(n, df)
        else:  # rank-bm25's BM25Okapi: negative idf floored at epsilon x the mean idf
            w = np.log(n - df + 0.5) - np.log(df + 0.5)
            w[w < 0] = epsilon * w.mean()
        m.data *= np.repeat(w, df).astype(np.float32)
        return BM25Index(m.astype(np.float32, copy=False), self.vocab, counts, lengths.astype(np.int32))
