"""Shared fixtures: the real bundled model, real FAISS, real BM25 (loaded once per session)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SEED_FILE = next(SEEDS.glob("*.txt"))


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium for the browser tests: a missing browser fails them under CI (CI=true) and skips them,
    with the command to install it, elsewhere."""
    if not os.path.exists(CHROMIUM):
        why = f"{CHROMIUM} is missing: apt-get install chromium (Debian's package) to run the browser tests"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    return CHROMIUM


def build_index(corpus, index_dir, progress: bool = False, rebuild: bool = False):
    """Open (build or update) the FAISS index of ``corpus``: (view, stats)."""
    from docqa.index.sync import open_index

    store, stats = open_index(corpus, index_dir, rebuild=rebuild, progress=progress)
    return store.view(), stats


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Keep default index folders of the tests out of the user's cache."""
    os.environ["DOCQA_INDEX_HOME"] = str(tmp_path_factory.mktemp("index-home"))


@pytest.fixture(scope="session")
def seed_index_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("seed-index")


@pytest.fixture(scope="session")
def seed_qa(seed_index_dir):
    from docqa.qa import QA

    return QA.from_corpus(SEEDS, seed_index_dir)


@pytest.fixture()
def corpus_dir(tmp_path) -> Path:
    d = tmp_path / "corpus"
    d.mkdir()
    shutil.copy(SEED_FILE, d / SEED_FILE.name)
    return d


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(service, **kwargs) -> Iterator[str]:
    """The real server (FastAPI + the Gradio chat at /) on a free loopback port, in a background thread."""
    import uvicorn

    from docqa.ui.server import create_server

    app = create_server(service, **kwargs)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.config.port}/"
    finally:
        server.should_exit = True
        thread.join(15)
        for pool in app.state.pools:
            pool.close()
