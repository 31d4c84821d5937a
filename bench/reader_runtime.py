"""The span reader's runtimes on the windows the product really reads: forward-pass time and gold-paragraph F1.

    python -m bench.reader_runtime                      # int8 and bf16, rows padded to 16 (shipped) or not
    python -m bench.reader_runtime --questions 300 --rounds 3

1. The parent answers ``--questions`` SQuAD v1.1 dev half-a questions with the product (``QA.answer`` over the
   half-a index, the shipped settings) and records every batch of windows the reader's forward pass gets (the
   early exit's first read of 2 passages, then the other 3 when unsure), so each runtime replays the same
   real token counts.
2. Each variant (runtime x ``ROWS``, the multiple the products' row count is padded to; 1 = no padding, as
   before) runs in a process of its own, because oneDNN keeps the kernels it builds per matrix shape in a
   process-wide cache (1,024 entries): a fresh process replays all batches twice, pass 1 as a new server meets
   them (kernels built for new shapes) and pass 2 once it has met them. Variants alternate over ``--rounds``
   rounds; the table shows medians over rounds of each pass's median per batch, and ratios against int8 without
   padding measured in the same run.
3. Gold-paragraph F1 of each runtime on every 3rd half-a question (1,799; the reader reads the gold paragraph
   alone), padded as shipped.

Writes bench/results/reader_runtime.md and .json; reads only the product.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import numpy as np

from bench.common import OUT, cached_index, md_table, save, squad11a

BATCHES = OUT / "reader_runtime_batches.npz"
VARIANTS = [
    ("torchscript-unpadded-int8", 1),
    ("torchscript-unpadded-int8", 16),
    ("torchscript-unpadded-bf16", 1),
    ("torchscript-unpadded-bf16", 16),
]


def record(n_questions: int) -> int:
    """Answer dev half-a questions with the product and keep every batch its reader computes; returns the count."""
    from docqa.qa import QA

    docs, qs = squad11a()
    store, _ = cached_index("squad11a", docs)
    qa = QA(store)
    reader = qa.span_reader
    seen: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    forward = reader._forward

    def keep(ids, mask, types):
        seen.append((ids.copy(), mask.copy(), types.copy()))
        return forward(ids, mask, types)

    reader._forward = keep
    for q in qs[:: max(1, len(qs) // n_questions)][:n_questions]:
        qa.answer(q.question)
    arrays = {}
    for i, (ids, mask, types) in enumerate(seen):
        arrays[f"ids{i}"], arrays[f"mask{i}"], arrays[f"types{i}"] = ids, mask, types
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez(BATCHES, **arrays)
    return len(seen)


def child_replay(runtime: str, rows: int) -> dict:
    """Load the reader as ``runtime`` with products padded to ``rows``, replay every recorded batch twice."""
    import torch

    import docqa.qa.readers.unpadded as unpadded
    from docqa.qa.readers.span import SpanReader, SpanReaderSettings

    unpadded.ROWS = rows  # read when the graph is traced, i.e. while the reader loads
    reader = SpanReader(settings=SpanReaderSettings(runtime=runtime, micro_batch=False))
    assert reader.runtime == runtime, reader.runtime
    data = np.load(BATCHES)
    n = len([k for k in data.files if k.startswith("ids")])
    batches = [tuple(torch.from_numpy(data[f"{k}{i}"]) for k in ("ids", "mask", "types")) for i in range(n)]
    passes = []
    with torch.inference_mode():
        for _ in range(2):
            ms = []
            for b in batches:
                t = time.perf_counter()
                reader._traced(*b)
                ms.append((time.perf_counter() - t) * 1000)
            passes.append(ms)
    tokens = [int(b[1].sum()) for b in batches]
    return {
        "batches": n,
        "tokens_mean": statistics.mean(tokens),
        "distinct_token_counts": len(set(tokens)),
        "pass_p50": [statistics.median(p) for p in passes],
        "pass_mean": [statistics.mean(p) for p in passes],
    }


def gold_f1(runtime: str, every: int = 3) -> dict:
    from bench.eval_reader import _gold_eval
    from docqa.qa.readers.span import SpanReader, SpanReaderSettings

    _, qs = squad11a()
    reader = SpanReader(settings=SpanReaderSettings(runtime=runtime, micro_batch=False))
    return _gold_eval(reader, qs[::every])


def _child(args: list[str]) -> dict:
    r = subprocess.run([sys.executable, "-m", "bench.reader_runtime", *args], capture_output=True, text=True)
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"child {args} failed:\n{r.stderr[-3000:]}")
    return json.loads(line[len("RESULT ") :])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--questions", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--child", nargs=2, metavar=("RUNTIME", "ROWS"), help=argparse.SUPPRESS)
    ap.add_argument("--gold", metavar="RUNTIME", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child_replay(args.child[0], int(args.child[1]))), flush=True)
        return
    if args.gold:
        print("RESULT " + json.dumps(gold_f1(args.gold)), flush=True)
        return

    n_batches = record(args.questions)
    print(f"recorded {n_batches} batches of {args.questions} questions", file=sys.stderr)
    runs: dict[str, list[dict]] = {f"{rt} rows {rows}": [] for rt, rows in VARIANTS}
    for r in range(args.rounds):
        order = VARIANTS if r % 2 == 0 else VARIANTS[::-1]
        for rt, rows in order:
            res = _child(["--child", rt, str(rows)])
            runs[f"{rt} rows {rows}"].append(res)
            print(f"round {r + 1}: {rt} rows {rows}: {res['pass_p50']}", file=sys.stderr, flush=True)
    gold = {rt: _child(["--gold", rt]) for rt in ("torchscript-unpadded-int8", "torchscript-unpadded-bf16")}

    base = runs[f"{VARIANTS[0][0]} rows {VARIANTS[0][1]}"]
    base_p = [statistics.median(x["pass_p50"][p] for x in base) for p in (0, 1)]
    rows_out, data = [], {"questions": args.questions, "batches": n_batches, "rounds": args.rounds, "variants": {}}
    for (rt, rows), name in zip(VARIANTS, runs, strict=True):
        p = [statistics.median(x["pass_p50"][i] for x in runs[name]) for i in (0, 1)]
        m = [statistics.median(x["pass_mean"][i] for x in runs[name]) for i in (0, 1)]
        rows_out.append(
            [
                rt.removeprefix("torchscript-unpadded-"),
                "none" if rows == 1 else f"to a multiple of {rows}",
                f"{p[0]:.1f} / {m[0]:.1f}",
                f"{p[1]:.1f} / {m[1]:.1f}",
                f"{base_p[0] / p[0]:.2f}x / {base_p[1] / p[1]:.2f}x",
            ]
        )
        data["variants"][name] = {"pass_p50": p, "pass_mean": m, "runs": runs[name]}
    data["gold"] = gold
    first = runs[next(iter(runs))][0]
    md = "\n\n".join(
        [
            "# Span reader runtimes on the product's own reads",
            f"{n_batches} forward passes recorded from {args.questions} SQuAD v1.1 dev half-a questions answered "
            f"by the product (mean {first['tokens_mean']:.0f} real tokens per pass, {first['distinct_token_counts']} "
            f"distinct token counts), replayed by each variant in a fresh process, twice; medians over "
            f"{args.rounds} rounds (`python -m bench.reader_runtime --questions {args.questions} --rounds "
            f"{args.rounds}`).",
            md_table(
                [
                    "runtime",
                    "product rows padded",
                    "pass 1 ms p50 / mean (new shapes)",
                    "pass 2 ms p50 / mean (shapes met)",
                    "speed vs int8 unpadded (pass 1 / 2)",
                ],
                rows_out,
            ),
            "Gold paragraph given, every 3rd dev half-a question, rows padded as shipped:",
            md_table(
                ["runtime", "questions", "EM", "F1", "ms p50 / p95 per paragraph"],
                [
                    [
                        rt.removeprefix("torchscript-unpadded-"),
                        g["questions"],
                        f"{g['EM']:.2f}",
                        f"{g['F1']:.2f}",
                        f"{g['p50_ms_per_paragraph']:.1f} / {g['p95_ms']:.1f}",
                    ]
                    for rt, g in gold.items()
                ],
            ),
        ]
    )
    save("reader_runtime", md, data)


if __name__ == "__main__":
    main()
