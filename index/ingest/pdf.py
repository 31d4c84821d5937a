"""PDF text as people read it: running headers/footers and bare page numbers dropped, broken lines joined.

pypdf returns one string per page with a hard line break at the end of every printed line. This module turns the
pages into running text: lines repeated at the top or bottom of most pages (running headers and footers, with
their page numbers) and bare page numbers are dropped; a line break inside a paragraph becomes a space, a word
hyphenated across a line break is joined, and paragraph ends stay as blank lines. The offset where each page's
text starts is returned so that citations can name the page.
"""

from __future__ import annotations

import re
import statistics

_PAGE_NUMBER = re.compile(r"^\s*(?:page\s*)?[-–(\[]?\s*\d{1,4}\s*[-–)\]]?\s*(?:(?:of|/)\s*\d{1,4})?\s*$", re.I)
_ROMAN = re.compile(r"^\s*[ivxlcdm]{1,6}\s*$", re.I)
_BULLET = re.compile(r"^\s*(?:[-•*·▪◦]|\d{1,3}[.)]|[a-z][.)]|\(\w{1,3}\))\s+")
_END = tuple('.!?:;"”’)')
# a command-line option starting a line of an option list: "-n, --name=NAME array name", "--help display ..."
_OPTION = re.compile(r"^\s*--?[A-Za-z][\w-]*(?:[,=\[ ]|$)")
# a numbered section heading: "3 Utilities", "3.1 Invoking asn1Parser", "Chapter 2: Power", "A.2 Tables"
_NUMBERED = re.compile(
    r"^(?:(?:chapter|section|appendix)\s+)?(?:\d{1,2}|[A-Z])(?:\.\d{1,2}){0,4}\.?:?\s+[A-Z][^\n]{0,80}$", re.I
)


def is_numbered_heading(line: str, width: float = 80.0) -> bool:
    """A short numbered line without final punctuation ("3.1 Invoking asn1Parser"): a section heading."""
    t = line.strip()
    return bool(_NUMBERED.match(t)) and len(t) < max(60, 0.8 * width) and not t.endswith((*_END, ","))


EDGE = 2  # lines at the top and at the bottom of a page that can be running headers/footers


def _key(line: str) -> str:
    """A line with digits and spacing normalised (page numbers inside running headers differ per page)."""
    return re.sub(r"\s+", " ", re.sub(r"\d+", "#", line.strip().lower()))


def _edges(lines: list[str]) -> list[int]:
    """Indices of the first and last EDGE non-empty lines of a page."""
    idx = [i for i, ln in enumerate(lines) if ln.strip()]
    return sorted(set(idx[:EDGE] + idx[-EDGE:]))


def running_lines(pages: list[list[str]]) -> set[str]:
    """Keys of lines that repeat at the edges of at least half of the pages (at least 3 pages), and of lines
    that begin or end with a page number and repeat with another number at the edge of another page (a chapter's
    running header, "Chapter 4: Function reference 10", "... 11", on that chapter's pages only)."""
    if len(pages) < 3:
        return set()
    counts: dict[str, int] = {}
    numbered: dict[str, tuple[set[str], set[str]]] = {}  # the line without its page number -> (lines, keys)
    for lines in pages:
        for i in _edges(lines):
            k = _key(lines[i])
            base = k.removeprefix("# ").removesuffix(" #")
            if base != k and len(base.split()) >= 2:  # not "Figure 3" and "Figure 4"
                seen, keys = numbered.setdefault(base, (set(), set()))
                seen.add(" ".join(lines[i].split()))
                keys.add(k)
        for k in {_key(lines[i]) for i in _edges(lines)}:
            if k and k != "#":
                counts[k] = counts.get(k, 0) + 1
    need = max(3, (len(pages) + 1) // 2)
    running = {k for k, c in counts.items() if c >= need}
    for seen, keys in numbered.values():
        if len(seen) >= 2:
            running |= keys
    return running


def _drop_edges(lines: list[str], running: set[str]) -> list[str]:
    edges = set(_edges(lines))
    out = []
    for i, ln in enumerate(lines):
        if i in edges and (_key(ln) in running or _PAGE_NUMBER.match(ln) or _ROMAN.match(ln)):
            continue
        out.append(ln.rstrip())
    return out


def _breaks_paragraph(line: str, nxt: str, width: float) -> bool:
    """Whether the line break after ``line`` ends a paragraph (else the lines belong to one paragraph)."""
    if not line.strip() or not nxt.strip():
        return True
    if _BULLET.match(nxt) or _OPTION.match(nxt) or is_numbered_heading(line, width) or is_numbered_heading(nxt, width):
        return True
    short = len(line.strip()) < 0.6 * width
    if short and line.rstrip().endswith(_END):
        return True
    # a short line without final punctuation followed by a capital: a heading
    return short and nxt.lstrip()[:1].isupper() and not line.rstrip().endswith((",", "-", "–"))


def numbered_headings(text: str) -> list[tuple[int, str]]:
    """(offset, heading) of each paragraph of cleaned PDF text that is a numbered section heading."""
    out, pos = [], 0
    for para in text.split("\n\n"):
        if is_numbered_heading(para):
            out.append((pos, para))
        pos += len(para) + 2
    return out


def clean_pdf_pages(pages: list[str]) -> tuple[str, list[int]]:
    """Running text of a PDF and the offset where each page starts in it."""
    split = [p.split("\n") for p in pages]
    running = running_lines(split)
    kept = [_drop_edges(lines, running) for lines in split]
    lengths = [len(ln.strip()) for lines in kept for ln in lines if ln.strip()]
    width = statistics.median(lengths) if lengths else 80.0
    stream: list[tuple[int, str]] = [(pi, ln) for pi, lines in enumerate(kept) for ln in lines]
    out: list[str] = []
    size = 0
    starts = [-1] * len(pages)
    for i, (pi, line) in enumerate(stream):
        text = line.strip()
        if not text:
            continue
        if starts[pi] < 0:
            starts[pi] = size
        j = next((j for j in range(i + 1, len(stream)) if stream[j][1].strip()), None)
        nxt = stream[j][1] if j is not None else ""
        blank_follows = i + 1 < len(stream) and not stream[i + 1][1].strip()
        page_ends = j is not None and stream[j][0] != pi and text.endswith(_END)
        if not nxt:
            sep = ""
        elif re.search(r"[A-Za-z]-$", text) and nxt.lstrip()[:1].islower():
            text, sep = text[:-1], ""  # hyphenated word across a line break
        elif blank_follows or page_ends or _breaks_paragraph(line, nxt, width):
            sep = "\n\n"
        else:
            sep = " "
        out.append(text + sep)
        size += len(text) + len(sep)
    # pages without text start where the next text starts
    nxt_start = size
    for pi in range(len(pages) - 1, -1, -1):
        if starts[pi] < 0:
            starts[pi] = nxt_start
        nxt_start = starts[pi]
    return "".join(out), starts
