"""Ship a trained reader checkpoint: int8 weights + metadata (training data, steps, metrics, sha256).

python train/export_reader.py train/runs/reader/final.pt
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
    training = json.loads(info_path.read_text()) if info_path.exists() else {}
    meta_path = args.out / META
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    meta.update(
        {
            "format": "int8 per-row symmetric weights (scales float16), float16 vectors, safetensors",
            "architecture": "BertForQuestionAnswering on sentence-transformers/all-MiniLM-L6-v2 (6 layers, 384 hidden)",
            "training": training,
            "sha256": sha256_file(args.out / WEIGHTS),
            "bytes": (args.out / WEIGHTS).stat().st_size,
        }
    )
    meta_path.write_text(json.dumps(meta, indent=2))
    print(f"wrote {args.out / WEIGHTS} ({meta['bytes'] / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
