"""Load test: users who each ask a question every few seconds, against a real ``docqa serve``, while the index swaps.

    python -m bench.load --users 50 --every 5 --seconds 60                 # the target: 0 errors, p95 < 1 s
    python -m bench.load --users 50 75 100 125 150 --every 5 --seconds 60  # the largest number keeping p95 < 1 s
    python -m bench.load --users 50 --every 0 --seconds 60 --workers 2     # closed loop: answers/s at saturation

The server is the installed ``docqa serve`` (optionally ``--workers N``) on a copy of ``seeds/``, in its own
process, over loopback. Each user asks ``POST /api/answer`` every ``--every`` seconds (open loop: a user's
schedule does not wait for slow answers, as real people do not; the first question comes at a random moment of
the first interval; ``--every 0`` asks again as soon as an answer arrives). Latency is measured from the moment
the question is due, so time spent waiting for the client itself counts too. Meanwhile a document is uploaded
through ``POST /api/documents`` every ``--update-every`` seconds: the server indexes it in the background and
swaps the new index in while answering. Every answer is checked (``answer_json_is_consistent``: the cited text
is exactly the slice of the passage served with it); an error is any non-200 status, failed connection or
inconsistent answer. With several ``--users`` values the same server runs each load in turn, and the table
marks the largest one whose p95 stays under 1 s.
"""

from __future__ import annotations

import argparse
import queue
import random
import threading
import time

import numpy as np

from bench.common import md_table, save
from bench.served import Served, ask, multipart, request, serve_seeds
from docqa.qa.types import answer_json_is_consistent

QUESTIONS = [
    "What is THAAD?",
    "Where will the drill be held?",
    "When will the drill be held?",
    "Who is the Chinese foreign minister?",
    "What did Xi Jinping declare?",
    "What does the THAAD radar range extend into?",
    "When did North Korea conduct its fourth nuclear test?",
    "How do I bake bread?",
]
P95_BUDGET_MS = 1000.0


class _Tally:
    """Latencies, errors and uploads of one load level, shared by its threads."""

    def __init__(self) -> None:
        self.lat: list[float] = []
        self.errors: list[str] = []
        self.uploads = 0
        self.lock = threading.Lock()

    def ask(self, served: Served, question: str, user: int, since: float) -> None:
        """Ask as ``user``; record the latency counted from ``since`` (monotonic) and any error."""
        try:
            status, out = ask(served.base, question, f"user-{user}")
            msg = "" if status == 200 and answer_json_is_consistent(out) else f"{status}: {str(out)[:200]}"
        except Exception as exc:  # counted, not raised
            msg = f"{type(exc).__name__}: {exc}"
        dt = (time.monotonic() - since) * 1000
        with self.lock:
            self.lat.append(dt)
            if msg:
                self.errors.append(msg)

    def upload(self, served: Served, name: str, text: str) -> None:
        """Upload one document; the server indexes it in the background and swaps the new index in."""
        status, out = request(served.base + "api/documents", "POST", *multipart(name, text.encode()))
        with self.lock:
            if status == 202:
                self.uploads += 1
            else:
                self.errors.append(f"upload {status}: {str(out)[:200]}")


