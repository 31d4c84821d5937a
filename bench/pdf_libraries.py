"""PDF text extraction libraries side by side on real manuals: pages per second, and answers on real questions.

    python -m bench.pdf_libraries [--repeats 3]

The text-layer PDFs of ``bench.real_docs`` (Debian's bzip2, libtasn1 and fontconfig manuals, 89 pages; run
``python -m bench.real_docs`` once to build the folder) are read by each library installed: pypdf (what DocQA
uses), pypdfium2 (installed with DocQA), pdfplumber and pdfminer.six (``pip install pdfplumber``, which brings
pdfminer.six). Each library's page texts then go through DocQA's own cleaning (running headers, page numbers,
hyphenation, numbered headings) into an in-memory index of the three manuals, which is asked the 47 questions of
``bench.real_docs_questions`` about them: right answers (gold in the answer, right document), right page, and
the gold in the top 5 passages. Extraction speed is the median over ``--repeats`` runs of all 89 pages. Writes
bench/results/pdf_libraries.md and .json.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import OUT, md_table, save
from bench.real_docs import contains
from bench.real_docs_questions import BZIP2, FONTS, QUESTIONS, TASN1

FILES = [BZIP2, TASN1, FONTS]


def pypdf_pages(path: Path) -> list[str]:
    from pypdf import PdfReader

    return [p.extract_text() or "" for p in PdfReader(str(path)).pages]


def pdfium_pages(path: Path) -> list[str]:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    return [pdf[i].get_textpage().get_text_range().replace("\r\n", "\n") for i in range(len(pdf))]


def plumber_pages(path: Path) -> list[str]:
    import pdfplumber

    with pdfplumber.open(str(path)) as pdf:
        return [p.extract_text() or "" for p in pdf.pages]


def pdfminer_pages(path: Path) -> list[str]:
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LTTextContainer

    return ["".join(el.get_text() for el in page if isinstance(el, LTTextContainer)) for page in extract_pages(path)]


LIBRARIES: dict[str, tuple[str, Callable[[Path], list[str]]]] = {
    "pypdf (DocQA)": ("pypdf", pypdf_pages),
    "pypdfium2": ("pypdfium2", pdfium_pages),
    "pdfplumber": ("pdfplumber", plumber_pages),
    "pdfminer.six": ("pdfminer", pdfminer_pages),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    import importlib.util

    from docqa.index.faiss_store import FaissStore
    from docqa.index.ingest.base import normalize_text
    from docqa.index.ingest.pdf import clean_pdf_pages, numbered_headings
    from docqa.index.sync import sync_documents
    from docqa.index.types import Document
    from docqa.qa import QA

    folder = OUT / "real_docs" / "docs"
    if not all((folder / f).exists() for f in FILES):
        raise SystemExit("run `python -m bench.real_docs` first: it builds the folder of real documents")
    qs = [q for q in QUESTIONS if q[2] in FILES]
    rows, data = [], {}
    for label, (module, read) in LIBRARIES.items():
        if importlib.util.find_spec(module) is None:
            print(f"{label}: not installed, skipped")
            continue
        times, pages = [], {}
        for _ in range(args.repeats):
            t = time.perf_counter()
            pages = {f: read(folder / f) for f in FILES}
            times.append(time.perf_counter() - t)
        n_pages = sum(len(p) for p in pages.values())
        docs = []
        for f, ps in pages.items():
            text, starts = clean_pdf_pages([normalize_text(p) for p in ps])
            docs.append(
                Document(
                    f, f, text, f, title="", kind="pdf", pages=tuple(starts), headings=tuple(numbered_headings(text))
                )
            )
        store = FaissStore(None)
        sync_documents(store, docs)
        qa = QA(store)
        right = page = top5 = 0
        for question, golds, doc_id, where in qs:
            ans = qa.answer(question)
            c = ans.citations[0] if ans.found and ans.citations else None
            ok = c is not None and c.doc_id == doc_id and any(contains(ans.text, g) for g in golds)
            right += ok
            page += ok and c.page in where
            top5 += any(
                h.passage.doc_id == doc_id and any(contains(h.passage.text, g) for g in golds) for h in ans.hits[:5]
            )
        rate = n_pages / statistics.median(times)
        rows.append([label, n_pages, f"{rate:.1f}", f"{right}/{len(qs)}", f"{page}/{len(qs)}", f"{top5}/{len(qs)}"])
        data[label] = {
            "pages": n_pages,
            "pages_per_s": rate,
            "right": right,
            "right_page": page,
            "top5": top5,
            "n": len(qs),
        }
        print(rows[-1], flush=True)
    md = (
        f"### PDF text extraction: 3 real manuals ({rows[0][1] if rows else 0} pages), {len(qs)} questions\n\n"
        + md_table(
            ["library", "pages", "pages/s", "right answer", "right answer on the right page", "gold in top 5"], rows
        )
    )
    save("pdf_libraries", md, data)


if __name__ == "__main__":
    main()
