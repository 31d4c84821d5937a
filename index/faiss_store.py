"""The default backend: FAISS dense vectors + sparse BM25 in versioned, checksummed files.

Layout of an index folder::

    CURRENT                 name of the live version folder (replaced atomically)
    v-<time>-<pid>/         one complete version
        manifest.json       model, settings, documents (checksums), skipped files, files (sha256)
        documents.jsonl     extracted document texts (every offset points into these)
        passages.jsonl      passages with offsets and sentence spans
        faiss.index         dense passage vectors (FAISS inner product on unit vectors)
        bm25.npz, bm25_vocab.json

An update writes a fresh version folder and only then points CURRENT at it, so a crash or a full disk
mid-update leaves the previous version loadable; any number of processes can read the same folder.
Loading checks every file against the manifest's checksums.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Collection, Sequence
from pathlib import Path

import faiss
import numpy as np

from docqa.index.backend import IndexSettings, Report, Scored, document_info
from docqa.index.bm25 import BM25Index
from docqa.index.checksum import sha256_file
from docqa.index.encoder import Encoder, get_encoder
from docqa.index.errors import IndexCorruptedError, IndexMismatchError, IndexNotFoundError, IndexWriteError
from docqa.index.passages import make_passages
from docqa.index.text import tokenize
from docqa.index.types import BuildStats, Document, DocumentInfo, Passage

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
KEEP_VERSIONS = 2
# FAISS threads for one question's search. One query gains nothing from a second OpenMP thread, and waking one
# right after the question encoder's PyTorch threads costs milliseconds: at 10k passages dense search took p50/p95
# 1.38/4.62 ms with 2 threads vs 1.10/1.21 ms with 1 (after answer() each time, 100 questions, 2 cores). The
# setting is per calling thread (an OpenMP ICV), so index builds in other threads keep every core.
QUERY_THREADS = 1


@contextlib.contextmanager
def _omp_threads(n: int):
    """FAISS's OpenMP thread count for the calling thread, restored afterwards (0 leaves it alone)."""
    before = faiss.omp_get_max_threads()
    if n:
        faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


