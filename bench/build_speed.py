"""Index build speed by encoder runtime, with what each stage costs and whether retrieval stays the same.

    python bench/build_speed.py [--encoders torch onnx-fp32 onnx-int8] [--repeats 2]

Same documents (the 24 SQuAD v1.1 dev half-a articles, 1,673 passages), same process, one encoder after the
other: a fresh build of a FAISS index (split into passages, embed, BM25, FAISS, write), timed per stage; the
agreement of each runtime's passage vectors with the PyTorch fp32 vectors (cosine); and recall@1/5/20 on the
5,397 half-a questions with questions embedded by the same runtime.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from common import md_table, save, squad11a

from index.backend import IndexSettings
from index.encoder import get_encoder
from index.faiss_store import FaissStore
from index.passages import make_passages


def recall(view, qs, enc, ks=(1, 5, 20)) -> dict[int, float]:
    qv = enc.encode([q.question for q in qs], batch_size=128)
    from qa.fusion import FusionSettings, fuse

    hits = {k: 0 for k in ks}
    for q, v in zip(qs, qv, strict=True):
        b = [(p, s) for p, s in view.bm25_search(q.question, 50)]
        d = [(p, s) for p, s in view.dense_search(v, 50)]
        ranked = [pid for pid, _ in fuse(b, d, FusionSettings())[: max(ks)]]
        texts = [view.passage(pid).text for pid in ranked]
        first = next((i for i, t in enumerate(texts) if any(g in t for g in q.answers)), None)
        for k in ks:
            hits[k] += first is not None and first < k
    return {k: hits[k] / len(qs) for k in ks}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--encoders", nargs="+", default=["torch", "onnx-fp32", "onnx-int8"])
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    docs, qs = squad11a()
    t = time.perf_counter()
    passages = [p for d in docs for p in make_passages(d)]
    split_s = time.perf_counter() - t
    texts = [p.text for p in passages]
    rows, res, ref = [], {}, None
    for kind in args.encoders:
        enc = get_encoder(kind)
        enc.encode(texts[:64])  # warm-up
        embed_s, build_s = [], []
        for _ in range(args.repeats):
            t = time.perf_counter()
            vecs = enc.encode(texts)
            embed_s.append(time.perf_counter() - t)
            with tempfile.TemporaryDirectory() as tmp:
                store = FaissStore(Path(tmp) / "ix", IndexSettings(encoder=kind))
                store.reset()
                t = time.perf_counter()
                stats = store.update(docs)
                build_s.append(time.perf_counter() - t)
                view = store.view()
        if ref is None:
            ref = vecs
        cos = (vecs * ref).sum(axis=1)
        r = recall(view, qs, enc)
        res[kind] = {
            "passages": len(texts),
            "embed_passages_per_s": len(texts) / statistics.median(embed_s),
            "build_passages_per_s": stats.passages / statistics.median(build_s),
            "build_s": statistics.median(build_s),
            "cosine_vs_torch_mean": float(cos.mean()),
            "cosine_vs_torch_min": float(cos.min()),
            "share_cosine_ge_0.999": float((cos >= 0.999).mean()),
            "recall": r,
        }
        rows.append(
            [
                kind,
                res[kind]["build_passages_per_s"],
                res[kind]["embed_passages_per_s"],
                float(cos.mean()),
                float(cos.min()),
                res[kind]["share_cosine_ge_0.999"],
                r[1],
                r[5],
                r[20],
            ]
        )
        print(rows[-1], flush=True)
    base = res[args.encoders[0]]["build_passages_per_s"]
    for row in rows:
        row.insert(2, row[1] / base)
    md = (
        f"### Index build by encoder runtime: {len(texts)} passages (SQuAD v1.1 half a), same run, 2 CPU cores\n\n"
        f"Sentence splitting (spaCy) alone: {split_s:.1f} s ({len(texts) / split_s:.0f} passages/s).\n\n"
    )
    md += md_table(
        [
            "encoder",
            "build passages/s",
            f"vs {args.encoders[0]}",
            "embed passages/s",
            "cosine vs torch (mean)",
            "min",
            "share >= 0.999",
            "recall@1",
            "recall@5",
            "recall@20",
        ],
        rows,
    )
    save("build_speed", md, {"results": res, "split_s": split_s})


if __name__ == "__main__":
    main()
