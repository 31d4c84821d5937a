"""Read files into Documents (``formats.KINDS`` lists the types); unreadable files and files over a limit are
skipped, and files of other types are listed, each with its reason.

Plain text, Markdown and CSV are read in the calling process; every other type is extracted in a child process
that is killed after ``IngestLimits.timeout_s`` (plus ``ocr_page_timeout_s`` per page being OCRed).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from docqa.index.errors import IngestError, UnsupportedFileError
from docqa.index.ingest.formats import (
    IN_PROCESS,
    KINDS,
    SUPPORTED,
    ZIPPED,
    Extracted,
    check_zip,
    extract,
    normalize_text,
    sniff,
)
from docqa.index.ingest.limits import IngestLimits, over_limit
from docqa.index.ingest.worker import extract_isolated
from docqa.index.types import Document

__all__ = [
    "SUPPORTED",
    "IngestLimits",
    "IngestReport",
    "doc_id_for",
    "ingest",
    "iter_files",
    "normalize_text",
    "read_document",
    "scan",
    "unsupported_files",
    "read_documents",
    "DocumentStream",
]

log = logging.getLogger(__name__)


@dataclass
class IngestReport:
    """What an ingest run read and what it skipped, with the reason for each skip."""

    documents: list[Document] = field(default_factory=list)
    skipped_ids: dict[str, str] = field(default_factory=dict)  # doc id -> reason
    unsupported: list[tuple[str, str]] = field(default_factory=list)  # (path, reason), files of other types
    paths: dict[str, str] = field(default_factory=dict)  # doc id -> path of each skipped file

    @property
    def skipped(self) -> list[tuple[str, str]]:
        """(path, reason) of every file not read."""
        return [(self.paths.get(d, d), why) for d, why in self.skipped_ids.items()] + self.unsupported

    def summary(self) -> str:
        lines = [f"{len(self.documents)} document(s) read, {len(self.skipped)} skipped"]
        lines += [f"  skipped {p}: {why}" for p, why in self.skipped]
        return "\n".join(lines)


TABLE_KINDS = {"csv", "xlsx"}


def _title(ex: Extracted, path: Path) -> str:
    """The document's own title; else its first line, except in a table, whose first line is a data row: there
    the file's name (without its extension) is the better title."""
    if ex.title.strip():
        return " ".join(ex.title.split())[:200]
    if KINDS[path.suffix.lower()] in TABLE_KINDS:
        return path.stem[:200]
    first = next((ln.strip() for ln in ex.text.splitlines() if ln.strip()), "")
    return first[:200]


def read_document(
    path: str | Path, doc_id: str | None = None, limits: IngestLimits | None = None, isolate: bool = True
) -> Document:
    """Read one file into a Document, or raise IngestError saying why it cannot be read."""
    limits = limits or IngestLimits()
    path = Path(path)
    if path.suffix.lower() not in SUPPORTED:
        raise UnsupportedFileError(f"{path}: unsupported file type {path.suffix or '(none)'}")
    try:
        size = path.stat().st_size
        if size > limits.max_file_bytes:
            raise IngestError(f"{path}: {over_limit('bytes', size, limits.max_file_bytes, 'max_file_bytes')}")
        raw = path.read_bytes()
    except OSError as exc:
        raise IngestError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not raw.strip():
        raise IngestError(f"{path}: empty file")
    kind = sniff(raw, path)
    if kind in ZIPPED:  # a zip bomb is refused from the zip directory, before any process or parser starts
        check_zip(raw, path, limits, kind)
    if kind in IN_PROCESS or not isolate:
        ex = extract(raw, path, limits)
    else:
        ex = extract_isolated(path, limits)
    if len(ex.text) > limits.max_chars:
        raise IngestError(f"{path}: {over_limit('characters', len(ex.text), limits.max_chars, 'max_chars')}")
    if not ex.text.strip():
        raise IngestError(f"{path}: no extractable text")
    return Document(
        doc_id=doc_id or path.name,
        path=str(path),
        text=ex.text,
        sha256=hashlib.sha256(raw).hexdigest(),
        title=_title(ex, path),
        kind=KINDS[path.suffix.lower()],
        pages=tuple(ex.pages),
        headings=tuple(ex.headings),
        size=size,
        added=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )


def iter_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand files and folders (recursively) into files, sorted, hidden ones skipped."""
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


def doc_id_for(f: Path, roots: Sequence[Path]) -> str:
    """A file's document id: its path relative to the folder it was found in (or its name)."""
    for r in roots:
        if r.is_dir():
            try:
                return f.relative_to(r).as_posix()
            except ValueError:
                continue
    return f.name


