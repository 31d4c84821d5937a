"""Soak: loopback clients for minutes against a real ``docqa serve`` process, mixing questions, uploads, deletions.

    python -m bench.soak --clients 20 --minutes 10

The server runs as its own process (the installed ``docqa serve`` on a copy of the seeds, in a temporary folder),
so its memory is measured from outside (psutil, every 5 s). Each client loops: mostly questions through
``POST /api/answer`` (every answer checked with ``answer_json_is_consistent``: the cited text is exactly the
slice of a passage served with it), now and then an upload of a small document (txt, md, html or a generated
PDF) and, later, its deletion, and the occasional bad request (which must get a clear 4xx JSON error, counted
as expected, not as an error). An error is any 5xx, any connection failure, any 4xx to a valid request (429 is
counted separately: it is the per-client limit doing its job), or any inconsistent answer.
Reports requests, errors, answers checked, and the server's RSS over time: after warm-up (the first 20% of the
run), the median of the last quarter of the samples against the median of the first quarter (the trend, not one
sample: RSS rises and falls as indexes are built and swapped) must stay under 10%, and the peak is reported.

    python -m bench.soak --teams --clients 12 --minutes 10

``--teams``: two collections (``hr``: the seeds; ``eng``: a build-server note) behind tokens. Clients take turns
as hr editor, eng editor, hr reader and eng reader; editors upload and delete in their collection, everyone asks.
Every answer (citations, alternatives and hits) must cite only documents of the asker's collection: a document
of the other collection counts as a leak (and as an error).
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time

import numpy as np

from bench.common import md_table, save
from bench.served import Served, multipart, request, serve_seeds, serve_team
from docqa.qa.types import answer_json_is_consistent

QUESTIONS = [
    "What is THAAD?",
    "Where will the drill be held?",
    "When will the drill be held?",
    "Who said the THAAD system threatens equilibrium on the Korean Peninsula?",
    "What did Xi Jinping declare?",
    "When did the Korean War last?",
    "What is the capital of France?",
    "How far away is the Moon?",
    "When did the supply ship reach the port?",
]


ENG_TEXT = (
    "Falcon build server handbook.\n\nThe Falcon build server answers on port 8443. Deployments happen every "
    "Tuesday at 14:00. The on-call engineer this quarter is Priya Raman.\n"
)


def make_upload(rng: random.Random, i: int, prefix: str = "soak") -> tuple[str, bytes]:
    n = rng.randint(1, 999)
    text = (
        f"Bulletin {i}. The supply ship number {n} reached the port of Vladivostok on day {n % 28 + 1}. "
        f"It carried {n * 3} tonnes of grain and {n % 17} crates of spare parts for the research center."
    )
    kind = rng.choice(["txt", "md", "html", "pdf"])
    if kind == "html":
        return f"{prefix}-{i}.html", f"<html><body><h1>Bulletin {i}</h1><p>{text}</p></body></html>".encode()
    if kind == "md":
        return f"{prefix}-{i}.md", f"# Bulletin {i}\n\n{text}\n".encode()
    if kind == "pdf":
        from fpdf import FPDF

        pdf = FPDF()
        pdf.add_page()
        pdf.set_font("Helvetica", size=11)
        pdf.multi_cell(0, 6, text)
        return f"{prefix}-{i}.pdf", bytes(pdf.output())
    return f"{prefix}-{i}.txt", text.encode()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--upload-rate", type=float, default=0.03, help="share of client actions that upload")
    ap.add_argument("--teams", action="store_true", help="two collections behind tokens; count leaks")
    args = ap.parse_args()
    if not args.teams:
        with serve_seeds() as served:
            _soak(args, served, None)
        return
    import tempfile
    from pathlib import Path

    from docqa.ui.tokens import TokenStore

    store = TokenStore(Path(tempfile.mkdtemp()) / "tokens.json")
    roles = [
        ("hr", store.create("editor", ["hr"], "hr-editor")[0], True),
        ("eng", store.create("editor", ["eng"], "eng-editor")[0], True),
        ("hr", store.create("reader", ["hr"], "hr-reader")[0], False),
        ("eng", store.create("reader", ["eng"], "eng-reader")[0], False),
    ]
    with serve_team({"eng": ENG_TEXT}, store.path) as served:
        _soak(args, served, roles)


def _cited(out: dict) -> set[str]:
    """Every document id an answer shows: citations, alternatives' citations, hits."""
    groups = [out, *out.get("alternatives", [])]
    return {c["doc_id"] for g in groups for c in g.get("citations", [])} | {h["doc_id"] for h in out.get("hits", [])}


def _belongs(doc_id: str, coll: str) -> bool:
    if coll == "eng":
        return doc_id == "eng.txt" or doc_id.startswith("uploads/soak-eng-")
    return doc_id.startswith("uploads/soak-hr-") or (not doc_id.startswith("uploads/") and doc_id != "eng.txt")


