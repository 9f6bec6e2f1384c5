"""mypy on the base layer (dse.formats, dse.error, dse.errors) and the models above it
(hwmodels, workloads): the packages and options are pyproject.toml's [tool.mypy]."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_finds_no_type_error_in_the_base_layer_and_models(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Success: no issues found" in run.stdout
    checked = int(run.stdout.rsplit(" in ", 1)[1].split()[0])
    assert checked >= 30, run.stdout  # the configured packages, not an empty selection
