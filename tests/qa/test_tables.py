"""Questions about table cells, end to end with the real reader: a docx table of Debian releases (public facts
from Debian's distro-info-data), each question naming one row and one column, answered with that cell and cited
with its row."""

from __future__ import annotations

import pytest

RELEASES = [
    ("Version", "Codename", "Created", "Release", "End of life", "LTS end"),
    ("3.0", "Woody", "2000-08-15", "2002-07-19", "2006-06-30", ""),
    ("3.1", "Sarge", "2002-07-19", "2005-06-06", "2008-03-31", ""),
    ("4.0", "Etch", "2005-06-06", "2007-04-08", "2010-02-15", ""),
    ("5.0", "Lenny", "2007-04-08", "2009-02-14", "2012-02-06", ""),
    ("6.0", "Squeeze", "2009-02-14", "2011-02-06", "2014-05-31", "2016-02-29"),
    ("7", "Wheezy", "2011-02-06", "2013-05-04", "2016-04-25", "2018-05-31"),
    ("8", "Jessie", "2013-05-04", "2015-04-25", "2018-06-17", "2020-06-30"),
    ("9", "Stretch", "2015-04-26", "2017-06-17", "2020-07-18", "2022-06-30"),
    ("10", "Buster", "2017-06-17", "2019-07-06", "2022-09-10", "2024-06-30"),
]
QUESTIONS = [
    ("When was Debian Sarge released?", "2005-06-06"),
    ("What is the codename of Debian 7?", "Wheezy"),
    ("When was Debian 10 released?", "2019-07-06"),
    ("When does LTS support for Debian Jessie end?", "2020-06-30"),
    ("Which Debian version is codenamed Lenny?", "5.0"),
    ("When did Debian Squeeze reach its end of life?", "2014-05-31"),
]


@pytest.fixture(scope="module")
def releases_qa(tmp_path_factory):
    import docx

    from docqa.qa import QA

    root = tmp_path_factory.mktemp("tables")
    d = docx.Document()
    d.core_properties.title = "Debian release history"
    d.add_paragraph("Every Debian release with the date its development started, its release date and its end of life.")
    t = d.add_table(rows=len(RELEASES), cols=len(RELEASES[0]))
    for r, row in enumerate(RELEASES):
        for c, value in enumerate(row):
            t.cell(r, c).text = value
    d.save(str(root / "releases.docx"))
    return QA.from_corpus(root, root / "ix")


@pytest.mark.parametrize("question,expected", QUESTIONS)
def test_a_cell_is_answered_and_cited_with_its_row(releases_qa, question, expected):
    ans = releases_qa.answer(question)
    assert ans.found and ans.text == expected, (ans.text, ans.confidence)
    c = ans.citations[0]
    row = releases_qa.index.document(c.doc_id).text[c.sentence_start : c.sentence_end]
    assert row.startswith("Codename: ") and expected in row  # the citation's sentence is the row


def test_a_row_no_cell_names_is_not_answered(releases_qa):
    ans = releases_qa.answer("When was Debian 16 released?")
    assert not ans.found, (ans.text, ans.confidence)
