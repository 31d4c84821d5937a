"""The shipped extractive span reader: all-MiniLM-L6-v2 + a start/end head trained on SQuAD v1.1.

Weights live in ``qa/models/reader`` as int8 (per-row scales) safetensors, checksum-verified at load,
and are expanded into a ``BertForQuestionAnswering`` built from the bundled encoder's config, so a
fresh install needs no download. ``train/train_reader.py`` trains it, ``train/export_reader.py`` ships it.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from qa.checksum import sha256_file
from qa.errors import ReaderError
from qa.types import Hit

MODEL_DIR = Path(__file__).resolve().parent / "models" / "reader"
WEIGHTS = "reader-int8.safetensors"
META = "reader.json"


def quantize_state_dict(state: dict) -> dict[str, np.ndarray]:
    """fp32 state dict -> int8 matrices with per-row float16 scales; vectors kept as float16."""
    out: dict[str, np.ndarray] = {}
    for name, t in state.items():
        a = t.detach().cpu().float().numpy()
        if a.ndim == 2 and a.size >= 4096:
            scale = np.abs(a).max(axis=1, keepdims=True) / 127.0
            scale[scale == 0] = 1.0
            out[name + ".q8"] = np.clip(np.round(a / scale), -127, 127).astype(np.int8)
            out[name + ".scale"] = scale.astype(np.float16)
        else:
            out[name + ".f16"] = a.astype(np.float16)
    return out


def dequantize_state_dict(arrays: dict[str, np.ndarray]) -> dict:
    import torch

    state = {}
    for key, a in arrays.items():
        if key.endswith(".q8"):
            name = key[:-3]
            state[name] = torch.from_numpy(a.astype(np.float32) * arrays[name + ".scale"].astype(np.float32))
        elif key.endswith(".f16"):
            state[key[:-4]] = torch.from_numpy(a.astype(np.float32))
    return state


@dataclass
class SpanPrediction:
    """Best span of one reading: document offsets, scores and calibrated confidence."""

    hit: Hit
    start: int  # document offsets
    end: int
    score: float  # start + end logit
    null_score: float  # CLS start + end logit of the same window
    prob: float  # softmax probability of the span among the window's candidates
    confidence: float


class SpanReader:
    """Scores answer spans inside passages with the shipped model."""

    def __init__(
        self,
        model_dir: Path = MODEL_DIR,
        max_length: int = 384,
        stride: int = 128,
        max_answer_tokens: int = 30,
        runtime: str | None = None,
    ):
        import torch
        from safetensors.numpy import load_file
        from transformers import AutoConfig, AutoTokenizer, BertForQuestionAnswering

        from qa.embed import model_path

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
        self.runtime = runtime or self.meta.get("runtime", "fp32")
        if self.runtime == "dynamic-int8":  # int8 matmuls on CPU (chosen by measurement, see README)
            self.model = torch.ao.quantization.quantize_dynamic(self.model, {torch.nn.Linear}, dtype=torch.qint8)
        self.torch = torch
        self.max_length = max_length
        self.stride = stride
        self.max_answer_tokens = max_answer_tokens
        cal = self.meta.get("calibration", {})
        self.cal = (
            float(cal.get("a", 1.0)),
            float(cal.get("b", 0.0)),
            float(cal.get("c", 0.0)),
            float(cal.get("d", 0.0)),
        )
        self._lock = threading.Lock()

    def confidence(self, score: float, null_score: float, prob: float, rank: int) -> float:
        """Calibrated probability that the span is a correct answer (logistic model fit on SQuAD v2 dev half a)."""
        a, b, c, d = self.cal
        z = a * (score - null_score) + b * prob + c / max(1, rank) + d
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def predict(self, question: str, contexts: list[str]) -> list[tuple[int, int, float, float, float] | None]:
        """Best (char_start, char_end, score, null_score, prob) inside each context, or None."""
        if not contexts:
            return []
        enc = self.tokenizer(
            [question] * len(contexts),
            contexts,
            truncation="only_second",
            max_length=self.max_length,
            stride=self.stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            padding=True,
            return_tensors="pt",
        )
        sample_map = enc.pop("overflow_to_sample_mapping").tolist()
        offsets = enc.pop("offset_mapping").tolist()
        with self._lock, self.torch.inference_mode():
            out = self.model(**{k: v for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")})
        starts = out.start_logits.float().numpy()
        ends = out.end_logits.float().numpy()
        best: list[tuple[int, int, float, float, float] | None] = [None] * len(contexts)
        n = starts.shape[1]
        i, j = np.indices((n, n))
        band = (j >= i) & (j - i < self.max_answer_tokens)  # end >= start, at most max_answer_tokens long
        for f, ci in enumerate(sample_map):
            seq = enc.sequence_ids(f)
            ctx = np.array([s == 1 for s in seq])
            if not ctx.any():
                continue
            s_log = np.where(ctx, starts[f], -1e9)
            e_log = np.where(ctx, ends[f], -1e9)
            m = np.where(band, s_log[:, None] + e_log[None, :], -1e9)
            flat = int(np.argmax(m))
            si, ei = divmod(flat, n)
            score = float(m[si, ei])
            valid = m[m > -1e8]
            prob = float(1.0 / np.exp(valid - score).sum()) if valid.size else 0.0
            null = float(starts[f][0] + ends[f][0])
            cs, ce = offsets[f][si][0], offsets[f][ei][1]
            if ce <= cs:
                continue
            if best[ci] is None or score > best[ci][2]:
                best[ci] = (cs, ce, score, null, prob)
        return best

    def best_span(self, question: str, hits: list[Hit], index) -> SpanPrediction | None:
        """Read the passages of ``hits`` and return the most confident span (document offsets)."""
        preds = self.predict(question, [h.passage.text for h in hits])
        best: SpanPrediction | None = None
        for hit, p in zip(hits, preds, strict=True):
            if p is None:
                continue
            cs, ce, score, null, prob = p
            text = index.documents[hit.passage.doc_id].text
            start, end = clean_span(
                text, hit.passage.start + cs, hit.passage.start + ce, hit.passage.start, hit.passage.end
            )
            if end <= start:
                continue
            conf = self.confidence(score, null, prob, hit.rank)
            if best is None or conf > best.confidence:
                best = SpanPrediction(hit, start, end, score, null, prob, conf)
        return best


_TRAIL = " \t\n.,;:!?\"'”’)]"
_LEAD = " \t\n,;:\"'“‘([]"


def clean_span(text: str, start: int, end: int, lo: int, hi: int) -> tuple[int, int]:
    """Widen a sub-word span to whole words and trim surrounding whitespace and punctuation."""
    while start > lo and text[start - 1].isalnum() and text[start].isalnum():
        start -= 1
    while end < hi and text[end - 1].isalnum() and text[end].isalnum():
        end += 1
    while start < end and text[start] in _LEAD:
        start += 1
    while end > start and text[end - 1] in _TRAIL:
        if text[end - 1] == ")" and "(" in text[start:end]:
            break
        end -= 1
    return start, end


_load_lock = threading.Lock()


@lru_cache(maxsize=1)
def _cached_reader() -> SpanReader:
    return SpanReader()


def load_reader() -> SpanReader:
    """The shipped reader (loaded once per process); ReaderError when absent or damaged."""
    with _load_lock:
        return _cached_reader()