FILES = ("documents.jsonl", "passages.jsonl", "faiss.index", "bm25.npz", "bm25_vocab.json")


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class FaissView:
    """One loaded version: documents, passages, FAISS and BM25, ready for search (never modified)."""

    def __init__(
        self,
        documents: dict[str, Document],
        passages: list[Passage],
        faiss_index: faiss.Index,
        bm25: BM25Index,
        manifest: dict,
        path: Path | None = None,
    ) -> None:
        self._documents = documents
        self.passages = passages
        self.faiss = faiss_index
        self.bm25 = bm25
        self.manifest = manifest
        self.path = path
        self.version = path.name if path is not None else f"memory-{id(self)}"
        self.rows = {p.passage_id: i for i, p in enumerate(passages)}
        by_doc: dict[str, list[int]] = {}
        for i, p in enumerate(passages):
            by_doc.setdefault(p.doc_id, []).append(i)
        self._doc_rows = {d: np.asarray(r, dtype=np.int64) for d, r in by_doc.items()}

    def __len__(self) -> int:
        return len(self.passages)

    def _rows_of(self, doc_ids: Collection[str] | None) -> np.ndarray | None:
        if doc_ids is None:
            return None
        parts = [self._doc_rows[d] for d in doc_ids if d in self._doc_rows]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def bm25_search(self, query: str, k: int, doc_ids: Collection[str] | None = None) -> list[Scored]:
        return self._scored(*self.bm25_rows(query, k, self._rows_of(doc_ids)))

    def dense_search(self, vector: np.ndarray, k: int, doc_ids: Collection[str] | None = None) -> list[Scored]:
        return self._scored(*self.dense_rows(vector, k, self._rows_of(doc_ids)))

    def _scored(self, rows: np.ndarray, scores: np.ndarray) -> list[Scored]:
        return [Scored(self.passages[r].passage_id, s) for r, s in zip(rows.tolist(), scores.tolist(), strict=True)]

    def bm25_rows(self, query: str, k: int, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Row-level BM25 search (benchmarks use rows directly)."""
        if rows is not None and len(rows) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        return self.bm25.search(query, k, rows)

    def dense_rows(self, vector: np.ndarray, k: int, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Row-level dense search, optionally restricted to ``rows`` (a FAISS ID selector)."""
        n = len(self.passages) if rows is None else len(rows)
        k = min(k, n)
        if k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        q = np.ascontiguousarray(vector.reshape(1, -1), dtype=np.float32)
        params = None
        if rows is not None:
            sel = faiss.IDSelectorBatch(rows)
            if isinstance(self.faiss, faiss.IndexHNSW):
                params = faiss.SearchParametersHNSW(sel=sel, efSearch=max(self.faiss.hnsw.efSearch, k))
            else:
                params = faiss.SearchParameters(sel=sel)
        with _omp_threads(QUERY_THREADS):
            scores, found = self.faiss.search(q, k, params=params)
        keep = found[0] >= 0
        return found[0][keep].astype(np.int64), scores[0][keep]

    def passage(self, passage_id: str) -> Passage:
        return self.passages[self.rows[passage_id]]

    def document(self, doc_id: str) -> Document:
        return self._documents[doc_id]

    @property
    def docs(self) -> dict[str, Document]:
        """Documents by id."""
        return self._documents

    def documents(self) -> list[DocumentInfo]:
        return [document_info(d, len(self._doc_rows.get(d.doc_id, ()))) for d in self._documents.values()]

    def term_idf(self, terms: Sequence[str]) -> dict[str, float]:
        return self.bm25.term_idf(terms)

    def passage_vectors(self) -> np.ndarray:
        """Every passage vector, in row order."""
        n = self.faiss.ntotal
        return self.faiss.reconstruct_n(0, n) if n else np.zeros((0, self.faiss.d), dtype=np.float32)


def _make_faiss(vectors: np.ndarray, dim: int, settings: IndexSettings) -> faiss.Index:
    use_hnsw = settings.dense == "hnsw" or (settings.dense == "auto" and len(vectors) > settings.hnsw_threshold)
    if use_hnsw:
        idx = faiss.IndexHNSWFlat(dim, settings.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        idx.hnsw.efConstruction = 80
        idx.hnsw.efSearch = 96
    else:
        idx = faiss.IndexFlatIP(dim)
    if len(vectors):
        idx.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return idx


class FaissStore:
    """FAISS + BM25 index in a folder (or in memory when ``index_dir`` is None); implements ``IndexBackend``."""

    name = "faiss"

    def __init__(
        self,
        index_dir: str | Path | None,
        settings: IndexSettings | None = None,
        encoder: Encoder | None = None,
    ) -> None:
        self.index_dir = Path(index_dir) if index_dir is not None else None
        self.location = str(self.index_dir) if self.index_dir else "memory"
        self.settings = settings or IndexSettings()
        self._encoder = encoder
        self._view: FaissView | None = None
        self._lock = threading.RLock()
        self._depth = 0  # nesting of _exclusive() in the thread that holds _lock

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = get_encoder(self.settings.encoder)
        return self._encoder

    @contextlib.contextmanager
    def _exclusive(self):
        """This store's lock and the index folder's lock, re-entrant within one thread (an update may load, and a
        load may re-score BM25 and write)."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            with _FolderLock(self.index_dir):
                self._depth = 1
                try:
                    yield
                finally:
                    self._depth = 0

    # ------------------------------------------------------------ reading

    def load(self, verify: bool = True) -> FaissView:
        """Load the live version from disk (checksums, model and settings verified) and serve it."""
        if self.index_dir is None:
            raise IndexNotFoundError("an in-memory index has nothing to load")
        try:
            view = load_version(self.index_dir, self.encoder.fingerprint, self.settings, verify=verify)
        except IndexMismatchError as exc:
            view = self._rescore_bm25(verify, exc)
        self._view = view
        return view

    def _rescore_bm25(self, verify: bool, mismatch: IndexMismatchError) -> FaissView:
        """An index that differs from the settings only in its BM25 parameters (e.g. one built before the idf
        choice) keeps its passages and vectors: BM25 is recomputed from the stored passages and written as a new
        version (served from memory when the folder is read-only or another process switched it meanwhile). Any
        other difference raises ``mismatch``."""
        assert self.index_dir is not None
        bm25_keys = {"bm25_k1", "bm25_b", "bm25_idf"}
        old = load_version(self.index_dir, self.encoder.fingerprint, verify=verify)
        built = IndexSettings.recorded(old.manifest.get("settings"))
        want = self.settings.to_json()
        if {k: v for k, v in built.items() if k not in bm25_keys} != {
            k: v for k, v in want.items() if k not in bm25_keys
        }:
            raise mismatch
        st = self.settings
        log.info("index at %s was built with other BM25 settings; re-scoring BM25 (vectors kept)", self.index_dir)
        bm25 = BM25Index.build([tokenize(p.text) for p in old.passages], st.bm25_k1, st.bm25_b, idf=st.bm25_idf)
        manifest = {**old.manifest, "settings": want, "created": now_iso()}
        view = FaissView(old.docs, old.passages, old.faiss, bm25, manifest, path=old.path)
        try:
            with self._exclusive():
                if current_version(self.index_dir) == old.version:
                    view.path = _write_version(view, self.index_dir)
                    view.version = view.path.name
        except IndexWriteError as exc:
            log.warning("%s; serving the re-scored BM25 from memory", exc)
        return view

    def refresh(self) -> bool:
        """Load the live version if another process switched CURRENT since this one was loaded."""
        if self.index_dir is None or self._view is None:
            return False
        cur = current_version(self.index_dir)
        if cur is None or cur == self._view.version:
            return False
        self.load()
        return True

    def reset(self) -> None:
        """Serve an empty index (the next update builds from scratch)."""
        self._view = self._empty()

    def view(self) -> FaissView:
        if self._view is None:
            try:
                self.load()
            except IndexNotFoundError:
                self.reset()
        assert self._view is not None
        return self._view

    def close(self) -> None:
        self._view = None

    def _empty(self) -> FaissView:
        return FaissView(
            {},
            [],
            _make_faiss(np.zeros((0, 1)), self.encoder.dim, self.settings),
            BM25Index.build([]),
            self._manifest({}, [], {}),
        )

    def _manifest(self, documents: dict[str, Document], passages: list[Passage], skipped: dict) -> dict:
        return {
            "format": FORMAT_VERSION,
            "backend": self.name,
            "model": self.encoder.fingerprint,
            "dim": self.encoder.dim,
            "encoder_precision": self.encoder.precision,  # of the passages embedded by this build (docs/performance.md)
            "settings": self.settings.to_json(),
            "created": now_iso(),
            "documents": {
                d.doc_id: {"path": d.path, "sha256": d.sha256, "text_sha256": d.text_sha256, "chars": len(d.text)}
                for d in documents.values()
            },
            "skipped": {k: list(v) for k, v in skipped.items()},
            "counts": {"documents": len(documents), "passages": len(passages)},
        }

    # ------------------------------------------------------------ writing

    def update(
        self,
        documents: Sequence[Document] = (),
        remove: Collection[str] = (),
        skipped: dict[str, tuple[str, str]] | None = None,
        progress: bool = False,
        report: Report | None = None,
    ) -> BuildStats:
        t0 = time.perf_counter()
        with self._exclusive():
            old = self.view()
            if old.path is not None and current_version(old.path.parent) not in (None, old.version):
                old = self.load()  # another process updated the folder since: build on its version
            stats = BuildStats(encoder=f"{self.encoder.precision} ({self.encoder.precision_reason})")
            docs: dict[str, Document] = {k: v for k, v in old.docs.items() if k not in set(remove)}
            for d in documents:
                prev = old.docs.get(d.doc_id)
                added = prev.added if prev is not None and prev.added else (d.added or now_iso())
                if prev is None or prev.text != d.text or prev.sha256 != d.sha256:
                    stats.added.append(d.doc_id)
                docs[d.doc_id] = _with_added(d, added)
            stats.removed = [r for r in remove if r in old.docs]
            new_skipped = dict(old.manifest.get("skipped", {}))
            for doc_id in list(new_skipped):
                if doc_id in docs or doc_id in remove:
                    new_skipped.pop(doc_id)
            for k, v in (skipped or {}).items():
                new_skipped[k] = list(v)
            stats.changed = bool(stats.added or stats.removed) or new_skipped != old.manifest.get("skipped", {})
            if not stats.changed:
                stats.documents, stats.passages = len(old.docs), len(old)
                stats.reused = len(old)
                stats.seconds = time.perf_counter() - t0
                return stats
            view = self._build(old, docs, new_skipped, stats, progress, report)
            if report is not None:
                report("writing", 0.0)
            if self.index_dir is not None:
                view.path = _write_version(view, self.index_dir)
                view.version = view.path.name
            self._view = view
        stats.documents, stats.passages = len(docs), len(view)
        stats.seconds = time.perf_counter() - t0
        return stats

    def _build(
        self,
        old: FaissView,
        docs: dict[str, Document],
        skipped: dict,
        stats: BuildStats,
        progress: bool,
        report: Report | None,
    ) -> FaissView:
        """A new version: passages and vectors of unchanged documents are kept, new text is embedded."""
        old_vecs = old.passage_vectors() if len(old) else np.zeros((0, self.encoder.dim), dtype=np.float32)
        by_text = {p.text: r for r, p in enumerate(old.passages)}
        passages: list[Passage] = []
        source_rows: list[int] = []  # row of the old vector to reuse, or -1
        for doc in docs.values():
            prev = old.docs.get(doc.doc_id)
            if prev is not None and prev.text == doc.text:
                ps = [old.passages[r] for r in old._doc_rows.get(doc.doc_id, ())]
            else:
                ps = make_passages(doc, self.settings.passages)
            passages.extend(ps)
            source_rows.extend(by_text.get(p.text, -1) for p in ps)
        vecs = np.zeros((len(passages), self.encoder.dim), dtype=np.float32)
        reuse = [i for i, r in enumerate(source_rows) if r >= 0]
        todo = [i for i, r in enumerate(source_rows) if r < 0]
        if reuse:
            vecs[reuse] = old_vecs[[source_rows[i] for i in reuse]]
        if todo:
            if progress:
                log.info("embedding %d passages", len(todo))
            vecs[todo] = self.encoder.encode([passages[i].text for i in todo], progress=progress, report=report)
        stats.reused, stats.embedded = len(reuse), len(todo)
        st = self.settings
        bm25 = BM25Index.build([tokenize(p.text) for p in passages], k1=st.bm25_k1, b=st.bm25_b, idf=st.bm25_idf)
        manifest = self._manifest(docs, passages, skipped)
        return FaissView(docs, passages, _make_faiss(vecs, self.encoder.dim, self.settings), bm25, manifest)


def _with_added(doc: Document, added: str) -> Document:
    from dataclasses import replace

    return doc if doc.added == added else replace(doc, added=added)


class _FolderLock:
    """An exclusive lock on an index folder for the time of one update (other processes wait)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.fh = None

    def __enter__(self) -> _FolderLock:
        if self.folder is not None:
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                self.fh = open(self.folder / ".lock", "w")
            except OSError as exc:
                raise IndexWriteError(f"cannot write the index folder {self.folder}: {exc.strerror or exc}") from None
            fcntl.flock(self.fh, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc) -> None:
        if self.fh is not None:
            fcntl.flock(self.fh, fcntl.LOCK_UN)
            self.fh.close()


def _write_version(view: FaissView, index_dir: Path) -> Path:
    """Write ``view`` as a new version folder and switch CURRENT to it (atomic; nothing changes on failure)."""
    name = f"v-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{time.monotonic_ns() % 10**9}"
    tmp = index_dir / f".tmp-{name}"
    try:
        tmp.mkdir()
        with open(tmp / "documents.jsonl", "w", encoding="utf-8") as fh:
            for d in view.docs.values():
                fh.write(json.dumps(d.to_json(), ensure_ascii=False) + "\n")
        with open(tmp / "passages.jsonl", "w", encoding="utf-8") as fh:
            for p in view.passages:
                fh.write(json.dumps(p.to_json(with_text=False), ensure_ascii=False) + "\n")
        faiss.write_index(view.faiss, str(tmp / "faiss.index"))
        view.bm25.save(tmp)
        view.manifest["files"] = {f: {"sha256": sha256_file(tmp / f), "bytes": (tmp / f).stat().st_size} for f in FILES}
        (tmp / "manifest.json").write_text(json.dumps(view.manifest, indent=1), encoding="utf-8")
        for f in [*FILES, "manifest.json"]:
            with open(tmp / f, "rb") as fh:
                os.fsync(fh.fileno())
        final = index_dir / name
        os.rename(tmp, final)
        cur_tmp = index_dir / f".CURRENT.{os.getpid()}.{threading.get_ident()}"
        with open(cur_tmp, "w") as fh:
            fh.write(name)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(cur_tmp, index_dir / "CURRENT")
        dfd = os.open(index_dir, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except (OSError, RuntimeError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        why = "the disk is full" if getattr(exc, "errno", None) in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT) else ""
        raise IndexWriteError(
            f"could not write the new index version in {index_dir} ({why or type(exc).__name__}: {exc}); "
            "the previous version is unchanged and still served"
        ) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _prune(index_dir, keep=name)
    return final


def _prune(index_dir: Path, keep: str) -> None:
    """Delete leftovers of crashed builds and all but the newest KEEP_VERSIONS versions."""
    versions = sorted((p for p in index_dir.glob("v-*") if p.is_dir()), key=lambda p: p.stat().st_mtime)
    old = [p for p in versions if p.name != keep][: max(0, len(versions) - KEEP_VERSIONS)]
    for p in old + list(index_dir.glob(".tmp-v-*")):
        shutil.rmtree(p, ignore_errors=True)


def current_version(index_dir: Path) -> str | None:
    """Name of the live version folder, or None when there is no index."""
    try:
        return (index_dir / "CURRENT").read_text().strip() or None
    except OSError:
        return None


def load_version(
    index_dir: str | Path,
    model: str | None = None,
    expect_settings: IndexSettings | None = None,
    verify: bool = True,
) -> FaissView:
    """Load the live version of ``index_dir``; verify checksums, model and (optionally) settings."""
    index_dir = Path(index_dir)
    cur = index_dir / "CURRENT"
    if not cur.is_file():
        raise IndexNotFoundError(f"no index at {index_dir} (build one with `docqa index <folder>`)")
    folder = index_dir / cur.read_text().strip()
    hint = f"rebuild it with `docqa index <folder> --index {index_dir} --rebuild`"
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        files = manifest["files"]
    except (OSError, ValueError, KeyError) as exc:
        raise IndexCorruptedError(f"index at {index_dir} has no readable manifest ({exc}); {hint}") from None
    if manifest.get("format") != FORMAT_VERSION:
        raise IndexMismatchError(
            f"index at {index_dir} has format {manifest.get('format')}, expected {FORMAT_VERSION}; {hint}"
        )
    model = model or get_encoder((expect_settings or IndexSettings()).encoder).fingerprint
    if manifest.get("model") != model:
        raise IndexMismatchError(
            f"index at {index_dir} was built with model {manifest.get('model')}, not {model}; {hint}"
        )
    built = IndexSettings.recorded(manifest.get("settings"))
    if expect_settings is not None and built != expect_settings.to_json():
        raise IndexMismatchError(
            f"index at {index_dir} was built with settings {manifest.get('settings')}, "
            f"not {expect_settings.to_json()}; {hint}"
        )
    for name, meta in files.items():
        path = folder / name
        if not path.is_file():
            raise IndexCorruptedError(f"index file {path} is missing; {hint}")
        if path.stat().st_size != meta["bytes"] or (verify and sha256_file(path) != meta["sha256"]):
            raise IndexCorruptedError(f"index file {path} is truncated or altered (checksum mismatch); {hint}")
    try:
        documents = {}
        with open(folder / "documents.jsonl", encoding="utf-8") as fh:
            for line in fh:
                d = Document.from_json(json.loads(line))
                documents[d.doc_id] = d
        passages = []
        with open(folder / "passages.jsonl", encoding="utf-8") as fh:
            for line in fh:
                rec = json.loads(line)
                passages.append(Passage.from_json(rec, documents[rec["doc_id"]].text[rec["start"] : rec["end"]]))
        fidx = faiss.read_index(str(folder / "faiss.index"))
        bm25 = BM25Index.load(folder)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise IndexCorruptedError(
            f"index at {index_dir} cannot be read ({type(exc).__name__}: {exc}); {hint}"
        ) from None
    if fidx.ntotal != len(passages) or bm25.size != len(passages):
        raise IndexCorruptedError(f"index at {index_dir} is inconsistent (passage counts differ); {hint}")
    return FaissView(documents, passages, fidx, bm25, manifest, path=folder)
