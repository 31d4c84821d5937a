"""Ingest and passages: every format round-trips offsets; bad files are reported and skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from docqa.index.ingest import ingest, read_document
from docqa.index.passages import PassageSettings, make_passages
from docqa.qa.errors import IngestError
from tests.conftest import SEED_FILE

TEXT = (
    "Alpha Centauri is the closest star system to the Sun. It is 4.37 light-years away.\n\n"
    "The system contains three stars. Proxima Centauri is the smallest of them. "
    "It hosts at least two planets."
)


def make_txt(d: Path) -> Path:
    p = d / "a.txt"
    p.write_text(TEXT, encoding="utf-8")
    return p


def make_md(d: Path) -> Path:
    p = d / "b.md"
    p.write_text("# Stars\n\n" + TEXT, encoding="utf-8")
    return p


def make_html(d: Path) -> Path:
    p = d / "c.html"
    paras = "".join(f"<p>{para}</p>" for para in TEXT.split("\n\n"))
    p.write_text(f"<html><head><script>var x=1;</script><title>Stars</title></head><body>{paras}</body></html>")
    return p


def make_pdf(d: Path) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=11)
    for para in TEXT.split("\n\n"):
        pdf.multi_cell(0, 6, para)
        pdf.ln(4)
    p = d / "d.pdf"
    pdf.output(str(p))
    return p


def make_docx(d: Path) -> Path:
    import docx

    doc = docx.Document()
    for para in TEXT.split("\n\n"):
        doc.add_paragraph(para)
    p = d / "e.docx"
    doc.save(str(p))
    return p


@pytest.mark.parametrize("maker", [make_txt, make_md, make_html, make_pdf, make_docx])
def test_every_format_round_trips_offsets(tmp_path, maker):
    doc = read_document(maker(tmp_path))
    assert "Proxima Centauri" in doc.text
    assert "var x" not in doc.text  # scripts are not text
    passages = make_passages(doc, PassageSettings(sentences=2, overlap=1))
    assert passages
    for p in passages:
        assert doc.text[p.start : p.end] == p.text
        assert p.sentences[0].start == p.start and p.sentences[-1].end == p.end
        for s in p.sentences:
            assert p.start <= s.start < s.end <= p.end
            assert doc.text[s.start : s.end].strip() == doc.text[s.start : s.end]
    joined = " ".join(doc.text[s.start : s.end] for p in passages for s in p.sentences)
    assert "smallest of them" in joined


def test_passages_overlap_and_cover_every_sentence():
    doc = read_document(SEED_FILE)
    ps = make_passages(doc, PassageSettings(sentences=4, overlap=1))
    assert len(ps) >= 4
    for a, b in zip(ps, ps[1:], strict=False):
        assert a.sentences[-1] == b.sentences[0]  # one sentence of overlap
    covered = {s for p in ps for s in p.sentences}
    assert len(covered) == len({s for p in make_passages(doc, PassageSettings(1, 0)) for s in p.sentences})


def test_passages_stay_within_their_section():
    """A passage never runs from one heading's text into the next; inside a section they overlap as usual.
    Without sections (the setting off) the same text is cut across the heading."""
    from docqa.index.types import Document

    one = " ".join(f"Alpha fact {i} is here." for i in range(6))
    two = " ".join(f"Beta fact {i} is here." for i in range(3))
    text = f"Alpha\n\n{one}\n\nBeta\n\n{two}"
    beta = text.index("Beta\n")
    doc = Document("s.md", "s.md", text, "", headings=((0, "Alpha"), (beta, "Beta")))
    ps = make_passages(doc, PassageSettings(sentences=4, overlap=1))
    assert all(p.end <= beta or p.start >= beta for p in ps)
    inside = [p for p in ps if p.end <= beta]
    assert len(inside) >= 2 and inside[0].sentences[-1] == inside[1].sentences[0]
    assert ps[-1].text.startswith("Beta") and ps[-1].end == len(text)
    across = make_passages(doc, PassageSettings(sentences=4, overlap=1, sections=False))
    assert any(p.start < beta < p.end for p in across)


def test_folder_ingest_reports_and_skips_bad_files(tmp_path):
    make_txt(tmp_path)
    sub = tmp_path / "sub"
    sub.mkdir()
    make_docx(sub)
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "binary.txt").write_bytes(bytes(range(256)) * 20)
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >>\ntruncated")
    (tmp_path / "broken.docx").write_bytes(b"PK\x03\x04 not really a zip")
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n")  # a truncated image
    (tmp_path / "tool.exe").write_bytes(b"MZ\x90\x00")
    report = ingest(tmp_path)
    assert sorted(d.doc_id for d in report.documents) == ["a.txt", "sub/e.docx"]
    skipped = {Path(p).name: why for p, why in report.skipped}
    assert set(skipped) == {
        "empty.txt",
        "binary.txt",
        "latin1.txt",
        "broken.pdf",
        "broken.docx",
        "image.png",
        "tool.exe",
    }
    assert "empty" in skipped["empty.txt"]
    assert "UTF-8" in skipped["latin1.txt"]
    assert "binary" in skipped["binary.txt"]
    assert "PDF" in skipped["broken.pdf"]
    assert "unreadable image" in skipped["image.png"]
    assert "unsupported file type .exe" in skipped["tool.exe"]
    assert "2 document(s) read, 7 skipped" in report.summary()


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(IngestError, match="no such file"):
        ingest(tmp_path / "nope")


def test_reading_reports_files_pages_and_rate(tmp_path):
    from docqa.index.ingest import read_documents
    from tests.factory import make_pdf

    files = [("a.pdf", make_pdf(tmp_path / "a.pdf")), ("b.txt", tmp_path / "b.txt")]
    (tmp_path / "b.txt").write_text("Some text.")
    calls = []
    read_documents(files, report=lambda stage, fraction, detail="": calls.append((stage, fraction, detail)))
    assert [c[0] for c in calls] == ["reading", "reading"]
    assert calls[1][1] == 0.5 and calls[1][2].startswith("1/2 files, 3 pages,") and "files/s" in calls[1][2]


def test_document_stream_reads_ahead_in_order_and_collects_skips(tmp_path):
    """The stream an index update consumes: documents in file order, unreadable files in ``skipped_ids`` once it
    ends, and a consumer that stops early (an error mid-build) stops the reading thread too."""
    from docqa.index.ingest import DocumentStream

    files = []
    for i in range(6):
        p = tmp_path / f"f{i}.txt"
        p.write_text(f"File {i} says something." if i != 3 else "")
        files.append((p.name, p))
    files.append(("gone.txt", tmp_path / "gone.txt"))
    stream = DocumentStream(files, ahead=2)
    assert len(stream) == 7
    assert [d.doc_id for d in stream] == ["f0.txt", "f1.txt", "f2.txt", "f4.txt", "f5.txt"]
    assert set(stream.skipped_ids) == {"f3.txt", "gone.txt"}
    it = iter(DocumentStream(files, ahead=1))
    assert next(it).doc_id == "f0.txt"
    it.close()  # the generator's finally stops and joins the reader
    import threading

    assert not [t for t in threading.enumerate() if t.name == "docqa-read"]
