"""The encoder runtimes (PyTorch frozen graph, ONNX) and the span reader runtimes agree on real text; the real models, no mocks."""

from __future__ import annotations

import numpy as np
import pytest

from docqa.index.encoder import Encoder, model_fingerprint
from docqa.qa.readers.span import SpanReader, SpanReaderSettings
from tests.conftest import SEEDS
from tests.qa.test_answer import SEED_QUESTIONS

TEXTS = [
    "The Moon is Earth's only natural satellite.",
    "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen.",
    "Pyongyang is the capital of North Korea.",
    "A short one.",
]


@pytest.fixture(scope="module")
def torch_encoder():
    return Encoder("torch", "fp32")  # the fp32 graph these tests check (bf16: tests/index/test_encoder_precision.py)


@pytest.mark.parametrize("kind,min_cos", [("onnx-fp32", 0.9999), ("onnx-int8", 0.999)])
def test_onnx_encoder_matches_torch(torch_encoder, kind, min_cos):
    onnx = Encoder(kind)
    a, b = torch_encoder.encode(TEXTS), onnx.encode(TEXTS)
    assert b.shape == a.shape and b.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    cos = (a * b).sum(axis=1)
    assert cos.min() >= min_cos, cos
    # the fingerprint names the runtime, so an index built by one never silently serves another
    assert model_fingerprint(kind) != model_fingerprint("torch")


