"""Where DocQA keeps what it can rebuild (indexes, exported model graphs): the user cache, never the source tree."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """``$XDG_CACHE_HOME/docqa/<parts>`` (``~/.cache/docqa/<parts>`` when the variable is unset or empty)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base, "docqa", *parts)
