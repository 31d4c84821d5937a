"""``docqa serve --workers 2``: two answering processes share one read-only index folder and follow its updates."""

from __future__ import annotations

import multiprocessing
import shutil

import pytest

from tests.conftest import SEEDS, serve
from tests.ui.test_api import call, wait_job

MOON = b"The Moon is Earth's only natural satellite. It orbits at an average distance of 384,400 km."


def test_two_worker_processes_answer_and_see_new_versions(tmp_path):
    from docqa.qa import QA

    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    service = QA.from_corpus(corpus, tmp_path / "ix")
    with serve(service, workers=2) as base:
        for _ in range(6):
            got, out, _ = call(f"{base}api/answer", "POST", {"question": "What is THAAD?"})
            assert got == 200 and out["answer"] == "Terminal High Altitude Area Defense"
        got, out, _ = call(f"{base}api/documents", "POST", files={"file": ("moon.txt", MOON)})
        assert got == 202 and wait_job(base, out["job"])["state"] == "done"
        for _ in range(4):  # whichever worker answers has switched to the new version
            got, out, _ = call(f"{base}api/answer", "POST", {"question": "How far away is the Moon?"})
            assert got == 200 and "384,400 km" in out["answer"] and out["citations"][0]["doc_id"] == "uploads/moon.txt"
            assert out["index_version"] == service.index.version
        assert len(multiprocessing.active_children()) >= 2  # the answering processes


def test_workers_need_the_faiss_backend(tmp_path):
    from docqa.qa import QA
    from docqa.qa.errors import SettingsError
    from docqa.ui.server import create_server

    service = QA.from_corpus(SEEDS, tmp_path / "ix", backend="milvus")
    with pytest.raises(SettingsError, match="FAISS backend"):
        create_server(service, workers=2)
    service.backend.close()
