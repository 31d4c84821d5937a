"""Fast unit tests of the question-answering layer's pure functions: fusion, settings, questions, spans, batching, int8."""

from __future__ import annotations

import pytest

from docqa.index.backend import IndexSettings
from docqa.qa.errors import QuestionError
from docqa.qa.fusion import FusionSettings, fuse
from docqa.qa.question import clean_question
from docqa.qa.readers.span import SpanReaderSettings, clean_span
from docqa.qa.settings import QASettings


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


def test_clean_span_widens_and_trims():
    text = "The Terminal High Altitude Area Defense (THAAD) system."
    s, e = clean_span(text, text.index("erminal"), text.index("Area") + 2, 0, len(text))
    assert text[s:e] == "Terminal High Altitude Area"
    s, e = clean_span(text, text.index("Defense"), text.index("system") + 3, 0, len(text))
    assert text[s:e] == "Defense (THAAD) system"


@pytest.mark.parametrize(
    "text,first,last,expected",
    [
        ("with the name original_name.bz2. Each file", "original_name", "original_name", "original_name.bz2"),
        ("misc/ninja_syntax.py in the Ninja distribution", "py", "py", "misc/ninja_syntax.py"),
        ("Debian 3.1 was released", "3", "3", "3.1"),
        ("It ends here. Then it starts", "here", "here", "here"),  # a full stop and a space end a word
        ("mid-2027 at the latest", "2027", "2027", "2027"),  # a hyphen still separates words
    ],
)
def test_clean_span_keeps_file_names_paths_and_versions_whole(text, first, last, expected):
    s, e = clean_span(text, text.index(first), text.index(last) + len(last), 0, len(text))
    assert text[s:e] == expected


def test_vectorised_span_search_matches_brute_force():
    import numpy as np

    from docqa.qa.readers.span import best_spans

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


def test_micro_batcher_gives_each_caller_its_own_rows_and_merges_concurrent_calls():
    import threading

    import numpy as np

    from docqa.qa.readers.batching import MicroBatcher

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

    from docqa.qa.readers.batching import MicroBatcher

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


def test_int8_linear_scales_each_token_on_its_own():
    """Int8 products quantize each row (token) with its own scale: a token with huge values does not coarsen the
    others, an all-zero token gives the bias, and the result tracks fp32 closely."""
    import torch

    from docqa.qa.readers.unpadded import int8_linear

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


def test_a_span_never_crosses_a_paragraph_break():
    text = "3.3 Invoking asn1Decoding\n\nasn1Decoding generates an ASN.1 structure."
    s, e = clean_span(text, text.index("asn1Decoding"), text.index("generates") - 1, 0, len(text))
    assert text[s:e] == "asn1Decoding" and s == text.index("\n\n") + 2  # the body's word, not the heading's
    s, e = clean_span(text, 0, len(text), 0, len(text))
    assert text[s:e] == "asn1Decoding generates an ASN.1 structure"


@pytest.mark.parametrize(
    "question,expected",
    [
        ("When was Debian Sarge released?", "2005-06-06"),  # row by its key, column by a stem ("released")
        ("What is the codename of Debian 3.1?", "Sarge"),  # row by another cell, the key column answers
        ("When does LTS support for Sarge end?", "2008-03-31"),  # the header sharing most stems wins
        ("Which codename has the version 3.1?", "Sarge"),  # "the version 3.1" names the row, not the column
        ("When was Debian 16 released?", None),  # no cell names the row
        ("What is Sarge?", None),  # no column named
        ("When does Sarge end?", None),  # "end" is in two headers alike
    ],
)
def test_a_question_names_a_row_and_a_column(question, expected):
    from docqa.index.ingest.tables import parse_row, row_text
    from docqa.qa.readers.table import match_row, stems

    header = ["Codename", "Version", "Release", "End of life", "LTS end"]
    line = row_text(["Sarge", "3.1", "2005-06-06", "2007-01-01", "2008-03-31"], header)
    cells = parse_row(line)
    m = match_row(set(stems(question)), line, cells)
    got = None if m is None else line[cells[m[0]].start : cells[m[0]].end]
    assert got == expected


def test_a_cell_replaces_the_spans_of_its_row_and_keeps_the_best_confidence():
    from docqa.index.types import Passage, Span
    from docqa.qa.readers import Candidate
    from docqa.qa.readers.table import CELL_CONFIDENCE, with_cells
    from docqa.qa.types import Hit

    row = Span(0, 60)
    p = Passage("d#0", "d", 0, 60, "x" * 60, (row,))
    q = Passage("e#0", "e", 0, 60, "y" * 60, (row,))
    hp, hq = Hit(p, 0.5, rank=1), Hit(q, 0.4, rank=2)
    in_row = Candidate(hp, 20, 30, row, "span", 1.0, 0.7)
    prose = Candidate(hq, 5, 9, row, "span", 1.0, 0.3)
    cell = Candidate(hp, 40, 50, row, "span", 2.0, CELL_CONFIDENCE, {"table": 1.0})
    out = with_cells([in_row, prose], [cell])
    assert [(c.start, c.confidence) for c in out] == [(40, 0.7), (5, 0.3)]
    assert with_cells([prose], []) == [prose]


def test_near_miss_evidence():
    """The candidate confidence evidence: the question's entities and numbers found in the passage, and how many
    other passages' spans agree with a span."""
    from docqa.qa.confidence import entity_coverage, question_entities, support

    ents = question_entities("What did Russia announce in 2017 about China?")
    assert "russia" in ents and "china" in ents and "2017" in ents
    assert entity_coverage(ents, "In 2017 China and Russia held a drill.") == 1.0
    assert entity_coverage(ents, "China held a drill.") == pytest.approx(1 / len(ents))
    assert entity_coverage([], "anything") == 1.0
    assert support("Wang Yi", ["Foreign Minister Wang Yi", "Xi Jinping", "Wang Yi"]) == pytest.approx(2 / 3)
    assert support("Wang Yi", []) == 0.0
