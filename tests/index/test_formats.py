"""The formats people bring, each built here: xlsx, csv/tsv, pptx, epub, odt, images and scanned PDFs (real OCR),
tables that keep their headers, and the limits every zip-based or image format is held to."""

from __future__ import annotations

import io
import time
import zipfile

import pytest

from docqa.index.errors import IngestError, UnsupportedFileError
from docqa.index.ingest import IngestLimits, read_document
from docqa.index.ingest.ocr import boxes_to_text, get_engine
from docqa.index.ingest.tables import has_header, table_lines
from tests.factory import make_epub, make_odt, make_pptx, make_scan_pdf, make_xlsx, text_image


def _holds(doc, snippet: str) -> int:
    """Offset of ``snippet`` in the document text (fails when it is not there)."""
    assert snippet in doc.text, doc.text
    return doc.text.index(snippet)


def test_table_rows_keep_their_headers():
    rows = [["Quarterly figures", None], [], ["Region", "Sales", ""], ["North", 4.0, None], ["South", "3.1 m", None]]
    assert table_lines(rows) == [
        "Quarterly figures.",
        "Region: North; North sales: 4.",
        "Region: South; South sales: 3.1 m.",
    ]
    assert not has_header([["2024", "2025"], ["1", "2"]])  # numbers are values, not column names
    assert table_lines([["a", "b"]]) == ["a; b."]  # one row: no header to take


def test_xlsx_every_sheet_row_by_row_cited_with_sheet_and_row(tmp_path):
    doc = read_document(make_xlsx(tmp_path / "plan.xlsx"))
    assert doc.kind == "xlsx" and doc.title == "Facilities planning"
    at = _holds(doc, "Team: Engineering; Engineering move date: 23 March 2027; Engineering floor: 2.")
    assert doc.heading_of(at) == "Moves, row 4"
    at = _holds(doc, "Item: Standing desk; Standing desk unit price (EUR): 489; Standing desk stock: 12.")
    assert doc.heading_of(at) == "Prices, row 3"
    for off, h in doc.headings:  # each row's label points at the row's text
        assert off == 0 or doc.text[off - 1] == "\n", h


@pytest.mark.parametrize(
    "name,data",
    [
        ("rooms.csv", "Room;Capacity;Projector\nAtlas;12;yes\nBoreal;30;no\n".encode("cp1252")),
        ("cafés.csv", "Café,Opens\nLe Petit Pré,7:30\nBrûlerie,8:00\n".encode("cp1252")),
        ("rooms.tsv", b"Room\tCapacity\nAtlas\t12\nBoreal\t30\n"),
        ("bom.csv", "\ufeffRoom,Capacity\nAtlas,12\n".encode()),
    ],
)
def test_csv_dialect_and_encoding_are_sniffed(tmp_path, name, data):
    (tmp_path / name).write_bytes(data)
    doc = read_document(tmp_path / name)
    first = doc.text.splitlines()[0]
    assert first in (
        "Room: Atlas; Atlas capacity: 12; Atlas projector: yes.",
        "Café: Le Petit Pré; Le Petit Pré opens: 7:30.",
        "Room: Atlas; Atlas capacity: 12.",
    )
    assert doc.heading_of(0) == "row 2"
    assert doc.title == name.rsplit(".", 1)[0]  # a table's first row is data, not its title


def test_pptx_slides_are_pages_with_titles_tables_and_notes(tmp_path):
    doc = read_document(make_pptx(tmp_path / "deck.pptx"))
    assert doc.title == "Quarterly review Q1" and len(doc.pages) == 3
    at = _holds(doc, "Region: South; South sales: 3.1 million.")
    assert doc.page_of(at) == 2 and doc.heading_of(at) == "Regional results"
    assert doc.page_of(_holds(doc, "40 desks")) == 1  # speaker notes belong to their slide
    assert doc.page_of(_holds(doc, "Hiring freeze ends in May.")) == 3


def test_epub_chapters_in_reading_order_with_tables(tmp_path):
    doc = read_document(make_epub(tmp_path / "book.epub"))
    assert doc.title == "The Lighthouse Keeper"
    assert doc.text.index("Inish Beg") < doc.text.index("paraffin")
    assert doc.heading_of(_holds(doc, "Lamp: Fog light; Fog light range: 6 nautical miles.")) == "Lamps"


