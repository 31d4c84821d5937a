"""The FAISS backend end to end at 100k and 1M passages: build, fresh open, serving memory, answer() and recall.

Each phase runs in its own process so that its memory is its own:

- ``build``: streams the corpus into ``FaissStore.update`` (documents generated one by one, never held): the
  SQuAD v1.1 dev half-a articles (whose questions are asked), real SQuAD train paragraphs with real vectors up to
  10k passages, then synthetic one-passage documents (4 real train sentences in a random order; vector = a real
  passage vector plus noise, derived from the text's hash). Reports build seconds and the process's peak RSS
  (models and the benchmark's own data included).
- ``serve``: a fresh process opens the index as ``docqa serve`` would (``FaissStore.load``; checksums of large
  files in the background), loads the reader, asks 1,000 real dev half-a questions through ``QA.answer`` (the
  product's defaults: hybrid retrieval, span reader, abstention, citations) and reports open seconds, answer()
  p50/p95, recall@5 (a gold answer inside one of the first 5 hits) and RSS after the questions.

Usage: ``python -m bench.scale --sizes 100000 1000000`` (indexes go to ``~/.cache/docqa/scale/<size>``; an index
already there is reused unless ``--rebuild``). Writes bench/results/scale.md and .json. ``python -m bench.scale
listing --sizes 100000 1000000`` times listing the documents of those indexes (scale_listing.md); ``python -m
bench.scale upload --sizes 100000 1000000`` times adding one document to a copy of each (scale_upload.md).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from bench.common import (
    machine_line,
    md_table,
    peak_rss_mb,
    rss_mb,
    rss_split_mb,
    save,
    scale_corpus,
    squad_train_paragraphs,
)

CACHE = Path(os.environ.get("DOCQA_SCALE_DIR", Path.home() / ".cache" / "docqa" / "scale"))
REAL_MAX = 10_000


class BenchEncoder:
    """The real encoder for questions; real passages get their cached vectors, every other passage text a
    synthetic vector derived from its hash (a real passage vector plus noise), so a million are 'embedded' in
    seconds and nothing is held per passage."""

    def __init__(self, table: dict[str, np.ndarray]) -> None:
        from docqa.index.encoder import get_encoder

        self.real = get_encoder()
        self.table = table
        self.base = np.stack(list(table.values()))
        self.dim, self.fingerprint, self.kind = self.real.dim, self.real.fingerprint, self.real.kind
        self.precision, self.precision_reason = self.real.precision, self.real.precision_reason

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False, report=None) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            v = self.table.get(t)
            if v is None:
                rng = np.random.default_rng(zlib.crc32(t.encode("utf-8")))
                v = self.base[rng.integers(0, len(self.base))] + rng.normal(0, 0.03, self.dim).astype(np.float32)
                v = v / np.linalg.norm(v)
            out[i] = v
        return out


def _synthetic_passages(doc, settings=None):
    """Synthetic documents are split at their sentence ends (what spaCy would find, without its cost)."""
    from docqa.index.passages import make_passages
    from docqa.index.types import Passage, Span

    if not doc.doc_id.startswith("synthetic-"):
        return make_passages(doc, settings)
    spans = [Span(m.start(), m.end()) for m in re.finditer(r"\S.*?\.(?= |$)", doc.text)]
    return [Passage(f"{doc.doc_id}#0", doc.doc_id, spans[0].start, spans[-1].end, doc.text, tuple(spans))]


def corpus(n: int) -> tuple[Iterator, BenchEncoder, int]:
    """(documents as a stream, encoder, number of real documents) for about ``n`` passages."""
    from docqa.index.types import Document

    real, enc, _ = scale_corpus(min(n, REAL_MAX))
    real = [d for d in real if not d.doc_id.startswith("synthetic-")]  # its filler; ours follow
    table = enc.table
    real_passages = len(table)
    pool = [s.strip() for _, ctx, _ in squad_train_paragraphs() for s in re.split(r"(?<=\.) ", ctx) if len(s) > 40]
    pool = [s for s in pool if s.endswith(".") and ". " not in s]

    def stream() -> Iterator:
        yield from real
        rng = np.random.default_rng(0)
        for i in range(max(0, n - real_passages)):
            text = " ".join(pool[j] for j in rng.integers(0, len(pool), 4))
            yield Document(f"synthetic-{i}", f"synthetic/{i}", text, "", f"synthetic {i}")

    return stream(), BenchEncoder(table), len(real)


def child_build(n: int, folder: Path, vectors: str = "fp32") -> dict:
    import docqa.index.faiss_store as fs
    from docqa.index.backend import IndexSettings

    fs.make_passages = _synthetic_passages
    docs, enc, _ = corpus(n)
    base = rss_mb()
    store = fs.FaissStore(folder, IndexSettings(vectors=vectors), enc)
    store.reset()
    t = time.perf_counter()
    stats = store.update(docs)
    build = time.perf_counter() - t
    disk = sum(f.stat().st_size for f in store.view().path.iterdir() if f.is_file())
    return {
        "passages": stats.passages,
        "documents": stats.documents,
        "build_s": build,
        "rss_before_build_mb": base,
        "peak_rss_mb": peak_rss_mb(),
        "disk_mb": disk / 1e6,
    }


def child_serve(folder: Path, n_questions: int, vectors: str = "fp32", reader_runtime: str | None = None) -> dict:
    from bench.common import squad11a
    from docqa.index.backend import IndexSettings
    from docqa.index.faiss_store import FaissStore
    from docqa.qa import QA
    from docqa.qa.readers.span import SpanReaderSettings
    from docqa.qa.settings import QASettings

    _, qs = squad11a()
    seen, questions = set(), []
    for q in qs:
        if q.question not in seen:
            seen.add(q.question)
            questions.append(q)
    import random

    random.Random(0).shuffle(questions)
    questions = questions[:n_questions]
    from docqa.index.encoder import get_encoder

    t = time.perf_counter()
    encoder = get_encoder()  # the question encoder (a server loads it anyway); the index open is timed alone
    encoder_s = time.perf_counter() - t
    start_rss = rss_mb()
    t = time.perf_counter()
    store = FaissStore(folder, IndexSettings(vectors=vectors), encoder=encoder)
    view = store.load()
    open_s = time.perf_counter() - t
    open_rss = rss_mb()
    t = time.perf_counter()
    qa = QA(store, QASettings(span=SpanReaderSettings(runtime=reader_runtime)))  # None: the shipped runtime
    qa.answer("Warm-up: what is the capital of France?")
    models_s = time.perf_counter() - t
    t = time.perf_counter()
    verified = view.wait_verified(600)
    verify_s = time.perf_counter() - t
    lat, found, answered = [], 0, 0
    stages: dict[str, list[float]] = {}
    for q in questions:
        t = time.perf_counter()
        ans = qa.answer(q.question)
        lat.append((time.perf_counter() - t) * 1000)
        for k, v in ans.timings_ms.items():
            stages.setdefault(k, []).append(v)
        found += any(any(g in h.passage.text for g in q.answers) for h in ans.hits[:5])
        answered += ans.found
    return {
        "passages": len(view),
        "reader_runtime": qa.span_reader.runtime,
        "open_s": open_s,
        "open_rss_growth_mb": open_rss - start_rss,
        "encoder_s": encoder_s,
        "models_s": models_s,
        "stages_ms_p50": {k: statistics.median(v) for k, v in stages.items()},
        "verify_wait_s": verify_s,
        "verified": verified and not view.damaged,
        "questions": len(questions),
        "answer_ms_p50": statistics.median(lat),
        "answer_ms_p95": float(np.percentile(lat, 95)),
        "recall_at_5": found / len(questions),
        "answered": answered / len(questions),
        "rss_after_mb": rss_mb(),
        "rss_split_after_mb": rss_split_mb(),
        "peak_rss_mb": peak_rss_mb(),
    }


def _child(args: list[str]) -> dict:
    cmd = [sys.executable, "-m", "bench.scale", *args]
    r = subprocess.run(cmd, capture_output=True, text=True)
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        print(r.stderr[-4000:], file=sys.stderr)
        raise SystemExit(f"{' '.join(args)} failed")
    return json.loads(line[7:])


def listing(sizes: list[int], vectors: str) -> None:
    """Listing documents of an index already built here: every row (what the Documents tab, /health, /collections
    and a question with a document filter read before paging) against a page, the count and a membership test."""
    from docqa.index.table import DocTable

    def median_s(f, n: int = 3) -> tuple[float, object]:
        times, out = [], None
        for _ in range(n):
            t = time.perf_counter()
            out = f()
            times.append(time.perf_counter() - t)
        return statistics.median(times), out

    rows = []
    for n in sizes:
        folder = CACHE / (str(n) if vectors == "fp32" else f"{n}-{vectors}")
        version = folder / (folder / "CURRENT").read_text().strip()
        counts = json.loads((version / "manifest.json").read_text())["counts"]
        table = DocTable(version / "store.sqlite", counts)
        every_s, every = median_s(lambda t=table: list(t.doc_rows()))
        ids = [r.doc.doc_id for r in every[:: max(1, len(every) // 10)]][:10]  # type: ignore[index]
        del every
        first_s, _ = median_s(lambda t=table: t.doc_page(0, 1000), 5)
        mid_s, _ = median_s(lambda t=table, h=counts["documents"] // 2: t.doc_page(h, 1000), 5)
        has_s, _ = median_s(lambda t=table, known=ids: all(t.doc_row(i) is not None for i in known), 5)
        rows.append(
            [
                f"{counts['documents']:,}",
                f"{every_s:.2f} s",
                f"{1000 * first_s:.1f} ms",
                f"{1000 * mid_s:.1f} ms",
                f"{1000 * has_s / len(ids):.3f} ms",
            ]
        )
        table.close()
    md = (
        "### Listing documents (medians; `python -m bench.scale listing --sizes "
        + " ".join(str(n) for n in sizes)
        + "`)\n\n"
        + md_table(
            ["documents", "every row (before paging)", "page of 1,000 at 0", "page of 1,000 at half", "one id known?"],
            rows,
        )
    )
    save("scale_listing", md, {"rows": rows})


def _strip_counts(folder: Path) -> None:
    """Make the live version of ``folder`` look like one saved before BM25 term counts were kept."""
    from docqa.index.bm25 import BM25Index

    version = folder / (folder / "CURRENT").read_text().strip()
    manifest = json.loads((version / "manifest.json").read_text())
    for f in BM25Index.COUNT_FILES:
        (version / f).unlink(missing_ok=True)
        manifest["files"].pop(f, None)
    (version / "manifest.json").write_text(json.dumps(manifest, indent=1))


def child_upload(folder: Path, strip: bool, i: int) -> dict:
    """One upload of a real one-page article into the index at ``folder`` (a copy), as ``docqa serve`` adds an
    upload: ``FaissStore.update`` with the one document; ``strip``: BM25 counts removed first, so the kept
    passages are tokenized again (the path before counts were kept)."""
    import hashlib

    from docqa.index.backend import IndexSettings
    from docqa.index.encoder import get_encoder
    from docqa.index.faiss_store import FaissStore
    from docqa.index.ingest import normalize_text
    from docqa.index.types import Document

    if strip:
        _strip_counts(folder)
    store = FaissStore(folder, IndexSettings(), encoder=get_encoder())
    store.load()
    text = normalize_text(next((Path(__file__).resolve().parents[1] / "seeds").glob("*.txt")).read_text())
    doc = Document(f"upload-{i}", f"upload-{i}.txt", text, hashlib.sha256(f"{i}{text}".encode()).hexdigest(), "Upload")
    t = time.perf_counter()
    stats = store.update([doc])
    return {"seconds": time.perf_counter() - t, "passages": stats.passages, "embedded": stats.embedded}


def upload(sizes: list[int], rounds: int) -> None:
    """Seconds to add one document to an index of each size, with the kept passages re-weighed from the stored
    BM25 counts (today) and tokenized again (before), alternating, each in a fresh process on a copy."""
    import shutil

    rows, data = [], {}
    for n in sizes:
        src = CACHE / str(n)
        work = CACHE / f"upload-{n}"
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(src, work)
        times: dict[str, list[float]] = {"tokenized again": [], "stored counts": []}
        i = 0
        for _ in range(rounds):
            for name, strip in (("tokenized again", True), ("stored counts", False)):
                r = _child(["upload", "--dir", str(work), "--strip" if strip else "--keep", "--round", str(i)])
                times[name].append(r["seconds"])
                i += 1
                print(n, name, f"{r['seconds']:.1f} s", flush=True)
        shutil.rmtree(work, ignore_errors=True)
        before, after = statistics.median(times["tokenized again"]), statistics.median(times["stored counts"])
        rows.append([f"{n:,}", f"{before:.1f}", f"{after:.1f}", f"{before / after:.2f}x"])
        data[n] = times
    md = (
        "### Adding one document to a large index (one upload: a one-page article, 6 passages; medians of "
        f"{rounds}, each in a fresh process on a copy of the index; `python -m bench.scale upload --sizes "
        + " ".join(str(n) for n in sizes)
        + f" --rounds {rounds}`)\n\n"
        + md_table(
            ["passages", "s, kept passages tokenized again (before)", "s, weighed from stored counts", "speed-up"], rows
        )
    )
    save("scale_upload", md, data)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cmd", nargs="?", default="run", choices=["run", "build", "serve", "listing", "upload"])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--size", type=int)
    ap.add_argument("--dir", type=Path)
    ap.add_argument("--questions", type=int, default=1000)
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--name", default="scale")
    ap.add_argument("--vectors", choices=["fp32", "int8"], default="fp32")
    ap.add_argument(
        "--baseline-runtime",
        help="serve each size a second time with this reader runtime (e.g. torchscript-unpadded-int8), "
        "for a ratio measured in the same run",
    )
    ap.add_argument("--reader-runtime", help=argparse.SUPPRESS)
    ap.add_argument("--rounds", type=int, default=2, help="upload: uploads per way")
    ap.add_argument("--strip", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--keep", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--round", type=int, default=0, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.cmd == "build":
        print("RESULT " + json.dumps(child_build(a.size, a.dir, a.vectors)), flush=True)
        return
    if a.cmd == "serve":
        print("RESULT " + json.dumps(child_serve(a.dir, a.questions, a.vectors, a.reader_runtime)), flush=True)
        return
    if a.cmd == "listing":
        listing(a.sizes, a.vectors)
        return
    if a.cmd == "upload" and a.dir is not None:
        print("RESULT " + json.dumps(child_upload(a.dir, a.strip, a.round)), flush=True)
        return
    if a.cmd == "upload":
        upload(a.sizes, a.rounds)
        return
    print(machine_line(), flush=True)
    results = []
    for n in a.sizes:
        key = str(n) if a.vectors == "fp32" else f"{n}-{a.vectors}"
        folder = CACHE / key
        row: dict = {"size": n, "vectors": a.vectors}
        vec = ["--vectors", a.vectors]
        if a.rebuild or not (folder / "CURRENT").exists():
            row["build"] = _child(["build", "--size", str(n), "--dir", str(folder), *vec])
            print(json.dumps(row["build"]), flush=True)
        else:
            prev = CACHE / f"{key}.build.json"
            row["build"] = json.loads(prev.read_text()) if prev.exists() else {}
        (CACHE / f"{key}.build.json").write_text(json.dumps(row["build"]))
        subprocess.run(["sync"], check=False)
        row["serve"] = _child(["serve", "--dir", str(folder), "--questions", str(a.questions), *vec])
        print(json.dumps(row["serve"]), flush=True)
        if a.baseline_runtime:
            rt = ["--reader-runtime", a.baseline_runtime]
            row["baseline"] = _child(["serve", "--dir", str(folder), "--questions", str(a.questions), *vec, *rt])
            print(json.dumps(row["baseline"]), flush=True)
        results.append(row)
    rows = []
    for r in results:
        b, s = r["build"], r["serve"]
        rows.append(
            [
                f"{s['passages']:,}",
                r.get("vectors", "fp32"),
                f"{b.get('build_s', float('nan')):.0f}",
                f"{b.get('peak_rss_mb', float('nan')):,.0f}",
                f"{b.get('disk_mb', float('nan')):,.0f}",
                f"{s['open_s']:.2f}",
                f"{s['verify_wait_s']:.1f}",
                f"{s['rss_after_mb']:,.0f} ({s['rss_split_after_mb']['RssAnon']:,.0f} + {s['rss_split_after_mb']['RssFile']:,.0f})",
                f"{s['answer_ms_p50']:.1f} / {s['answer_ms_p95']:.1f} ({s.get('reader_runtime', '')})",
                *(
                    [f"{r['baseline']['answer_ms_p50']:.1f} / {r['baseline']['answer_ms_p95']:.1f}"]
                    if a.baseline_runtime
                    else []
                ),
                f"{s['recall_at_5']:.3f}",
                f"{s['answered']:.3f}",
            ]
        )
    md = (
        "### The FAISS backend end to end at scale (2 CPU cores; one process per phase)\n\n"
        "Corpus: SQuAD v1.1 dev half a + real SQuAD train paragraphs up to 10k passages (real vectors) + synthetic "
        "one-passage documents (real sentences shuffled; vector = a real passage vector + noise). Build: the "
        "documents streamed into `FaissStore.update` (peak RSS of the build process, models and the benchmark's "
        "sentence pool included). Serve: a fresh process opens the index, loads the reader and asks "
        f"{results[0]['serve']['questions']} real dev half-a questions through `QA.answer` (defaults); RSS after "
        "them. `python -m bench.scale --sizes "
        + " ".join(str(n) for n in a.sizes)
        + f" --vectors {a.vectors}"
        + (f" --baseline-runtime {a.baseline_runtime}" if a.baseline_runtime else "")
        + "`.\n\n"
        + md_table(
            [
                "passages",
                "vectors",
                "build s",
                "build peak RSS MB",
                "disk MB",
                "open s",
                "background checksums s",
                "serving RSS MB (heap + mapped files)",
                "answer() ms p50 / p95 (reader runtime)",
                *([f"answer() ms p50 / p95, {a.baseline_runtime} reader"] if a.baseline_runtime else []),
                "recall@5",
                "answered",
            ],
            rows,
        )
    )
    save(a.name, md, {"results": results})


if __name__ == "__main__":
    main()
