"""Safe rendering of answers, citations and hits. Every piece of document text is escaped.

Document text goes through :func:`escape`, which turns HTML *and* Markdown syntax into numeric
character references, so neither ``<script>`` nor ``[x](javascript:...)`` inside a document can
become markup in the chat (Markdown) or in the panels (HTML). Only tags written here are markup.
"""

from __future__ import annotations

from qa.types import Answer, Citation, Hit

_MD_SPECIAL = set("\\`*_{}[]()#+-.!|~:<>&\"'=$^")


def escape(text: str) -> str:
    """Text -> inert HTML/Markdown: every special character becomes a numeric character reference."""
    return "".join(f"&#{ord(ch)};" if ch in _MD_SPECIAL else ch for ch in text)


def highlight(text: str, start: int, end: int, tag: str = "mark") -> str:
    """Escaped ``text`` with ``text[start:end]`` wrapped in ``<tag>``."""
    start, end = max(0, min(start, len(text))), max(0, min(end, len(text)))
    return f"{escape(text[:start])}<{tag}>{escape(text[start:end])}</{tag}>{escape(text[end:])}"


def chat_message(ans: Answer) -> str:
    """The assistant's chat bubble: the answer, highlighted inside its sentence, and its source."""
    if not ans.found:
        return f"**{escape(ans.text)}** _(confidence {ans.confidence:.2f})_"
    c = ans.citations[0]
    sentence = ans.sentence or c.text
    rel = c.start - c.sentence_start
    return (
        f"**{escape(c.text)}**\n\n"
        f"> {highlight(sentence, rel, rel + (c.end - c.start))}\n\n"
        f"_Source: {escape(c.doc_id)}, characters {c.start}–{c.end}, passage {escape(c.passage_id)}; "
        f"confidence {ans.confidence:.2f}_"
    )


def citations_html(ans: Answer) -> str:
    """Panel of cited passages: document, offsets, passage text with sentence and span highlighted."""
    if not ans.citations:
        return "<p class='docqa-empty'>No citation: the answer was not found in the documents.</p>"
    parts = []
    for c in ans.citations:
        parts.append(_citation_block(c, ans))
    return "\n".join(parts)


def _citation_block(c: Citation, ans: Answer) -> str:
    hit = next((h for h in ans.hits if h.passage.passage_id == c.passage_id), None)
    body = escape(c.text)
    if hit is not None:
        p = hit.passage
        t = p.text
        s0, s1 = c.sentence_start - p.start, c.sentence_end - p.start
        a0, a1 = c.start - p.start, c.end - p.start
        body = (
            escape(t[:s0])
            + "<span class='docqa-sentence'>"
            + escape(t[s0:a0])
            + f"<mark>{escape(t[a0:a1])}</mark>"
            + escape(t[a1:s1])
            + "</span>"
            + escape(t[s1:])
        )
    return (
        "<div class='docqa-citation'>"
        f"<div class='docqa-source'><b>{escape(c.doc_id)}</b> · passage {escape(c.passage_id)} "
        f"· answer chars {c.start}–{c.end} · passage chars {c.passage_start}–{c.passage_end}</div>"
        f"<blockquote>{body}</blockquote></div>"
    )


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
