"""Regenerate the golden results (`python tests/golden/update.py`).

Run this only when a change is meant to move results (an error model made more exact, a
constant corrected), and say in the commit message which columns moved and why. A change
that is meant to preserve behaviour (a refactor) must leave `tests/test_golden.py` green
without regenerating.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from test_golden import SWEEPS, golden_path, run_sweep  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as work:  # fresh runs: nothing resumed from older ones
        for name in SWEEPS:
            table = run_sweep(name, Path(work))
            table.to_parquet(golden_path(name), index=False)
            print(f"wrote {golden_path(name)} ({len(table)} rows x {len(table.columns)} columns)")


if __name__ == "__main__":
    main()
