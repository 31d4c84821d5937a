"""Image files (png, jpg, tiff, bmp, gif, webp) and scanned PDF pages, read by OCR (``ocr.py``)."""

from __future__ import annotations

from pathlib import Path

from docqa.index.errors import IngestError
from docqa.index.ingest.base import Extracted, normalize_text
from docqa.index.ingest.limits import IngestLimits
from docqa.index.ingest.ocr import get_engine, open_image


def load_image(raw: bytes, path: Path, limits: IngestLimits):
    """The decoded image, or IngestError: over the pixel limit (a decompression bomb) or not an image."""
    try:
        return open_image(raw, limits.max_image_pixels)
    except IngestError as exc:
        raise IngestError(
            f"{path}: an image of {exc} is over the limit of {limits.max_image_pixels:,} pixels (a decompression "
            "bomb?); raise IngestLimits.max_image_pixels (--max-image-pixels) to read it"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        from PIL import UnidentifiedImageError

        why = (
            "truncated, or not an image" if isinstance(exc, UnidentifiedImageError) else f"{type(exc).__name__}: {exc}"
        )
        raise IngestError(f"{path}: unreadable image ({why})") from None


def ocr_text(image, path: Path, limits: IngestLimits) -> str:
    """The text OCR reads in ``image``, lines joined (hyphenated line ends joined, as in PDFs)."""
    from docqa.index.ingest.pdf import clean_pdf_pages

    engine = get_engine(limits.ocr_engine)
    try:
        raw = engine.read(image, limits.ocr_page_timeout_s)
    except IngestError as exc:
        raise IngestError(f"{path}: {exc}") from None
    text, _ = clean_pdf_pages([normalize_text(raw)])
    return text


def read_image(raw: bytes, path: Path, limits: IngestLimits) -> Extracted:
    """An image file read by OCR: one page, titled by its file name."""
    text = ocr_text(load_image(raw, path, limits), path, limits)
    return Extracted(text, pages=[0] if text else [], title=path.stem.replace("_", " "))
