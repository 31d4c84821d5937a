"""How to decide: which span answers, when a whole sentence answers, when to abstain (SQuAD half a only).

    python -m train.calibrate collect v1 [--every N]   # read the top 8 passages of each question once
    python -m train.calibrate collect v2 [--every N]
    python -m train.calibrate sweep [--write] [--min-answered 0.915]   # policies side by side; --write ships one
    python -m train.calibrate early-exit               # read the top 1 or 2 first, the rest only if unsure
    python -m train.calibrate headroom                 # where v1.1 F1 is lost: retrieval or the choice of span
    python -m train.calibrate evidence [--splits 4]    # near-miss evidence added to the confidence, many fold splits

``collect`` runs retrieval and the span reader over the top 8 passages of every question (one batched forward
pass) and stores every passage's best span with its scores, the retrieval scores, the answer-type agreement and
the question-term coverage of its passage and the sentence reader's best sentence, in bench/out/policy/*.jsonl. ``sweep`` then replays decision policies on
those records without running the model again: read 3/5/8 passages, the shipped confidence vs a refit one with
retrieval and answer-type features, thresholds, sentence answers by question type. The confidence model is fit
on SQuAD v2.0 dev half a with 2-fold cross-validation by article (numbers are out-of-fold), and the threshold
is chosen there; v1.1 half a is scored with the same model and threshold. ``--write`` stores the model and the
threshold in qa/models/reader/reader.json.
"""

from __future__ import annotations

import argparse
import json
import re
import time

import numpy as np

from bench.common import OUT, cached_index, md_table, save, squad11a, squad20a
from docqa.index.text import tokenize
from docqa.qa.answer_type import agreement
from docqa.qa.confidence import FEATURES, ConfidenceModel, candidate_features, coverage, support
from docqa.qa.metrics import best_over, exact_match, f1_score
from docqa.qa.pipeline import QA
from docqa.qa.readers import Query
from docqa.qa.readers.span import META, MODEL_DIR, SpanReader, evidence
from docqa.qa.settings import QASettings

READ = 8
BASE = FEATURES[:8]  # the shipped model's features: margin, prob, inv_rank, dense, bm25_rel, agree, top_dense, gap
FEATURE_SETS = [
    BASE[:3],
    BASE[:6],
    BASE,
    (*BASE, "type"),
    (*BASE, "cover"),
    (*BASE, "sent_cover"),
    (*BASE, "ent_cover"),
    (*BASE, "support"),
    (*BASE, "sent_cover", "ent_cover", "support"),
    FEATURES,
]
POLICY_DIR = OUT / "policy"


def _reader_tag() -> str:
    return json.loads((MODEL_DIR / META).read_text())["sha256"][:10]


def records_path(split: str) -> str:
    return str(POLICY_DIR / f"{split}-{_reader_tag()}.jsonl")


def cmd_collect(args) -> None:
    docs, qs = squad11a() if args.split == "v1" else squad20a()
    store, view = cached_index("squad11a" if args.split == "v1" else "squad20a", docs)
    service = QA(store, QASettings(abstain=False, top_k=READ))
    reader = service.span_reader
    assert isinstance(reader, SpanReader)
    POLICY_DIR.mkdir(parents=True, exist_ok=True)
    qs = qs[:: args.every]
    t0 = time.time()
    with open(records_path(args.split), "w", encoding="utf-8") as out:
        for i, q in enumerate(qs):
            qvec = service.encoder.encode([q.question])[0]
            hits = service.retriever.search(view, q.question, READ, query_vec=qvec)
            query = Query(q.question, qvec, tuple(tokenize(q.question)))
            spans, ctx = [], []
            idf = view.term_idf(list(query.terms))
            raw = reader.spans(query, hits, view)  # exactly the spans the product reads
            evidence(query, raw, view)
            for r in raw:
                s, e, sent, text = r["start"], r["end"], r["sentence"], r["text"]
                s0, s1 = min(sent.start, s), max(sent.end, e)
                keep = ("rank", "score", "null", "prob", "dense", "bm25", "bm25_rank", "dense_rank")
                keep += ("sent_cover", "ent_cover")  # support is recomputed among the passages a policy reads
                spans.append(
                    {"text": text[s:e], "sentence": text[s0:s1], "fused": r["hit"].fused}
                    | {k: r[k] for k in keep}
                    | {"cover": coverage(query.terms, r["hit"].passage.text, idf)}
                )
                ctx.append((text[s0:s1], s - s0, e - s0))
            for sp, ag in zip(spans, agreement(q.question, ctx), strict=True):
                sp["type"] = ag
            sents = service.sentence_reader.read(query, hits, view)
            best_sent = sents[0] if sents else None
            rec = {
                "qid": q.qid,
                "article": q.doc_id,
                "question": q.question,
                "answers": q.answers,
                "gold_in": [any(g in h.passage.text for g in q.answers) for h in hits],
                "top_dense": max((h.dense or 0.0) for h in hits) if hits else 0.0,
                "spans": spans,
                "sentence": (
                    {
                        "text": view.document(best_sent.doc_id).text[best_sent.start : best_sent.end],
                        "score": best_sent.score,
                        "rank": best_sent.hit.rank,
                    }
                    if best_sent
                    else None
                ),
            }
            out.write(json.dumps(rec) + "\n")
            if (i + 1) % 200 == 0:
                print(f"  {i + 1}/{len(qs)} ({time.time() - t0:.0f}s)", flush=True)
    print(f"wrote {records_path(args.split)} ({len(qs)} questions, {time.time() - t0:.0f}s)")