def _soak(args, served: Served, roles: list[tuple[str, str, bool]] | None) -> None:
    import psutil

    base = served.base
    proc = psutil.Process(served.process.pid)
    stop = time.monotonic() + args.minutes * 60
    t0 = time.monotonic()
    lock = threading.Lock()
    counts = {
        "answers": 0,
        "consistent": 0,
        "uploads": 0,
        "deletions": 0,
        "bad_requests": 0,
        "refused_429": 0,
        "leaks": 0,
    }
    latencies: list[float] = []
    errors: list[str] = []
    rss: list[tuple[float, float]] = []

    def record_error(msg: str) -> None:
        with lock:
            errors.append(msg[:300])

    def client(i: int) -> None:
        rng = random.Random(i)
        mine: list[str] = []
        k = 0
        coll, token, edits = roles[i % len(roles)] if roles else ("", "", True)
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        where = f"?collection={coll}" if coll else ""
        upload_rate = args.upload_rate if edits else 0.0
        while time.monotonic() < stop:
            k += 1
            r = rng.random()
            try:
                if r < upload_rate:
                    name, content = make_upload(rng, i * 100_000 + k, f"soak-{coll}" if coll else "soak")
                    body, hdr = multipart(name, content)
                    status, out = request(base + "api/documents" + where, "POST", body, {**hdr, **auth})
                    if status == 202:
                        mine.append(out["doc_id"])
                        with lock:
                            counts["uploads"] += 1
                    elif status == 429:
                        with lock:
                            counts["refused_429"] += 1
                    else:
                        record_error(f"upload {status}: {out}")
                elif r < 2 * upload_rate and mine:
                    doc = mine.pop(0)
                    status, out = request(base + f"api/documents/{doc}{where}", "DELETE", None, auth)
                    if status == 202:
                        with lock:
                            counts["deletions"] += 1
                    elif status == 404 and "unknown document" in str(out):
                        mine.append(doc)  # not indexed yet: try again later
                    elif status == 429:
                        with lock:
                            counts["refused_429"] += 1
                    else:
                        record_error(f"delete {status}: {out}")
                elif r < 2 * upload_rate + 0.02:
                    bad = rng.choice([b"{}", b'{"question": ""}', b"not json", b'{"question": "x", "k": 0}'])
                    hdr = {"Content-Type": "application/json", **auth}
                    status, out = request(base + "api/answer", "POST", bad, hdr)
                    if 400 <= status < 500 and "error" in out:
                        with lock:
                            counts["bad_requests"] += 1
                    else:
                        record_error(f"bad request got {status}: {out}")
                else:
                    q = rng.choice(QUESTIONS)
                    t = time.perf_counter()
                    body = json.dumps({"question": q}).encode()
                    hdr = {"Content-Type": "application/json", "X-Client-Id": str(i), **auth}
                    status, out = request(base + "api/answer", "POST", body, hdr)
                    dt = (time.perf_counter() - t) * 1000
                    if status == 429:
                        with lock:
                            counts["refused_429"] += 1
                        continue
                    ok = status == 200 and answer_json_is_consistent(out)
                    leaked = sorted(d for d in _cited(out) if not _belongs(d, coll)) if coll and ok else []
                    with lock:
                        counts["answers"] += 1
                        counts["consistent"] += ok
                        counts["leaks"] += bool(leaked)
                        latencies.append(dt)
                    if not ok:
                        record_error(f"answer {status}: {str(out)[:200]}")
                    if leaked:
                        record_error(f"{coll} answer cited another collection's {leaked}")
            except Exception as exc:  # a connection failure is an error, counted, and the client goes on
                record_error(f"{type(exc).__name__}: {exc}")
                time.sleep(0.5)

    def sampler() -> None:
        while time.monotonic() < stop:
            rss.append((time.monotonic() - t0, proc.memory_info().rss / 1e6))
            time.sleep(5)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    threads.append(threading.Thread(target=sampler))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _, health = request(base + "api/health")  # no token needed
    wall = time.monotonic() - t0
    warm = [m for s, m in rss if s >= 0.2 * wall]
    q = max(1, len(warm) // 4)
    early, late = (float(np.median(warm[:q])), float(np.median(warm[-q:]))) if warm else (float("nan"),) * 2
    growth = late / early - 1 if warm else float("nan")
    res = {
        "clients": args.clients,
        "teams": bool(roles),
        "seconds": round(wall, 1),
        **counts,
        "requests": counts["answers"] + counts["uploads"] + counts["deletions"] + counts["bad_requests"],
        "errors": len(errors),
        "error_samples": errors[:10],
        "answer_p50_ms": float(np.median(latencies)) if latencies else None,
        "answer_p95_ms": float(np.percentile(latencies, 95)) if latencies else None,
        "rss_mb": rss,
        "rss_after_warmup_mb": {"first_quarter_median": early, "last_quarter_median": late, "peak": max(warm)}
        if warm
        else None,
        "rss_growth_after_warmup": growth,
        "documents_at_end": health.get("documents"),
    }
    what = "two collections behind tokens, " if roles else ""
    md = f"### Soak: {args.clients} loopback clients, {what}{wall / 60:.1f} min against `docqa serve` (2 CPU cores)\n\n"
    md += md_table(
        [
            "requests",
            "errors",
            "answers checked consistent",
            "uploads",
            "deletions",
            "bad requests refused (4xx JSON)",
            "429",
            "answer p50 / p95 ms",
            "server RSS after warm-up MB (median of first -> last quarter; peak)",
            "trend",
            "answers citing another collection",
        ],
        [
            [
                res["requests"],
                res["errors"],
                f"{counts['consistent']} / {counts['answers']}",
                counts["uploads"],
                counts["deletions"],
                counts["bad_requests"],
                counts["refused_429"],
                f"{res['answer_p50_ms']:.0f} / {res['answer_p95_ms']:.0f}",
                f"{early:.0f} -> {late:.0f}; {max(warm):.0f}" if warm else "-",
                f"{growth:+.1%}",
                counts["leaks"] if roles else "-",
            ]
        ],
    )
    save("soak_teams" if roles else "soak", md, res)


if __name__ == "__main__":
    main()
