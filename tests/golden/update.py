"""Regenerate the golden results (`python tests/golden/update.py`).

Run this only when a change is meant to move results (an error model made more exact, a
constant corrected), and say in the commit message which columns moved and why. A change
that is meant to preserve behaviour (a refactor) must leave `tests/test_golden.py` green
without regenerating. Moved tables are written only under a new `dse.columns.RESULTS_VERSION`
(it is in every resume key: stored rows of the older engine are then not resumed); the
version is recorded in tests/golden/RESULTS_VERSION.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import pandas as pd  # noqa: E402
from test_golden import (  # noqa: E402
    SWEEPS,
    VERSION_FILE,
    golden_path,
    moved_columns,
    run_sweep,
)

from dse.columns import RESULTS_VERSION  # noqa: E402


def main() -> int:
    recorded = VERSION_FILE.read_text().strip() if VERSION_FILE.exists() else None
    with tempfile.TemporaryDirectory() as work:  # fresh runs: nothing resumed from older ones
        tables = {name: run_sweep(name, Path(work)) for name in SWEEPS}
    moved = {
        name: cols for name, t in tables.items() if golden_path(name).exists()
        and (cols := _moved(t, pd.read_parquet(golden_path(name))))
    }  # fmt: skip
    if moved and recorded == RESULTS_VERSION:
        for name, cols in moved.items():
            print(f"{name}: moved: {'; '.join(cols[:4])}", file=sys.stderr)
        print(f"results moved under the same RESULTS_VERSION {RESULTS_VERSION!r}: bump "
              "dse.columns.RESULTS_VERSION (stored rows of the older engine must not be "
              "resumed), then run this again", file=sys.stderr)  # fmt: skip
        return 1
    for name, table in tables.items():
        table.to_parquet(golden_path(name), index=False)
        print(f"wrote {golden_path(name)} ({len(table)} rows x {len(table.columns)} columns)")
    VERSION_FILE.write_text(RESULTS_VERSION + "\n")
    return 0


def _moved(got: pd.DataFrame, want: pd.DataFrame) -> list[str]:
    if list(got.columns) != list(want.columns) or len(got) != len(want):
        return ["columns or rows"]
    return moved_columns(got, want)


if __name__ == "__main__":
    sys.exit(main())
