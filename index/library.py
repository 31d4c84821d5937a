"""The documents of one index: the user's folders (never written to), uploaded files, and removals.

Uploads are stored beside the index in ``<state>/uploads/`` under sanitised, unique names (an upload never
overwrites another document), and get the document id ``uploads/<name>``. Removing a document deletes an
upload's file; a document of the user's own folder is never deleted from disk: it is listed in
``<state>/excluded.json`` and left out of the index until it is added back.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from docqa.index.errors import IngestError, QuotaExceededError, UnsupportedFileError
from docqa.index.ingest import SUPPORTED, IngestLimits, doc_id_for, scan, unsupported_files
from docqa.index.ingest.formats import decode_text, sniff
from docqa.index.ingest.limits import over_limit

UPLOADS = "uploads"
_UNSAFE = re.compile(r"[^\w.() -]+")


def safe_filename(name: str) -> str:
    """A file name that is safe to create in one folder: no path, no control or odd characters, no dot files."""
    name = unicodedata.normalize("NFKC", str(name)).replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    stem = _UNSAFE.sub("_", stem).strip(" ._-")[:120] or "document"
    ext = _UNSAFE.sub("", ext).lower()[:10]
    return f"{stem}.{ext}" if ext else stem


@dataclass(frozen=True)
class StorageQuota:
    """How much the uploads of one library may hold (None: no limit). The user's own folders do not count."""

    max_bytes: int | None = None
    max_files: int | None = None

    def check(self, used_bytes: int, used_files: int, new_bytes: int) -> None:
        """QuotaExceededError when one more file of ``new_bytes`` would not fit."""
        if self.max_files is not None and used_files + 1 > self.max_files:
            raise QuotaExceededError(
                f"storage quota reached: {used_files:,} uploaded files of {self.max_files:,}; delete some first"
            )
        if self.max_bytes is not None and used_bytes + new_bytes > self.max_bytes:
            raise QuotaExceededError(
                f"storage quota reached: {used_bytes:,} + {new_bytes:,} bytes is over the {self.max_bytes:,} "
                "bytes this collection may hold; delete some uploads first"
            )


