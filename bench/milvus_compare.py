"""Milvus vs FAISS + BM25, side by side in the same run.

    python -m bench.milvus_compare quality [--every 3]     # SQuAD v1.1 half a: recall@1/5/20, EM/F1
    python -m bench.milvus_compare latency --sizes 10000 100000
    python -m bench.milvus_compare scale --sizes 1000000   # build time, query latency, memory (one size a process)
    python -m bench.milvus_compare build DIR --size 1000000  # build one (bench.scale's corpus) and keep it
    python -m bench.milvus_compare reopen DIR              # a Milvus Lite index folder built earlier, opened afresh

``quality`` indexes the 24 half-a articles in both backends (same passages, same model, same fusion) and
compares retrieval and end-to-end answers (product defaults, and never abstaining). ``latency`` and ``scale``
use ``common.scale_corpus``: real SQuAD train passages with real vectors up to 10k, synthetic passages above
(real sentences shuffled; vectors = real vectors + noise), so latency and memory are measured at scale but not
retrieval quality. Milvus here is Milvus Lite (pymilvus's embedded engine, in this process), the same client
code that talks to a Milvus server or cluster.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import (
    OUT,
    best_over,
    exact_match,
    f1_score,
    fast_synthetic_splitting,
    md_table,
    peak_rss_mb,
    rss_mb,
    save,
    scale_corpus,
    squad11a,
    squad_train_paragraphs,
)
from docqa.index.backend import IndexSettings
from docqa.index.faiss_store import FaissStore
from docqa.index.milvus_store import MilvusStore
from docqa.index.sync import sync_documents
from docqa.qa.fusion import FusionSettings, fuse
from docqa.qa.pipeline import QA
from docqa.qa.settings import QASettings


def _stores(name: str, docs, encoder=None) -> dict:
    root = OUT / "cache" / f"milvus-compare-{name}"
    out = {
        "FAISS + BM25": FaissStore(root / "faiss", IndexSettings(), encoder),
        "Milvus (Lite)": MilvusStore(index_dir=root / "milvus", settings=IndexSettings(), encoder=encoder),
    }
    for label, store in out.items():
        t = time.perf_counter()
        stats = sync_documents(store, docs, progress=True)
        print(f"[{label}] {stats.passages} passages, {stats.embedded} embedded, {time.perf_counter() - t:.0f}s")
    return out


def cmd_quality(args) -> None:
    docs, qs = squad11a()
    stores = _stores("squad11a", docs)
    sample = qs[:: args.every]
    rows, ans_rows, res = [], [], {}
    enc = next(iter(stores.values())).encoder
    qv = enc.encode([q.question for q in qs], batch_size=128)
    for label, store in stores.items():
        view = store.view()
        curves = {"BM25": [], "dense": [], "fused": []}
        for q, v in zip(qs, qv, strict=True):
            b = view.bm25_search(q.question, 50)
            d = view.dense_search(v, 50)
            for name, ranked in (("BM25", b), ("dense", d), ("fused", fuse(b, d, FusionSettings()))):
                texts = [view.passage(pid).text for pid, _ in ranked[:20]]
                curves[name].append(next((i for i, t in enumerate(texts) if any(g in t for g in q.answers)), None))
        res[label] = {"passages": len(view)}
        for name, first in curves.items():
            rec = [float(np.mean([f is not None and f < k for f in first])) for k in (1, 5, 20)]
            res[label][name] = rec
            rows.append([label, name, *rec])
        for mode, st in (("product defaults", QASettings()), ("never abstaining", QASettings(abstain=False))):
            service = QA(store, st)
            em = f1 = 0.0
            for q in sample:
                a = service.answer(q.question)
                pred = a.text if a.found else ""
                em += best_over(exact_match, pred, q.answers)
                f1 += best_over(f1_score, pred, q.answers)
            r = {"EM": 100 * em / len(sample), "F1": 100 * f1 / len(sample), "questions": len(sample)}
            res[label][mode] = r
            ans_rows.append([label, mode, len(sample), r["EM"], r["F1"]])
            print(ans_rows[-1], flush=True)
    md = (
        f"### SQuAD v1.1 dev half a, open setting: Milvus vs FAISS + BM25 ({len(qs)} questions for retrieval)\n\n"
        + md_table(["backend", "retriever", "recall@1", "recall@5", "recall@20"], rows)
        + "\n\n"
        + md_table(["backend", "answers", "questions", "EM", "F1"], ans_rows)
    )
    save("milvus_quality", md, res)


def _latency(store, questions, enc, repeats: int = 3) -> dict:
    from docqa.qa.retrieve import Retriever
    from docqa.qa.timing import Timings

    ret = Retriever(enc, FusionSettings())
    view = store.view()
    qv = enc.encode(questions)
    lat: dict[str, list[float]] = {"bm25": [], "dense": [], "retrieve": []}
    for q, v in zip(questions[:5], qv[:5], strict=True):
        ret.search(view, q, 5, query_vec=v)
    for _ in range(repeats):
        for q, v in zip(questions, qv, strict=True):
            tm = Timings()
            with tm.stage("retrieve"):
                ret.search(view, q, 5, query_vec=v, timings=tm)
            for k in lat:
                lat[k].append(tm[k])
    return {k: {"p50": statistics.median(v), "p95": float(np.percentile(v, 95))} for k, v in lat.items()}


def reopen_milvus(index_dir: Path, repeats: int = 3, n_questions: int = 100) -> dict:
    """Open a Milvus Lite index built earlier (by ``build``) as a fresh reader would, and measure it: the time to
    open it, retrieval latency (``n_questions`` x ``repeats``), memory of this process, disk."""
    from docqa.index.encoder import get_encoder

    # the questions ``scale_corpus`` asks (the first question of each train paragraph, in its order) and the model;
    # the corpus itself is on disk, so it is neither rebuilt nor held in this process
    questions = [qs[0] for _, _, qs in squad_train_paragraphs() if qs][:n_questions]
    enc = get_encoder()
    base_rss = rss_mb()
    t = time.perf_counter()
    store = MilvusStore(index_dir=index_dir, settings=IndexSettings(), encoder=enc)
    view = store.load()
    opened = time.perf_counter() - t
    print(f"opened in {opened:.1f} s", file=sys.stderr, flush=True)
    out = {
        "passages": len(view),  # from the manifest's counts: no document row is read at open
        "open_s": opened,
        "questions": [len(questions), repeats],
        "latency_ms": _latency(store, questions, enc, repeats),
        "rss_growth_mb": rss_mb() - base_rss,
        "peak_rss_mb": peak_rss_mb(),
        "disk_mb": sum(f.stat().st_size for f in index_dir.rglob("*") if f.is_file()) / 1e6,
    }
    store.close()
    return {"milvus": out}


def build_milvus(index_dir: Path, n: int) -> dict:
    """Build a Milvus Lite index of ``bench.scale``'s streamed corpus in ``index_dir`` and keep it (for reopen)."""
    import docqa.index.milvus_store as ms
    from bench.scale import _synthetic_passages, corpus

    ms.make_passages = _synthetic_passages
    docs, enc, _ = corpus(n)
    store = MilvusStore(index_dir=index_dir, settings=IndexSettings(), encoder=enc)
    store.reset()
    t = time.perf_counter()
    stats = store.update(docs)
    out = {"passages": stats.passages, "documents": stats.documents, "build_s": time.perf_counter() - t}
    out["peak_rss_mb"] = peak_rss_mb()
    store.close()
    (index_dir.parent / f"{index_dir.name}.build.json").write_text(json.dumps(out))
    return out


