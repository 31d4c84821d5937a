"""retrieve -> read -> decide -> cite: the question-answering service behind ``qa.answer``.

:class:`QA` is the one Python API that the CLI, the chat and the REST API call: questions (with follow-ups,
document filters and alternatives), documents (add, remove, list, open a source), feedback.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path

from docqa.index.backend import IndexBackend, IndexSettings, IndexView, Report, default_index_dir
from docqa.index.encoder import Encoder, Precision, get_encoder
from docqa.index.ingest import IngestLimits
from docqa.index.library import Library, StorageQuota
from docqa.index.sync import open_index, sync
from docqa.index.text import tokenize
from docqa.index.types import BuildStats, DocumentInfo
from docqa.qa.cite import SourceExcerpt, source_excerpt
from docqa.qa.errors import SettingsError, UnknownDocumentError
from docqa.qa.feedback import FeedbackLog, Rating
from docqa.qa.followup import Turn, resolve
from docqa.qa.metrics import normalize_answer
from docqa.qa.question import clean_question
from docqa.qa.readers import Candidate, Query, Reader
from docqa.qa.readers.sentence import SentenceReader
from docqa.qa.readers.table import TableReader, with_cells
from docqa.qa.retrieve import RetrievalMode, Retriever
from docqa.qa.settings import SEEDS_DIR, QASettings
from docqa.qa.timing import Timings
from docqa.qa.types import NOT_FOUND_TEXT, Answer, Citation, Hit, Method

log = logging.getLogger(__name__)

_WHY_HOW = re.compile(r"^\s*(why|how (do|does|did|is|are|was|were|can|could|should|would))\b", re.I)


class QA:
    """A question-answering service over one index backend (and, when opened on folders, their library)."""

    def __init__(
        self,
        backend: IndexBackend,
        settings: QASettings | None = None,
        encoder: Encoder | None = None,
        span_reader: Reader | None = None,
        library: Library | None = None,
        limits: IngestLimits | None = None,
    ) -> None:
        self.settings = settings or QASettings()
        self.backend = backend
        self.encoder = encoder or backend.encoder  # questions are embedded as the index's passages were
        self.library = library
        self.limits = limits or IngestLimits()
        self.retriever = Retriever(self.encoder, self.settings.fusion)
        self.sentence_reader = SentenceReader(self.encoder, self.settings.sentence)
        self.table_reader = TableReader()
        self.span_reader = span_reader if span_reader is not None else self._load_span_reader()
        self.feedback = FeedbackLog(library.state_dir / "feedback.jsonl") if library is not None else None

    @classmethod
    def from_corpus(
        cls,
        corpus: str | Path | Iterable[str | Path] = SEEDS_DIR,
        index_dir: str | Path | None = None,
        settings: QASettings | None = None,
        index_settings: IndexSettings | None = None,
        rebuild: bool = False,
        progress: bool = False,
        backend: str = "faiss",
        milvus_uri: str | None = None,
        limits: IngestLimits | None = None,
        encoder_precision: Precision = "auto",
        quota: StorageQuota | None = None,
    ) -> QA:
        """Open (or build, when missing, stale or damaged) the index of ``corpus`` and serve it.

        ``backend``: "faiss" (default; files in ``index_dir``) or "milvus" (``milvus_uri``; default a Milvus Lite
        file in ``index_dir``). ``encoder_precision``: "auto" (bf16 where the CPU has it and a probe keeps the
        vectors, else fp32), "fp32" or "bf16", for the passages this update embeds. ``quota``: how much uploads
        may hold (default: no limit).
        """
        store, _, roots, index_dir = _open(
            corpus, index_dir, index_settings, rebuild, progress, backend, milvus_uri, limits, encoder_precision
        )
        return cls(store, settings, library=Library(roots, index_dir, quota), limits=limits)

    @staticmethod
    def build_index(
        corpus: str | Path | Iterable[str | Path] = SEEDS_DIR,
        index_dir: str | Path | None = None,
        index_settings: IndexSettings | None = None,
        rebuild: bool = False,
        progress: bool = False,
        backend: str = "faiss",
        milvus_uri: str | None = None,
        limits: IngestLimits | None = None,
        encoder_precision: Precision = "auto",
    ) -> tuple[Path, BuildStats]:
        """Build or update the index of ``corpus`` without loading the reader: (index folder, what was done).
        ``encoder_precision`` as in ``from_corpus``; ``BuildStats.encoder`` says what it resolved to."""
        _, stats, _, index_dir = _open(
            corpus, index_dir, index_settings, rebuild, progress, backend, milvus_uri, limits, encoder_precision
        )
        return index_dir, stats

    def _load_span_reader(self) -> Reader | None:
        if self.settings.reader == "sentence":
            return None
        from docqa.qa.readers.span import load_reader

        try:
            return load_reader(self.settings.span)
        except Exception as exc:  # the sentence reader is the documented fallback
            if self.settings.reader == "span":
                raise
            log.warning("span reader unavailable (%s); answering with whole sentences", exc)
            return None

    # ------------------------------------------------------------ documents

    @property
    def index(self) -> IndexView:
        """The index snapshot questions are answered from right now."""
        return self.backend.view()

    def serves_seeds(self) -> bool:
        """Whether the corpus is exactly the bundled seed documents (the chat then offers example questions)."""
        return self.library is not None and [r.resolve() for r in self.library.roots] == [SEEDS_DIR.resolve()]

    def require_library(self) -> Library:
        """The library of this service (SettingsError when it was not opened on folders)."""
        if self.library is None:
            raise SettingsError("this service was not opened on folders (QA.from_corpus); it has no library")
        return self.library

    def sync(self, progress: bool = False, report: Report | None = None) -> BuildStats:
        """Re-read the library: index new and changed files, drop removed ones. An upload that cannot be indexed
        is deleted (it stays listed in ``skipped`` with the reason), so nothing refused is kept on disk."""
        library = self.require_library()
        stats = sync(
            self.backend,
            library.scan(),
            limits=self.limits,
            progress=progress,
            report=report,
            unsupported=library.unsupported(),
        )
        library.discard_uploads(path for path, _ in stats.skipped)
        return stats

    def documents(self, offset: int = 0, limit: int | None = None) -> list[DocumentInfo]:
        """The indexed documents (title, file, type, pages, passages, size, added) in id order: all of them, or at
        most ``limit`` from ``offset``, a page of a long listing (a million documents are not listed at once)."""
        return self.backend.view().documents(offset, limit)

    def document_count(self) -> int:
        """How many documents are indexed."""
        return self.backend.view().document_count()

    def store_upload(self, name: str, data: bytes) -> str:
        """Store an uploaded file (size-limited, type-checked, never overwriting another) without indexing it yet
        (``sync`` indexes it; the server runs that as a background job). Returns its document id."""
        return self.require_library().save_upload(name, data, self.limits)

    def add_upload(self, name: str, data: bytes, report: Report | None = None) -> tuple[str, BuildStats]:
        """Store an uploaded file and index it."""
        doc_id = self.store_upload(name, data)
        return doc_id, self.sync(report=report)

    def add_files(self, paths: Sequence[str | Path], report: Report | None = None) -> tuple[list[str], BuildStats]:
        """Add files (copied in as uploads, or included again if they are in a corpus folder) and index them."""
        ids = [self.require_library().add_path(p, self.limits) for p in paths]
        return ids, self.sync(report=report)

    def require_documents(self, doc_ids: Collection[str], view: IndexView | None = None) -> list[str]:
        """``doc_ids`` as a list when every one is indexed (in ``view``, default: the current index), else
        UnknownDocumentError naming the unknown ones."""
        ids = [doc_ids] if isinstance(doc_ids, str) else list(doc_ids)
        view = view or self.backend.view()
        unknown = [d for d in ids if not view.has_document(d)]
        if unknown:
            raise UnknownDocumentError(unknown)
        return ids

    def unstage_document(self, doc_id: str) -> None:
        """Take a document out of the library without re-indexing yet (an upload's file is deleted; a corpus file
        is only excluded); ``sync`` then drops it from the index."""
        self.require_documents([doc_id])
        self.require_library().remove(doc_id)

    def remove_document(self, doc_id: str, report: Report | None = None) -> BuildStats:
        """Remove a document from the library and the index."""
        self.unstage_document(doc_id)
        return self.sync(report=report)

    def source(self, doc_id: str, start: int = 0, end: int = 0) -> SourceExcerpt:
        """The text around ``[start, end)`` of a document (its page, for a PDF), to show a citation in context."""
        view = self.backend.view()
        self.require_documents([doc_id], view)
        return source_excerpt(view.document(doc_id), start, end)

    def rate(self, answer: Answer | dict, rating: Rating, comment: str = "") -> dict:
        """Record thumbs up/down for an answer in the feedback log beside the index."""
        if self.feedback is None:
            raise SettingsError("this service has no index folder to keep feedback in")
        return self.feedback.add(answer, rating, comment)

    # ------------------------------------------------------------ questions

    def retrieve(
        self,
        question: str,
        k: int | None = None,
        mode: RetrievalMode = "hybrid",
        doc_ids: Collection[str] | None = None,
    ) -> list[Hit]:
        """Top passages for ``question`` (after validation)."""
        q = clean_question(question)
        view = self.backend.view()
        return self.retriever.search(view, q, self._k(k), mode=mode, doc_ids=self._docs(doc_ids, view))

    def _k(self, k: int | None) -> int:
        if k is None:
            return self.settings.top_k
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise SettingsError(f"k (passages to retrieve) must be a positive integer, not {k!r}")
        return k

    def _docs(self, doc_ids: Collection[str] | None, view: IndexView) -> list[str] | None:
        if doc_ids is None:
            return None
        return self.require_documents(doc_ids, view)

    def answer(
        self,
        question: str,
        k: int | None = None,
        doc_ids: Collection[str] | None = None,
        history: Sequence[Turn] | None = None,
    ) -> Answer:
        """Answer ``question`` with an exact span of a document, or abstain.

        ``k``: passages retrieved (and shown); ``doc_ids``: only these documents; ``history``: the earlier turns of
        the conversation, so that a follow-up ("When did it end?") is understood.
        """
        timings = Timings()
        with timings.stage("total"):
            q = clean_question(question)
            k = self._k(k)
            view = self.backend.view()
            docs = self._docs(doc_ids, view)
            resolved = resolve(q, list(history or []))
            with timings.stage("embed_query"):
                qvec = self.encoder.encode([resolved.retrieval_query])[0]
            n = max(k, self.span_reader.passages if self.span_reader is not None else 0)
            hits = self.retriever.search(
                view, resolved.retrieval_query, n, query_vec=qvec, doc_ids=docs, timings=timings
            )
            if resolved.follow_up:
                qvec = self.encoder.encode([resolved.question])[0]
            query = Query(resolved.question, qvec, tuple(tokenize(resolved.question)))
            with timings.stage("read"):
                ans = self._decide(query, hits, view)
                if resolved.avoid:
                    ans = self._other_than(ans, resolved.avoid)
        ans.question = q
        ans.timings_ms = dict(timings)
        ans.index_version = view.version
        ans.retrieval_query = resolved.retrieval_query
        ans.read_as = resolved.question if resolved.follow_up else ""
        return ans

    # ------------------------------------------------------------ deciding

    def _decide(self, query: Query, hits: list[Hit], view: IndexView) -> Answer:
        """The reader's most confident span answers when it is credible; otherwise abstain (see QASettings)."""
        st = self.settings
        if not hits:
            return self._abstain(query.text, hits, 0.0)
        if self.span_reader is None:
            cands = self.sentence_reader.read(query, hits, view)
            if cands and (cands[0].score >= self.sentence_reader.threshold or not st.abstain):
                return self._answer(query, cands[0], hits, view, "sentence")
            return self._abstain(query.text, hits, cands[0].confidence if cands else 0.0, "sentence")
        spans = self.span_reader.read(query, hits, view)
        if st.tables:
            spans = with_cells(spans, self.table_reader.read(query, hits, view))
        threshold = float(getattr(self.span_reader, "threshold", 0.5))
        if spans and (spans[0].confidence >= threshold or not st.abstain):
            method: Method = "span"
            if st.sentence_answers == "why-how" and _WHY_HOW.search(query.text):
                method = "sentence"
            ans = self._answer(query, spans[0], hits, view, method)
            ans.alternatives = self._alternatives(query, spans, hits, view, threshold)
            return ans
        if st.sentence_fallback is not None:
            sents = self.sentence_reader.read(query, hits, view)
            if sents and sents[0].score >= st.sentence_fallback:
                return self._answer(query, sents[0], hits, view, "sentence")
        return self._abstain(query.text, hits, spans[0].confidence if spans else 0.0, "span")

    def _other_than(self, ans: Answer, avoid: str) -> Answer:
        """ "Who else?": the best answer that is not ``avoid`` (the previous answer), from the alternatives, or an
        abstention when there is none."""
        if not ans.found or normalize_answer(ans.text) != normalize_answer(avoid):
            return ans
        others = [a for a in ans.alternatives if normalize_answer(a.text) != normalize_answer(avoid)]
        if not others:
            return self._abstain(ans.question, ans.hits, 0.0, ans.method)
        best = others[0]
        best.alternatives, best.hits = others[1:], ans.hits
        return best

    def _alternatives(
        self, query: Query, spans: list[Candidate], hits: list[Hit], view: IndexView, threshold: float
    ) -> list[Answer]:
        """Up to ``settings.alternatives`` other credible answers (confidence over the threshold), each from another
        passage, never the same text twice."""
        seen = {normalize_answer(view.document(spans[0].doc_id).text[spans[0].start : spans[0].end])}
        used = {spans[0].hit.passage.passage_id}
        out: list[Answer] = []
        for c in spans[1:]:
            if len(out) >= self.settings.alternatives or c.confidence < threshold:
                break
            key = normalize_answer(view.document(c.doc_id).text[c.start : c.end])
            if key in seen or c.hit.passage.passage_id in used:
                continue
            seen.add(key)
            used.add(c.hit.passage.passage_id)
            alt = self._answer(query, c, hits, view, "span")
            alt.hits = []
            out.append(alt)
        return out

    def _abstain(self, q: str, hits: list[Hit], confidence: float, method: Method = "none") -> Answer:
        return Answer(q, NOT_FOUND_TEXT, False, max(0.0, confidence), [], hits, method=method)

    def _answer(self, query: Query, cand: Candidate, hits: list[Hit], view: IndexView, method: Method) -> Answer:
        doc = view.document(cand.doc_id)
        start, end = (cand.sentence.start, cand.sentence.end) if method == "sentence" else (cand.start, cand.end)
        if method == "sentence":  # a sentence answer is one whole sentence, never more
            start, end = min(start, cand.start), max(end, cand.end)
        cit = Citation.make(doc, cand.hit.passage, start, end, cand.sentence)
        sentence = doc.text[cit.sentence_start : cit.sentence_end]
        return Answer(query.text, cit.text, True, cand.confidence, [cit], hits, method=method, sentence_text=sentence)


def _roots(corpus: str | Path | Iterable[str | Path]) -> list[Path]:
    """The corpus as absolute folders or files (``~`` expanded; relative to the current folder)."""
    items = [corpus] if isinstance(corpus, (str, Path)) else list(corpus)
    return [Path(p).expanduser().absolute() for p in items]


def _open(
    corpus: str | Path | Iterable[str | Path],
    index_dir: str | Path | None,
    index_settings: IndexSettings | None,
    rebuild: bool,
    progress: bool,
    backend: str,
    milvus_uri: str | None,
    limits: IngestLimits | None,
    encoder_precision: Precision,
) -> tuple[IndexBackend, BuildStats, list[Path], Path]:
    """Open and update the index of ``corpus``: (backend, what the update did, the corpus roots, the index folder)."""
    roots = _roots(corpus)
    folder = Path(index_dir).expanduser() if index_dir else default_index_dir(roots[0])
    store, stats = open_index(
        roots,
        folder,
        index_settings,
        rebuild=rebuild,
        progress=progress,
        backend=backend,
        milvus_uri=milvus_uri,
        limits=limits,
        encoder=get_encoder((index_settings or IndexSettings()).encoder, encoder_precision),
    )
    return store, stats, roots, folder
