"""The shipped span reader: loads offline, verifies its checksum, answers the seed with short exact spans."""

from __future__ import annotations

import json
import shutil

import pytest

from docqa.qa.errors import ReaderError
from docqa.qa.readers.span import META, MODEL_DIR, WEIGHTS, SpanReader, clean_span, load_reader
from tests.conftest import ROOT, SEED_FILE

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
    from docqa.qa import QA, QASettings

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


def test_export_ships_a_checkpoint_with_its_record_and_sets_old_metrics_aside(tmp_path):
    """train/export_reader.py end to end: a checkpoint (the shipped weights, dequantized) becomes a loadable reader."""
    import subprocess
    import sys

    import torch
    from safetensors.numpy import load_file

    from docqa.qa.readers.quantize import dequantize_state_dict

    ckpt = tmp_path / "weights-ema.pt"
    torch.save(dequantize_state_dict(load_file(str(MODEL_DIR / WEIGHTS))), ckpt)
    total = {"steps": 5000, "examples_seen": 110000, "epochs": 1.2557, "elapsed_s": 36000.0}
    ckpt.with_suffix(".json").write_text(json.dumps({"this_run": {"steps": 776}, "cumulative": total}))
    out = tmp_path / "reader"
    shutil.copytree(MODEL_DIR, out)
    old = json.loads((out / META).read_text())
    old["sha256"] = "0" * 64  # the folder held other weights: their metrics must not describe the new ones
    (out / META).write_text(json.dumps(old))

    def export(*extra: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "train.export_reader", str(ckpt), "--out", str(out), *extra]
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)

    # a gate that measured other weights refuses the install and leaves the folder exactly as it was
    before = {f.name: f.read_bytes() for f in out.iterdir()}
    gate = tmp_path / "reader_compare.json"

    def compared(candidate_sha: str) -> str:
        """A comparison in which weights ``candidate_sha`` beat another reader (F1 80.0 vs 79.0)."""
        measured = {"EM": 70.0, "F1": 80.0, "questions": 900}
        shipped = measured | {"F1": 79.0, "sha256": "1" * 64}
        gate.write_text(json.dumps({"every": 6, "shipped": shipped, "candidate": measured | {"sha256": candidate_sha}}))
        return str(gate)

    run = export("--gate", compared("2" * 64))
    assert run.returncode != 0 and "export refused" in run.stderr
    assert {f.name: f.read_bytes() for f in out.iterdir()} == before

    run = export()
    assert run.returncode == 0, run.stderr
    meta = json.loads((out / META).read_text())
    t = meta["training"]
    assert t["train_file"].startswith("train-v1.1") and t["weights"].startswith("EMA")
    assert (t["steps"], t["examples_seen"], t["epochs"]) == (5000, 110000, 1.2557) and t["this_run"]["steps"] == 776
    assert meta["previous_reader"]["sha256"] == "0" * 12
    assert set(meta["previous_reader"]["metrics"]) == set(old["metrics"]) - {"runtime_choice"}
    assert set(meta["metrics"]) <= {"runtime_choice"}
    assert meta["calibration"] == old["calibration"] and meta["threshold"] == old["threshold"]
    exported, shipped = SpanReader(out), load_reader()  # checksum verified at load
    seed = SEED_FILE.read_text(encoding="utf-8")
    i = seed.index("Wang Yi")
    q, ctx = "Who is the Chinese Foreign Minister?", seed[max(0, i - 400) : i + 200]
    a, b = exported.predict(q, [ctx])[0], shipped.predict(q, [ctx])[0]
    assert a is not None and b is not None and (a.start, a.end) == (b.start, b.end)

    # the same weights, compared and found better, are installed with the comparison as their first metric
    run = export("--gate", compared(meta["sha256"]))
    assert run.returncode == 0, run.stderr
    rec = json.loads((out / META).read_text())["metrics"]["squad_v1.1_dev_half_a_gold_paragraph_every6"]
    assert (rec["F1"], rec["questions"], rec["previous_reader_" + "1" * 12]["F1"]) == (80.0, 900, 79.0)


