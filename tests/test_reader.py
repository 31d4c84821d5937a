"""The shipped span reader: loads offline, verifies its checksum, answers the seed with short exact spans."""

from __future__ import annotations

import json
import shutil

import pytest

from qa.errors import ReaderError
from qa.readers.span import META, MODEL_DIR, WEIGHTS, SpanReader, clean_span

SHORT = [
    ("What does THAAD stand for?", "Terminal High Altitude Area Defense"),
    ("Where will the drill be held?", "Russian military research center"),
    ("When will the drill be held?", "this month"),
    ("Who is the Chinese Foreign Minister?", "Wang Yi"),
]


def test_shipped_reader_is_small_and_documented():
    meta = json.loads((MODEL_DIR / META).read_text())
    size = (MODEL_DIR / WEIGHTS).stat().st_size
    assert size < 30 * 1024 * 1024 and meta["bytes"] == size
    assert meta["training"]["train_file"].startswith("train-v1.1")
    assert meta["training"]["steps"] > 0
    assert "threshold" in meta and "calibration" in meta


@pytest.mark.parametrize("question,expected", SHORT)
def test_seed_questions_get_short_exact_spans(seed_qa, question, expected):
    assert seed_qa.span_reader is not None, "the shipped reader must load offline"
    ans = seed_qa.answer(question)
    assert ans.method == "span" and ans.found, ans.to_json()
    c = ans.citations[0]
    doc = seed_qa.index.document(c.doc_id)
    assert doc.text[c.start : c.end] == ans.text
    assert expected in ans.text and len(ans.text) <= len(expected) + 40
    assert c.sentence_start <= c.start and c.end <= c.sentence_end  # highlighted inside its sentence
    assert len(doc.text[c.sentence_start : c.sentence_end]) > len(ans.text)


def test_unrelated_question_abstains_with_reader(seed_qa):
    ans = seed_qa.answer("What is the recipe for a good sourdough bread?")
    assert not ans.found and ans.citations == []


def test_tampered_weights_are_refused(tmp_path):
    shutil.copytree(MODEL_DIR, tmp_path / "reader")
    w = tmp_path / "reader" / WEIGHTS
    data = bytearray(w.read_bytes())
    data[len(data) // 2] ^= 0xFF
    w.write_bytes(bytes(data))
    with pytest.raises(ReaderError, match="checksum"):
        SpanReader(tmp_path / "reader")
    with pytest.raises(ReaderError, match="not found"):
        SpanReader(tmp_path / "nowhere")


def test_sentence_reader_remains_as_fallback(seed_qa):
    from qa import QA, QASettings

    fallback = QA(seed_qa.backend, QASettings(reader="sentence"))
    ans = fallback.answer("Where will the drill be held?")
    assert ans.method == "sentence" and "Russian military research center" in ans.text


def test_clean_span_widens_to_words_and_trims_punctuation():
    text = "He said: “the Terminal High Altitude Area Defense (THAAD) system”, today."
    s = text.index("erminal")
    e = text.index("Defense") + 3
    a, b = clean_span(text, s, e, 0, len(text))
    assert text[a:b] == "Terminal High Altitude Area Defense"
    s = text.index("“")
    e = text.index("”") + 2
    a, b = clean_span(text, s, e, 0, len(text))
    assert text[a:b] == "the Terminal High Altitude Area Defense (THAAD) system"
