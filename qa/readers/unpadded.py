"""The reader's forward pass with its matrix products over real tokens only (no padding), in fp32 or int8.

A batch of windows is padded to its longest window; in ``answer()`` on SQuAD passages 14% of the tokens the
reader computes are padding (two or three windows of different lengths). Every matrix product of a BERT layer
(query/key/value, attention output, feed-forward) works token by token, so this forward gathers the real
tokens into one ``(tokens, hidden)`` matrix for those products and scatters them back into the padded
``(batch, heads, width, head)`` layout only for the attention itself, which needs the windows apart. In fp32
it has the same weights and arithmetic as ``BertForQuestionAnswering`` (start/end logits agree to ~1e-5; padding
positions get logit 0, which ``context_mask`` excludes anyway). The query, key and value projections run as one
product. It is frozen with TorchScript like the padded graph (``index/torchscript.py``).

``int8=True`` runs the four matrix products of every layer as PyTorch dynamic int8 products (its x86 engine): int8
weights per output channel, which are exactly the shipped int8 weights (``reader-int8.safetensors`` stores
per-row int8 with their scales, so quantizing the expanded weights again gives back the same integers), and
activations quantized per call over the real tokens only (padding never widens their range). Attention, layer
norms, GELU and the answer head stay fp32. On CPUs with VNNI the activations use the full 8-bit range; without it
the kernel's 16-bit intermediate sums could saturate, so they use 7 bits (``reduce_range``), as PyTorch does.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F


@lru_cache(maxsize=1)
def has_vnni() -> bool:
    """Whether this CPU multiplies uint8 x int8 with 32-bit sums (AVX-512 VNNI or AVX-VNNI; Linux only)."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return "avx512_vnni" in flags or "avx_vnni" in flags


def int8_linear(weight: torch.Tensor, bias: torch.Tensor) -> torch.nn.Module:
    """A dynamic int8 linear layer with ``weight`` quantized symmetrically per output channel (scale max|w|/127)."""
    import torch.ao.nn.quantized.dynamic as nnqd

    weight, bias = weight.detach().float(), bias.detach().float()
    scale = weight.abs().amax(dim=1) / 127.0
    scale[scale == 0] = 1.0
    zero = torch.zeros(weight.shape[0], dtype=torch.long)
    with warnings.catch_warnings():  # quantized tensors are deprecated for future PyTorch releases; torch is pinned
        warnings.simplefilter("ignore", UserWarning)
        q = torch.quantize_per_channel(weight, scale.double(), zero, 0, torch.qint8)
    layer = nnqd.Linear(weight.shape[1], weight.shape[0], dtype=torch.qint8)
    layer.set_weight_bias(q, bias)
    # nnqd.Linear.forward passes reduce_range=True (7-bit activations) from its version 4 on, and the kernel's default
    # (the full 8 bits) below it: the full range only where VNNI keeps the sums exact
    layer.version = 4 if not has_vnni() else 3
    return layer


class UnpaddedBertQA(torch.nn.Module):
    """Start and end logits of a ``BertForQuestionAnswering`` (eval mode), computed without padding tokens;
    ``int8``: the layers' matrix products in dynamic int8 (see the module docstring)."""

    def __init__(self, model, int8: bool = False) -> None:
        super().__init__()
        cfg = model.config
        if cfg.hidden_act != "gelu" or cfg.position_embedding_type != "absolute":
            raise ValueError(f"unsupported BERT variant ({cfg.hidden_act}, {cfg.position_embedding_type})")
        self.embeddings = model.bert.embeddings
        self.layers = model.bert.encoder.layer
        self.qa_outputs = model.qa_outputs
        self.heads = cfg.num_attention_heads
        self.hidden = cfg.hidden_size
        self.products = torch.nn.ModuleList()  # per layer: query/key/value, attention output, feed-forward in, out
        for layer in self.layers:
            a = layer.attention.self
            qkv = torch.nn.Linear(self.hidden, 3 * self.hidden)  # the three projections as one product
            qkv.weight = torch.nn.Parameter(torch.cat([a.query.weight, a.key.weight, a.value.weight]))
            qkv.bias = torch.nn.Parameter(torch.cat([a.query.bias, a.key.bias, a.value.bias]))
            fp32 = [qkv, layer.attention.output.dense, layer.intermediate.dense, layer.output.dense]
            self.products.append(torch.nn.ModuleList([int8_linear(p.weight, p.bias) for p in fp32] if int8 else fp32))

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        batch, width = input_ids.shape
        hidden, heads = self.hidden, self.heads
        real = attention_mask.reshape(-1).nonzero().squeeze(1)  # flat positions of the real tokens
        emb = self.embeddings
        positions = torch.arange(width, device=input_ids.device).unsqueeze(0).expand(batch, width)
        x = emb.word_embeddings(input_ids) + emb.position_embeddings(positions)
        x = emb.LayerNorm(x + emb.token_type_embeddings(token_type_ids))
        h = x.reshape(batch * width, hidden).index_select(0, real)  # (tokens, hidden)
        keys = attention_mask.bool()[:, None, None, :]  # attend to real tokens of the same window only
        for layer, (qkv_p, out_p, in_p, ffo_p) in zip(self.layers, self.products, strict=True):
            qkv = qkv_p(h)
            padded = qkv.new_zeros(batch * width, 3 * hidden).index_copy(0, real, qkv)
            q, k, v = padded.view(batch, width, 3, heads, hidden // heads).permute(2, 0, 3, 1, 4)
            ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=keys)
            ctx = ctx.transpose(1, 2).reshape(batch * width, hidden).index_select(0, real)
            out = layer.attention.output
            h = out.LayerNorm(out_p(ctx) + h)
            h = layer.output.LayerNorm(ffo_p(F.gelu(in_p(h))) + h)
        logits = self.qa_outputs(h)
        logits = logits.new_zeros(batch * width, 2).index_copy(0, real, logits).view(batch, width, 2)
        return logits[..., 0], logits[..., 1]
