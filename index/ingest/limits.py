"""What one document may cost to read. Every limit is checked before the expensive step it guards."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class IngestLimits:
    """Bounds on reading one file; a file over a limit is skipped with a reason naming the limit."""

    max_file_bytes: int = 100 * 1024 * 1024  # size of the file on disk
    max_chars: int = 5_000_000  # characters of extracted text
    max_pdf_pages: int = 2_000
    max_docx_xml_bytes: int = 50 * 1024 * 1024  # uncompressed XML inside a .docx (checked before parsing)
    max_compression_ratio: float = 100.0  # uncompressed / compressed XML of a .docx
    max_zip_entries: int = 10_000
    timeout_s: float = 60.0  # wall-clock time to extract one PDF, DOCX or HTML file (a killable worker process)

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) <= 0:
                raise ValueError(f"IngestLimits.{f.name} must be positive, not {getattr(self, f.name)}")


def over_limit(what: str, value: float, limit: float, setting: str) -> str:
    """The reason given for a file over a limit: what, how much, the limit, and how to raise it."""
    flag = "--" + setting.replace("_", "-")
    return (
        f"{value:,} {what} is over the limit of {limit:,}; raise IngestLimits.{setting} "
        f"(or `docqa index {flag} N`) to read it"
    )
