"""The index's vocabulary: documents, character spans and passages. Every offset points into ``Document.text``."""

from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any


@dataclass(frozen=True)
class Span:
    """A half-open character range ``[start, end)`` in a document's text."""

    start: int
    end: int


@dataclass(frozen=True)
class Document:
    """A source file's extracted text and what is known about it.

    ``sha256`` identifies the source file (its bytes) and tells when it changed; ``text_sha256`` identifies the
    extracted text that every citation points into. ``pages`` holds the offset where each page starts (PDF:
    page ``n`` starts at ``pages[n - 1]``); ``headings`` holds ``(offset, heading)`` pairs in text order.
    """

    doc_id: str
    path: str
    text: str
    sha256: str
    title: str = ""
    kind: str = ""
    pages: tuple[int, ...] = ()
    headings: tuple[tuple[int, str], ...] = ()
    size: int = 0
    added: str = ""

    @property
    def name(self) -> str:
        """File name of the source."""
        return self.path.replace("\\", "/").rsplit("/", 1)[-1]

    @cached_property
    def text_sha256(self) -> str:
        """sha256 of the extracted text (citations carry it so saved answers can be re-checked)."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def page_of(self, offset: int) -> int | None:
        """1-based page holding ``offset``, or None for documents without pages."""
        if not self.pages:
            return None
        return max(1, bisect.bisect_right(self.pages, offset))

    def page_span(self, page: int) -> Span:
        """Character range of a 1-based page (the whole text for documents without pages)."""
        if not self.pages:
            return Span(0, len(self.text))
        page = min(max(1, page), len(self.pages))
        end = self.pages[page] if page < len(self.pages) else len(self.text)
        return Span(self.pages[page - 1], end)

    @cached_property
    def heading_starts(self) -> list[int]:
        """The offsets of ``headings`` (computed once: every passage of a document looks its heading up)."""
        return [h[0] for h in self.headings]

    def heading_of(self, offset: int) -> str | None:
        """The nearest heading at or before ``offset``, or None."""
        i = bisect.bisect_right(self.heading_starts, offset)
        return self.headings[i - 1][1] if i else None

    def to_json(self) -> dict[str, Any]:
        return {
            "doc_id": self.doc_id,
            "path": self.path,
            "text": self.text,
            "sha256": self.sha256,
            "title": self.title,
            "kind": self.kind,
            "pages": list(self.pages),
            "headings": [list(h) for h in self.headings],
            "size": self.size,
            "added": self.added,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Document:
        return cls(
            doc_id=d["doc_id"],
            path=d["path"],
            text=d["text"],
            sha256=d["sha256"],
            title=d.get("title", ""),
            kind=d.get("kind", ""),
            pages=tuple(d.get("pages", ())),
            headings=tuple((int(o), str(h)) for o, h in d.get("headings", ())),
            size=int(d.get("size", 0)),
            added=d.get("added", ""),
        )


@dataclass(frozen=True)
class Passage:
    """A window of consecutive sentences of one document, with exact offsets."""

    passage_id: str
    doc_id: str
    start: int
    end: int
    text: str
    sentences: tuple[Span, ...]

    def sentence_at(self, offset: int) -> Span:
        """The sentence of this passage holding document offset ``offset`` (the first one if none does)."""
        return next((s for s in self.sentences if s.start <= offset < s.end), self.sentences[0])

    def to_json(self, with_text: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {
            "passage_id": self.passage_id,
            "doc_id": self.doc_id,
            "start": self.start,
            "end": self.end,
            "sentences": [[s.start, s.end] for s in self.sentences],
        }
        if with_text:
            d["text"] = self.text
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any], text: str | None = None) -> Passage:
        return cls(
            passage_id=d["passage_id"],
            doc_id=d["doc_id"],
            start=d["start"],
            end=d["end"],
            text=d["text"] if text is None else text,
            sentences=tuple(Span(a, b) for a, b in d["sentences"]),
        )


@dataclass(frozen=True)
class DocumentInfo:
    """A document as listed to users (no text): what the documents table shows."""

    doc_id: str
    path: str
    title: str
    kind: str
    pages: int
    passages: int
    chars: int
    size: int
    added: str
    sha256: str
    text_sha256: str

    @property
    def name(self) -> str:
        return self.path.replace("\\", "/").rsplit("/", 1)[-1]


@dataclass
class BuildStats:
    """What an update did: documents and passages in the index, texts embedded vs reused, files skipped."""

    documents: int = 0
    passages: int = 0
    embedded: int = 0
    reused: int = 0
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    changed: bool = False
    encoder: str = ""  # the passage encoder's precision and why it was chosen ("bf16: the CPU has ...")
