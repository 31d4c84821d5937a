"""Frozen TorchScript graphs of the bundled transformer models, for CPU inference.

Tracing a Hugging Face model and freezing it (weights folded into the graph, oneDNN-fused kernels) runs the same
fp32 arithmetic as eager PyTorch with less Python and dispatch overhead per operator (docs/performance.md);
the spans are the same.
A traced graph replays the branches taken on its example, so the example is a padded batch
(the attention mask is used) and the result is checked against eager PyTorch on a padded and an unpadded batch;
if tracing fails or disagrees, the caller keeps eager PyTorch.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence

log = logging.getLogger(__name__)

TOLERANCE = 1e-4


def example_batch(lengths: Sequence[int], vocab_floor: int = 1000, seed: int = 0) -> tuple:
    """(input_ids, attention_mask, token_type_ids) of a batch whose rows have ``lengths`` real tokens, padded."""
    import torch

    g = torch.Generator().manual_seed(seed)
    width = max(lengths)
    ids = torch.randint(vocab_floor, vocab_floor + 5000, (len(lengths), width), generator=g)
    mask = torch.zeros(len(lengths), width, dtype=torch.long)
    types = torch.zeros(len(lengths), width, dtype=torch.long)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1
        ids[i, n:] = 0
        types[i, n // 2 : n] = 1
    ids[:, 0] = 101
    return ids, mask, types


def _outputs(out) -> tuple:
    if isinstance(out, dict):  # a Hugging Face ModelOutput is a dict (None fields left out); so is a traced output
        return tuple(out.values())
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def freeze(model, reference=None, tolerance: float = TOLERANCE) -> Callable | None:
    """A frozen TorchScript version of ``model`` (eval mode, called with input_ids, attention_mask,
    token_type_ids) returning the same tuple of tensors, or None when tracing fails or disagrees with eager
    ``reference`` (default: ``model`` itself; another module that must compute the same outputs otherwise) by more
    than ``tolerance`` on any real token."""
    import torch

    model = model.eval()
    reference = model if reference is None else reference.eval()
    example = example_batch([24, 17])
    checks = [example_batch([40, 33, 9], seed=1), example_batch([12], seed=2)]
    try:
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TracerWarnings about the branches baked in: checked below instead
            traced = torch.jit.freeze(torch.jit.trace(model, example, strict=False, check_trace=False))
            for batch in checks:
                want = [t for t in _outputs(reference(*batch)) if isinstance(t, torch.Tensor)]
                got = [t for t in _outputs(traced(*batch)) if isinstance(t, torch.Tensor)]
                mask = batch[1].bool()
                for w, o in zip(want, got, strict=True):
                    if w.shape != o.shape:
                        raise ValueError(f"traced output shape {tuple(o.shape)} != {tuple(w.shape)}")
                    keep = mask if w.shape[:2] == mask.shape else torch.ones_like(w, dtype=torch.bool)
                    if w.dim() > keep.dim():
                        keep = keep[..., None].expand_as(w)
                    diff = float((w - o).abs()[keep].max()) if keep.any() else 0.0
                    if not diff <= tolerance:  # NaN fails too
                        raise ValueError(f"traced outputs differ from eager by {diff:.2e}")
    except Exception as e:  # noqa: BLE001 - any failure: eager PyTorch stays, slower but correct
        log.warning("TorchScript tracing failed (%s); using eager PyTorch", e)
        return None

    def run(input_ids, attention_mask, token_type_ids) -> tuple:
        return _outputs(traced(input_ids, attention_mask, token_type_ids))

    return run
