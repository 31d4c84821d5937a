"""The default backend: FAISS dense vectors + sparse BM25 in versioned, checksummed files, read on demand.

Layout of an index folder::

    CURRENT                 name of the live version folder (replaced atomically)
    v-<time>-<pid>/         one complete version
        manifest.json       model, settings, counts, skipped files, files (sha256 and size)
        store.sqlite        documents (metadata and extracted text: every offset points into it) and passages
        faiss.index         dense passage vectors (FAISS inner product on unit vectors)
        bm25_*.npy, bm25_vocab.json, bm25_shape.json   the BM25 term x passage matrix and its vocabulary, with the
                                                        term counts and passage lengths it was weighed from

An update writes a fresh version folder and only then points CURRENT at it, so a crash or a full disk
mid-update leaves the previous version loadable; any number of processes can read the same folder.

Opening a version reads no document or passage: the vectors and the BM25 arrays are memory-mapped and the SQLite
file is queried for the hits of each question (``index.table``), so a fresh process opens a million passages in
seconds and holds little more than the vectors it touches. Checksums are verified on open for small files and in
the background for large ones (a mismatch then refuses every later question with ``IndexCorruptedError``).

An update streams: documents -> passages -> vectors (a spool file) and BM25 counts, chunk by chunk, so its memory
does not grow with the corpus beyond the final FAISS index.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import shutil
import sqlite3
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence, Sized
from pathlib import Path

import faiss
import numpy as np

from docqa.index.backend import IndexSettings, Report, Scored
from docqa.index.bm25 import BM25Builder, BM25Index
from docqa.index.checksum import sha256_file
from docqa.index.encoder import Encoder, get_encoder
from docqa.index.errors import IndexCorruptedError, IndexMismatchError, IndexNotFoundError, IndexWriteError
from docqa.index.passages import indexed_text, make_passages
from docqa.index.table import DocRow, DocTable, TableWriter, iter_passage_texts, text_hash
from docqa.index.text import tokenize
from docqa.index.types import BuildStats, Document, DocumentInfo, Passage

log = logging.getLogger(__name__)

FORMAT_VERSION = 3
KEEP_VERSIONS = 2
# FAISS threads for one question's search. One query gains nothing from a second OpenMP thread, and waking one
# right after the question encoder's PyTorch threads costs milliseconds: at 10k passages dense search took p50/p95
# 1.38/4.62 ms with 2 threads vs 1.10/1.21 ms with 1 (after answer() each time, 100 questions, 2 cores). The
# setting is per calling thread (an OpenMP ICV), so index builds in other threads keep every core.
QUERY_THREADS = 1
EMBED_CHUNK = 2048  # passages embedded per encoder call while streaming (bounded memory, length bucketing inside)
COPY_CHUNK = 65_536  # vectors moved at a time between spool, old index and new index
INLINE_VERIFY_BYTES = 64 << 20  # files up to this size are checksummed on open; larger ones in the background
# FAISS maps the vectors (flat codes, also inside HNSW) from the file instead of reading them into the heap: a fresh
# open of 1M passages took 7.4 s and 1.7 GB of heap with IO_FLAG_MMAP, 0.15 s and 31 MB with IO_FLAG_MMAP_IFC
_MMAP_FLAGS = faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY


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


BM25_FILES = (*BM25Index.FILES, "bm25_shape.json", *BM25Index.COUNT_FILES)
EXACT = "vectors.f32"  # with vectors="int8": the fp32 vectors, row after row, for exact re-scoring
RESCORE = 4  # with vectors="int8": candidates re-scored exactly per result wanted (at least RESCORE_MIN)
RESCORE_MIN = 40


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class _NoTable:
    """The table of an index with no version yet."""

    path = None
    n_documents = n_passages = 0

    def doc_row(self, doc_id: str) -> None:
        return None

    def doc_rows(self) -> Iterator[DocRow]:
        return iter(())

    def doc_page(self, offset: int = 0, limit: int | None = None) -> list[DocRow]:
        return []

    def document(self, doc_id: str) -> Document:
        raise KeyError(doc_id)

    def passage(self, pid: str) -> Passage:
        raise KeyError(pid)

    def passage_at(self, row: int) -> Passage:
        raise IndexError(row)

    def ids(self, rows) -> list[str]:
        if len(rows):
            raise IndexError(rows[0])
        return []

    def rows_with_hash(self, h: int) -> None:
        return None

    def close(self) -> None:
        pass


class _Passages(Sequence[Passage]):
    """A version's passages by row, read from disk on access (benchmarks and tests walk them)."""

    def __init__(self, table) -> None:
        self._table = table

    def __len__(self) -> int:
        return self._table.n_passages

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self._table.passage_at(i)

    def __iter__(self) -> Iterator[Passage]:
        for d in self._table.doc_rows():
            yield from self._table.passages_of(d)


