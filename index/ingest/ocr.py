"""OCR engines for scanned pages and image files.

Two implementations of one protocol, both local (no service, no download at run time):

- ``tesseract``: Tesseract through pytesseract; needs Debian's ``tesseract-ocr`` package. Each page runs in a
  tesseract process killed after ``IngestLimits.ocr_page_timeout_s``.
- ``rapidocr``: RapidOCR on ONNX Runtime (package ``rapidocr-onnxruntime``, models inside the wheel), always
  installed with DocQA.

``get_engine("auto")`` picks RapidOCR, checked: on a real manual rendered to images it reads with half
Tesseract's word error rate at twice its speed on 2 cores, and it needs no system package; but on tightly set
proportional type or a scan's JPEG it runs words together ("thedatabaseisstored"), and then a page is read
again by Tesseract when it is installed (``looks_merged``, ``CheckedOcr``; ``python -m bench.ocr_engines``,
docs/documents.md). Tesseract alone is
used when RapidOCR cannot be imported, or when asked for. Images are decoded with Pillow under a pixel limit, so
a decompression bomb is refused before it is expanded.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from functools import lru_cache
from typing import TYPE_CHECKING, Literal, Protocol

from docqa.index.errors import IngestError
from docqa.index.text import STOPWORDS

if TYPE_CHECKING:
    from PIL.Image import Image

OcrChoice = Literal["auto", "tesseract", "rapidocr"]
OCR_DPI = 300  # scanned PDF pages are rendered at this resolution for OCR (200 merges words in RapidOCR)


class OcrEngine(Protocol):
    """Reads the text of one page image, lines in reading order."""

    name: str

    def read(self, image: Image, timeout_s: float) -> str: ...


class TesseractOcr:
    """Tesseract (Debian ``tesseract-ocr``) through pytesseract, English, automatic page segmentation."""

    name = "tesseract"

    @staticmethod
    def available() -> bool:
        return shutil.which("tesseract") is not None

    def read(self, image: Image, timeout_s: float) -> str:
        import pytesseract

        try:
            return pytesseract.image_to_string(image, lang="eng", timeout=timeout_s)
        except RuntimeError as exc:  # pytesseract's timeout
            raise IngestError(
                f"OCR of a page took longer than {timeout_s:g} s; raise IngestLimits.ocr_page_timeout_s "
                "(--ocr-page-timeout-s) to read it"
            ) from exc


class RapidOcr:
    """RapidOCR (ONNX Runtime; detection, orientation and recognition models shipped in its wheel)."""

    name = "rapidocr"
    _lock = threading.Lock()

    @staticmethod
    def available() -> bool:
        try:
            import rapidocr_onnxruntime  # noqa: F401
        except ImportError:
            return False
        return True

    @staticmethod
    @lru_cache(maxsize=1)
    def _engine():
        from rapidocr_onnxruntime import RapidOCR

        return RapidOCR()

    def read(self, image: Image, timeout_s: float) -> str:
        import numpy as np

        with self._lock:
            result, _ = self._engine()(np.asarray(image.convert("RGB")))
        return boxes_to_text([(box, text) for box, text, _score in result or []])


def boxes_to_text(boxes: list[tuple[list[list[float]], str]]) -> str:
    """Recognised text boxes (four corner points, text) as lines in reading order: boxes whose vertical centres
    are within half a line height of each other form a line, read left to right; lines top to bottom."""
    items = []
    for pts, text in boxes:
        ys = [p[1] for p in pts]
        xs = [p[0] for p in pts]
        items.append(((min(ys) + max(ys)) / 2, max(ys) - min(ys), min(xs), text))
    items.sort()
    lines: list[list[tuple[float, str]]] = []
    centre = height = None
    for cy, h, x, text in items:
        if centre is not None and abs(cy - centre) <= 0.5 * max(h, height or h):
            lines[-1].append((x, text))
        else:
            lines.append([(x, text)])
            centre, height = cy, h
    return "\n".join(" ".join(t for _, t in sorted(line)) for line in lines)


_WORD = re.compile(r"[A-Za-z]+")
MERGED_SHARE = 0.05  # run-together pages measured 0.09-0.17 of words this long, real text 0.003-0.014


def looks_merged(text: str) -> bool:
    """Whether OCR ran words together: of at least 30 words, 5% or more have 13 letters or more."""
    words = _WORD.findall(text)
    return len(words) >= 30 and sum(len(w) >= 13 for w in words) >= MERGED_SHARE * len(words)


JUNK_MARGIN = 0.15  # Tesseract on dot leaders: 0.49 of words junk, RapidOCR 0.0; on prose both within 0.13


def junk_share(text: str) -> float:
    """Share of words that are short lower-case non-words ("cece eee ee nent": how Tesseract reads the dot
    leaders of a table of contents): at most four letters and not a stop word."""
    words = _WORD.findall(text)
    bad = sum(1 for w in words if len(w) <= 4 and w.islower() and w not in STOPWORDS)
    return bad / max(1, len(words))


class CheckedOcr:
    """One engine first; a page it reads with words run together (``looks_merged``) is read again by the
    other, whose text is kept unless it looks merged too or holds clearly more junk (``junk_share``)."""

    def __init__(self, first: OcrEngine, second: OcrEngine) -> None:
        self.first, self.second = first, second
        self.name = f"{first.name}, {second.name} for run-together words"

    def read(self, image: Image, timeout_s: float) -> str:
        """Both reads of a page together stay within ``timeout_s``: the second gets what the first left, and the
        first's text stands when the second runs out of time."""
        start = time.monotonic()
        text = self.first.read(image, timeout_s)
        left = timeout_s - (time.monotonic() - start)
        if not looks_merged(text) or left < 1:
            return text
        try:
            again = self.second.read(image, left)
        except IngestError:  # its time ran out: the first reading is better than none
            return text
        if looks_merged(again) or junk_share(again) > junk_share(text) + JUNK_MARGIN:
            return text
        return again


def get_engine(choice: OcrChoice = "auto") -> OcrEngine:
    """The OCR engine ``choice`` names ("auto": RapidOCR, checked by Tesseract when installed, else either one
    alone); IngestError naming what to install when none is available."""
    if choice == "auto" and RapidOcr.available() and TesseractOcr.available():
        return CheckedOcr(RapidOcr(), TesseractOcr())
    if choice in ("auto", "rapidocr") and RapidOcr.available():
        return RapidOcr()
    if choice in ("auto", "tesseract") and TesseractOcr.available():
        return TesseractOcr()
    raise IngestError(
        f"no OCR engine for scanned pages and images (asked for {choice}): install Debian's tesseract-ocr "
        "(apt-get install tesseract-ocr) or the rapidocr-onnxruntime package"
    )


def open_image(raw: bytes, max_pixels: int) -> Image:
    """Decode an image with Pillow; its size is read from the header first, and an image over ``max_pixels`` (a
    decompression bomb) is refused (IngestError "W x H pixels") before it is expanded. Multi-page TIFF: the
    first frame."""
    import io

    from PIL import Image as PILImage

    old = PILImage.MAX_IMAGE_PIXELS
    PILImage.MAX_IMAGE_PIXELS = None  # the size check below is ours, with our limit
    try:
        img = PILImage.open(io.BytesIO(raw))
        w, h = img.size
        if w * h > max_pixels:
            raise IngestError(f"{w:,} x {h:,} pixels")
        img.load()
    finally:
        PILImage.MAX_IMAGE_PIXELS = old
    return img
