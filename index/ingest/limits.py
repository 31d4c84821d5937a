"""What one document may cost to read. Every limit is checked before the expensive step it guards."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class IngestLimits:
    """Bounds on reading one file; a file over a limit is skipped with a reason naming the limit."""

    max_file_bytes: int = 100 * 1024 * 1024  # size of the file on disk
    max_chars: int = 5_000_000  # characters of extracted text
    max_pdf_pages: int = 2_000
    max_docx_xml_bytes: int = 50 * 1024 * 1024  # uncompressed XML inside a docx/xlsx/pptx/odt/epub (before parsing)
    max_compression_ratio: float = 100.0  # uncompressed / compressed XML of those zip-based files
    max_zip_entries: int = 10_000
    timeout_s: float = 60.0  # wall-clock time to extract one file, OCR aside (a killable worker process)
    max_ocr_pages: int = 100  # scanned pages OCRed per PDF (each costs seconds); later ones are left out, said so
    ocr_page_timeout_s: float = 60.0  # time to OCR one page or image; the file's time limit grows by this per page
    max_image_pixels: int = 60_000_000  # an image (or a scanned page) larger than this is refused before decoding
    ocr_engine: str = "auto"  # "auto" (RapidOCR, else Tesseract when installed), "rapidocr" or "tesseract"

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name != "ocr_engine" and getattr(self, f.name) <= 0:
                raise ValueError(f"IngestLimits.{f.name} must be positive, not {getattr(self, f.name)}")
        if self.ocr_engine not in ("auto", "tesseract", "rapidocr"):
            raise ValueError(f"IngestLimits.ocr_engine must be auto, tesseract or rapidocr, not {self.ocr_engine!r}")


def over_limit(what: str, value: float, limit: float, setting: str) -> str:
    """The reason given for a file over a limit: what, how much, the limit, and how to raise it."""
    flag = "--" + setting.replace("_", "-")
    return (
        f"{value:,} {what} is over the limit of {limit:,}; raise IngestLimits.{setting} "
        f"(or `docqa index {flag} N`) to read it"
    )
