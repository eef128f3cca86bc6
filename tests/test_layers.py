"""The import contracts in pyproject.toml hold, and would catch a back-edge.

`make check` runs `lint-imports` on the tree; this proves the contracts are not vacuous by
running it on a copy of the tree with one forbidden import added for each rule.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _copy_tree(target: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "templates", "static")
    for package in ("app", "sandbox", "devkit", "bench"):
        shutil.copytree(ROOT / package, target / package, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", target / "pyproject.toml")
    return target


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
    )


def test_the_tree_keeps_every_contract(tmp_path: Path) -> None:
    result = _lint(_copy_tree(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "back_edge", "contract"),
    [
        ("app/bridge/zz_probe.py", "import app.web.views", "app: one-way layers"),
        ("app/slack/zz_probe.py", "import app.bridge.ingest", "app: one-way layers"),
        ("app/db/zz_probe.py", "import app.tenants.store", "app: one-way layers"),
        ("app/zz_probe.py", "import sandbox.slack_world", "the product imports no tooling"),
        ("sandbox/zz_probe.py", "import app.signing", "the simulators share no code"),
    ],
)
def test_a_back_edge_breaks_its_contract(
    tmp_path: Path, module: str, back_edge: str, contract: str
) -> None:
    tree = _copy_tree(tmp_path)
    (tree / module).write_text(back_edge + "\n")
    result = _lint(tree)
    assert result.returncode != 0
    broken = [line for line in result.stdout.splitlines() if line.endswith("BROKEN")]
    assert any(line.startswith(contract) for line in broken), result.stdout
