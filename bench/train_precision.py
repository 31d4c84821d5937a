"""Training precision on these CPUs: seconds per step and loss curves, fp32 vs bf16 autocast.

    python bench/train_precision.py speed                 # same batches, each mode in turn, median s/step
    python bench/train_precision.py curves A.jsonl B.jsonl  # loss logs of two short runs from the same start

``speed`` times forward + backward + AdamW on the same 32-window batches (SQuAD train, as the trainer builds
them) in fp32 and under ``torch.autocast("cpu", dtype=torch.bfloat16)``, one mode after the other in the same
process, after a warm-up step each. ``curves`` compares the loss logs written by two runs of
``train/train_reader.py --init base --max-steps N`` that differ only in ``--precision``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from common import RESULTS, ROOT, md_table, save

sys.path.insert(0, str(ROOT / "train"))


def cmd_speed(args) -> dict:
    import torch
    from train_reader import DEFAULT_OUT, cached_examples, chunk_batches, collate, epoch_examples
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    from index.encoder import model_path

    torch.set_num_threads(args.threads)
    positives, negatives = cached_examples(DEFAULT_OUT.parent / "examples.pt")
    tok = AutoTokenizer.from_pretrained(str(model_path()))
    targs = argparse.Namespace(batch_size=32, max_length=256, stride=96, seed=13, shared_norm=0)
    examples = epoch_examples(positives, negatives, 0, 0.5, 13)
    batches = [b for b in chunk_batches(tok, examples, 0, targs, 0) if len(b) == 32][: args.steps + 1]
    res, rows = {}, []
    for mode in args.modes:
        torch.set_float32_matmul_precision("medium" if mode == "fp32-medium" else "highest")
        torch.manual_seed(0)
        model = AutoModelForQuestionAnswering.from_pretrained(str(model_path()))
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
        times = []
        for i, fb in enumerate(batches):
            inputs = collate(fb)
            t = time.perf_counter()
            with torch.autocast(
                "cpu", dtype=torch.bfloat16, enabled=mode == "bf16"
            ):  # fp32-medium: bf16 inside matmuls
                loss = model(**inputs).loss
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            if i:  # the first step warms up
                times.append(time.perf_counter() - t)
        tokens = statistics.mean(int(collate(b)["attention_mask"].sum()) for b in batches[1:])
        res[mode] = {"s_per_step": statistics.median(times), "tokens_per_step": tokens, "steps": len(times)}
        rows.append([mode, statistics.median(times), min(times), max(times), tokens])
        print(rows[-1], flush=True)
    base = res[args.modes[0]]["s_per_step"]
    for r in rows:
        r.append(base / r[1])
    md = f"### Training step time, 32 windows of SQuAD train, {args.threads} threads ({args.steps} steps each)\n\n"
    md += md_table(["precision", "median s/step", "min", "max", "tokens/step", f"speed-up vs {args.modes[0]}"], rows)
    save("train_precision", md, res)
    return res


def cmd_curves(args) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    logs = {}
    for p in args.logs:
        recs = [json.loads(ln) for ln in Path(p).read_text().splitlines() if ln.strip()]
        logs[Path(p).parent.name] = recs
    n = min(len(v) for v in logs.values())
    names = list(logs)
    rows = []
    for i in range(n):
        rows.append([logs[names[0]][i]["step"], *(logs[k][i]["loss"] for k in names)])
    diffs = [abs(r[1] - r[2]) for r in rows] if len(names) == 2 else []
    md = "### Loss, same start and batches, by precision\n\n" + md_table(["step", *names], rows)
    if diffs:
        md += f"\n\nLargest difference of the 20-step mean losses: {max(diffs):.4f}; mean {statistics.mean(diffs):.4f}."
    fig, ax = plt.subplots(figsize=(6, 4))
    for k in names:
        ax.plot([r["step"] for r in logs[k]], [r["loss"] for r in logs[k]], marker=".", label=k)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (mean of 20 steps)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(RESULTS / "train_precision_curves.png", dpi=110)
    res = {"curves": {k: logs[k] for k in names}, "max_abs_diff": max(diffs) if diffs else None}
    save("train_precision_curves", md, res)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("speed")
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--modes", nargs="+", default=["fp32", "bf16"])
    p = sub.add_parser("curves")
    p.add_argument("logs", nargs=2)
    args = ap.parse_args()
    {"speed": cmd_speed, "curves": cmd_curves}[args.cmd](args)


if __name__ == "__main__":
    main()
