"""Speed of the product path: ``QA.answer()`` with the product defaults, by stage, and answers per second.

    python -m bench.speed                          # 10k passages: latency by stage, then throughput
    python -m bench.speed --sizes 10000 100000     # one process per size
    python -m bench.speed --workers 1 2 4          # throughput of the process pool (``docqa serve --workers N``)
    python -m bench.speed --exits 2:0.3 --latency-only   # also: read the top 2 first, stop at confidence 0.3
    python -m bench.speed --latency-only --only "product, eager PyTorch" --repeats 8   # frozen vs eager only
    python -m bench.speed --repeats 5 --only "product, fp32 unpadded reader" --workers 1 2

Corpus (``common.scale_corpus``): SQuAD v1.1 dev half a and train paragraphs with real vectors up to 10k
passages, synthetic passages above (real sentences shuffled, vectors = real vectors + noise); dev half-a
questions are asked (never seen in training), and the share of answers that stopped after the first read (early
exit) is reported. Every configuration runs in the same process on the same questions, interleaved (each of
3 passes asks every configuration in turn, after a warm-up; median and p95 of all answers, and each pass's
median), so the ratios compare like with like:

- ``before``: the answer policy as the speed issue was filed (span reader over 3 passages, then the whole-sentence
  fallback that embeds the sentences of the top passages at query time);
- ``product``: today's defaults (``QASettings()``, the reader runtime and passages shipped in ``reader.json``);
- ``product, eager PyTorch``: the same with the question encoder and the reader in eager PyTorch instead of
  the shipped runtimes; ``before`` runs eager too, as it did when filed;
- ``product, no micro-batching``: the product with ``SpanReaderSettings(micro_batch=False)``;
- ``product, fp32 unpadded reader``: every read in fp32 (``runtime="torchscript-unpadded"``);
- ``product, int8 reader``: every read in the int8 graph, which ``auto`` picks on a CPU without bf16 instructions.

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

from bench.common import OUT, fast_synthetic_splitting, md_table, peak_rss_mb, save, scale_corpus
from docqa.index import faiss_store
from docqa.index.backend import IndexSettings
from docqa.index.faiss_store import QUERY_THREADS, FaissStore
from docqa.index.sync import sync_documents
from docqa.qa.pipeline import QA
from docqa.qa.readers.span import SpanReaderSettings
from docqa.qa.settings import QASettings

STAGES = ["embed_query", "dense", "bm25", "fusion", "read", "total"]


EAGER = ("before", "product, eager PyTorch")  # configurations timed with the eager PyTorch question encoder
AS_BEFORE = ("before",)  # FAISS searches with its default thread count, as it did then
FP32_UNPADDED = "product, fp32 unpadded reader"


def _environment(name: str, encoder) -> None:
    """The process-wide parts of configuration ``name``: the question encoder's runtime, FAISS's query threads."""
    encoder = getattr(encoder, "real", encoder)  # the model behind common.LookupEncoder, which embeds the questions
    encoder.use_frozen = name not in EAGER
    faiss_store.QUERY_THREADS = 0 if name in AS_BEFORE else QUERY_THREADS


def _configs(exits: list[str]) -> dict[str, QASettings]:
    configs = {
        "before": QASettings(
            span=SpanReaderSettings(passages=3, runtime="fp32", early_exit=1.0, micro_batch=False),
            sentence_fallback=0.5,
        ),
        "product, reading all 5 passages at once": QASettings(span=SpanReaderSettings(early_exit=1.0)),
        "product, eager PyTorch": QASettings(span=SpanReaderSettings(runtime="fp32")),
        "product, no micro-batching": QASettings(span=SpanReaderSettings(micro_batch=False)),
        FP32_UNPADDED: QASettings(span=SpanReaderSettings(runtime="torchscript-unpadded")),
        "product, int8 reader": QASettings(span=SpanReaderSettings(runtime="torchscript-unpadded-int8")),
        "product": QASettings(),
    }
    for spec in exits:  # "FIRST:LEVEL": read the top FIRST passages first, stop at confidence LEVEL
        first, level = spec.split(":")
        span = SpanReaderSettings(early_exit=float(level), early_exit_first=int(first))
        configs[f"top {first} first, exit at {level}"] = QASettings(span=span)
    return configs


def _latency(services: dict[str, QA], encoder, questions: list[str], repeats: int) -> dict:
    """Latency by stage of every configuration, interleaved: each pass asks all questions of every configuration in
    turn, so that a slow spell of the shared machine hits all of them alike; also each pass's p50."""
    stages: dict[str, dict[str, list[float]]] = {name: {} for name in services}
    found = dict.fromkeys(services, 0)
    pass_p50: dict[str, list[float]] = {name: [] for name in services}
    for name, qa in services.items():  # warm-up
        _environment(name, encoder)
        for q in questions[:5]:
            qa.answer(q)
    reads = {name: (qa.span_reader.reads, qa.span_reader.early_exits) for name, qa in services.items()}
    for _ in range(repeats):
        for name, qa in services.items():
            _environment(name, encoder)
            totals = []
            for q in questions:
                a = qa.answer(q)
                found[name] += a.found
                totals.append(a.timings_ms["total"])
                for k, v in a.timings_ms.items():
                    stages[name].setdefault(k, []).append(v)
            pass_p50[name].append(statistics.median(totals))
    _environment("product", encoder)
    out = {}
    for name in services:
        lat: dict = {
            k: {"p50": statistics.median(v), "p95": float(np.percentile(v, 95))} for k, v in stages[name].items()
        }
        lat["answered"] = found[name] / (repeats * len(questions))
        reader = services[name].span_reader
        n_reads, n_exits = reader.reads - reads[name][0], reader.early_exits - reads[name][1]
        lat["early_exit_share"] = n_exits / n_reads if n_reads else 0.0
        lat["pass_p50"] = pass_p50[name]
        out[name] = lat
        print(name, json.dumps(lat["total"]), file=sys.stderr, flush=True)
    return out


