"""Real documents as users bring them: a folder of nine real files in seven kinds, indexed through a relative
path from the command line, then asked the questions of ``bench.real_docs_questions``.

    python -m bench.real_docs [--keep] [--no-context]

The folder (rebuilt each run under bench/out/real_docs/docs) holds what Debian ships, as is or put into the
formats people use, so every fact in it is real and freely licensed:

- ``bzip2-manual.pdf``, ``libtasn1.pdf``, ``fontconfig-user.pdf``: PDF manuals with a text layer;
- ``scans/shared-mime-info-spec.pdf``: the first five pages of the Shared MIME-info specification rendered to
  images (200 dpi, grayscale), an image-only PDF: DocQA reads it by OCR;
- ``ninja-manual.html``: the Ninja manual;
- ``valgrind-tools.pptx``: a deck built from the Valgrind manual's overview of its tools (titles, bullets, a
  table, speaker notes);
- ``debian-releases.docx``: Debian's release history (distro-info-data) as a Word table;
- ``iso-codes.xlsx``: ISO 3166 countries and ISO 4217 currencies (iso-codes), one sheet each;
- ``services.csv``: the network services of /etc/services (netbase).

``docqa index docs`` runs in a fresh process (timed: the text-layer and OCR extraction, embedding and writing);
then every question goes through ``QA.answer`` with the product's defaults. Per kind of file it prints: right
answers (a gold answer inside the answer, word by word, cited in the right document), right document, right
place (the page or slide for PDFs and decks, the sheet for workbooks), short spans (right and at most
max(6, 2 x gold) words), retrieval (a gold answer in one of the top 5 passages of the right document, searching
everything and searching only that document), and for questions the folder cannot answer, how many are
declined. Writes bench/results/real_docs.md and .json; ``--no-context`` indexes passages without their title
and heading (``IndexSettings(context=False)``) and writes real_docs_no_context.md, to compare. Debian packages it reads: bzip2-doc, libtasn1-doc, fontconfig,
shared-mime-info, ninja-build, valgrind, distro-info-data, iso-codes, netbase.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.common import OUT, md_table, save
from bench.real_docs_questions import QUESTIONS, UNANSWERABLE

SOURCES = {
    "bzip2-manual.pdf": ("/usr/share/doc/bzip2/manual.pdf.gz", "bzip2-doc"),
    "libtasn1.pdf": ("/usr/share/doc/libtasn1-doc/libtasn1.pdf", "libtasn1-doc"),
    "fontconfig-user.pdf": ("/usr/share/doc/fontconfig/fontconfig-user.pdf.gz", "fontconfig"),
    "mime-spec": ("/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf", "shared-mime-info"),
    "ninja-manual.html": ("/usr/share/doc/ninja-build/manual.html", "ninja-build"),
    "valgrind": ("/usr/share/doc/valgrind/valgrind_manual.pdf.gz", "valgrind"),
    "debian": ("/usr/share/distro-info/debian.csv", "distro-info-data"),
    "countries": ("/usr/share/iso-codes/json/iso_3166-1.json", "iso-codes"),
    "currencies": ("/usr/share/iso-codes/json/iso_4217.json", "iso-codes"),
    "services": ("/etc/services", "netbase"),
}
KIND = {
    "pdf": "PDF (text layer)",
    "scans": "scanned PDF (OCR)",
    "html": "HTML",
    "pptx": "pptx",
    "docx": "docx (table)",
    "xlsx": "xlsx",
    "csv": "csv",
}


KEYS = ("n", "right", "doc", "place", "places", "short", "r5", "r5_in")


def kind_of(doc_id: str) -> str:
    return KIND["scans" if doc_id.startswith("scans/") else doc_id.rsplit(".", 1)[-1]]


def _read(src: str) -> bytes:
    data = Path(src).read_bytes()
    return gzip.decompress(data) if src.endswith(".gz") else data


def scanned_pdf(src: str, dst: Path, pages: int = 5, dpi: int = 200) -> None:
    """The first ``pages`` pages of a PDF as an image-only PDF, as a scanner would make it."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(src)
    images = [pdf[i].render(scale=dpi / 72, grayscale=True).to_pil().convert("RGB") for i in range(pages)]
    images[0].save(dst, "PDF", resolution=dpi, save_all=True, append_images=images[1:])


