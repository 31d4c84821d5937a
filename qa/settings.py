"""Typed, validated settings of the question-answering pipeline (defaults chosen on SQuAD dev half a)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from docqa.qa.fusion import FusionSettings
from docqa.qa.readers.sentence import SentenceReaderSettings
from docqa.qa.readers.span import SpanReaderSettings

SEEDS_DIR = Path(__file__).resolve().parent.parent / "seeds"

ReaderChoice = Literal["auto", "span", "sentence"]
SentenceAnswers = Literal["never", "why-how"]


@dataclass(frozen=True)
class QASettings:
    """Knobs of ``QA.answer``.

    ``top_k``: passages retrieved (and shown); each reader reads its own ``passages`` of them.
    ``reader``: "auto" uses the span reader when it loads and the sentence reader otherwise.
    ``sentence_fallback``: when the span reader abstains, a sentence scoring at least this answers (None: never;
    measured on SQuAD half a it costs 20 F1, see bench/results/answer_policy.md, ``python -m train.calibrate``).
    ``abstain``: False always returns the best candidate (benchmarks measure readers this way).
    ``sentence_answers``: "why-how" answers why/how-questions with the whole sentence around the best span.
    ``alternatives``: how many other credible answers (from other passages) come with the best one.
    ``tables``: a question that names one table row and one of its columns is answered by that cell
    (``qa.readers.table``), unless the span reader is more confident elsewhere.
    """

    top_k: int = 5
    fusion: FusionSettings = field(default_factory=FusionSettings)
    span: SpanReaderSettings = field(default_factory=SpanReaderSettings)
    sentence: SentenceReaderSettings = field(default_factory=SentenceReaderSettings)
    reader: ReaderChoice = "auto"
    sentence_fallback: float | None = None
    abstain: bool = True
    sentence_answers: SentenceAnswers = "never"
    alternatives: int = 2
    tables: bool = True

    def __post_init__(self) -> None:
        if self.top_k < 1:
            raise ValueError(f"top_k must be at least 1, not {self.top_k}")
        if self.reader not in get_args(ReaderChoice):
            raise ValueError(f"unknown reader {self.reader!r} (choose {', '.join(get_args(ReaderChoice))})")
        if self.sentence_answers not in get_args(SentenceAnswers):
            raise ValueError(f"sentence_answers must be one of {get_args(SentenceAnswers)}")
        if not 0 <= self.alternatives <= 5:
            raise ValueError(f"alternatives must be within [0, 5], not {self.alternatives}")
        if self.sentence_fallback is not None and not 0 <= self.sentence_fallback <= 1:
            raise ValueError(f"sentence_fallback must be within [0, 1] or None, not {self.sentence_fallback}")
