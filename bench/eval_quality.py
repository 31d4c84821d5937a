"""Answer and retrieval quality on data nobody here wrote (reads ../shared/data).

    python -m bench.eval_quality squad      # SQuAD v1.1 dev half a, open setting: recall@k, sentence hits, EM/F1
    python -m bench.eval_quality fusion     # fusion and passage-size grid on half a (recall@1/5/20)
    python -m bench.eval_quality v2         # SQuAD v2.0 dev half a: abstention, threshold sweep
    python -m bench.eval_quality scifact    # SciFact: nDCG@10, recall@100 for BM25, dense, fused
    python -m bench.eval_quality all

Tables go to stdout and bench/results/*.md|json; recall@k curves to bench/results/recall_curves.png.
"""

from __future__ import annotations

import argparse
import dataclasses
import math

import numpy as np

from bench.common import (
    RESULTS,
    best_over,
    cached_index,
    exact_match,
    f1_score,
    load_scifact,
    md_table,
    save,
    scifact_beir_claims,
    squad11a,
    squad20a,
)
from docqa.index.backend import IndexSettings
from docqa.index.encoder import get_encoder
from docqa.index.passages import PassageSettings
from docqa.qa.fusion import FusionSettings, fuse
from docqa.qa.pipeline import QA
from docqa.qa.settings import QASettings

KS = (1, 5, 20)


def rankings(idx, questions: list[str], n: int = 100):
    """bm25 and dense (rows, scores) per question, the query vectors computed in one batch."""
    qv = get_encoder().encode(questions, batch_size=128)
    bm = [idx.bm25_rows(q, n) for q in questions]
    de = [idx.dense_rows(v, n) for v in qv]
    return bm, de


def has_answer(idx, row: int, golds: list[str]) -> bool:
    text = idx.passages[row].text
    return any(g in text for g in golds)


def recall_curve(idx, ranked: list[list[int]], golds: list[list[str]], kmax: int = 20) -> np.ndarray:
    """recall@k for k = 1..kmax (fraction of questions with a gold answer in the top k passages)."""
    first = []
    for rows, g in zip(ranked, golds, strict=True):
        pos = next((i for i, r in enumerate(rows[:kmax]) if has_answer(idx, r, g)), None)
        first.append(pos)
    return np.array([np.mean([p is not None and p < k for p in first]) for k in range(1, kmax + 1)])


def pairs(ranking) -> list[tuple[int, float]]:
    """(rows, scores) arrays -> [(row, score)] as fuse() takes them."""
    rows, scores = ranking
    return list(zip(rows.tolist(), scores.tolist(), strict=True))


def fused_rows(bm, de, fs: FusionSettings, k: int = 20) -> list[list[int]]:
    return [[r for r, _ in fuse(pairs(b), pairs(d), fs)[:k]] for b, d in zip(bm, de, strict=True)]


def retrieval_table(idx, qs, fs: FusionSettings) -> tuple[dict, dict]:
    bm, de = rankings(idx, [q.question for q in qs])
    golds = [q.answers for q in qs]
    curves = {
        "BM25": recall_curve(idx, [list(b[0]) for b in bm], golds),
        "dense": recall_curve(idx, [list(d[0]) for d in de], golds),
        "fused": recall_curve(idx, fused_rows(bm, de, fs), golds),
    }
    return curves, {"bm": bm, "de": de}


def answer_eval(store, qs, settings: QASettings, limit: int = 0) -> dict:
    service = QA(store, settings)
    sample = qs[:limit] if limit else qs
    em = f1 = sent_hit = found = 0.0
    lat = []
    for q in sample:
        a = service.answer(q.question)
        lat.append(a.timings_ms["total"])
        pred = a.text if a.found else ""
        em += best_over(exact_match, pred, q.answers)
        f1 += best_over(f1_score, pred, q.answers)
        found += a.found
        sent = a.sentence or ""
        sent_hit += a.found and any(g in sent for g in q.answers)
    n = len(sample)
    return {
        "questions": n,
        "reader": "span" if service.span_reader is not None else "sentence",
        "EM": 100 * em / n,
        "F1": 100 * f1 / n,
        "sentence_hit": sent_hit / n,
        "answered": found / n,
        "p50_ms": float(np.median(lat)),
    }


