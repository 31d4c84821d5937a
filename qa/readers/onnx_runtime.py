"""The span reader in ONNX Runtime: a fused fp32 graph, or the same graph with int8 matrix products.

The shipped weights stay the one reader file in the repository; the ONNX graph is exported from them on first
use and cached outside the source tree (``~/.cache/docqa/reader-onnx/<weights sha256>-<kind>-fused.onnx``), so a
new reader file never runs with a stale graph.

The export uses eager attention so that ONNX Runtime's transformer optimizer can fuse each layer's attention
(query/key/value projections, softmax, context) into one ``Attention`` operator, and layer norms, GELU and the
embeddings into theirs. ``onnx-int8`` then quantizes only the remaining matrix products (attention output and
the feed-forward layers: int8 weights per output channel, activations quantized per call) and keeps the fused
attention in fp32: with the gold paragraph on all 5,397 SQuAD half-a questions that costs 0.4 F1 (80.1 vs 79.7),
where quantizing attention as well cost 0.6 on 900 of them and the unfused int8 graph 1.0 (README, The span
reader). A cached graph that cannot be loaded (a truncated file) is exported again.
"""

from __future__ import annotations

import copy
import logging
import os
import threading
from pathlib import Path

import numpy as np

from index.paths import cache_dir

log = logging.getLogger(__name__)
_lock = threading.Lock()


def graph_path(sha256: str, kind: str) -> Path:
    """The cached graph of the reader weights ``sha256`` in ``kind`` ("onnx-fp32" or "onnx-int8")."""
    return cache_dir("reader-onnx") / f"{sha256[:16]}-{kind}-fused.onnx"


def _export_fused(model, out: Path) -> None:
    """Export ``model`` (a BertForQuestionAnswering) with eager attention and fuse it for the CPU into ``out``."""
    from onnxruntime.transformers import optimizer

    from index.encoder import export_onnx

    eager = copy.deepcopy(model).eval()
    eager.set_attn_implementation("eager")  # the optimizer recognises eager attention, not SDPA
    raw = out.with_suffix(f".{os.getpid()}.raw.onnx")
    try:
        export_onnx(eager, raw, ["start_logits", "end_logits"], seq=64)
        cfg = model.config
        fused = optimizer.optimize_model(
            str(raw), model_type="bert", num_heads=cfg.num_attention_heads, hidden_size=cfg.hidden_size
        )
        ops = fused.get_fused_operator_statistics()
        if ops.get("Attention", 0) != cfg.num_hidden_layers:
            log.warning(
                "ONNX reader: attention fused in %s of %s layers", ops.get("Attention", 0), cfg.num_hidden_layers
            )
        tmp = out.with_suffix(f".{os.getpid()}.tmp.onnx")
        fused.save_model_to_file(str(tmp))
        os.replace(tmp, out)
    finally:
        raw.unlink(missing_ok=True)


def export(model, sha256: str, kind: str) -> Path:
    """The ONNX file of ``model`` ("onnx-fp32" or "onnx-int8"), exported, fused (and quantized) once and cached."""
    out = graph_path(sha256, kind)
    with _lock:
        if out.exists():
            return out
        out.parent.mkdir(parents=True, exist_ok=True)
        fp32 = graph_path(sha256, "onnx-fp32")
        if not fp32.exists():
            log.info("exporting the reader to ONNX (once): %s", fp32)
            _export_fused(model, fp32)
        if kind == "onnx-int8":
            import onnx
            from onnxruntime.quantization import QuantType, quantize_dynamic

            tmp = out.with_suffix(f".{os.getpid()}.tmp.onnx")
            quantize_dynamic(
                str(fp32),
                str(tmp),
                weight_type=QuantType.QInt8,
                per_channel=True,
                op_types_to_quantize=["MatMul"],  # the fused Attention stays fp32
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            )
            os.replace(tmp, out)
        return out


def load(model, sha256: str, kind: str, threads: int = 0) -> OnnxQA:
    """An ONNX Runtime session of ``model`` in ``kind``; a cached graph that fails to load is exported again once."""
    path = export(model, sha256, kind)
    try:
        return OnnxQA(path, threads)
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types for a damaged file
        log.warning("cached ONNX reader %s cannot be loaded (%s); exporting it again", path, exc)
        with _lock:
            path.unlink(missing_ok=True)
            graph_path(sha256, "onnx-fp32").unlink(missing_ok=True)  # int8 is quantized from it: rebuild both
        return OnnxQA(export(model, sha256, kind), threads)


class OnnxQA:
    """Start/end logits from an ONNX Runtime session (same inputs and outputs as the PyTorch model)."""

    def __init__(self, path: Path, threads: int = 0) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            opts.intra_op_num_threads = threads
        # no busy-waiting between runs: the question encoder (PyTorch) runs on the same cores right before each read
        # (measured in answer(): p50 51.3 vs 55.0 ms with spinning, SQuAD half a)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray, token_type_ids: np.ndarray):
        start, end = self.session.run(
            None,
            {
                "input_ids": input_ids.astype(np.int64),
                "attention_mask": attention_mask.astype(np.int64),
                "token_type_ids": token_type_ids.astype(np.int64),
            },
        )
        return start, end