def test_odt_headings_paragraphs_and_tables(tmp_path):
    doc = read_document(make_odt(tmp_path / "rota.odt"))
    assert doc.title == "Garden rota"
    assert doc.heading_of(_holds(doc, "Volunteer: Tomasz; Tomasz day: Thursday.")) == "Garden rota"


def test_an_image_is_read_by_ocr(tmp_path):
    text_image(["Invoice number 7731", "Total due: 120 euros"]).save(tmp_path / "note.png")
    doc = read_document(tmp_path / "note.png")
    assert doc.kind == "image" and doc.pages == (0,)
    assert "Invoice number 7731" in doc.text and "120 euros" in doc.text


def test_a_scanned_pdf_is_read_by_ocr_and_keeps_its_pages(tmp_path):
    doc = read_document(make_scan_pdf(tmp_path / "scan.pdf"))
    assert doc.page_of(_holds(doc, "Harbor Logistics Ltd")) == 1
    assert doc.page_of(_holds(doc, "monthly fee of 4,800 dollars")) == 2


def test_ocr_page_cap_reads_only_the_first_pages(tmp_path):
    doc = read_document(make_scan_pdf(tmp_path / "scan.pdf"), limits=IngestLimits(max_ocr_pages=1))
    assert "Harbor Logistics" in doc.text and "4,800" not in doc.text


def test_both_ocr_engines_read_a_page():
    img = text_image(["The warehouse opens at nine."], size=40)
    for name in ("rapidocr", "tesseract"):
        try:
            engine = get_engine(name)  # type: ignore[arg-type]
        except IngestError as exc:
            assert "apt-get install tesseract-ocr" in str(exc)  # a missing engine says what to install
            continue
        assert "warehouse opens at nine" in engine.read(img, 60).lower()


def test_ocr_boxes_are_read_in_lines_top_to_bottom_left_to_right():
    box = lambda x, y: [[x, y], [x + 50, y], [x + 50, y + 20], [x, y + 20]]  # noqa: E731
    assert (
        boxes_to_text([(box(200, 102), "world"), (box(10, 100), "hello"), (box(10, 140), "next")])
        == "hello world\nnext"
    )


def test_a_decompression_bomb_image_is_refused_before_decoding(tmp_path):
    from PIL import Image

    Image.new("1", (30_000, 30_000)).save(tmp_path / "bomb.png")  # 900 million pixels in a small file
    assert (tmp_path / "bomb.png").stat().st_size < 2_000_000
    with pytest.raises(IngestError, match=r"over the limit of 60,000,000 pixels.*max_image_pixels"):
        read_document(tmp_path / "bomb.png")


@pytest.mark.parametrize(
    "suffix,member",
    [
        (".xlsx", "xl/worksheets/sheet1.xml"),
        (".pptx", "ppt/slides/slide1.xml"),
        (".odt", "content.xml"),
        (".epub", "OEBPS/c1.xhtml"),
    ],
)
def test_zip_bombs_are_refused_for_every_zip_format(tmp_path, suffix, member):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(member, b"<x>" + b"0" * 60_000_000 + b"</x>")
    (tmp_path / f"bomb{suffix}").write_bytes(buf.getvalue())
    with pytest.raises(IngestError, match="max_docx_xml_bytes"):
        read_document(tmp_path / f"bomb{suffix}")


@pytest.mark.parametrize("suffix", [".xlsx", ".pptx", ".odt", ".epub", ".png", ".jpg", ".tiff"])
def test_a_renamed_file_is_refused_with_the_reason(tmp_path, suffix):
    (tmp_path / f"fake{suffix}").write_bytes(b"just some text, not that format\n" * 10)
    with pytest.raises(UnsupportedFileError, match="content is not"):
        read_document(tmp_path / f"fake{suffix}")


@pytest.mark.parametrize("suffix", [".xlsx", ".pptx", ".odt", ".epub"])
def test_a_broken_zip_of_each_format_is_a_clear_error(tmp_path, suffix):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("mimetype", "application/zip")
    (tmp_path / f"broken{suffix}").write_bytes(buf.getvalue())
    with pytest.raises(IngestError, match="unreadable|no extractable text"):
        read_document(tmp_path / f"broken{suffix}")


