"""Speed of the product path: ``QA.answer()`` with the product defaults, by stage, and answers per second.

    python bench/speed.py                          # 10k passages: latency by stage, then throughput
    python bench/speed.py --sizes 10000 100000     # one process per size
    python bench/speed.py --workers 1 2 4          # throughput of the process pool (``docqa serve --workers N``)
    python bench/speed.py --exits 2:0.3 --latency-only   # also: read the top 2 first, stop at confidence 0.3

Corpus (``common.scale_corpus``): real SQuAD v1.1 train paragraphs with real vectors up to 10k passages,
synthetic passages above (real sentences shuffled, vectors = real vectors + noise); one real train question per
real paragraph is asked. Every configuration runs in the same process on the same questions (median and p95 of
3 passes, after a warm-up), so the ratios compare like with like:

- ``before``: the answer policy as the speed issue was filed (span reader over 3 passages, then the whole-sentence
  fallback that embeds the sentences of the top passages at query time);
- ``product``: today's defaults (``QASettings()``, the reader runtime and passages shipped in ``reader.json``);
- ``product, eager PyTorch``: the same with the question encoder and the reader in eager PyTorch instead of
  frozen TorchScript graphs (``index/torchscript.py``); ``before`` runs eager too, as it did when filed.

Throughput: 200 questions submitted at once from 8 client threads, to one in-process service and to an
``AnswerPool`` of N worker processes sharing the same read-only index folder.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
from common import OUT, fast_synthetic_splitting, md_table, peak_rss_mb, save, scale_corpus

from index.backend import IndexSettings
from index.faiss_store import FaissStore
from index.sync import sync_documents
from qa.pipeline import QA
from qa.readers.span import SpanReaderSettings
from qa.settings import QASettings

STAGES = ["embed_query", "dense", "bm25", "fusion", "read", "total"]


EAGER = ("before", "product, eager PyTorch")  # configurations timed with the eager PyTorch question encoder


def _configs(exits: list[str]) -> dict[str, QASettings]:
    configs = {
        "before": QASettings(
            span=SpanReaderSettings(passages=3, runtime="fp32", early_exit=1.0), sentence_fallback=0.5
        ),
        "product, reading all 5 passages at once": QASettings(span=SpanReaderSettings(early_exit=1.0)),
        "product, eager PyTorch": QASettings(span=SpanReaderSettings(runtime="fp32")),
        "product": QASettings(),
    }
    for spec in exits:  # "FIRST:LEVEL": read the top FIRST passages first, stop at confidence LEVEL
        first, level = spec.split(":")
        span = SpanReaderSettings(early_exit=float(level), early_exit_first=int(first))
        configs[f"top {first} first, exit at {level}"] = QASettings(span=span)
    return configs


def _latency(qa: QA, questions: list[str], repeats: int) -> dict:
    for q in questions[:5]:
        qa.answer(q)
    stages: dict[str, list[float]] = {}
    found = 0
    for _ in range(repeats):
        for q in questions:
            a = qa.answer(q)
            found += a.found
            for k, v in a.timings_ms.items():
                stages.setdefault(k, []).append(v)
    out = {k: {"p50": statistics.median(v), "p95": float(np.percentile(v, 95))} for k, v in stages.items()}
    out["answered"] = found / (repeats * len(questions))
    return out


def _throughput(answer, questions: list[str], n: int = 200, clients: int = 8) -> float:
    qs = [questions[i % len(questions)] for i in range(n)]
    for q in qs[:clients]:
        answer(q)
    t = time.perf_counter()
    with ThreadPoolExecutor(clients) as ex:
        list(ex.map(answer, qs))
    return n / (time.perf_counter() - t)


def store_for(n: int) -> tuple[FaissStore, list[str]]:
    fast_synthetic_splitting()
    docs, enc, questions = scale_corpus(n)
    store = FaissStore(OUT / "cache" / f"speed-{n}", IndexSettings(), enc)
    stats = sync_documents(store, docs, progress=True)
    print(f"[{n}] {stats.passages} passages ({stats.embedded} embedded)", file=sys.stderr)
    return store, questions


def run_size(n: int, repeats: int, n_questions: int, workers: list[int], exits: list[str], latency_only: bool) -> dict:
    store, questions = store_for(n)
    questions = questions[:n_questions]
    res: dict = {"passages": len(store.view())}
    res["latency"] = {}
    services = {}
    encoder = store.encoder
    for name, settings in _configs(exits).items():
        qa = QA(store, settings)
        services[name] = qa
        encoder.use_frozen = name not in EAGER
        res["latency"][name] = _latency(qa, questions, repeats)
        encoder.use_frozen = True
        print(name, json.dumps(res["latency"][name]["total"]), file=sys.stderr, flush=True)
    res["reader"] = {
        "runtime": services["product"].span_reader.runtime,
        "passages": services["product"].span_reader.passages,
    }
    res["throughput"] = {}
    if latency_only:
        res["peak_rss_mb"] = peak_rss_mb()
        return res
    res["throughput"]["in-process, before"] = _throughput(services["before"].answer, questions)
    product = QASettings()
    for label, span in (
        ("product, reading all 5 at once", replace(product.span, early_exit=1.0)),
        ("product", product.span),
        ("product, micro-batching (0 ms wait)", replace(product.span, micro_batch=True)),
        ("product, micro-batching with 3 ms wait", replace(product.span, micro_batch=True, batch_wait_ms=3.0)),
    ):
        qa = QA(store, replace(product, span=span))
        res["throughput"][f"in-process, {label}"] = _throughput(qa.answer, questions)
    if workers:
        from qa.workers import AnswerPool

        for w in workers:
            pool = AnswerPool(store.index_dir, w, QASettings())
            res["throughput"][f"{w} worker process{'es' if w > 1 else ''}, product"] = _throughput(
                pool.answer, questions
            )
            pool.close()
    res["peak_rss_mb"] = peak_rss_mb()
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--questions", type=int, default=100)
    ap.add_argument("--workers", type=int, nargs="*", default=[1, 2, 4])
    ap.add_argument("--exits", nargs="*", default=[], help="FIRST:LEVEL early-exit variants to time as well")
    ap.add_argument("--latency-only", action="store_true", help="skip the answers-per-second runs")
    ap.add_argument("--name", default="speed", help="results file: bench/results/NAME.md and .json")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        res = run_size(args.sizes[0], args.repeats, args.questions, args.workers, args.exits, args.latency_only)
        print("RESULT " + json.dumps(res))
        return
    results = []
    for n in args.sizes:
        cmd = [sys.executable, __file__, "--child", "--sizes", str(n), "--repeats", str(args.repeats)]
        cmd += ["--questions", str(args.questions), "--workers", *map(str, args.workers), "--exits", *args.exits]
        cmd += ["--latency-only"] if args.latency_only else []
        out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
        line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if line is None:
            raise SystemExit(f"size {n} failed")
        results.append(json.loads(line[7:]))
    md = ["### answer() with the product defaults, ms (p50 / p95) by stage, 2 CPU cores", ""]
    rows = []
    for r in results:
        base = r["latency"]["before"]["total"]
        for name, lat in r["latency"].items():
            rows.append(
                [
                    r["passages"],
                    name,
                    *(f"{lat[s]['p50']:.1f} / {lat[s]['p95']:.1f}" if s in lat else "-" for s in STAGES),
                    f"{base['p50'] / lat['total']['p50']:.2f}x",
                    f"{lat['answered']:.0%}",
                ]
            )
    md.append(md_table(["passages", "policy", *STAGES, "p50 speed-up vs before", "answered"], rows))
    md += ["", "### Answers per second (200 questions from 8 client threads), 2 CPU cores", ""]
    md.append(
        md_table(
            ["passages", "service", "answers/s"],
            [[r["passages"], k, f"{v:.1f}"] for r in results for k, v in r["throughput"].items()],
        )
    )
    md += ["", "Reader: " + ", ".join(f"{r['passages']}: {r['reader']}" for r in results)]
    md += ["", "Peak RSS MB: " + ", ".join(f"{r['passages']}: {r['peak_rss_mb']:.0f}" for r in results)]
    save(args.name, "\n".join(md), {"results": results})


if __name__ == "__main__":
    main()
