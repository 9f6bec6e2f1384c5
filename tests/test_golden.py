"""Golden results: every result column of the quickstart and the four study sweeps, compared
with the stored tables in `tests/golden/` (regenerated only on purpose, by
`python tests/golden/update.py`, when a change is meant to move results).

This is the guard for behaviour-preserving changes (refactors): text, integer and boolean
columns must be identical; float columns identical up to GOLDEN_RTOL, NaN where NaN. The
tolerance is not slack in the model: numpy's vectorised exp/log/power pick their code by the
CPU's instruction set (AVX2, AVX-512), so the same code gives results that differ in the last
bits between machines (measured: up to 1.6e-15 relative, 7 ulp, between the machine that wrote
the tables and an AMD EPYC one). Any change of a model moves results by far more. The message
names the sweep, the column and the first rows that differ.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import dse
from dse.columns import RESULTS_VERSION

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).resolve().parent / "golden"
SWEEPS = ("quickstart", "student-t-formats", "fp4-fp8-mix", "anda", "blockdialect")
#: Relative tolerance of float columns (see the module docstring): about 450 ulp, 60x the
#: largest difference measured between two CPUs.
GOLDEN_RTOL = 1e-13


VERSION_FILE = GOLDEN / "RESULTS_VERSION"


def golden_path(name: str) -> Path:
    return GOLDEN / f"{name}.parquet"


def run_sweep(name: str, out: Path) -> pd.DataFrame:
    """The sweep `configs/<name>.yaml` run in process into `out`, without a report."""
    cfg = yaml.safe_load((ROOT / "configs" / f"{name}.yaml").read_text())
    return dse.run(cfg, output_dir=out / name, report=False).reset_index(drop=True)


def moved_columns(got: pd.DataFrame, want: pd.DataFrame) -> list[str]:
    """Columns of `got` that differ from `want` (`_same`), with the first differing row."""
    moved = []
    for col in want.columns:
        same = _same(got[col], want[col])
        if not same.all():
            rows = np.flatnonzero(~same)[:3]
            moved.append(
                f"{col} ({(~same).sum()} rows, e.g. row {rows[0]}: "
                f"{got[col].iloc[rows[0]]!r} vs golden {want[col].iloc[rows[0]]!r})"
            )
    return moved


def _same(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Element-wise sameness: floats equal within GOLDEN_RTOL (infinities equal, NaN where
    NaN), anything else identical."""
    if a.dtype.kind == "f" and b.dtype.kind == "f":
        x, y = a.to_numpy(), b.to_numpy()
        return np.isclose(x, y, rtol=GOLDEN_RTOL, atol=0.0, equal_nan=True)
    return (a.astype(str) == b.astype(str)).to_numpy()


@pytest.mark.parametrize("name", SWEEPS)
def test_results_are_bit_identical_to_the_golden_tables(name, tmp_path):
    got = run_sweep(name, tmp_path)
    want = pd.read_parquet(golden_path(name))
    assert list(got.columns) == list(want.columns), (
        f"{name}: columns changed: added {sorted(set(got.columns) - set(want.columns))}, "
        f"removed {sorted(set(want.columns) - set(got.columns))}"
    )
    assert len(got) == len(want), f"{name}: {len(got)} rows, golden {len(want)}"
    moved = moved_columns(got, want)
    assert not moved, f"{name}: " + "; ".join(moved)


def test_the_golden_tables_were_written_by_this_results_version():
    """The engine's RESULTS_VERSION (in every resume key) is the one the tables were written
    under: results that moved came with a new version (tests/golden/update.py enforces it)."""
    assert VERSION_FILE.read_text().strip() == RESULTS_VERSION


def test_the_tolerance_passes_last_bit_noise_and_catches_a_model_change():
    x = pd.Series([0.009143160800405946, 32002.56250898009, np.inf, np.nan, 0.0])
    noise = pd.Series(x.to_numpy() * (1 + np.array([1.6e-15, -1.2e-15, 0, 0, 0])))
    assert _same(noise, x).all()
    moved = pd.Series(x.to_numpy() * (1 + 1e-11))  # far below any modelling change
    assert not _same(moved, x)[:2].any() and _same(moved, x)[2:].all()
    assert not _same(pd.Series([0.0, 1.0]), pd.Series([1e-300, np.nan])).any()
    assert not _same(pd.Series(["nf4"]), pd.Series(["nf4/g128"])).any()
