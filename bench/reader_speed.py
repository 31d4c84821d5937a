"""Reader inference: runtimes and how much to read, measured on the same SQuAD v1.1 half-a questions.

    python bench/reader_speed.py runtimes [--limit 600]   # fp32, TorchScript, bf16, dynamic int8, ONNX fp32/int8
    python bench/reader_speed.py reading  [--limit 600]   # passages read, windows around the best sentences
    python bench/reader_speed.py runtimes --write          # ship the fastest runtime within 0.5 F1 of fp32

``runtimes``: F1 with the gold paragraph (all 5,397 half-a questions unless ``--f1-limit``: int8 moves F1 by a
few tenths either way on a sample of a few hundred, so the 0.5 rule is decided on all of them) and latency of
reading the top 5 retrieved passages of ``--limit`` questions (one batched forward pass), per runtime, all in the
same process on the same questions (median of 3 passes).
``reading``: open-setting F1 (never abstaining, best span by the shipped confidence) and read latency when the
reader reads the top 3/5 passages whole, or only a window of sentences around the best-scoring ones.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import get_args

import numpy as np
from common import best_over, cached_index, f1_score, md_table, save, squad11a

from index.encoder import get_encoder
from index.text import tokenize
from qa.readers import Query
from qa.readers.span import META, MODEL_DIR, Runtime, SpanReader, SpanReaderSettings, clean_span
from qa.retrieve import Retriever
from qa.settings import QASettings

RUNTIMES = list(get_args(Runtime))  # every runtime the reader has, in its order


def _sample(limit: int, data=None):
    docs, qs = data or squad11a()
    qs = qs[:: max(1, len(qs) // limit)][:limit]
    _, view = cached_index("squad11a", docs)
    enc = get_encoder()
    ret = Retriever(enc, QASettings().fusion)
    vecs = enc.encode([q.question for q in qs], batch_size=128)
    hits = [ret.search(view, q.question, 8, query_vec=v) for q, v in zip(qs, vecs, strict=True)]
    return qs, view, vecs, hits


def gold_f1(reader: SpanReader, qs) -> float:
    f1 = 0.0
    for q in qs:
        p = reader.predict(q.question, [q.context])[0]
        pred = ""
        if p is not None:
            s, e = clean_span(q.context, p.start, p.end, 0, len(q.context))
            pred = q.context[s:e]
        f1 += best_over(f1_score, pred, q.answers)
    return 100 * f1 / len(qs)


def read_latency(reader: SpanReader, qs, hits, passages: int, repeats: int = 3) -> tuple[float, float]:
    lat = []
    for _ in range(repeats):
        for q, h in zip(qs, hits, strict=True):
            t = time.perf_counter()
            reader.predict(q.question, [x.passage.text for x in h[:passages]])
            lat.append((time.perf_counter() - t) * 1000)
    return statistics.median(lat), float(np.percentile(lat, 95))


def cmd_runtimes(args) -> None:
    data = squad11a()
    qs, _, _, hits = _sample(args.limit, data)
    all_qs = data[1]
    f1_qs = all_qs[: args.f1_limit] if args.f1_limit else all_qs
    rows, res = [], {}
    for rt in args.runtimes:
        reader = SpanReader(settings=SpanReaderSettings(runtime=rt))
        read_latency(reader, qs[:10], hits[:10], 5, 1)  # warm-up
        f1 = gold_f1(reader, f1_qs)
        p50, p95 = read_latency(reader, qs, hits, 5)
        res[rt] = {"gold_F1": f1, "gold_questions": len(f1_qs), "read5_p50_ms": p50, "read5_p95_ms": p95}
        rows.append([rt, f1, p50, p95])
        print(rows[-1], flush=True)
    base = res["fp32"]
    ok = [rt for rt in res if res[rt]["gold_F1"] >= base["gold_F1"] - 0.5]
    choice = min(ok, key=lambda rt: res[rt]["read5_p50_ms"])
    for r in rows:
        r.append(base["read5_p50_ms"] / r[2])
    md = (
        f"### Reader runtimes on SQuAD v1.1 half a, same process (2 CPU cores)\n\n"
        f"F1 with the gold paragraph ({len(f1_qs):,} questions); latency of reading the top 5 retrieved passages "
        f"(one forward pass) of {len(qs)} questions.\n\n"
    )
    md += md_table(["runtime", "gold F1", "read 5 p50 ms", "read 5 p95 ms", "speed-up vs fp32"], rows)
    md += f"\n\nChosen: **{choice}** (the fastest within 0.5 F1 of fp32)."
    save(args.name, md, {"results": res, "choice": choice, "questions": len(qs)})
    if args.write:
        meta = json.loads((MODEL_DIR / META).read_text())
        meta["runtime"] = choice
        meta.setdefault("metrics", {})["runtime_choice"] = {
            "runtime": choice,
            **res[choice],
            "fp32": base,
            "questions": len(qs),
            "measured_with_reader": meta.get("sha256", "")[:12],
            "measured": f"python bench/reader_speed.py runtimes --runtimes {' '.join(args.runtimes)} "
            f"--limit {args.limit} --f1-limit {args.f1_limit} --write --name {args.name}",
        }
        (MODEL_DIR / META).write_text(json.dumps(meta, indent=2))


def windows(hit, q_terms: set[str], view, around: int) -> str:
    """The best-overlapping sentence of a passage with ``around`` sentences either side, as one context."""
    doc = view.document(hit.passage.doc_id)
    sents = hit.passage.sentences
    scores = [len(q_terms & set(tokenize(doc.text[s.start : s.end]))) for s in sents]
    b = int(np.argmax(scores))
    lo, hi = max(0, b - around), min(len(sents), b + around + 1)
    return doc.text[sents[lo].start : sents[hi - 1].end], sents[lo].start


def cmd_reading(args) -> None:
    qs, view, vecs, hits = _sample(args.limit)
    reader = SpanReader()
    rows, res = [], {}
    configs = [("whole passages", n, None) for n in (3, 5)] + [("sentence windows", n, 1) for n in (3, 5)]
    for name, n, around in configs:
        f1, lat = 0.0, []
        for q, v, h in zip(qs, vecs, hits, strict=True):
            top = h[:n]
            t = time.perf_counter()
            if around is None:
                cands = reader.read(Query(q.question, v), top, view)
                pred = view.document(cands[0].doc_id).text[cands[0].start : cands[0].end] if cands else ""
            else:
                terms = set(tokenize(q.question))
                ctx = [windows(x, terms, view, around) for x in top]
                preds = reader.predict(q.question, [c for c, _ in ctx])
                best = max(
                    ((p, x, off) for p, x, (_, off) in zip(preds, top, ctx, strict=True) if p is not None),
                    key=lambda t: t[0].score - t[0].null_score,
                    default=None,
                )
                pred = ""
                if best:
                    p, x, off = best
                    text = view.document(x.passage.doc_id).text
                    s, e = clean_span(text, off + p.start, off + p.end, x.passage.start, x.passage.end)
                    pred = text[s:e]
            lat.append((time.perf_counter() - t) * 1000)
            f1 += best_over(f1_score, pred, q.answers)
        r = {"F1": 100 * f1 / len(qs), "p50_ms": statistics.median(lat), "p95_ms": float(np.percentile(lat, 95))}
        res[f"{name} top {n}"] = r
        rows.append([name, n, r["F1"], r["p50_ms"], r["p95_ms"]])
        print(rows[-1], flush=True)
    md = f"### How much to read: {len(qs)} SQuAD v1.1 half-a questions, open setting, never abstaining\n\n"
    md += md_table(["reading", "passages", "F1", "read p50 ms", "read p95 ms"], rows)
    save("reader_reading", md, res)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["runtimes", "reading"])
    ap.add_argument("--limit", type=int, default=600, help="questions timed (and read by `reading`)")
    ap.add_argument("--f1-limit", type=int, default=0, help="runtimes: gold-paragraph F1 on the first N (0: all)")
    ap.add_argument("--runtimes", nargs="+", default=RUNTIMES)
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--name", default="reader_runtime", help="runtimes: results file bench/results/NAME.md")
    args = ap.parse_args()
    {"runtimes": cmd_runtimes, "reading": cmd_reading}[args.what](args)


if __name__ == "__main__":
    main()