class _Documents(Mapping[str, Document]):
    """A version's documents by id, with their text, read from disk on access."""

    def __init__(self, table) -> None:
        self._table = table

    def __getitem__(self, doc_id: str) -> Document:
        return self._table.document(doc_id)

    def __contains__(self, doc_id: object) -> bool:
        return isinstance(doc_id, str) and self._table.doc_row(doc_id) is not None

    def __iter__(self) -> Iterator[str]:
        return (d.doc.doc_id for d in self._table.doc_rows())

    def __len__(self) -> int:
        return self._table.n_documents


class FaissView:
    """One loaded version: documents and passages on disk, FAISS and BM25 mapped, ready for search (never
    modified)."""

    def __init__(
        self,
        table: DocTable | _NoTable,
        faiss_index: faiss.Index,
        bm25: BM25Index,
        manifest: dict,
        path: Path | None = None,
        exact: np.ndarray | None = None,
    ) -> None:
        self.table = table
        self.faiss = faiss_index
        self.exact = exact  # fp32 vectors (memory-mapped) when FAISS holds quantized codes
        self.bm25 = bm25
        self.manifest = manifest
        self.path = path
        self.version = path.name if path is not None else f"memory-{id(self)}"
        self.damaged: str | None = None  # set by the background checksum pass when a file does not match
        self._verified = threading.Event()
        self._verified.set()

    def __len__(self) -> int:
        return self.table.n_passages

    @property
    def passages(self) -> Sequence[Passage]:
        """Every passage by row (read on access)."""
        return _Passages(self.table)

    @property
    def docs(self) -> Mapping[str, Document]:
        """Documents by id (read on access)."""
        return _Documents(self.table)

    def wait_verified(self, timeout: float | None = None) -> bool:
        """Wait for the background checksum pass (True when it is done)."""
        return self._verified.wait(timeout)

    def _rows_of(self, doc_ids: Collection[str] | None) -> np.ndarray | None:
        if doc_ids is None:
            return None
        parts = []
        for d in doc_ids:
            r = self.table.doc_row(d)
            if r is not None and r.count:
                parts.append(np.arange(r.first, r.first + r.count, dtype=np.int64))
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def bm25_search(self, query: str, k: int, doc_ids: Collection[str] | None = None) -> list[Scored]:
        return self._scored(*self.bm25_rows(query, k, self._rows_of(doc_ids)))

    def dense_search(self, vector: np.ndarray, k: int, doc_ids: Collection[str] | None = None) -> list[Scored]:
        return self._scored(*self.dense_rows(vector, k, self._rows_of(doc_ids)))

    def _scored(self, rows: np.ndarray, scores: np.ndarray) -> list[Scored]:
        ids = self.table.ids(rows.tolist())
        return [Scored(i, s) for i, s in zip(ids, scores.tolist(), strict=True)]

    def bm25_rows(self, query: str, k: int, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Row-level BM25 search (benchmarks use rows directly)."""
        if rows is not None and len(rows) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        return self.bm25.search(query, k, rows)

    def dense_rows(self, vector: np.ndarray, k: int, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Row-level dense search, optionally restricted to ``rows`` (a FAISS ID selector)."""
        n = len(self) if rows is None else len(rows)
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
        want = k if self.exact is None else min(n, max(RESCORE * k, RESCORE_MIN))
        if params is not None and isinstance(params, faiss.SearchParametersHNSW):
            params.efSearch = max(params.efSearch, want)
        with _omp_threads(QUERY_THREADS):
            scores, found = self.faiss.search(q, want, params=params)
        keep = found[0] >= 0
        rows, scores = found[0][keep].astype(np.int64), scores[0][keep]
        if self.exact is not None and len(rows):  # exact inner products of the candidates, best k kept
            order = np.sort(rows)
            exact = np.asarray(self.exact[order], dtype=np.float32) @ q[0]
            best = np.argsort(-exact, kind="stable")[:k]
            rows, scores = order[best], exact[best]
        return rows, scores

    def vectors(self, first: int, count: int) -> np.ndarray:
        """The fp32 vectors of rows ``first .. first + count - 1``."""
        if self.exact is not None:
            return np.array(self.exact[first : first + count], dtype=np.float32)
        return self.faiss.reconstruct_n(first, count) if count else np.zeros((0, self.faiss.d), dtype=np.float32)

    def passage(self, passage_id: str) -> Passage:
        return self.table.passage(passage_id)

    def document(self, doc_id: str) -> Document:
        return self.table.document(doc_id)

    def document_count(self) -> int:
        return self.table.n_documents

    def has_document(self, doc_id: str) -> bool:
        return self.table.doc_row(doc_id) is not None

    def documents(self, offset: int = 0, limit: int | None = None) -> list[DocumentInfo]:
        return [
            DocumentInfo(
                doc_id=r.doc.doc_id,
                path=r.doc.path,
                title=r.doc.title,
                kind=r.doc.kind,
                pages=len(r.doc.pages),
                passages=r.count,
                chars=r.chars,
                size=r.doc.size,
                added=r.doc.added,
                sha256=r.doc.sha256,
                text_sha256=r.doc.text_sha256,
            )
            for r in self.table.doc_page(offset, limit)
        ]

    def term_idf(self, terms: Sequence[str]) -> dict[str, float]:
        return self.bm25.term_idf(terms)

    def passage_vectors(self) -> np.ndarray:
        """Every passage vector, in row order."""
        return self.vectors(0, self.faiss.ntotal)


def _new_faiss(dim: int, n: int, settings: IndexSettings) -> faiss.Index:
    use_hnsw = settings.dense == "hnsw" or (settings.dense == "auto" and n > settings.hnsw_threshold)
    sq = faiss.ScalarQuantizer.QT_8bit
    ip = faiss.METRIC_INNER_PRODUCT
    if use_hnsw:
        if settings.vectors == "int8":
            idx = faiss.IndexHNSWSQ(dim, sq, settings.hnsw_m, ip)
        else:
            idx = faiss.IndexHNSWFlat(dim, settings.hnsw_m, ip)
        idx.hnsw.efConstruction = 80
        idx.hnsw.efSearch = 96
        return idx
    return faiss.IndexScalarQuantizer(dim, sq, ip) if settings.vectors == "int8" else faiss.IndexFlatIP(dim)


class _Spool:
    """Passage vectors in row order, in a file beside the version being written: reused vectors are written at
    once, new texts are embedded ``EMBED_CHUNK`` at a time."""

    def __init__(self, path: Path, dim: int, encoder: Encoder) -> None:
        self.path, self.dim, self.encoder = path, dim, encoder
        self._fh = open(path, "wb")
        self._texts: list[str] = []
        self._vecs: list[np.ndarray | None] = []
        self.n = 0
        self.embedded = 0
        self.embed_seconds = 0.0

    def add(self, texts: Sequence[str], vectors: Sequence[np.ndarray | None]) -> None:
        self._texts.extend(texts)
        self._vecs.extend(vectors)
        if sum(v is None for v in self._vecs) >= EMBED_CHUNK or len(self._vecs) >= 4 * EMBED_CHUNK:
            self.flush()

    def add_block(self, vectors: np.ndarray) -> None:
        self.flush()
        self._fh.write(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
        self.n += len(vectors)

    def flush(self) -> None:
        if not self._vecs:
            return
        todo = [i for i, v in enumerate(self._vecs) if v is None]
        if todo:
            t = time.perf_counter()
            new = self.encoder.encode([self._texts[i] for i in todo])
            self.embed_seconds += time.perf_counter() - t
            for i, v in zip(todo, new, strict=True):
                self._vecs[i] = v
            self.embedded += len(todo)
        self._fh.write(np.stack(self._vecs).astype(np.float32, copy=False).tobytes())  # type: ignore[arg-type]
        self.n += len(self._vecs)
        self._texts, self._vecs = [], []

    def sample(self, n: int) -> np.ndarray:
        """Up to ``n`` vectors spread evenly over the spool (to train a quantizer)."""
        self.flush()
        self._fh.flush()
        if not self.n:
            return np.zeros((0, self.dim), dtype=np.float32)
        mm = np.memmap(self.path, dtype=np.float32, mode="r", shape=(self.n, self.dim))
        out = np.array(mm[:: max(1, self.n // n)], dtype=np.float32)
        del mm
        return out

    def chunks(self) -> Iterator[np.ndarray]:
        """The vectors back, ``COPY_CHUNK`` rows at a time (read, not mapped: they count once, in the index)."""
        self.flush()
        self._fh.close()
        row_bytes = 4 * self.dim
        with open(self.path, "rb") as fh:
            while True:
                buf = fh.read(COPY_CHUNK * row_bytes)
                if not buf:
                    return
                yield np.frombuffer(buf, dtype=np.float32).reshape(-1, self.dim)

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        self.path.unlink(missing_ok=True)


def _old_vectors(view: FaissView, ranges: Iterable[tuple[int, int]]) -> Iterator[np.ndarray]:
    """Vectors of an old version's row ranges, merged where contiguous, ``COPY_CHUNK`` rows at a time."""
    merged: list[list[int]] = []
    for first, count in ranges:
        if count and merged and merged[-1][0] + merged[-1][1] == first:
            merged[-1][1] += count
        elif count:
            merged.append([first, count])
    for first, count in merged:
        for s in range(first, first + count, COPY_CHUNK):
            yield view.vectors(s, min(COPY_CHUNK, first + count - s))


class FaissStore:
    """FAISS + BM25 index in a folder (or in a private temporary folder when ``index_dir`` is None); implements
    ``IndexBackend``."""

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
        self._scratch: Path | None = None  # where an in-memory store writes its versions

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = get_encoder(self.settings.encoder)
        return self._encoder

    def _folder(self) -> Path:
        if self.index_dir is not None:
            return self.index_dir
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="docqa-index-"))
            weakref.finalize(self, shutil.rmtree, self._scratch, True)
        return self._scratch

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
        builder = BM25Builder()
        if old.bm25.has_counts:
            builder.add_kept(old.bm25, [(0, len(old))])
        else:
            builder.add(tokenize(t) for t in iter_passage_texts(old.table, [(0, len(old))], st.context))
        bm25 = builder.build(st.bm25_k1, st.bm25_b, idf=st.bm25_idf)
        manifest = {**old.manifest, "settings": want, "created": now_iso()}
        view = FaissView(old.table, old.faiss, bm25, manifest, path=old.path, exact=old.exact)
        assert old.path is not None

        def fill(tmp: Path) -> dict:
            for f in old.manifest["files"]:
                if f not in BM25_FILES:
                    _link_or_copy(old.path / f, tmp / f)
            bm25.save(tmp)
            return dict(manifest)

        try:
            with self._exclusive():
                if current_version(self.index_dir) == old.version:
                    written = _write_version(self.index_dir, fill)
                    if written is not None:
                        return load_version(self.index_dir, self.encoder.fingerprint, self.settings, verify=False)
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
        if self._view.damaged:
            raise IndexCorruptedError(self._view.damaged)
        return self._view

    def close(self) -> None:
        self._view = None

    def _empty(self) -> FaissView:
        return FaissView(
            _NoTable(), _new_faiss(self.encoder.dim, 0, self.settings), BM25Index.build([]), self._manifest({}, 0, 0)
        )

    def _manifest(self, skipped: dict, documents: int, passages: int) -> dict:
        return {
            "format": FORMAT_VERSION,
            "backend": self.name,
            "model": self.encoder.fingerprint,
            "dim": self.encoder.dim,
            "encoder_precision": self.encoder.precision,  # of the passages embedded by this build (docs/performance.md)
            "settings": self.settings.to_json(),
            "created": now_iso(),
            "skipped": {k: list(v) for k, v in skipped.items()},
            "counts": {"documents": documents, "passages": passages},
        }

    # ------------------------------------------------------------ writing

    def update(
        self,
        documents: Iterable[Document] = (),
        remove: Collection[str] = (),
        skipped: Mapping[str, tuple[str, str]] | None = None,
        progress: bool = False,
        report: Report | None = None,
    ) -> BuildStats:
        """``documents`` may be a stream (a generator): each is read once, as the build goes; ``skipped`` is read
        after the stream ends, so the stream may fill it. A document id given twice keeps the last one (in a
        list) or raises ValueError (in a stream)."""
        t0 = time.perf_counter()
        if isinstance(documents, Sequence):
            documents = list({d.doc_id: d for d in documents}.values())
        with self._exclusive():
            old = self.view()
            if old.path is not None and current_version(old.path.parent) not in (None, old.version):
                old = self.load()  # another process updated the folder since: build on its version
            stats = BuildStats(encoder=f"{self.encoder.precision} ({self.encoder.precision_reason})")
            written = _write_version(
                self._folder(),
                lambda tmp: self._build(
                    tmp, old, documents, set(remove), {} if skipped is None else skipped, stats, progress, report
                ),
            )
            if written is None:
                stats.documents, stats.passages = old.table.n_documents, len(old)
                stats.seconds = time.perf_counter() - t0
                return stats
            view = load_version(self._folder(), self.encoder.fingerprint, self.settings, verify=False)
            if self.index_dir is None:
                view.path, view.version = None, f"memory-{written.name}"
            self._view = view
        stats.documents, stats.passages = view.table.n_documents, len(view)
        stats.seconds = time.perf_counter() - t0
        return stats

    def _build(
        self,
        tmp: Path,
        old: FaissView,
        documents: Iterable[Document],
        remove: set[str],
        skipped: Mapping[str, tuple[str, str]],
        stats: BuildStats,
        progress: bool,
        report: Report | None,
    ) -> dict | None:
        """Write a new version into ``tmp``: the streamed documents first, then the old version's documents that
        were neither replaced nor removed. Passages and vectors of unchanged text are kept, new text is embedded.
        Returns the manifest, or None when nothing changed."""
        st = self.settings
        writer = TableWriter(tmp / "store.sqlite")
        spool = _Spool(tmp / "vectors.spool", self.encoder.dim, self.encoder)
        bm25 = BM25Builder()
        total = len(documents) if isinstance(documents, Sized) else None
        last, done, reused = 0.0, 0, 0
        try:
            for d in documents:
                prev = old.table.doc_row(d.doc_id)
                added = prev.doc.added if prev is not None and prev.doc.added else (d.added or now_iso())
                if prev is None or prev.doc.text_sha256 != d.text_sha256 or prev.doc.sha256 != d.sha256:
                    stats.added.append(d.doc_id)
                same = prev is not None and prev.doc.text_sha256 == d.text_sha256 and _same_context(prev.doc, d)
                ps = old.table.passages_of(prev, d.text) if same else make_passages(d, st.passages)
                texts = [indexed_text(d, p, st.context) for p in ps]
                vecs: list = list(old.vectors(prev.first, prev.count)) if same else [_reusable(old, t) for t in texts]
                reused += sum(v is not None for v in vecs)
                try:
                    writer.add(_with_added(d, added), ps, [text_hash(t) for t in texts])
                except sqlite3.IntegrityError:
                    raise ValueError(f"document id {d.doc_id!r} given twice in one update") from None
                spool.add(texts, vecs)
                bm25.add(tokenize(t) for t in texts)
                done += 1
                now = time.perf_counter()
                if report is not None and now - last > 0.5:
                    last = now
                    rate = spool.embedded / max(1e-9, spool.embed_seconds) if spool.embedded else 0.0
                    of = f"/{total:,}" if total is not None else ""
                    report(
                        "embedding",
                        done / total if total else 0.0,
                        f"{done:,}{of} files, {writer.n_passages:,} passages, {rate:,.0f} passages/s",
                    )
                elif progress and now - last > 10:
                    last = now
                    log.info("%d documents, %d passages, %d embedded", done, writer.n_passages, spool.embedded)
            spool.flush()
            stats.removed = [r for r in remove if old.table.doc_row(r) is not None]
            ranges = writer.copy_kept(old.table.path, remove) if old.table.path is not None else []
            reused += sum(c for _, c in ranges)
            new_skipped = {
                k: list(v) for k, v in old.manifest.get("skipped", {}).items() if k not in remove and not writer.has(k)
            }
            for k, v in skipped.items():
                new_skipped[k] = list(v)
            stats.changed = bool(stats.added or stats.removed) or new_skipped != old.manifest.get("skipped", {})
            stats.reused, stats.embedded = reused, spool.embedded
            if not stats.changed:
                writer.abort()
                return None
            if report is not None:
                report("writing", 0.0, f"{writer.n_passages:,} passages")
            for block in _old_vectors(old, ranges):
                spool.add_block(block)
            # kept passages are re-weighed (N, df and the mean length change): from the old version's term counts,
            # or, for an index saved before those were kept, from their text tokenized again
            if old.bm25.has_counts:
                bm25.add_kept(old.bm25, ranges)
            else:
                for i in range(0, len(ranges), 256):
                    bm25.add(tokenize(t) for t in iter_passage_texts(old.table, ranges[i : i + 256], st.context))
            writer.close()
            bm25.build(st.bm25_k1, st.bm25_b, idf=st.bm25_idf).save(tmp)
            del bm25
            index = _new_faiss(self.encoder.dim, spool.n, st)
            added_vectors = 0
            if not index.is_trained:  # the quantizer's per-dimension ranges, from a sample of every vector
                sample = spool.sample(100_000)
                index.train(sample if len(sample) else np.zeros((1, self.encoder.dim), dtype=np.float32))
            for chunk in spool.chunks():
                index.add(chunk)
                added_vectors += len(chunk)
                if report is not None:
                    report("writing", added_vectors / max(1, spool.n), f"{added_vectors:,}/{spool.n:,} vectors indexed")
            faiss.write_index(index, str(tmp / "faiss.index"))
            del index
            if st.vectors == "int8":
                os.replace(spool.path, tmp / EXACT)
            return self._manifest(new_skipped, writer.n_documents, writer.n_passages)
        finally:
            spool.close()


def _reusable(old: FaissView, text: str) -> np.ndarray | None:
    """The old version's vector of a passage with exactly this text, if any (by its 64-bit text hash)."""
    row = old.table.rows_with_hash(text_hash(text))
    return None if row is None else old.vectors(int(row), 1)[0]


def _same_context(a: Document, b: Document) -> bool:
    """Whether two versions of a document give its passages the same context (title and headings)."""
    return a.title == b.title and tuple(a.headings) == tuple(b.headings)


def _with_added(doc: Document, added: str) -> Document:
    from dataclasses import replace

    return doc if doc.added == added else replace(doc, added=added)


def _link_or_copy(src: Path, dst: Path) -> None:
    """Version files are never modified, so a new version may share them (a hard link) with the old one."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


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


def _write_version(index_dir: Path, fill: Callable[[Path], dict | None]) -> Path | None:
    """Write a new version folder (``fill`` writes its files into the temporary folder it gets and returns the
    manifest, or None to write nothing) and switch CURRENT to it. Atomic: nothing changes on failure."""
    name = f"v-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{time.monotonic_ns() % 10**9}"
    tmp = index_dir / f".tmp-{name}"
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
        manifest = fill(tmp)
        if manifest is None:
            shutil.rmtree(tmp, ignore_errors=True)
            return None
        files = sorted(p.name for p in tmp.iterdir() if p.is_file())
        manifest["files"] = {f: {"sha256": sha256_file(tmp / f), "bytes": (tmp / f).stat().st_size} for f in files}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        for f in [*files, "manifest.json"]:
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
    except (OSError, RuntimeError, sqlite3.Error) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        why = "the disk is full" if getattr(exc, "errno", None) in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT) else ""
        if not why and "disk is full" in str(exc).lower():  # SQLite says it in words
            why = "the disk is full"
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


def _verify_later(view: FaissView, files: dict[str, dict], hint: str) -> None:
    """Checksum the large files in a background thread; a mismatch marks the view damaged."""
    assert view.path is not None
    folder = view.path
    view._verified.clear()

    def run() -> None:
        try:
            for name, meta in files.items():
                if sha256_file(folder / name) != meta["sha256"]:
                    view.damaged = f"index file {folder / name} is altered (checksum mismatch); {hint}"
                    log.error("%s", view.damaged)
                    return
        except OSError as exc:
            view.damaged = f"index file in {folder} cannot be read ({exc}); {hint}"
            log.error("%s", view.damaged)
        finally:
            view._verified.set()

    threading.Thread(target=run, name="docqa-verify", daemon=True).start()


def load_version(
    index_dir: str | Path,
    model: str | None = None,
    expect_settings: IndexSettings | None = None,
    verify: bool = True,
) -> FaissView:
    """Open the live version of ``index_dir``; verify sizes, model and (optionally) settings, and checksums (on
    open for small files, in the background for large ones)."""
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
    later = {}
    for name, meta in files.items():
        path = folder / name
        if not path.is_file():
            raise IndexCorruptedError(f"index file {path} is missing; {hint}")
        if path.stat().st_size != meta["bytes"]:
            raise IndexCorruptedError(f"index file {path} is truncated or altered (size differs); {hint}")
        if verify and meta["bytes"] > INLINE_VERIFY_BYTES:
            later[name] = meta
        elif verify and sha256_file(path) != meta["sha256"]:
            raise IndexCorruptedError(f"index file {path} is truncated or altered (checksum mismatch); {hint}")
    try:
        table = DocTable(folder / "store.sqlite", manifest.get("counts"))
        fidx = faiss.read_index(str(folder / "faiss.index"), _MMAP_FLAGS)
        bm25 = BM25Index.load(folder)
        exact = None
        if EXACT in files:
            shape = (table.n_passages, fidx.d)
            exact = np.memmap(folder / EXACT, dtype=np.float32, mode="r", shape=shape) if shape[0] else np.zeros(shape)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, sqlite3.Error) as exc:
        raise IndexCorruptedError(
            f"index at {index_dir} cannot be read ({type(exc).__name__}: {exc}); {hint}"
        ) from None
    if fidx.ntotal != table.n_passages or bm25.size != table.n_passages:
        raise IndexCorruptedError(f"index at {index_dir} is inconsistent (passage counts differ); {hint}")
    view = FaissView(table, fidx, bm25, manifest, path=folder, exact=exact)
    if later:
        _verify_later(view, later, hint)
    return view
