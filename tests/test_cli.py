"""The console script, run as a user would."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from .conftest import SEEDS


def _docqa(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    exe = shutil.which("docqa") or sys.executable
    cmd = [exe, *args] if exe != sys.executable else [exe, "-m", "qa.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def test_index_then_ask_json(tmp_path):
    ix = tmp_path / "ix"
    r = _docqa("index", str(SEEDS), "--index", str(ix), "--quiet")
    assert r.returncode == 0, r.stderr
    assert "indexed 1 document(s)" in r.stdout
    r = _docqa("ask", "When will the drill be held?", "--corpus", str(SEEDS), "--index", str(ix), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["found"] and out["citations"][0]["text"] == out["answer"]
    r = _docqa("ask", "What is THAAD?", "--corpus", str(SEEDS), "--index", str(ix))
    assert r.returncode == 0 and "A: " in r.stdout and "source: 000_01cb2e2d8b3a0f1d.txt" in r.stdout


def test_errors_are_messages_with_nonzero_status(tmp_path):
    r = _docqa("ask", "  ", "--corpus", str(SEEDS), "--index", str(tmp_path / "ix"))
    assert r.returncode == 2 and "error: the question is empty" in r.stderr and "Traceback" not in r.stderr
    r = _docqa("index", str(tmp_path / "missing"), "--index", str(tmp_path / "ix2"))
    assert r.returncode == 2 and "no such file" in r.stderr