# ---------------------------------------------------------------- replaying policies


def load(split: str) -> list[dict]:
    with open(records_path(split), encoding="utf-8") as fh:
        return [json.loads(ln) for ln in fh]


def features(rec: dict, n: int) -> np.ndarray:
    """Feature rows of the candidates among the top ``n`` passages."""
    cands = [s for s in rec["spans"] if s["rank"] <= n]
    texts = [s["text"] for s in cands]
    for i, s in enumerate(cands):  # agreement among the spans of the passages this policy reads
        s["support"] = support(texts[i], texts[:i] + texts[i + 1 :])
    return np.array([candidate_features(s, cands, rec["top_dense"]) for s in cands]).reshape(len(cands), len(FEATURES))


def labels(rec: dict, n: int) -> np.ndarray:
    return np.array(
        [float(best_over(f1_score, s["text"], rec["answers"]) >= 0.5) for s in rec["spans"] if s["rank"] <= n]
    )


WHY = re.compile(r"^\s*(why|how (do|does|did|is|are|was|were|can|could|should|would))\b", re.I)


def decide(
    rec: dict,
    conf: np.ndarray,
    n: int,
    threshold: float,
    sentence_for_why: bool = False,
    sentence_fallback: float | None = None,
) -> tuple[str, bool, str]:
    """(answer text, found, method) under a policy."""
    cands = [s for s in rec["spans"] if s["rank"] <= n]
    if len(cands) and conf.max() >= threshold:
        best = cands[int(np.argmax(conf))]
        if sentence_for_why and WHY.search(rec["question"]):
            return best["sentence"], True, "sentence"
        return best["text"], True, "span"
    if sentence_fallback is not None and rec["sentence"] and rec["sentence"]["score"] >= sentence_fallback:
        return rec["sentence"]["text"], True, "sentence"
    return "", False, "none"


def score(recs: list[dict], decisions: list[tuple[str, bool, str]]) -> dict:
    em = f1 = 0.0
    ans_has = n_has = abst_no = n_no = sentences = 0
    for rec, (text, found, method) in zip(recs, decisions, strict=True):
        sentences += found and method == "sentence"
        if rec["answers"]:
            n_has += 1
            ans_has += found
            em += best_over(exact_match, text, rec["answers"]) if found else 0.0
            f1 += best_over(f1_score, text, rec["answers"]) if found else 0.0
        else:
            n_no += 1
            abst_no += not found
            em += not found
            f1 += not found
    n = len(recs)
    return {
        "EM": 100 * em / n,
        "F1": 100 * f1 / n,
        "answered": ans_has / max(1, n_has),
        "abstained_unanswerable": abst_no / max(1, n_no) if n_no else None,
        "sentence_share": sentences / max(1, sum(f for _, f, _ in decisions)),
    }


