"""Load test: N concurrent clients ask the running Gradio app through its HTTP API, while the index is updated.

    python bench/load.py --clients 50 --seconds 60 --update-every 10

Loopback only (the app binds 127.0.0.1), bounded by --seconds. Each client loops over seed questions via
gradio_client (``/answer``), checks every answer is consistent (the cited text is exactly the slice of the cited
passage it returns), and records latency. Meanwhile an updater adds a document to the corpus, rebuilds the
index incrementally and swaps it into the live service. Prints and saves p50/p95 latency, errors, swaps.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from common import ROOT, md_table, save

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--update-every", type=float, default=10, help="seconds between index updates (0 = none)")
    args = ap.parse_args()
    from gradio_client import Client

    from qa.pipeline import QA
    from qa.types import answer_json_is_consistent
    from ui.app import CSS, create_app

    tmp = Path(tempfile.mkdtemp())
    corpus, ix = tmp / "corpus", tmp / "ix"
    shutil.copytree(ROOT / "seeds", corpus)
    service = QA.from_corpus(corpus, ix)
    demo = create_app(service)
    demo.queue(default_concurrency_limit=4, max_size=1024)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, css=CSS)
    url = f"http://127.0.0.1:{port}/"
    stop = time.monotonic() + args.seconds
    lat: list[float] = []
    errors: list[str] = []
    swaps = [0]
    lock = threading.Lock()

    def client(i: int) -> None:
        try:
            c = Client(url, verbose=False)
        except Exception as exc:  # counted, not raised
            with lock:
                errors.append(f"connect: {exc}")
            return
        k = i
        while time.monotonic() < stop:
            q = QUESTIONS[k % len(QUESTIONS)]
            k += 1
            t = time.perf_counter()
            try:
                out = c.predict(q, api_name="/answer")
                ok = answer_json_is_consistent(out)
            except Exception as exc:
                ok, out = False, {"error": repr(exc)}
            dt = (time.perf_counter() - t) * 1000
            with lock:
                lat.append(dt)
                if not ok:
                    errors.append(str(out.get("error", "inconsistent answer"))[:200])

    def updater() -> None:
        n = 0
        while args.update_every and time.monotonic() + args.update_every < stop:
            time.sleep(args.update_every)
            n += 1
            (corpus / f"update-{n}.txt").write_text(
                f"Bulletin {n}. The supply ship number {n} reached the research center on day {n * 3} of the drill."
            )
            service.sync()
            swaps[0] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    up = threading.Thread(target=updater)
    t0 = time.monotonic()
    for t in threads:
        t.start()
    up.start()
    for t in threads:
        t.join()
    up.join()
    wall = time.monotonic() - t0
    demo.close()
    shutil.rmtree(tmp, ignore_errors=True)
    res = {
        "clients": args.clients,
        "seconds": round(wall, 1),
        "requests": len(lat),
        "errors": len(errors),
        "error_samples": errors[:5],
        "throughput_rps": len(lat) / wall,
        "p50_ms": float(np.median(lat)) if lat else None,
        "p95_ms": float(np.percentile(lat, 95)) if lat else None,
        "index_swaps": swaps[0],
        "documents_at_end": len(service.index.documents),
    }
    md = f"### Load: {args.clients} concurrent HTTP clients for {args.seconds:g} s, index updated every {args.update_every:g} s\n\n"
    md += md_table(
        ["requests", "errors", "req/s", "p50 ms", "p95 ms", "index swaps"],
        [
            [
                res["requests"],
                res["errors"],
                f"{res['throughput_rps']:.1f}",
                f"{res['p50_ms']:.0f}",
                f"{res['p95_ms']:.0f}",
                res["index_swaps"],
            ]
        ],
    )
    save("load", md, res)


if __name__ == "__main__":
    main()
