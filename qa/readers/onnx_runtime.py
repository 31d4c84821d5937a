"""The span reader in ONNX Runtime (fp32, or int8 weights with dynamic quantization).

The shipped weights stay the one reader file in the repository; the ONNX graph is exported from them on first
use and cached outside the source tree (``~/.cache/docqa/reader-onnx/<weights sha256>-<kind>.onnx``), so a new
reader file never runs with a stale graph.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)
_lock = threading.Lock()


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "docqa" / "reader-onnx"


def export(model, sha256: str, kind: str) -> Path:
    """The ONNX file of ``model`` ("onnx-fp32" or "onnx-int8"), exported (and quantized) once and cached."""
    import torch

    out = cache_dir() / f"{sha256[:16]}-{kind}.onnx"
    with _lock:
        if out.exists():
            return out
        out.parent.mkdir(parents=True, exist_ok=True)
        fp32 = cache_dir() / f"{sha256[:16]}-onnx-fp32.onnx"
        if not fp32.exists():
            log.info("exporting the reader to ONNX (once): %s", fp32)
            ids = torch.ones(2, 64, dtype=torch.long)
            tmp = fp32.with_suffix(f".{os.getpid()}.tmp")
            with torch.inference_mode():
                torch.onnx.export(
                    model,
                    (ids, torch.ones_like(ids), torch.zeros_like(ids)),
                    str(tmp),
                    input_names=["input_ids", "attention_mask", "token_type_ids"],
                    output_names=["start_logits", "end_logits"],
                    dynamic_axes={
                        n: {0: "batch", 1: "seq"}
                        for n in ("input_ids", "attention_mask", "token_type_ids", "start_logits", "end_logits")
                    },
                    opset_version=17,
                    dynamo=False,
                )
            os.replace(tmp, fp32)
        if kind == "onnx-int8":
            from onnxruntime.quantization import QuantType, quantize_dynamic

            tmp = out.with_suffix(f".{os.getpid()}.tmp.onnx")
            quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True)
            os.replace(tmp, out)
        return out


class OnnxQA:
    """Start/end logits from an ONNX Runtime session (same inputs and outputs as the PyTorch model)."""

    def __init__(self, path: Path, threads: int = 0) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            opts.intra_op_num_threads = threads
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