def fit_oof(recs: list[dict], n: int, names: tuple[str, ...]) -> tuple[list[np.ndarray], ConfidenceModel]:
    """Out-of-fold confidences (2 folds by article) and the model fit on everything."""
    idx = [FEATURES.index(f) for f in names]
    arts = sorted({r["article"] for r in recs})
    fold = {a: i % 2 for i, a in enumerate(arts)}
    out: list[np.ndarray | None] = [None] * len(recs)
    for k in (0, 1):
        train = [r for r in recs if fold[r["article"]] != k]
        model = ConfidenceModel.fit(
            np.vstack([features(r, n)[:, idx] for r in train]), np.concatenate([labels(r, n) for r in train]), names
        )
        for i, r in enumerate(recs):
            if fold[r["article"]] == k:
                out[i] = model.predict(features(r, n)[:, idx])
    full = ConfidenceModel.fit(
        np.vstack([features(r, n)[:, idx] for r in recs]), np.concatenate([labels(r, n) for r in recs]), names
    )
    return [o if o is not None else np.zeros(0) for o in out], full


def best_threshold(recs: list[dict], confs: list[np.ndarray], n: int, v1=None, conf1=None, min_answered=0.9) -> float:
    """The threshold that maximises v2.0 F1 while v1.1 keeps at least ``min_answered`` of its questions answered."""
    grid = np.linspace(0.0, 1.0, 201)
    best, best_f1 = 0.0, -1.0
    for t in grid:
        if v1 is not None:
            ans = np.mean([len(c) > 0 and c.max() >= t for c in conf1])
            if ans < min_answered:
                continue
        f1 = score(recs, [decide(r, c, n, t) for r, c in zip(recs, confs, strict=True)])["F1"]
        if f1 > best_f1:
            best, best_f1 = float(t), f1
    return best


def cmd_sweep(args) -> None:
    v1, v2 = load("v1"), load("v2")
    meta = json.loads((MODEL_DIR / META).read_text())
    shipped = ConfidenceModel.from_meta(meta)
    rows, results = [], {}

    def add(name: str, n: int, conf1, conf2, t: float, **kw) -> None:
        r1 = score(v1, [decide(r, c, n, t, **kw) for r, c in zip(v1, conf1, strict=True)])
        r2 = score(v2, [decide(r, c, n, t, **kw) for r, c in zip(v2, conf2, strict=True)])
        results[name] = {"passages": n, "threshold": t, "v1.1": r1, "v2.0": r2, **{k: str(v) for k, v in kw.items()}}
        rows.append(
            [
                name,
                n,
                round(t, 3),
                r1["EM"],
                r1["F1"],
                r1["answered"],
                r1["sentence_share"],
                r2["F1"],
                r2["answered"],
                r2["abstained_unanswerable"],
            ]
        )

    def shipped_conf(recs, n):
        idx = [FEATURES.index(f) for f in shipped.names]
        return [shipped.predict(features(r, n)[:, idx]) for r in recs]

    for n in (3, 5, 8):
        c1, c2 = shipped_conf(v1, n), shipped_conf(v2, n)
        if n == 3:
            add(
                "shipped: confidence 0.42 + sentence fallback 0.5",
                3,
                c1,
                c2,
                float(meta.get("threshold", 0.42)),
                sentence_fallback=0.5,
            )
        add("never abstain (best span by shipped confidence)", n, c1, c2, -1.0)
        add("shipped confidence, threshold max v2.0 F1", n, c1, c2, best_threshold(v2, c2, n))
        add("shipped confidence, threshold: v1.1 answered >= 90%", n, c1, c2, best_threshold(v2, c2, n, v1, c1))
        for names in FEATURE_SETS:
            oof2, model = fit_oof(v2, n, names)
            idx = [FEATURES.index(f) for f in names]
            c1 = [model.predict(features(r, n)[:, idx]) for r in v1]
            label = "+".join(names)
            add(f"refit {label}: never abstain", n, c1, oof2, -1.0)
            add(f"refit {label}: max v2.0 F1", n, c1, oof2, best_threshold(v2, oof2, n))
            t = best_threshold(v2, oof2, n, v1, c1)
            add(f"refit {label}: v1.1 answered >= 90%", n, c1, oof2, t)
            add(f"refit {label}: v1.1 answered >= 90%, sentence for why/how", n, c1, oof2, t, sentence_for_why=True)
    md = (
        f"### Answer policies on SQuAD half a (open setting, {len(v1)} v1.1 and {len(v2)} v2.0 questions)\n\n"
        "v2.0 numbers are out-of-fold (confidence fit on the other articles); thresholds maximise v2.0 F1.\n\n"
    )
    md += md_table(
        [
            "policy",
            "passages",
            "threshold",
            "v1.1 EM",
            "v1.1 F1",
            "v1.1 answered",
            "sentence answers",
            "v2.0 F1",
            "v2.0 answered",
            "v2.0 abstained (unanswerable)",
        ],
        rows,
    )
    save("answer_policy", md, results)
    if args.write:
        n, names = args.passages, tuple(args.features)
        oof2, model = fit_oof(v2, n, names)
        idx = [FEATURES.index(f) for f in names]
        c1 = [model.predict(features(r, n)[:, idx]) for r in v1]
        t = best_threshold(v2, oof2, n, v1, c1, args.min_answered)
        r1 = score(v1, [decide(r, c, n, t) for r, c in zip(v1, c1, strict=True)])
        r2 = score(v2, [decide(r, c, n, t) for r, c in zip(v2, oof2, strict=True)])
        meta["calibration"] = model.to_json() | {
            "fit_on": f"SQuAD v2.0 dev half a, open setting, top-{n} passages",
            "fit_for_reader": meta["sha256"][:12],
        }
        meta["threshold"] = round(t, 3)
        meta["passages"] = n
        meta.setdefault("metrics", {})["answer_policy_replay_half_a"] = {
            "v1.1_F1": round(r1["F1"], 2),
            "v1.1_EM": round(r1["EM"], 2),
            "v1.1_answered": round(r1["answered"], 3),
            "v2.0_F1": round(r2["F1"], 2),
            "v2.0_unanswerable_abstained": round(r2["abstained_unanswerable"], 3),
            "v1.1_questions": len(v1),
            "v2.0_questions": len(v2),
            "v2.0_out_of_fold": True,
            "threshold": f"{t:.3f}: the highest keeping >= {args.min_answered:.1%} of v1.1 answered",
            "measured": f"python -m train.calibrate sweep --write --min-answered {args.min_answered} "
            f"--features {' '.join(names)} (bench/results/answer_policy.md)",
        }
        before = json.loads((MODEL_DIR / META).read_text())
        (MODEL_DIR / META).write_text(json.dumps(meta, indent=2))
        print(f"wrote calibration ({'+'.join(names)}), threshold {t:.3f}, passages {n} to {MODEL_DIR / META}")
        for key in sorted(set(before) | set(meta)):  # say what changed
            if before.get(key) != meta.get(key):
                print(f"  {key}: {json.dumps(before.get(key))[:80]} -> {json.dumps(meta.get(key))[:80]}")


