"""Tokenisation shared by BM25, the term-overlap scorer and the evaluation."""

from __future__ import annotations

import re

_WORD = re.compile(r"\w+", re.UNICODE)

STOPWORDS = frozenset(
    """a an the and or but if then else of at by for with about against between into through during
    before after above below to from up down in out on off over under again further once here there
    when where why how all any both each few more most other some such no nor not only own same so
    than too very s t can will just don should now is are was were be been being have has had having
    do does did doing i me my myself we our ours ourselves you your yours yourself yourselves he him
    his himself she her hers herself it its itself they them their theirs themselves what which who
    whom this that these those am would could also""".split()
)


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens without stop words (falls back to all tokens if only stop words)."""
    toks = _WORD.findall(text.lower())
    kept = [t for t in toks if t not in STOPWORDS]
    return kept or toks
