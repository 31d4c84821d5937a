"""Fast unit tests of the index layer's pure functions: top-k, pages and headings, PDF clean-up, paths, threads."""

from __future__ import annotations

from docqa.index.backend import top_k
from docqa.index.ingest.pdf import clean_pdf_pages, running_lines
from docqa.index.paths import cache_dir
from docqa.index.types import Document, Passage, Span


def test_top_k_keeps_positive_scores_best_first():
    import numpy as np

    s = np.array([0.0, 3.0, 1.0, 2.0, -1.0])
    assert top_k(s, 3).tolist() == [1, 3, 2]
    assert top_k(s, 10).tolist() == [1, 3, 2]
    assert top_k(s, 10, positive=False).tolist() == [1, 3, 2, 0, 4]


def test_document_pages_and_headings():
    doc = Document("d", "d.pdf", "page one text\n\npage two text", "x", pages=(0, 15), headings=((0, "Intro"),))
    assert doc.page_of(0) == 1 and doc.page_of(14) == 1 and doc.page_of(15) == 2
    assert doc.page_span(2) == Span(15, len(doc.text))
    assert doc.heading_of(20) == "Intro"
    assert Document("t", "t.txt", "abc", "x").page_of(1) is None
    p = Passage("d#0", "d", 0, 13, "page one text", (Span(0, 4), Span(5, 13)))
    assert p.sentence_at(6) == Span(5, 13) and p.sentence_at(99) == Span(0, 4)


def test_pdf_cleanup_drops_running_header_and_page_numbers_and_joins_lines():
    animals = ["fox", "cat", "owl", "elk"]
    pages = [
        f"Shared MIME-info Database\nThe {a} jumps over the lazy dog and keeps running far into the\n"
        f"distant hills where the speci-\nfication says nothing about the {a}. It ends here.\n{n}"
        for n, a in enumerate(animals, start=1)
    ]
    assert "shared mime-info database" in running_lines([p.split("\n") for p in pages])
    text, starts = clean_pdf_pages(pages)
    assert "Shared MIME-info" not in text
    assert "into the distant hills" in text and "specification says" in text
    assert "\n1\n" not in text and not text.rstrip().endswith("4")
    assert len(starts) == 4 and starts[0] == 0 and starts == sorted(starts)
    for a, s in zip(animals, starts, strict=True):
        assert text[s:].startswith(f"The {a} jumps")


def test_a_chapter_running_header_with_its_page_number_is_dropped():
    """A header naming the chapter and the page ("Chapter 4: Function reference 10") is on that chapter's pages
    only, far fewer than half of the document's: it repeats with another page number, so it is a running line;
    a caption with a number inside ("Table 3: Results") and a heading that appears once are kept."""
    animals = ["fox", "cat", "owl", "elk", "emu", "yak", "ant", "bee", "cod", "eel"]
    body = [f"The {a} is the subject of this page, which goes on for a while." for a in animals]
    pages = [[f"Chapter 1: Intro {n}", body[n - 1]] for n in (1, 2)]
    pages += [["3 Chapter 4: Function reference", "4.1 Schema functions", body[2], "Table 3: Results"]]
    pages += [[f"Chapter 4: Function reference {n}", body[n - 1]] for n in (4, 5)]
    pages += [[body[n]] for n in range(5, 10)]
    run = running_lines(pages)
    assert {"chapter #: intro #", "chapter #: function reference #"} <= run
    assert not any("table" in k or "schema" in k for k in run)
    text, _ = clean_pdf_pages(["\n".join(p) for p in pages])
    assert "Chapter 4: Function" not in text and "Chapter 1: Intro" not in text
    assert "Table 3: Results" in text and "4.1 Schema functions" in text


def test_an_option_list_keeps_one_option_per_paragraph():
    """Lines of a command's option list each start a paragraph, as bullets do, instead of running together into
    one sentence; a hyphenated word in prose still joins its line."""
    prose = "The tool reads one file of definitions and writes a C array that the library can use, "
    page = (
        f"{prose}\n{prose}\n{prose}\nUsage: asn1Parser [OPTION] FILE\n"
        "-c, --check checks the syntax only\n-n, --name=NAME array name\n--help display this help and exit\n"
        f"Report bugs to the list. {prose}\n{prose} which ends with a hyphen-\nated word and goes on."
    )
    text, _ = clean_pdf_pages([page])
    paras = text.split("\n\n")
    assert "-c, --check checks the syntax only" in paras and "-n, --name=NAME array name" in paras
    assert "--help display this help and exit" in paras
    assert "hyphenated word" in text


def test_cache_dir_follows_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir("reader-onnx") == tmp_path / "docqa" / "reader-onnx"
    monkeypatch.setenv("XDG_CACHE_HOME", "")  # empty: the default, as the XDG spec says
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir("indexes") == tmp_path / "home" / ".cache" / "docqa" / "indexes"


