"""`python -m bench` from the checkout: matplotlib is a dev-only dependency, loaded only to plot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def loaded_after(statement: str) -> set[str]:
    code = f"{statement}\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(done.stdout.split())


def test_starting_the_bench_does_not_import_matplotlib() -> None:
    modules = loaded_after("import bench.runner, bench.report")
    assert "bench.runner" in modules
    assert "matplotlib" not in modules


def test_the_plot_is_what_imports_matplotlib() -> None:
    assert "matplotlib" in loaded_after("import bench.plot")


def test_help_lists_every_fault_scenario() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    for name in ("kill_worker", "restart_postgres", "two_by_two", "--quick", "--write-docs"):
        assert name in done.stdout