def valgrind_deck(src: str, dst: Path) -> None:
    """Six slides from the Valgrind manual's overview: the tools' own descriptions, grouped as a talk would."""
    import pypdfium2 as pdfium
    from pptx import Presentation
    from pptx.util import Inches

    pdf = pdfium.PdfDocument(_read(src))
    text = " ".join(pdf[i].get_textpage().get_text_range() for i in range(12, 15))
    text = " ".join(text.split()).replace("C ++", "C++")
    tools = dict(re.findall(r"\d\. (\w+) is (.+?\.(?: It [^.]+\.)?)(?= \d\. | There are)", text))
    minor = re.search(r"Lackey is (an example tool[^;]+); and Nulgrind is ([^.]+)\.", text)
    license_ = re.search(r"Valgrind is licensed under the (?:The )?(GNU General Public License, version 2)", text)
    build = re.search(r"Valgrind is built via (the standard Unix [^;]+?process)", text)
    default = re.search(
        r"(The most important option is --tool[^.]+\.).*?(However, Memcheck is the default[^.]+\.)", text
    )
    if not (len(tools) >= 8 and minor and license_ and build and default):
        raise SystemExit(f"the Valgrind manual's overview did not parse: {sorted(tools)}")

    prs = Presentation()

    def slide(title: str, bullets: list[str], notes: str = ""):
        s = prs.slides.add_slide(prs.slide_layouts[1])
        s.shapes.title.text = title
        frame = s.placeholders[1].text_frame
        frame.text = bullets[0]
        for b in bullets[1:]:
            frame.add_paragraph().text = b
        if notes:
            s.notes_slide.notes_text_frame.text = notes
        return s

    slide(
        "Valgrind at a glance",
        [
            "Valgrind is an instrumentation framework for building dynamic analysis tools.",
            f"Valgrind is licensed under the {license_.group(1)}.",
        ],
        notes=f"Valgrind is built via {build.group(1)}.",
    )
    slide("Error detectors", [f"{t} is {tools[t]}" for t in ("Memcheck", "Helgrind", "DRD")])
    slide("Profilers", [f"{t} is {tools[t]}" for t in ("Cachegrind", "Callgrind", "Massif", "DHAT")])
    slide(
        "Minor tools",
        [f"BBV is {tools['BBV']}", f"Lackey is {minor.group(1)}.", f"Nulgrind is {minor.group(2)}."],
    )
    s = prs.slides.add_slide(prs.slide_layouts[5])
    s.shapes.title.text = "Tools and what they are"
    rows = [("Tool", "What it is")] + [(t, tools[t].split(". ")[0].rstrip(".")) for t in tools]
    table = s.shapes.add_table(len(rows), 2, Inches(0.5), Inches(1.5), Inches(9), Inches(5)).table
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    slide("Running a tool", [default.group(1), default.group(2)])
    prs.save(str(dst))


def debian_docx(src: str, dst: Path) -> None:
    import docx

    rows = list(csv.reader(open(src, encoding="utf-8")))
    head = ["Version", "Codename", "Created", "Release", "End of life", "LTS end", "ELTS end"]
    body = [[r[0], r[1], r[3], *(r[4:8] + [""] * 4)[:4]] for r in rows[1:] if r[0]]
    d = docx.Document()
    d.core_properties.title = "Debian release history"
    d.add_heading("Debian release history", level=1)
    d.add_paragraph(
        "Every Debian release with the date its development started, its release date and the end of its "
        "security support, long-term support (LTS) and extended LTS, from Debian's distro-info-data."
    )
    t = d.add_table(rows=len(body) + 1, cols=len(head))
    for r, row in enumerate([head, *body]):
        for c, value in enumerate(row):
            t.cell(r, c).text = value
    d.save(str(dst))


