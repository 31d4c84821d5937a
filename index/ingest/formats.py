"""The formats DocQA reads: file suffix -> kind -> reader, and the check that a file's bytes are what its name
says. Each reader returns an :class:`Extracted` (text, pages, headings, title) and lives in the module of its
family: ``text_formats`` (txt, md, html, csv, tsv), ``pdf_reader`` (pdf, OCR of scanned pages), ``office``
(docx, xlsx, pptx, odt, epub; zip-bomb checks), ``images`` (png, jpg, tiff, ... by OCR).

Limits that can be checked before the expensive step are checked in the readers (zip directories before a
parser expands them, PDF page count before text extraction, image size before decoding, characters after),
each refusal naming the limit and the setting that raises it.
"""

from __future__ import annotations

from pathlib import Path

from docqa.index.errors import UnsupportedFileError
from docqa.index.ingest.base import Extracted, FormatReader, decode_text, normalize_text
from docqa.index.ingest.images import read_image
from docqa.index.ingest.limits import IngestLimits
from docqa.index.ingest.office import check_zip, read_docx, read_epub, read_odt, read_pptx, read_xlsx
from docqa.index.ingest.pdf_reader import read_pdf
from docqa.index.ingest.text_formats import read_csv, read_html, read_text

__all__ = [
    "KINDS",
    "READERS",
    "SUPPORTED",
    "Extracted",
    "check_zip",
    "decode_text",
    "extract",
    "normalize_text",
    "sniff",
]

KINDS = {
    ".txt": "txt",
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".pdf": "pdf",
    ".docx": "docx",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".pptx": "pptx",
    ".odt": "odt",
    ".epub": "epub",
    ".csv": "csv",
    ".tsv": "csv",
    ".png": "image",
    ".jpg": "image",
    ".jpeg": "image",
    ".tif": "image",
    ".tiff": "image",
    ".bmp": "image",
    ".gif": "image",
    ".webp": "image",
}
SUPPORTED = set(KINDS)
ZIPPED = {"docx", "xlsx", "pptx", "odt", "epub"}
TEXT = {"txt", "md", "html", "csv"}
IN_PROCESS = {"txt", "md", "csv"}  # read in the calling process; every other kind in the killable worker

READERS: dict[str, FormatReader] = {
    "txt": read_text,
    "md": read_text,
    "html": read_html,
    "csv": read_csv,
    "pdf": read_pdf,
    "docx": read_docx,
    "xlsx": read_xlsx,
    "pptx": read_pptx,
    "odt": read_odt,
    "epub": read_epub,
    "image": read_image,
}

_IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"BM", b"GIF8", b"RIFF")
_BINARY_MAGIC = (b"%PDF-", b"PK\x03\x04", b"\x7fELF", *_IMAGE_MAGIC[:4])


def sniff(raw: bytes, path: Path) -> str:
    """The file type its extension claims, checked against its first bytes (UnsupportedFileError when they
    disagree, so a renamed file is refused with the reason rather than misread)."""
    kind = KINDS.get(path.suffix.lower())
    if kind is None:
        raise UnsupportedFileError(f"{path}: unsupported file type {path.suffix or '(none)'}")
    head = raw[:1024]
    if kind == "pdf" and b"%PDF-" not in head:
        raise UnsupportedFileError(f"{path}: content is not a PDF (no %PDF- header)")
    if kind in ZIPPED and not raw.startswith(b"PK\x03\x04"):
        raise UnsupportedFileError(f"{path}: content is not a {kind.upper()} (not a zip archive)")
    if kind == "image" and not raw.startswith(_IMAGE_MAGIC):
        raise UnsupportedFileError(f"{path}: content is not a PNG, JPEG, TIFF, BMP, GIF or WebP image")
    if kind in TEXT and raw.startswith(_BINARY_MAGIC):
        raise UnsupportedFileError(f"{path}: looks binary (a PDF, zip, image or program), not a {kind} file")
    return kind


def extract(raw: bytes, path: Path, limits: IngestLimits) -> Extracted:
    """Dispatch on the (sniffed) file type; IngestError for anything unreadable or over a limit."""
    return READERS[sniff(raw, path)](raw, path, limits)
