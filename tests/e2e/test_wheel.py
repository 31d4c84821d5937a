"""The installed distribution: a wheel that ships the seed documents and the reader under one ``docqa`` namespace,
installed into a fresh environment, answers from another folder."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

from tests.conftest import ROOT


def _run(cmd: list, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=900, **kw)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    return r


def test_the_wheel_ships_the_seeds_and_answers_from_another_folder(tmp_path):
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", wheels, ROOT])
    (whl,) = wheels.glob("docqa-*.whl")
    names = zipfile.ZipFile(whl).namelist()
    tops = {n.split("/")[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"docqa"}  # no generic top-level names
    assert any(n.startswith("docqa/seeds/") and n.endswith(".txt") for n in names)
    assert {"docqa/qa/models/reader/reader-int8.safetensors", "docqa/qa/models/reader/reader.json"} <= set(names)

    # a fresh environment: its dependencies come from this one (a .pth line, so this one's editable install is
    # not activated there), DocQA itself only from the wheel
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv])
    (site,) = (venv / "lib").glob("python3*/site-packages")
    (site / "_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "-q", "--no-deps", whl])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "DOCQA_INDEX_HOME": str(tmp_path / "indexes")}
    where = _run([venv / "bin" / "python", "-c", "import docqa.qa; print(docqa.qa.__file__)"], cwd=elsewhere, env=env)
    assert Path(where.stdout.strip()).is_relative_to(site)
    out = _run([venv / "bin" / "docqa", "ask", "What is THAAD?"], cwd=elsewhere, env=env).stdout
    assert "A: Terminal High Altitude Area Defense" in out and "000_01cb2e2d8b3a0f1d.txt" in out