def run_load(served: Served, users: int, every: float, seconds: float, update_every: float) -> dict:
    """One load level: ``users`` users for ``seconds``; returns latency percentiles, errors and uploads."""
    start = time.monotonic() + 1.0
    stop = start + seconds
    tally = _Tally()
    # open loop: due questions go through a queue to one sender thread per user, so that a user's schedule never
    # waits on an answer
    due: queue.Queue[tuple[float, int] | None] = queue.Queue()

    def scheduler(i: int) -> None:
        rng = random.Random(i)
        t = start + rng.uniform(0, every)
        while t < stop:
            time.sleep(max(0.0, t - time.monotonic()))
            due.put((t, i))
            t += every

    def sender() -> None:
        while (item := due.get()) is not None:
            t_due, i = item
            tally.ask(served, QUESTIONS[(i + int(t_due)) % len(QUESTIONS)], i, t_due)

    def closed_loop_user(i: int) -> None:  # asks again as soon as its answer arrives (saturation: answers/s)
        time.sleep(max(0.0, start - time.monotonic()))
        k = i
        while time.monotonic() < stop:
            tally.ask(served, QUESTIONS[k % len(QUESTIONS)], i, time.monotonic())
            k += 1

    def updater() -> None:
        n = 0
        time.sleep(max(0.0, start - time.monotonic()))
        while update_every and time.monotonic() + update_every < stop:
            time.sleep(update_every)
            n += 1
            text = f"Bulletin {users}-{n}. The supply ship number {n} reached the research center on day {n * 3}."
            tally.upload(served, f"load-{users}-{n}.txt", text)

    if every > 0:
        clients = [threading.Thread(target=scheduler, args=(i,)) for i in range(users)]
        senders = [threading.Thread(target=sender) for _ in range(users)]
    else:
        clients = [threading.Thread(target=closed_loop_user, args=(i,)) for i in range(users)]
        senders = []
    up = threading.Thread(target=updater)
    before = request(served.base + "api/health")[1].get("documents")
    for t in [*clients, *senders, up]:
        t.start()
    for t in clients:
        t.join()
    for _ in senders:
        due.put(None)
    for t in [*senders, up]:
        t.join()
    wall = time.monotonic() - start
    time.sleep(2.0)
    after = request(served.base + "api/health")[1].get("documents")
    lat = tally.lat
    return {
        "users": users,
        "every_s": every,
        "seconds": round(wall, 1),
        "requests": len(lat),
        "errors": len(tally.errors),
        "error_samples": tally.errors[:5],
        "answers_per_s": len(lat) / wall,
        "p50_ms": float(np.median(lat)) if lat else None,
        "p95_ms": float(np.percentile(lat, 95)) if lat else None,
        "max_ms": float(max(lat)) if lat else None,
        "uploads": tally.uploads,
        "documents_before_after": [before, after],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, nargs="+", default=[50])
    ap.add_argument("--every", type=float, default=5.0, help="seconds between one user's questions (0: closed loop)")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--update-every", type=float, default=10, help="seconds between uploads (0 = none)")
    ap.add_argument("--workers", type=int, default=1, help="docqa serve --workers")
    ap.add_argument("--name", default="load")
    args = ap.parse_args()
    results = []
    with serve_seeds("--workers", str(args.workers)) as served:
        ask(served.base, QUESTIONS[0], "warm-up")
        for users in args.users:
            r = run_load(served, users, args.every, args.seconds, args.update_every)
            r["workers"] = args.workers
            print(r, flush=True)
            results.append(r)
    ok = [r["users"] for r in results if r["errors"] == 0 and r["p95_ms"] is not None and r["p95_ms"] < P95_BUDGET_MS]
    best = max(ok) if ok else None
    pace = f"each asking every {args.every:g} s" if args.every > 0 else "each asking again as soon as answered"
    md = (
        f"### Load: users {pace} for {args.seconds:g} s against `docqa serve --workers {args.workers}` "
        f"(seeds, 2 CPU cores), a document uploaded and swapped in every {args.update_every:g} s\n\n"
    )
    rows = [
        [
            r["users"],
            r["requests"],
            r["errors"],
            f"{r['answers_per_s']:.1f}",
            f"{r['p50_ms']:.0f}",
            f"{r['p95_ms']:.0f}",
            f"{r['max_ms']:.0f}",
            r["uploads"],
            " -> ".join(str(x) for x in r["documents_before_after"]),
            "yes" if r["users"] in ok else "no",
        ]
        for r in results
    ]
    md += md_table(
        ["users", "answers", "errors", "answers/s", "p50 ms", "p95 ms", "max ms", "uploads", "documents", "p95 < 1 s"],
        rows,
    )
    if len(results) > 1:
        md += f"\n\nLargest load measured with 0 errors and p95 < 1 s: {best if best is not None else 'none'} users.\n"
    save(args.name, md, {"results": results, "largest_ok_users": best})


if __name__ == "__main__":
    main()
