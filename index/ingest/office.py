"""Zip-based documents: docx (python-docx), xlsx (openpyxl), pptx (python-pptx), odt (odfpy), epub (ebooklib).

Each is a zip archive, so each is first checked from the zip directory alone (``check_zip``: entry count,
uncompressed size of what the parser will read, compression ratio), before any parser expands it. Tables keep
their headers (``tables.table_lines``); citations carry the heading, the sheet and row (xlsx) or the slide
(pptx, as its page).
"""

from __future__ import annotations

import io
import re
import warnings
import zipfile
from pathlib import Path

from docqa.index.errors import IngestError
from docqa.index.ingest.base import Extracted, join_blocks, normalize_text
from docqa.index.ingest.limits import IngestLimits, over_limit
from docqa.index.ingest.tables import table_lines, table_rows

# what each parser reads (and so expands) from its archive
PARSED = {
    "docx": re.compile(r"^(word/.*\.xml|\[Content_Types\]\.xml|docProps/.*\.xml)$"),
    "xlsx": re.compile(r"^(xl/.*\.xml|\[Content_Types\]\.xml|docProps/.*\.xml)$"),
    "pptx": re.compile(r"^(ppt/.*\.xml|\[Content_Types\]\.xml|docProps/.*\.xml)$"),
    "odt": re.compile(r"^(content|styles|meta|settings)\.xml$|^META-INF/manifest\.xml$"),
    "epub": re.compile(r".*\.(x?html?|xml|opf|ncx)$", re.I),
}
NAMES = {"docx": "DOCX", "xlsx": "XLSX", "pptx": "PPTX", "odt": "ODT", "epub": "EPUB"}


def check_zip(raw: bytes, path: Path, limits: IngestLimits, kind: str) -> None:
    """Refuse a zip bomb before a parser expands it: entry count, total uncompressed size of the entries the
    parser reads, and their compression ratio."""
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise IngestError(f"{path}: unreadable {NAMES[kind]} ({type(exc).__name__}: {exc})") from None
    if len(infos) > limits.max_zip_entries:
        raise IngestError(f"{path}: {over_limit('zip entries', len(infos), limits.max_zip_entries, 'max_zip_entries')}")
    parsed = [i for i in infos if PARSED[kind].match(i.filename)]
    unpacked = sum(i.file_size for i in parsed)
    packed = sum(i.compress_size for i in parsed)
    if unpacked > limits.max_docx_xml_bytes:
        raise IngestError(
            f"{path}: {over_limit('uncompressed XML bytes', unpacked, limits.max_docx_xml_bytes, 'max_docx_xml_bytes')}"
        )
    ratio = unpacked / max(1, packed)
    if unpacked > 1_000_000 and ratio > limits.max_compression_ratio:
        raise IngestError(
            f"{path}: compression ratio {ratio:.0f}:1 is over the limit of {limits.max_compression_ratio:.0f}:1 "
            "(a zip bomb?); raise IngestLimits.max_compression_ratio (--max-compression-ratio) to read it"
        )


def _unreadable(path: Path, kind: str, exc: Exception) -> IngestError:
    return IngestError(f"{path}: unreadable {NAMES[kind]} ({type(exc).__name__}: {exc})")


_PARSE_ERRORS = (zipfile.BadZipFile, KeyError, ValueError, OSError, AttributeError, TypeError, IndexError)


