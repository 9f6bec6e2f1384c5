"""A fresh machine: the built wheel, installed in a new environment, works outside the repo.

The wheel is built offline from a copy of the package sources (no build isolation: setuptools
comes from the test extra) and installed with `--no-deps` into a new virtual environment whose
only other path is this interpreter's site-packages, for the dependencies (added as a plain
path, so this environment's editable install of the repo is not active there). Commands run
from a directory outside the repo; the test fails if any of them reads the source tree.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("dse", "hwmodels", "workloads", "reports")


def _run(*args: str | Path, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, (args, proc.stdout[-2000:], proc.stderr[-2000:])
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """(bin directory of a new environment holding only the installed wheel, its environ)."""
    tmp = tmp_path_factory.mktemp("fresh")
    src = tmp / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in PACKAGES:
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    pip = (sys.executable, "-m", "pip")
    _run(*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", src,
         "-w", tmp / "dist", cwd=tmp)  # fmt: skip
    (wheel,) = (tmp / "dist").glob("format_dse-*.whl")
    venv = tmp / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp)
    python = venv / "bin" / "python"
    _run(*pip, "--python", python, "install", "--no-deps", "--no-index", "-q", wheel, cwd=tmp)
    purelib = _run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))",
                   cwd=tmp).stdout.strip()  # fmt: skip
    Path(purelib, "_test_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env |= {"PYTHONNOUSERSITE": "1", "PYTHONSAFEPATH": "1"}
    return venv / "bin", env


def test_wheel_runs_outside_the_repo(installed: tuple[Path, dict], tmp_path: Path) -> None:
    bindir, env = installed
    where = _run(bindir / "python", "-c", f"import {', '.join(PACKAGES)}; "
                 f"print({', '.join(f'{p}.__file__' for p in PACKAGES)})",
                 cwd=tmp_path, env=env).stdout.split()  # fmt: skip
    assert all(Path(f).is_relative_to(bindir.parent) for f in where), where
    shown = _run(bindir / "dse", "hw", "show", "edge-16nm", cwd=tmp_path, env=env).stdout
    assert shown.startswith("edge-16nm: Edge accelerator"), shown
    presets = _run(bindir / "dse", "hw", "show", cwd=tmp_path, env=env).stdout
    assert "anda-16nm, datacenter-7nm, edge-16nm" in presets, presets
    shutil.copy(ROOT / "configs" / "quickstart.yaml", tmp_path / "quickstart.yaml")
    out = _run(bindir / "dse", "run", "quickstart.yaml", "--quiet", cwd=tmp_path, env=env).stdout
    assert "378 design points evaluated" in out, out
    assert (tmp_path / "out" / "quickstart" / "results.csv").is_file()
    html = (tmp_path / "out" / "quickstart" / "report.html").read_text()
    assert "Plotly.newPlot" in html  # report.js, read from the installed package
