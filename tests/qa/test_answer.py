"""End to end on the seed: exact cited spans, abstention, bad questions."""

from __future__ import annotations

import pytest

from docqa.qa import NOT_FOUND_TEXT, QuestionError
from docqa.qa.readers.span import SpanReaderSettings

SEED_QUESTIONS = [
    ("What is THAAD?", ("Terminal High Altitude Area Defense", "anti-ballistic missile defense system")),
    ("Where will the drill be held?", ("Russian military research center",)),
    ("When will the drill be held?", ("this month",)),
    ("Who said the THAAD system threatens equilibrium on the Korean Peninsula?", ("Wang Yi",)),
    ("What did Xi Jinping declare?", ("would not allow war and chaos",)),
]


def _check_citation(qa, ans):
    assert ans.found and ans.citations
    c = ans.citations[0]
    doc = qa.index.document(c.doc_id)
    assert doc.text[c.start : c.end] == ans.text == c.text
    assert c.sentence_start <= c.start < c.end <= c.sentence_end
    assert c.passage_start <= c.sentence_start and c.sentence_end <= c.passage_end
    assert any(h.passage.passage_id == c.passage_id for h in ans.hits)
    return doc.text[c.sentence_start : c.sentence_end]


@pytest.mark.parametrize("question,expected", SEED_QUESTIONS)
def test_seed_questions_answered_with_exact_cited_span(seed_qa, question, expected):
    ans = seed_qa.answer(question)
    sentence = _check_citation(seed_qa, ans)
    assert any(e in sentence for e in expected), (ans.text, sentence)
    assert 0 < ans.confidence <= 1


def test_hits_keep_raw_and_fused_scores(seed_qa):
    ans = seed_qa.answer("What is THAAD?")
    assert [h.rank for h in ans.hits] == list(range(1, len(ans.hits) + 1))
    assert all(a.fused >= b.fused for a, b in zip(ans.hits, ans.hits[1:], strict=False))
    top = ans.hits[0]
    assert top.bm25 is not None and top.dense is not None
    assert top.bm25_rank >= 1 and top.dense_rank >= 1
    assert {"embed_query", "dense", "bm25", "fusion", "read", "total"} <= set(ans.timings_ms)


@pytest.mark.parametrize(
    "question",
    ["How do I bake sourdough bread at home?", "What is the boiling point of mercury in kelvin?"],
)
def test_abstains_on_unrelated_question(seed_qa, question):
    ans = seed_qa.answer(question)
    assert not ans.found and ans.text == NOT_FOUND_TEXT and ans.citations == []
    assert ans.hits  # the closest passages are still shown


@pytest.mark.parametrize(
    "bad,match",
    [
        ("", "empty"),
        ("   \n\t ", "empty"),
        ("\x00\x01\x02", "empty"),
        ("why " * 300, "too long"),
        ("x" * 1_000_000, "too long"),
        (None, "text"),
    ],
)
def test_bad_questions_raise_clear_errors(seed_qa, bad, match):
    with pytest.raises(QuestionError, match=match):
        seed_qa.answer(bad)


def test_control_characters_are_cleaned(seed_qa):
    ans = seed_qa.answer("What\x00 is\x1b THAAD?\r\n")
    assert ans.question == "What is THAAD?"
    assert ans.found


def test_module_level_answer_uses_seeds():
    import docqa.qa as qa

    ans = qa.answer("What is THAAD?")
    assert ans.found and "THAAD" in (ans.sentence or "")


def test_other_credible_answers_are_shown_each_cited_exactly(seed_qa):
    """'When will the drill take place?': the best span, and 'Thursday' from another passage as a second answer,
    each cited where its text is, never the same span twice. 'Thursday' scores 0.136 with the fp32 and bf16 graphs
    (0.16 in int8), under the shipped threshold 0.14, so this QA's threshold is 0.1 (an alternative is shown only
    above the threshold; the main answer is 0.34)."""
    from dataclasses import replace

    from docqa.qa import QA

    qa = QA(seed_qa.backend, replace(seed_qa.settings, span=SpanReaderSettings(threshold=0.1)))
    ans = qa.answer("When will the drill take place?")
    assert ans.found and ans.alternatives
    doc = qa.index.document(ans.citations[0].doc_id).text
    spans = [(ans.citations[0].start, ans.citations[0].end)]
    for alt in ans.alternatives:
        c = alt.citations[0]
        assert doc[c.start : c.end] == alt.text and alt.confidence <= ans.confidence
        spans.append((c.start, c.end))
    assert len(set(spans)) == len(spans)
    assert "Thursday" in [alt.text for alt in ans.alternatives]


def test_a_pronoun_follow_up_is_resolved_and_answered_from_the_right_sentence(seed_qa):
    from docqa.qa.followup import Turn, resolve

    history = [Turn("When did the Korean War start?", "1950")]
    resolved = resolve("When did it end?", history)
    assert resolved.follow_up and resolved.question == "When did the Korean War end?"
    ans = seed_qa.answer("When did it end?", history=history)
    assert ans.found and "1953" in ans.text and ans.read_as == "When did the Korean War end?"
    assert seed_qa.answer("When did the Korean War end?").read_as == ""
    assert resolve("When did it end?", []).question == "When did it end?"  # no history: unchanged
    assert not resolve("What is THAAD?", history).follow_up  # no pronoun: not a follow-up
