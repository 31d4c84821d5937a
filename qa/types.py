"""The question-answering vocabulary (hits, citations, answers), beside the index's (documents, passages)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from docqa.index.types import Document, DocumentInfo, Passage, Span

__all__ = [
    "NOT_FOUND_TEXT",
    "Answer",
    "Citation",
    "Document",
    "DocumentInfo",
    "Hit",
    "Method",
    "Passage",
    "Span",
    "answer_json_is_consistent",
]

NOT_FOUND_TEXT = "Not found in the documents."
Method = Literal["span", "sentence", "none"]


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

    def to_json(self) -> dict[str, Any]:
        p = self.passage
        return {
            "rank": self.rank,
            "passage_id": p.passage_id,
            "doc_id": p.doc_id,
            "start": p.start,
            "end": p.end,
            "fused": self.fused,
            "bm25": self.bm25,
            "dense": self.dense,
            "bm25_rank": self.bm25_rank,
            "dense_rank": self.dense_rank,
            "text": p.text,
        }


@dataclass(frozen=True)
class Citation:
    """Where an answer comes from: ``document.text[start:end] == text``, inside sentence and passage ranges.

    ``doc_sha256`` is the sha256 of the document text the offsets point into (``docqa verify`` re-checks it);
    ``page`` is the 1-based page of a PDF, ``heading`` the nearest heading before the answer.
    """

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
    title: str = ""
    page: int | None = None
    heading: str | None = None
    doc_sha256: str = ""

    @property
    def doc_name(self) -> str:
        return self.doc_path.replace("\\", "/").rsplit("/", 1)[-1]

    def to_json(self) -> dict[str, Any]:
        """The citation for clients: the document's file name, never the server's path to it."""
        d = asdict(self)
        del d["doc_path"]
        return {"doc_id": d.pop("doc_id"), "file": self.doc_name, **d}

    @classmethod
    def make(cls, doc: Document, passage: Passage, start: int, end: int, sentence: Span) -> Citation:
        """A citation of ``doc.text[start:end]`` found in ``passage`` (its sentence widened to hold the span)."""
        return cls(
            doc_id=doc.doc_id,
            doc_path=doc.path,
            passage_id=passage.passage_id,
            start=start,
            end=end,
            sentence_start=min(sentence.start, start),
            sentence_end=max(sentence.end, end),
            passage_start=passage.start,
            passage_end=passage.end,
            text=doc.text[start:end],
            title=doc.title,
            page=doc.page_of(start),
            heading=doc.heading_of(start),
            doc_sha256=doc.text_sha256,
        )


@dataclass
class Answer:
    """The result of ``QA.answer``: an exact span of a source, or an abstention.

    ``sentence_text`` is the sentence holding the span (context shown with it); ``alternatives`` are up to two
    other distinct answers from other passages, best first, each with its own citation and confidence.
    """

    question: str
    text: str
    found: bool
    confidence: float
    citations: list[Citation] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    method: Method = "none"
    timings_ms: dict[str, float] = field(default_factory=dict)
    alternatives: list[Answer] = field(default_factory=list)
    sentence_text: str | None = None
    index_version: str = ""
    retrieval_query: str = ""
    read_as: str = ""  # a follow-up as rewritten with the previous turn ("" when the question was read as asked)

    @property
    def sentence(self) -> str | None:
        """The document sentence that contains the answer span (for highlighting)."""
        return self.sentence_text

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.text,
            "found": self.found,
            "confidence": round(self.confidence, 4),
            "method": self.method,
            "sentence": self.sentence_text,
            "citations": [c.to_json() for c in self.citations],
            "alternatives": [
                {
                    "answer": a.text,
                    "confidence": round(a.confidence, 4),
                    "method": a.method,
                    "sentence": a.sentence_text,
                    "citations": [c.to_json() for c in a.citations],
                }
                for a in self.alternatives
            ],
            "hits": [h.to_json() for h in self.hits],
            "index_version": self.index_version,
            "retrieval_query": self.retrieval_query,
            "read_as": self.read_as,
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
