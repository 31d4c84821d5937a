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