def test_gate_refuses_a_candidate_that_is_not_better():
    from train.export_reader import GateRefused, gate_metric

    sha = "a" * 64
    cand = {"EM": 68.0, "F1": 79.2, "questions": 900, "sha256": sha}
    shipped = {"EM": 68.8, "F1": 79.3, "questions": 900, "sha256": "b" * 64}
    with pytest.raises(GateRefused, match="does not beat"):
        gate_metric({"every": 6, "candidate": cand, "shipped": shipped}, sha)
    with pytest.raises(GateRefused, match="does not beat"):  # a tie keeps the shipped reader
        gate_metric({"every": 6, "candidate": cand, "shipped": cand | {"sha256": "b" * 64}}, sha)
    name, rec = gate_metric({"every": 3, "candidate": cand | {"F1": 79.4}, "shipped": shipped}, sha)
    assert name == "squad_v1.1_dev_half_a_gold_paragraph_every3" and rec["previous_reader_" + "b" * 12]["EM"] == 68.8


def test_gate_weighs_v11_f1_and_v20_no_answer_auc():
    from train.export_reader import GateRefused, gate_metric

    def compare(f1: float, auc: float) -> dict:
        shipped = {"EM": 68.8, "F1": 79.3, "questions": 900, "sha256": "b" * 64, "v2": {"AUC": 0.70, "F1": 60.0}}
        cand = {"EM": 68.0, "F1": f1, "questions": 900, "sha256": "a" * 64, "v2": {"AUC": auc, "F1": 62.0}}
        return {"every": 6, "candidate": cand, "shipped": shipped}

    # better at saying "no answer", a little worse at the span: shipped, both recorded
    _, rec = gate_metric(compare(79.0, 0.75), "a" * 64)
    assert rec["v2.0_no_answer_AUC"] == 0.75 and rec["previous_reader_" + "b" * 12]["v2.0_no_answer_AUC"] == 0.70
    gate_metric(compare(79.5, 0.698), "a" * 64)  # better span, no-answer within tolerance
    for f1, auc in ((78.7, 0.75), (79.5, 0.69), (79.3, 0.705), (79.2, 0.70)):  # too costly on one, or no gain
        with pytest.raises(GateRefused, match="does not beat"):
            gate_metric(compare(f1, auc), "a" * 64)


def test_average_checkpoints_averages_floats_keeps_the_record_and_names_ingredients(tmp_path):
    """train/average_checkpoints.py: the soup is the weighted mean, recorded with the most-trained lineage."""
    import subprocess
    import sys

    import torch

    a = {"w": torch.tensor([1.0, 3.0]), "ids": torch.tensor([0, 1])}
    b = {"w": torch.tensor([3.0, 5.0]), "ids": torch.tensor([0, 1])}
    paths = []
    for name, state, epochs in (("r1", a, 1.5), ("r2", b, 2.0)):
        (tmp_path / name).mkdir()
        p = tmp_path / name / "weights-ema.pt"
        torch.save(state, p)
        p.with_suffix(".json").write_text(json.dumps({"cumulative": {"epochs": epochs, "steps": int(epochs * 1000)}}))
        paths.append(str(p))
    out = tmp_path / "soup" / "weights-ema-soup.pt"
    cmd = [sys.executable, "-m", "train.average_checkpoints", *paths, "--weights", "1", "3", "--out", str(out)]
    run = subprocess.run(cmd, cwd=ROOT, text=True)
    assert run.returncode == 0
    soup = torch.load(out, weights_only=True)
    assert torch.allclose(soup["w"], torch.tensor([2.5, 4.5])) and torch.equal(soup["ids"], a["ids"])
    info = json.loads(out.with_suffix(".json").read_text())
    assert info["cumulative"]["epochs"] == 2.0 and info["soup"]["weights"] == [0.25, 0.75]
    assert "r1/weights-ema.pt (1.500 epochs)" in info["soup"]["description"]
    bad = {"other": torch.tensor([1.0])}
    torch.save(bad, tmp_path / "bad.pt")
    cmd = [sys.executable, "-m", "train.average_checkpoints", paths[0], str(tmp_path / "bad.pt"), "--out", str(out)]
    run = subprocess.run(cmd, cwd=ROOT)
    assert run.returncode != 0  # different parameters: refused, not averaged
