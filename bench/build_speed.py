"""Index build speed by encoder runtime, with what each stage costs and whether retrieval stays the same.

    python -m bench.build_speed [--encoders torch onnx-fp32 onnx-int8] [--repeats 2]

Same documents (the 24 SQuAD v1.1 dev half-a articles, 1,673 passages), same process, configurations interleaved
(each repeat times every one in turn): a fresh build of a FAISS index (split into passages, embed, BM25, FAISS,
write) and a bare embedding of the passages; the agreement of each configuration's passage vectors with the
first's (cosine); and recall@1/5/20 on the 5,397 half-a questions with questions embedded by the same runtime.
The first configuration is the first encoder batching texts by characters, as builds did before they batched
by word pieces (``Encoder.batch_by_tokens``): the baseline of the build-speed target.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import hybrid_recall, md_table, save, squad11a
from docqa.index.backend import IndexSettings
from docqa.index.encoder import get_encoder
from docqa.index.faiss_store import FaissStore
from docqa.index.passages import make_passages


def recall(view, qs, enc, ks=(1, 5, 20)) -> dict[int, float]:
    return hybrid_recall(view, qs, enc.encode([q.question for q in qs], batch_size=128), ks)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--encoders", nargs="+", default=["torch", "onnx-fp32", "onnx-int8"])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--name", default="build_speed", help="results file: bench/results/NAME.md and .json")
    args = ap.parse_args()
    docs, qs = squad11a()
    t = time.perf_counter()
    passages = [p for d in docs for p in make_passages(d)]
    split_s = time.perf_counter() - t
    texts = [p.text for p in passages]
    configs = [(f"{kind}, batched by characters (before)", kind, False) for kind in args.encoders[:1]]
    configs += [(kind, kind, True) for kind in args.encoders]
    embed_s: dict[str, list[float]] = {label: [] for label, _, _ in configs}
    build_s: dict[str, list[float]] = {label: [] for label, _, _ in configs}
    vecs, views, passages_built = {}, {}, {}
    for kind in args.encoders:
        get_encoder(kind).encode(texts[:64])  # warm-up
    for _ in range(args.repeats):  # interleaved: a slow spell of the shared machine hits every configuration
        for label, kind, by_tokens in configs:
            enc = get_encoder(kind)
            enc.batch_by_tokens = by_tokens
            t = time.perf_counter()
            vecs[label] = enc.encode(texts)
            embed_s[label].append(time.perf_counter() - t)
            with tempfile.TemporaryDirectory() as tmp:
                store = FaissStore(Path(tmp) / "ix", IndexSettings(encoder=kind))
                store.reset()
                t = time.perf_counter()
                stats = store.update(docs)
                build_s[label].append(time.perf_counter() - t)
                views[label], passages_built[label] = store.view(), stats.passages
            enc.batch_by_tokens = True
    rows, res = [], {}
    ref = vecs[configs[0][0]]
    for label, kind, _ in configs:
        cos = (vecs[label] * ref).sum(axis=1)
        r = recall(views[label], qs, get_encoder(kind))
        res[label] = {
            "passages": len(texts),
            "embed_passages_per_s": len(texts) / statistics.median(embed_s[label]),
            "build_passages_per_s": passages_built[label] / statistics.median(build_s[label]),
            "build_s": statistics.median(build_s[label]),
            "cosine_vs_torch_mean": float(cos.mean()),
            "cosine_vs_torch_min": float(cos.min()),
            "share_cosine_ge_0.999": float((cos >= 0.999).mean()),
            "recall": r,
        }
        rows.append(
            [
                label,
                res[label]["build_passages_per_s"],
                res[label]["embed_passages_per_s"],
                float(cos.mean()),
                float(cos.min()),
                res[label]["share_cosine_ge_0.999"],
                r[1],
                r[5],
                r[20],
            ]
        )
        print(rows[-1], flush=True)
    base = res[configs[0][0]]["build_passages_per_s"]
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
            f"vs {configs[0][0]}",
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
    save(args.name, md, {"results": res, "split_s": split_s})


if __name__ == "__main__":
    main()
