"""The index-backend interface: what question answering needs from any store of passages.

A backend (FAISS + BM25 files, Milvus) holds documents and their passages, each indexed twice (BM25 and dense
vectors). Reads go through an :class:`IndexView`, a consistent snapshot: a question is answered from one view,
so an update running at the same time is either wholly visible or not at all. Writes go through
:meth:`IndexBackend.update`, which adds, replaces and removes whole documents.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol, get_args, runtime_checkable

import numpy as np

from docqa.index.encoder import EncoderKind
from docqa.index.passages import PassageSettings
from docqa.index.paths import cache_dir
from docqa.index.types import BuildStats, Document, DocumentInfo, Passage

DenseKind = Literal["flat", "hnsw", "auto"]
VectorKind = Literal["fp32", "int8"]
Report = Callable[..., None]  # (stage, fraction done, detail="": counts and rate) during long updates
BackendName = Literal["faiss", "milvus"]
BM25Idf = Literal["lucene", "okapi"]


@dataclass(frozen=True)
class IndexSettings:
    """Everything that changes what an index contains; recorded with the index and compared when it is opened."""

    passages: PassageSettings = field(default_factory=PassageSettings)
    encoder: EncoderKind = "torch"  # the runtime that embeds passages (and, from the manifest, the queries)
    dense: DenseKind = "auto"  # auto: flat up to hnsw_threshold passages, HNSW above
    hnsw_threshold: int = 200_000
    hnsw_m: int = 32
    bm25_k1: float = 1.5
    bm25_b: float = 0.75
    # lucene: idf = log(1 + (N - df + 0.5) / (df + 0.5)), as Lucene, Elasticsearch and Milvus compute it, so both
    # backends score alike; okapi: rank-bm25's BM25Okapi idf (negative idf of terms in over half the passages
    # floored at 0.25 x the mean idf: in a small corpus a document's own topic words then count for almost nothing)
    bm25_idf: BM25Idf = "lucene"
    # int8: FAISS holds vectors as 8-bit scalar-quantized codes (a quarter of the memory) and re-scores its top
    # candidates exactly from the fp32 vectors, kept memory-mapped on disk (FAISS backend only)
    vectors: VectorKind = "fp32"
    # BM25 and the encoder see each passage with its document's title and its heading before it (passages.
    # indexed_text); citations and the reader still use the passage text alone
    context: bool = True

    def __post_init__(self) -> None:
        if self.encoder not in get_args(EncoderKind):
            raise ValueError(f"encoder must be one of {get_args(EncoderKind)}, not {self.encoder!r}")
        if self.dense not in get_args(DenseKind):
            raise ValueError(f"dense must be one of {get_args(DenseKind)}, not {self.dense!r}")
        if self.hnsw_threshold < 0 or self.hnsw_m < 4:
            raise ValueError(f"invalid HNSW settings (threshold {self.hnsw_threshold}, M {self.hnsw_m})")
        if self.bm25_k1 <= 0 or not 0 <= self.bm25_b <= 1:
            raise ValueError(f"invalid BM25 parameters k1={self.bm25_k1}, b={self.bm25_b}")
        if self.vectors not in get_args(VectorKind):
            raise ValueError(f"vectors must be one of {get_args(VectorKind)}, not {self.vectors!r}")
        if self.bm25_idf not in get_args(BM25Idf):
            raise ValueError(f"bm25_idf must be one of {get_args(BM25Idf)}, not {self.bm25_idf!r}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def recorded(d: dict[str, Any] | None) -> dict[str, Any]:
        """Settings as a FAISS index manifest records them, with what older indexes left out filled in: the
        PyTorch encoder (before the encoder choice), rank-bm25's okapi idf (before the idf choice), fp32 vectors
        (before the int8 option) and passages indexed without their context (before it was added)."""
        return {"encoder": "torch", "bm25_idf": "okapi", "vectors": "fp32", "context": False, **(d or {})}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> IndexSettings:
        d = cls.recorded(d)
        d["passages"] = PassageSettings(**d["passages"])
        return cls(**d)


class Scored(NamedTuple):
    """One retrieved passage and its raw retriever score (higher is better)."""

    passage_id: str
    score: float


@runtime_checkable
class IndexView(Protocol):
    """A consistent, read-only snapshot of an index."""

    version: str  # changes with every update
    manifest: dict[str, Any]  # model fingerprint, settings, documents, skipped files

    def __len__(self) -> int: ...

    def bm25_search(self, query: str, k: int, doc_ids: Collection[str] | None = None) -> list[Scored]:
        """Top-k passages by BM25, best first (only passages of ``doc_ids`` when given)."""
        ...

    def dense_search(self, vector: np.ndarray, k: int, doc_ids: Collection[str] | None = None) -> list[Scored]:
        """Top-k passages by cosine similarity to a unit ``vector``, best first."""
        ...

    def passage(self, passage_id: str) -> Passage: ...

    def document(self, doc_id: str) -> Document: ...

    def documents(self, offset: int = 0, limit: int | None = None) -> list[DocumentInfo]:
        """The documents in id order: all of them, or at most ``limit`` from ``offset`` (a page of a listing)."""
        ...

    def document_count(self) -> int:
        """How many documents the index holds (without listing them)."""
        ...

    def has_document(self, doc_id: str) -> bool:
        """Whether ``doc_id`` is indexed (without listing the others)."""
        ...

    def term_idf(self, terms: Sequence[str]) -> dict[str, float]:
        """BM25 idf of each term (a term in no passage gets the highest idf)."""
        ...


@runtime_checkable
class IndexBackend(Protocol):
    """A store of documents and passages that can be searched and updated."""

    name: str
    location: str
    encoder: Any  # the index.encoder.Encoder that embeds passages; questions must be embedded by the same one

    def view(self) -> IndexView:
        """The current snapshot (cheap; take one per question)."""
        ...

    def load(self) -> IndexView:
        """Open the existing index; IndexNotFoundError, IndexCorruptedError or IndexMismatchError if it cannot."""
        ...

    def reset(self) -> None:
        """Start from an empty index (the next update indexes everything)."""
        ...

    def refresh(self) -> bool:
        """Pick up an update made by another process; True when the view changed."""
        ...

    def update(
        self,
        documents: Iterable[Document] = (),
        remove: Collection[str] = (),
        skipped: Mapping[str, tuple[str, str]] | None = None,
        progress: bool = False,
        report: Report | None = None,
    ) -> BuildStats:
        """Add or replace ``documents`` and remove the ids in ``remove``, as one atomic change.

        ``documents`` may be a stream (``ingest.DocumentStream``), consumed once. Passages of unchanged text are
        never re-embedded. ``skipped`` (doc id -> (source sha256, reason)), read after the stream has ended,
        records files that could not be read, so that they are not retried until they change.
        """
        ...

    def close(self) -> None: ...


def default_index_dir(corpus: str | Path) -> Path:
    """Where the index of ``corpus`` lives by default: outside the source tree, in the user cache."""
    base = os.environ.get("DOCQA_INDEX_HOME") or cache_dir("indexes")
    resolved = Path(corpus).resolve()
    digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:10]
    return Path(base) / f"{resolved.name or 'root'}-{digest}"


def document_info(doc: Document, passages: int) -> DocumentInfo:
    """The listing entry of a document."""
    return DocumentInfo(
        doc_id=doc.doc_id,
        path=doc.path,
        title=doc.title,
        kind=doc.kind,
        pages=len(doc.pages),
        passages=passages,
        chars=len(doc.text),
        size=doc.size,
        added=doc.added,
        sha256=doc.sha256,
        text_sha256=doc.text_sha256,
    )


def top_k(scores: np.ndarray, k: int, positive: bool = True) -> np.ndarray:
    """Indices of the ``k`` largest scores, best first (only positive scores when ``positive``)."""
    if positive:
        k = min(k, int((scores > 0).sum()))
    k = min(k, len(scores))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    top = np.argpartition(-scores, k - 1)[:k]
    return top[np.argsort(-scores[top], kind="stable")].astype(np.int64)