def read_docx(raw: bytes, path: Path, limits: IngestLimits) -> Extracted:
    """Paragraphs and tables of a .docx in document order; Heading/Title styles are headings, table rows keep
    their column headers."""
    check_zip(raw, path, limits, "docx")
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    blocks: list[tuple[str, str]] = []
    try:
        d = docx.Document(io.BytesIO(raw))
        for item in d.iter_inner_content():
            if isinstance(item, Paragraph):
                style = item.style.name if item.style is not None else ""
                heading = style.startswith("Heading") or style == "Title"
                blocks.append((item.text, item.text if heading else ""))
            elif isinstance(item, Table):
                rows = []
                for row in item.rows:
                    cells: list[str] = []
                    seen = set()
                    for cell in row.cells:  # a merged cell appears once per grid column it spans
                        if id(cell._tc) not in seen:
                            seen.add(id(cell._tc))
                            cells.append(cell.text)
                    rows.append(cells)
                blocks.append(("\n".join(table_lines(rows)), ""))
        title = (d.core_properties.title or "").strip()
    except (PackageNotFoundError, *_PARSE_ERRORS) as exc:
        raise _unreadable(path, "docx", exc) from None
    text, headings = join_blocks(blocks, limits, path)
    return Extracted(text, headings=headings, title=title or (headings[0][1] if headings else ""))


def read_xlsx(raw: bytes, path: Path, limits: IngestLimits) -> Extracted:
    """Every sheet of a workbook, one line per row with its column headers; each row is cited as
    "<sheet>, row <n>" (its heading), formulas by their last computed value."""
    check_zip(raw, path, limits, "xlsx")
    import openpyxl

    blocks: list[tuple[str, str]] = []
    title = ""
    chars = 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wb = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
        try:
            title = (wb.properties.title or "").strip()
            for ws in wb.worksheets:
                rows, numbers = [], []
                for n, row in enumerate(ws.iter_rows(values_only=True), start=1):
                    if any(v is not None and str(v).strip() for v in row):
                        rows.append(list(row))
                        numbers.append(n)
                        chars += sum(len(str(v)) for v in row if v is not None)
                        if chars > limits.max_chars:
                            raise IngestError(
                                f"{path}: {over_limit('characters', chars, limits.max_chars, 'max_chars')}"
                            )
                for i, line in table_rows(rows):
                    blocks.append((line, f"{ws.title}, row {numbers[i]}"))
        finally:
            wb.close()
    except IngestError:
        raise
    except _PARSE_ERRORS as exc:
        raise _unreadable(path, "xlsx", exc) from None
    text, headings = _rows_text(blocks, limits, path)
    return Extracted(text, headings=headings, title=title)


def _rows_text(blocks: list[tuple[str, str]], limits: IngestLimits, path: Path) -> tuple[str, list[tuple[int, str]]]:
    """Rows one per line (a blank line between sheets or tables), each row's label as the heading at its start."""
    parts, headings, pos, prev = [], [], 0, None
    for line, label in blocks:
        group = label.rsplit(", row ", 1)[0]
        if prev is not None:
            sep = "\n" if group == prev else "\n\n"
            parts.append(sep)
            pos += len(sep)
        headings.append((pos, label))
        parts.append(line)
        pos += len(line)
        prev = group
        if pos > limits.max_chars:
            raise IngestError(f"{path}: {over_limit('characters', pos, limits.max_chars, 'max_chars')}")
    return "".join(parts), headings


def read_pptx(raw: bytes, path: Path, limits: IngestLimits) -> Extracted:
    """Slides in order: the title as the heading, text frames (bullets one per line), tables with their headers,
    then the speaker notes. Each slide is a page, so citations name the slide ("p. 3" is slide 3)."""
    check_zip(raw, path, limits, "pptx")
    from pptx import Presentation

    texts, pages, headings = [], [], []
    pos = 0
    try:
        prs = Presentation(io.BytesIO(raw))
        title = (prs.core_properties.title or "").strip()
        for slide in prs.slides:
            heading = ""
            if slide.shapes.title is not None and slide.shapes.title.has_text_frame:
                heading = " ".join(slide.shapes.title.text_frame.text.split())
            blocks: list[tuple[str, str]] = [(heading, heading)] if heading else []
            for shape in slide.shapes:
                if shape == slide.shapes.title:
                    continue
                if shape.has_text_frame:
                    lines = [" ".join(p.text.split()) for p in shape.text_frame.paragraphs]
                    blocks.append(("\n".join(ln for ln in lines if ln), ""))
                elif getattr(shape, "has_table", False) and shape.has_table:
                    rows = [[c.text for c in r.cells] for r in shape.table.rows]
                    blocks.append(("\n".join(table_lines(rows)), ""))
            if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
                blocks.append((slide.notes_slide.notes_text_frame.text, ""))
            body, hs = join_blocks(blocks, limits, path)
            if not body:
                continue
            if texts:
                texts.append("\n\n")
                pos += 2
            pages.append(pos)
            headings += [(pos + off, h) for off, h in hs]
            texts.append(body)
            pos += len(body)
            if pos > limits.max_chars:
                raise IngestError(f"{path}: {over_limit('characters', pos, limits.max_chars, 'max_chars')}")
    except IngestError:
        raise
    except _PARSE_ERRORS as exc:
        raise _unreadable(path, "pptx", exc) from None
    return Extracted(
        "".join(texts), pages=pages, headings=headings, title=title or (headings[0][1] if headings else "")
    )


