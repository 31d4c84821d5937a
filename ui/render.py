"""Safe rendering of answers, citations and hits. Every piece of document text is escaped.

Document text goes through :func:`escape`, which turns HTML *and* Markdown syntax into numeric
character references, so neither ``<script>`` nor ``[x](javascript:...)`` inside a document can
become markup in the chat (Markdown) or in the panels (HTML). Only tags written here are markup.
"""

from __future__ import annotations

from docqa.qa.cite import SourceExcerpt
from docqa.qa.types import Answer, Citation, DocumentInfo, Hit

_MD_SPECIAL = set("\\`*_{}[]()#+-.!|~:<>&\"'=$^")


def escape(text: str) -> str:
    """Text -> inert HTML/Markdown: every special character becomes a numeric character reference."""
    return "".join(f"&#{ord(ch)};" if ch in _MD_SPECIAL else ch for ch in text)


def highlight(text: str, start: int, end: int, tag: str = "mark") -> str:
    """Escaped ``text`` with ``text[start:end]`` wrapped in ``<tag>``."""
    start, end = max(0, min(start, len(text))), max(0, min(end, len(text)))
    return f"{escape(text[:start])}<{tag}>{escape(text[start:end])}</{tag}>{escape(text[end:])}"


def source_label(c: Citation) -> str:
    """How a citation names its source: title, file name, page (PDF) or nearest heading."""
    parts = []
    if c.title and c.title != c.doc_name:
        parts.append(f"“{c.title}”")
    parts.append(c.doc_name)
    if c.page is not None:
        parts.append(f"p. {c.page}")
    elif c.heading and c.heading != c.title:
        parts.append(f"§ {c.heading}")
    return ", ".join(parts)


def chat_message(ans: Answer) -> str:
    """The assistant's chat bubble: the answer highlighted inside its sentence, its source, other answers, and
    how a follow-up was read."""
    read_as = f"\n\n_Read as: {escape(ans.read_as)}_" if ans.read_as else ""
    if not ans.found:
        return f"**{escape(ans.text)}** _(confidence {ans.confidence:.2f})_{read_as}"
    c = ans.citations[0]
    sentence = ans.sentence or c.text
    rel = c.start - c.sentence_start
    out = (
        f"**{escape(c.text)}**\n\n"
        f"> {highlight(sentence, rel, rel + (c.end - c.start))}\n\n"
        f"_Source: {escape(source_label(c))}, characters {c.start}–{c.end}; confidence {ans.confidence:.2f}_"
    )
    if ans.alternatives:
        out += "\n\nOther answers:\n" + "\n".join(
            f"- **{escape(a.text)}** ({escape(source_label(a.citations[0]))}; confidence {a.confidence:.2f})"
            for a in ans.alternatives
            if a.citations
        )
    return out + read_as


def citations_html(ans: Answer) -> str:
    """Panel of cited passages: source, page, offsets, passage text with sentence and span highlighted."""
    if not ans.citations:
        return "<p class='docqa-empty'>No citation: the answer was not found in the documents.</p>"
    parts = [_citation_block(c, ans, "Answer") for c in ans.citations]
    for i, alt in enumerate(ans.alternatives, start=2):
        parts += [_citation_block(c, alt, f"Answer {i}") for c in alt.citations]
    return "\n".join(parts)


def _citation_block(c: Citation, ans: Answer, label: str) -> str:
    text = ans.sentence or c.text
    s0 = c.start - c.sentence_start
    body = highlight(text, s0, s0 + (c.end - c.start))
    body = f"<span class='docqa-sentence'>{body}</span>"
    page = f" · <b>p. {c.page}</b>" if c.page is not None else ""
    heading = f" · § {escape(c.heading)}" if c.heading and c.page is None else ""
    return (
        "<div class='docqa-citation'>"
        f"<div class='docqa-source'>{escape(label)}: <b>{escape(c.title or c.doc_name)}</b> ({escape(c.doc_name)}){page}"
        f"{heading} · chars {c.start}–{c.end} · passage {escape(c.passage_id)}</div>"
        f"<blockquote>{body}</blockquote></div>"
    )


def source_html(ex: SourceExcerpt) -> str:
    """The source view: the page (PDF) or the text around the span, the span highlighted (scrolled into view)."""
    where = f"page {ex.page}" if ex.page is not None else f"characters {ex.offset}–{ex.offset + len(ex.text)}"
    return (
        f"<div class='docqa-source-view'><div class='docqa-source'><b>{escape(ex.title or ex.doc_id)}</b> "
        f"({escape(ex.doc_id)}) · {where}</div>"
        f"<div class='docqa-source-text'>{highlight(ex.text, ex.start, ex.end)}</div></div>"
    )


def documents_rows(docs: list[DocumentInfo]) -> list[list]:
    """Rows of the documents table: what identifies a document first (its title, and its id, which is its file's
    path in the collection), then the numbers; narrow screens show the first two columns only (``CSS``)."""
    return [
        [
            d.title or d.name,
            d.doc_id,
            d.kind,
            d.pages or "",
            d.passages,
            _size(d.size),
            d.added.replace("T", " ").rstrip("Z")[:16],
        ]
        for d in docs
    ]


DOCUMENT_COLUMNS = ["title", "id", "type", "pages", "passages", "size", "added"]


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _fmt(x: float | None, nd: int = 3) -> str:
    return "–" if x is None else f"{x:.{nd}f}"


def hits_html(hits: list[Hit]) -> str:
    """Table of retrieved passages with their BM25, dense and fused scores."""
    if not hits:
        return "<p class='docqa-empty'>No passages retrieved.</p>"
    rows = []
    for h in hits:
        p = h.passage
        rows.append(
            "<tr>"
            f"<td>{h.rank}</td><td>{escape(p.doc_id)}</td><td>{p.start}–{p.end}</td>"
            f"<td>{_fmt(h.bm25)} (#{h.bm25_rank or '–'})</td><td>{_fmt(h.dense)} (#{h.dense_rank or '–'})</td>"
            f"<td>{_fmt(h.fused, 4)}</td><td>{escape(p.text)}</td>"
            "</tr>"
        )
    return (
        "<table class='docqa-hits'><thead><tr><th>#</th><th>document</th><th>chars</th><th>BM25</th>"
        "<th>dense</th><th>fused</th><th>passage</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )
