"""The span reader on SQuAD (reads ../shared/data).

    python bench/eval_reader.py gold          # v1.1 dev half a, gold paragraph given: EM/F1, latency
    python bench/eval_reader.py calibrate     # v2.0 dev half a, open setting: fit confidence + threshold
    python bench/eval_reader.py compare DIR [--every 3]   # a candidate reader (exported to DIR) vs the shipped one

``compare`` is the gate before shipping: ``train/export_reader.py CHECKPOINT --gate bench/results/reader_compare.json``
installs the checkpoint only if these very weights (same sha256) beat the shipped reader here, and records the
comparison in reader.json.

``calibrate`` fits the logistic confidence (span score - null score, span probability, 1/retrieval rank)
on SQuAD v2.0 dev half a and writes it, with the threshold that maximises overall F1, into
qa/models/reader/reader.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from common import best_over, cached_index, exact_match, f1_score, md_table, save, squad11a, squad20a

from qa.pipeline import QA
from qa.readers.span import META, MODEL_DIR, SpanReader, SpanReaderSettings, clean_span
from qa.settings import QASettings


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


def cmd_runtime(args) -> None:
    """fp32 vs dynamic int8 matmuls: F1 and latency on the same questions; the winner goes into reader.json."""
    _, qs = squad11a()
    qs = qs[: args.limit or 800]
    rows, res = [], {}
    for runtime in ("fp32", "dynamic-int8"):
        r = _gold_eval(SpanReader(settings=SpanReaderSettings(runtime=runtime)), qs)
        res[runtime] = r
        rows.append([runtime, r["EM"], r["F1"], r["p50_ms_per_paragraph"], r["p95_ms"]])
    a, b = res["fp32"], res["dynamic-int8"]
    faster = b["p50_ms_per_paragraph"] < 0.8 * a["p50_ms_per_paragraph"]
    choice = "dynamic-int8" if b["F1"] >= a["F1"] - 1.0 and faster else "fp32"
    md = f"### Reader runtime on {len(qs)} SQuAD v1.1 dev half a questions (gold paragraph)\n\n"
    md += md_table(["runtime", "EM", "F1", "p50 ms", "p95 ms"], rows)
    md += f"\n\nChosen: {choice} (int8 matmuls only if F1 drops by at most 1 point and p50 improves by at least 20%)."
    save("reader_runtime", md, res)
    meta_path = MODEL_DIR / META
    meta = json.loads(meta_path.read_text())
    meta["runtime"] = choice
    meta_path.write_text(json.dumps(meta, indent=2))


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
    meta_path = MODEL_DIR / META
    meta = json.loads(meta_path.read_text())
    meta.setdefault("metrics", {})["squad_v1.1_dev_half_a_gold_paragraph"] = {
        "EM": round(res["EM"], 2),
        "F1": round(res["F1"], 2),
        "questions": n,
    }
    meta_path.write_text(json.dumps(meta, indent=2))


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
    print("  python train/export_reader.py CHECKPOINT --gate bench/results/reader_compare.json")


def _fit_logistic(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    from scipy.optimize import minimize

    Xb = np.hstack([X, np.ones((len(X), 1))])

    def loss(w):
        z = Xb @ w
        p = 1 / (1 + np.exp(-z))
        eps = 1e-9
        reg = 1e-3 * float(w[:-1] @ w[:-1])
        grad = Xb.T @ (p - y) / len(y) + np.r_[2e-3 * w[:-1], 0.0]
        return -np.mean(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)) + reg, grad

    return minimize(loss, np.zeros(Xb.shape[1]), jac=True, method="L-BFGS-B").x


def cmd_calibrate(args) -> None:
    docs, qs = squad20a()
    qs = qs[: args.limit or None]
    store, idx = cached_index("squad20a", docs)
    service = QA(store, QASettings(reader="span"))
    reader = service.span_reader
    assert isinstance(reader, SpanReader)
    k = reader.passages
    feats, labels, qidx, has = [], [], [], []
    for i, q in enumerate(qs):
        hits = service.retrieve(q.question, k)
        preds = reader.predict(q.question, [h.passage.text for h in hits])
        has.append(bool(q.answers))
        for h, p in zip(hits, preds, strict=True):
            if p is None:
                continue
            text = idx.document(h.passage.doc_id).text
            s, e = clean_span(text, h.passage.start + p.start, h.passage.start + p.end, h.passage.start, h.passage.end)
            f1 = best_over(f1_score, text[s:e], q.answers) if q.answers else 0.0
            feats.append([p.score - p.null_score, p.prob, 1.0 / h.rank])
            labels.append((f1, bool(q.answers)))
            qidx.append(i)
    X = np.array(feats)
    y = np.array([1.0 if f >= 0.5 else 0.0 for f, _ in labels])
    w = _fit_logistic(X, y)
    conf = 1 / (1 + np.exp(-(np.hstack([X, np.ones((len(X), 1))]) @ w)))
    # per question: the most confident candidate
    best: dict[int, tuple[float, float]] = {}
    for c, (f1, _), qi in zip(conf, labels, qidx, strict=True):
        if qi not in best or c > best[qi][0]:
            best[qi] = (float(c), f1)
    has_a = np.array(has)
    confs = np.array([best.get(i, (0.0, 0.0))[0] for i in range(len(qs))])
    f1s = np.array([best.get(i, (0.0, 0.0))[1] for i in range(len(qs))])
    sweep = []
    for t in np.linspace(0, 1, 101):
        ans = confs >= t
        f1_all = np.where(has_a, np.where(ans, f1s, 0.0), np.where(ans, 0.0, 1.0))
        sweep.append((float(t), float(f1_all.mean()), float(ans[has_a].mean()), float((~ans[~has_a]).mean())))
    t_best = max(sweep, key=lambda s: s[1])
    never = sweep[0]
    md = f"### Span reader abstention: SQuAD v2.0 dev half a, open setting ({len(qs)} questions, {int((~has_a).sum())} unanswerable)\n\n"
    md += md_table(
        ["threshold", "overall F1", "answerable: answered", "unanswerable: abstained"],
        [
            [f"{t_best[0]:.2f} (chosen)", 100 * t_best[1], t_best[2], t_best[3]],
            ["0 (never abstain)", 100 * never[1], never[2], never[3]],
        ]
        + [[f"{s[0]:.2f}", 100 * s[1], s[2], s[3]] for s in sweep[10:100:10]],
    )
    md += f"\n\nconfidence = sigmoid({w[0]:.3f}*(span - null logit) + {w[1]:.3f}*span prob + {w[2]:.3f}/retrieval rank + {w[3]:.3f})"
    save("reader_abstention", md, {"weights": w.tolist(), "threshold": t_best[0], "sweep": sweep})
    meta_path = MODEL_DIR / META
    meta = json.loads(meta_path.read_text())
    meta["calibration"] = {
        "a": w[0],
        "b": w[1],
        "c": w[2],
        "d": w[3],
        "fit_on": "SQuAD v2.0 dev half a, open setting, top-3 passages",
    }
    meta["threshold"] = round(t_best[0], 3)
    meta.setdefault("metrics", {})["squad_v2.0_dev_half_a_open_abstention"] = {
        "F1": round(100 * t_best[1], 2),
        "answerable_answered": round(t_best[2], 4),
        "unanswerable_abstained": round(t_best[3], 4),
    }
    meta_path.write_text(json.dumps(meta, indent=2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["gold", "calibrate", "runtime", "compare"])
    ap.add_argument("candidate", type=Path, nargs="?", help="compare: folder of an exported candidate reader")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--every", type=int, default=3, help="compare: every n-th question")
    args = ap.parse_args()
    if args.what == "compare" and args.candidate is None:
        ap.error("compare needs the candidate reader folder")
    {"gold": cmd_gold, "calibrate": cmd_calibrate, "runtime": cmd_runtime, "compare": cmd_compare}[args.what](args)


if __name__ == "__main__":
    main()
