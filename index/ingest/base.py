"""What every format reader returns, and the text helpers they share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from docqa.index.errors import UnsupportedFileError
from docqa.index.ingest.limits import IngestLimits


@dataclass
class Extracted:
    """What a format reader got out of a file; offsets in ``pages`` and ``headings`` point into ``text``."""

    text: str
    pages: list[int] = field(default_factory=list)
    headings: list[tuple[int, str]] = field(default_factory=list)
    title: str = ""


# typographic ligatures (PDFs set "filename" as "\ufb01lename"): spelled out, so "filename" matches the question's
LIGATURES = str.maketrans(
    {"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl", "\ufb05": "st", "\ufb06": "st"}
)


def normalize_text(text: str) -> str:
    """Normalise newlines, spell out ligatures and strip NULs; offsets are defined on the result."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "").translate(LIGATURES)


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


FormatReader = Callable[[bytes, Path, IngestLimits], Extracted]

_page_hook: Callable[[], None] | None = None


def set_ocr_page_hook(hook: Callable[[], None] | None) -> None:
    """Call ``hook`` each time a page's OCR starts (the extraction worker extends its time limit by a page's)."""
    global _page_hook
    _page_hook = hook


def ocr_page_started() -> None:
    """Tell the worker (if any) that one more page is being OCRed."""
    if _page_hook is not None:
        _page_hook()


def join_blocks(blocks: list[tuple[str, str]], limits: IngestLimits, path: Path) -> tuple[str, list[tuple[int, str]]]:
    """Blocks of (text, heading-or-"") joined by blank lines: the text and the offsets of its headings; a
    block whose second element is non-empty is a heading with that text. IngestError past ``max_chars``."""
    from docqa.index.errors import IngestError
    from docqa.index.ingest.limits import over_limit

    parts: list[str] = []
    headings: list[tuple[int, str]] = []
    pos = 0
    for text, heading in blocks:
        text = normalize_text(text).strip("\n")
        if not text.strip():
            continue
        if heading:
            headings.append((pos, " ".join(heading.split())))
        parts.append(text)
        pos += len(text) + 2
        if pos > limits.max_chars:
            raise IngestError(f"{path}: {over_limit('characters', pos, limits.max_chars, 'max_chars')}")
    return "\n\n".join(parts), headings