def test_torch_encoder_runs_a_frozen_graph_with_the_same_vectors_as_sentence_transformers(torch_encoder):
    """The traced encoder replays the padded-batch branch: padded, unpadded and truncated rows all match eager."""
    texts = [*TEXTS, "word " * 400, TEXTS[0] * 3]
    assert torch_encoder._traced is not None
    ours = torch_encoder.encode(texts, batch_size=3)
    st = torch_encoder.model.encode(texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    assert (ours * st).sum(axis=1).min() >= 0.99999
    one = np.stack([torch_encoder.encode([t])[0] for t in texts])  # no padding at all
    np.testing.assert_allclose(one, ours, atol=1e-5)
    torch_encoder.use_frozen = False  # the public switch benchmarks use: eager PyTorch, same vectors
    try:
        eager = torch_encoder.encode(texts, batch_size=3)
    finally:
        torch_encoder.use_frozen = True
    assert (eager * ours).sum(axis=1).min() >= 0.99999


def test_batching_by_word_pieces_gives_every_text_its_own_vector(torch_encoder):
    # "1993-1994 $3,451" is short in characters and long in word pieces: the two groupings batch differently
    texts = [*TEXTS, "1993-1994 $3,451 (USS-LEAHY/RGM-84)", "word " * 300, ""]
    by_tokens = torch_encoder.encode(texts, batch_size=2)
    torch_encoder.batch_by_tokens = False
    try:
        by_chars = torch_encoder.encode(texts, batch_size=2)
    finally:
        torch_encoder.batch_by_tokens = True
    one_by_one = np.stack([torch_encoder.encode([t])[0] for t in texts])
    assert (by_tokens * by_chars).sum(axis=1).min() >= 0.99999
    assert (by_tokens * one_by_one).sum(axis=1).min() >= 0.99999
    many = torch_encoder.encode(texts * 9, batch_size=1)  # 72 texts: two sorting groups of 64, chunks of 8
    assert (many * np.tile(by_tokens, (9, 1))).sum(axis=1).min() >= 0.99999


def test_tracing_that_disagrees_with_eager_falls_back_to_eager():
    import torch

    from docqa.index.torchscript import freeze

    class DataDependent(torch.nn.Module):  # a branch on the values: tracing bakes one side in
        def forward(self, input_ids, attention_mask, token_type_ids):
            x = input_ids.float()
            return (x * 2,) if bool(attention_mask.sum() > 50) else (x,)

    assert freeze(DataDependent()) is None

    class Plain(torch.nn.Module):
        def forward(self, input_ids, attention_mask, token_type_ids):
            return (input_ids.float() * attention_mask, token_type_ids.float())

    run = freeze(Plain())
    assert run is not None and run(*[torch.ones(2, 3, dtype=torch.long)] * 3)[0].shape == (2, 3)

    class NotANumber(torch.nn.Module):  # e.g. a broken int8 kernel: NaN is never within any tolerance
        def forward(self, input_ids, attention_mask, token_type_ids):
            return (input_ids.float() * attention_mask * float("nan"), token_type_ids.float())

    assert freeze(NotANumber(), reference=Plain(), tolerance=1e9) is None


def test_unknown_runtimes_are_rejected():
    with pytest.raises(ValueError, match="unknown encoder"):
        Encoder("gpu")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown reader runtime"):
        SpanReaderSettings(runtime="fp16")  # type: ignore[arg-type]


@pytest.mark.parametrize("runtime", ["torchscript-unpadded", "torchscript-unpadded-int8", "torchscript-unpadded-bf16"])
def test_reader_runtimes_pick_the_same_spans(runtime):
    text = next(SEEDS.glob("*.txt")).read_text()
    paragraphs = [p for p in text.split("\n\n") if len(p) > 200][:4]
    ref = SpanReader(settings=SpanReaderSettings(runtime="fp32"))
    other = SpanReader(settings=SpanReaderSettings(runtime=runtime))
    same, scores = 0, []
    exact = runtime == "torchscript-unpadded"  # fp32: the same scores; int8 and bf16 move them
    questions = [q for q, _ in SEED_QUESTIONS]
    for question in questions:
        a, b = ref.predict(question, paragraphs), other.predict(question, paragraphs)
        best_a = max((s for s in a if s), key=lambda s: s.score)
        best_b = max((s for s in b if s), key=lambda s: s.score)
        same += (best_a.start, best_a.end) == (best_b.start, best_b.end)
        if exact:
            assert abs(best_a.score - best_b.score) < 1e-2
        scores.append((abs(best_a.score - best_b.score), abs(best_a.score) + abs(best_a.null_score)))
    assert same >= (len(questions) if exact else len(questions) - 1)
    if not exact:
        # int8 products and bf16 move the logits a little (under 10% of their scale), not the spans
        assert all(diff < 0.1 * scale for diff, scale in scores), scores
    assert other.runtime == runtime and other._traced is not None  # the frozen graph ran, not a fallback


def test_unpadded_forward_gives_the_padded_models_logits_on_every_real_token():
    import torch

    from docqa.index.torchscript import example_batch
    from docqa.qa.readers.unpadded import UnpaddedBertQA

    model = SpanReader(settings=SpanReaderSettings(runtime="fp32")).model
    unpadded = UnpaddedBertQA(model).eval()
    for lengths in ([200, 37, 5], [64], [3, 3], [120, 119, 118, 30]):
        ids, mask, types = example_batch(lengths, seed=len(lengths))
        with torch.inference_mode():
            want = model(input_ids=ids, attention_mask=mask, token_type_ids=types)
            start, end = unpadded(ids, mask, types)
        real = mask.bool()
        assert start.shape == want.start_logits.shape and end.shape == want.end_logits.shape
        assert (start - want.start_logits).abs()[real].max() < 1e-4
        assert (end - want.end_logits).abs()[real].max() < 1e-4
        assert not start[~real].any() and not end[~real].any()  # padding scores 0, never a real token's logit


def test_unpadded_products_see_row_counts_padded_to_a_few_shapes():
    """oneDNN builds a kernel per matrix shape: the products get the real tokens padded with zero rows to a
    multiple of ROWS, so 37 and 45 real tokens share one shape, and the logits stay those of the real tokens."""
    import torch

    from docqa.index.torchscript import example_batch
    from docqa.qa.readers.unpadded import ROWS, UnpaddedBertQA

    model = SpanReader(settings=SpanReaderSettings(runtime="fp32")).model
    unpadded = UnpaddedBertQA(model).eval()
    rows: list[int] = []
    hook = unpadded.products[0][0].register_forward_hook(lambda mod, args, out: rows.append(args[0].shape[0]))
    for lengths in ([30, 7], [40, 5], [16], [17]):
        ids, mask, types = example_batch(lengths, seed=len(lengths))
        with torch.inference_mode():
            want = model(input_ids=ids, attention_mask=mask, token_type_ids=types)
            start, _ = unpadded(ids, mask, types)
        assert (start - want.start_logits).abs()[mask.bool()].max() < 1e-4
    hook.remove()
    assert rows == [48, 48, 16, 32] and all(r % ROWS == 0 for r in rows)


def test_bf16_runtime_is_checked_against_fp32_and_close_to_it():
    import torch

    from docqa.index.torchscript import TOLERANCE, example_batch, freeze
    from docqa.qa.readers.span import BF16_TOLERANCE
    from docqa.qa.readers.unpadded import UnpaddedBertQA

    reader = SpanReader(settings=SpanReaderSettings(runtime="fp32", micro_batch=False))
    model = UnpaddedBertQA(reader.model, bf16=True).eval()
    assert next(reader.model.parameters()).dtype == torch.float32  # the reference stays fp32
    assert freeze(model, reference=reader.model, tolerance=TOLERANCE) is None  # bf16 is not fp32
    graph = freeze(model, reference=reader.model, tolerance=BF16_TOLERANCE)
    assert graph is not None
    ids, mask, types = example_batch([150, 90, 33], seed=7)
    with torch.inference_mode():
        want = reader.model(input_ids=ids, attention_mask=mask, token_type_ids=types)
        start, end = graph(ids, mask, types)
    assert start.dtype == torch.float32
    assert float((start - want.start_logits).abs()[mask.bool()].max()) < BF16_TOLERANCE
    assert float((end - want.end_logits).abs()[mask.bool()].max()) < BF16_TOLERANCE


@pytest.mark.parametrize(
    "has_bf16,expected", [(True, "torchscript-unpadded-bf16"), (False, "torchscript-unpadded-int8")]
)
def test_auto_runtime_is_bf16_only_on_a_cpu_with_bf16_instructions(monkeypatch, has_bf16, expected):
    import docqa.index.encoder as encoder

    monkeypatch.setattr(encoder, "cpu_has_bf16", lambda: has_bf16)
    reader = SpanReader(settings=SpanReaderSettings(runtime="auto"))
    assert reader.runtime == expected and reader._traced is not None


def test_bf16_runtime_falls_back_to_int8_when_its_graph_cannot_be_built(monkeypatch, caplog):
    import docqa.qa.readers.unpadded as unpadded

    real_init = unpadded.UnpaddedBertQA.__init__

    def no_bf16(self, model, int8=False, bf16=False):
        if bf16:
            raise RuntimeError("bf16 is not supported here")
        real_init(self, model, int8=int8)

    monkeypatch.setattr(unpadded.UnpaddedBertQA, "__init__", no_bf16)
    reader = SpanReader(settings=SpanReaderSettings(runtime="torchscript-unpadded-bf16"))
    assert reader.runtime == "torchscript-unpadded-int8" and reader._traced is not None
    assert "torchscript-unpadded-bf16 unavailable" in caplog.text


# int8 quantizes each token on its own, so a window scores the same in any batch; bf16 products round their sums
# to bf16, and oneDNN's blocking depends on the batch's row count, so a score moves by a few hundredths of a logit
@pytest.mark.parametrize(
    "runtime,tolerance", [("torchscript-unpadded-int8", 1e-3), ("torchscript-unpadded-bf16", 0.05)]
)
def test_concurrent_questions_share_forward_passes_and_get_the_same_spans(runtime, tolerance):
    from concurrent.futures import ThreadPoolExecutor

    text = next(SEEDS.glob("*.txt")).read_text()
    paragraphs = [p for p in text.split("\n\n") if len(p) > 120][:5]
    reader = SpanReader(settings=SpanReaderSettings(runtime=runtime, micro_batch=True, batch_wait_ms=5))
    questions = [q for q, _ in SEED_QUESTIONS] * 3
    alone = {q: reader.predict(q, paragraphs[: 2 + len(q) % 3]) for q in set(questions)}
    before = reader._batcher.batches
    with ThreadPoolExecutor(6) as ex:
        together = list(ex.map(lambda q: (q, reader.predict(q, paragraphs[: 2 + len(q) % 3])), questions))
    assert reader._batcher.batches - before < len(questions)  # some forward passes served several questions
    for q, got in together:
        for a, b in zip(alone[q], got, strict=True):
            assert (a.start, a.end) == (b.start, b.end) and abs(a.score - b.score) < tolerance


@pytest.mark.parametrize("first", [1, 2])
def test_early_exit_reads_the_top_passages_first_and_the_rest_only_when_unsure(seed_qa, first):
    from dataclasses import replace

    from docqa.qa import QA

    question = "What is THAAD?"
    n = min(seed_qa.span_reader.passages, len(seed_qa.answer(question).hits))
    assert n > first
    # 0.0: the first passages always decide; 0.999: they never do, so the other passages are read after them
    for exit_at, expected in ((0.0, [first]), (0.999, [first, n - first])):
        span = SpanReaderSettings(early_exit=exit_at, early_exit_first=first)
        qa = QA(seed_qa.backend, replace(seed_qa.settings, span=span))
        calls: list[int] = []

        def predict(q, ctx, real=qa.span_reader.predict, calls=calls):
            calls.append(len(ctx))
            return real(q, ctx)

        qa.span_reader.predict = predict
        ans = qa.answer(question)
        assert calls == expected
        assert ans.found and ans.text == seed_qa.answer(question).text


def test_shipped_reader_reads_in_bf16_where_the_cpu_has_it_and_in_int8_elsewhere():
    from docqa.index.encoder import cpu_has_bf16

    shipped = SpanReader()
    assert shipped.meta["runtime"] == "auto"
    want = "torchscript-unpadded-bf16" if cpu_has_bf16() else "torchscript-unpadded-int8"
    assert shipped.runtime == want and shipped._traced is not None


def test_early_exit_first_must_be_positive():
    with pytest.raises(ValueError, match="early_exit_first"):
        SpanReaderSettings(early_exit_first=0)


def test_unpadded_micro_batched_reader_reads_long_passages_like_eager_fp32():
    text = next(SEEDS.glob("*.txt")).read_text()  # ~3,000 characters: several overlapping windows
    eager = SpanReader(settings=SpanReaderSettings(runtime="fp32", micro_batch=False))
    unpadded = SpanReader(settings=SpanReaderSettings(runtime="torchscript-unpadded"))  # fp32 unpadded, micro-batched
    assert unpadded.runtime == "torchscript-unpadded" and unpadded._batcher is not None
    for question, _ in SEED_QUESTIONS[:4]:
        want, got = eager.predict(question, [text, text[:500]]), unpadded.predict(question, [text, text[:500]])
        assert [(s.start, s.end) for s in got] == [(s.start, s.end) for s in want]
        assert all(abs(g.score - w.score) < 1e-3 for g, w in zip(got, want, strict=True))


def test_unpadded_runtime_falls_back_to_eager_fp32_for_a_model_it_cannot_run(monkeypatch, caplog):
    import docqa.qa.readers.unpadded as unpadded

    def unsupported(self, model, int8=False, bf16=False):
        raise ValueError("unsupported BERT variant (relu, relative_key)")

    monkeypatch.setattr(unpadded.UnpaddedBertQA, "__init__", unsupported)
    for runtime in ("torchscript-unpadded", "torchscript-unpadded-int8", "torchscript-unpadded-bf16"):
        reader = SpanReader(settings=SpanReaderSettings(runtime=runtime))
        assert reader.runtime == "fp32" and reader._traced is None
        assert f"reader runtime {runtime} unavailable" in caplog.text
        text = next(SEEDS.glob("*.txt")).read_text()
        assert reader.predict(SEED_QUESTIONS[0][0], [text[:1500]])[0] is not None


def test_int8_runtime_falls_back_to_the_fp32_unpadded_graph_without_int8_kernels(monkeypatch, caplog):
    import docqa.qa.readers.unpadded as unpadded

    def no_kernels(weight, bias):
        raise RuntimeError("Could not run 'aten::_int_mm' with arguments from the 'CPU' backend")

    monkeypatch.setattr(unpadded, "int8_linear", no_kernels)
    reader = SpanReader(settings=SpanReaderSettings(runtime="torchscript-unpadded-int8"))
    assert reader.runtime == "torchscript-unpadded" and reader._traced is not None
    assert "torchscript-unpadded-int8 unavailable" in caplog.text


def test_int8_reader_multiplies_the_shipped_int8_weights_and_is_checked_against_fp32():
    """The int8 products hold exactly the integers stored in the reader file (quantizing the expanded weights
    again loses nothing), and the load-time check rejects the int8 graph at fp32's tolerance but not at its own."""
    import torch
    from safetensors.numpy import load_file

    from docqa.index.torchscript import TOLERANCE, freeze
    from docqa.qa.readers.span import INT8_TOLERANCE, MODEL_DIR, WEIGHTS
    from docqa.qa.readers.unpadded import UnpaddedBertQA

    reader = SpanReader(settings=SpanReaderSettings(runtime="fp32", micro_batch=False))
    stored = load_file(str(MODEL_DIR / WEIGHTS))
    model = UnpaddedBertQA(reader.model, int8=True).eval()
    qkv, out, ffn_in, ffn_out = model.products[2]
    for layer, name in ((out, "attention.output.dense"), (ffn_in, "intermediate.dense"), (ffn_out, "output.dense")):
        np.testing.assert_array_equal(layer.weight.t().numpy(), stored[f"bert.encoder.layer.2.{name}.weight.q8"])
    q_rows = stored["bert.encoder.layer.2.attention.self.query.weight.q8"]
    np.testing.assert_array_equal(qkv.weight.t().numpy()[: len(q_rows)], q_rows)
    assert freeze(model, reference=reader.model, tolerance=TOLERANCE) is None  # int8 is not fp32
    graph = freeze(model, reference=reader.model, tolerance=INT8_TOLERANCE)
    assert graph is not None
    ids = torch.tensor([[101, 2040, 2626, 102, 7632, 2001, 2517, 2011, 3957, 8101, 1012, 102]])
    types = torch.tensor([[0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]])
    with torch.inference_mode():
        want = reader.model(input_ids=ids, attention_mask=torch.ones_like(ids), token_type_ids=types)
        start, end = graph(ids, torch.ones_like(ids), types)
    assert float((start - want.start_logits).abs().max()) < INT8_TOLERANCE
    assert float((end - want.end_logits).abs().max()) < INT8_TOLERANCE
