"""Tune the sentence scorer (fallback reader) on SQuAD v1.1 dev half a: supporting-sentence hit rate.

    python bench/tune_sentence.py

For each weighting of cosine similarity, idf-weighted term overlap and retrieval rank, the share of questions
whose chosen sentence contains a gold answer (same retrieval for all, top 3 passages read).
"""

from __future__ import annotations

import numpy as np
from common import cached_index, md_table, save, squad11a

from index.encoder import get_encoder
from index.text import tokenize
from qa.readers import Query
from qa.readers.sentence import SentenceReader, SentenceReaderSettings
from qa.retrieve import Retriever
from qa.settings import QASettings


class MemoEncoder:
    """The encoder with a memory of sentences already embedded (every grid point reads the same sentences)."""

    def __init__(self, enc) -> None:
        self.enc = enc
        self.memo: dict[str, np.ndarray] = {}

    def encode(self, texts: list[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in self.memo]
        if todo:
            self.memo.update(zip(todo, self.enc.encode(todo), strict=True))
        return np.stack([self.memo[t] for t in texts])


def main() -> None:
    docs, qs = squad11a()
    _, idx = cached_index("squad11a", docs)
    enc = get_encoder()
    qv = enc.encode([q.question for q in qs], batch_size=128)
    ret = Retriever(enc, QASettings().fusion)
    hits = [ret.search(idx, q.question, 5, query_vec=v) for q, v in zip(qs, qv, strict=True)]
    queries = [Query(q.question, v, tuple(tokenize(q.question))) for q, v in zip(qs, qv, strict=True)]
    memo = MemoEncoder(enc)
    grid = [(c, 1 - c, r) for c in (1.0, 0.8, 0.6, 0.5, 0.4, 0.2, 0.0) for r in (0.0, 0.1)]
    rows, data = [], []
    for w_cos, w_ov, w_rank in grid:
        reader = SentenceReader(memo, SentenceReaderSettings(w_cos, w_ov, w_rank, passages=3))  # type: ignore[arg-type]
        ok = 0
        for q, query, h in zip(qs, queries, hits, strict=True):
            c = reader.read(query, h, idx)
            if c:
                text = idx.document(c[0].doc_id).text[c[0].start : c[0].end]
                ok += any(g in text for g in q.answers)
        rate = ok / len(qs)
        rows.append([w_cos, round(w_ov, 2), w_rank, rate])
        data.append({"w_cos": w_cos, "w_overlap": w_ov, "w_rank": w_rank, "sentence_hit": rate})
    best = max(data, key=lambda d: d["sentence_hit"])
    md = f"### Sentence scorer on SQuAD v1.1 dev half a ({len(qs)} questions): supporting-sentence hit rate\n\n"
    md += md_table(["w_cos", "w_overlap", "w_rank", "hit rate"], rows)
    md += f"\n\nBest: {best}"
    save(
        "tune_sentence",
        md,
        {
            "grid": data,
            "best": best,
            "hit_rate_std": float(np.sqrt(best["sentence_hit"] * (1 - best["sentence_hit"]) / len(qs))),
        },
    )


if __name__ == "__main__":
    main()
