"""The Milvus backend against real Milvus Lite (embedded file and a separate server process); no mocks."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from docqa.index.backend import IndexSettings
from docqa.index.errors import BackendUnavailableError, IndexMismatchError, IndexNotFoundError
from docqa.index.milvus_store import MilvusStore
from docqa.index.sync import open_index
from docqa.qa import QA
from tests.conftest import SEEDS, free_port
from tests.qa.test_answer import SEED_QUESTIONS
from tests.qa.test_seed_questions import ANSWERABLE, UNANSWERABLE

MOON = "The Moon is Earth's only natural satellite. It orbits at an average distance of 384,400 km."


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """The seed indexed by each backend."""
    faiss_qa = QA.from_corpus(SEEDS, tmp_path_factory.mktemp("faiss"))
    milvus_qa = QA.from_corpus(SEEDS, tmp_path_factory.mktemp("milvus"), backend="milvus")
    yield faiss_qa, milvus_qa
    milvus_qa.backend.close()


@pytest.mark.parametrize("question", list(dict.fromkeys([q for q, _ in SEED_QUESTIONS + ANSWERABLE] + UNANSWERABLE)))
def test_same_cited_spans_as_faiss(both, question):
    """The same passages with the same scores, and the same answer cited in the same place (or the same refusal),
    for every seed question, answerable or not."""
    faiss_qa, milvus_qa = both
    a, b = milvus_qa.answer(question), faiss_qa.answer(question)
    assert a.found == b.found and a.text == b.text
    assert [(c.doc_id, c.start, c.end, c.sentence_start, c.sentence_end) for c in a.citations] == [
        (c.doc_id, c.start, c.end, c.sentence_start, c.sentence_end) for c in b.citations
    ]
    for ca in a.citations[:1]:
        doc = milvus_qa.index.document(ca.doc_id)
        assert doc.text[ca.start : ca.end] == a.text and doc.text_sha256 == ca.doc_sha256
    assert [h.passage.text for h in a.hits] == [h.passage.text for h in b.hits]  # the same passages, same order
    for ha, hb in zip(a.hits, b.hits, strict=True):
        for x, y in ((ha.bm25, hb.bm25), (ha.dense, hb.dense), (ha.fused, hb.fused)):
            assert (x is None) == (y is None) and (x is None or x == pytest.approx(y, rel=1e-4, abs=1e-4))


def test_bm25_scores_match_the_default_backend(both, tmp_path):
    """Milvus' BM25 function and our BM25 (Lucene idf over the same tokens) rank and score passages alike."""
    faiss_qa, milvus_qa = both
    fv, mv = faiss_qa.index, milvus_qa.index
    for q in ["Where will the drill be held?", "How long will the drill last?", "Who is the president of Korea?"]:
        a, b = mv.bm25_search(q, 10), fv.bm25_search(q, 10)
        assert [mv.passage(p).text for p, _ in a] == [fv.passage(p).text for p, _ in b]
        assert [s for _, s in a] == pytest.approx([s for _, s in b], rel=1e-4)
    with pytest.raises(ValueError, match="Lucene idf"):
        MilvusStore(index_dir=tmp_path, settings=IndexSettings(bm25_idf="okapi"))


def test_incremental_update_delete_and_filters(tmp_path, corpus_dir, monkeypatch):
    ix = tmp_path / "ix"
    store, first = open_index(corpus_dir, ix, backend="milvus")
    assert first.embedded > 0 and store.view().documents()[0].passages == first.passages
    (corpus_dir / "moon.md").write_text(MOON)
    _, added = open_index(corpus_dir, ix, backend="milvus")
    assert added.added == ["moon.md"] and added.embedded == 1  # the seed is not re-embedded
    qa = QA(store)
    store.refresh()
    ans = qa.answer("How far away is the Moon?")
    assert ans.found and ans.citations[0].doc_id == "moon.md" and "384,400 km" in ans.text
    assert qa.retrieve("How far away is the Moon?", doc_ids=[corpus_dir.glob("*.txt").__next__().name])
    # a changed document replaces its passages; the unchanged sentence keeps its vector
    (corpus_dir / "moon.md").write_text(MOON + " Its surface gravity is about one sixth of Earth's.")
    _, changed = open_index(corpus_dir, ix, backend="milvus")
    assert changed.added == ["moon.md"] and changed.embedded == 1
    store.refresh()
    texts = [p.text for p in (store.view().passage(h.passage.passage_id) for h in qa.retrieve("Moon gravity"))]
    assert any("one sixth" in t for t in texts)
    rows = store._query_all(store.passages_name, 'doc_id == "moon.md"', ["pid", "doc_sha"])
    assert len({r["doc_sha"] for r in rows}) == 1  # the old version's rows are gone
    # a removed file disappears from results
    (corpus_dir / "moon.md").unlink()
    _, removed = open_index(corpus_dir, ix, backend="milvus")
    assert removed.removed == ["moon.md"]
    store.refresh()
    assert all(h.passage.doc_id != "moon.md" for h in qa.retrieve("How far away is the Moon?"))
    listed = store.view().documents()
    assert len(store.view()) == sum(d.passages for d in listed) and removed.passages == len(store.view())
    store.close()
    # a fresh process opens without reading the document rows (counts come from the manifest), and a question
    # reads only the rows of its hits' documents
    from docqa.index.milvus_store import LiveDocs, MilvusStore

    def no_listing(self):
        raise AssertionError("every document row was read")

    monkeypatch.setattr(LiveDocs, "all", no_listing)
    fresh = MilvusStore(index_dir=ix)
    assert len(fresh.load()) == sum(d.passages for d in listed)
    ans = QA(fresh).answer("When will the drill be held?")
    assert ans.found and ans.citations[0].doc_id == listed[0].doc_id
    fresh.close()