def cmd_early_exit(args) -> None:
    """Read the top ``first`` passages, stop when the best confidence there reaches E, else read all 5."""
    v1, v2 = load("v1"), load("v2")
    meta = json.loads((MODEL_DIR / META).read_text())
    model = ConfidenceModel.from_meta(meta)
    idx = [FEATURES.index(f) for f in model.names]
    t, n = float(meta["threshold"]), int(meta.get("passages", 5))

    def conf(r: dict, k: int) -> np.ndarray:
        f = features(r, k)
        return model.predict(f[:, idx]) if len(f) else np.zeros(0)

    def run(recs: list[dict], first: int, e: float) -> tuple[dict, float, float]:
        out, exits, read = [], 0, 0
        for r in recs:
            c = conf(r, first) if first else np.zeros(0)
            if len(c) and c.max() >= e:
                exits += 1
                read += first
                out.append(([s for s in r["spans"] if s["rank"] <= first][int(np.argmax(c))]["text"], True, "span"))
            else:
                read += n
                out.append(decide(r, conf(r, n), n, t))
        return score(recs, out), exits / len(recs), read / len(recs)

    rows, res = [], {}
    for first, e in [(0, 1.0)] + [(f, e) for f in (1, 2) for e in (0.2, 0.3, 0.4, 0.5, 0.6)]:
        (a, ea, pa), (b, eb, _) = run(v1, first, e), run(v2, first, e)
        name = "read all 5" if first == 0 else f"top {first} first, exit at confidence >= {e}"
        res[name] = {"v1.1": a, "v2.0": b, "exit_v1.1": ea, "exit_v2.0": eb, "passages_read_v1.1": pa}
        rows.append([name, a["EM"], a["F1"], ea, pa, b["F1"], eb])
    md = f"### Early exit, replayed on the collected half-a records ({len(v1)} v1.1, {len(v2)} v2.0 questions)\n\n"
    md += md_table(
        ["policy", "v1.1 EM", "v1.1 F1", "v1.1 exits early", "passages read (mean)", "v2.0 F1", "v2.0 exits"], rows
    )
    save("early_exit", md, res)


