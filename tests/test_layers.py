"""The layers point one way: ui -> qa -> index. Checked on the source, so a new upward import fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {"index": {"qa", "ui"}, "qa": {"ui"}, "ui": set()}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
    return out


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_upward_imports(package):
    bad = {
        str(f.relative_to(ROOT)): sorted(_imports(f) & FORBIDDEN[package])
        for f in (ROOT / package).rglob("*.py")
        if _imports(f) & FORBIDDEN[package]
    }
    assert bad == {}, f"{package}/ must not import {sorted(FORBIDDEN[package])}: {bad}"


def test_no_lazy_import_workaround():
    src = (ROOT / "qa" / "__init__.py").read_text(encoding="utf-8")
    assert "def __getattr__" not in src


def test_the_check_catches_an_upward_import(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("import os\nfrom qa.types import Hit\n")
    assert _imports(f) & FORBIDDEN["index"] == {"qa"}
