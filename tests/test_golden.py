"""Golden results: every result column of the quickstart and the four study sweeps, compared
bit for bit with the stored tables in `tests/golden/` (regenerated only on purpose, by
`python tests/golden/update.py`, when a change is meant to move results).

This is the guard for behaviour-preserving changes (refactors): one changed bit in any column
of any row fails, and the message names the sweep, the column and the first rows that differ.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import dse

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).resolve().parent / "golden"
SWEEPS = ("quickstart", "student-t-formats", "fp4-fp8-mix", "anda", "blockdialect")


def golden_path(name: str) -> Path:
    return GOLDEN / f"{name}.parquet"


def run_sweep(name: str, out: Path) -> pd.DataFrame:
    """The sweep `configs/<name>.yaml` run in process into `out`, without a report."""
    cfg = yaml.safe_load((ROOT / "configs" / f"{name}.yaml").read_text())
    return dse.run(cfg, output_dir=out / name, report=False).reset_index(drop=True)


def _same(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Element-wise identity: equal values, or both missing (NaN where NaN)."""
    if a.dtype.kind == "f" and b.dtype.kind == "f":
        x, y = a.to_numpy(), b.to_numpy()
        return (x.view(np.int64) == y.view(np.int64)) | (np.isnan(x) & np.isnan(y))
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
    moved = []
    for col in want.columns:
        same = _same(got[col], want[col])
        if not same.all():
            rows = np.flatnonzero(~same)[:3]
            moved.append(
                f"{col} ({(~same).sum()} rows, e.g. row {rows[0]}: "
                f"{got[col].iloc[rows[0]]!r} vs golden {want[col].iloc[rows[0]]!r})"
            )
    assert not moved, f"{name}: " + "; ".join(moved)
