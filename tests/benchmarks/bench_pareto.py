"""Non-dominated marking speed (run on demand: `python tests/benchmarks/bench_pareto.py`).

Marks the front of 3x10^6 rows (target, issue 15: under 2 s on 2 cores) with
`dse.pareto.non_dominated` (moocore), for random objectives (few front rows) and for
anti-correlated ones (a large front), 3 and 4 objectives; prints the best of 3 runs each.
"""

from __future__ import annotations

import time

import numpy as np

from dse.pareto import non_dominated

ROWS = 3_000_000


def tables(rng: np.random.Generator) -> dict[str, np.ndarray]:
    u = rng.random((ROWS, 3))
    tradeoff = np.column_stack([u[:, 0], u[:, 1], 1 - 0.5 * (u[:, 0] + u[:, 1]) + 0.01 * u[:, 2]])
    return {"random, 3 objectives": u, "random, 4 objectives": rng.random((ROWS, 4)),
            "trade-off, 3 objectives": tradeoff}  # fmt: skip


def main() -> None:
    for label, f in tables(np.random.default_rng(0)).items():
        best, front = np.inf, 0
        for _ in range(3):
            t = time.perf_counter()
            front = int(non_dominated(f).sum())
            best = min(best, time.perf_counter() - t)
        print(f"{ROWS:,} rows, {label:26s}: {best:5.2f} s, front {front:,}")


if __name__ == "__main__":
    main()
