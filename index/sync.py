"""Keep an index in step with a folder of files: read what is new or changed, drop what is gone.

Change detection uses the sha256 of each source file, recorded with its document (and with each file that
could not be read, so a broken file is not retried until it changes).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from docqa.index.backend import IndexBackend, IndexSettings, Report, default_index_dir
from docqa.index.encoder import Encoder
from docqa.index.errors import IndexCorruptedError, IndexMismatchError, IndexNotFoundError
from docqa.index.ingest import DocumentStream, IngestLimits
from docqa.index.library import Library
from docqa.index.memory import release_free_memory
from docqa.index.types import BuildStats, Document

log = logging.getLogger(__name__)


def sync(
    backend: IndexBackend,
    sources: Mapping[str, tuple[Path, str]],
    limits: IngestLimits | None = None,
    progress: bool = False,
    report: Report | None = None,
    unsupported: Sequence[tuple[str, str]] = (),
) -> BuildStats:
    """Bring ``backend`` in step with ``sources`` (doc id -> (path, sha256), as ``scan`` or ``Library.scan`` give).

    Only files whose sha256 differs from the indexed (or previously skipped) version are read, as a stream that
    the backend consumes while it embeds (``DocumentStream``); documents whose file is gone are removed. ``report(stage, fraction)`` is called as the work advances. ``unsupported``
    (path, reason) pairs are reported in the result's ``skipped`` beside the files that could not be read.
    """
    view = backend.view()
    known = {d.doc_id: d.sha256 for d in view.documents()}
    skipped_before = view.manifest.get("skipped", {})
    todo = [
        (doc_id, path)
        for doc_id, (path, sha) in sources.items()
        if known.get(doc_id) != sha and (doc_id not in skipped_before or skipped_before[doc_id][0] != sha)
    ]
    gone = [d for d in known if d not in sources]
    stream = DocumentStream(todo, limits=limits)
    skipped = _SkippedAfter(stream, sources)
    # a file that was indexed and now fails to read keeps its previous version
    stats = backend.update(stream, remove=gone, skipped=skipped, progress=progress, report=report)
    stats.skipped = [(str(sources[d][0]), why) for d, why in stream.skipped_ids.items()] + list(unsupported)
    release_free_memory()  # the previous index's memory, freed by the swap, back to the OS
    return stats


class _SkippedAfter(Mapping[str, tuple[str, str]]):
    """doc id -> (source sha256, reason) of the files a stream could not read, as the stream fills it (a backend
    reads it once the stream has ended)."""

    def __init__(self, stream: DocumentStream, sources: Mapping[str, tuple[Path, str]]) -> None:
        self.stream, self.sources = stream, sources

    def __getitem__(self, doc_id: str) -> tuple[str, str]:
        return (self.sources[doc_id][1], self.stream.skipped_ids[doc_id])

    def __iter__(self):
        return iter(self.stream.skipped_ids)

    def __len__(self) -> int:
        return len(self.stream.skipped_ids)


def sync_documents(backend: IndexBackend, documents: Sequence[Document], progress: bool = False) -> BuildStats:
    """Make ``backend`` hold exactly ``documents`` (benchmarks index ready-made Documents this way)."""
    wanted = {d.doc_id: d for d in documents}
    view = backend.view()
    have = {d.doc_id: d.text_sha256 for d in view.documents()}
    changed = [d for d in documents if have.get(d.doc_id) != d.text_sha256]
    gone = [d for d in have if d not in wanted]
    return backend.update(changed, remove=gone, progress=progress)


def make_backend(
    kind: str = "faiss",
    index_dir: str | Path | None = None,
    settings: IndexSettings | None = None,
    encoder: Encoder | None = None,
    milvus_uri: str | None = None,
    collection: str | None = None,
) -> IndexBackend:
    """A backend by name: "faiss" (files in ``index_dir``) or "milvus" (``milvus_uri``, default a Lite file)."""
    if kind == "faiss":
        from docqa.index.faiss_store import FaissStore

        return FaissStore(index_dir, settings, encoder)
    if kind == "milvus":
        from docqa.index.milvus_store import MilvusStore

        return MilvusStore(milvus_uri, index_dir=index_dir, settings=settings, encoder=encoder, collection=collection)
    raise ValueError(f"unknown backend {kind!r} (choose faiss or milvus)")


def _as_built(index_dir: Path) -> IndexSettings | None:
    """Default settings, except that an index built with int8 vectors is opened as such (not rebuilt)."""
    from docqa.index.faiss_store import current_version

    cur = current_version(index_dir)
    try:
        built = json.loads((index_dir / str(cur) / "manifest.json").read_text(encoding="utf-8"))["settings"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return IndexSettings(vectors=built["vectors"]) if built.get("vectors") in ("int8",) else None


def open_index(
    corpus: Iterable[str | Path] | str | Path,
    index_dir: str | Path | None = None,
    settings: IndexSettings | None = None,
    rebuild: bool = False,
    progress: bool = False,
    backend: str = "faiss",
    milvus_uri: str | None = None,
    limits: IngestLimits | None = None,
    encoder: Encoder | None = None,
) -> tuple[IndexBackend, BuildStats]:
    """Open the index of ``corpus`` and bring it up to date (only new or changed files are read and embedded).

    Uploads and removals kept in the index folder (``index.library``) are part of the corpus. A damaged FAISS
    index, or one built with another model or settings, is rebuilt from the documents. Returns the backend and
    what the update did.
    """
    roots = [Path(corpus)] if isinstance(corpus, (str, Path)) else [Path(p) for p in corpus]
    index_dir = Path(index_dir) if index_dir else default_index_dir(roots[0])
    if settings is None and backend == "faiss":
        settings = _as_built(index_dir)
    library = Library(roots, index_dir)
    sources = library.scan()
    store = make_backend(backend, index_dir, settings, encoder, milvus_uri)
    if rebuild:
        store.reset()
    elif backend == "faiss":
        try:
            store.load()
        except IndexNotFoundError:
            log.info("no index yet at %s; building it", index_dir)
            store.reset()
        except (IndexCorruptedError, IndexMismatchError) as exc:
            log.warning("%s -- rebuilding", exc)
            store.reset()
    stats = sync(store, sources, limits=limits, progress=progress, unsupported=library.unsupported())
    for path, why in stats.skipped:
        log.info("skipped %s: %s", path, why)
    return store, stats
