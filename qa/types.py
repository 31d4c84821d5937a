"""The one vocabulary of dataclasses shared by every stage: ingest -> passages -> index -> read -> cite."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

NOT_FOUND_TEXT = "Not found in the documents."


@dataclass(frozen=True)
class Document:
    """A source file's extracted text. Every offset in the system points into ``text``."""

    doc_id: str
    path: str
    text: str
    sha256: str
    title: str = ""

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Span:
    """A half-open character range ``[start, end)`` in a document's text."""

    start: int
    end: int


@dataclass(frozen=True)
class Passage:
    """A window of consecutive sentences of one document, with exact offsets."""

    passage_id: str
    doc_id: str
    start: int
    end: int
    text: str
    sentences: tuple[Span, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "passage_id": self.passage_id,
            "doc_id": self.doc_id,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "sentences": [[s.start, s.end] for s in self.sentences],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Passage:
        return cls(
            passage_id=d["passage_id"],
            doc_id=d["doc_id"],
            start=d["start"],
            end=d["end"],
            text=d["text"],
            sentences=tuple(Span(a, b) for a, b in d["sentences"]),
        )


@dataclass
class Hit:
    """A retrieved passage with every score that ranked it (None where a retriever did not return it)."""

    passage: Passage
    fused: float
    bm25: float | None = None
    dense: float | None = None
    bm25_rank: int | None = None
    dense_rank: int | None = None
    rank: int = 0
    row: int = -1


@dataclass(frozen=True)
class Citation:
    """Where an answer comes from: ``document_text[start:end] == answer text``."""

    doc_id: str
    doc_path: str
    passage_id: str
    start: int
    end: int
    sentence_start: int
    sentence_end: int
    passage_start: int
    passage_end: int
    text: str


@dataclass
class Answer:
    """The result of ``qa.answer``: an exact span of a source, or an abstention."""

    question: str
    text: str
    found: bool
    confidence: float
    citations: list[Citation] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    method: str = "sentence"
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def sentence(self) -> str | None:
        """The passage sentence that contains the answer span (for highlighting)."""
        if not self.citations:
            return None
        c = self.citations[0]
        p = next((h.passage for h in self.hits if h.passage.passage_id == c.passage_id), None)
        if p is None:
            return None
        return p.text[c.sentence_start - p.start : c.sentence_end - p.start]

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.text,
            "found": self.found,
            "confidence": round(self.confidence, 4),
            "method": self.method,
            "citations": [asdict(c) for c in self.citations],
            "hits": [
                {
                    "rank": h.rank,
                    "passage_id": h.passage.passage_id,
                    "doc_id": h.passage.doc_id,
                    "start": h.passage.start,
                    "end": h.passage.end,
                    "fused": h.fused,
                    "bm25": h.bm25,
                    "dense": h.dense,
                    "bm25_rank": h.bm25_rank,
                    "dense_rank": h.dense_rank,
                    "text": h.passage.text,
                }
                for h in self.hits
            ],
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
        }


def answer_json_is_consistent(d: dict[str, Any]) -> bool:
    """True when a served answer (``Answer.to_json()``) is whole: its cited text is exactly the slice of a
    passage served with it, or it abstains without citations. Clients and load tests use it."""
    if "error" in d:
        return False
    if not d.get("found"):
        return d.get("citations") == []
    c = d["citations"][0]
    hit = next((h for h in d["hits"] if h["passage_id"] == c["passage_id"]), None)
    if hit is None:
        return False
    return hit["text"][c["start"] - hit["start"] : c["end"] - hit["start"]] == d["answer"] == c["text"]
