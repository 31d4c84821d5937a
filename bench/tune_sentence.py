"""Tune the sentence scorer (fallback reader) on SQuAD v1.1 dev half a: supporting-sentence hit rate.

    python bench/tune_sentence.py

For each weighting of cosine similarity, idf-weighted term overlap and retrieval rank, the share of questions
whose chosen sentence contains a gold answer (same retrieval for all, top 3 passages read).
"""

from __future__ import annotations

import numpy as np
from common import DATA, OUT, load_squad, md_table, save

from index.store import IndexSettings, build_index
from qa.embed import get_encoder
from qa.pipeline import QASettings
from qa.read import SentenceScorer, SentenceScorerSettings
from qa.retrieve import Retriever


def main() -> None:
    docs, qs = load_squad(DATA / "squad" / "dev-v1.1.half-a.json")
    idx, _ = build_index(docs, OUT / "cache" / "squad11a-sv-4-1", IndexSettings(sentence_vectors=True), progress=True)
    enc = get_encoder()
    qv = enc.encode([q.question for q in qs], batch_size=128)
    ret = Retriever(idx, enc, QASettings().fusion)
    hits = [ret.search(q.question, 5, query_vec=v) for q, v in zip(qs, qv, strict=True)]
    grid = [(c, 1 - c, r) for c in (1.0, 0.8, 0.6, 0.5, 0.4, 0.2, 0.0) for r in (0.0, 0.1)]
    rows, data = [], []
    for w_cos, w_ov, w_rank in grid:
        scorer = SentenceScorer(idx, SentenceScorerSettings(w_cos, w_ov, w_rank, passages=3))
        ok = 0
        for q, v, h in zip(qs, qv, hits, strict=True):
            c = scorer.score(q.question, v, h)
            if c:
                text = idx.documents[c[0].hit.passage.doc_id].text[c[0].start : c[0].end]
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