def cmd_squad(args) -> dict:
    docs, qs = squad11a()
    store, idx = cached_index("squad11a", docs)
    fs = QASettings().fusion
    curves, _ = retrieval_table(idx, qs, fs)
    rows = [[name, *(float(c[k - 1]) for k in KS)] for name, c in curves.items()]
    md = [
        f"### SQuAD v1.1 dev half a, open setting ({len(docs)} articles, {len(idx)} passages, {len(qs)} questions)",
        "",
    ]
    md.append(md_table(["retriever", "recall@1", "recall@5", "recall@20"], rows))
    results = {"retrieval": {n: c.tolist() for n, c in curves.items()}, "passages": len(idx)}
    ans_rows = []
    for reader in args.readers:
        r = answer_eval(store, qs, QASettings(reader=reader, abstain=False), args.limit)
        results[f"answers_{reader}"] = r
        ans_rows.append([r["reader"], r["questions"], r["EM"], r["F1"], r["sentence_hit"], r["p50_ms"]])
    if ans_rows:
        md += ["", "Answers (no abstention; official SQuAD v1.1 normalisation):", ""]
        md.append(md_table(["reader", "questions", "EM", "F1", "supporting-sentence hit", "answer() p50 ms"], ans_rows))
    save("squad_open", "\n".join(md), results)
    plot({"SQuAD v1.1 half a": curves})
    return results


def cmd_fusion(args) -> dict:
    docs, qs = squad11a()
    golds = [q.answers for q in qs]
    rows, data = [], []
    for ps in [PassageSettings(3, 1), PassageSettings(4, 1), PassageSettings(6, 2)]:
        _, idx = cached_index("squad11a", docs, IndexSettings(passages=ps))
        bm, de = rankings(idx, [q.question for q in qs])
        base = {
            "BM25": recall_curve(idx, [list(b[0]) for b in bm], golds),
            "dense": recall_curve(idx, [list(d[0]) for d in de], golds),
        }
        grid = [FusionSettings("rrf", k, 1.0, 1.0) for k in (5, 20, 60, 100)]
        grid += [FusionSettings("rrf", 60, 1.0, w) for w in (0.5, 1.5, 2.0)]
        grid += [FusionSettings("minmax", 60, 1.0, w) for w in (0.5, 1.0, 1.5, 2.0)]
        label = f"{ps.sentences} sent / {ps.overlap} overlap ({len(idx)} passages)"
        for name, c in base.items():
            rows.append([label, name, *(float(c[k - 1]) for k in KS)])
        for fs in grid:
            c = recall_curve(idx, fused_rows(bm, de, fs), golds)
            desc = (
                f"{fs.method} k={fs.rrf_k:g} w_dense={fs.dense_weight:g}"
                if fs.method == "rrf"
                else f"minmax w_dense={fs.dense_weight:g}"
            )
            rows.append([label, desc, *(float(c[k - 1]) for k in KS)])
            data.append({"passages": dataclasses.asdict(ps), "fusion": dataclasses.asdict(fs), "recall": c.tolist()})
    md = "### Tuning on SQuAD v1.1 dev half a (retrieval recall)\n\n" + md_table(
        ["passages", "retriever / fusion", "recall@1", "recall@5", "recall@20"], rows
    )
    save("tuning", md, {"grid": data})
    return {"grid": data}


