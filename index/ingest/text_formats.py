"""Text-based formats: plain text and Markdown (verbatim), HTML (visible text by block, tables with their
headers), CSV and TSV (dialect and encoding sniffed, one line per row with its column headers)."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from docqa.index.errors import IngestError, UnsupportedFileError
from docqa.index.ingest.base import Extracted, decode_text, join_blocks, normalize_text
from docqa.index.ingest.limits import IngestLimits, over_limit
from docqa.index.ingest.tables import table_rows

_MD_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.MULTILINE)


def read_text(raw: bytes, path: Path, limits: IngestLimits) -> Extracted:
    """Plain text and Markdown (kept verbatim; Markdown headings are recorded)."""
    text = normalize_text(decode_text(raw, path))
    headings: list[tuple[int, str]] = []
    if path.suffix.lower() in {".md", ".markdown"}:
        headings = [(m.start(), m.group(2).strip()) for m in _MD_HEADING.finditer(text)]
    return Extracted(text, headings=headings, title=headings[0][1] if headings else "")


HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
BLOCKS = {
    "address", "article", "aside", "blockquote", "body", "caption", "dd", "details", "div", "dl", "dt",
    "fieldset", "figcaption", "figure", "footer", "form", "header", "hr", "li", "main", "nav", "ol", "p",
    "pre", "section", "summary", "table", "td", "th", "tr", "ul",
}  # fmt: skip


def html_blocks(html: str, limits: IngestLimits, path: Path) -> list[tuple[str, str]]:
    """Visible text of an HTML page as blocks (text, heading-or-""): one per block element, inline markup joined
    into its sentence, h1-h6 as headings, each table row one line that keeps its column headers; scripts,
    styles and comments dropped."""
    from bs4 import BeautifulSoup, NavigableString, Tag

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "title", "head"]):
        tag.extract()
    for table in reversed(soup.find_all("table")):  # innermost first
        rows = [
            [c.get_text(" ", strip=True) for c in tr.find_all(["td", "th"], recursive=False)]
            for tr in table.find_all("tr")
        ]
        div = soup.new_tag("div")
        for _, line in table_rows(rows):
            p = soup.new_tag("p")
            p.string = line
            div.append(p)
        table.replace_with(div)
    blocks: list[tuple[str, str]] = []
    buf: list[str] = []
    size = 0

    def flush(pre: bool = False) -> None:
        nonlocal size
        text = "".join(buf) if pre else " ".join("".join(buf).split())
        buf.clear()
        if text.strip():
            blocks.append((text, ""))
            size += len(text)
            if size > limits.max_chars:
                raise IngestError(f"{path}: {over_limit('characters', size, limits.max_chars, 'max_chars')}")

    def walk(node: Tag, pre: bool) -> None:
        for child in node.children:
            if isinstance(child, NavigableString):
                if type(child) is NavigableString:  # not a comment, doctype or CDATA
                    buf.append(str(child))
            elif child.name in HEADINGS:
                flush(pre)
                t = child.get_text(" ", strip=True)
                if t:
                    blocks.append((t, t))
            elif child.name == "br":
                buf.append("\n")
            elif child.name in BLOCKS:
                flush(pre)
                walk(child, pre or child.name == "pre")
                flush(pre or child.name == "pre")
            else:
                walk(child, pre)

    try:
        walk(soup, False)
        flush()
    except RecursionError:
        raise IngestError(f"{path}: HTML nested too deeply to read") from None
    return blocks


def read_html(raw: bytes, path: Path, limits: IngestLimits) -> Extracted:
    """An HTML page: its title and visible text by block (``html_blocks``)."""
    from bs4 import BeautifulSoup

    html = decode_text(raw, path)
    try:
        head = BeautifulSoup(html[:200_000], "html.parser").title
    except RecursionError:
        head = None
    title = head.get_text(" ", strip=True) if head else ""
    text, headings = join_blocks(html_blocks(html, limits, path), limits, path)
    return Extracted(text, headings=headings, title=title or (headings[0][1] if headings else ""))


def decode_any(raw: bytes, path: Path) -> str:
    """Text in UTF-8 (with or without BOM) or, failing that, in the encoding charset-normalizer finds (CSV
    files exported by spreadsheets are often cp1252 or UTF-16); binary content is refused."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    try:
        return decode_text(raw, path)
    except UnsupportedFileError as exc:
        if "not valid UTF-8" not in str(exc):
            raise
    from charset_normalizer import from_bytes

    best = from_bytes(raw[:1_000_000]).best()
    if best is None:
        raise UnsupportedFileError(f"{path}: not text in any encoding found")
    text = raw.decode(best.encoding, errors="replace")
    return decode_text(text.encode("utf-8"), path)  # the same binary checks


def read_csv(raw: bytes, path: Path, limits: IngestLimits) -> Extracted:
    """A CSV or TSV file: its dialect (delimiter, quoting) and encoding sniffed, one line per row with its
    column headers; each row is cited as "row <n>" (its heading)."""
    text = normalize_text(decode_any(raw, path))
    sample = text[:64_000]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel_tab if path.suffix.lower() == ".tsv" else csv.excel
    try:
        rows = list(csv.reader(io.StringIO(text), dialect))
    except csv.Error as exc:
        raise IngestError(f"{path}: unreadable CSV ({exc})") from None
    lines, headings, pos = [], [], 0
    for i, line in table_rows(rows):
        headings.append((pos, f"row {i + 1}"))
        lines.append(line)
        pos += len(line) + 1
        if pos > limits.max_chars:
            raise IngestError(f"{path}: {over_limit('characters', pos, limits.max_chars, 'max_chars')}")
    return Extracted("\n".join(lines), headings=headings)
