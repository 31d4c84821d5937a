"""Text extraction per file type. Each reader returns an :class:`Extracted` (text, pages, headings, title).

Limits that can be checked before the expensive step are checked here (zip entry sizes of a docx before
python-docx parses it, PDF page count before text extraction, characters after), each refusal naming the limit
and the setting that raises it.
"""

from __future__ import annotations

import re
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from docqa.index.errors import IngestError, UnsupportedFileError
from docqa.index.ingest.limits import IngestLimits, over_limit
from docqa.index.ingest.pdf import clean_pdf_pages

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
SUPPORTED = TEXT_SUFFIXES | HTML_SUFFIXES | {".pdf", ".docx"}
KINDS = {".txt": "txt", ".md": "md", ".markdown": "md", ".html": "html", ".htm": "html", ".pdf": "pdf", ".docx": "docx"}


@dataclass
class Extracted:
    """What a format reader got out of a file; offsets in ``pages`` and ``headings`` point into ``text``."""

    text: str
    pages: list[int] = field(default_factory=list)
    headings: list[tuple[int, str]] = field(default_factory=list)
    title: str = ""


def normalize_text(text: str) -> str:
    """Normalise newlines and strip NULs; offsets are defined on the result."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")


def decode_text(raw: bytes, path: Path) -> str:
    """UTF-8 text of a file, or IngestError for binary or non-UTF-8 content."""
    if b"\x00" in raw[:8192]:
        raise UnsupportedFileError(f"{path}: looks binary (NUL bytes), not a text file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnsupportedFileError(f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    bad = sum(1 for ch in text[:20000] if ord(ch) < 32 and ch not in "\n\r\t\f")
    if bad > 0.05 * max(1, min(len(text), 20000)):
        raise UnsupportedFileError(f"{path}: looks binary (control characters), not a text file")
    return text


_MD_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.MULTILINE)


def read_text(raw: bytes, path: Path, limits: IngestLimits) -> Extracted:
    """Plain text and Markdown (kept verbatim; Markdown headings are recorded)."""
    text = normalize_text(decode_text(raw, path))
    headings: list[tuple[int, str]] = []
    if path.suffix.lower() in {".md", ".markdown"}:
        headings = [(m.start(), m.group(2).strip()) for m in _MD_HEADING.finditer(text)]
    return Extracted(text, headings=headings, title=headings[0][1] if headings else "")


def read_html(raw: bytes, path: Path, limits: IngestLimits) -> Extracted:
    """Visible text of an HTML page (scripts and styles dropped), with its title and h1-h6 headings."""
    from bs4 import BeautifulSoup, NavigableString

    html = decode_text(raw, path)
    try:
        soup = BeautifulSoup(html, "html.parser")
        title = soup.title.get_text(" ", strip=True) if soup.title else ""
        for tag in soup(["script", "style", "noscript", "template", "title"]):
            tag.extract()
        parts: list[str] = []
        headings: list[tuple[int, str]] = []
        pos = 0
        for node in soup.descendants:
            if isinstance(node, NavigableString) and type(node) is NavigableString:
                s = normalize_text(str(node))
                parent = node.parent.name if node.parent is not None else ""
                if parent in {"h1", "h2", "h3", "h4", "h5", "h6"} and s.strip():
                    headings.append((pos, " ".join(s.split())))
                parts.append(s + "\n")
                pos += len(s) + 1
                if pos > limits.max_chars * 2:
                    break
        text = "".join(parts)
    except RecursionError:
        raise IngestError(f"{path}: HTML nested too deeply to read") from None
    title = title or (headings[0][1] if headings else "")
    return Extracted(text, headings=headings, title=title)


def read_pdf(raw: bytes, path: Path, limits: IngestLimits) -> Extracted:
    """PDF text page by page; running headers/footers and page numbers dropped, broken lines joined."""
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = PdfReader(io.BytesIO(raw))
            if reader.is_encrypted:
                raise IngestError(f"{path}: PDF is encrypted")
            n = len(reader.pages)
            if n > limits.max_pdf_pages:
                raise IngestError(f"{path}: {over_limit('PDF pages', n, limits.max_pdf_pages, 'max_pdf_pages')}")
            pages, total = [], 0
            for page in reader.pages:
                t = page.extract_text() or ""
                total += len(t)
                if total > limits.max_chars:
                    raise IngestError(f"{path}: {over_limit('characters', total, limits.max_chars, 'max_chars')}")
                pages.append(normalize_text(t))
            meta_title = ""
            try:
                meta_title = str((reader.metadata or {}).get("/Title") or "").strip()
            except Exception:  # noqa: BLE001 - broken metadata must not lose the text
                meta_title = ""
    except IngestError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, RecursionError, AttributeError) as exc:
        raise IngestError(f"{path}: unreadable PDF ({type(exc).__name__}: {exc})") from None
    text, starts = clean_pdf_pages(pages)
    return Extracted(text, pages=starts, title=meta_title)


_DOCX_XML = re.compile(r"^(word/.*\.xml|\[Content_Types\]\.xml|docProps/.*\.xml)$")


def check_docx_zip(raw: bytes, path: Path, limits: IngestLimits) -> None:
    """Refuse a zip bomb before python-docx expands it: total uncompressed XML size and compression ratio."""
    import io

    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise IngestError(f"{path}: unreadable DOCX ({type(exc).__name__}: {exc})") from None
    if len(infos) > limits.max_zip_entries:
        raise IngestError(f"{path}: {over_limit('zip entries', len(infos), limits.max_zip_entries, 'max_zip_entries')}")
    xml = [i for i in infos if _DOCX_XML.match(i.filename)]
    unpacked = sum(i.file_size for i in xml)
    packed = sum(i.compress_size for i in xml)
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


def read_docx(raw: bytes, path: Path, limits: IngestLimits) -> Extracted:
    """Paragraphs and table cells of a .docx in document order, with Heading/Title styles as headings."""
    import io

    check_docx_zip(raw, path, limits)
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        d = docx.Document(io.BytesIO(raw))
        blocks: list[tuple[str, str]] = []  # (text, style)
        for item in d.iter_inner_content():
            if isinstance(item, Paragraph):
                blocks.append((item.text, item.style.name if item.style is not None else ""))
            elif isinstance(item, Table):
                for row in item.rows:
                    cells = []
                    for cell in row.cells:
                        t = " ".join(cell.text.split())
                        if t and (not cells or cells[-1] != t):  # merged cells repeat their text
                            cells.append(t)
                    if cells:
                        blocks.append((" | ".join(cells), "Table"))
        title = (d.core_properties.title or "").strip()
    except (zipfile.BadZipFile, PackageNotFoundError, KeyError, ValueError, OSError, AttributeError) as exc:
        raise IngestError(f"{path}: unreadable DOCX ({type(exc).__name__}: {exc})") from None
    parts: list[str] = []
    headings: list[tuple[int, str]] = []
    pos = 0
    for text, style in blocks:
        text = normalize_text(text)
        if not text.strip():
            continue
        if style.startswith("Heading") or style == "Title":
            headings.append((pos, text.strip()))
        parts.append(text)
        pos += len(text) + 2
        if pos > limits.max_chars:
            raise IngestError(f"{path}: {over_limit('characters', pos, limits.max_chars, 'max_chars')}")
    text = "\n\n".join(parts)
    return Extracted(text, headings=headings, title=title or (headings[0][1] if headings else ""))


READERS = {"txt": read_text, "md": read_text, "html": read_html, "pdf": read_pdf, "docx": read_docx}


def sniff(raw: bytes, path: Path) -> str:
    """The file type its extension claims, checked against its first bytes (IngestError when they disagree)."""
    kind = KINDS.get(path.suffix.lower())
    if kind is None:
        raise UnsupportedFileError(f"{path}: unsupported file type {path.suffix or '(none)'}")
    head = raw[:1024]
    if kind == "pdf" and b"%PDF-" not in head:
        raise UnsupportedFileError(f"{path}: content is not a PDF (no %PDF- header)")
    if kind == "docx" and not raw.startswith(b"PK\x03\x04"):
        raise UnsupportedFileError(f"{path}: content is not a DOCX (not a zip archive)")
    if kind in ("txt", "md", "html") and (
        raw.startswith((b"%PDF-", b"PK\x03\x04", b"\x89PNG", b"\xff\xd8\xff", b"\x7fELF"))
    ):
        raise UnsupportedFileError(f"{path}: looks binary (a PDF, zip, image or program), not a {kind} file")
    return kind


def extract(raw: bytes, path: Path, limits: IngestLimits) -> Extracted:
    """Dispatch on the (sniffed) file type; IngestError for anything unreadable or over a limit."""
    return READERS[sniff(raw, path)](raw, path, limits)
