"""Answer metrics with the official SQuAD v1.1 normalisation (used by ``docqa eval`` and the benchmarks)."""

from __future__ import annotations

import collections
import re
import string
from collections.abc import Callable, Sequence

_PUNCT = set(string.punctuation)


def normalize_answer(s: str) -> str:
    """Lower text and remove punctuation, articles and extra whitespace (official SQuAD v1.1)."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def f1_score(prediction: str, ground_truth: str) -> float:
    """Token-overlap F1 of a prediction against one gold answer."""
    p = normalize_answer(prediction).split()
    g = normalize_answer(ground_truth).split()
    common = collections.Counter(p) & collections.Counter(g)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str, ground_truth: str) -> float:
    """1.0 when prediction and gold answer are equal after normalisation."""
    return float(normalize_answer(prediction) == normalize_answer(ground_truth))


def best_over(metric: Callable[[str, str], float], prediction: str, golds: Sequence[str]) -> float:
    """The best score of ``prediction`` over several gold answers (0 when there are none)."""
    return max(metric(prediction, g) for g in golds) if golds else 0.0
