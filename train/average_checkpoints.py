"""Average reader checkpoints of one training lineage into one set of weights (a "model soup").

    python -m train.average_checkpoints ~/.cache/docqa/train/reader/weights-ema.pt \
        ~/.cache/docqa/train/reader4/weights-ema.pt --out ~/.cache/docqa/train/soup/weights-ema-soup.pt

Checkpoints fine-tuned from one another (here the 1.53-epoch EMA and the 2.0-epoch EMA of the run that continued
from it) sit in one basin, so their average is a model of its own, often better than either (Wortsman et al.,
2022, "Model soups"). The result is a checkpoint like any other: ``train/export_reader.py`` exports it, and its
``--gate`` ships it only if the comparison on half a finds it better. Its ``.json`` keeps the cumulative training
record of the most-trained ingredient (all the training that went into the average) and names the ingredients.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from train.export_reader import totals


def average(states: list[dict], weights: list[float]) -> dict:
    """The weighted average of state dicts with the same keys (floating tensors averaged in fp32, others kept)."""
    if not states or len(states) != len(weights):
        raise ValueError("need one weight per checkpoint")
    keys = states[0].keys()
    if any(s.keys() != keys for s in states):
        raise ValueError("checkpoints do not have the same parameters")
    total = float(sum(weights))
    out = {}
    for k in keys:
        first = states[0][k]
        if first.is_floating_point():
            acc = sum(w * s[k].float() for s, w in zip(states, weights, strict=True)) / total
            out[k] = acc.to(first.dtype)
        else:
            out[k] = first
    return out


def record(infos: list[dict], paths: list[Path], weights: list[float]) -> dict:
    """The training record of the average: the most-trained ingredient's cumulative totals, plus the recipe."""
    epochs = [float(totals(i).get("epochs", 0.0)) for i in infos]
    top = max(range(len(infos)), key=lambda j: epochs[j])
    names = [f"{p.parent.name}/{p.name} ({e:.3f} epochs)" for p, e in zip(paths, epochs, strict=True)]
    return {
        **infos[top],
        "soup": {
            "description": "average of EMA checkpoints of one lineage: " + ", ".join(names),
            "ingredients": names,
            "weights": [w / sum(weights) for w in weights],
        },
    }


def main() -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", type=Path, nargs="+")
    ap.add_argument("--weights", type=float, nargs="*", help="one per checkpoint (default: uniform)")
    ap.add_argument("--out", type=Path, required=True, help="the averaged checkpoint (.pt; a .json is written beside)")
    args = ap.parse_args()
    weights = args.weights or [1.0] * len(args.checkpoints)
    states = [torch.load(p, map_location="cpu", weights_only=True) for p in args.checkpoints]
    infos = [
        json.loads(p.with_suffix(".json").read_text()) if p.with_suffix(".json").exists() else {}
        for p in args.checkpoints
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(average(states, weights), args.out)
    args.out.with_suffix(".json").write_text(json.dumps(record(infos, args.checkpoints, weights), indent=2))
    print(f"wrote {args.out} (average of {len(states)} checkpoints)")


if __name__ == "__main__":
    main()
