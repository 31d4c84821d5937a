"""Feedback: :class:`FeedbackLog` appends thumbs up/down (question, answer, citation, index version, time) to a
JSONL file beside the index; :func:`read_jsonl` reads such files (``qa.evaluate`` re-checks them)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from docqa.qa.errors import SettingsError
from docqa.qa.types import Answer

Rating = Literal["up", "down"]


class FeedbackLog:
    """Append-only JSONL of ratings; one line per rating, safe across threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def add(self, answer: Answer | dict[str, Any], rating: Rating, comment: str = "") -> dict[str, Any]:
        """Record a rating of an answer (an Answer or its ``to_json()``)."""
        if rating not in ("up", "down"):
            raise SettingsError(f"rating must be 'up' or 'down', not {rating!r}")
        d = answer.to_json() if isinstance(answer, Answer) else answer
        rec = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "rating": rating,
            "comment": str(comment)[:2000],
            "question": d.get("question", ""),
            "answer": d.get("answer", ""),
            "found": bool(d.get("found")),
            "confidence": d.get("confidence"),
            "citations": d.get("citations", [])[:1],
            "index_version": d.get("index_version", ""),
        }
        line = json.dumps(rec, ensure_ascii=False)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")
        return rec

    def records(self) -> list[dict[str, Any]]:
        return list(read_jsonl(self.path)) if self.path.exists() else []


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Records of a JSONL file; a line that is not a JSON object is an error naming the line."""
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError as exc:
                raise SettingsError(f"{path}:{n}: not JSON ({exc})") from None
            if not isinstance(rec, dict):
                raise SettingsError(f"{path}:{n}: expected a JSON object")
            yield rec
