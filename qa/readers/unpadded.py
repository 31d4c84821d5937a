"""The reader's forward pass with its matrix products over real tokens only (no padding).

A batch of windows is padded to its longest window; in ``answer()`` on SQuAD passages 14% of the tokens the
reader computes are padding (two or three windows of different lengths). Every matrix product of a BERT layer
(query/key/value, attention output, feed-forward) works token by token, so this forward gathers the real
tokens into one ``(tokens, hidden)`` matrix for those products and scatters them back into the padded
``(batch, heads, width, head)`` layout only for the attention itself, which needs the windows apart. Same
weights and the same fp32 arithmetic as ``BertForQuestionAnswering`` (start/end logits agree to ~1e-5; padding
positions get logit 0, which ``context_mask`` excludes anyway). The query, key and value projections run as one
product. It is frozen with TorchScript like the padded graph (``index/torchscript.py``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class UnpaddedBertQA(torch.nn.Module):
    """Start and end logits of a ``BertForQuestionAnswering`` (eval mode), computed without padding tokens."""

    def __init__(self, model) -> None:
        super().__init__()
        cfg = model.config
        if cfg.hidden_act != "gelu" or cfg.position_embedding_type != "absolute":
            raise ValueError(f"unsupported BERT variant ({cfg.hidden_act}, {cfg.position_embedding_type})")
        self.embeddings = model.bert.embeddings
        self.layers = model.bert.encoder.layer
        self.qa_outputs = model.qa_outputs
        self.heads = cfg.num_attention_heads
        self.hidden = cfg.hidden_size
        qkv = [layer.attention.self for layer in self.layers]
        self.qkv_weight = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.cat([a.query.weight, a.key.weight, a.value.weight])) for a in qkv]
        )
        self.qkv_bias = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.cat([a.query.bias, a.key.bias, a.value.bias])) for a in qkv]
        )

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
        for i, layer in enumerate(self.layers):
            qkv = F.linear(h, self.qkv_weight[i], self.qkv_bias[i])
            padded = qkv.new_zeros(batch * width, 3 * hidden).index_copy(0, real, qkv)
            q, k, v = padded.view(batch, width, 3, heads, hidden // heads).permute(2, 0, 3, 1, 4)
            ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=keys)
            ctx = ctx.transpose(1, 2).reshape(batch * width, hidden).index_select(0, real)
            out = layer.attention.output
            h = out.LayerNorm(out.dense(ctx) + h)
            ffn = layer.output.dense(F.gelu(layer.intermediate.dense(h)))
            h = layer.output.LayerNorm(ffn + h)
        logits = self.qa_outputs(h)
        logits = logits.new_zeros(batch * width, 2).index_copy(0, real, logits).view(batch, width, 2)
        return logits[..., 0], logits[..., 1]