def cmd_headroom(args) -> None:
    """v1.1 F1 of the best span each chooser picks among the top n passages (never abstaining) vs the oracle."""
    v1 = load("v1")
    meta = json.loads((MODEL_DIR / META).read_text())
    model = ConfidenceModel.from_meta(meta)
    idx = [FEATURES.index(f) for f in model.names]

    # F1 of every span read, once per record (each n below scores a subset of the same spans)
    span_f1 = [np.array([best_over(f1_score, s["text"], r["answers"]) for s in r["spans"]]) for r in v1]
    rows, res = [], {}
    for n in (1, 2, 3, 5, 8):
        tot = {"gold passage in top n": 0.0, "oracle span": 0.0, "best span of a gold passage": 0.0}
        tot |= {"shipped confidence": 0.0, "margin": 0.0, "span of the top passage": 0.0}
        for r, f1_all in zip(v1, span_f1, strict=True):
            read = [i for i, s in enumerate(r["spans"]) if s["rank"] <= n]
            if not read:
                continue
            f1s, ranks = f1_all[read], [r["spans"][i]["rank"] for i in read]
            gold = [r["gold_in"][k - 1] for k in ranks]
            tot["gold passage in top n"] += any(gold)
            tot["oracle span"] += f1s.max()
            tot["best span of a gold passage"] += f1s[gold].max() if any(gold) else 0.0
            f = features(r, n)
            tot["shipped confidence"] += f1s[int(np.argmax(model.predict(f[:, idx])))]
            tot["margin"] += f1s[int(np.argmax(f[:, FEATURES.index("margin")]))]
            tot["span of the top passage"] += f1s[int(np.argmin(ranks))]
        res[n] = {k: round(100 * v / len(v1), 2) for k, v in tot.items()}
        rows.append([n, *res[n].values()])
    md = (
        f"### Where v1.1 F1 is lost ({len(v1)} half-a questions, open setting, never abstaining)\n\n"
        "Oracle: the best span among those the reader returns for the top n passages (one per passage).\n\n"
    )
    md += md_table(["passages", *(k if k.startswith("gold") else f"F1: {k}" for k in res[1])], rows)
    save("answer_headroom", md, res)


EVIDENCE_SETS = {
    "shipped features (refit)": BASE,
    "+ answer type": (*BASE, "type"),
    "+ passage coverage": (*BASE, "cover"),
    "+ sentence coverage": (*BASE, "sent_cover"),
    "+ entity coverage": (*BASE, "ent_cover"),
    "+ support of other passages": (*BASE, "support"),
    "+ sentence and entity coverage": (*BASE, "sent_cover", "ent_cover"),
    "+ all five": (*BASE, "type", "cover", "sent_cover", "ent_cover", "support"),
}


