"""The audit trail of a shared server: who (token name) changed what, when, one JSON line per change.

Uploads and deletions are written beside their collection's index; token creation and revocation beside the token
file. Tokens themselves are never written, only their names and ids.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

AUDIT_FILE = "audit.jsonl"


class AuditLog:
    """Appends ``{"time", "who", "token_id", "action", ...}`` lines to one JSONL file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def add(self, who: str, token_id: str, action: str, **detail: Any) -> None:
        row = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "who": who, "token_id": token_id, "action": action}
        row.update(detail)
        line = json.dumps(row, ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(line)

    def rows(self) -> list[dict]:
        """Every line (for tests and for reading back)."""
        try:
            return [json.loads(ln) for ln in self.path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        except FileNotFoundError:
            return []
