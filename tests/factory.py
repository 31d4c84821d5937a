"""Real documents built by the tests: multi-page PDFs with running headers, docx with headings, zip bombs."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

HEADER = "Orbital Station Handbook"

# each page: lines as printed (line breaks inside sentences, one hyphenated word across a line break)
PAGES = [
    [
        "Chapter 1. Overview",
        "The orbital station Kestrel was assembled in low Earth orbit between 2031",
        "and 2034 by a consortium of eleven space agencies. Its main truss is",
        "one hundred and nine metres long.",
    ],
    [
        "Chapter 2. Power",
        "Electrical power comes from eight solar array wings that together pro-",
        "duce about 120 kilowatts at the start of each orbit. Batteries made of",
        "lithium iron phosphate carry the station through the eclipse.",
    ],
    [
        "Chapter 3. Crew",
        "A crew of six lives aboard. The commander of the first expedition was",
        "Amara Okafor, a former test pilot who spent 211 days on the station.",
        "Water is recycled by a vapour compression distillation unit.",
    ],
]


def make_pdf(path: Path, pages: list[list[str]] = PAGES, header: str = HEADER, title: str = "") -> Path:
    """A PDF with one page per item of ``pages``, a running header and a page number footer on every page."""
    from fpdf import FPDF

    class Doc(FPDF):
        def header(self) -> None:
            self.set_font("helvetica", size=9)
            self.cell(0, 8, header, new_x="LMARGIN", new_y="NEXT")

        def footer(self) -> None:
            self.set_y(-15)
            self.set_font("helvetica", size=9)
            self.cell(0, 8, str(self.page_no()), align="C")

    pdf = Doc()
    if title:
        pdf.set_title(title)
    for lines in pages:
        pdf.add_page()
        pdf.set_font("helvetica", size=11)
        for line in lines:
            pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    path.write_bytes(bytes(pdf.output()))
    return path


def make_many_page_pdf(path: Path, pages: int) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    for i in range(pages):
        pdf.add_page()
        word = "".join(chr(97 + (i * 7 + k) % 26) for k in range(6))
        pdf.cell(0, 6, f"This page tells of the {word} tide.", new_x="LMARGIN", new_y="NEXT")
    path.write_bytes(bytes(pdf.output()))
    return path


def make_docx(path: Path) -> Path:
    """A docx with a title, headings, paragraphs and a table."""
    import docx

    d = docx.Document()
    d.core_properties.title = "Ferry Operations Manual"
    d.add_heading("Ferry Operations Manual", level=0)
    d.add_heading("Departures", level=1)
    d.add_paragraph("The first ferry leaves the north pier at 6:40 every weekday morning.")
    d.add_heading("Safety", level=1)
    d.add_paragraph("Every passenger must be shown the muster station before the ferry casts off.")
    t = d.add_table(rows=2, cols=2)
    t.cell(0, 0).text = "Vessel"
    t.cell(0, 1).text = "Capacity"
    t.cell(1, 0).text = "Marlin"
    t.cell(1, 1).text = "340 passengers"
    d.save(str(path))
    return path


def make_docx_bomb(path: Path, mb: int = 100) -> Path:
    """An ordinary zip, built with python-docx and zipfile, whose document.xml expands to about ``mb`` MB."""
    import docx

    buf = io.BytesIO()
    docx.Document().save(buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    para = "<w:p><w:r><w:t>" + "A" * 1000 + "</w:t></w:r></w:p>"
    body = para * (mb * 1000)
    xml = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
        + body
        + "</w:body></w:document>"
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out:
        for item in src.infolist():
            if item.filename == "word/document.xml":
                out.writestr(item.filename, xml)
            else:
                out.writestr(item, src.read(item.filename))
    return path
