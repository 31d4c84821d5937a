"""OCR engines side by side on real PDFs: word error rate against each PDF's own text layer, and seconds per page.

    python -m bench.ocr_engines [PDF ...] [--pages 4] [--scan-dpi 200] [--repeats 1]

The first pages with text of each PDF (default: Debian's libtasn1 manual, set in a monospaced-heavy layout, and
the Shared MIME-info specification, tightly set proportional type) are rendered to images exactly as DocQA
renders a scanned page (pypdfium2, ``ocr.OCR_DPI``, grayscale), read by every OCR engine DocQA ships and by
``get_engine("auto")``, DocQA's default (``index/ingest/ocr.py``), and compared word by word with the page's
text layer (pypdf, cleaned as DocQA cleans PDF text). Each page is read twice: rendered sharp at ``OCR_DPI``,
and as a scan (``as_scanned``: rendered at ``--scan-dpi`` into an image-only PDF, JPEG inside, whose page DocQA
renders at ``OCR_DPI``). WER = word-level edit distance / words of the text layer, over all pages; the time is
the median seconds per page on this machine (its CPU flags are printed with the table).
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from pathlib import Path

from bench.common import md_table, save
from docqa.index.ingest.ocr import OCR_DPI, RapidOcr, TesseractOcr, get_engine
from docqa.index.ingest.pdf import clean_pdf_pages

DEFAULT_PDFS = [
    Path("/usr/share/doc/libtasn1-doc/libtasn1.pdf"),  # apt-get install libtasn1-doc
    Path("/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf"),  # apt-get install shared-mime-info
]


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


def as_scanned(page, dpi: int):
    """A page as DocQA sees a scan of it: rendered at ``dpi``, saved as an image-only PDF page (Pillow writes
    JPEG inside, as scanners do), and that page rendered again at ``OCR_DPI``."""
    import io

    import pypdfium2 as pdfium

    buf = io.BytesIO()
    page.render(scale=dpi / 72, grayscale=True).to_pil().convert("RGB").save(buf, "PDF", resolution=dpi)
    return pdfium.PdfDocument(buf.getvalue())[0].render(scale=OCR_DPI / 72, grayscale=True).to_pil()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pdfs", nargs="*", type=Path, default=DEFAULT_PDFS)
    ap.add_argument("--pages", type=int, default=4, help="pages with a text layer to use per PDF (from page 1 on)")
    ap.add_argument("--scan-dpi", type=int, default=200, help="resolution of the simulated scans")
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    import pypdfium2 as pdfium
    from pypdf import PdfReader

    engines = [e for e in (TesseractOcr(), RapidOcr()) if e.available()]
    engines.append(get_engine("auto"))  # what DocQA uses
    rows, data = [], {}
    for path in args.pdfs:
        layer = [p.extract_text() or "" for p in PdfReader(str(path)).pages]
        chosen = [i for i in range(len(layer)) if len(words(layer[i])) >= 80][: args.pages]
        pdf = pdfium.PdfDocument(str(path))
        sharp = {i: pdf[i].render(scale=OCR_DPI / 72, grayscale=True).to_pil() for i in chosen}
        scanned = {i: as_scanned(pdf[i], args.scan_dpi) for i in chosen}
        for label, images in ((f"rendered at {OCR_DPI} dpi", sharp), (f"scanned at {args.scan_dpi} dpi", scanned)):
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
                wer, med = errors / max(1, total), statistics.median(times)
                rows.append([path.name, label, len(chosen), engine.name, f"{wer:.3f}", f"{med:.2f}", f"{1 / med:.2f}"])
                data.setdefault(f"{path.name}, {label}", {})[engine.name] = {
                    "wer": wer,
                    "s_per_page": med,
                    "pages": len(chosen),
                }
                print(rows[-1], flush=True)
    md = (
        "### OCR engines: real PDF pages as images (rendered sharp, or scanned and rendered again as DocQA renders"
        " an image-only page), read back, vs the PDF's own text layer\n\n"
        + md_table(["PDF", "pages as", "pages", "engine", "word error rate", "s/page (median)", "pages/s"], rows)
    )
    save("ocr_engines", md, data)


if __name__ == "__main__":
    main()
