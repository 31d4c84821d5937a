"""Plot the reader's training loss curve: train/loss_curve.png from a loss_log.jsonl."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> None:
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "train/runs/reader/loss_log.jsonl")
    out = Path(sys.argv[2] if len(sys.argv) > 2 else "train/loss_curve.png")
    recs = [json.loads(line) for line in src.read_text().splitlines() if line.strip()]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([r["step"] for r in recs], [r["loss"] for r in recs], label="train loss (mean of 20 steps)")
    ax.set_xlabel("step (batch of 32 features)")
    ax.set_ylabel("start+end cross-entropy / 2")
    ax2 = ax.twinx()
    ax2.plot([r["step"] for r in recs], [r["lr"] for r in recs], color="grey", alpha=0.4, label="learning rate")
    ax2.set_ylabel("learning rate")
    ax.set_title("Span reader on SQuAD v1.1 train (all-MiniLM-L6-v2 encoder, CPU)")
    ax.grid(alpha=0.3)
    fig.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
