"""Speed and scale: answer() latency split by stage, build throughput vs bare encode, peak memory.

    python bench/speed.py                 # 1k, 10k and 100k passages, each in its own process
    python bench/speed.py --sizes 1000    # one size

Corpus: SQuAD v1.1 train paragraphs (../shared/data). 1k and 10k passages are real passages embedded by the
real model; a fresh build of up to --build-max passages (default 1k) is timed against a bare
SentenceTransformer.encode of the same passage texts, in the same process. 100k adds 90k synthetic passages (real SQuAD sentences shuffled into new passages, so BM25
sees real text); their vectors are real passage vectors plus noise, re-normalised, because embedding 100k
passages on 2 cores takes longer than the benchmark budget. Questions: SQuAD train questions whose paragraph
is in the corpus.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import DATA, OUT, md_table, save

from qa.types import Document


def squad_train():
    with gzip.open(DATA / "squad" / "train-v1.1.reconstructed.json.gz", "rt", encoding="utf-8") as fh:
        data = json.load(fh)["data"]
    paras = []
    for a in data:
        for i, p in enumerate(a["paragraphs"]):
            paras.append((f"{a['title']}-{i}", p["context"], [q["question"] for q in p["qas"]]))
    random.Random(0).shuffle(paras)
    return paras


def vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_size(n_passages: int, repeats: int, n_questions: int, dense: str, measure_build: bool) -> dict:
    import faiss
    from index.store import IndexSettings, PassageIndex, _make_faiss, build_index
    from qa.embed import get_encoder
    from qa.text import tokenize

    from qa.pipeline import QA, QASettings

    enc = get_encoder()
    paras = squad_train()
    real_target = min(n_passages, 10_000)
    docs, questions, total = [], [], 0
    from qa.passages import make_passages

    settings = IndexSettings(dense=dense)
    for pid, ctx, qs in paras:
        d = Document(pid, pid, ctx, str(hash(ctx)), pid)
        total += len(make_passages(d, settings.passages))
        docs.append(d)
        questions += qs[:1]
        if total >= real_target:
            break
    res: dict = {"passages_target": n_passages}
    if measure_build:  # fresh build, timed against a bare encode of the same passage texts
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            idx, _ = build_index(docs, Path(tmp) / "ix", settings, progress=False)
            build_s = time.perf_counter() - t
            texts = [p.text for p in idx.passages]
            t = time.perf_counter()
            enc.encode(texts, batch_size=64)
            bare_s = time.perf_counter() - t
        res.update(
            build_passages_per_s=len(texts) / build_s,
            bare_encode_passages_per_s=len(texts) / bare_s,
            build_vs_bare=bare_s / build_s,
        )
    else:  # real passages embedded once and cached; only the query path is measured
        idx, _ = build_index(docs, OUT / "cache" / f"speed-real-{real_target}", settings, progress=False)
    res["real_passages"] = len(idx)
    if n_passages > len(idx.passages):
        idx = _grow(idx, n_passages, paras[len(docs) :], settings)
    res["passages"] = len(idx)
    res["faiss_index"] = type(idx.faiss).__name__
    qa = QA(idx, QASettings())
    rng = random.Random(1)
    qs = rng.sample(questions, min(n_questions, len(questions)))
    for q in qs[:5]:
        qa.answer(q)  # warm-up
    stages: dict[str, list[float]] = {}
    for _ in range(repeats):
        for q in qs:
            a = qa.answer(q)
            for k, v in a.timings_ms.items():
                stages.setdefault(k, []).append(v)
    res["reader"] = "span" if qa.reader is not None else "sentence"
    res["latency_ms"] = {k: {"p50": float(np.median(v)), "p95": float(np.percentile(v, 95))} for k, v in stages.items()}
    # BM25 as rank-bm25 scores it (every passage, in Python) vs our sparse postings, same queries
    if len(idx) <= 20_000:
        from rank_bm25 import BM25Okapi

        bm = BM25Okapi([tokenize(p.text) for p in idx.passages])
        t = time.perf_counter()
        for q in qs[:50]:
            bm.get_scores(tokenize(q))
        res["rank_bm25_get_scores_ms"] = (time.perf_counter() - t) * 1000 / min(50, len(qs))
    t = time.perf_counter()
    for q in qs[:50]:
        idx.bm25.search(q, 50)
    res["sparse_bm25_ms"] = (time.perf_counter() - t) * 1000 / min(50, len(qs))
    if len(idx) >= 50_000:  # HNSW vs flat at this size
        vecs = idx.passage_vectors()
        qv = enc.encode(qs[:100])
        for kind in ("flat", "hnsw"):
            t = time.perf_counter()
            fi = _make_faiss(vecs, vecs.shape[1], IndexSettings(dense=kind))
            built = time.perf_counter() - t
            t = time.perf_counter()
            for v in qv:
                fi.search(v.reshape(1, -1), 50)
            res[f"faiss_{kind}_ms"] = (time.perf_counter() - t) * 1000 / len(qv)
            res[f"faiss_{kind}_build_s"] = built
        flat = faiss.IndexFlatIP(vecs.shape[1])
        flat.add(vecs)
        hn = _make_faiss(vecs, vecs.shape[1], IndexSettings(dense="hnsw"))
        _, a = flat.search(qv, 10)
        _, b = hn.search(qv, 10)
        res["hnsw_recall@10_vs_flat"] = float(np.mean([len(set(x) & set(y)) / 10 for x, y in zip(a, b, strict=True)]))
    del PassageIndex
    res["peak_rss_mb"] = vm_hwm_mb()
    return res


def _grow(idx, n_passages: int, paras, settings):
    """Add synthetic passages (real sentences shuffled) with noisy copies of real vectors."""
    from index.store import PassageIndex, _make_faiss
    from qa.text import tokenize

    from index.bm25 import BM25Index
    from qa.types import Passage, Span

    rng = np.random.default_rng(0)
    pool = [s for _, ctx, _ in paras for s in ctx.split(". ") if len(s) > 30]
    vecs = idx.passage_vectors()
    docs = dict(idx.documents)
    passages = list(idx.passages)
    extra_vecs = []
    k = 0
    while len(passages) < n_passages:
        text = ". ".join(pool[j] for j in rng.integers(0, len(pool), 4)) + "."
        did = f"synthetic-{k}"
        docs[did] = Document(did, did, text, "", did)
        passages.append(Passage(f"{did}#0", did, 0, len(text), text, (Span(0, len(text)),)))
        v = vecs[rng.integers(0, len(vecs))] + rng.normal(0, 0.03, vecs.shape[1])
        extra_vecs.append(v / np.linalg.norm(v))
        k += 1
    all_vecs = np.vstack([vecs, np.array(extra_vecs, dtype=np.float32)])
    bm25 = BM25Index.build([tokenize(p.text) for p in passages], settings.bm25_k1, settings.bm25_b)
    rows = idx.sentence_rows + [[] for _ in range(len(passages) - len(idx.passages))]
    return PassageIndex(
        docs, passages, rows, idx.sentence_emb, _make_faiss(all_vecs, all_vecs.shape[1], settings), bm25, idx.manifest
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="*", default=[1000, 10_000, 100_000])
    ap.add_argument("--repeats", type=int, default=3, help="passes over the question set (median over all)")
    ap.add_argument("--questions", type=int, default=100)
    ap.add_argument("--dense", default="auto", help="flat | hnsw | auto")
    ap.add_argument("--build-max", type=int, default=1000, help="time a fresh build vs bare encode up to this size")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(
            "RESULT "
            + json.dumps(
                run_size(args.sizes[0], args.repeats, args.questions, args.dense, args.sizes[0] <= args.build_max)
            )
        )
        return
    results = []
    for n in args.sizes:
        cmd = [
            sys.executable,
            __file__,
            "--child",
            "--sizes",
            str(n),
            "--repeats",
            str(args.repeats),
            "--questions",
            str(args.questions),
            "--dense",
            args.dense,
        ]
        out = subprocess.run(cmd, capture_output=True, text=True)
        line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if line is None:
            print(out.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"size {n} failed")
        results.append(json.loads(line[7:]))
        (OUT / "speed_partial.json").write_text(json.dumps(results))
        print(f"size {n}: done", file=sys.stderr)
    stage_names = ["embed_query", "faiss", "bm25", "fusion", "read", "total"]
    rows = []
    for r in results:
        lat = r["latency_ms"]
        rows.append(
            [
                r["passages"],
                r["reader"],
                *(f"{lat[s]['p50']:.1f} / {lat[s]['p95']:.1f}" for s in stage_names),
                f"{r['peak_rss_mb']:.0f}",
            ]
        )
    md = ["### answer() latency by stage, ms (p50 / p95), 2 CPU cores", ""]
    md.append(md_table(["passages", "reader", *stage_names, "peak RSS MB"], rows))
    md += ["", "### Index build throughput vs bare SentenceTransformer.encode (same passages, same run)", ""]
    md.append(
        md_table(
            ["real passages", "build passages/s", "bare encode passages/s", "ratio"],
            [
                [
                    r["real_passages"],
                    f"{r['build_passages_per_s']:.1f}",
                    f"{r['bare_encode_passages_per_s']:.1f}",
                    f"{r['build_vs_bare']:.2f}",
                ]
                for r in results
                if "build_vs_bare" in r
            ],
        )
    )
    md += ["", "### BM25 per query: rank-bm25 get_scores (every passage in Python) vs sparse postings, ms", ""]
    md.append(
        md_table(
            ["passages", "rank-bm25 get_scores", "sparse (ours)"],
            [
                [r["passages"], f"{r.get('rank_bm25_get_scores_ms', float('nan')):.2f}", f"{r['sparse_bm25_ms']:.2f}"]
                for r in results
            ],
        )
    )
    big = [r for r in results if "faiss_hnsw_ms" in r]
    if big:
        md += ["", "### FAISS flat vs HNSW (M=32, efSearch=96) per query", ""]
        md.append(
            md_table(
                ["passages", "flat ms", "HNSW ms", "HNSW build s", "HNSW recall@10 vs flat"],
                [
                    [
                        r["passages"],
                        f"{r['faiss_flat_ms']:.2f}",
                        f"{r['faiss_hnsw_ms']:.2f}",
                        f"{r['faiss_hnsw_build_s']:.1f}",
                        f"{r['hnsw_recall@10_vs_flat']:.3f}",
                    ]
                    for r in big
                ],
            )
        )
    save("speed", "\n".join(md), {"results": results})


if __name__ == "__main__":
    main()
