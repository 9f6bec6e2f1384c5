"""How much work a sweep asks for, estimated before it starts, and the limit it must stay under.

A sweep's results table is written to disk and loaded whole at the end (to mark the front), so
disk, memory and time all grow with the points evaluated. The per-point costs below were
measured on this project's development machine (2 cores, shared) with a 200,000-point grid of
Llama-2-7B decode (4 weight x 2 activation formats x 50 x 50 PE arrays x 10 bandwidths):
11.75 s wall, 246 MB written (results.csv 215 MB, results.parquet 15 MB, chunks 16 MB) and
590 MB peak RSS. They are approximations: per-class columns, format variables and the machine
change them by small factors.
"""

from __future__ import annotations

from dse.errors import UserError

#: Bytes written per evaluated point (246 MB / 200,000 points, measured as above).
BYTES_PER_POINT = 1230
#: Seconds per evaluated point (11.75 s / 200,000 points, start-up included, measured above).
SECONDS_PER_POINT = 6e-5
#: Points a sweep may evaluate unless raised: ~2.5 GB of results, ~2 min and (at the measured
#: ~2 KB of memory per loaded point) ~4 GB of memory when the table is loaded to mark the
#: front -- and the same bound `dse whatif` applies to its in-memory grids.
DEFAULT_MAX_POINTS = 2_000_000


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
