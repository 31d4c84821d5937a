"""Every benchmark and training script imports (they run as modules: python -m bench.X, python -m train.X)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted(
    f"{p.parent.name}.{p.stem}" for d in ("bench", "train") for p in (ROOT / d).glob("*.py") if p.stem != "__init__"
)


@pytest.mark.parametrize("module", SCRIPTS)
def test_script_imports(module):
    importlib.import_module(module)
