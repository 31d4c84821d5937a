"""Documents as people read them: PDF pages, running headers, joined lines; docx headings; titles; the library."""

from __future__ import annotations

import pytest

from docqa.index.errors import IngestError
from docqa.index.ingest import read_document
from docqa.index.library import Library, safe_filename
from docqa.index.passages import make_passages
from tests.factory import HEADER, make_docx, make_pdf


def test_pdf_keeps_pages_and_drops_headers_numbers_and_hard_breaks(tmp_path):
    doc = read_document(make_pdf(tmp_path / "station.pdf", title="Kestrel Station Handbook"))
    assert doc.kind == "pdf" and doc.title == "Kestrel Station Handbook"
    assert len(doc.pages) == 3 and doc.pages[0] == 0
    assert HEADER not in doc.text
    assert "\n1\n" not in doc.text and not doc.text.rstrip().endswith("3")
    assert "between 2031 and 2034" in doc.text  # line break inside a sentence joined
    assert "together produce about 120 kilowatts" in doc.text  # hyphenated line end joined
    assert doc.text[doc.pages[1] :].startswith("Chapter 2. Power")
    assert doc.page_of(doc.text.index("Amara Okafor")) == 3
    for p in make_passages(doc):
        assert doc.text[p.start : p.end] == p.text
        assert all(doc.text[s.start : s.end].strip() for s in p.sentences)


def test_docx_headings_tables_and_title(tmp_path):
    doc = read_document(make_docx(tmp_path / "ferry.docx"))
    assert doc.title == "Ferry Operations Manual"
    assert [h for _, h in doc.headings] == ["Ferry Operations Manual", "Departures", "Safety"]
    assert doc.heading_of(doc.text.index("muster station")) == "Safety"
    assert "Vessel: Marlin; Marlin capacity: 340 passengers." in doc.text  # each row keeps its column headers
    for off, h in doc.headings:
        assert doc.text[off : off + len(h)] == h


def test_titles_of_markdown_and_html(tmp_path):
    (tmp_path / "a.md").write_text("Intro line\n\n# Tide Tables\n\nHigh tide is at noon.\n\n## Notes\n\nNone.")
    (tmp_path / "b.html").write_text(
        "<html><head><title>Harbour News</title></head><body><h1>Storm</h1><p>The storm passed.</p></body></html>"
    )
    md = read_document(tmp_path / "a.md")
    assert md.title == "Tide Tables" and md.heading_of(md.text.index("None")) == "Notes"
    html = read_document(tmp_path / "b.html")
    assert (
        html.title == "Harbour News" and "Harbour News" not in html.text and html.heading_of(len(html.text)) == "Storm"
    )


@pytest.mark.parametrize(
    "raw,safe",
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("C:\\\\Users\\\\x\\\\report.PDF", "report.pdf"),
        (".hidden.md", "hidden.md"),
        ("rm -rf $(x); notes.md", "rm -rf _(x)_ notes.md"),
        ("\x00\x1f.txt", "document.txt"),
        ("résumé.docx", "résumé.docx"),
        ("a/b\\c?.md", "c.md"),
    ],
)
def test_safe_filename(raw, safe):
    assert safe_filename(raw) == safe


def test_library_uploads_never_overwrite_and_exclusions_keep_files(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "notes.txt").write_text("The archive opens at nine.")
    lib = Library([corpus], tmp_path / "state")
    a = lib.save_upload("notes.txt", b"Upload one.")
    b = lib.save_upload("notes.txt", b"Upload two.")
    assert (a, b) == ("uploads/notes.txt", "uploads/notes (2).txt")
    assert set(lib.scan()) == {"notes.txt", "uploads/notes.txt", "uploads/notes (2).txt"}
    lib.remove("notes.txt")
    assert (corpus / "notes.txt").exists() and "notes.txt" not in lib.scan()
    assert lib.add_path(corpus / "notes.txt") == "notes.txt" and "notes.txt" in lib.scan()
    lib.remove(b)
    assert not (tmp_path / "state" / "uploads" / "notes (2).txt").exists()
    with pytest.raises(IngestError, match="not a PDF"):
        lib.save_upload("x.pdf", b"plain text")
    with pytest.raises(IngestError, match="unsupported"):
        lib.save_upload("x.exe", b"MZ")


