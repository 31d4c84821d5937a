"""The passage encoder in bf16 vs fp32: `docqa index` wall time, embedding throughput, and retrieval recall.

    python -m bench.encoder_precision [--paragraphs 4000] [--repeats 3] [--sizes 10000 100000] [--throughput-only]

1. ``docqa index`` of N SQuAD v1.1 *train* paragraphs (files of 100 paragraphs each), a fresh process per build
   (``--rebuild``; model loading, spaCy splitting, BM25 and FAISS included), ``--encoder fp32`` against the
   default ``--encoder auto``, interleaved, median of the repeats.
2. Embedding throughput (passages/s) of the encoder alone on the passages of train paragraphs, at each size.
3. Recall@1/5/20 on every SQuAD v1.1 dev half-a question (hybrid retrieval as shipped): passages embedded in
   fp32 or bf16, questions embedded in fp32 (what the product does: one question per call runs the frozen
   fp32 graph) or in bf16; and the cosine of bf16 to fp32 passage vectors.

The machine's CPU flags are printed with the tables; bf16 is only fast where they include avx512_bf16 or
amx_bf16.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import hybrid_recall, md_table, save, squad11a, squad_train_paragraphs
from docqa.index.backend import IndexSettings
from docqa.index.encoder import get_encoder
from docqa.index.faiss_store import FaissStore
from docqa.index.passages import make_passages
from docqa.index.sync import sync_documents
from docqa.index.types import Document


def write_corpus(folder: Path, n: int) -> None:
    paras = squad_train_paragraphs()[:n]
    for i in range(0, n, 100):
        (folder / f"train-{i // 100:03d}.txt").write_text("\n\n".join(p[1] for p in paras[i : i + 100]))


def time_cli(folder: Path, index: Path, encoder: str) -> tuple[float, str]:
    cmd = [sys.executable, "-m", "docqa.ui.cli", "index", str(folder), "--index", str(index), "--rebuild", "--quiet"]
    t = time.perf_counter()
    r = subprocess.run([*cmd, "--encoder", encoder], capture_output=True, text=True, check=True)
    return time.perf_counter() - t, next(ln for ln in r.stdout.splitlines() if ln.startswith("encoder:"))


def cli_table(args, md: list[str], data: dict) -> None:
    """Section 1: ``docqa index`` with --encoder fp32 and auto, fresh processes, interleaved."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "corpus"
        folder.mkdir()
        write_corpus(folder, args.paragraphs)
        times: dict[str, list[float]] = {"fp32": [], "auto": []}
        said = {}
        for _ in range(args.repeats):
            for enc in times:
                s, said[enc] = time_cli(folder, Path(tmp) / f"ix-{enc}", enc)
                times[enc].append(s)
                print(enc, f"{s:.1f}s", said[enc], file=sys.stderr, flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    rows = [
        [
            f"--encoder {k}",
            said[k].removeprefix("encoder: "),
            f"{med[k]:.1f}",
            " ".join(f"{x:.1f}" for x in times[k]),
            f"{med['fp32'] / med[k]:.2f}x",
        ]
        for k in times
    ]
    md += [
        f"### `docqa index` of {args.paragraphs:,} SQuAD train paragraphs, fresh process, median of {args.repeats}",
        "",
    ]
    md.append(md_table(["command", "encoder chosen", "s", "each run", "vs fp32"], rows))
    data["cli"] = {"times": times, "median": med, "speedup": med["fp32"] / med["auto"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--paragraphs", type=int, default=4000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--sizes",
        type=int,
        nargs="*",
        default=[10_000, 100_000],
        help="passages for the throughput table (SQuAD train's passages, repeated when a size needs more)",
    )
    ap.add_argument(
        "--throughput-only",
        action="store_true",
        help="only the throughput table, saved as bench/results/encoder_throughput.md",
    )
    args = ap.parse_args()
    fp32, bf16 = get_encoder("torch", "fp32"), get_encoder("torch", "bf16")
    auto = get_encoder("torch", "auto")
    md, data = [], {"auto": f"{auto.precision} ({auto.precision_reason})"}

    if not args.throughput_only:
        cli_table(args, md, data)

    # 2. throughput at each size
    paras = squad_train_paragraphs()
    rows = []
    for n in args.sizes:
        texts: list[str] = []
        for pid, ctx, _ in paras:
            texts += [p.text for p in make_passages(Document(pid, pid, ctx, "", pid))]
            if len(texts) >= n:
                break
        distinct = len(texts)  # SQuAD train holds fewer passages than the largest size: they are then repeated
        texts = (texts * -(-n // max(1, len(texts))))[:n]
        rates = {}
        for label, enc in (("fp32", fp32), ("bf16", bf16)):
            t = time.perf_counter()
            enc.encode(texts)
            rates[label] = n / (time.perf_counter() - t)
        rows.append(
            [
                f"{n:,}" + (f" ({distinct:,} distinct, repeated)" if distinct < n else ""),
                f"{rates['fp32']:.1f}",
                f"{rates['bf16']:.1f}",
                f"{rates['bf16'] / rates['fp32']:.2f}x",
            ]
        )
        data.setdefault("throughput", {})[n] = rates
    md += ["", "### Embedding throughput, passages/s (encoder alone)", ""]
    md.append(md_table(["passages", "fp32", "bf16", "bf16 vs fp32"], rows))

    if not args.throughput_only:
        # 3. recall on half a
        docs, qs = squad11a()
        with tempfile.TemporaryDirectory() as tmp:
            views = {}
            for label, enc in (("fp32", fp32), ("bf16", bf16)):
                store = FaissStore(Path(tmp) / label, IndexSettings(), enc)
                sync_documents(store, docs)
                views[label] = store.view()
            a = views["fp32"].passage_vectors()
            b = views["bf16"].passage_vectors()
            cos = (a * b).sum(axis=1)
            q32 = np.stack([fp32.encode([q.question])[0] for q in qs])  # one per call: the product's path
            q16 = bf16.encode([q.question for q in qs])
            rows = []
            for pv, qv, label in (("fp32", q32, "fp32"), ("bf16", q32, "fp32"), ("bf16", q16, "bf16")):
                r = hybrid_recall(views[pv], qs, qv)
                rows.append([pv, label, *(f"{r[k]:.4f}" for k in (1, 5, 20))])
                data.setdefault("recall", {})[f"passages {pv}, questions {label}"] = r
        md += ["", f"### Recall on SQuAD v1.1 dev half a ({len(qs):,} questions, {len(a):,} passages)", ""]
        md.append(md_table(["passages", "questions", "recall@1", "recall@5", "recall@20"], rows))
        md += ["", f"bf16 vs fp32 passage vectors: cosine mean {cos.mean():.6f}, min {cos.min():.6f}."]
        data["cosine"] = {"mean": float(cos.mean()), "min": float(cos.min())}
    save("encoder_throughput" if args.throughput_only else "encoder_precision", "\n".join(md), data)


if __name__ == "__main__":
    main()
