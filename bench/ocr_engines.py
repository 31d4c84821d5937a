"""OCR engines side by side on a real PDF: word error rate against the PDF's own text layer, and seconds per page.

    python -m bench.ocr_engines [PDF] [--pages 12] [--repeats 1]

Each page of PDF (default: Debian's libtasn1 manual, ``apt-get install libtasn1-doc``) is rendered to an image
exactly as DocQA renders a scanned page (pypdfium2, ``ocr.OCR_DPI``, grayscale), read by every OCR engine DocQA
ships (``index/ingest/ocr.py``), and compared word by word with the page's text layer (pypdf, cleaned as
DocQA cleans PDF text). WER = word-level edit distance / words of the text layer, over all pages; the time is
the median seconds per page on this machine (its CPU flags are printed with the table).
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from pathlib import Path

from bench.common import md_table, save
from docqa.index.ingest.ocr import OCR_DPI, RapidOcr, TesseractOcr
from docqa.index.ingest.pdf import clean_pdf_pages

DEFAULT_PDF = Path("/usr/share/doc/libtasn1-doc/libtasn1.pdf")


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def edit_distance(a: list[str], b: list[str]) -> int:
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pdf", nargs="?", type=Path, default=DEFAULT_PDF)
    ap.add_argument("--pages", type=int, default=12, help="pages with a text layer to use (from page 3 on)")
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    import pypdfium2 as pdfium
    from pypdf import PdfReader

    reader = PdfReader(str(args.pdf))
    layer = [p.extract_text() or "" for p in reader.pages]
    chosen = [i for i in range(2, len(layer)) if len(words(layer[i])) >= 80][: args.pages]
    pdf = pdfium.PdfDocument(str(args.pdf))
    images = {i: pdf[i].render(scale=OCR_DPI / 72, grayscale=True).to_pil() for i in chosen}
    engines = [e for e in (TesseractOcr(), RapidOcr()) if e.available()]
    rows, data = [], {}
    for engine in engines:
        engine.read(images[chosen[0]], 120)  # warm-up (model loading)
        errors = total = 0
        times: list[float] = []
        for _ in range(args.repeats):
            for i in chosen:
                t = time.perf_counter()
                text = engine.read(images[i], 120)
                times.append(time.perf_counter() - t)
                ref = words(clean_pdf_pages([layer[i]])[0])
                errors += edit_distance(words(clean_pdf_pages([text])[0]), ref)
                total += len(ref)
        wer = errors / max(1, total)
        rows.append(
            [engine.name, f"{wer:.3f}", f"{statistics.median(times):.2f}", f"{1 / statistics.median(times):.2f}"]
        )
        data[engine.name] = {"wer": wer, "s_per_page": statistics.median(times), "pages": len(chosen), "words": total}
    md = (
        f"### OCR engines on {args.pdf.name}: {len(chosen)} pages rendered at {OCR_DPI} dpi vs the PDF's text layer\n\n"
        + md_table(["engine", "word error rate", "s/page (median)", "pages/s"], rows)
    )
    save("ocr_engines", md, data)


if __name__ == "__main__":
    main()