class Library:
    """Corpus folders + uploads - exclusions, kept in ``state_dir`` (the index folder)."""

    def __init__(self, roots: Iterable[str | Path], state_dir: str | Path, quota: StorageQuota | None = None) -> None:
        self.roots = [Path(r) for r in roots]
        self.quota = quota or StorageQuota()
        self.state_dir = Path(state_dir)
        self.uploads = self.state_dir / UPLOADS
        self._excluded_path = self.state_dir / "excluded.json"
        self._lock = threading.Lock()

    # ------------------------------------------------------------ what is in it

    def excluded(self) -> set[str]:
        """Document ids removed by the user from folders DocQA does not own."""
        try:
            return set(json.loads(self._excluded_path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return set()

    def _set_excluded(self, ids: set[str]) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self._excluded_path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(sorted(ids)), encoding="utf-8")
        os.replace(tmp, self._excluded_path)

    def scan(self) -> dict[str, tuple[Path, str]]:
        """Every source file by document id (with its sha256), uploads included, exclusions left out."""
        for r in self.roots:
            if not r.exists():
                raise IngestError(f"{r}: no such file or folder")
        out = scan(self.roots)
        if self.uploads.is_dir():
            for doc_id, src in scan(self.uploads).items():
                out[f"{UPLOADS}/{doc_id}"] = src
        excluded = self.excluded()
        return {k: v for k, v in out.items() if k not in excluded}

    def unsupported(self) -> list[tuple[str, str]]:
        """(path, reason) of the files in the library's folders that DocQA cannot read (reported, not indexed)."""
        return unsupported_files([r for r in self.roots if r.exists()])

    def is_upload(self, doc_id: str) -> bool:
        return doc_id.startswith(f"{UPLOADS}/")

    # ------------------------------------------------------------ changes

    def save_upload(self, name: str, data: bytes, limits: IngestLimits | None = None) -> str:
        """Store uploaded bytes under a safe, unused name; return the new document id.

        The file type must be supported and its content must match its extension; the size is bounded.
        """
        limits = limits or IngestLimits()
        fname = safe_filename(name)
        path = Path(fname)
        if path.suffix.lower() not in SUPPORTED:
            raise UnsupportedFileError(
                f"{fname}: unsupported file type {path.suffix or '(none)'} (supported: {', '.join(sorted(SUPPORTED))})"
            )
        if len(data) > limits.max_file_bytes:
            raise IngestError(f"{fname}: {over_limit('bytes', len(data), limits.max_file_bytes, 'max_file_bytes')}")
        if not data.strip():
            raise IngestError(f"{fname}: empty file")
        if sniff(data, path) in ("txt", "md", "html"):
            decode_text(data, path)  # binary or non-UTF-8 "text" is refused now, not kept and skipped later
        with self._lock:
            self.uploads.mkdir(parents=True, exist_ok=True)
            files = [p for p in self.uploads.iterdir() if p.is_file() and not p.name.startswith(".")]
            self.quota.check(sum(p.stat().st_size for p in files), len(files), len(data))
            taken = {p.name.lower() for p in self.uploads.iterdir()}
            stem, suffix = path.stem, path.suffix
            n = 1
            while fname.lower() in taken:
                n += 1
                fname = f"{stem} ({n}){suffix}"
            fd, tmp = tempfile.mkstemp(dir=self.uploads, prefix=".upload-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, self.uploads / fname)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return f"{UPLOADS}/{fname}"

    def add_path(self, path: str | Path, limits: IngestLimits | None = None) -> str:
        """Add a file: one inside a corpus folder is included again; any other file is copied in as an upload."""
        path = Path(path)
        if not path.is_file():
            raise IngestError(f"{path}: no such file")
        for r in self.roots:
            if r.is_dir() and path.resolve().is_relative_to(r.resolve()):
                doc_id = doc_id_for(path.resolve(), [r.resolve()])
                with self._lock:
                    ex = self.excluded()
                    if doc_id in ex:
                        self._set_excluded(ex - {doc_id})
                return doc_id
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise IngestError(f"{path}: cannot read ({exc.strerror or exc})") from None
        return self.save_upload(path.name, data, limits)

    def discard_uploads(self, paths: Iterable[str | Path]) -> list[str]:
        """Delete the uploaded files among ``paths`` (uploads that indexing skipped: a refused upload is not kept,
        invisible and undeletable, on disk). Returns their document ids; files outside the uploads are untouched."""
        gone = []
        up = self.uploads.resolve()
        for p in paths:
            path = Path(p).resolve()
            if path.parent == up and path.is_file():
                path.unlink()
                gone.append(f"{UPLOADS}/{path.name}")
        return gone

    def relative(self, path: str | Path) -> str:
        """A path as users of this library may see it: its document id (relative to its folder or the uploads),
        never the server's file system."""
        p = Path(path)
        for base, prefix in [(self.uploads, f"{UPLOADS}/"), *((r, "") for r in self.roots)]:
            try:
                rel = p.resolve().relative_to(base.resolve())
            except (ValueError, OSError):
                continue
            return prefix + rel.as_posix() if str(rel) != "." else p.name
        return p.name

    def remove(self, doc_id: str) -> None:
        """Remove a document: delete an upload's file, or exclude a corpus file (it stays on disk)."""
        if self.is_upload(doc_id):
            name = doc_id[len(UPLOADS) + 1 :]
            target = self.uploads / name
            if "/" in name or not target.is_file():
                raise IngestError(f"no uploaded document {doc_id!r}")
            target.unlink()
            return
        with self._lock:
            self._set_excluded(self.excluded() | {doc_id})
