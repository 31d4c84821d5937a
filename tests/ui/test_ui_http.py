"""The real Gradio app, served on loopback and driven over HTTP with gradio_client."""

from __future__ import annotations

import html
import urllib.request

import pytest

from tests.conftest import serve


@pytest.fixture(scope="module")
def app_url(seed_qa):
    with serve(seed_qa) as url:
        yield url


@pytest.fixture(scope="module")
def client(app_url):
    from gradio_client import Client

    return Client(app_url, verbose=False)


def test_page_is_served(app_url):
    with urllib.request.urlopen(app_url, timeout=30) as r:
        assert r.status == 200
        assert "DocQA" in r.read().decode("utf-8", "replace")


def test_answer_endpoint_returns_cited_span(client, seed_qa):
    out = client.predict("Where will the drill be held?", api_name="/answer")
    assert out["found"] is True
    c = out["citations"][0]
    doc = seed_qa.index.document(c["doc_id"])
    assert doc.text[c["start"] : c["end"]] == out["answer"]
    assert "Russian military research center" in doc.text[c["sentence_start"] : c["sentence_end"]]
    assert all({"bm25", "dense", "fused"} <= set(h) for h in out["hits"])


def test_chat_endpoint_highlights_span_and_lists_citations(client):
    history, box, cites, hits, *_ = client.predict("Where will the drill be held?", [], [], [], api_name="/chat")
    assert box == ""
    reply = history[-1]["content"]
    reply = reply if isinstance(reply, str) else str(reply)
    assert "<mark>" in reply and "Source" in reply
    assert "docqa-citation" in cites and "<mark>" in cites
    assert "000_01cb2e2d8b3a0f1d.txt" in html.unescape(cites)
    assert "Russian military research center" in html.unescape(reply)
    assert "<table class='docqa-hits'>" in hits and "BM25" in hits


def test_bad_question_gets_message_not_trace(client):
    history, _, cites, *_ = client.predict("   ", [], [], [], api_name="/chat")
    reply = str(history[-1]["content"])
    assert "empty" in reply and "Traceback" not in reply
    out = client.predict("", api_name="/answer")
    assert "empty" in out["error"]


def test_unrelated_question_abstains(client):
    out = client.predict("How do I bake sourdough bread at home?", api_name="/answer")
    assert out["found"] is False and out["citations"] == []


def test_the_documents_tab_lists_a_page_and_says_how_many_more(tmp_path, monkeypatch):
    """The Documents tab, the filter and the delete picker list one page of documents in id order, and the
    status line says how many there are and how to list the rest."""
    import docqa.ui.app as app
    from docqa.qa import QA
    from docqa.ui.auth import Gate
    from docqa.ui.collections import Collections

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("c.txt", "a.txt", "b.txt"):
        (corpus / name).write_text(f"Note {name}: the ferry leaves the harbour at dawn.")
    service = QA.from_corpus(corpus, tmp_path / "ix")
    monkeypatch.setattr(app, "UI_DOCUMENTS", 2)
    status, rows, filt, picker, *_ = app.Handlers(Collections(service), Gate()).docs_outputs("", None, None)
    assert "Showing the first 2 of 3 documents" in status and "offset" in status
    assert len(rows) == 2 and [v for _, v in filt["choices"]] == ["a.txt", "b.txt"] == [v for _, v in picker["choices"]]
    monkeypatch.setattr(app, "UI_DOCUMENTS", 1000)
    status, rows, *_ = app.Handlers(Collections(service), Gate()).docs_outputs("", None, None)
    assert status == "" and len(rows) == 3