def test_faiss_query_threads_apply_to_the_calling_thread_and_are_restored():
    import threading

    import faiss

    from docqa.index.faiss_store import _omp_threads

    def in_other_thread() -> int:  # what another thread (an index build) gets
        seen: list[int] = []
        t = threading.Thread(target=lambda: seen.append(faiss.omp_get_max_threads()))
        t.start()
        t.join()
        return seen[0]

    faiss.omp_set_num_threads(3)
    elsewhere = in_other_thread()
    with _omp_threads(1):
        assert faiss.omp_get_max_threads() == 1
        assert in_other_thread() == elsewhere
    assert faiss.omp_get_max_threads() == 3
    with _omp_threads(0):  # 0: leave the count alone
        assert faiss.omp_get_max_threads() == 3
    faiss.omp_set_num_threads(elsewhere)


def test_padded_batches_pad_like_the_tokenizer():
    from docqa.index.encoder import _padded

    batch = _padded([[101, 7, 102], [101, 102]], [[0, 0, 0], [0, 0]], pad_id=0)
    assert batch["input_ids"].tolist() == [[101, 7, 102], [101, 102, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["token_type_ids"].tolist() == [[0, 0, 0], [0, 0, 0]]
    assert all(a.dtype.name == "int64" for a in batch.values())


def test_numbered_pdf_headings_become_their_own_paragraphs_and_headings():
    from docqa.index.ingest.pdf import is_numbered_heading, numbered_headings

    page = [
        "this is the end of the previous section, which talks about the REAL type.",
        "3 Utilities",
        "3.1 Invoking asn1Parser",
        "asn1Parser reads a single file with ASN.1 definitions and generates a file with an array to",
        "use with libtasn1 functions.",
    ]
    text, _ = clean_pdf_pages(["\n".join(page)])
    assert "\n\n3 Utilities\n\n3.1 Invoking asn1Parser\n\nasn1Parser reads a single file" in text
    assert [h for _, h in numbered_headings(text)] == ["3 Utilities", "3.1 Invoking asn1Parser"]
    for off, h in numbered_headings(text):
        assert text[off : off + len(h)] == h
    assert not is_numbered_heading("1. Open the valve slowly.")  # a numbered step is not a heading
    assert not is_numbered_heading("2024 was a good year for the harbour and for the town that depends on it")


def test_indexed_text_puts_title_and_heading_before_the_passage():
    from docqa.index.passages import indexed_text, passage_context

    text = "Release history\n\nCodename: Sarge; Sarge release: 2005-06-06.\n\nOther notes follow here."
    doc = Document("r.docx", "r.docx", text, "", title="Debian releases", headings=((0, "Release history"),))
    row = Passage("r.docx#1", "r.docx", 17, 60, text[17:60], (Span(17, 60),))
    assert passage_context(doc, row.start) == "Debian releases\nRelease history"
    assert indexed_text(doc, row) == "Debian releases\nRelease history\n" + row.text
    assert indexed_text(doc, row, context=False) == row.text
    first = Passage("r.docx#0", "r.docx", 0, 15, text[:15], (Span(0, 15),))
    assert indexed_text(doc, first) == "Debian releases\nRelease history"  # the heading it starts with, once
    prose = Document("a.txt", "a.txt", text, "", title="x" * 101)  # a first line of prose is not a title
    assert passage_context(prose, 17) == ""


def test_ligatures_are_spelled_out():
    from docqa.index.ingest.base import normalize_text

    assert (
        normalize_text("shell-style \ufb01lename \ufb02ags, e\ufb03cient\r\n")
        == "shell-style filename flags, efficient\n"
    )


def test_ocr_words_run_together_are_recognised():
    from docqa.index.ingest.ocr import looks_merged

    merged = (
        "Therearetwoimportantrequirementsfortheway theMIMEdatabaseis stored: Applicationsmustbeabletoextend "
        "thedatabasein anywaywhen theyareinstalled,toaddbothnew rulesfor determining type,and newinformation "
        "aboutspecifictypes. It must be possible to install applications in the normal Unix way and have the "
        "information used by every program that reads it."
    )
    clean = (
        "There are two important requirements for the way the MIME database is stored: applications must be "
        "able to extend the database in any way when they are installed, to add both new rules for determining "
        "type and new information about specific types, and internationalization must keep working."
    )
    assert looks_merged(merged) and not looks_merged(clean)
    assert not looks_merged("Thisisonelongword")  # too few words to judge


def test_ocr_junk_from_dot_leaders_is_recognised():
    from docqa.index.ingest.ocr import JUNK_MARGIN, junk_share

    leaders = "2.3 Simple parsing........... 0... cece cee eee ee ee eee nent n eee 4 Library Notes wos can eae wen"
    prose = "Permission is granted to copy, distribute and modify this document under the terms of the license."
    assert junk_share(leaders) > junk_share(prose) + JUNK_MARGIN