def test_failure_half_way_leaves_previous_version_answerable(tmp_path, corpus_dir):
    ix = tmp_path / "ix"
    (corpus_dir / "moon.md").write_text(MOON)
    store, _ = open_index(corpus_dir, ix, backend="milvus")
    qa = QA(store)
    before = qa.answer("How far away is the Moon?")
    assert "384,400 km" in before.text
    (corpus_dir / "moon.md").write_text(MOON.replace("384,400 km", "about 385,000 kilometres"))
    real = store._call

    def failing(method, *a, **k):
        if method == "upsert" and a and a[0] == store.docs_name:
            raise BackendUnavailableError("simulated loss of the Milvus connection")
        return real(method, *a, **k)

    store._call = failing  # new passages get written, the switch to them does not
    with pytest.raises(BackendUnavailableError):
        from docqa.index.library import Library
        from docqa.index.sync import sync

        sync(store, Library([corpus_dir], ix).scan())
    store._call = real
    other = MilvusStore(index_dir=ix)  # what any reader sees now: the previous version, whole
    ans = QA(other).answer("How far away is the Moon?")
    assert ans.found and "384,400 km" in ans.text
    assert other.view().document("moon.md").text == MOON
    _, again = open_index(corpus_dir, ix, backend="milvus")  # repeating the update completes it
    other.refresh()
    ans = QA(other).answer("How far away is the Moon?")
    assert "385,000" in ans.text
    rows = other._query_all(other.passages_name, 'doc_id == "moon.md"', ["doc_sha"])
    assert len({r["doc_sha"] for r in rows}) == 1
    other.close()
    store.close()


def test_model_mismatch_missing_collection_and_unreachable_uri(tmp_path, corpus_dir):
    ix = tmp_path / "ix"
    store, _ = open_index(corpus_dir, ix, backend="milvus")
    manifest = store._get_meta()
    manifest["model"] = "some/other-model@0123"
    store._put_meta(manifest)
    with pytest.raises(IndexMismatchError, match="other-model"):
        MilvusStore(index_dir=ix).load()
    with pytest.raises(IndexMismatchError, match="model"):
        open_index(corpus_dir, ix, backend="milvus")  # refused, not silently rebuilt
    store.close()
    with pytest.raises(IndexNotFoundError, match="no DocQA collections"):
        MilvusStore(index_dir=ix, collection="elsewhere").load()
    t = time.perf_counter()
    with pytest.raises(BackendUnavailableError, match=r"Milvus at http://127.0.0.1:1 is unreachable"):
        QA.from_corpus(corpus_dir, tmp_path / "ix2", backend="milvus", milvus_uri="http://127.0.0.1:1")
    assert time.perf_counter() - t < 30


def _milvus_server(data, port) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "milvus_lite",
            "server",
            "--data-dir",
            str(data),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import socket

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("milvus server did not start")


def test_server_down_mid_query_then_recovers(tmp_path, corpus_dir):
    """Python gets BackendUnavailableError and the REST API answers 503 JSON while Milvus is down; both answer
    again once it is back."""
    from tests.conftest import serve
    from tests.ui.test_api import call

    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    server = _milvus_server(tmp_path / "milvus-data", port)
    question = {"question": "Where will the drill be held?"}
    try:
        qa = QA.from_corpus(corpus_dir, tmp_path / "ix", backend="milvus", milvus_uri=uri)
        assert qa.answer("Where will the drill be held?").found
        with serve(qa) as base:
            assert call(f"{base}api/answer", "POST", question)[0] == 200
            server.kill()
            server.wait()
            with pytest.raises(BackendUnavailableError, match="unreachable"):
                qa.answer("Where will the drill be held?")
            status, body, _ = call(f"{base}api/answer", "POST", question)
            assert status == 503 and "unreachable" in body["error"]
        server = _milvus_server(tmp_path / "milvus-data", port)
        deadline = time.monotonic() + 30
        while True:
            try:
                ans = qa.answer("Where will the drill be held?")
                break
            except BackendUnavailableError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        assert ans.found and "Russian military research center" in ans.text
    finally:
        server.kill()
        server.wait()


def test_reading_every_row_crosses_pages(tmp_path, corpus_dir, monkeypatch):
    """Documents and passages are read back with a cursor, page after page, none lost or repeated."""
    import docqa.index.milvus_store as ms

    for i in range(7):
        (corpus_dir / f"note-{i}.txt").write_text(f"Note {i}. The ship number {i} reached the port on day {i + 2}.")
    monkeypatch.setattr(ms, "PAGE", 3)
    store, stats = open_index(corpus_dir, tmp_path / "ix", backend="milvus")
    docs = store.view().documents()
    assert len(docs) == stats.documents == 8 and len({d.doc_id for d in docs}) == 8
    view = store.view()  # a page of the listing, in document id order, as the FAISS backend gives it
    ids = sorted(d.doc_id for d in docs)
    assert [d.doc_id for d in view.documents(offset=2, limit=3)] == ids[2:5]
    assert view.document_count() == 8 and view.has_document(ids[0]) and not view.has_document("nope.txt")
    rows = store._query_all(store.passages_name, 'doc_id != ""', ["pid"])
    assert len(rows) == len({r["pid"] for r in rows}) == stats.passages
    store.close()
