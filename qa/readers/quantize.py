"""The reader file's int8 format: each weight matrix as symmetric int8 per row with a float scale per row.

Shared by the reader loader (``span.py``), the int8 runtime (``unpadded.py``) and the export of a trained reader.
"""

from __future__ import annotations

import numpy as np


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
    import torch  # only the loaders need torch

    state = {}
    for key, a in arrays.items():
        if key.endswith(".q8"):
            name = key[:-3]
            state[name] = torch.from_numpy(a.astype(np.float32) * arrays[name + ".scale"].astype(np.float32))
        elif key.endswith(".f16"):
            state[key[:-4]] = torch.from_numpy(a.astype(np.float32))
    return state
