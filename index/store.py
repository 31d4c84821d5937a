"""Build, persist, verify and load the hybrid index.

Layout of an index folder::

    CURRENT                 name of the live version folder (replaced atomically)
    v-<time>-<pid>/         one complete build
        manifest.json       model, settings, documents (checksums), files (sha256)
        documents.jsonl     extracted document texts (every offset points into these)
        passages.jsonl      passages with offsets and sentence spans
        faiss.index         dense passage vectors (FAISS inner product on unit vectors)
        sentences.npy       float16 sentence vectors (for the sentence scorer)
        bm25.npz, bm25_vocab.json

A build writes a fresh version folder and only then points CURRENT at it, so a crash mid-build
leaves the previous index loadable. Loading checks every file against the manifest's checksums.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np

from index.bm25 import BM25Index
from qa.checksum import sha256_file
from qa.embed import Encoder, get_encoder, model_fingerprint
from qa.errors import IndexCorruptedError, IndexMismatchError, IndexNotFoundError
from qa.ingest import IngestReport, ingest, source_checksums
from qa.passages import PassageSettings, make_passages
from qa.text import tokenize
from qa.types import Document, Passage

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
KEEP_VERSIONS = 2


@dataclass(frozen=True)
class IndexSettings:
    """Everything that changes what an index contains; recorded and compared at load."""

    passages: PassageSettings = field(default_factory=PassageSettings)
    dense: str = "auto"  # flat | hnsw | auto (hnsw above hnsw_threshold passages)
    hnsw_threshold: int = 200_000
    hnsw_m: int = 32
    bm25_k1: float = 1.5
    bm25_b: float = 0.75
    sentence_vectors: bool = False  # store sentence vectors for the fallback sentence scorer (else embedded per query)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> IndexSettings:
        d = dict(d)
        d["passages"] = PassageSettings(**d["passages"])
        return cls(**d)


@dataclass
class BuildStats:
    """What a build did: documents, passages, and how many vectors were reused vs computed."""

    documents: int = 0
    passages: int = 0
    sentences: int = 0
    embedded: int = 0
    reused: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0


def default_index_dir(corpus: str | Path) -> Path:
    """Where the index of ``corpus`` lives by default: outside the source tree, in the user cache."""
    base = os.environ.get("DOCQA_INDEX_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "docqa", "indexes"
    )
    resolved = Path(corpus).resolve()
    digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:10]
    return Path(base) / f"{resolved.name or 'root'}-{digest}"


class PassageIndex:
    """A loaded index: documents, passages, FAISS, BM25 and sentence vectors, ready for search."""

    def __init__(
        self,
        documents: dict[str, Document],
        passages: list[Passage],
        sentence_rows: list[list[int]],
        sentence_emb: np.ndarray,
        faiss_index: faiss.Index,
        bm25: BM25Index,
        manifest: dict,
        path: Path | None = None,
    ) -> None:
        self.documents = documents
        self.passages = passages
        self.sentence_rows = sentence_rows
        self.sentence_emb = sentence_emb
        self.faiss = faiss_index
        self.bm25 = bm25
        self.manifest = manifest
        self.path = path

    def __len__(self) -> int:
        return len(self.passages)

    @property
    def settings(self) -> IndexSettings:
        return IndexSettings.from_json(self.manifest["settings"])

    def dense_search(self, query_vec: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k passage rows by cosine similarity, best first."""
        k = min(k, len(self.passages))
        if k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        scores, rows = self.faiss.search(query_vec.reshape(1, -1).astype(np.float32), k)
        keep = rows[0] >= 0
        return rows[0][keep].astype(np.int64), scores[0][keep]

    def passage_vectors(self) -> np.ndarray:
        n = self.faiss.ntotal
        return self.faiss.reconstruct_n(0, n) if n else np.zeros((0, self.faiss.d), dtype=np.float32)


# ---------------------------------------------------------------- building


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


