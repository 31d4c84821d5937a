"""The REST contract: schemathesis (`st run --checks all`) against the server's own OpenAPI spec, over real HTTP,
on an open server and on one with tokens. Every status and error body must be documented, and schema-valid
requests accepted, schema-invalid ones refused."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SEEDS, serve

CONFIG = Path(__file__).with_name("schemathesis.toml")


def run_schemathesis(base: str, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run", f"{base}openapi.json"]
    cmd += ["--checks", "all", "--max-examples", "40", "--seed", "1", "--no-color", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("with_tokens", [False, True], ids=["open", "tokens"])
def test_schemathesis_finds_no_contract_failure(tmp_path, with_tokens):
    from docqa.qa import QA
    from docqa.ui.tokens import TokenStore

    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    service = QA.from_corpus(corpus, tmp_path / "ix")
    store = TokenStore(tmp_path / "tokens.json")
    extra: tuple[str, ...] = ()
    if with_tokens:
        extra = ("--header", f"Authorization: Bearer {store.create('admin')[0]}")
    with serve(service, tokens=store) as base:
        out = run_schemathesis(base, *extra)
    summary = out.stdout[-3000:]
    assert out.returncode == 0, summary
    assert " passed" in summary and "failure" not in summary.split("Test cases:")[-1], summary
