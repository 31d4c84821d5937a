"""The passage encoder in bf16 or fp32: what ``auto`` picks and says, vectors that stay those of fp32, indexes
built in one precision opened and queried in the other. The real model, on this machine's real CPU."""

from __future__ import annotations

import json

import numpy as np
import pytest

import docqa.index.encoder as encoder_module
from docqa.index.encoder import PROBE_MIN_COSINE, Encoder, cpu_has_bf16, get_encoder

TEXTS = [
    "The Moon is Earth's only natural satellite.",
    "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen.",
    "Team: Engineering; Engineering move date: 23 March 2027; Engineering floor: 2.",
    "A short one.",
]


def test_bf16_vectors_stay_those_of_fp32_and_a_question_runs_in_fp32():
    fp32, bf16 = get_encoder("torch", "fp32"), get_encoder("torch", "bf16")
    a, b = fp32.encode(TEXTS), bf16.encode(TEXTS)
    cos = (a * b).sum(axis=1)
    assert cos.min() >= PROBE_MIN_COSINE and not np.array_equal(a, b)  # bf16 really ran, and kept the vectors
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(bf16.encode([TEXTS[0]]), fp32.encode([TEXTS[0]]))  # one question: fp32 graph
    assert bf16.fingerprint == fp32.fingerprint  # compatible indexes (recall measured equal)


def test_auto_follows_the_cpu_and_the_probe(monkeypatch):
    auto = get_encoder("torch", "auto")
    if cpu_has_bf16():
        assert auto.precision == "bf16" and "probe keeps cosine" in auto.precision_reason
    else:
        assert auto.precision == "fp32" and "avx512_bf16" in auto.precision_reason
    monkeypatch.setattr(encoder_module, "cpu_has_bf16", lambda: False)
    assert Encoder("torch", "auto").precision == "fp32"
    monkeypatch.setattr(encoder_module, "cpu_has_bf16", lambda: True)
    monkeypatch.setattr(Encoder, "probe_cosine", lambda self: 0.98)
    enc = Encoder("torch", "auto")
    assert enc.precision == "fp32" and "probe cosine 0.980000 < 0.9999" in enc.precision_reason


def test_the_probe_measures_real_bf16():
    assert PROBE_MIN_COSINE <= get_encoder("torch", "fp32").probe_cosine() < 1.0


def test_bf16_needs_the_torch_runtime():
    with pytest.raises(ValueError, match="bf16 needs the torch encoder runtime"):
        Encoder("onnx-int8", "bf16")
    with pytest.raises(ValueError, match="unknown encoder precision"):
        Encoder("torch", "fp16")  # type: ignore[arg-type]


def test_an_index_built_in_bf16_is_recorded_and_answers_with_fp32_questions(tmp_path, capsys):
    from docqa.qa import QA, SEEDS_DIR
    from docqa.ui.cli import main

    assert main(["index", str(SEEDS_DIR), "--index", str(tmp_path / "ix"), "--encoder", "bf16", "--quiet"]) == 0
    assert "encoder: bf16 (chosen)" in capsys.readouterr().out
    (manifest,) = (tmp_path / "ix").glob("v-*/manifest.json")
    assert json.loads(manifest.read_text())["encoder_precision"] == "bf16"
    qa = QA.from_corpus(SEEDS_DIR, tmp_path / "ix", encoder_precision="fp32")  # opened, not rebuilt
    assert len(list((tmp_path / "ix").glob("v-*"))) == 1
    assert qa.answer("What is THAAD?").text == "Terminal High Altitude Area Defense"


def test_embedding_progress_moves_with_counts_and_rate():
    """A few hundred passages (one upload) report progress about ten times, with counts and passages per second,
    not 0% until done."""
    calls = []
    texts = [f"Passage {i} says that item {i} weighs {i % 13} kilograms." for i in range(300)]
    get_encoder().encode(texts, report=lambda stage, fraction, detail="": calls.append((stage, fraction, detail)))
    fractions = [f for _, f, _ in calls]
    assert len(calls) >= 5 and fractions == sorted(fractions) and fractions[-1] == 1.0
    assert 0 < fractions[len(fractions) // 2] < 1
    assert calls[-1][2].startswith("300/300 passages,") and calls[-1][2].endswith("/s")