def save_reopen(build: dict, opened: dict) -> None:
    """bench/results/milvus_scale_1m.md: a Milvus Lite index built by ``build`` and opened afresh by ``reopen``."""
    lat = opened["latency_ms"]
    row = [
        f"{opened['passages']:,}",
        f"{build['build_s']:.0f}",
        f"{opened['open_s']:.1f}",
        *(f"{lat[k]['p50']:.1f} / {lat[k]['p95']:.1f}" for k in ("bm25", "dense", "retrieve")),
        f"{build.get('peak_rss_mb', float('nan')):,.0f}",
        f"{opened['peak_rss_mb']:,.0f}",
        f"{opened['disk_mb']:,.0f}",
    ]
    md = (
        "### Milvus Lite at ~1M passages: built once, opened by a fresh process (2 CPU cores)\n\n"
        "Corpus: `bench.scale`'s (SQuAD dev half a + real train paragraphs to 10k passages + synthetic one-passage "
        "documents). `python -m bench.milvus_compare build DIR --size 1000000`, then `reopen DIR --save "
        f"--questions {opened['questions'][0]} --repeats {opened['questions'][1]}`.\n\n"
        + md_table(
            [
                "passages",
                "build s",
                "open s",
                "BM25 ms p50 / p95",
                "dense ms p50 / p95",
                "retrieve ms p50 / p95",
                "build peak RSS MB",
                "reader peak RSS MB",
                "disk MB",
            ],
            [row],
        )
    )
    save("milvus_scale_1m", md, {"build": build, "reopen": opened})


