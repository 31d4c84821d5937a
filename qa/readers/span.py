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

from index.backend import IndexView
from index.checksum import sha256_file
from qa.answer_type import agreement
from qa.confidence import FEATURES, ConfidenceModel, candidate_features, coverage
from qa.errors import ReaderError
from qa.readers import Candidate, Query
from qa.readers.batching import MicroBatcher
from qa.types import Hit

MODEL_DIR = Path(__file__).resolve().parents[1] / "models" / "reader"
WEIGHTS = "reader-int8.safetensors"
META = "reader.json"

log = logging.getLogger(__name__)

Runtime = Literal[
    "fp32",
    "torchscript",
    "torchscript-unpadded",
    "torchscript-unpadded-int8",
    "bf16",
    "dynamic-int8",
    "onnx-fp32",
    "onnx-int8",
]
TORCHSCRIPT: tuple[Runtime, ...] = ("torchscript", "torchscript-unpadded", "torchscript-unpadded-int8")
INT8_TOLERANCE = 1.0  # start/end logits of the int8 graph vs fp32 on the check batches: 0.13-0.24 measured


@dataclass(frozen=True)
class SpanReaderSettings:
    """How the span reader reads: passages, window size, longest answer, threshold and runtime.

    ``passages``, ``threshold`` and ``runtime`` default (None) to the values chosen on SQuAD half a and shipped in
    ``reader.json``. ``micro_batch``: concurrent questions share forward passes (``qa.readers.batching``), each
    batch waiting ``batch_wait_ms`` for company first (0: batch only what is already queued). ``early_exit``:
    read the top ``early_exit_first`` passages first and stop when the best span's confidence there reaches this
    (None: the values shipped in ``reader.json``; early_exit 1.0: read all passages at once). ``micro_batch`` is
    on by default since the reader computes without padding (``torchscript-unpadded``): windows of concurrent
    questions then cost only their own tokens, and one process answers 20.0 vs 15.2 questions/s from 8 client
    threads at the same single-question latency (``bench/results/speed_microbatch.md``, 2 cores).
    ``second_read_runtime``: the TorchScript runtime of the second read (the passages read after an unsure first
    read); None: ``reader.json``'s ``second_read_runtime`` when ``runtime`` is None too (the shipped reader has none:
    its int8 graph reads everything), else ``runtime`` (a runtime chosen explicitly reads everything).
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
    second_read_runtime: Runtime | None = None

    def __post_init__(self) -> None:
        if (
            (self.passages is not None and self.passages < 1)
            or self.max_answer_tokens < 1
            or not 0 < self.stride < self.max_length
        ):
            raise ValueError(f"invalid span reader settings: {self}")
        if self.runtime is not None and self.runtime not in get_args(Runtime):
            raise ValueError(f"unknown reader runtime {self.runtime!r} (choose {', '.join(get_args(Runtime))})")
        if self.second_read_runtime is not None and self.second_read_runtime not in TORCHSCRIPT:
            raise ValueError(
                f"second_read_runtime must be a TorchScript runtime ({', '.join(TORCHSCRIPT)}), "
                f"not {self.second_read_runtime!r}"
            )
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


def quantize_rows(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A float32 matrix as symmetric int8 per row: (int8 matrix, float32 scales of shape (rows, 1), max|row|/127).
    The reader file stores these; the int8 runtime (``qa/readers/unpadded.py``) multiplies them."""
    scale = np.abs(a).max(axis=1, keepdims=True) / np.float32(127.0)
    scale[scale == 0] = 1.0
    return np.clip(np.round(a / scale), -127, 127).astype(np.int8), scale


def quantize_state_dict(state: dict) -> dict[str, np.ndarray]:
    """fp32 state dict -> int8 matrices with per-row float16 scales; vectors kept as float16."""
    out: dict[str, np.ndarray] = {}
    for name, t in state.items():
        a = t.detach().cpu().float().numpy()
        if a.ndim == 2 and a.size >= 4096:
            q, scale = quantize_rows(a)
            out[name + ".q8"] = q
            out[name + ".scale"] = scale.astype(np.float16)
        else:
            out[name + ".f16"] = a.astype(np.float16)
    return out


