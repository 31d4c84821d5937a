"""Index: persistence, incremental update, checksums, mismatch refusal, atomic writes, BM25 fidelity."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from docqa.index.backend import IndexSettings
from docqa.index.bm25 import BM25Index
from docqa.index.faiss_store import FaissStore
from docqa.index.faiss_store import load_version as load_index
from docqa.index.passages import PassageSettings, indexed_text
from docqa.index.sync import open_index
from docqa.index.text import tokenize
from docqa.qa.errors import IndexCorruptedError, IndexMismatchError, IndexNotFoundError, IndexWriteError
from tests.conftest import build_index

MOON = "The Moon is Earth's only natural satellite. It orbits at an average distance of 384,400 km."


def test_persist_and_reload_identical(corpus_dir, tmp_path):
    idx, stats = build_index(corpus_dir, tmp_path / "ix", progress=False)
    assert stats.documents == 1 and stats.passages == len(idx) > 3
    again = load_index(tmp_path / "ix")
    assert [p.to_json() for p in again.passages] == [p.to_json() for p in idx.passages]
    assert np.allclose(again.passage_vectors(), idx.passage_vectors())
    manifest = again.manifest
    assert manifest["model"].startswith("sentence-transformers/all-MiniLM-L6-v2@")
    assert manifest["settings"] == IndexSettings().to_json()
    assert manifest["counts"] == {"documents": 1, "passages": len(idx)}
    doc = next(iter(again.docs.values()))
    listed = again.documents()[0]
    assert (listed.sha256, listed.text_sha256, listed.chars) == (doc.sha256, doc.text_sha256, len(doc.text))
    assert listed.passages == len(idx)
    for p in again.passages:
        assert again.passage(p.passage_id) == p
        assert again.document(p.doc_id).text[p.start : p.end] == p.text


def test_documents_are_listed_a_page_at_a_time_in_id_order(corpus_dir, tmp_path):
    """A page of the document listing (offset, limit) in document id order, the count and the membership test
    read only what they need from the store."""
    for name in ("b.txt", "a.txt", "d.txt", "c.txt"):
        (corpus_dir / name).write_text(f"Note {name}. The ferry leaves the harbour at dawn every day.")
    idx, stats = build_index(corpus_dir, tmp_path / "ix", progress=False)
    everything = [d.doc_id for d in idx.documents()]
    assert sorted(everything) == everything and len(everything) == stats.documents == 5
    assert [d.doc_id for d in idx.documents(offset=1, limit=2)] == everything[1:3]
    assert idx.documents(offset=5, limit=10) == [] and idx.documents(limit=0) == []
    assert idx.document_count() == 5 and idx.has_document("c.txt") and not idx.has_document("e.txt")


def test_incremental_update_embeds_only_new_text(corpus_dir, tmp_path):
    ix = tmp_path / "ix"
    _, first = build_index(corpus_dir, ix, progress=False)
    assert first.reused == 0 and first.embedded > 0
    _, same = build_index(corpus_dir, ix, progress=False)
    assert same.embedded == 0 and not same.changed
    (corpus_dir / "moon.md").write_text(MOON)
    idx, added = build_index(corpus_dir, ix, progress=False)
    assert added.documents == 2 and added.added == ["moon.md"]
    assert added.embedded == 1  # only the new passage
    assert added.reused == first.embedded
    assert "moon.md" in idx.docs
    (corpus_dir / "moon.md").unlink()
    idx, removed = build_index(corpus_dir, ix, progress=False)
    assert "moon.md" not in idx.docs and removed.embedded == 0 and removed.removed == ["moon.md"]


def test_open_index_loads_when_fresh_and_updates_when_stale(corpus_dir, tmp_path):
    ix = tmp_path / "ix"
    a = open_index(corpus_dir, ix)[0].view()
    b = open_index(corpus_dir, ix)[0].view()
    assert a.path == b.path  # loaded, not rebuilt
    (corpus_dir / "moon.md").write_text(MOON)
    c = open_index(corpus_dir, ix)[0].view()
    assert c.path != a.path and "moon.md" in c.docs


def test_tampered_or_truncated_file_is_detected(corpus_dir, tmp_path):
    ix = tmp_path / "ix"
    idx, _ = build_index(corpus_dir, ix, progress=False)
    target = idx.path / "store.sqlite"
    data = target.read_bytes()
    flip = data.index(b"Korean")  # one character of the stored document text
    target.write_bytes(data[:flip] + b"X" + data[flip + 1 :])
    with pytest.raises(IndexCorruptedError, match="checksum.*rebuild"):
        load_index(ix)
    target.write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexCorruptedError, match="truncated"):
        load_index(ix)
    target.write_bytes(data)
    assert len(load_index(ix)) == len(idx)
    (idx.path / "faiss.index").unlink()
    with pytest.raises(IndexCorruptedError, match="missing"):
        load_index(ix)
    # the rebuild path: open_index rebuilds a damaged index from the documents
    fixed = open_index(corpus_dir, ix)[0].view()
    assert load_index(ix).path == fixed.path


def test_other_model_or_settings_refused(corpus_dir, tmp_path):
    ix = tmp_path / "ix"
    idx, _ = build_index(corpus_dir, ix, progress=False)
    other = IndexSettings(passages=PassageSettings(sentences=2, overlap=0))
    with pytest.raises(IndexMismatchError, match="settings"):
        load_index(ix, expect_settings=other)
    with pytest.raises(IndexMismatchError, match="okapi"):
        load_index(ix, expect_settings=IndexSettings(bm25_idf="okapi"))
    manifest = json.loads((idx.path / "manifest.json").read_text())
    manifest["model"] = "some/other-model@0123"
    (idx.path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError, match="model"):
        load_index(ix)


def test_missing_index(tmp_path):
    with pytest.raises(IndexNotFoundError):
        load_index(tmp_path / "none")


def test_crash_mid_write_keeps_previous_index(corpus_dir, tmp_path, monkeypatch):
    ix = tmp_path / "ix"
    old, _ = build_index(corpus_dir, ix, progress=False)
    (corpus_dir / "moon.md").write_text(MOON)
    import docqa.index.faiss_store as store

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store.faiss, "write_index", boom)
    with pytest.raises(IndexWriteError, match="disk is full.*previous version is unchanged"):
        build_index(corpus_dir, ix, progress=False)
    monkeypatch.undo()
    survived = load_index(ix)
    assert survived.path == old.path and "moon.md" not in survived.docs
    assert not list(ix.glob(".tmp-*"))


BM25_TEXTS = [MOON, "The Sun is a star.", "Mars has two moons, Phobos and Deimos.", "Earth orbits the Sun."] * 3


def test_bm25_okapi_matches_rank_bm25():
    from rank_bm25 import BM25Okapi

    toks = [tokenize(t) for t in BM25_TEXTS]
    ours = BM25Index.build(toks, idf="okapi")
    ref = BM25Okapi(toks)
    for q in ["moon satellite", "sun star", "moons of mars", "earth earth orbit"]:
        assert np.allclose(ours.scores(q), ref.get_scores(tokenize(q)), atol=1e-5)
    rows, scores = ours.search("moons of mars", 3)
    assert BM25_TEXTS[rows[0]].startswith("Mars") and scores[0] >= scores[-1]


def test_bm25_lucene_idf_by_hand():
    """The default idf, log(1 + (N - df + 0.5) / (df + 0.5)), worked out by hand for one passage and query."""
    toks = [tokenize(t) for t in BM25_TEXTS]
    ours = BM25Index.build(toks)
    n, avgdl = len(toks), sum(map(len, toks)) / len(toks)
    q = ["sun", "star"]
    j = 1  # "The Sun is a star." -> ["sun", "star"]
    expect = 0.0
    for term in q:
        df = sum(term in t for t in toks)
        tf = toks[j].count(term)
        expect += np.log(1 + (n - df + 0.5) / (df + 0.5)) * tf * 2.5 / (tf + 1.5 * (0.25 + 0.75 * len(toks[j]) / avgdl))
    assert ours.scores("sun star")[j] == pytest.approx(expect, rel=1e-5)
    # every term keeps a positive weight, even "sun", which is in half of the passages (okapi floors it near 0)
    assert ours.scores("sun")[j] > 0.3 and BM25Index.build(toks, idf="okapi").scores("sun")[j] < 0.1
    with pytest.raises(ValueError, match="unknown idf"):
        BM25Index.build(toks, idf="tfidf")


def test_bm25_kept_passages_weighed_from_stored_counts_score_as_if_tokenized_again(tmp_path):
    """A new version re-weighs the passages it keeps from the old version's term counts: the same scores as
    counting their tokens again, for any order of kept ranges, after a save and a memory-mapped load."""
    from docqa.index.bm25 import BM25Builder

    toks = [tokenize(t) for t in BM25_TEXTS]
    old = BM25Index.build(toks)
    old.save(tmp_path)
    old = BM25Index.load(tmp_path)
    assert old.has_counts and old.tf.dtype == np.uint16 and list(old.lengths) == [len(t) for t in toks]
    new = [tokenize("Deimos is the smaller moon of Mars."), tokenize("Venus has no moon.")]
    ranges = [(4, 3), (0, 2), (9, 0), (10, 2)]
    kept = BM25Builder()
    kept.add(new)
    kept.add_kept(old, ranges)
    again = BM25Builder()
    again.add(new + [t for first, count in ranges for t in toks[first : first + count]])
    a, b = kept.build(), again.build()
    assert a.size == b.size == 2 + 7
    for q in ["moon satellite", "sun star", "moons of mars", "earth earth orbit", "venus", "deimos"]:
        assert np.array_equal(a.scores(q), b.scores(q)), q
    assert a.term_idf(["moon", "venus", "sun"]) == b.term_idf(["moon", "venus", "sun"])
    assert np.array_equal(a.lengths, b.lengths)


def test_bm25_saved_before_counts_were_kept_still_loads(tmp_path):
    toks = [tokenize(t) for t in BM25_TEXTS]
    BM25Index.build(toks).save(tmp_path)
    for f in BM25Index.COUNT_FILES:
        (tmp_path / f).unlink()
    old = BM25Index.load(tmp_path)
    assert not old.has_counts and np.allclose(old.scores("sun star"), BM25Index.build(toks).scores("sun star"))
    with pytest.raises(ValueError, match="no term counts"):
        old.passage_counts()


def test_an_update_reweighs_kept_passages_without_reading_their_text(tmp_path, monkeypatch):
    """Adding a document re-weighs the kept passages from the stored counts (their text is not read): BM25 scores
    equal a fresh build of the same documents in the same order; an index saved before counts were kept is
    tokenized again, with the same result."""
    import docqa.index.faiss_store as fs

    store = FaissStore(tmp_path / "ix")
    store.update(_docs(6))
    store.update([], remove=["d2"])

    def no_text(*_a, **_k):
        raise AssertionError("kept passages were read and tokenized again")

    with monkeypatch.context() as m:
        m.setattr(fs, "iter_passage_texts", no_text)
        store.update(_docs(2, "e"))
    view = load_index(tmp_path / "ix")
    fresh = FaissStore(None)
    fresh.update(_docs(2, "e") + [d for d in _docs(6) if d.doc_id != "d2"])
    order = [p.passage_id for p in view.passages]
    assert order == [p.passage_id for p in fresh.view().passages]
    for q in ["topic 3", "document e1", "second sentence", "topic 2"]:
        assert np.array_equal(view.bm25.scores(q), fresh.view().bm25.scores(q)), q

    # the same update on an index written without the counts: its kept passages are tokenized again
    legacy = tmp_path / "legacy"
    old = FaissStore(legacy)
    old.update(_docs(6))
    version = load_index(legacy).path
    manifest = json.loads((version / "manifest.json").read_text())
    for f in BM25Index.COUNT_FILES:
        (version / f).unlink()
        del manifest["files"][f]
    (version / "manifest.json").write_text(json.dumps(manifest))
    reopened = FaissStore(legacy)
    assert not reopened.load().bm25.has_counts
    reopened.update(_docs(2, "e"))
    upgraded = load_index(legacy)
    assert upgraded.bm25.has_counts  # written with counts from now on
    full = FaissStore(None)
    full.update(_docs(2, "e") + _docs(6))
    for q in ["topic 3", "document e1", "second sentence"]:
        assert np.array_equal(upgraded.bm25.scores(q), full.view().bm25.scores(q)), q


def test_index_from_before_the_idf_choice_is_rescored(corpus_dir, tmp_path, monkeypatch):
    """An index written before ``bm25_idf`` existed used rank-bm25's idf: it is read as okapi, and opening it
    with the default settings re-scores BM25 from its passages (vectors kept, nothing re-embedded)."""
    ix = tmp_path / "ix"
    idx = open_index(corpus_dir, ix, settings=IndexSettings(bm25_idf="okapi"))[0].view()
    path = idx.path / "manifest.json"
    manifest = json.loads(path.read_text())
    del manifest["settings"]["bm25_idf"]
    path.write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError, match="settings"):
        load_index(ix, expect_settings=IndexSettings())  # the default is the lucene idf
    assert load_index(ix, expect_settings=IndexSettings(bm25_idf="okapi")).path == idx.path
    # a folder that cannot be written: the re-scored BM25 is served from memory and the folder is left as it was
    import docqa.index.faiss_store as fs

    def fail(*_a, **_k):
        raise IndexWriteError("read-only")

    monkeypatch.setattr(fs, "_write_version", fail)
    in_memory = FaissStore(ix).load()
    assert in_memory.path == idx.path and in_memory.manifest["settings"]["bm25_idf"] == "lucene"
    assert (ix / "CURRENT").read_text().strip() == idx.path.name
    monkeypatch.undo()
    store, stats = open_index(corpus_dir, ix)
    fresh = store.view()
    assert fresh.path != idx.path and fresh.manifest["settings"]["bm25_idf"] == "lucene"
    assert stats.embedded == 0 and [p.text for p in fresh.passages] == [p.text for p in idx.passages]
    assert load_index(ix, expect_settings=IndexSettings()).path == fresh.path  # written, checksums and all
    q = "Where will the drill be held?"
    assert not np.allclose(fresh.bm25.scores(q), idx.bm25.scores(q))
    # anything but BM25 parameters still needs a rebuild
    other = IndexSettings(passages=PassageSettings(sentences=2, overlap=0))
    with pytest.raises(IndexMismatchError, match="settings"):
        FaissStore(ix, other).load()


def test_copied_index_folder_still_loads(corpus_dir, tmp_path):
    build_index(corpus_dir, tmp_path / "ix", progress=False)
    shutil.copytree(tmp_path / "ix", tmp_path / "copy")
    assert len(load_index(tmp_path / "copy")) > 0


def _docs(n: int, prefix: str = "d") -> list:
    from docqa.index.types import Document

    return [
        Document(
            f"{prefix}{i}",
            f"{prefix}{i}.txt",
            f"Document {prefix}{i} is about topic {i}. It has a second sentence.",
            f"s{i}",
        )
        for i in range(n)
    ]


def test_update_consumes_a_stream_once_and_reads_skipped_after_it(tmp_path):
    """An update reads a generator of documents once, as it builds (nothing asks for its length), and reads the
    skipped files only once the stream has ended, so the stream may still be adding to them."""
    store = FaissStore(tmp_path / "ix")
    skipped: dict = {}
    pulled = []

    def stream():
        for d in _docs(5):
            pulled.append(d.doc_id)
            yield d
        skipped["broken.pdf"] = ("abc", "unreadable (test)")

    stats = store.update(stream(), skipped=skipped)
    assert pulled == [f"d{i}" for i in range(5)] and stats.documents == 5 and stats.embedded == stats.passages
    view = load_index(tmp_path / "ix")
    assert view.manifest["skipped"] == {"broken.pdf": ["abc", "unreadable (test)"]}
    assert [p.doc_id for p in view.passages] == [f"d{i}" for i in range(5)]
    # one more document in a second stream: the first five keep their vectors and are copied after it
    again = store.update(iter(_docs(1, "e")))
    assert again.embedded == 1 and again.reused == 5 and again.documents == 6
    hit = store.view().bm25_search("topic 3", 1)[0]
    assert store.view().passage(hit.passage_id).doc_id == "d3"


def test_a_document_id_twice_in_a_stream_is_refused_and_nothing_changes(tmp_path):
    store = FaissStore(tmp_path / "ix")
    store.update(_docs(2))
    before = load_index(tmp_path / "ix").path
    with pytest.raises(ValueError, match="given twice"):
        store.update(iter(_docs(3) + _docs(1)))
    assert load_index(tmp_path / "ix").path == before and not list((tmp_path / "ix").glob(".tmp-*"))
    assert store.update(_docs(3) + _docs(1)).documents == 3  # in a list the last one wins, as before


def test_large_files_are_checksummed_in_the_background(tmp_path, monkeypatch):
    """Above INLINE_VERIFY_BYTES a file is checksummed after the index opens; a mismatch then refuses every
    question with the rebuild hint instead of answering from altered data."""
    import docqa.index.faiss_store as fs

    store = FaissStore(tmp_path / "ix")
    store.update(_docs(3))
    target = load_index(tmp_path / "ix").path / "store.sqlite"
    data = target.read_bytes()
    at = data.index(b"topic 1")
    target.write_bytes(data[:at] + b"topic 7" + data[at + 7 :])
    monkeypatch.setattr(fs, "INLINE_VERIFY_BYTES", 0)
    fresh = FaissStore(tmp_path / "ix")
    view = fresh.load()  # opens at once
    assert view.wait_verified(30) and view.damaged and "checksum mismatch" in view.damaged
    with pytest.raises(IndexCorruptedError, match="rebuild"):
        fresh.view()


def test_passage_ids_and_rows_agree_with_hash_signs_in_names(tmp_path):
    from docqa.index.table import split_passage_id
    from docqa.index.types import Document

    assert split_passage_id("notes#2.txt#12") == ("notes#2.txt", 12)
    with pytest.raises(ValueError):
        split_passage_id("no-ordinal")
    store = FaissStore(None)
    store.update([Document("a#b.txt", "a#b.txt", "First sentence here. Second one there.", "x")])
    view = store.view()
    (p,) = view.passages
    assert p.passage_id == "a#b.txt#0" and view.passage(p.passage_id) == p
    assert view.dense_search(view.passage_vectors()[0], 1, doc_ids=["a#b.txt"])[0].passage_id == p.passage_id
    assert view.dense_search(view.passage_vectors()[0], 1, doc_ids=["other"]) == []


@pytest.mark.parametrize("dense", ["flat", "hnsw"])
def test_int8_vectors_rescore_exactly_and_survive_updates(corpus_dir, tmp_path, dense):
    """vectors="int8": FAISS keeps 8-bit codes, the top candidates are re-scored from the fp32 vectors on disk,
    so the scores are the exact inner products; an update reuses the exact vectors, not decoded codes."""
    from docqa.index.encoder import get_encoder

    exact_store = FaissStore(None, IndexSettings(dense=dense))
    int8_store = FaissStore(tmp_path / "ix", IndexSettings(dense=dense, vectors="int8"))
    docs = _docs(30)
    exact_store.update(docs)
    int8_store.update(docs)
    view = load_index(tmp_path / "ix", expect_settings=IndexSettings(dense=dense, vectors="int8"))
    assert view.exact is not None and "vectors.f32" in view.manifest["files"]
    assert type(view.faiss).__name__ in ("IndexScalarQuantizer", "IndexHNSWSQ")
    q = get_encoder().encode(["which document is about topic 17?"])[0]
    a, b = exact_store.view().dense_search(q, 5), view.dense_search(q, 5)
    assert [s.passage_id for s in a] == [s.passage_id for s in b]
    assert np.allclose([s.score for s in a], [s.score for s in b], atol=1e-6)
    assert np.allclose(view.passage_vectors(), exact_store.view().passage_vectors())
    stats = int8_store.update(_docs(1, "e"))
    assert stats.embedded == 1 and stats.reused == 30
    after = int8_store.view()
    assert np.allclose(after.vectors(1, 30), view.passage_vectors())  # copied exactly, behind the new document
    assert after.dense_search(q, 1, doc_ids=["d17"])[0].passage_id == "d17#0"


def _releases():
    from docqa.index.types import Document

    rows = [
        f"Codename: {c}; {c} release: 20{i:02d}-06-01." for i, c in enumerate("Buzz Rex Bo Hamm Slink Potato".split())
    ]
    text = "Release table\n\n" + "\n".join(rows)
    return Document("rel.docx", "rel.docx", text, "s", title="Debian release history", headings=((0, "Release table"),))


@pytest.mark.parametrize("context", [True, False])
def test_passages_are_searched_with_their_title_and_heading(tmp_path, context):
    """Every row passage of a release table is found by the document's title (which only its first passage
    holds), through both retrievers, while passage texts and offsets stay exact; kept documents are re-counted
    with their context when another document is added. Without context only the first passage has the title."""
    doc = _releases()
    store = FaissStore(tmp_path / "ix", IndexSettings(context=context))
    store.update([doc])
    store.update(_docs(3))  # rel.docx is now a kept document, copied and re-counted
    view = load_index(tmp_path / "ix", expect_settings=IndexSettings(context=context))
    ours = [p for p in view.passages if p.doc_id == "rel.docx"]
    assert len(ours) >= 2 and all(doc.text[p.start : p.end] == p.text for p in ours)
    found = {h.passage_id for h in view.bm25_search("Debian history", 20)}
    assert found == ({p.passage_id for p in ours} if context else set())
    last = ours[-1]
    want = indexed_text(doc, last) if context else last.text
    row = [p.passage_id for p in view.passages].index(last.passage_id)
    assert float(view.vectors(row, 1)[0] @ store.encoder.encode([want])[0]) > 0.999  # what the encoder saw
