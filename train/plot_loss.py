"""Plot the reader's training loss over every run: train/loss_curve.png from loss_log.jsonl files, in order.

python train/plot_loss.py train/reader_loss_log.jsonl train/reader_loss_log_run2.jsonl --out train/loss_curve.png

Each log counts steps from its own start; later runs resume the earlier ones' weights, so their steps are drawn
after the previous run's last logged step (logs write every 20 steps). ``LOG@STEP`` draws a run from an exact
cumulative step instead: the ``prior.steps`` of its checkpoint's ``weights-ema.json`` (a run resumed from the
shipped weights starts where the shipped reader ended, not where the last log ended).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path


def parse_log_arg(arg: str) -> tuple[Path, int | None]:
    """``LOG`` or ``LOG@STEP``: the log file and the cumulative step its run started from, when given."""
    path, sep, start = arg.rpartition("@")
    if sep and start.isdigit():
        return Path(path), int(start)
    return Path(arg), None


def read_runs(logs: list[tuple[Path, int | None]]) -> list[tuple[list[int], list[dict]]]:
    """(cumulative steps, records) of each log, each run starting where given or where the previous one ended."""
    runs, offset = [], 0
    for path, start in logs:
        if start is not None:
            offset = start
        by_step = {}  # a run resumed from a checkpoint may log a step twice: keep the last
        for line in path.read_text().splitlines():
            if line.strip():
                rec = json.loads(line)
                by_step[int(rec["step"])] = rec
        recs = [by_step[s] for s in sorted(by_step)]
        runs.append(([offset + int(r["step"]) for r in recs], recs))
        offset += int(recs[-1]["step"]) if recs else 0
    return runs


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("logs", type=parse_log_arg, nargs="+", help="LOG or LOG@STEP (see above)")
    ap.add_argument("--out", type=Path, default=Path("train/loss_curve.png"))
    args = ap.parse_args()
    fig, ax = plt.subplots(figsize=(8, 4.4))
    ax2 = ax.twinx()
    for i, ((path, _), (steps, recs)) in enumerate(zip(args.logs, read_runs(args.logs), strict=True), start=1):
        named = re.search(r"run(\d+)", path.stem)  # reader_loss_log_run4.jsonl is run 4 even if run 3 is not drawn
        run = named.group(1) if named else i
        ax.plot(steps, [r["loss"] for r in recs], label=f"run {run}: train loss (mean of 20 steps)")
        ax2.plot(steps, [r["lr"] for r in recs], color="grey", alpha=0.4, label="learning rate" if i == 1 else None)
    ax.set_xlabel("cumulative step (batch of 32 windows)")
    ax.set_ylabel("start+end cross-entropy / 2")
    ax2.set_ylabel("learning rate")
    ax.set_title("Span reader on SQuAD v1.1 train (all-MiniLM-L6-v2 encoder, CPU)")
    ax.grid(alpha=0.3)
    fig.legend(loc="lower center", ncol=3, fontsize="small")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