def dequantize_state_dict(arrays: dict[str, np.ndarray]) -> dict:
    """The inverse of :func:`quantize_state_dict` (float32 torch tensors)."""
    import torch

    state = {}
    for key, a in arrays.items():
        if key.endswith(".q8"):
            name = key[:-3]
            state[name] = torch.from_numpy(a.astype(np.float32) * arrays[name + ".scale"].astype(np.float32))
        elif key.endswith(".f16"):
            state[key[:-4]] = torch.from_numpy(a.astype(np.float32))
    return state


class SpanReader:
    """Scores answer spans inside passages with the shipped model (implements ``qa.readers.Reader``)."""

    name = "span"

    def __init__(self, model_dir: Path = MODEL_DIR, settings: SpanReaderSettings | None = None) -> None:
        import torch
        from safetensors.numpy import load_file
        from transformers import AutoConfig, AutoTokenizer, BertForQuestionAnswering

        from index.encoder import model_path

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
        self.runtime: Runtime = self.settings.runtime or self.meta.get("runtime", "fp32")
        self._onnx = None
        self._traced = None
        self._traced_second = None  # the graph of the second read, when its runtime is another one
        second = self.settings.second_read_runtime
        if second is None and self.settings.runtime is None:  # the shipped runtimes, unless one was chosen
            second = self.meta.get("second_read_runtime")
        self.second_read_runtime: Runtime = second or self.runtime
        if self.second_read_runtime != self.runtime:  # built first: dynamic-int8 below quantizes self.model in place
            self._traced_second, self.second_read_runtime = self._freeze(self.second_read_runtime)
        if self.runtime.startswith("onnx"):
            from qa.readers.onnx_runtime import load

            try:
                self._onnx = load(self.model, self.meta["sha256"], self.runtime, torch.get_num_threads())
            except Exception as exc:  # no usable graph (export, fusion or session failed): run fp32 TorchScript
                log.warning("reader runtime %s unavailable (%s); using torchscript", self.runtime, exc)
                self.runtime = "torchscript"
        if self.runtime.startswith("torchscript"):  # frozen graphs: less overhead (fp32: the same logits)
            self._traced, self.runtime = self._freeze(self.runtime)
        elif self.runtime == "dynamic-int8":  # int8 matmuls on CPU (measured: faster, less accurate; see README)
            self.model = torch.ao.quantization.quantize_dynamic(self.model, {torch.nn.Linear}, dtype=torch.qint8)
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
        if self._traced_second is None or self.second_read_runtime == self.runtime:  # one graph reads everything
            self._traced_second, self.second_read_runtime = None, self.runtime
        self._batcher = self._batcher_second = None
        if self.settings.micro_batch:  # one queue per graph; the two graphs never run at once (self._lock)
            pad = self.tokenizer.pad_token_id or 0
            self._batcher = MicroBatcher(self._locked(False), self.settings.batch_wait_ms, pad_id=pad)
            if self._traced_second is not None:
                self._batcher_second = MicroBatcher(self._locked(True), self.settings.batch_wait_ms, pad_id=pad)

    def _freeze(self, runtime: Runtime) -> tuple[Callable | None, Runtime]:
        """The frozen TorchScript graph of ``runtime`` (``index/torchscript.py``) and the runtime it really is:
        unpadded (matrix products over real tokens only, ``qa/readers/unpadded.py``) in int8 or fp32, or padded.
        Each falls back to the next when it cannot be built or disagrees with eager fp32 (int8: by more than
        ``INT8_TOLERANCE``). A None graph: eager PyTorch."""
        from index.torchscript import TOLERANCE, freeze

        if runtime in ("torchscript-unpadded-int8", "torchscript-unpadded"):
            from qa.readers.unpadded import UnpaddedBertQA

            chain: list[Runtime] = ["torchscript-unpadded"]
            if runtime == "torchscript-unpadded-int8":
                chain.insert(0, runtime)
            for candidate in chain:
                int8 = candidate.endswith("int8")
                traced = None
                try:  # None when it disagrees with eager fp32: logged
                    traced = freeze(
                        UnpaddedBertQA(self.model, int8=int8),
                        reference=self.model,
                        tolerance=INT8_TOLERANCE if int8 else TOLERANCE,
                    )
                except (ValueError, RuntimeError) as exc:  # a BERT variant it does not implement, no int8 kernels
                    log.warning("reader runtime %s unavailable (%s)", candidate, exc)
                if traced is not None:
                    return traced, candidate
        return freeze(self.model), "torchscript"

    def predict(self, question: str, contexts: Sequence[str], second: bool = False) -> list[SpanScore | None]:
        """The best span inside each context (None when no window of it has one); ``second``: read in the runtime
        of the second read (``second_read_runtime``)."""
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
        starts, ends = self.logits(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"], second)
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

    def logits(
        self, input_ids: np.ndarray, attention_mask: np.ndarray, token_type_ids: np.ndarray, second: bool = False
    ):
        """Start and end logits (numpy) of a batch of windows, in the chosen runtime (``second``: the second read's),
        micro-batched with the windows of concurrent callers unless ``micro_batch`` is off."""
        second = second and self._traced_second is not None  # otherwise one graph reads everything
        batcher = self._batcher_second if second else self._batcher
        if batcher is not None:
            return batcher(input_ids, attention_mask, token_type_ids)
        return self._locked(second)(input_ids, attention_mask, token_type_ids)

    def _locked(self, second: bool) -> Callable:
        def forward(input_ids: np.ndarray, attention_mask: np.ndarray, token_type_ids: np.ndarray):
            with self._lock:
                return self._forward(input_ids, attention_mask, token_type_ids, second)

        return forward

    def _forward(
        self, input_ids: np.ndarray, attention_mask: np.ndarray, token_type_ids: np.ndarray, second: bool = False
    ):
        t = self.torch
        if not second and self._onnx is not None:
            return self._onnx(input_ids, attention_mask, token_type_ids)
        traced = self._traced_second if second else self._traced
        if traced is not None:
            inputs = t.from_numpy(input_ids), t.from_numpy(attention_mask), t.from_numpy(token_type_ids)
            with t.inference_mode():
                start, end = traced(*inputs)[:2]
            return start.numpy(), end.numpy()
        inputs = {
            "input_ids": t.from_numpy(input_ids),
            "attention_mask": t.from_numpy(attention_mask),
            "token_type_ids": t.from_numpy(token_type_ids),
        }
        with t.inference_mode(), t.autocast("cpu", dtype=t.bfloat16, enabled=self.runtime == "bf16"):
            out = self.model(**inputs)
        return out.start_logits.float().numpy(), out.end_logits.float().numpy()

    def read(self, query: Query, hits: Sequence[Hit], view: IndexView) -> list[Candidate]:
        """The best span of each of the top ``passages`` hits with its calibrated confidence, most confident first.

        With ``early_exit`` set, the top ``early_exit_first`` passages are read first and the others only when the
        best span's confidence there is under ``early_exit`` (then the result is exactly what reading all of them
        at once gives)."""
        top = list(hits[: self.passages])
        exit_at, n_first = self.early_exit, self.early_exit_first
        if exit_at < 1.0 and len(top) > n_first:
            raw = self.spans(query, top[:n_first], view)
            first = self._score(query, raw, hits, view)
            if first and first[0].confidence >= exit_at:
                return first
            return self._score(query, raw + self.spans(query, top[n_first:], view, second=True), hits, view)
        return self._score(query, self.spans(query, top, view), hits, view)

    def spans(self, query: Query, top: list[Hit], view: IndexView, second: bool = False) -> list[dict]:
        """The best span of each passage of ``top`` (cleaned, document offsets) with the reader and retrieval scores
        the confidence model reads; passages without a span are left out."""
        preds = self.predict(query.text, [h.passage.text for h in top], second)
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
    """Widen a sub-word span to whole words, trim surrounding whitespace and punctuation, keep the dot of an
    abbreviation ("U.S.", "Inc.") and close a quotation the span opens when its closing mark follows at once."""
    while start > lo and text[start - 1].isalnum() and text[start].isalnum():
        start -= 1
    while end < hi and text[end - 1].isalnum() and text[end].isalnum():
        end += 1
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


_load_lock = threading.Lock()


@lru_cache(maxsize=4)
def _cached_reader(settings: SpanReaderSettings) -> SpanReader:
    return SpanReader(settings=settings)


def load_reader(settings: SpanReaderSettings | None = None) -> SpanReader:
    """The shipped reader (loaded once per process and settings); ReaderError when absent or damaged."""
    with _load_lock:
        return _cached_reader(settings or SpanReaderSettings())
