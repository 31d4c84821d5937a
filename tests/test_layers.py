"""The layers point one way: ui -> qa -> index, and no module imports itself back through another.

Checked on the source (every import, also those inside functions), so a new upward import or a new circle
fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("index", "qa", "ui")
FORBIDDEN = {"index": {"qa", "ui"}, "qa": {"ui"}, "ui": set()}


def _module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return "docqa." + ".".join(parts)


def _imported_modules(path: Path, root: Path = ROOT) -> set[str]:
    """Absolute names of the docqa modules (or packages) that ``path`` imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = _module_name(path, root).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            out.add(base)
            out |= {f"{base}.{a.name}" for a in node.names}  # `from pkg import module`
    return {m for m in out if m.startswith("docqa.")}


def _layer(module: str) -> str:
    return module.split(".")[1]


def _graph(root: Path = ROOT) -> dict[str, set[str]]:
    files = {_module_name(f, root): f for layer in LAYERS for f in (root / layer).rglob("*.py")}
    graph = {}
    for name, f in files.items():
        graph[name] = {m for m in _imported_modules(f, root) if m in files and m != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each circle among modules (package __init__ re-exports excluded: a package may re-export its own modules)."""

    def edges(m: str) -> set[str]:
        # `from docqa.index.x import y` imports the package docqa.index first; that is not a circle of modules.
        return {d for d in graph[m] if not (m.startswith(d + ".") or d.startswith(m + "."))}

    cycles, state = [], {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for d in sorted(edges(m)):
            if state.get(d) == 1:
                cycles.append(stack[stack.index(d) :] + [d])
            elif d not in state:
                visit(d, [*stack, d])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    return cycles


@pytest.mark.parametrize("layer", LAYERS)
def test_no_upward_imports(layer):
    bad = {
        name: sorted({_layer(m) for m in deps} & FORBIDDEN[layer])
        for name, deps in _graph().items()
        if _layer(name) == layer and {_layer(m) for m in deps} & FORBIDDEN[layer]
    }
    assert bad == {}, f"{layer}/ must not import {sorted(FORBIDDEN[layer])}: {bad}"


def test_no_import_circles():
    assert _cycles(_graph()) == []


def test_no_lazy_import_workaround():
    src = (ROOT / "qa" / "__init__.py").read_text(encoding="utf-8")
    assert "def __getattr__" not in src


def test_the_checks_catch_an_upward_import_and_a_circle(tmp_path):
    for layer in LAYERS:
        (tmp_path / layer).mkdir()
    (tmp_path / "index" / "a.py").write_text("import os\nfrom docqa.qa.types import Hit\n")
    (tmp_path / "qa" / "types.py").write_text("")
    (tmp_path / "qa" / "b.py").write_text("def f():\n    from docqa.qa import c\n")
    (tmp_path / "qa" / "c.py").write_text("from .b import f\n")
    graph = _graph(tmp_path)
    assert graph["docqa.index.a"] == {"docqa.qa.types"}
    assert _cycles(graph) == [["docqa.qa.b", "docqa.qa.c", "docqa.qa.b"]]
