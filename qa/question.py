"""Question validation and normalisation."""

from __future__ import annotations

import unicodedata

from docqa.qa.errors import QuestionError

MAX_QUESTION_CHARS = 1000


def clean_question(question: object) -> str:
    """Validate and normalise a question, or raise QuestionError with a message for the user."""
    if not isinstance(question, str):
        raise QuestionError(f"the question must be text, not {type(question).__name__}")
    if len(question) > 20 * MAX_QUESTION_CHARS:
        raise QuestionError(f"the question is too long ({len(question)} characters; at most {MAX_QUESTION_CHARS})")
    text = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in question)
    text = " ".join(text.split())
    if not text:
        raise QuestionError("the question is empty: type a question about the documents")
    if len(text) > MAX_QUESTION_CHARS:
        raise QuestionError(f"the question is too long ({len(text)} characters; at most {MAX_QUESTION_CHARS})")
    return text