def read_documents(
    files: Sequence[tuple[str, Path]],
    limits: IngestLimits | None = None,
    progress: bool = False,
    report: Callable[[str, float], None] | None = None,
) -> IngestReport:
    """Read (doc id, path) pairs; each unreadable file is reported and skipped."""
    out = IngestReport()
    it = files
    if progress and len(files) > 1:
        from tqdm import tqdm

        it = tqdm(files, desc="reading", unit="file")
    t0, pages = time.perf_counter(), 0
    for i, (doc_id, path) in enumerate(it):
        if report is not None:
            rate = i / max(1e-9, time.perf_counter() - t0)
            report(
                "reading", i / max(1, len(files)), f"{i:,}/{len(files):,} files, {pages:,} pages, {rate:.1f} files/s"
            )
        try:
            out.documents.append(read_document(path, doc_id=doc_id, limits=limits))
            pages += len(out.documents[-1].pages) or 1
        except IngestError as exc:
            log.warning("skipped %s", exc)
            out.skipped_ids[doc_id] = str(exc).split(": ", 1)[-1]
            out.paths[doc_id] = str(path)
    return out


class DocumentStream:
    """(doc id, path) pairs read one by one as an index update consumes them (``len`` is the number of files).

    Reading runs ``ahead`` documents in front of the consumer in a thread (the extraction itself in the child
    process), so parsing the next files overlaps embedding the last ones, and memory holds only those few
    documents. Each unreadable file lands in ``skipped_ids`` (doc id -> reason) and ``paths``, complete once the
    iteration has ended.
    """

    def __init__(self, files: Sequence[tuple[str, Path]], limits: IngestLimits | None = None, ahead: int = 4) -> None:
        self.files = list(files)
        self.limits = limits
        self.ahead = max(1, ahead)
        self.skipped_ids: dict[str, str] = {}
        self.paths: dict[str, str] = {}
        self.read = 0

    def __len__(self) -> int:
        return len(self.files)

    def _read_all(self, put: Callable[[object], bool]) -> None:
        for doc_id, path in self.files:
            try:
                doc = read_document(path, doc_id=doc_id, limits=self.limits)
            except IngestError as exc:
                log.warning("skipped %s", exc)
                self.skipped_ids[doc_id] = str(exc).split(": ", 1)[-1]
                self.paths[doc_id] = str(path)
                continue
            except BaseException as exc:  # handed to the consumer, which raises it
                put(exc)
                return
            if not put(doc):
                return
        put(None)

    def __iter__(self) -> Iterator[Document]:
        import queue
        import threading

        q: queue.Queue = queue.Queue(self.ahead)
        stop = threading.Event()

        def put(item: object) -> bool:
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.2)
                    return True
                except queue.Full:
                    continue
            return False

        reader = threading.Thread(target=self._read_all, args=(put,), name="docqa-read", daemon=True)
        reader.start()
        try:
            while True:
                item = q.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                self.read += 1
                yield item  # type: ignore[misc]
        finally:
            stop.set()  # the consumer stopped early (an error): the reader ends at its next document
            reader.join()


def ingest(paths: Iterable[str | Path] | str | Path, limits: IngestLimits | None = None) -> IngestReport:
    """Read every supported file under ``paths``; each unreadable file is reported and skipped."""
    roots = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    todo: list[tuple[str, Path]] = []
    seen: set[str] = set()
    for f in iter_files(roots):
        if f.suffix.lower() not in SUPPORTED:
            continue
        doc_id = doc_id_for(f, roots)
        if doc_id not in seen:
            seen.add(doc_id)
            todo.append((doc_id, f))
    report = read_documents(todo, limits)
    report.unsupported = unsupported_files(roots)
    return report


def unsupported_files(corpus: Iterable[str | Path] | str | Path) -> list[tuple[str, str]]:
    """(path, reason) of every file under ``corpus`` of a type DocQA does not read, so none is dropped silently."""
    roots = [Path(corpus)] if isinstance(corpus, (str, Path)) else [Path(p) for p in corpus]
    return [
        (str(f), f"unsupported file type {f.suffix or '(none)'} (DocQA reads {', '.join(sorted(SUPPORTED))})")
        for f in iter_files(roots)
        if f.suffix.lower() not in SUPPORTED
    ]


def scan(corpus: Iterable[str | Path] | str | Path) -> dict[str, tuple[Path, str]]:
    """Supported files under ``corpus`` by document id, with the sha256 of their bytes."""
    roots = [Path(corpus)] if isinstance(corpus, (str, Path)) else [Path(p) for p in corpus]
    out: dict[str, tuple[Path, str]] = {}
    for f in iter_files(roots):
        if f.suffix.lower() not in SUPPORTED:
            continue
        doc_id = doc_id_for(f, roots)
        if doc_id in out:
            continue
        try:
            digest = _file_sha256(f)
        except OSError:
            digest = "unreadable"
        out[doc_id] = (f, digest)
    return out


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
