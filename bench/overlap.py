"""Parsing overlapped with embedding: indexing a folder of real PDFs as a stream vs reading every file first.

``stream`` is the product path (``index.sync``): a thread reads documents ahead (the extraction itself in the
child process) while the update embeds the passages of the ones before. ``sequential`` reads every file first
and then embeds (what the product did before). Both index the same folder into a fresh in-memory index, with the
same encoder, interleaved, ``--runs`` times each; medians.

Usage: ``python -m bench.overlap [--runs 3]``. The PDFs are the manuals Debian ships under /usr/share/doc (gzip'd
ones unpacked into ~/.cache/docqa/overlap-pdfs). Writes bench/results/overlap.md and .json.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import statistics
import time
from pathlib import Path

from bench.common import machine_line, md_table, save

PDFS = [
    "/usr/share/doc/libtasn1-doc/libtasn1.pdf",
    "/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf",
    "/usr/share/doc/nettle-dev/nettle.pdf.gz",
    "/usr/share/doc/fontconfig/fontconfig-user.pdf.gz",
    "/usr/share/doc/bzip2/manual.pdf.gz",
    "/usr/share/doc/zlib1g-dev/crc-doc.1.0.pdf.gz",
    "/usr/share/doc/valgrind/valgrind_manual.pdf.gz",
]
FOLDER = Path.home() / ".cache" / "docqa" / "overlap-pdfs"


def folder() -> Path:
    FOLDER.mkdir(parents=True, exist_ok=True)
    for src in map(Path, PDFS):
        if not src.exists():
            continue
        dst = FOLDER / src.name.removesuffix(".gz")
        if not dst.exists():
            if src.suffix == ".gz":
                with gzip.open(src) as fi, open(dst, "wb") as fo:
                    shutil.copyfileobj(fi, fo)
            else:
                shutil.copy(src, dst)
    return FOLDER


def run(mode: str, root: Path) -> dict:
    from docqa.index.faiss_store import FaissStore
    from docqa.index.ingest import DocumentStream, read_documents, scan

    sources = scan(root)
    files = [(doc_id, path) for doc_id, (path, _) in sources.items()]
    store = FaissStore(None)
    store.reset()
    t = time.perf_counter()
    if mode == "stream":
        stats = store.update(DocumentStream(files))
    else:
        stats = store.update(read_documents(files).documents)
    return {"seconds": time.perf_counter() - t, "passages": stats.passages, "documents": stats.documents}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    print(machine_line(), flush=True)
    root = folder()
    from docqa.index.encoder import get_encoder

    get_encoder().encode(["warm up the encoder", "and its bf16 path"])
    runs: dict[str, list[dict]] = {"sequential": [], "stream": []}
    for i in range(a.runs):
        for mode in ("sequential", "stream") if i % 2 == 0 else ("stream", "sequential"):
            runs[mode].append(run(mode, root))
            print(mode, runs[mode][-1], flush=True)
    base = statistics.median(r["seconds"] for r in runs["sequential"])
    rows = []
    for mode, rs in runs.items():
        med = statistics.median(r["seconds"] for r in rs)
        rows.append(
            [
                mode,
                rs[0]["documents"],
                rs[0]["passages"],
                f"{med:.1f}",
                " ".join(f"{r['seconds']:.1f}" for r in rs),
                f"{rs[0]['passages'] / med:.1f}",
                f"{base / med:.2f}x",
            ]
        )
    pdfs = sorted(p.name for p in root.glob("*.pdf"))
    md = (
        f"### Indexing {len(pdfs)} real PDFs: parsing overlapped with embedding vs read-then-embed (2 CPU cores)\n\n"
        f"PDFs: {', '.join(pdfs)}. Fresh in-memory index each run, interleaved, medians of {a.runs}. "
        "`python -m bench.overlap`.\n\n"
        + md_table(["mode", "documents", "passages", "median s", "each run s", "passages/s", "vs sequential"], rows)
    )
    save("overlap", md, {"runs": runs})


if __name__ == "__main__":
    main()
