"""Your own evaluation, and re-checking saved answers.

- :func:`evaluate` runs a user's labelled questions (``{"question", "answer", "document"?}`` per line; an empty or
  null answer means the documents do not answer) and reports EM/F1, cited-document accuracy and abstention.
- :func:`verify` re-checks saved answers (the feedback log, or ``docqa ask --json`` output) against the current
  documents: a citation holds when its document still exists, its text still has the same sha256, and the
  cited offsets still hold the cited text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from docqa.index.backend import IndexView
from docqa.qa.errors import QAError
from docqa.qa.feedback import read_jsonl
from docqa.qa.metrics import best_over, exact_match, f1_score

__all__ = ["EvalReport", "evaluate", "read_jsonl", "verify"]


@dataclass
class EvalReport:
    """What ``evaluate`` measured."""

    questions: int = 0
    answerable: int = 0
    em: float = 0.0
    f1: float = 0.0
    answered: int = 0
    with_document: int = 0
    right_document: int = 0
    unanswerable: int = 0
    abstained: int = 0
    errors: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        n = max(1, self.questions)
        return {
            "questions": self.questions,
            "EM": round(100 * self.em / n, 1),
            "F1": round(100 * self.f1 / n, 1),
            "answerable_answered": round(self.answered / self.answerable, 3) if self.answerable else None,
            "cited_document_accuracy": round(self.right_document / self.with_document, 3)
            if self.with_document
            else None,
            "unanswerable_abstained": round(self.abstained / self.unanswerable, 3) if self.unanswerable else None,
            "errors": len(self.errors),
        }


def evaluate(service: Any, items: Iterable[dict[str, Any]]) -> EvalReport:
    """Ask every labelled question of ``items`` and score the answers (SQuAD normalisation)."""
    rep = EvalReport()
    for item in items:
        q = item.get("question")
        gold = item.get("answer")
        golds = [gold] if isinstance(gold, str) else [g for g in (gold or []) if isinstance(g, str)]
        golds = [g for g in golds if g.strip()]
        try:
            ans = service.answer(q)
        except QAError as exc:
            rep.errors.append(f"{q!r}: {exc}")
            continue
        rep.questions += 1
        row: dict[str, Any] = {"question": ans.question, "expected": golds, "answer": ans.text, "found": ans.found}
        if golds:
            rep.answerable += 1
            rep.answered += ans.found
            em = best_over(exact_match, ans.text, golds) if ans.found else 0.0
            f1 = best_over(f1_score, ans.text, golds) if ans.found else 0.0
            rep.em += em
            rep.f1 += f1
            row.update(EM=em, F1=round(f1, 3))
        else:
            rep.unanswerable += 1
            rep.abstained += not ans.found
            rep.em += not ans.found
            rep.f1 += not ans.found
        want_doc = item.get("document")
        if want_doc and golds:
            rep.with_document += 1
            cited = ans.citations[0] if ans.citations else None
            ok = cited is not None and want_doc in (cited.doc_id, cited.doc_name)
            rep.right_document += ok
            row["right_document"] = ok
        rep.rows.append(row)
    return rep


def _citations(rec: dict[str, Any]) -> list[dict[str, Any]]:
    cits = list(rec.get("citations") or [])
    for alt in rec.get("alternatives") or []:
        cits += alt.get("citations") or []
    return cits


def verify(view: IndexView, records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The citations of saved answers that no longer hold, each with the reason."""
    problems = []
    docs = {d.doc_id for d in view.documents()}
    for n, rec in enumerate(records, start=1):
        for c in _citations(rec):
            why = None
            if c.get("doc_id") not in docs:
                why = "document no longer in the index"
            else:
                doc = view.document(c["doc_id"])
                start, end = int(c.get("start", -1)), int(c.get("end", -1))
                if c.get("doc_sha256") and c["doc_sha256"] != doc.text_sha256:
                    changed = doc.text[start:end] != c.get("text") if 0 <= start <= end else True
                    why = "document text changed" + (" and the cited text moved" if changed else "")
                elif not 0 <= start <= end <= len(doc.text) or doc.text[start:end] != c.get("text"):
                    why = "cited offsets no longer hold the cited text"
            if why:
                problems.append(
                    {
                        "record": n,
                        "question": rec.get("question", ""),
                        "doc_id": c.get("doc_id"),
                        "start": c.get("start"),
                        "end": c.get("end"),
                        "text": c.get("text"),
                        "reason": why,
                    }
                )
    return problems
