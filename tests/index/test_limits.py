"""What one document may cost: each limit refuses its file with a reason, and the rest of the folder is indexed."""

from __future__ import annotations

import shutil
import time

import pytest

from docqa.index.errors import IngestError
from docqa.index.ingest import IngestLimits, ingest, read_document
from docqa.index.ingest.worker import worker_pid
from docqa.index.sync import open_index
from tests.conftest import SEED_FILE
from tests.factory import make_docx_bomb, make_many_page_pdf


def test_zip_bomb_docx_refused_in_under_a_second_and_folder_indexed(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SEED_FILE, corpus / SEED_FILE.name)
    bomb = make_docx_bomb(corpus / "bomb.docx", mb=100)
    assert bomb.stat().st_size < 1_000_000  # a few hundred KB that expand to ~100 MB
    t = time.perf_counter()
    with pytest.raises(IngestError, match=r"uncompressed XML bytes is over the limit.*max_docx_xml_bytes"):
        read_document(bomb)
    assert time.perf_counter() - t < 1.0
    store, stats = open_index(corpus, tmp_path / "ix")
    assert [d.doc_id for d in store.view().documents()] == [SEED_FILE.name]
    assert any("bomb.docx" in p and "max_docx_xml_bytes" in why for p, why in stats.skipped)


def test_compression_ratio_is_bounded_too(tmp_path):
    bomb = make_docx_bomb(tmp_path / "bomb.docx", mb=5)
    with pytest.raises(IngestError, match=r"compression ratio \d+:1 is over the limit"):
        read_document(bomb, limits=IngestLimits(max_docx_xml_bytes=10**9))


def test_pdf_page_count_is_checked_before_extraction(tmp_path):
    pdf = make_many_page_pdf(tmp_path / "long.pdf", pages=30)
    with pytest.raises(IngestError, match=r"30 PDF pages is over the limit of 20.*max_pdf_pages"):
        read_document(pdf, limits=IngestLimits(max_pdf_pages=20))
    assert len(read_document(pdf).pages) == 30


def test_character_cap(tmp_path):
    (tmp_path / "long.txt").write_text("All work and no play. " * 60_000)  # 1.3 M characters
    with pytest.raises(IngestError, match=r"characters is over the limit of 1,000,000.*max_chars"):
        read_document(tmp_path / "long.txt", limits=IngestLimits(max_chars=1_000_000))


def test_slow_file_is_killed_after_the_time_limit(tmp_path):
    (tmp_path / "huge.html").write_text("<div>" + "<b>x</b><i>y</i>" * 1_500_000 + "</div>")
    (tmp_path / "fine.txt").write_text("The harbour closes at dusk.")
    t = time.perf_counter()
    report = ingest(tmp_path, limits=IngestLimits(timeout_s=1.0))
    assert time.perf_counter() - t < 15
    skipped = dict(report.skipped)
    assert "took longer than the limit of 1 s" in skipped[str(tmp_path / "huge.html")]
    assert [d.doc_id for d in report.documents] == ["fine.txt"]
    assert worker_pid() is None  # the reader process was killed, not left running


def test_over_limit_file_is_not_retried_until_it_changes(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "ok.txt").write_text("The ferry leaves at six.")
    make_docx_bomb(corpus / "bomb.docx", mb=60)
    _, first = open_index(corpus, tmp_path / "ix")
    assert len(first.skipped) == 1
    _, second = open_index(corpus, tmp_path / "ix")
    assert second.skipped == [] and not second.changed  # remembered as skipped, not read again
