"""retrieve -> read -> decide -> cite: the question-answering service behind ``qa.answer``."""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from pathlib import Path

from index.backend import IndexBackend, IndexSettings, IndexView
from index.encoder import Encoder, get_encoder
from index.ingest import IngestLimits
from index.sync import open_index, sync
from index.text import tokenize
from index.types import BuildStats
from qa.errors import SettingsError
from qa.question import clean_question
from qa.readers import Candidate, Query, Reader
from qa.readers.sentence import SentenceReader
from qa.retrieve import RetrievalMode, Retriever
from qa.settings import SEEDS_DIR, QASettings
from qa.timing import Timings
from qa.types import NOT_FOUND_TEXT, Answer, Citation, Hit

log = logging.getLogger(__name__)


class QA:
    """A question-answering service over one index backend."""

    def __init__(
        self,
        backend: IndexBackend,
        settings: QASettings | None = None,
        encoder: Encoder | None = None,
        span_reader: Reader | None = None,
        corpus: Iterable[str | Path] | None = None,
    ) -> None:
        self.settings = settings or QASettings()
        self.backend = backend
        self.encoder = encoder or get_encoder()
        self.corpus = [Path(p) for p in corpus] if corpus is not None else None
        self.retriever = Retriever(self.encoder, self.settings.fusion)
        self.sentence_reader = SentenceReader(self.encoder, self.settings.sentence)
        self.span_reader = span_reader if span_reader is not None else self._load_span_reader()

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
    ) -> QA:
        """Open (or build, when missing, stale or damaged) the index of ``corpus`` and serve it."""
        roots = [Path(corpus)] if isinstance(corpus, (str, Path)) else [Path(p) for p in corpus]
        store, _ = open_index(
            roots,
            index_dir,
            index_settings,
            rebuild=rebuild,
            progress=progress,
            backend=backend,
            milvus_uri=milvus_uri,
            limits=limits,
        )
        return cls(store, settings, corpus=roots)

    def _load_span_reader(self) -> Reader | None:
        if self.settings.reader == "sentence":
            return None
        from qa.readers.span import load_reader

        try:
            return load_reader(self.settings.span)
        except Exception as exc:  # the sentence reader is the documented fallback
            if self.settings.reader == "span":
                raise
            log.warning("span reader unavailable (%s); answering with whole sentences", exc)
            return None

    # ------------------------------------------------------------ index

    @property
    def index(self) -> IndexView:
        """The index snapshot questions are answered from right now."""
        return self.backend.view()

    def sync(self, progress: bool = False, limits: IngestLimits | None = None) -> BuildStats:
        """Re-read the corpus folder(s): index new and changed files, drop removed ones."""
        if self.corpus is None:
            raise SettingsError("this service was not opened on a folder; use backend.update() with documents")
        return sync(self.backend, self.corpus, limits=limits, progress=progress)

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
        return self.retriever.search(self.backend.view(), q, self._k(k), mode=mode, doc_ids=self._docs(doc_ids))

    def _k(self, k: int | None) -> int:
        if k is None:
            return self.settings.top_k
        if not isinstance(k, int) or k < 1:
            raise SettingsError(f"k (passages to retrieve) must be a positive integer, not {k!r}")
        return k

    def _docs(self, doc_ids: Collection[str] | None, view: IndexView | None = None) -> list[str] | None:
        if doc_ids is None:
            return None
        ids = [doc_ids] if isinstance(doc_ids, str) else list(doc_ids)
        view = view or self.backend.view()
        known = {d.doc_id for d in view.documents()}
        unknown = [d for d in ids if d not in known]
        if unknown:
            raise SettingsError(f"unknown document(s): {', '.join(unknown[:5])}")
        return ids

    def answer(self, question: str, k: int | None = None, doc_ids: Collection[str] | None = None) -> Answer:
        """Answer ``question`` with an exact span of a document, or abstain.

        ``doc_ids`` restricts the question to those documents; ``k`` is the number of passages retrieved.
        """
        timings = Timings()
        with timings.stage("total"):
            q = clean_question(question)
            k = self._k(k)
            view = self.backend.view()
            docs = self._docs(doc_ids, view)
            with timings.stage("embed_query"):
                qvec = self.encoder.encode([q])[0]
            hits = self.retriever.search(view, q, k, query_vec=qvec, doc_ids=docs, timings=timings)
            query = Query(q, qvec, tuple(tokenize(q)))
            with timings.stage("read"):
                ans = self._decide(query, hits, view)
        ans.timings_ms = dict(timings)
        ans.index_version = view.version
        ans.retrieval_query = q
        return ans

    # ------------------------------------------------------------ deciding

    def _decide(self, query: Query, hits: list[Hit], view: IndexView) -> Answer:
        """Span reader first; when it abstains, a confident whole sentence; else abstain."""
        if not hits:
            return self._abstain(query.text, hits, 0.0)
        if self.span_reader is None:
            cands = self.sentence_reader.read(query, hits, view)
            if cands and (cands[0].score >= self.sentence_reader.threshold or not self.settings.abstain):
                return self._answer(query.text, cands[0], hits, view)
            return self._abstain(query.text, hits, cands[0].confidence if cands else 0.0, "sentence")
        spans = self.span_reader.read(query, hits, view)
        threshold = getattr(self.span_reader, "threshold", 0.5)
        if spans and (spans[0].confidence >= threshold or not self.settings.abstain):
            return self._answer(query.text, spans[0], hits, view)
        if self.settings.sentence_fallback is not None:
            # long answers (quotes, explanations) are beyond the span reader: a confident sentence answers
            sents = self.sentence_reader.read(query, hits, view)
            if sents and sents[0].score >= self.settings.sentence_fallback:
                return self._answer(query.text, sents[0], hits, view)
        return self._abstain(query.text, hits, spans[0].confidence if spans else 0.0, "span")

    def _abstain(self, q: str, hits: list[Hit], confidence: float, method: str = "none") -> Answer:
        return Answer(q, NOT_FOUND_TEXT, False, max(0.0, confidence), [], hits, method=method)  # type: ignore[arg-type]

    def _answer(self, q: str, cand: Candidate, hits: list[Hit], view: IndexView) -> Answer:
        doc = view.document(cand.doc_id)
        cit = Citation.make(doc, cand.hit.passage, cand.start, cand.end, cand.sentence)
        sentence = doc.text[cit.sentence_start : cit.sentence_end]
        return Answer(q, cit.text, True, cand.confidence, [cit], hits, method=cand.kind, sentence_text=sentence)
