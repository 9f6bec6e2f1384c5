"""How much work a sweep asks for, estimated before it starts, and the limit it must stay under.

A sweep's results are streamed (`dse.stream`): memory is bounded by a chunk and the Pareto
front, while disk and time grow with the points evaluated. The per-point costs below were
measured on this project's development machine (2 cores, shared) with
`tests/benchmarks/bench_scale.py` (Llama-2-70B decode, 10 weight x 4 activation formats x 5 x 5
PE arrays x bandwidths x weight buffers, no report; two worker processes from 2 x 10^5 points),
one run on 2026-12-03 (the other sessions on the machine idle):

    points       wall     peak RSS   results.parquet  chunks/   results.csv
    10^5          3.4 s   426 MB        4.3 MiB          4.4 MiB    111 MiB
    10^6         15.9 s   343 MB       48.2 MiB         48.7 MiB  1,115 MiB
    10^7         59.4 s   384 MB      697 MiB          702 MiB    (not written)

Peak memory does not grow with the points (points^-0.02: imports and one chunk dominate), wall
time grows as points^0.62 (fixed start-up costs amortised). They are approximations:
per-class columns, format variables and the machine change them by small factors.
"""

from __future__ import annotations

from dse.errors import UserError

#: Bytes written per evaluated point above `dse.stream.CSV_AUTO_MAX_ROWS`, where no CSV is
#: written by default: results.parquet + chunks, (697 + 702) MiB / 10^7 points, measured above
#: (results.csv, when asked for, adds ~1.2 KB a point: 1,115 MiB / 10^6).
BYTES_PER_POINT = 147
#: Seconds per evaluated point (59.4 s / 10^7 points, start-up included, measured above).
SECONDS_PER_POINT = 5.9e-6
#: Points a sweep may evaluate unless raised: twice the largest benchmark, ~2.9 GB of results
#: and ~2 min at the costs above; memory no longer grows with points (~0.6 GB measured, plus
#: 8 bytes a stored point when resuming: `ResultStore.done`).
DEFAULT_MAX_POINTS = 20_000_000
#: Points `dse whatif` evaluates in memory per sweep (it holds both tables whole: ~2 KB a
#: point, measured with the loaded-table pipeline before `dse.stream`, so ~4 GB).
WHATIF_MAX_POINTS = 2_000_000


def _duration(seconds: float) -> str:
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:,.1f} {unit}"
    return f"{seconds:.0f} s"


def check_points(points: int, limit: int | None) -> None:
    """Refuse a sweep of more than `limit` (default `DEFAULT_MAX_POINTS`) points, with the
    estimated size and time and the options that raise the limit."""
    limit = DEFAULT_MAX_POINTS if limit is None else limit
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise UserError(f"--max-points must be a positive integer, got {limit!r}")
    if points > limit:
        raise UserError(
            f"the sweep would evaluate {points:,} points (~{points * BYTES_PER_POINT / 1e9:,.1f}"
            f" GB of results, ~{_duration(points * SECONDS_PER_POINT)}), above the limit of "
            f"{limit:,}; shrink the space or raise the limit with `dse run --max-points N` "
            "(or search.max_points)"
        )
