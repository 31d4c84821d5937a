"""Faults during updates: a full disk, and the server killed (SIGKILL) while an upload is being indexed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request

from docqa.index.faiss_store import load_version
from tests.conftest import ROOT, SEED_FILE, build_index, free_port
from tests.ui.test_api import call

FILL = " ".join(
    f"Report {i} notes that the harbour crane number {i} was serviced on day {i % 28}." for i in range(3000)
)


def test_full_disk_leaves_the_previous_index_and_says_why(tmp_path, corpus_dir):
    ix = tmp_path / "ix"
    old, _ = build_index(corpus_dir, ix)
    (corpus_dir / "big.txt").write_text(FILL)  # ~250 KB of text: the new version cannot be written under 100 KB
    script = textwrap.dedent(
        f"""
        import resource
        from docqa.index.sync import open_index
        from docqa.qa.errors import IndexWriteError
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
        try:
            open_index({str(corpus_dir)!r}, {str(ix)!r})
        except IndexWriteError as exc:
            print("REFUSED", exc)
        """
    )
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert "REFUSED" in r.stdout, r.stdout + r.stderr
    assert "previous version is unchanged" in r.stdout
    survived = load_version(ix)
    assert survived.path == old.path and set(survived.docs) == set(old.docs)
    assert not list(ix.glob(".tmp-*"))
    # and the previous index still answers
    from docqa.index.faiss_store import FaissStore
    from docqa.qa import QA

    store = FaissStore(ix)
    store.load()
    ans = QA(store).answer("What is THAAD?")
    assert ans.found and "Terminal High Altitude Area Defense" in ans.text


def _start(corpus, ix, port) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "docqa.ui.cli",
        "serve",
        "--corpus",
        str(corpus),
        "--index",
        str(ix),
        "--port",
        str(port),
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else "server exited"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise AssertionError("server did not start")


def test_server_killed_during_upload_build_restarts_on_previous_index(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / SEED_FILE.name).write_bytes(SEED_FILE.read_bytes())
    ix = tmp_path / "ix"
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    proc = _start(corpus, ix, port)
    try:
        before = load_version(ix)
        status, out, _ = call(f"{base}api/documents", "POST", files={"file": ("cranes.txt", FILL.encode())})
        assert status == 202
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            job = call(f"{base}api/jobs/{out['job']['job_id']}")[1]
            if job["stage"] == "embedding" or job["state"] != "queued":
                break
            time.sleep(0.05)
        assert job["state"] == "running", job  # killed mid-build, not after
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    survived = load_version(ix)
    assert survived.path == before.path  # the previous version is still the live one
    assert (ix / "uploads" / "cranes.txt").read_bytes() == FILL.encode()  # the upload itself was kept
    proc = _start(corpus, ix, port)  # the restart indexes what was uploaded
    try:
        docs = {d["doc_id"] for d in call(f"{base}api/documents")[1]["documents"]}
        assert docs == {SEED_FILE.name, "uploads/cranes.txt"}
        _, ans, _ = call(f"{base}api/answer", "POST", {"question": "When was harbour crane number 17 serviced?"})
        assert ans["found"] and ans["citations"][0]["doc_id"] == "uploads/cranes.txt", json.dumps(ans)[:500]
    finally:
        proc.kill()
        proc.wait(30)
