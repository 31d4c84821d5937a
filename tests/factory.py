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


# ------------------------------------------------------------------ the formats people bring (built here)

MOVES = [
    ("Team", "Move date", "Floor"),
    ("Engineering", "23 March 2027", 2),
    ("Legal", "6 April 2027", 5),
    ("Finance", "13 April 2027", 4),
]


def make_xlsx(path: Path) -> Path:
    """A workbook: sheet "Moves" (a title row above a header row), sheet "Prices" (header, numbers, a formula)."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Moves"
    ws.append(["Office moves in spring 2027"])
    ws.append([])
    for row in MOVES:
        ws.append(list(row))
    prices = wb.create_sheet("Prices")
    prices.append(["Item", "Unit price (EUR)", "Stock"])
    prices.append(["Desk lamp", 34.5, 120])
    prices.append(["Standing desk", 489, 12])
    prices.append(["Monitor arm", 79, "=10+7"])
    wb.properties.title = "Facilities planning"
    wb.save(path)
    return path


def make_pptx(path: Path) -> Path:
    """A deck: slide 1 (title, bullets, notes), slide 2 (title and a table), slide 3 (title, bullets)."""
    from pptx import Presentation
    from pptx.util import Inches

    prs = Presentation()
    s1 = prs.slides.add_slide(prs.slide_layouts[1])
    s1.shapes.title.text = "Quarterly review"
    body = s1.placeholders[1].text_frame
    body.text = "Revenue grew 12 percent over the quarter."
    body.add_paragraph().text = "The Lisbon office opened in February."
    s1.notes_slide.notes_text_frame.text = "Mention that the Lisbon office has 40 desks."
    s2 = prs.slides.add_slide(prs.slide_layouts[5])
    s2.shapes.title.text = "Regional results"
    table = s2.shapes.add_table(3, 2, Inches(1), Inches(2), Inches(6), Inches(1.5)).table
    for r, (a, b) in enumerate([("Region", "Sales"), ("North", "4.2 million"), ("South", "3.1 million")]):
        table.cell(r, 0).text, table.cell(r, 1).text = a, b
    s3 = prs.slides.add_slide(prs.slide_layouts[1])
    s3.shapes.title.text = "Next steps"
    s3.placeholders[1].text_frame.text = "Hiring freeze ends in May."
    prs.core_properties.title = "Quarterly review Q1"
    prs.save(path)
    return path


def make_epub(path: Path) -> Path:
    """A two-chapter EPUB with a title in its metadata and a table in chapter 2."""
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("docqa-test-epub")
    book.set_title("The Lighthouse Keeper")
    book.set_language("en")
    c1 = epub.EpubHtml(title="Arrival", file_name="c1.xhtml", lang="en")
    c1.content = "<h1>Arrival</h1><p>Mara reached the lighthouse on <em>Inish Beg</em> in October 1911.</p>"
    c2 = epub.EpubHtml(title="Lamps", file_name="c2.xhtml", lang="en")
    c2.content = (
        "<h1>Lamps</h1><p>The lamps burned paraffin.</p><table><tr><th>Lamp</th><th>Range</th></tr>"
        "<tr><td>Main light</td><td>18 nautical miles</td></tr><tr><td>Fog light</td><td>6 nautical miles</td></tr></table>"
    )
    for c in (c1, c2):
        book.add_item(c)
    book.toc = [c1, c2]
    book.spine = [c1, c2]
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    epub.write_epub(str(path), book)
    return path


def make_odt(path: Path) -> Path:
    """An OpenDocument text: a heading, a paragraph and a table with a header row."""
    from odf.opendocument import OpenDocumentText
    from odf.table import Table, TableCell, TableColumn, TableRow
    from odf.text import H, P

    doc = OpenDocumentText()
    doc.text.addElement(H(outlinelevel=1, text="Garden rota"))
    doc.text.addElement(P(text="Each volunteer waters the beds on one weekday."))
    t = Table(name="Rota")
    t.addElement(TableColumn(numbercolumnsrepeated=2))
    for a, b in [("Volunteer", "Day"), ("Priya", "Tuesday"), ("Tomasz", "Thursday")]:
        tr = TableRow()
        for v in (a, b):
            cell = TableCell()
            cell.addElement(P(text=v))
            tr.addElement(cell)
        t.addElement(tr)
    doc.text.addElement(t)
    doc.save(str(path))
    return path


def text_image(lines: list[str], width: int = 1700, size: int = 34):
    """A white page image with ``lines`` printed in black (Pillow's built-in font: no system fonts needed)."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=size)
    img = Image.new("L", (width, 120 + len(lines) * int(size * 1.6)), 255)
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        draw.text((80, 60 + i * int(size * 1.6)), line, fill=0, font=font)
    return img


SCAN_PAGES = [
    ["SERVICE AGREEMENT", "", "This agreement is made between Harbor Logistics Ltd", "and the City of Westport."],
    ["Payment terms", "", "The City shall pay the monthly fee of 4,800 dollars", "within thirty days of each invoice."],
]


def make_scan_pdf(path: Path, pages: list[list[str]] = SCAN_PAGES) -> Path:
    """An image-only PDF (no text layer), one scanned page per item of ``pages``."""
    images = [text_image(p).convert("RGB") for p in pages]
    images[0].save(path, "PDF", resolution=200, save_all=True, append_images=images[1:])
    return path


def make_moves_docx(path: Path) -> Path:
    """A memo with a table of teams, move dates and floors (a cell is right only with its row and column)."""
    import docx

    d = docx.Document()
    d.core_properties.title = "Office move memo"
    d.add_heading("Office move memo", level=0)
    d.add_paragraph("Facilities will move three teams to the new building this spring.")
    t = d.add_table(rows=len(MOVES), cols=3)
    for r, row in enumerate(MOVES):
        for c, value in enumerate(row):
            t.cell(r, c).text = str(value)
    d.add_paragraph("Movers arrive at 8:00 on each move date.")
    d.save(str(path))
    return path