def cmd_v2(args) -> dict:
    docs, qs = squad20a()
    store, idx = cached_index("squad20a", docs)
    out, md = (
        {},
        [
            f"### SQuAD v2.0 dev half a: abstention ({len(qs)} questions, {sum(not q.answers for q in qs)} unanswerable)",
            "",
        ],
    )
    rows = []
    for reader in args.readers:
        service = QA(store, QASettings(reader=reader, abstain=False))
        recs = []
        for q in qs[: args.limit or None]:
            a = service.answer(q.question)
            f1 = best_over(f1_score, a.text, q.answers) if q.answers else 0.0
            recs.append((a.confidence, bool(q.answers), f1))
        conf = np.array([r[0] for r in recs])
        has = np.array([r[1] for r in recs])
        f1s = np.array([r[2] for r in recs])
        sweep = []
        for t in np.unique(np.round(np.concatenate([[0.0], conf, [conf.max() + 1e-6]]), 3)):
            answered = conf >= t
            f1_all = np.where(has, np.where(answered, f1s, 0.0), np.where(answered, 0.0, 1.0))
            sweep.append((float(t), float(f1_all.mean()), float(answered[has].mean()), float((~answered[~has]).mean())))
        best = max(sweep, key=lambda s: s[1])
        name = "span" if service.span_reader is not None else "sentence"
        out[name] = {
            "best_threshold": best[0],
            "F1": best[1],
            "answerable_answered": best[2],
            "unanswerable_abstained": best[3],
            "sweep": sweep[:: max(1, len(sweep) // 200)],
        }
        rows.append([name, best[0], 100 * best[1], best[2], best[3], 100 * float(np.mean(has))])
    md.append(
        md_table(
            [
                "reader",
                "chosen threshold",
                "overall F1",
                "answerable: answered",
                "unanswerable: abstained",
                "F1 if never abstaining",
            ],
            rows,
        )
    )
    save("squad_v2_abstention", "\n".join(md), out)
    return out


def ndcg_at(ranked: list[str], rel: set[str], k: int) -> float:
    dcg = sum(1 / math.log2(i + 2) for i, d in enumerate(ranked[:k]) if d in rel)
    idcg = sum(1 / math.log2(i + 2) for i in range(min(k, len(rel))))
    return dcg / idcg if idcg else 0.0


def cmd_scifact(args) -> dict:
    """Two protocols: the 188 validation claims with evidence (relevant = evidence documents), and BEIR's (all 300
    validation claims, relevant = every cited document), which is what BEIR's published numbers use."""
    docs, claims = load_scifact()
    beir = scifact_beir_claims()
    _, idx = cached_index("scifact", docs)
    texts = {cid: c for cid, c, _ in claims + beir}
    order = list(texts)
    bm, de = rankings(idx, [texts[c] for c in order], n=400)
    fs = dataclasses.replace(QASettings().fusion, candidates=400)

    def doc_rank(rows) -> list[str]:
        seen, out = set(), []
        for r in rows:
            d = idx.passages[r].doc_id
            if d not in seen:
                seen.add(d)
                out.append(d)
        return out

    ranked = {
        "BM25": [doc_rank(b[0]) for b in bm],
        "dense": [doc_rank(d[0]) for d in de],
        "fused": [doc_rank([r for r, _ in fuse(pairs(b), pairs(d), fs)]) for b, d in zip(bm, de, strict=True)],
    }
    pos = {c: i for i, c in enumerate(order)}
    rows, res, curves = [], {}, {}
    for proto, cl in (("evidence (188 claims)", claims), ("BEIR (300 claims, cited documents)", beir)):
        for name, rk_all in ranked.items():
            rk = [rk_all[pos[cid]] for cid, _, _ in cl]
            rels = [rel for _, _, rel in cl]
            nd = float(np.mean([ndcg_at(r, rel, 10) for r, rel in zip(rk, rels, strict=True)]))
            rec = float(np.mean([len(set(r[:100]) & rel) / len(rel) for r, rel in zip(rk, rels, strict=True)]))
            if proto.startswith("BEIR"):
                curves[name] = np.array(
                    [
                        np.mean([len(set(r[:k]) & rel) / len(rel) for r, rel in zip(rk, rels, strict=True)])
                        for k in range(1, 101)
                    ]
                )
            rows.append([proto, name, nd, rec])
            res[f"{proto}: {name}"] = {"ndcg@10": nd, "recall@100": rec}
    md = f"### SciFact ({len(docs)} abstracts, {len(idx)} passages)\n\n" + md_table(
        ["protocol", "retriever", "nDCG@10", "recall@100"], rows
    )
    md += "\n\nReference (BEIR, its protocol): BM25 nDCG@10 0.665, all-MiniLM-L6-v2 about 0.645."
    save("scifact", md, res)
    plot({"SciFact": curves})
    return res


def plot(new: dict) -> None:
    """Add curves to bench/results/recall_curves.png (one panel per dataset, kept across runs)."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    store = RESULTS / "recall_curves.json"
    curves = json.loads(store.read_text()) if store.exists() else {}
    for ds, cs in new.items():
        curves[ds] = {k: list(map(float, v)) for k, v in cs.items()}
    store.write_text(json.dumps(curves))
    fig, axes = plt.subplots(1, len(curves), figsize=(6 * len(curves), 4.2), squeeze=False)
    for ax, (ds, cs) in zip(axes[0], sorted(curves.items()), strict=True):
        for name, ys in cs.items():
            ax.plot(range(1, len(ys) + 1), ys, label=name, marker="." if len(ys) <= 20 else None)
        ax.set_title(ds)
        ax.set_xlabel("k (passages)" if len(next(iter(cs.values()))) <= 20 else "k (documents)")
        ax.set_ylabel("recall@k")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(RESULTS / "recall_curves.png", dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["squad", "fusion", "v2", "scifact", "all"])
    ap.add_argument(
        "--readers", nargs="*", default=["sentence", "span"], help="readers to evaluate (span needs the shipped model)"
    )
    ap.add_argument("--limit", type=int, default=0, help="answer only the first N questions (0 = all)")
    args = ap.parse_args()
    from docqa.qa.readers.span import MODEL_DIR

    if not (MODEL_DIR / "reader.json").exists():
        args.readers = [r for r in args.readers if r != "span"]
    todo = ["squad", "fusion", "v2", "scifact"] if args.what == "all" else [args.what]
    for w in todo:
        globals()[f"cmd_{w}"](args)


if __name__ == "__main__":
    main()
