"""The reader's forward pass with its matrix products over real tokens only (no padding), in fp32 or int8.

A batch of windows is padded to its longest window; in ``answer()`` on SQuAD passages 14% of the tokens the
reader computes are padding (two or three windows of different lengths). Every matrix product of a BERT layer
(query/key/value, attention output, feed-forward) works token by token, so this forward gathers the real
tokens into one ``(tokens, hidden)`` matrix for those products and scatters them back into the padded
``(batch, heads, width, head)`` layout only for the attention itself, which needs the windows apart. In fp32
it has the same weights and arithmetic as ``BertForQuestionAnswering`` (start/end logits agree to ~1e-5; padding
positions get logit 0, which ``context_mask`` excludes anyway). The query, key and value projections run as one
product. The products' rows (real tokens) are padded with zero rows to a multiple of ``ROWS``: oneDNN builds a
kernel for every matrix shape it meets and keeps the last 1,024, and with one row count per token count a reader
that meets varied passages rebuilt its kernels on most calls (a third of the forward pass in bf16). It is frozen with TorchScript like the padded graph (``index/torchscript.py``).

``int8=True`` runs the four matrix products of every layer in int8 (``Int8Linear``): int8 weights per output
channel, which are exactly the shipped int8 weights (``reader-int8.safetensors`` stores per-row int8 with their
scales, so quantizing the expanded weights again gives back the same integers), times int8 activations quantized
symmetrically per token (each token's row of the product's input gets its own scale, max|x|/127), multiplied with
32-bit sums (``torch._int_mm``: exact on every CPU, VNNI where there is one) and scaled back per token and channel.
A scale per token instead of one per call (PyTorch's dynamic int8 layers) keeps a token with a few large values
from coarsening every other token's grid: on all 5,397 gold paragraphs of SQuAD dev half a the int8 reader loses
0.08 F1 to fp32 this way, 0.36 with PyTorch's per-call scales, at the same speed. Attention, layer norms, GELU and
the answer head stay fp32.

``bf16=True`` runs the whole graph in bfloat16 (weights, activations, attention; the logits come back as fp32).
On a CPU with AVX512-BF16 or AMX the matrix products and the attention use those instructions and every
elementwise pass moves half the bytes, so it is faster than the int8 graph there, whose per-token quantizing and
rescaling passes cost about as much as its products; its logits are also closer to fp32 than int8's. Elsewhere
bf16 is emulated and slow, so ``SpanReader`` picks it only on such CPUs (docs/reader.md has the numbers).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from docqa.qa.readers.quantize import quantize_rows

ROWS = 16  # the products' row count is padded to a multiple of this


class Int8Linear(torch.nn.Module):
    """``y = x W^T + b`` with ``W`` in int8 per output channel and ``x`` quantized to int8 per row (token)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__()
        q, scale = quantize_rows(weight.detach().cpu().float().numpy())  # the reader file's own per-row int8
        # (in, out) int8: the layout torch._int_mm multiplies
        self.register_buffer("weight", torch.from_numpy(q).t().contiguous())
        self.register_buffer("scale", torch.from_numpy(scale[:, 0]).contiguous())
        self.register_buffer("bias", bias.detach().float().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # max |x| per row from max and min (no |x| temporary); in-place rounding: fewer large temporaries
        row = torch.maximum(x.amax(dim=1, keepdim=True), -x.amin(dim=1, keepdim=True)).clamp_min(1e-12) / 127.0
        q = (x * row.reciprocal()).round_().to(torch.int8)
        return torch._int_mm(q, self.weight).float().mul_(row).mul_(self.scale).add_(self.bias)


def int8_linear(weight: torch.Tensor, bias: torch.Tensor) -> torch.nn.Module:
    """The int8 form of a linear layer (``Int8Linear``); raises RuntimeError where int8 products do not run."""
    layer = Int8Linear(weight, bias)
    with torch.inference_mode():
        layer(torch.ones(2, weight.shape[1]))  # fails here, at load, if this build of PyTorch lacks the kernel
    return layer


class UnpaddedBertQA(torch.nn.Module):
    """Start and end logits of a ``BertForQuestionAnswering`` (eval mode), computed without padding tokens;
    ``int8``: the layers' matrix products in int8 with a scale per token (``Int8Linear``, see the module docstring);
    ``bf16``: everything in bfloat16 on a copy of the model (``model`` itself stays fp32)."""

    def __init__(self, model, int8: bool = False, bf16: bool = False) -> None:
        super().__init__()
        cfg = model.config
        if cfg.hidden_act != "gelu" or cfg.position_embedding_type != "absolute":
            raise ValueError(f"unsupported BERT variant ({cfg.hidden_act}, {cfg.position_embedding_type})")
        if int8 and bf16:
            raise ValueError("choose int8 or bf16, not both")
        if bf16:
            model = copy.deepcopy(model).to(torch.bfloat16)
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
        n = real.shape[0]
        pad = (ROWS - n % ROWS) % ROWS  # zero rows so that the products see few distinct shapes (module docstring)
        emb = self.embeddings
        positions = torch.arange(width, device=input_ids.device).unsqueeze(0).expand(batch, width)
        x = emb.word_embeddings(input_ids) + emb.position_embeddings(positions)
        x = emb.LayerNorm(x + emb.token_type_embeddings(token_type_ids))
        h = F.pad(x.reshape(batch * width, hidden).index_select(0, real), (0, 0, 0, pad))  # (tokens + pad, hidden)
        keys = attention_mask.bool()[:, None, None, :]  # attend to real tokens of the same window only
        for layer, (qkv_p, out_p, in_p, ffo_p) in zip(self.layers, self.products, strict=True):
            qkv = qkv_p(h).narrow(0, 0, n)
            padded = qkv.new_zeros(batch * width, 3 * hidden).index_copy(0, real, qkv)
            q, k, v = padded.view(batch, width, 3, heads, hidden // heads).permute(2, 0, 3, 1, 4)
            ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=keys)
            ctx = F.pad(ctx.transpose(1, 2).reshape(batch * width, hidden).index_select(0, real), (0, 0, 0, pad))
            out = layer.attention.output
            h = out.LayerNorm(out_p(ctx) + h)
            h = layer.output.LayerNorm(ffo_p(F.gelu(in_p(h))) + h)
        logits = self.qa_outputs(h.narrow(0, 0, n)).float()
        logits = logits.new_zeros(batch * width, 2).index_copy(0, real, logits).view(batch, width, 2)
        return logits[..., 0], logits[..., 1]