def test_a_table_row_is_named_by_its_first_column_of_words():
    """A release table keyed by version numbers is asked about by codename: the codename names the row, and
    every other cell (the version too) is said of it."""
    rows = [["Version", "Codename", "Release"], ["3.1", "Sarge", "2005-06-06"], ["4.0", "Etch", ""]]
    assert table_lines(rows) == [
        "Codename: Sarge; Sarge version: 3.1; Sarge release: 2005-06-06.",
        "Codename: Etch; Etch version: 4.0.",
    ]
    assert table_lines([["Year", "Sales"], ["2024", "3"], ["2025", "4"]]) == [  # all numbers: the first column
        "Year: 2024; 2024 sales: 3.",
        "Year: 2025; 2025 sales: 4.",
    ]


def test_run_together_ocr_is_read_again_by_the_other_engine():
    """A page RapidOCR reads with words run together is read again by Tesseract (real), whose text is kept."""
    from docqa.index.ingest.ocr import CheckedOcr, TesseractOcr

    if not TesseractOcr.available():
        pytest.skip("Debian's tesseract-ocr is not installed")
    lines = ["Applications must be able to extend the database", "in any way when they are installed, to add"]
    lines += ["both new rules for determining type and new", "information about specific types of files."]
    img = text_image(lines, size=40)

    class RunTogether:  # what RapidOCR returned on tightly set pages of a real specification
        name = "run-together"

        def read(self, image, timeout_s):
            return "\n".join(ln.replace(" ", "") for ln in lines) + " " + " ".join(lines)

    engine = CheckedOcr(RunTogether(), TesseractOcr())
    text = engine.read(img, 60)
    assert "extend the database" in text and "Applicationsmust" not in text

    class SlowRunTogether(RunTogether):  # leaves the second engine less than a second of the page's time
        def read(self, image, timeout_s):
            time.sleep(0.6)
            return super().read(image, timeout_s)

    late = CheckedOcr(SlowRunTogether(), TesseractOcr()).read(img, 1.5)
    assert "Applicationsmust" in late  # the page's time limit holds for both reads: the first text stands
    assert get_engine("auto").name.startswith("rapidocr, tesseract")  # what DocQA uses when both are there


def test_a_row_line_parses_back_into_its_cells():
    """``parse_row`` is the inverse of ``row_text``: each cell's header and where its value sits in the line;
    lines that are not keyed rows (prose, header-less rows) give nothing."""
    from docqa.index.ingest.tables import parse_row, row_line_starts

    rows = [["Currency", "Code", "Numeric code"], ["Brazilian Real", "BRL", "986"], ["Swiss Franc", "CHF; SFr", ""]]
    lines = table_lines(rows)
    cells = [[(c.header, ln[c.start : c.end]) for c in parse_row(ln)] for ln in lines]
    assert cells == [
        [("Currency", "Brazilian Real"), ("code", "BRL"), ("numeric code", "986")],
        [("Currency", "Swiss Franc"), ("code", "CHF; SFr")],  # a value holding "; " stays whole
    ]
    for bad in ["a; b.", "Note: the desk is new; it is blue.", "Ratio: 3:1; the rest", ""]:
        assert parse_row(bad) == []
    text = "Currencies\n\n" + "\n".join(lines) + "\nNote: none."
    assert sorted(row_line_starts(text)) == [text.index(ln) for ln in lines]


def test_each_table_row_is_a_passage_of_its_own():
    """A docx table's rows are separate passages (the reader is unsure when four rows of dates sit in one), while
    the prose around the table is still cut into windows of sentences; with ``rows`` off rows are grouped."""
    from docqa.index.passages import PassageSettings, make_passages
    from docqa.index.types import Document

    rows = [["Codename", "Version", "Release"]] + [[f"Name{i}", f"{i}.0", f"20{i:02d}-01-01"] for i in range(1, 7)]
    prose = "The team keeps a table. It lists every release. Dates are in UTC. They are exact."
    text = prose + "\n\n" + "\n".join(table_lines(rows)) + "\n\nThat is all. Nothing else follows."
    doc = Document("t.docx", "t.docx", text, "0" * 64)
    passages = make_passages(doc, PassageSettings(sentences=4, overlap=1))
    row_passages = [p for p in passages if p.text.startswith("Codename: ")]
    assert [p.text for p in row_passages] == table_lines(rows)[:]
    assert any(p.text.startswith("The team keeps a table.") and "They are exact." in p.text for p in passages)
    grouped = make_passages(doc, PassageSettings(sentences=4, overlap=1, rows=False))
    assert max(p.text.count("Codename: ") for p in grouped) > 1
