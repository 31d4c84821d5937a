"""Opening a citation's source: the text around the cited span (the whole page for a PDF)."""

from __future__ import annotations

from dataclasses import dataclass

from docqa.index.types import Document

CONTEXT_CHARS = 1500


@dataclass(frozen=True)
class SourceExcerpt:
    """Part of a document around a span; ``start``/``end`` locate the span inside ``text``."""

    doc_id: str
    title: str
    path: str
    page: int | None
    offset: int  # where ``text`` starts in the document
    text: str
    start: int
    end: int
    doc_sha256: str

    def to_json(self) -> dict:
        return {
            "doc_id": self.doc_id,
            "title": self.title,
            "file": self.path.replace("\\", "/").rsplit("/", 1)[-1],  # never the server's path
            "page": self.page,
            "offset": self.offset,
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "doc_sha256": self.doc_sha256,
        }


def source_excerpt(doc: Document, start: int, end: int, context: int = CONTEXT_CHARS) -> SourceExcerpt:
    """The page holding ``[start, end)`` (PDF) or about ``context`` characters either side, cut at blank lines."""
    start = max(0, min(start, len(doc.text)))
    end = max(start, min(end, len(doc.text)))
    page = doc.page_of(start)
    if page is not None:
        span = doc.page_span(page)
        lo, hi = min(span.start, start), max(span.end, end)
    else:
        lo = max(0, start - context)
        hi = min(len(doc.text), end + context)
        if lo > 0:
            cut = doc.text.find("\n\n", lo, start)
            lo = cut + 2 if cut >= 0 else lo
        if hi < len(doc.text):
            cut = doc.text.rfind("\n\n", end, hi)
            hi = cut if cut >= 0 else hi
    return SourceExcerpt(
        doc_id=doc.doc_id,
        title=doc.title,
        path=doc.path,
        page=page,
        offset=lo,
        text=doc.text[lo:hi],
        start=start - lo,
        end=end - lo,
        doc_sha256=doc.text_sha256,
    )