def run_size(n: int, backends: list[str]) -> dict:
    fast_synthetic_splitting()
    docs, enc, questions = scale_corpus(n)
    questions = questions[:100]
    out: dict = {"passages_target": n}
    for label in backends:
        base_rss = rss_mb()
        with tempfile.TemporaryDirectory(dir=OUT) as tmp:
            if label == "faiss":
                store = FaissStore(Path(tmp) / "ix", IndexSettings(), enc)
            else:
                store = MilvusStore(index_dir=Path(tmp) / "ix", settings=IndexSettings(), encoder=enc)
            store.reset()
            t = time.perf_counter()
            stats = store.update(docs)
            build = time.perf_counter() - t
            if label == "milvus":  # reopen as a fresh reader would (loads the collections)
                store.close()
                store = MilvusStore(index_dir=Path(tmp) / "ix", settings=IndexSettings(), encoder=enc)
            lat = _latency(store, questions, enc)
            out[label] = {
                "passages": stats.passages,
                "build_s": build,
                "latency_ms": lat,
                "rss_growth_mb": rss_mb() - base_rss,
                "peak_rss_mb": peak_rss_mb(),
                "disk_mb": sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file()) / 1e6,
            }
            if label == "milvus":
                store.close()
            print(json.dumps({label: out[label]}), file=sys.stderr, flush=True)
            del store
    return out


def cmd_latency(args) -> None:
    results = []
    for n in args.sizes:
        for b in args.backends:
            cmd = [sys.executable, "-m", __spec__.name, "child", "--size", str(n), "--backends", b]
            r = subprocess.run(cmd, capture_output=True, text=True)
            line = next((ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if line is None:
                print(r.stderr[-3000:], file=sys.stderr)
                raise SystemExit(f"size {n} {b} failed")
            results.append(json.loads(line[7:]))
            (OUT / f"milvus_{args.name}_partial.json").write_text(json.dumps(results))
    rows = []
    for r in results:
        for b in ("faiss", "milvus"):
            if b in r:
                x = r[b]
                lat = x["latency_ms"]
                rows.append(
                    [
                        x["passages"],
                        "FAISS + BM25" if b == "faiss" else "Milvus Lite (HNSW + BM25 function)",
                        f"{x['build_s']:.0f}",
                        f"{lat['bm25']['p50']:.1f} / {lat['bm25']['p95']:.1f}",
                        f"{lat['dense']['p50']:.1f} / {lat['dense']['p95']:.1f}",
                        f"{lat['retrieve']['p50']:.1f} / {lat['retrieve']['p95']:.1f}",
                        f"{x['peak_rss_mb']:.0f}",
                        f"{x['disk_mb']:.0f}",
                    ]
                )
    md = "### Retrieval at scale: FAISS + BM25 vs Milvus Lite (one process per size and backend, 2 CPU cores)\n\n"
    md += md_table(
        [
            "passages",
            "backend",
            "build s",
            "BM25 ms p50 / p95",
            "dense ms p50 / p95",
            "retrieve (both + fusion) ms p50 / p95",
            "peak RSS MB",
            "disk MB",
        ],
        rows,
    )
    save(f"milvus_{args.name}", md, {"results": results})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("quality")
    p.add_argument("--every", type=int, default=3, help="answer every n-th question end to end")
    for name in ("latency", "scale"):
        p = sub.add_parser(name)
        p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000] if name == "latency" else [1_000_000])
        p.add_argument("--backends", nargs="+", default=["faiss", "milvus"])
        p.set_defaults(name=name)
    p = sub.add_parser("child")
    p.add_argument("--size", type=int)
    p.add_argument("--backends", nargs="+")
    p = sub.add_parser("build", help="build a Milvus Lite index of about --size passages in DIR and keep it")
    p.add_argument("index_dir", type=Path)
    p.add_argument("--size", type=int, default=1_000_000)
    p = sub.add_parser("reopen", help="measure a Milvus Lite index folder built earlier (prints its RESULT line)")
    p.add_argument("index_dir", type=Path)
    p.add_argument(
        "--save", action="store_true", help="write bench/results/milvus_scale_1m.md with the build's numbers"
    )
    p.add_argument("--questions", type=int, default=100)
    p.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if args.cmd == "child":
        print("RESULT " + json.dumps(run_size(args.size, args.backends)))
    elif args.cmd == "build":
        print("RESULT " + json.dumps(build_milvus(args.index_dir, args.size)))
    elif args.cmd == "reopen":
        out = reopen_milvus(args.index_dir, args.repeats, args.questions)
        print("RESULT " + json.dumps(out))
        built = args.index_dir.parent / f"{args.index_dir.name}.build.json"
        if args.save and built.exists():
            save_reopen(json.loads(built.read_text()), out["milvus"])
    elif args.cmd == "quality":
        cmd_quality(args)
    else:
        cmd_latency(args)


if __name__ == "__main__":
    main()
