"""A real ``docqa serve`` process on loopback for the HTTP benchmarks (load, soak), and the requests they send."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.common import ROOT


def request(url: str, method: str = "GET", body: bytes | None = None, headers: dict | None = None):
    """One HTTP request; returns (status, JSON body) for successes and HTTP errors alike."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, {"raw": raw[:200].decode("utf-8", "replace")}


def ask(base: str, question: str, client_id: str) -> tuple[int, dict]:
    """``POST /api/answer`` as one identified client."""
    body = json.dumps({"question": question}).encode()
    headers = {"Content-Type": "application/json", "X-Client-Id": client_id}
    return request(base + "api/answer", "POST", body, headers)


def multipart(name: str, content: bytes) -> tuple[bytes, dict]:
    """A multipart/form-data body with one file field ``file``."""
    boundary = "----docqa-bench-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


@dataclass
class Served:
    """A running server: its base URL, process and the corpus folder it indexes."""

    base: str
    process: subprocess.Popen
    corpus: Path
    log: Path


@contextmanager
def serve_seeds(*extra: str, startup_s: float = 300) -> Iterator[Served]:
    """Run the installed ``docqa serve`` on a copy of ``seeds/`` in a temporary folder until the block ends."""
    with _serve(lambda tmp: ["--corpus", str(tmp / "corpus"), "--index", str(tmp / "ix"), *extra], startup_s) as s:
        yield s


@contextmanager
def serve_team(folders: dict[str, str], tokens_file: Path, startup_s: float = 300) -> Iterator[Served]:
    """``docqa serve`` with the seeds as collection ``hr`` plus ``folders`` (name -> text of one file), behind the
    tokens of ``tokens_file``."""

    def args(tmp: Path) -> list[str]:
        out = ["--collection", f"hr={tmp / 'corpus'}", "--tokens", str(tokens_file)]
        for name, text in folders.items():
            (tmp / name).mkdir()
            (tmp / name / f"{name}.txt").write_text(text)
            out += ["--collection", f"{name}={tmp / name}"]
        return out

    with _serve(args, startup_s) as s:
        yield s


@contextmanager
def _serve(args, startup_s: float) -> Iterator[Served]:
    tmp = Path(tempfile.mkdtemp())
    corpus = tmp / "corpus"
    shutil.copytree(ROOT / "seeds", corpus)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).with_name("docqa")
    log_path = tmp / "server.log"
    log = open(log_path, "w")  # noqa: SIM115
    # the benchmark's clients all come from loopback: as behind a proxy, X-Client-Id tells them apart
    cmd = [str(exe), "serve", *args(tmp), "--port", str(port), "--trusted-proxy", "127.0.0.1"]
    env = {**os.environ, "DOCQA_INDEX_HOME": str(tmp / "indexes")}  # collections' default index folders
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + startup_s
        while True:
            try:
                if request(base + "api/health")[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"server did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.5)
        yield Served(base, server, corpus, log_path)
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)