def codes_xlsx(countries: str, currencies: str, dst: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Countries"
    ws.append(["Name", "Official name", "Alpha-2 code", "Alpha-3 code", "Numeric code"])
    for c in json.loads(Path(countries).read_text(encoding="utf-8"))["3166-1"]:
        ws.append([c["name"], c.get("official_name", ""), c["alpha_2"], c["alpha_3"], c["numeric"]])
    ws = wb.create_sheet("Currencies")
    ws.append(["Currency", "Code", "Numeric code"])
    for c in json.loads(Path(currencies).read_text(encoding="utf-8"))["4217"]:
        ws.append([c["name"], c["alpha_3"], c["numeric"]])
    wb.save(dst)


def services_csv(src: str, dst: Path) -> None:
    with open(dst, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["Service", "Port", "Protocol", "Aliases", "Comment"])
        for line in Path(src).read_text(encoding="utf-8").splitlines():
            entry, _, comment = line.partition("#")
            fields = entry.split()
            if len(fields) >= 2 and "/" in fields[1]:
                port, proto = fields[1].split("/", 1)
                w.writerow([fields[0], port, proto, " ".join(fields[2:]), comment.strip()])


def build_folder(docs: Path) -> None:
    missing = sorted({pkg for src, pkg in SOURCES.values() if not Path(src).exists()})
    if missing:
        raise SystemExit(f"missing Debian packages: apt-get install {' '.join(missing)}")
    shutil.rmtree(docs, ignore_errors=True)
    (docs / "scans").mkdir(parents=True)
    for name in ("bzip2-manual.pdf", "libtasn1.pdf", "fontconfig-user.pdf", "ninja-manual.html"):
        (docs / name).write_bytes(_read(SOURCES[name][0]))
    scanned_pdf(SOURCES["mime-spec"][0], docs / "scans" / "shared-mime-info-spec.pdf")
    valgrind_deck(SOURCES["valgrind"][0], docs / "valgrind-tools.pptx")
    debian_docx(SOURCES["debian"][0], docs / "debian-releases.docx")
    codes_xlsx(SOURCES["countries"][0], SOURCES["currencies"][0], docs / "iso-codes.xlsx")
    services_csv(SOURCES["services"][0], docs / "services.csv")


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def contains(answer: str, gold: str) -> bool:
    a, g = words(answer), words(gold)
    return bool(g) and any(a[i : i + len(g)] == g for i in range(len(a) - len(g) + 1))


def right_place(citation, where) -> bool | None:
    if where is None:
        return None
    if isinstance(where, str):
        return (citation.heading or "").startswith(where)
    return citation.page in where


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keep", action="store_true", help="reuse the folder and index of the last run")
    ap.add_argument(
        "--no-context",
        action="store_true",
        help="index passages without their title and heading (IndexSettings(context=False)), to compare",
    )
    args = ap.parse_args()
    from docqa.index.backend import IndexSettings

    settings = IndexSettings(context=not args.no_context)
    root = OUT / "real_docs"
    docs, index = root / "docs", root / "ix"
    if not (args.keep and index.exists()):
        build_folder(docs)
        shutil.rmtree(index, ignore_errors=True)
    cmd = [sys.executable, "-m", "docqa.ui.cli", "index", "docs", "--index", "ix"]
    if args.no_context:  # the same through the Python API, which takes any settings
        code = "from docqa.qa import QA; from docqa.index.backend import IndexSettings; "
        code += "QA.from_corpus('docs', 'ix', index_settings=IndexSettings(context=False))"
        cmd = [sys.executable, "-c", code]
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    index_s = time.perf_counter() - t
    if r.returncode:
        raise SystemExit(f"docqa index failed:\n{r.stdout}\n{r.stderr}")
    summary = [ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip() and "%" not in ln][-4:]
    print("\n".join(summary), file=sys.stderr)

    from docqa.qa import QA

    os.chdir(root)  # the same relative folder, from Python
    qa = QA.from_corpus("docs", "ix", index_settings=settings)
    ndocs = len(qa.documents())
    stats: dict[str, dict[str, int]] = {}
    rows_out, latencies = [], []
    for question, golds, doc_id, where in QUESTIONS:
        t = time.perf_counter()
        ans = qa.answer(question)
        latencies.append(time.perf_counter() - t)
        c = ans.citations[0] if ans.found and ans.citations else None
        doc_ok = c is not None and c.doc_id == doc_id
        text_ok = ans.found and any(contains(ans.text, g) for g in golds)
        place = right_place(c, where) if c is not None else (None if where is None else False)
        right = doc_ok and text_ok
        found5 = any(
            h.passage.doc_id == doc_id and any(contains(h.passage.text, g) for g in golds) for h in ans.hits[:5]
        )
        inside = qa.answer(question, doc_ids=[doc_id])
        found5_in = any(any(contains(h.passage.text, g) for g in golds) for h in inside.hits[:5])
        short = right and len(words(ans.text)) <= max(6, 2 * max(len(words(g)) for g in golds))
        s = stats.setdefault(kind_of(doc_id), dict.fromkeys(KEYS, 0))
        s["n"] += 1
        s["right"] += right
        s["doc"] += doc_ok
        s["short"] += short
        s["r5"] += found5
        s["r5_in"] += found5_in
        if place is not None:
            s["places"] += 1
            s["place"] += bool(place and doc_ok)
        rows_out.append(
            {
                "question": question,
                "gold": golds,
                "doc": doc_id,
                "answer": ans.text if ans.found else None,
                "cited": c and c.doc_id,
                "page": c and c.page,
                "heading": c and c.heading,
                "confidence": round(ans.confidence, 3),
                "right": right,
                "short": short,
            }
        )
        if not right:
            print(
                f"MISS [{doc_id}] {question} -> {ans.text if ans.found else '(declined)'} "
                f"[{c and c.doc_id} p{c and c.page} {c and c.heading!r}] {ans.confidence:.2f}",
                file=sys.stderr,
            )
    declined = 0
    for question in UNANSWERABLE:
        ans = qa.answer(question)
        declined += not ans.found
        rows_out.append({"question": question, "gold": None, "answer": ans.text if ans.found else None})
        if ans.found:
            print(f"ANSWERED unanswerable: {question} -> {ans.text} ({ans.confidence:.2f})", file=sys.stderr)

    def pct(a: int, b: int) -> str:
        return f"{a}/{b} ({100 * a / b:.0f}%)" if b else "—"

    def row(label: str, s: dict[str, int]) -> list:
        n = s["n"]
        return [label, n, pct(s["right"], n), pct(s["doc"], n), pct(s["place"], s["places"]), pct(s["short"], n)] + [
            pct(s["r5"], n),
            pct(s["r5_in"], n),
        ]

    table, total = [], dict.fromkeys(KEYS, 0)
    for kind in KIND.values():
        if kind in stats:
            table.append(row(kind, stats[kind]))
            for k in total:
                total[k] += stats[kind][k]
    table.append(row("**all**", total))
    latencies.sort()
    heads = ["kind of file", "questions", "right answer", "right document", "right page/slide/sheet", "short span"]
    heads += ["gold in top 5", "gold in top 5 within its document"]
    md = [
        f"### Real documents: {ndocs} files, {total['n']} questions with answers, {len(UNANSWERABLE)} without"
        + (" (passages indexed without title and heading)" if args.no_context else ""),
        "",
        md_table(heads, table),
        "",
        f"Questions the folder cannot answer, declined: {pct(declined, len(UNANSWERABLE))}.",
        f"`docqa index docs` (fresh process, OCR of 5 scanned pages included): {index_s:.1f} s; "
        f"answer() p50 {1000 * latencies[len(latencies) // 2]:.0f} ms.",
    ]
    data = {
        "kinds": stats,
        "total": total,
        "declined": declined,
        "unanswerable": len(UNANSWERABLE),
        "index_s": index_s,
        "answers": rows_out,
    }
    save("real_docs_no_context" if args.no_context else "real_docs", "\n".join(md), data)


if __name__ == "__main__":
    main()