@pytest.mark.parametrize("metadata", ["", "Microsoft Word - handbook.docx", "Kestrel Station Handbook"])
def test_pdf_title_is_its_metadata_or_its_title_page_never_the_running_header(tmp_path, metadata):
    from fpdf import FPDF

    class Doc(FPDF):
        def header(self) -> None:
            self.set_font("helvetica", size=9)
            self.cell(0, 8, "X Corporation (http://example.org) internal", new_x="LMARGIN", new_y="NEXT")

    pdf = Doc()
    if metadata:
        pdf.set_title(metadata)
    for n in range(3):
        pdf.add_page()
        if n == 0:
            pdf.set_font("helvetica", size=24)
            pdf.cell(0, 14, "Kestrel Station Handbook", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("helvetica", size=11)
        pdf.multi_cell(0, 6, f"Chapter {n + 1}. The station was assembled in orbit by eleven agencies.")
    pdf.output(str(tmp_path / "h.pdf"))
    assert read_document(tmp_path / "h.pdf").title == "Kestrel Station Handbook"


def test_a_two_column_pdf_page_is_read_column_by_column(tmp_path):
    """A page set in two columns (as LaTeX and word processors write them: one column's lines, then the other's)
    is read in column order, so no sentence runs from one column into the other."""
    from fpdf import FPDF

    left = "Owls hunt at night and sleep during the day in hollow trees near the river. " * 5
    right = "Bees collect nectar in the morning and return to their hive before the rain. " * 5
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", "B", 16)
    pdf.cell(0, 10, "Owls and bees", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", size=11)
    cols = pdf.text_columns(ncols=2, gutter=10, text_align="LEFT")
    with cols:
        cols.write(left.strip())
        cols.new_column()
        cols.write(right.strip())
    pdf.output(str(tmp_path / "two.pdf"))
    doc = read_document(tmp_path / "two.pdf")
    text = " ".join(doc.text.split())
    assert left.strip() in text and right.strip() in text
    assert text.index("Owls hunt") < text.index("Bees collect")


@pytest.mark.parametrize("interleaved", [False, True])
def test_a_pdf_page_written_line_by_line_across_two_columns_is_read_column_by_column(tmp_path, interleaved):
    """Some producers write a two-column page line by line across both columns; pypdf then alternates between
    the columns mid-sentence. DocQA finds the gutter and reads the left column, then the right; a title and a
    footnote spanning the page stay before and after them, and a page written column by column is unchanged."""
    from fpdf import FPDF

    left = [f"The owl number {i} hunts at night and sleeps in the hollow oak." for i in range(12)]
    right = [f"The bee number {i} gathers nectar from the clover at dawn." for i in range(12)]
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", "B", 16)
    pdf.text(15, 20, "Owls and bees of the river valley")
    pdf.set_font("helvetica", size=9)
    order = (
        [(a, b) for a, b in zip(left, right, strict=True)]
        if interleaved
        else [(a, None) for a in left] + [(None, b) for b in right]
    )
    for i, (a, b) in enumerate(order):
        if a is not None:
            pdf.text(15, 35 + 6 * (i % 12), a)
        if b is not None:
            pdf.text(110, 35 + 6 * (i % 12), b)
    pdf.text(15, 280, "Photographs by the river valley society, used with permission of the authors.")
    pdf.output(str(tmp_path / "two.pdf"))
    doc = read_document(tmp_path / "two.pdf")
    lines = [ln for ln in doc.text.split("\n") if ln.strip()]
    joined = " ".join(doc.text.split())
    assert " ".join(left) in joined and " ".join(right) in joined  # each column whole, in its order
    assert joined.index(left[-1]) < joined.index(right[0])
    assert lines[0] == "Owls and bees of the river valley"
    assert joined.index(right[-1]) < joined.index("Photographs by")
