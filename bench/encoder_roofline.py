"""How close the index build's passage encoder runs to what these CPUs can compute, in fp32 and int8.

    python bench/encoder_roofline.py [--repeats 5] [--name encoder_roofline]

Builds embed passages with all-MiniLM-L6-v2; the build-speed target asks for twice the passages/s of the build
before word-piece batching, with the same vectors (cosine >= 0.999) and the same recall. This script measures, in
one run on the 1,673 SQuAD v1.1 half-a passages:

- the encoder as builds run it (frozen fp32 graph, batches sorted by word pieces): passages/s, and the floating
  point operations it executes per second, counted from the shapes of the batches it actually ran (6 layers:
  the q/k/v/output and feed-forward matrix products, 2 * tokens * (4 d^2 + 2 d f), plus attention, 4 * batch *
  length^2 * d);
- the same encoder batching texts by characters, as builds did before (the baseline of the 2x target), and
  from it the rate a 2x build needs: twice its passages/s times the encoder's operations per passage (a lower
  bound: a build also splits sentences and writes BM25 and FAISS, a few percent of its time, bench/build_speed.py);
- the same matrix products alone (fp32 ``torch.mm`` on the encoder's shapes: tokens of one batch x 384 x 1,536
  and back, and x 384 x 384), and one large square product: the most these cores compute in fp32;
- the same products in int8 with 32-bit sums (``torch._int_mm``, VNNI here), the ceiling of an int8 encoder.

The conclusion line divides the rate a 2x build needs by the rate of the encoder's matrix products run alone:
near or above 1, no fp32 runtime can reach it on this machine (the products would have to run at that rate with
everything else in the encoder free), and only arithmetic that changes the vectors (int8, measured in
``bench/build_speed.py`` and the README) could. Medians of ``--repeats`` interleaved passes.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from common import md_table, save, squad11a

from index.encoder import get_encoder
from index.passages import make_passages

LAYERS, D, FF = 6, 384, 1536
PRODUCTS = [(D, D)] * 4 + [(D, FF), (FF, D)]  # (in, out) of each layer's q, k, v, attention output, feed-forward
TOKEN_FLOPS = sum(2 * k * n for k, n in PRODUCTS)  # one token through one layer's matrix products


def encoder_flops(shapes: list[tuple[int, int]], real_tokens: int) -> tuple[float, float, float]:
    """(executed, matrix-product share of executed, useful) floating point operations of one pass of the encoder."""
    linear = sum(b * n * TOKEN_FLOPS for b, n in shapes) * LAYERS
    attention = sum(4 * b * n * n * D for b, n in shapes) * LAYERS
    useful = real_tokens * TOKEN_FLOPS * LAYERS
    return float(linear + attention), linear / (linear + attention), float(useful)


def time_it(fn: Callable[[], object], repeats: int) -> float:
    """Median seconds of ``repeats`` calls of ``fn`` after one warm-up call."""
    fn()
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--name", default="encoder_roofline", help="results file: bench/results/NAME.md and .json")
    args = ap.parse_args()
    docs, _ = squad11a()
    texts = [p.text for d in docs for p in make_passages(d)]
    enc = get_encoder("torch")
    shapes: list[tuple[int, int]] = []
    hidden = enc._hidden

    def recording(batch):  # the shapes of the batches the encoder really runs
        shapes.append(tuple(batch["input_ids"].shape))
        return hidden(batch)

    enc._hidden = recording
    enc.encode(texts)
    enc._hidden = hidden
    real = sum(len(x) for x in enc.tokenizer(texts, truncation=True, max_length=256)["input_ids"])
    executed, linear_share, useful = encoder_flops(shapes, real)
    tokens = int(statistics.median(b * n for b, n in shapes))  # rows of one typical batch's matrix products
    torch.manual_seed(0)
    x = {k: torch.randn(tokens, k) for k in (D, FF)}
    w = {(k, n): torch.randn(k, n) / k**0.5 for k, n in ((D, FF), (FF, D), (D, D))}
    xq = {k: torch.randint(-127, 128, (tokens, k), dtype=torch.int8) for k in (D, FF)}
    wq = {kn: torch.randint(-127, 128, kn, dtype=torch.int8) for kn in w}
    big = torch.randn(2048, 2048)
    layer_flops = tokens * TOKEN_FLOPS

    def fp32_layer() -> None:
        for k, n in PRODUCTS:
            torch.mm(x[k], w[(k, n)])

    def int8_layer() -> None:
        for k, n in PRODUCTS:
            torch._int_mm(xq[k], wq[(k, n)])

    times = {"before": [], "encoder": [], "fp32": [], "int8": [], "square": []}
    with torch.inference_mode():
        for _ in range(args.repeats):  # interleaved: a slow spell of the shared machine hits every row
            enc.batch_by_tokens = False  # the encoder before word-piece batching: the target's baseline
            t = time.perf_counter()
            enc.encode(texts)
            times["before"].append(time.perf_counter() - t)
            enc.batch_by_tokens = True
            t = time.perf_counter()
            enc.encode(texts)
            times["encoder"].append(time.perf_counter() - t)
            times["fp32"].append(time_it(fp32_layer, 20))
            times["int8"].append(time_it(int8_layer, 20))
            times["square"].append(time_it(lambda: torch.mm(big, big), 5))
    med = {k: statistics.median(v) for k, v in times.items()}
    gflops = {
        "encoder": executed / med["encoder"] / 1e9,
        "fp32": layer_flops / med["fp32"] / 1e9,
        "int8": layer_flops / med["int8"] / 1e9,
        "square": 2 * 2048**3 / med["square"] / 1e9,
    }
    per_s = len(texts) / med["encoder"]
    fp32_peak = max(gflops["fp32"], gflops["square"])
    before = len(texts) / med["before"]
    need = 2 * before * executed / len(texts) / 1e9  # GFLOP/s a 2x build needs, same arithmetic
    rows = [
        [
            "encoder as builds run it (frozen fp32, batches by word pieces)",
            per_s,
            gflops["encoder"],
            gflops["encoder"] / fp32_peak,
        ],
        [
            f"fp32 matrix products of one layer, encoder shapes ({tokens} tokens)",
            None,
            gflops["fp32"],
            gflops["fp32"] / fp32_peak,
        ],
        ["fp32 square product 2048 x 2048", None, gflops["square"], gflops["square"] / fp32_peak],
        [
            f"int8 matrix products of one layer (torch._int_mm), {tokens} tokens",
            None,
            gflops["int8"],
            gflops["int8"] / fp32_peak,
        ],
        [
            f"needed for 2x the encoder before, batched by characters ({before:.1f} passages/s this run)",
            2 * before,
            need,
            need / fp32_peak,
        ],
    ]
    md = (
        f"### The passage encoder against these cores' arithmetic: {len(texts)} passages (SQuAD v1.1 half a), "
        f"{torch.get_num_threads()} threads, medians of {args.repeats} interleaved passes\n\n"
        f"{len(shapes)} batches, {real:,} word pieces ({real / len(texts):.0f} a passage), "
        f"{1 - useful / (executed * linear_share):.1%} padding; matrix products are {linear_share:.1%} of the "
        f"encoder's arithmetic ({executed / len(texts) / 1e9:.2f} GFLOP a passage).\n\n"
    )
    md += md_table(
        ["what", "passages/s", "GFLOP/s (int8: GOP/s)", "vs the fastest fp32 product"],
        [[r[0], "" if r[1] is None else r[1], r[2], r[3]] for r in rows],
    )
    md += (
        f"\n\nA 2x build in fp32 needs {need:.0f} GFLOP/s: {need / gflops['fp32']:.2f}x what the encoder's own matrix "
        f"products reach run alone, back to back, with nothing else ({gflops['fp32']:.0f}), and "
        f"{need / fp32_peak:.2f}x a large square product ({fp32_peak:.0f}); the encoder runs at "
        f"{gflops['encoder'] / gflops['fp32']:.0%} of the first (attention, layer norms, GELU and moving activations "
        f"take the rest). int8 products run {gflops['int8'] / gflops['fp32']:.2f}x the fp32 ones on the same shapes, "
        "but no int8 encoder measured here keeps the vectors (cosine >= 0.999).\n"
    )
    save(
        args.name,
        md,
        {
            "passages": len(texts),
            "batches": len(shapes),
            "word_pieces": real,
            "executed_gflop_per_passage": executed / len(texts) / 1e9,
            "matrix_product_share": linear_share,
            "median_s": med,
            "gflop_per_s": gflops,
            "encoder_passages_per_s": per_s,
            "before_passages_per_s": before,
            "needed_gflop_per_s_for_2x": need,
            "threads": torch.get_num_threads(),
        },
    )


if __name__ == "__main__":
    main()