def cmd_evidence(args) -> None:
    """Does near-miss evidence raise v2.0 F1 at the shipped answered share? Each feature set is fit on one half of
    the v2.0 articles and scored on the other (both ways), for ``--splits`` random splits of the articles, since
    one 2-fold split of ~900 questions moves F1 by a point or more; the threshold keeps ``--min-answered`` of
    v1.1 answered (v1.1 scored with the mean of the two fold models)."""
    import random

    v1, v2 = load("v1"), load("v2")
    n = args.passages
    f1 = [features(r, n) for r in v1]
    f2 = [features(r, n) for r in v2]
    y2 = [labels(r, n) for r in v2]
    arts = sorted({r["article"] for r in v2})
    res: dict[str, list[tuple[float, float, float, float]]] = {k: [] for k in EVIDENCE_SETS}
    for seed in range(args.splits):
        order = arts[:]
        random.Random(seed).shuffle(order)
        fold = {a: i % 2 for i, a in enumerate(order)}
        for name, names in EVIDENCE_SETS.items():
            idx = [FEATURES.index(f) for f in names]
            oof: list[np.ndarray] = [np.zeros(0)] * len(v2)
            c1 = [np.zeros(len(x)) for x in f1]
            for k in (0, 1):
                train = [i for i, r in enumerate(v2) if fold[r["article"]] != k]
                model = ConfidenceModel.fit(
                    np.vstack([f2[i][:, idx] for i in train]), np.concatenate([y2[i] for i in train]), names
                )
                for i, r in enumerate(v2):
                    if fold[r["article"]] == k:
                        oof[i] = model.predict(f2[i][:, idx])
                c1 = [c + model.predict(x[:, idx]) / 2 for c, x in zip(c1, f1, strict=True)]
            t = best_threshold(v2, oof, n, v1, c1, args.min_answered)
            r1 = score(v1, [decide(r, c, n, t) for r, c in zip(v1, c1, strict=True)])
            r2 = score(v2, [decide(r, c, n, t) for r, c in zip(v2, oof, strict=True)])
            res[name].append((r2["F1"], r2["abstained_unanswerable"], r1["F1"], r1["answered"]))
            print(f"  split {seed} {name}: v2.0 F1 {r2['F1']:.2f}, v1.1 F1 {r1['F1']:.2f}", flush=True)
    base = np.array(res["shipped features (refit)"])
    rows = []
    for name, vals in res.items():
        a = np.array(vals)
        d = a[:, 0] - base[:, 0]
        rows.append(
            [
                name,
                *np.round(a.mean(0), 3),
                round(float(d.mean()), 2),
                round(float(d.min()), 2),
                round(float(d.max()), 2),
            ]
        )
    md = (
        f"### Near-miss evidence in the confidence (SQuAD half a: {len(v1)} v1.1, {len(v2)} v2.0 questions, "
        f"top {n} passages)\n\n"
        f"Means over {args.splits} random 2-fold splits of the v2.0 articles (out-of-fold); the threshold keeps "
        f">= {args.min_answered:.1%} of v1.1 answered. Change: v2.0 F1 minus the refit shipped features on the "
        "same split (mean, min, max).\n\n"
    )
    md += md_table(
        ["features", "v2.0 F1", "v2.0 unanswerable declined", "v1.1 F1", "v1.1 answered", "change", "min", "max"],
        rows,
    )
    # how far apart the evidence is: the best span's (by margin) values, answerable vs unanswerable v2.0 questions
    cols = ["margin", "cover", "sent_cover", "ent_cover", "support", "type"]
    groups: dict[str, list[list[float]]] = {"answerable": [], "unanswerable": []}
    for r, x in zip(v2, f2, strict=True):
        if len(x):
            best = x[int(np.argmax(x[:, FEATURES.index("margin")]))]
            groups["answerable" if r["answers"] else "unanswerable"].append([best[FEATURES.index(c)] for c in cols])
    means = [[g, len(v), *np.round(np.mean(v, axis=0), 3)] for g, v in groups.items()]
    md += "\n\nMean evidence of the best span (by reader margin), v2.0 questions:\n\n"
    md += md_table(["questions", "n", *cols], means)
    save("near_miss_evidence", md, {"feature_sets": res, "means": {m[0]: m[1:] for m in means}})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("collect")
    p.add_argument("split", choices=["v1", "v2"])
    p.add_argument("--every", type=int, default=1, help="every n-th question")
    p = sub.add_parser("sweep")
    p.add_argument("--write", action="store_true", help="store the chosen confidence model in reader.json")
    p.add_argument("--passages", type=int, default=5)
    p.add_argument("--features", nargs="+", default=list(FEATURES))
    p.add_argument(
        "--min-answered",
        type=float,
        default=0.9,
        help="--write: the threshold keeps at least this share of v1.1 questions answered (margin over 0.9 for "
        "sampling: the product is measured on other questions)",
    )
    sub.add_parser("early-exit")
    sub.add_parser("headroom")
    p = sub.add_parser("evidence")
    p.add_argument("--splits", type=int, default=4)
    p.add_argument("--passages", type=int, default=5)
    p.add_argument("--min-answered", type=float, default=0.915)
    args = ap.parse_args()
    commands = {
        "collect": cmd_collect,
        "sweep": cmd_sweep,
        "early-exit": cmd_early_exit,
        "headroom": cmd_headroom,
        "evidence": cmd_evidence,
    }
    commands[args.cmd](args)


if __name__ == "__main__":
    main()
