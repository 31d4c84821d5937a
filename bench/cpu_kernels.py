"""What this CPU runs fast: the reader's matrix products in fp32, bf16 and int8, with the CPU's instruction sets.

    python bench/cpu_kernels.py                    # 2 threads, the reader's shapes, 7 interleaved passes
    python bench/cpu_kernels.py --tokens 440 --threads 1

Every runtime decision in the README (bf16 autocast slower than fp32 for training and inference, int8 faster
but lossy) comes down to how fast the CPU multiplies matrices in each precision. This prints the CPU model, the
instruction sets that matter (AVX-512, VNNI for int8, AVX512_BF16 and AMX for bf16) and oneDNN's view of them,
then times one linear layer of each of the reader's three shapes (384 -> 1536, 1536 -> 384, 384 -> 384; ``tokens``
rows: a two-passage read is ~440 tokens) in each precision, interleaved over passes (median of the passes, ratio
against fp32 of the same pass):

- PyTorch fp32, bf16 (weights and activations in bfloat16) and dynamic int8 (``torch.ao`` quantized Linear);
- ONNX Runtime fp32 and dynamic int8 (``quantize_dynamic``: int8 weights per channel, the kernel the fused int8
  reader uses).

A CPU without AVX512_BF16 or AMX runs bf16 products by conversion to fp32 and is slower than fp32; one with them
should be faster (not measured here: no such machine).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import md_table, save

SHAPES = [(384, 1536), (1536, 384), (384, 384)]
FLAGS = ["avx2", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8"]


def cpu_info() -> dict:
    """CPU model, the instruction-set flags that matter here, and oneDNN's ISA line."""
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"^model name\s*:\s*(.*)$", text, re.M)
    flags = set((re.search(r"^flags\s*:\s*(.*)$", text, re.M) or [None, ""])[1].split())
    probe = "import torch; torch.ones(40, 384, dtype=torch.bfloat16) @ torch.ones(384, 64, dtype=torch.bfloat16)"
    env = dict(os.environ, ONEDNN_VERBOSE="1")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    out = out.stdout + out.stderr
    isa = next((ln.split("isa:", 1)[1] for ln in out.splitlines() if "isa:" in ln), "unknown")
    return {
        "model": model.group(1) if model else "unknown",
        "cores": os.cpu_count(),
        "flags": {f: f in flags for f in FLAGS},
        "onednn_isa": isa.strip(),
    }


def torch_runners(tokens: int, d_in: int, d_out: int) -> dict:
    import torch

    x = torch.randn(tokens, d_in)
    lin = torch.nn.Linear(d_in, d_out).eval()
    bf = torch.nn.Linear(d_in, d_out).eval().to(torch.bfloat16)
    xb = x.to(torch.bfloat16)
    q8 = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(lin), {torch.nn.Linear}, dtype=torch.qint8)

    def run(m, a):
        def f() -> None:
            with torch.inference_mode():
                m(a)

        return f

    return {"PyTorch fp32": run(lin, x), "PyTorch bf16": run(bf, xb), "PyTorch dynamic int8": run(q8, x)}


def ort_runners(tokens: int, d_in: int, d_out: int, threads: int, work: Path) -> dict:
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((d_in, d_out)).astype(np.float32) * 0.05, "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", d_in])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", d_out])],
        [w],
    )
    fp32 = work / f"mm-{d_in}-{d_out}.onnx"
    int8 = work / f"mm-{d_in}-{d_out}-int8.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(fp32))
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)
    x = rng.standard_normal((tokens, d_in)).astype(np.float32)

    def run(path: Path):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no busy threads between runners
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        return lambda: sess.run(None, {"x": x})

    return {"ONNX Runtime fp32": run(fp32), "ONNX Runtime dynamic int8": run(int8)}


def time_ms(f, reps: int) -> float:
    for _ in range(3):
        f()
    t = time.perf_counter()
    for _ in range(reps):
        f()
    return (time.perf_counter() - t) / reps * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=440, help="rows of each product (a two-passage read: ~440)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--passes", type=int, default=7)
    ap.add_argument("--reps", type=int, default=20, help="products timed per measurement")
    ap.add_argument("--name", default="cpu_kernels")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    info = cpu_info()
    rows, res = [], {"cpu": info, "tokens": args.tokens, "threads": args.threads, "ms": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for d_in, d_out in SHAPES:
            runners = torch_runners(args.tokens, d_in, d_out) | ort_runners(
                args.tokens, d_in, d_out, args.threads, Path(tmp)
            )
            times: dict[str, list[float]] = {k: [] for k in runners}
            for _ in range(args.passes):
                for k, f in runners.items():
                    times[k].append(time_ms(f, args.reps))
            shape = f"{args.tokens}x{d_in} -> {d_out}"
            res["ms"][shape] = times
            for k, ts in times.items():
                ratios = [a / b for a, b in zip(times["PyTorch fp32"], ts, strict=True)]
                rows.append([shape, k, statistics.median(ts), statistics.median(ratios)])
    flags = ", ".join(f"{f} {'yes' if v else 'no'}" for f, v in info["flags"].items())
    md = (
        f"### Matrix products of the reader's shapes by precision, {args.threads} threads\n\n"
        f"CPU: {info['model']} ({info['cores']} cores); {flags}; oneDNN ISA: {info['onednn_isa']}\n\n"
    )
    md += md_table(["product", "runtime", "ms (median of passes)", "speed vs PyTorch fp32"], rows)
    save(args.name, md, res)


if __name__ == "__main__":
    main()
