"""Synthetic unanswerable questions for training the reader to say "not in this passage".

SQuAD v2.0's unanswerable questions are written against the very paragraph they cannot be answered from, most
often by swapping an entity for one the paragraph does not mention or by negating the question. BM25 negatives
(another paragraph of the article) do not teach that: the wrong paragraph rarely looks right. These do, from
SQuAD v1.1 train alone (no v2.0 data is used):

- **entity swap**: a named entity or date of the question (``SWAP_LABELS``) that the paragraph contains is
  replaced by one of the same spaCy type taken from a question of another article, which the paragraph does not
  contain ("Who is the president of France?" over a paragraph about France -> "... of Germany?");
- **negation**: where no entity can be swapped, the question's first auxiliary is negated ("When did the war
  end?" -> "When did not the war end?" or "When didn't the war end?").

Each pair is labelled no-answer (start = -1) on the question's own paragraph.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Sequence

SWAP_LABELS = frozenset(
    {"PERSON", "ORG", "GPE", "NORP", "LOC", "FAC", "EVENT", "WORK_OF_ART", "PRODUCT", "LAW", "LANGUAGE", "DATE"}
)
# auxiliaries and their contracted negation
AUX = {a: f"{a}n't" for a in "is was are were did does do could has had have would should".split()}
AUX |= {"will": "won't", "can": "can't"}
_WORD = re.compile(r"\S+")


def negate(question: str, contract: bool = False) -> str | None:
    """The question with its first auxiliary among the first four words negated ("was" -> "was not", or with
    ``contract`` "wasn't"), or None when it has none or is negated already."""
    words = list(_WORD.finditer(question))
    for i, m in enumerate(words[:4]):
        word = m.group()
        if word.lower() in AUX and i > 0:
            nxt = words[i + 1].group().lower() if i + 1 < len(words) else ""
            if nxt in {"not", "never"} or nxt.endswith("n't"):
                return None
            neg = AUX[word.lower()] if contract else word + " not"
            return question[: m.start()] + (neg if word.islower() else neg.capitalize()) + question[m.end() :]
    return None


def swap_entity(
    question: str,
    context: str,
    ents: Sequence[tuple[str, int, int]],
    pool: dict[str, list[tuple[str, int]]],
    article: int,
    rng: random.Random,
    tries: int = 8,
) -> str | None:
    """The question with one of its entities (``(label, start, end)``) that ``context`` contains replaced by a
    same-label entity from another article's question that ``context`` does not contain, or None."""
    low = context.lower()
    cands = [e for e in ents if e[0] in SWAP_LABELS and question[e[1] : e[2]].lower() in low]
    if not cands:
        return None
    label, s, e = rng.choice(cands)
    old = question[s:e].lower()
    options = pool.get(label, [])
    for _ in range(tries if options else 0):
        text, art = options[rng.randrange(len(options))]
        if question[:s].lower().endswith("the ") and text.lower().startswith("the "):
            text = text[4:]
        if art != article and text.lower() != old and text.lower() not in low:
            return question[:s] + text + question[e:]
    return None


def synthesize(
    questions: Sequence[str],
    contexts: Sequence[str],
    articles: Sequence[int],
    entities: Sequence[Sequence[tuple[str, int, int]]],
    seed: int = 0,
) -> list[tuple[str, str] | None]:
    """One synthetic unanswerable ``(kind, question)`` per input question (entity swap, else negation) or None.

    ``entities[i]`` are the spaCy entities of ``questions[i]`` as ``(label, start_char, end_char)``.
    """
    rng = random.Random(seed)
    pool: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for q, art, ents in zip(questions, articles, entities, strict=True):
        for label, s, e in ents:
            if label in SWAP_LABELS:
                pool[label].append((q[s:e], art))
    out: list[tuple[str, str] | None] = []
    for q, ctx, art, ents in zip(questions, contexts, articles, entities, strict=True):
        swapped = swap_entity(q, ctx, ents, pool, art, rng)
        if swapped is not None:
            out.append(("swap", swapped))
            continue
        negated = negate(q, contract=rng.random() < 0.5)
        out.append(("negation", negated) if negated is not None else None)
    return out


def question_entities(questions: Sequence[str]) -> list[list[tuple[str, int, int]]]:
    """spaCy (``en_core_web_sm``) entities of each question as ``(label, start_char, end_char)``."""
    from docqa.qa.answer_type import entity_recognizer

    nlp = entity_recognizer()
    return [[(e.label_, e.start_char, e.end_char) for e in doc.ents] for doc in nlp.pipe(questions, batch_size=512)]
