"""retrieve -> read -> cite: the question-answering pipeline behind ``qa.answer``."""

from __future__ import annotations

import logging
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from index.store import IndexSettings, PassageIndex, open_index
from qa import SEEDS_DIR
from qa.embed import Encoder, get_encoder
from qa.errors import QuestionError
from qa.fusion import FusionSettings
from qa.read import SentenceScorer, SentenceScorerSettings
from qa.retrieve import Retriever
from qa.types import NOT_FOUND_TEXT, Answer, Citation, Hit

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 1000


@dataclass(frozen=True)
class QASettings:
    """Knobs of the pipeline; defaults are the values chosen on SQuAD dev half a (see README)."""

    top_k: int = 5
    fusion: FusionSettings = field(default_factory=FusionSettings)
    sentence: SentenceScorerSettings = field(default_factory=SentenceScorerSettings)
    sentence_threshold: float = 0.35
    reader: str = "auto"  # auto (span reader when shipped) | span | sentence
    reader_passages: int = 3
    reader_threshold: float | None = None  # None: the threshold shipped with the reader (chosen on SQuAD v2)
    sentence_fallback_threshold: float = 0.5  # when the span reader abstains, a sentence this confident answers


def clean_question(question: object) -> str:
    """Validate and normalise a question, or raise QuestionError with a message for the user."""
    if not isinstance(question, str):
        raise QuestionError(f"the question must be text, not {type(question).__name__}")
    if len(question) > 20 * MAX_QUESTION_CHARS:
        raise QuestionError(f"the question is too long ({len(question)} characters; at most {MAX_QUESTION_CHARS})")
    text = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in question)
    text = " ".join(text.split())
    if not text:
        raise QuestionError("the question is empty: type a question about the documents")
    if len(text) > MAX_QUESTION_CHARS:
        raise QuestionError(f"the question is too long ({len(text)} characters; at most {MAX_QUESTION_CHARS})")
    return text


class _State:
    """Everything tied to one index version, swapped as a whole so a query never mixes two versions."""

    def __init__(self, index: PassageIndex, encoder: Encoder, settings: QASettings) -> None:
        self.index = index
        self.retriever = Retriever(index, encoder, settings.fusion)
        self.scorer = SentenceScorer(index, settings.sentence)


class QA:
    """A question-answering service over one index."""

    def __init__(
        self,
        index: PassageIndex,
        settings: QASettings | None = None,
        encoder: Encoder | None = None,
        reader: object | None = None,
    ) -> None:
        self.settings = settings or QASettings()
        self.encoder = encoder or get_encoder()
        self._state = _State(index, self.encoder, self.settings)
        self._swap_lock = threading.Lock()
        self.reader = reader if reader is not None else self._load_reader()

    @classmethod
    def from_corpus(
        cls,
        corpus: str | Path = SEEDS_DIR,
        index_dir: str | Path | None = None,
        settings: QASettings | None = None,
        index_settings: IndexSettings | None = None,
        rebuild: bool = False,
        progress: bool = False,
    ) -> QA:
        """Load (or build, when missing, stale or damaged) the index of ``corpus`` and serve it."""
        idx = open_index(corpus, index_dir, index_settings, rebuild=rebuild, progress=progress)
        return cls(idx, settings)

    @property
    def index(self) -> PassageIndex:
        return self._state.index

    def swap_index(self, index: PassageIndex) -> None:
        """Serve ``index`` from now on; queries already running finish on the old one."""
        state = _State(index, self.encoder, self.settings)
        with self._swap_lock:
            self._state = state

    def _load_reader(self) -> object | None:
        if self.settings.reader == "sentence":
            return None
        from qa.reader import load_reader

        try:
            return load_reader()
        except Exception as exc:  # the sentence reader is the documented fallback
            if self.settings.reader == "span":
                raise
            log.warning("span reader unavailable (%s); answering with whole sentences", exc)
            return None

    def retrieve(self, question: str, k: int | None = None, mode: str = "hybrid") -> list[Hit]:
        """Top passages for ``question`` (after validation)."""
        q = clean_question(question)
        return self._state.retriever.search(q, k or self.settings.top_k, mode=mode)

    def answer(self, question: str, k: int | None = None) -> Answer:
        """Answer ``question`` with an exact span of a document, or abstain."""
        t_all = time.perf_counter()
        q = clean_question(question)
        state = self._state
        timings: dict[str, float] = {}
        t = time.perf_counter()
        qvec = state.retriever.encoder.encode([q])[0]
        timings["embed_query"] = (time.perf_counter() - t) * 1000
        hits = state.retriever.search(q, k or self.settings.top_k, timings=timings, query_vec=qvec)
        t = time.perf_counter()
        if self.reader is not None and hits:
            ans = self._span_answer(q, hits, state)
            if not ans.found and self.settings.sentence_fallback_threshold is not None:
                # long answers (quotes, explanations) are beyond the span reader: a confident sentence answers
                sent = self._sentence_answer(q, qvec, hits, state)
                if sent.found and sent.confidence >= self.settings.sentence_fallback_threshold:
                    ans = sent
        else:
            ans = self._sentence_answer(q, qvec, hits, state)
        timings["read"] = (time.perf_counter() - t) * 1000
        timings["total"] = (time.perf_counter() - t_all) * 1000
        ans.timings_ms = timings
        return ans

    # -- readers

    def _sentence_answer(self, q: str, qvec, hits: list[Hit], state: _State) -> Answer:
        cands = state.scorer.score(q, qvec, hits, self.encoder)
        if not cands or cands[0].score < self.settings.sentence_threshold:
            conf = cands[0].score if cands else 0.0
            return Answer(q, NOT_FOUND_TEXT, False, max(0.0, conf), [], hits, method="sentence")
        best = cands[0]
        doc = state.index.documents[best.hit.passage.doc_id]
        cit = make_citation(doc.text, doc.path, best.hit, best.start, best.end, best.start, best.end)
        return Answer(q, cit.text, True, min(1.0, best.score), [cit], hits, method="sentence")

    def _span_answer(self, q: str, hits: list[Hit], state: _State) -> Answer:
        top = hits[: self.settings.reader_passages]
        pred = self.reader.best_span(q, top, state.index)  # type: ignore[attr-defined]
        threshold = self.settings.reader_threshold
        if threshold is None:
            threshold = float(getattr(self.reader, "meta", {}).get("threshold", 0.5))
        if pred is None or pred.confidence < threshold:
            conf = pred.confidence if pred else 0.0
            return Answer(q, NOT_FOUND_TEXT, False, conf, [], hits, method="span")
        hit = pred.hit
        doc = state.index.documents[hit.passage.doc_id]
        sent = next(
            (s for s in hit.passage.sentences if s.start <= pred.start < s.end),
            hit.passage.sentences[0],
        )
        cit = make_citation(doc.text, doc.path, hit, pred.start, pred.end, sent.start, max(sent.end, pred.end))
        return Answer(q, cit.text, True, pred.confidence, [cit], hits, method="span")


def make_citation(
    doc_text: str, doc_path: str, hit: Hit, start: int, end: int, sent_start: int, sent_end: int
) -> Citation:
    """A citation whose text is exactly ``doc_text[start:end]``."""
    p = hit.passage
    return Citation(
        doc_id=p.doc_id,
        doc_path=doc_path,
        passage_id=p.passage_id,
        start=start,
        end=end,
        sentence_start=sent_start,
        sentence_end=sent_end,
        passage_start=p.start,
        passage_end=p.end,
        text=doc_text[start:end],
    )
