"""Read files (txt, md, html, pdf, docx) into Documents; unreadable files are reported and skipped."""

from __future__ import annotations

import hashlib
import logging
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from qa.errors import IngestError
from qa.types import Document

log = logging.getLogger(__name__)

SUPPORTED = {".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx"}
MAX_FILE_BYTES = 200 * 1024 * 1024


@dataclass
class IngestReport:
    """What an ingest run read and what it skipped, with the reason for each skip."""

    documents: list[Document] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"{len(self.documents)} document(s) read, {len(self.skipped)} skipped"]
        lines += [f"  skipped {p}: {why}" for p, why in self.skipped]
        return "\n".join(lines)


def _decode_text(raw: bytes, path: Path) -> str:
    if b"\x00" in raw[:8192]:
        raise IngestError(f"{path}: looks binary (NUL bytes), not a text file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError(f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    bad = sum(1 for ch in text[:20000] if ord(ch) < 32 and ch not in "\n\r\t\f")
    if bad > 0.05 * max(1, min(len(text), 20000)):
        raise IngestError(f"{path}: looks binary (control characters), not a text file")
    return text


def _read_html(raw: bytes, path: Path) -> str:
    from bs4 import BeautifulSoup

    html = _decode_text(raw, path)
    try:
        soup = BeautifulSoup(html, "html.parser")
        for tag in soup(["script", "style", "noscript", "template"]):
            tag.extract()
        return soup.get_text("\n")
    except RecursionError:
        raise IngestError(f"{path}: HTML nested too deeply to read") from None


def _read_pdf(path: Path) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = PdfReader(str(path))
            if reader.is_encrypted:
                raise IngestError(f"{path}: PDF is encrypted")
            pages = [page.extract_text() or "" for page in reader.pages]
    except IngestError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, RecursionError) as exc:
        raise IngestError(f"{path}: unreadable PDF ({type(exc).__name__}: {exc})") from None
    return "\n\n".join(pages)


def _read_docx(path: Path) -> str:
    import zipfile

    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        d = docx.Document(str(path))
    except (zipfile.BadZipFile, PackageNotFoundError, KeyError, ValueError, OSError) as exc:
        raise IngestError(f"{path}: unreadable DOCX ({type(exc).__name__}: {exc})") from None
    return "\n\n".join(p.text for p in d.paragraphs)


def normalize_text(text: str) -> str:
    """Normalise newlines and strip NULs; offsets are defined on the result."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")


def read_document(path: str | Path, doc_id: str | None = None) -> Document:
    """Read one file into a Document, or raise IngestError saying why it cannot be read."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise IngestError(f"{path}: unsupported file type {suffix or '(none)'}")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise IngestError(f"{path}: file too large ({size} bytes > {MAX_FILE_BYTES})")
        raw = path.read_bytes()
    except OSError as exc:
        raise IngestError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not raw.strip():
        raise IngestError(f"{path}: empty file")
    if suffix in {".txt", ".md", ".markdown"}:
        text = _decode_text(raw, path)
    elif suffix in {".html", ".htm"}:
        text = _read_html(raw, path)
    elif suffix == ".pdf":
        text = _read_pdf(path)
    else:
        text = _read_docx(path)
    text = normalize_text(text)
    if not text.strip():
        raise IngestError(f"{path}: no extractable text")
    first_line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return Document(
        doc_id=doc_id or path.name,
        path=str(path),
        text=text,
        sha256=hashlib.sha256(raw).hexdigest(),
        title=first_line[:200],
    )


def iter_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand files and folders (recursively) into the supported files, sorted, hidden ones skipped."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p)
                if f.is_file() and not any(part.startswith(".") for part in rel.parts):
                    out.append(f)
        elif p.exists():
            out.append(p)
        else:
            raise IngestError(f"{p}: no such file or folder")
    return out


def ingest(paths: Iterable[str | Path] | str | Path) -> IngestReport:
    """Read every supported file under ``paths``; each unreadable file is reported and skipped."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    paths = list(paths)
    report = IngestReport()
    roots = [Path(p) for p in paths]
    seen: set[str] = set()
    for f in iter_files(roots):
        if f.suffix.lower() not in SUPPORTED:
            report.skipped.append((str(f), f"unsupported file type {f.suffix or '(none)'}"))
            continue
        doc_id = _doc_id(f, roots)
        if doc_id in seen:
            continue
        seen.add(doc_id)
        try:
            report.documents.append(read_document(f, doc_id=doc_id))
        except IngestError as exc:
            log.warning("skipped %s", exc)
            report.skipped.append((str(f), str(exc).split(": ", 1)[-1]))
    return report


def source_checksums(paths: Iterable[str | Path] | str | Path) -> dict[str, str]:
    """sha256 of every supported file under ``paths`` by document id (to tell if an index is stale)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    roots = [Path(p) for p in paths]
    out = {}
    for f in iter_files(roots):
        if f.suffix.lower() in SUPPORTED:
            try:
                out[_doc_id(f, roots)] = hashlib.sha256(f.read_bytes()).hexdigest()
            except OSError:
                out[_doc_id(f, roots)] = "unreadable"
    return out


def _doc_id(f: Path, roots: list[Path]) -> str:
    for r in roots:
        if r.is_dir():
            try:
                return f.relative_to(r).as_posix()
            except ValueError:
                continue
    return f.name
