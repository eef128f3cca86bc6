"""The simulators are a leaf: they import nothing of the product, so they cannot share its
assumptions about Slack and Genesys (signatures, payloads, scopes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_importing_every_simulator_module_loads_nothing_from_app() -> None:
    names = sorted(p.stem for p in (ROOT / "sandbox").glob("*.py") if p.stem != "__init__")
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module('sandbox.' + name)\n"
        "print(' '.join(sorted(m for m in sys.modules if m == 'app' or m.startswith('app.'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert len(names) > 30
    assert done.stdout.split() == []