def read_odt(raw: bytes, path: Path, limits: IngestLimits) -> Extracted:
    """An OpenDocument text: headings, paragraphs, list items and tables (with their headers) in order."""
    check_zip(raw, path, limits, "odt")
    from odf import teletype
    from odf.namespaces import TABLENS, TEXTNS
    from odf.opendocument import load
    from odf.table import TableRow

    blocks: list[tuple[str, str]] = []

    def walk(node) -> None:
        for child in node.childNodes:
            qname = getattr(child, "qname", None)
            if qname == (TEXTNS, "h"):
                t = teletype.extractText(child)
                blocks.append((t, t))
            elif qname == (TEXTNS, "p"):
                blocks.append((teletype.extractText(child), ""))
            elif qname == (TABLENS, "table"):
                rows = []
                for row in child.getElementsByType(TableRow):
                    rows.append(
                        [
                            teletype.extractText(c)
                            for c in row.childNodes
                            if getattr(c, "qname", None) == (TABLENS, "table-cell")
                        ]
                    )
                blocks.append(("\n".join(table_lines(rows)), ""))
            elif getattr(child, "childNodes", None):
                walk(child)

    try:
        doc = load(io.BytesIO(raw))
        walk(doc.text)
        title = ""
        for m in doc.meta.childNodes:
            if getattr(m, "qname", (None, None))[1] == "title":
                title = teletype.extractText(m).strip()
    except Exception as exc:  # noqa: BLE001 - odfpy raises its own XML errors besides the usual ones
        raise _unreadable(path, "odt", exc) from None
    text, headings = join_blocks(blocks, limits, path)
    return Extracted(text, headings=headings, title=title or (headings[0][1] if headings else ""))


def read_epub(raw: bytes, path: Path, limits: IngestLimits) -> Extracted:
    """The chapters of an EPUB in reading order (its spine), each read like an HTML page (headings, tables with
    their headers); the book's title from its metadata."""
    check_zip(raw, path, limits, "epub")
    import ebooklib
    from ebooklib import epub

    from docqa.index.ingest.text_formats import html_blocks

    blocks: list[tuple[str, str]] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            book = epub.read_epub(io.BytesIO(raw), options={"ignore_ncx": True})
        meta = book.get_metadata("DC", "title")
        title = str(meta[0][0]).strip() if meta else ""
        for item_id, _ in book.spine:
            item = book.get_item_with_id(item_id)
            if item is None or item.get_type() != ebooklib.ITEM_DOCUMENT:
                continue
            blocks += html_blocks(item.get_content().decode("utf-8", "replace"), limits, path)
    except IngestError:
        raise
    except (epub.EpubException, *_PARSE_ERRORS) as exc:
        raise _unreadable(path, "epub", exc) from None
    text, headings = join_blocks(blocks, limits, path)
    return Extracted(normalize_text(text), headings=headings, title=title or (headings[0][1] if headings else ""))