def build_index(
    corpus: Iterable[str | Path] | str | Path | list[Document],
    index_dir: str | Path | None = None,
    settings: IndexSettings | None = None,
    encoder: Encoder | None = None,
    progress: bool = True,
    reuse: bool = True,
) -> tuple[PassageIndex, BuildStats]:
    """Index files/folders (or ready Documents), reusing vectors of unchanged text from the previous build.

    With ``index_dir`` the result is persisted atomically; without it the index lives in memory only.
    """
    t0 = time.perf_counter()
    settings = settings or IndexSettings()
    encoder = encoder or get_encoder()
    stats = BuildStats()
    sources: dict[str, str] = {}
    if isinstance(corpus, list) and corpus and isinstance(corpus[0], Document):
        docs: list[Document] = corpus  # type: ignore[assignment]
    else:
        report: IngestReport = ingest(corpus)  # type: ignore[arg-type]
        docs = report.documents
        stats.skipped = report.skipped
        sources = source_checksums(corpus)  # type: ignore[arg-type]

    lock_fh = None
    if index_dir is not None:
        index_dir = Path(index_dir)
        index_dir.mkdir(parents=True, exist_ok=True)
        lock_fh = open(index_dir / ".lock", "w")
        fcntl.flock(lock_fh, fcntl.LOCK_EX)
    try:
        old_p: dict[str, np.ndarray] = {}
        old_s: dict[str, np.ndarray] = {}
        if reuse and index_dir is not None:
            old_p, old_s = _reusable_vectors(index_dir, settings)

        passages: list[Passage] = []
        sentence_rows: list[list[int]] = []
        sent_key_row: dict[tuple[str, int, int], int] = {}
        sent_texts: list[str] = []
        for doc in docs:
            for p in make_passages(doc, settings.passages):
                rows = []
                for s in p.sentences:
                    key = (doc.doc_id, s.start, s.end)
                    if key not in sent_key_row:
                        sent_key_row[key] = len(sent_texts)
                        sent_texts.append(doc.text[s.start : s.end])
                    rows.append(sent_key_row[key])
                passages.append(p)
                sentence_rows.append(rows)

        p_texts = [p.text for p in passages]
        p_emb = _embed_with_reuse(p_texts, old_p, encoder, progress, stats, "passages")
        if settings.sentence_vectors:
            s_emb = _embed_with_reuse(sent_texts, old_s, encoder, progress, stats, "sentences")
        else:
            s_emb = np.zeros((0, encoder.dim), dtype=np.float32)
        faiss_index = _make_faiss(p_emb, encoder.dim, settings)
        bm25 = BM25Index.build([tokenize(t) for t in p_texts], k1=settings.bm25_k1, b=settings.bm25_b)
        manifest = {
            "format": FORMAT_VERSION,
            "model": model_fingerprint(),
            "dim": encoder.dim,
            "settings": settings.to_json(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "documents": {d.doc_id: {"path": d.path, "sha256": d.sha256, "chars": len(d.text)} for d in docs},
            "sources": sources,
            "skipped": [list(x) for x in stats.skipped],
            "counts": {"documents": len(docs), "passages": len(passages), "sentences": len(sent_texts)},
        }
        idx = PassageIndex(
            {d.doc_id: d for d in docs},
            passages,
            sentence_rows,
            s_emb.astype(np.float16),
            faiss_index,
            bm25,
            manifest,
        )
        if index_dir is not None:
            idx.path = _write_version(idx, index_dir)
    finally:
        if lock_fh is not None:
            fcntl.flock(lock_fh, fcntl.LOCK_UN)
            lock_fh.close()
    stats.documents, stats.passages, stats.sentences = len(docs), len(passages), len(sent_texts)
    stats.seconds = time.perf_counter() - t0
    return idx, stats


def _embed_with_reuse(
    texts: list[str], old: dict[str, np.ndarray], encoder: Encoder, progress: bool, stats: BuildStats, what: str
) -> np.ndarray:
    out = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    todo = [i for i, t in enumerate(texts) if t not in old]
    for i, t in enumerate(texts):
        if t in old:
            out[i] = old[t]
    stats.reused += len(texts) - len(todo)
    stats.embedded += len(todo)
    if todo:
        if progress:
            log.info("embedding %d %s", len(todo), what)
        out[todo] = encoder.encode([texts[i] for i in todo], progress=progress)
    return out


def _reusable_vectors(index_dir: Path, settings: IndexSettings) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Vectors of the previous build keyed by text, when it is intact and made by the same model."""
    try:
        old = load_index(index_dir)
    except IndexNotFoundError:
        return {}, {}
    except (IndexCorruptedError, IndexMismatchError) as exc:
        log.warning("previous index not reused: %s", exc)
        return {}, {}
    if old.manifest.get("model") != model_fingerprint():
        return {}, {}
    pv = old.passage_vectors()
    p = {ps.text: pv[i] for i, ps in enumerate(old.passages)}
    s: dict[str, np.ndarray] = {}
    for ps, rows in zip(old.passages, old.sentence_rows, strict=True) if len(old.sentence_emb) else ():
        doc = old.documents[ps.doc_id]
        for span, r in zip(ps.sentences, rows, strict=True):
            s.setdefault(doc.text[span.start : span.end], old.sentence_emb[r].astype(np.float32))
    return p, s


def _write_version(idx: PassageIndex, index_dir: Path) -> Path:
    name = f"v-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{time.monotonic_ns() % 10**9}"
    tmp = index_dir / f".tmp-{name}"
    tmp.mkdir()
    try:
        with open(tmp / "documents.jsonl", "w", encoding="utf-8") as fh:
            for d in idx.documents.values():
                fh.write(json.dumps(dataclasses.asdict(d), ensure_ascii=False) + "\n")
        with open(tmp / "passages.jsonl", "w", encoding="utf-8") as fh:
            for p, rows in zip(idx.passages, idx.sentence_rows, strict=True):
                rec = p.to_json()
                rec["sentence_rows"] = rows
                del rec["text"]  # derived from the document text at load
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        faiss.write_index(idx.faiss, str(tmp / "faiss.index"))
        np.save(tmp / "sentences.npy", idx.sentence_emb)
        files = ["documents.jsonl", "passages.jsonl", "faiss.index", "sentences.npy", *idx.bm25.save(tmp)]
        idx.manifest["files"] = {f: {"sha256": sha256_file(tmp / f), "bytes": (tmp / f).stat().st_size} for f in files}
        (tmp / "manifest.json").write_text(json.dumps(idx.manifest, indent=1), encoding="utf-8")
        for f in [*files, "manifest.json"]:
            with open(tmp / f, "rb") as fh:
                os.fsync(fh.fileno())
        final = index_dir / name
        os.rename(tmp, final)
        cur_tmp = index_dir / f".CURRENT.{os.getpid()}"
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
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _prune(index_dir, keep=name)
    return final


def _prune(index_dir: Path, keep: str) -> None:
    """Delete leftovers of crashed builds and all but the newest KEEP_VERSIONS versions."""
    versions = sorted((p for p in index_dir.glob("v-*") if p.is_dir()), key=lambda p: p.stat().st_mtime)
    old = [p for p in versions if p.name != keep][: max(0, len(versions) - KEEP_VERSIONS)]
    for p in old + [p for p in index_dir.glob(".tmp-v-*")]:
        shutil.rmtree(p, ignore_errors=True)


# ---------------------------------------------------------------- loading


def open_index(
    corpus: str | Path,
    index_dir: str | Path | None = None,
    settings: IndexSettings | None = None,
    rebuild: bool = False,
    progress: bool = False,
) -> PassageIndex:
    """Load the index of ``corpus`` if it is intact and up to date; otherwise (re)build it incrementally."""
    settings = settings or IndexSettings()
    index_dir = Path(index_dir) if index_dir else default_index_dir(corpus)
    if not rebuild:
        try:
            idx = load_index(index_dir, expect_settings=settings)
            if idx.manifest.get("sources") == source_checksums(corpus):
                return idx
            log.info("documents changed since the index was built; updating %s", index_dir)
        except IndexNotFoundError:
            log.info("no index yet at %s; building it", index_dir)
        except (IndexCorruptedError, IndexMismatchError) as exc:
            log.warning("%s -- rebuilding", exc)
    idx, stats = build_index(corpus, index_dir, settings, progress=progress, reuse=not rebuild)
    for path, why in stats.skipped:
        log.warning("skipped %s: %s", path, why)
    return idx


def load_index(
    index_dir: str | Path,
    expect_settings: IndexSettings | None = None,
    verify: bool = True,
) -> PassageIndex:
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
    if manifest.get("model") != model_fingerprint():
        raise IndexMismatchError(
            f"index at {index_dir} was built with model {manifest.get('model')}, not {model_fingerprint()}; {hint}"
        )
    if expect_settings is not None and manifest.get("settings") != expect_settings.to_json():
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
                d = Document(**json.loads(line))
                documents[d.doc_id] = d
        passages, rows = [], []
        with open(folder / "passages.jsonl", encoding="utf-8") as fh:
            for line in fh:
                rec = json.loads(line)
                rows.append(rec.pop("sentence_rows"))
                rec["text"] = documents[rec["doc_id"]].text[rec["start"] : rec["end"]]
                passages.append(Passage.from_json(rec))
        fidx = faiss.read_index(str(folder / "faiss.index"))
        sent = np.load(folder / "sentences.npy", allow_pickle=False)
        bm25 = BM25Index.load(folder)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise IndexCorruptedError(
            f"index at {index_dir} cannot be read ({type(exc).__name__}: {exc}); {hint}"
        ) from None
    if fidx.ntotal != len(passages) or bm25.size != len(passages):
        raise IndexCorruptedError(f"index at {index_dir} is inconsistent (passage counts differ); {hint}")
    return PassageIndex(documents, passages, rows, sent, fidx, bm25, manifest, path=folder)
