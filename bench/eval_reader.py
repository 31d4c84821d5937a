"""The span reader on SQuAD (reads ../shared/data).

    python -m bench.eval_reader gold          # v1.1 dev half a, gold paragraph given: EM/F1, latency
    python -m bench.eval_reader compare DIR [--every 3]   # a candidate reader (exported to DIR) vs the shipped one

``compare`` is the gate before shipping: ``train/export_reader.py CHECKPOINT --gate bench/results/reader_compare.json``
installs the checkpoint only if these very weights (same sha256) beat the shipped reader here, and records the
comparison in reader.json.
Read-only: the confidence model and threshold are fitted and written by ``python -m train.calibrate``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from bench.common import md_table, save, squad11a, squad20a
from docqa.qa.metrics import best_over, exact_match, f1_score
from docqa.qa.readers.span import MODEL_DIR, SpanReader, SpanReaderSettings, clean_span


def _span_text(q, p) -> str:
    """The cleaned text of the reader's span ``p`` in ``q.context`` ("" when it found none)."""
    if p is None:
        return ""
    s, e = clean_span(q.context, p.start, p.end, 0, len(q.context))
    return q.context[s:e]


def _gold_eval(reader: SpanReader, qs) -> dict:
    em = f1 = 0.0
    lat = []
    for q in qs:
        t = time.perf_counter()
        p = reader.predict(q.question, [q.context])[0]
        lat.append((time.perf_counter() - t) * 1000)
        pred = _span_text(q, p)
        em += best_over(exact_match, pred, q.answers)
        f1 += best_over(f1_score, pred, q.answers)
    n = len(qs)
    return {
        "questions": n,
        "EM": 100 * em / n,
        "F1": 100 * f1 / n,
        "p50_ms_per_paragraph": float(np.median(lat)),
        "p95_ms": float(np.percentile(lat, 95)),
    }


def _no_answer_eval(reader: SpanReader, qs) -> dict:
    """How well the span-minus-null margin tells v2.0 questions their own paragraph answers from those it does not.

    ``AUC``: chance that an answerable question gets a larger margin than an unanswerable one (ties count half);
    ``F1``: v2.0 gold-paragraph F1 at the best single margin threshold (an abstention scores 1 on an unanswerable
    question, 0 on an answerable one)."""
    from scipy.stats import mannwhitneyu

    margins, has, f1s = [], [], []
    for q in qs:
        p = reader.predict(q.question, [q.context])[0]
        has.append(bool(q.answers))
        margins.append(-1e9 if p is None else p.score - p.null_score)
        f1s.append(best_over(f1_score, _span_text(q, p), q.answers) if q.answers else 0.0)
    m, a, f = np.array(margins), np.array(has), np.array(f1s)
    auc = mannwhitneyu(m[a], m[~a]).statistic / (a.sum() * (~a).sum())  # AUC = U / (n_pos * n_neg)
    best_f1, best_t = max((float(np.mean(np.where(m > t, f, ~a))), float(t)) for t in np.unique(m))
    return {"questions": len(qs), "AUC": float(auc), "F1": 100 * best_f1, "margin_threshold": best_t}


def cmd_gold(args) -> None:
    _, qs = squad11a()
    qs = qs[: args.limit or None]
    res = _gold_eval(SpanReader(), qs)
    n = res["questions"]
    rows = [
        ["DocQA reader (MiniLM-L6, int8 weights)", res["EM"], res["F1"]],
        ["logistic regression baseline", 40.4, 51.0],
        ["BiDAF", 67.7, 77.3],
        ["DistilBERT", 77.7, 85.8],
    ]
    md = f"### Reader alone, gold paragraph given: SQuAD v1.1 dev half a ({n} questions)\n\n" + md_table(
        ["model", "EM", "F1"], rows
    )
    md += f"\n\nReader latency per paragraph (1 question, CPU): p50 {res['p50_ms_per_paragraph']:.1f} ms, p95 {res['p95_ms']:.1f} ms."
    save("reader_gold", md, res)


def cmd_compare(args) -> None:
    """A candidate reader folder vs the shipped reader, same questions, same run: v1.1 gold-paragraph EM/F1 and
    how well each tells v2.0 questions its paragraph answers from those it does not (``_no_answer_eval``)."""
    _, qs = squad11a()
    qs = qs[:: args.every]
    _, qs2 = squad20a()
    qs2 = qs2[:: args.every]
    settings = SpanReaderSettings(runtime="fp32")
    res = {}
    for name, folder in (("shipped", MODEL_DIR), ("candidate", args.candidate)):
        reader = SpanReader(folder, settings)
        res[name] = _gold_eval(reader, qs) | {
            "v2": _no_answer_eval(reader, qs2),
            "training": reader.meta.get("training", {}),
            "sha256": reader.meta.get("sha256", ""),
        }
    rows = [
        [name, r["EM"], r["F1"], r["v2"]["AUC"], r["v2"]["F1"], r["p50_ms_per_paragraph"]] for name, r in res.items()
    ]
    md = (
        f"### Candidate reader vs shipped: SQuAD dev half a, gold paragraph, every {args.every}th question "
        f"(v1.1: {len(qs)}; v2.0: {len(qs2)}, the margin's no-answer AUC and F1 at its best threshold)\n\n"
    )
    md += md_table(["reader", "v1.1 EM", "v1.1 F1", "v2.0 AUC", "v2.0 F1", "p50 ms"], rows)
    res["every"] = args.every
    save("reader_compare", md, res)
    print("install the candidate only if it is better, recording this comparison with it:")
    print("  python -m train.export_reader CHECKPOINT --gate bench/results/reader_compare.json")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["gold", "compare"])
    ap.add_argument("candidate", type=Path, nargs="?", help="compare: folder of an exported candidate reader")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--every", type=int, default=3, help="compare: every n-th question")
    args = ap.parse_args()
    if args.what == "compare" and args.candidate is None:
        ap.error("compare needs the candidate reader folder")
    {"gold": cmd_gold, "compare": cmd_compare}[args.what](args)


if __name__ == "__main__":
    main()