def _startup(repeats: int = 3) -> dict:
    """Seconds to load the reader in eager PyTorch, frozen TorchScript (tracing, freezing and the check against
    eager), ONNX int8 (graph cached) and unpadded fp32, int8 and bf16 TorchScript (auto shipped), to export the ONNX int8
    graph on first use (once per reader file), and to freeze
    the question encoder: the start-up cost of each runtime, per process."""

    from docqa.index.encoder import get_encoder
    from docqa.index.torchscript import freeze
    from docqa.qa.readers.span import SpanReader

    labels = {
        "fp32": "load reader, eager",
        "torchscript-unpadded": "load reader, unpadded fp32 TorchScript",
        "torchscript-unpadded-int8": "load reader, unpadded int8 TorchScript",
        "torchscript-unpadded-bf16": "load reader, unpadded bf16 TorchScript",
        "auto": "load reader, shipped runtime (auto)",
    }
    times: dict[str, list[float]] = {label: [] for label in [*labels.values(), "freeze encoder"]}
    for _ in range(repeats):
        for runtime, label in labels.items():
            t = time.perf_counter()
            SpanReader(settings=SpanReaderSettings(runtime=runtime))
            times[label].append(time.perf_counter() - t)
        t = time.perf_counter()
        freeze(get_encoder("torch").model[0].auto_model)
        times["freeze encoder"].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


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


def run_size(
    n: int,
    repeats: int,
    n_questions: int,
    workers: list[int],
    exits: list[str],
    latency_only: bool,
    only: list[str] | None = None,
) -> dict:
    store, questions = store_for(n)
    questions = questions[:n_questions]
    res: dict = {"passages": len(store.view())}
    configs = {k: v for k, v in _configs(exits).items() if not only or k in ("before", "product", *only)}
    services = {name: QA(store, settings) for name, settings in configs.items()}
    res["latency"] = _latency(services, store.encoder, questions, repeats)
    res["reader"] = {
        "runtime": services["product"].span_reader.runtime,
        "passages": services["product"].span_reader.passages,
    }
    res["throughput"] = {}
    res["startup_s"] = _startup()
    if latency_only:
        res["peak_rss_mb"] = peak_rss_mb()
        return res
    res["throughput"]["in-process, before"] = _throughput(services["before"].answer, questions)
    product, configs = QASettings(), _configs([])
    for label, span in (
        ("product, reading all 5 at once", replace(product.span, early_exit=1.0)),
        ("product", product.span),
        ("product, no micro-batching", replace(product.span, micro_batch=False)),
        ("product, fp32 unpadded reader", configs[FP32_UNPADDED].span),
        ("product, micro-batching with 3 ms wait", replace(product.span, micro_batch=True, batch_wait_ms=3.0)),
    ):
        qa = QA(store, replace(product, span=span))
        res["throughput"][f"in-process, {label}"] = _throughput(qa.answer, questions)
    if workers:
        from docqa.ui.workers import AnswerPool

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
    ap.add_argument("--only", nargs="*", default=[], help="time only these configurations (and before, product)")
    ap.add_argument("--name", default="speed", help="results file: bench/results/NAME.md and .json")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    unknown = set(args.only) - set(_configs(args.exits))
    if unknown:
        ap.error(f"--only: unknown configuration(s) {sorted(unknown)}; choose from {sorted(_configs(args.exits))}")
    if args.child:
        res = run_size(
            args.sizes[0], args.repeats, args.questions, args.workers, args.exits, args.latency_only, args.only
        )
        print("RESULT " + json.dumps(res))
        return
    results = []
    for n in args.sizes:
        cmd = [sys.executable, "-m", __spec__.name, "--child", "--sizes", str(n), "--repeats", str(args.repeats)]
        cmd += ["--questions", str(args.questions), "--workers", *map(str, args.workers), "--exits", *args.exits]
        cmd += ["--latency-only"] if args.latency_only else []
        cmd += ["--only", *args.only] if args.only else []
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
                    f"{lat.get('early_exit_share', 0.0):.0%}",
                    " ".join(f"{x:.1f}" for x in lat.get("pass_p50", [])) or "-",
                ]
            )
    header = ["passages", "policy", *STAGES, "p50 speed-up vs before", "answered", "early exit", "p50 of each pass"]
    md.append(md_table(header, rows))
    md += ["", "### Answers per second (200 questions from 8 client threads), 2 CPU cores", ""]
    md.append(
        md_table(
            ["passages", "service", "answers/s"],
            [[r["passages"], k, f"{v:.1f}"] for r in results for k, v in r["throughput"].items()],
        )
    )
    md += ["", "Reader: " + ", ".join(f"{r['passages']}: {r['reader']}" for r in results)]
    md += [
        "",
        "Start-up, s (median of 3): "
        + "; ".join(
            f"{r['passages']}: " + ", ".join(f"{k} {v:.2f}" for k, v in r.get("startup_s", {}).items()) for r in results
        ),
    ]
    md += ["", "Peak RSS MB: " + ", ".join(f"{r['passages']}: {r['peak_rss_mb']:.0f}" for r in results)]
    save(args.name, "\n".join(md), {"results": results})


if __name__ == "__main__":
    main()
