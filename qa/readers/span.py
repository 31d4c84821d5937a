"""The shipped extractive span reader: all-MiniLM-L6-v2 + a start/end head trained on SQuAD v1.1.

Weights live in ``qa/models/reader`` as int8 (per-row scales) safetensors, checksum-verified at load,
and are expanded into a ``BertForQuestionAnswering`` built from the bundled encoder's config, so a
fresh install needs no download. ``train/train_reader.py`` trains it, ``train/export_reader.py`` ships it.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal, NamedTuple, get_args

import numpy as np

from docqa.index.backend import IndexView
from docqa.index.checksum import sha256_file
from docqa.qa.answer_type import agreement
from docqa.qa.confidence import (
    FEATURES,
    ConfidenceModel,
    candidate_features,
    coverage,
    entity_coverage,
    question_entities,
    support,
)
from docqa.qa.errors import ReaderError
from docqa.qa.readers import Candidate, Query
from docqa.qa.readers.batching import MicroBatcher
from docqa.qa.readers.quantize import dequantize_state_dict
from docqa.qa.types import Hit

MODEL_DIR = Path(__file__).resolve().parents[1] / "models" / "reader"
WEIGHTS = "reader-int8.safetensors"
META = "reader.json"

log = logging.getLogger(__name__)

# The runtimes a user can choose: eager PyTorch fp32 (the reference), the frozen unpadded graph in fp32 (the same
# logits, faster), in int8 with a scale per token (within 0.1 F1 of fp32, faster again) and in bf16 (fastest where
# the CPU has bf16 instructions); "auto" (shipped) is bf16 on such a CPU and int8 elsewhere.
Runtime = Literal["auto", "fp32", "torchscript-unpadded", "torchscript-unpadded-int8", "torchscript-unpadded-bf16"]
INT8_TOLERANCE = 1.0  # start/end logits of the int8 graph vs fp32 on the check batches: 0.13-0.24 measured
BF16_TOLERANCE = 0.5  # the same for the bf16 graph


@dataclass(frozen=True)
class SpanReaderSettings:
    """How the span reader reads: passages, window size, longest answer, threshold and runtime.

    ``passages``, ``threshold`` and ``runtime`` default (None) to the values chosen on SQuAD half a and shipped in
    ``reader.json``. ``micro_batch``: concurrent questions share forward passes (``qa.readers.batching``), each
    batch waiting ``batch_wait_ms`` for company first (0: batch only what is already queued). ``early_exit``:
    read the top ``early_exit_first`` passages first and stop when the best span's confidence there reaches this
    (None: the values shipped in ``reader.json``; early_exit 1.0: read all passages at once). ``micro_batch`` is
    on by default since the reader computes without padding: windows of concurrent questions then cost only their
    own tokens.
    """

    passages: int | None = None
    max_length: int = 384
    stride: int = 128
    max_answer_tokens: int = 30
    threshold: float | None = None
    runtime: Runtime | None = None
    micro_batch: bool = True
    batch_wait_ms: float = 0.0
    early_exit: float | None = None
    early_exit_first: int | None = None

    def __post_init__(self) -> None:
        if (
            (self.passages is not None and self.passages < 1)
            or self.max_answer_tokens < 1
            or not 0 < self.stride < self.max_length
        ):
            raise ValueError(f"invalid span reader settings: {self}")
        if self.runtime is not None and self.runtime not in get_args(Runtime):
            raise ValueError(f"unknown reader runtime {self.runtime!r} (choose {', '.join(get_args(Runtime))})")
        if self.early_exit is not None and not 0 <= self.early_exit <= 1:
            raise ValueError(f"early_exit must be within [0, 1], not {self.early_exit}")
        if self.early_exit_first is not None and self.early_exit_first < 1:
            raise ValueError(f"early_exit_first must be a positive number of passages, not {self.early_exit_first}")
        if not 0 <= self.batch_wait_ms <= 100:
            raise ValueError(f"batch_wait_ms must be within [0, 100], not {self.batch_wait_ms}")
        if self.threshold is not None and not 0 <= self.threshold <= 1:
            raise ValueError(f"threshold must be within [0, 1], not {self.threshold}")


class SpanScore(NamedTuple):
    """The best span of one context: character offsets in the context and the logits behind it."""

    start: int
    end: int
    score: float  # start + end logit
    null_score: float  # CLS start + end logit of the same window
    prob: float  # softmax probability of the span among the window's candidate spans


class SpanReader:
    """Scores answer spans inside passages with the shipped model (implements ``qa.readers.Reader``)."""

    name = "span"

    def __init__(self, model_dir: Path = MODEL_DIR, settings: SpanReaderSettings | None = None) -> None:
        import torch
        from safetensors.numpy import load_file
        from transformers import AutoConfig, AutoTokenizer, BertForQuestionAnswering

        from docqa.index.encoder import model_path

        self.settings = settings or SpanReaderSettings()
        meta_path, weights = model_dir / META, model_dir / WEIGHTS
        if not meta_path.is_file() or not weights.is_file():
            raise ReaderError(f"reader model not found in {model_dir}")
        self.meta = json.loads(meta_path.read_text(encoding="utf-8"))
        digest = sha256_file(weights)
        if digest != self.meta.get("sha256"):
            raise ReaderError(
                f"reader weights {weights} fail their checksum ({digest[:12]}… != {str(self.meta.get('sha256'))[:12]}…)"
            )
        base = str(model_path())
        self.tokenizer = AutoTokenizer.from_pretrained(base)
        config = AutoConfig.from_pretrained(base)
        self.model = BertForQuestionAnswering(config)
        missing, unexpected = self.model.load_state_dict(dequantize_state_dict(load_file(str(weights))), strict=False)
        missing = [m for m in missing if not m.endswith("position_ids")]
        if missing or unexpected:
            raise ReaderError(
                f"reader weights do not fit the model (missing {missing[:3]}, unexpected {unexpected[:3]})"
            )
        self.model.eval()
        self._traced, self.runtime = self._freeze(self.settings.runtime or self.meta.get("runtime", "fp32"))
        self.torch = torch
        self.passages = int(self.settings.passages or self.meta.get("passages", 3))
        self.threshold = (
            self.settings.threshold if self.settings.threshold is not None else float(self.meta.get("threshold", 0.5))
        )
        self.confidence_model = ConfidenceModel.from_meta(self.meta)
        exit_at = self.settings.early_exit if self.settings.early_exit is not None else self.meta.get("early_exit")
        self.early_exit = 1.0 if exit_at is None else float(exit_at)  # 1.0: always read every passage at once
        self.early_exit_first = int(self.settings.early_exit_first or self.meta.get("early_exit_first", 1))
        self._sep = self.tokenizer.sep_token_id
        self._lock = threading.Lock()
        self.reads = self.early_exits = 0  # questions read, and those the early exit answered (a running count)
        self._batcher = None
        if self.settings.micro_batch:
            pad = self.tokenizer.pad_token_id or 0
            self._batcher = MicroBatcher(self._locked, self.settings.batch_wait_ms, pad_id=pad)

    def _freeze(self, runtime: Runtime) -> tuple[Callable | None, Runtime]:
        """The frozen unpadded graph of ``runtime`` (``qa/readers/unpadded.py``: matrix products over real tokens
        only, ``index/torchscript.py``) and the runtime it really is. "auto" is bf16 where the CPU lists bf16
        instructions (``index.encoder.cpu_has_bf16``), else int8. bf16 falls back to int8, int8 to fp32, and fp32
        to eager PyTorch (a None graph), when a graph cannot be built or disagrees with eager fp32 (by more than
        ``BF16_TOLERANCE`` / ``INT8_TOLERANCE``); each fallback is logged."""
        from docqa.index.encoder import cpu_has_bf16
        from docqa.index.torchscript import TOLERANCE, freeze
        from docqa.qa.readers.unpadded import UnpaddedBertQA

        if runtime == "auto":
            runtime = "torchscript-unpadded-bf16" if cpu_has_bf16() else "torchscript-unpadded-int8"
        chain: list[Runtime] = {
            "torchscript-unpadded-bf16": [
                "torchscript-unpadded-bf16",
                "torchscript-unpadded-int8",
                "torchscript-unpadded",
            ],
            "torchscript-unpadded-int8": ["torchscript-unpadded-int8", "torchscript-unpadded"],
            "torchscript-unpadded": ["torchscript-unpadded"],
        }.get(runtime, [])
        tolerance = {"int8": INT8_TOLERANCE, "bf16": BF16_TOLERANCE}
        for candidate in chain:
            kind = candidate.rsplit("-", 1)[-1]
            try:  # None when it disagrees with eager fp32 (logged by freeze)
                traced = freeze(
                    UnpaddedBertQA(self.model, int8=kind == "int8", bf16=kind == "bf16"),
                    reference=self.model,
                    tolerance=tolerance.get(kind, TOLERANCE),
                )
            except (ValueError, RuntimeError) as exc:  # a BERT variant it does not implement, no int8 kernels
                log.warning("reader runtime %s unavailable (%s)", candidate, exc)
                traced = None
            if traced is not None:
                return traced, candidate
        return None, "fp32"

    def predict(self, question: str, contexts: Sequence[str]) -> list[SpanScore | None]:
        """The best span inside each context (None when no window of it has one)."""
        if not contexts:
            return []
        st = self.settings
        enc = self.tokenizer(
            [question] * len(contexts),
            list(contexts),
            truncation="only_second",
            max_length=st.max_length,
            stride=st.stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            padding=True,
            return_tensors="np",
        )
        sample_map = enc.pop("overflow_to_sample_mapping").tolist()
        offsets = enc.pop("offset_mapping").tolist()
        starts, ends = self.logits(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
        ctx = context_mask(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"], self._sep)
        best: list[SpanScore | None] = [None] * len(contexts)
        for f, (si, ei, score, null, prob) in enumerate(best_spans(starts, ends, ctx, st.max_answer_tokens)):
            if si < 0:
                continue
            ci = sample_map[f]
            cs, ce = offsets[f][si][0], offsets[f][ei][1]
            if ce <= cs:
                continue
            prev = best[ci]
            if prev is None or score > prev.score:
                best[ci] = SpanScore(cs, ce, score, null, prob)
        return best

    def logits(self, input_ids: np.ndarray, attention_mask: np.ndarray, token_type_ids: np.ndarray):
        """Start and end logits (numpy) of a batch of windows, micro-batched with the windows of concurrent callers
        unless ``micro_batch`` is off."""
        if self._batcher is not None:
            return self._batcher(input_ids, attention_mask, token_type_ids)
        return self._locked(input_ids, attention_mask, token_type_ids)

    def _locked(self, input_ids: np.ndarray, attention_mask: np.ndarray, token_type_ids: np.ndarray):
        with self._lock:
            return self._forward(input_ids, attention_mask, token_type_ids)

    def _forward(self, input_ids: np.ndarray, attention_mask: np.ndarray, token_type_ids: np.ndarray):
        t = self.torch
        inputs = t.from_numpy(input_ids), t.from_numpy(attention_mask), t.from_numpy(token_type_ids)
        with t.inference_mode():
            if self._traced is not None:
                start, end = self._traced(*inputs)[:2]
                return start.numpy(), end.numpy()
            out = self.model(input_ids=inputs[0], attention_mask=inputs[1], token_type_ids=inputs[2])
        return out.start_logits.float().numpy(), out.end_logits.float().numpy()

    def read(self, query: Query, hits: Sequence[Hit], view: IndexView) -> list[Candidate]:
        """The best span of each of the top ``passages`` hits with its calibrated confidence, most confident first.

        With ``early_exit`` set, the top ``early_exit_first`` passages are read first and the others only when the
        best span's confidence there is under ``early_exit`` (then the result is exactly what reading all of them
        at once gives)."""
        top = list(hits[: self.passages])
        exit_at, n_first = self.early_exit, self.early_exit_first
        self.reads += 1
        if exit_at < 1.0 and len(top) > n_first:
            raw = self.spans(query, top[:n_first], view)
            first = self._score(query, raw, hits, view)
            if first and first[0].confidence >= exit_at:
                self.early_exits += 1
                return first
            return self._score(query, raw + self.spans(query, top[n_first:], view), hits, view)
        return self._score(query, self.spans(query, top, view), hits, view)

    def spans(self, query: Query, top: list[Hit], view: IndexView) -> list[dict]:
        """The best span of each passage of ``top`` (cleaned, document offsets) with the reader and retrieval scores
        the confidence model reads; passages without a span are left out."""
        preds = self.predict(query.text, [h.passage.text for h in top])
        raw: list[dict] = []
        for hit, p in zip(top, preds, strict=True):
            if p is None:
                continue
            ps = hit.passage
            text = view.document(ps.doc_id).text
            start, end = clean_span(text, ps.start + p.start, ps.start + p.end, ps.start, ps.end)
            if end <= start:
                continue
            raw.append(
                {
                    "hit": hit,
                    "start": start,
                    "end": end,
                    "sentence": ps.sentence_at(start),
                    "text": text,
                    "score": p.score,
                    "null": p.null_score,
                    "prob": p.prob,
                    "rank": hit.rank,
                    "dense": hit.dense,
                    "bm25": hit.bm25,
                    "bm25_rank": hit.bm25_rank,
                    "dense_rank": hit.dense_rank,
                }
            )
        return raw

    def _score(self, query: Query, raw: list[dict], hits: Sequence[Hit], view: IndexView) -> list[Candidate]:
        if "cover" in self.confidence_model.names and raw:
            q_terms = query.term_list()
            idf = view.term_idf(q_terms)
            for r in raw:
                r["cover"] = coverage(q_terms, r["hit"].passage.text, idf)
        if "type" in self.confidence_model.names and raw:
            ctx = []
            for r in raw:
                s0, s1 = min(r["sentence"].start, r["start"]), max(r["sentence"].end, r["end"])
                ctx.append((r["text"][s0:s1], r["start"] - s0, r["end"] - s0))
            for r, ag in zip(raw, agreement(query.text, ctx), strict=True):
                r["type"] = ag
        names = self.confidence_model.names
        if raw and ("sent_cover" in names or "ent_cover" in names or "support" in names):
            evidence(query, raw, view)
        top_dense = max((h.dense or 0.0) for h in hits) if hits else 0.0
        out: list[Candidate] = []
        for r in raw:
            feats = dict(zip(FEATURES, candidate_features(r, raw, top_dense), strict=True))
            conf = self.confidence_model.one(feats)
            out.append(Candidate(r["hit"], r["start"], r["end"], r["sentence"], "span", r["score"], conf, feats))
        out.sort(key=lambda c: -c.confidence)
        return out


def context_mask(input_ids, attention_mask, token_type_ids, sep_id: int):
    """Where a window's tokens belong to the context (not the question, [SEP] or padding): the tokens an answer
    span may use. Works on numpy arrays and torch tensors alike (training uses the same definition)."""
    return (token_type_ids == 1) & (attention_mask == 1) & (input_ids != sep_id)


def best_spans(
    starts: np.ndarray, ends: np.ndarray, ctx: np.ndarray, max_tokens: int
) -> list[tuple[int, int, float, float, float]]:
    """Per window: (start token, end token, start + end logit, CLS logit, probability of the span among all spans
    of at most ``max_tokens`` context tokens); start -1 when the window has no context token.

    Vectorised over windows: each start is paired with the best end within ``max_tokens`` (a sliding window),
    and the softmax normaliser over all spans is sum_i exp(s_i) * sum_{i <= j < i + L} exp(e_j).
    """
    f, n = starts.shape
    neg = np.float32(-1e9)
    s = np.where(ctx, starts, neg).astype(np.float32)
    e = np.where(ctx, ends, neg).astype(np.float32)
    L = max_tokens
    e_pad = np.concatenate([e, np.full((f, L - 1), neg, dtype=np.float32)], axis=1)
    win = np.lib.stride_tricks.sliding_window_view(e_pad, L, axis=1)  # (f, n, L): ends j = i .. i+L-1
    best_off = win.argmax(axis=2)  # (f, n)
    best_end = np.take_along_axis(win, best_off[..., None], axis=2)[..., 0]
    total = s + best_end
    si = total.argmax(axis=1)
    rows = np.arange(f)
    score = total[rows, si]
    ei = si + best_off[rows, si]
    # log of sum over all valid spans of exp(s_i + e_j), computed stably per window
    m_s = s.max(axis=1, keepdims=True)
    m_e = e.max(axis=1, keepdims=True)
    ex = np.exp(np.clip(e_pad - m_e, -80, 0)) * (e_pad > neg / 2)
    csum = np.concatenate([np.zeros((f, 1), dtype=np.float64), np.cumsum(ex, axis=1, dtype=np.float64)], axis=1)
    wsum = csum[:, L : L + n] - csum[:, :n]  # sum_{j=i}^{i+L-1} exp(e_j - m_e)
    es = np.exp(np.clip(s - m_s, -80, 0)) * (s > neg / 2)
    z = (es * wsum).sum(axis=1)
    log_z = np.log(np.maximum(z, 1e-30)) + m_s[:, 0] + m_e[:, 0]
    prob = np.exp(np.minimum(0.0, score - log_z))
    null = starts[:, 0] + ends[:, 0]
    has = ctx.any(axis=1)
    return [
        (int(si[k]), int(ei[k]), float(score[k]), float(null[k]), float(prob[k])) if has[k] else (-1, -1, 0.0, 0.0, 0.0)
        for k in range(f)
    ]


_TRAIL = " \t\n.,;:!?\"'”’)]"
_LEAD = " \t\n,;:\"'“‘([]"


def clean_span(text: str, start: int, end: int, lo: int, hi: int) -> tuple[int, int]:
    """Widen a sub-word span to whole words (letters and digits joined by "_", "." or "/" are one word: a file
    name, a function, a version number, a path), keep it inside one paragraph, trim surrounding whitespace and
    punctuation, keep the dot of an abbreviation ("U.S.", "Inc.") and close a quotation the span opens when its
    closing mark follows at once."""
    while start > lo and text[start].isalnum():
        if text[start - 1].isalnum():
            start -= 1
        elif text[start - 1] in _JOINERS and start - 2 >= lo and text[start - 2].isalnum():
            start -= 2  # "py" of "ninja_syntax.py": a file, function or version is one word
        else:
            break
    while end < hi and text[end - 1].isalnum():
        if text[end].isalnum():
            end += 1
        elif text[end] in _JOINERS and end + 1 < hi and text[end + 1].isalnum():
            end += 2  # "original_name" of "original_name.bz2"
        else:
            break
    if "\n\n" in text[start:end]:  # a span across a paragraph break (a heading and its body): the longest part,
        pieces, pos = [], start  # the later one on a tie (a heading comes before the paragraph it names)
        for piece in text[start:end].split("\n\n"):
            pieces.append((len(piece.strip()), pos, pos + len(piece)))
            pos += len(piece) + 2
        _, start, end = max(pieces, key=lambda p: (p[0], p[1]))
    while start < end and text[start] in _LEAD:
        start += 1
    while end > start and text[end - 1] in _TRAIL:
        if text[end - 1] == ")" and "(" in text[start:end]:
            break
        if text[end - 1] == "." and _ABBREVIATION.search(text, max(lo, end - 12), end):
            break
        end -= 1
    for open_q, close_q in _QUOTES:
        inside = text[start:end]
        if inside.count(open_q) > inside.count(close_q):  # “... without its closing mark
            j = end
            while j < min(hi, end + 3) and text[j] in ".,;:!? ":
                j += 1
            if j < hi and text[j] == close_q:
                end = j + 1
    return start, end


_ABBREVIATION = re.compile(
    r"(?:\b(?:[A-Za-z]\.){2,}|\b(?:Inc|Ltd|Co|Corp|Jr|Sr|Dr|Mr|Mrs|Ms|St|Mt|vs|etc|Calif|Gen|Gov|Sen)\.)$"
)
_QUOTES = (("“", "”"), ("‘", "’"), ("«", "»"))
_JOINERS = "_./"


_load_lock = threading.Lock()


@lru_cache(maxsize=4)
def _cached_reader(settings: SpanReaderSettings) -> SpanReader:
    return SpanReader(settings=settings)


def load_reader(settings: SpanReaderSettings | None = None) -> SpanReader:
    """The shipped reader (loaded once per process and settings); ReaderError when absent or damaged."""
    with _load_lock:
        return _cached_reader(settings or SpanReaderSettings())


def evidence(query: Query, raw: list[dict], view: IndexView) -> None:
    """Add the near-miss evidence of ``qa.confidence`` to each raw span: ``sent_cover``, ``ent_cover`` and
    ``support`` (computed the same way when the confidence model is fit, ``train.calibrate``)."""
    q_terms = query.term_list()
    idf = view.term_idf(q_terms)
    ents = question_entities(query.text)
    spans = [r["text"][r["start"] : r["end"]] for r in raw]
    for i, r in enumerate(raw):
        sent = r["sentence"]
        r["sent_cover"] = coverage(q_terms, r["text"][min(sent.start, r["start"]) : max(sent.end, r["end"])], idf)
        r["ent_cover"] = entity_coverage(ents, r["hit"].passage.text)
        r["support"] = support(spans[i], spans[:i] + spans[i + 1 :])
