"""PDF files: the text layer page by page (pypdf), cleaned as people read it (``pdf.py``); pages without a text
layer (scans, faxes) are rendered (pypdfium2) and read by OCR, so a scanned contract is cited with its page."""

from __future__ import annotations

import io
import math
import re
import statistics
import warnings
from pathlib import Path

from docqa.index.errors import IngestError
from docqa.index.ingest.base import Extracted, normalize_text, ocr_page_started
from docqa.index.ingest.limits import IngestLimits, over_limit
from docqa.index.ingest.pdf import clean_pdf_pages, numbered_headings
from docqa.index.ingest.pdf_columns import collect, column_text

MIN_TEXT_CHARS = 20  # a page whose text layer has fewer visible characters is treated as a scan


def _is_scan(text: str) -> bool:
    return sum(1 for ch in text if not ch.isspace()) < MIN_TEXT_CHARS


def read_pdf(raw: bytes, path: Path, limits: IngestLimits) -> Extracted:
    """PDF text page by page; running headers/footers and page numbers dropped, broken lines joined; scanned
    pages read by OCR (at most ``max_ocr_pages`` per file); the title from the PDF's metadata."""
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
                t, pieces = collect(page)
                t = _in_columns(page, pieces) or t
                total += len(t)
                if total > limits.max_chars:
                    raise IngestError(f"{path}: {over_limit('characters', total, limits.max_chars, 'max_chars')}")
                pages.append(normalize_text(t))
            title = pdf_title(reader)
    except IngestError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, RecursionError, AttributeError) as exc:
        raise IngestError(f"{path}: unreadable PDF ({type(exc).__name__}: {exc})") from None
    scans = [i for i, t in enumerate(pages) if _is_scan(t)]
    if scans:
        for i, text in ocr_pages(raw, path, scans[: limits.max_ocr_pages], limits).items():
            pages[i] = text
    text, starts = clean_pdf_pages(pages)
    return Extracted(text, pages=starts, headings=numbered_headings(text), title=title)


def _in_columns(page, pieces) -> str | None:
    """A two-column page's text column by column (None: pypdf's text stands); a page whose geometry cannot be
    read keeps pypdf's text rather than failing the file."""
    try:
        return column_text(pieces, float(page.mediabox.width))
    except (ValueError, TypeError, ArithmeticError, KeyError):
        return None


_JUNK_TITLE = re.compile(r"^(untitled|document\d*|microsoft word - .*|.*\.(docx?|pdf|tex|dvi|indd|qxd))$", re.I)


def pdf_title(reader) -> str:
    """The PDF's title: its metadata title when it is a real one, else the largest text of the first page (a title
    page's heading), else "" (then the first line of text is used). Never a running header: those are found in the
    cleaned text, not here."""
    try:
        meta = " ".join(str((reader.metadata or {}).get("/Title") or "").split())
    except Exception:  # noqa: BLE001 - broken metadata must not lose the text
        meta = ""
    if meta and not _JUNK_TITLE.match(meta):
        return meta
    try:
        return largest_text(reader.pages[0]) if len(reader.pages) else ""
    except Exception:  # noqa: BLE001 - a page pypdf cannot walk still has its text
        return ""


def largest_text(page) -> str:
    """The text set in the largest font on ``page`` when it stands out (at least 1.3 times the median size)."""
    runs: list[tuple[float, str]] = []

    def visit(text, cm, tm, _font, size) -> None:
        if text.strip() and size:
            runs.append((size * math.hypot(tm[2], tm[3]) * math.hypot(cm[2], cm[3]), text.strip()))

    page.extract_text(visitor_text=visit)
    if not runs:
        return ""
    top = max(s for s, _ in runs)
    if top < 1.3 * statistics.median(s for s, _ in runs):
        return ""
    return " ".join(" ".join(t for s, t in runs if s >= 0.95 * top).split())[:200]


def ocr_pages(raw: bytes, path: Path, indices: list[int], limits: IngestLimits) -> dict[int, str]:
    """OCR text of the pages ``indices`` (0-based), each rendered at ``OCR_DPI`` under the pixel limit."""
    import pypdfium2 as pdfium

    from docqa.index.ingest.images import ocr_text
    from docqa.index.ingest.ocr import OCR_DPI

    out: dict[int, str] = {}
    try:
        pdf = pdfium.PdfDocument(raw)
    except pdfium.PdfiumError as exc:
        raise IngestError(f"{path}: unreadable PDF for OCR ({exc})") from None
    try:
        for i in indices:
            page = pdf[i]
            w, h = page.get_size()  # points (1/72 inch)
            scale = OCR_DPI / 72
            if w * scale * h * scale > limits.max_image_pixels:
                scale = (limits.max_image_pixels / (w * h)) ** 0.5  # a huge page is rendered smaller, not refused
            ocr_page_started()
            image = page.render(scale=scale, grayscale=True).to_pil()
            out[i] = ocr_text(image, Path(f"{path} (page {i + 1})"), limits)
    finally:
        pdf.close()
    return out
