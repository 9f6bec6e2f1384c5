"""Benchmark of the analytic error model (run: python tests/benchmarks/bench_error.py).

1. Analytic evaluations per second for 4-bit formats with blocks <= 128. "Batched" here means
   one `nmse(fmt, nu_array, block=...)` call per (format, block) over many distinct nu, with
   the cache cleared first, so every (format, nu, block) value is computed afresh; one
   evaluation = one such value. Also shown: the rate of repeated (cached) look-ups, which is
   what a design-space sweep sees after the first evaluation of each point.
2. Time of one analytic value vs the Monte Carlo time to reach the same precision (0.1 %
   relative standard error), measured in the same run: the Monte Carlo runs 2^20 values
   (iid sampler, the default), and the time for 0.1 % RSE is that time scaled by
   (RSE / 0.001)^2 (standard error ~ 1/sqrt(samples)).
All figures are from one core of this machine and this run.
"""

from __future__ import annotations

import time

import numpy as np

from dse.error import error, nmse
from dse.error.api import _analytic

FOUR_BIT = ["int4", "e2m1", "nf4", "sf4", "e2m1+sr", "apot4", "e3m0"]
BLOCKS = [16, 32, 64, 128]
PRESETS = ["mxfp4", "nvfp4", "anda(m=3)"]
DIALECT = ["blockdialect(sel=two-stage)/b32", "blockdialect/b32"]
NUS = np.linspace(3.0, 30.0, 40)


def rate(names_blocks, nus) -> tuple[float, int, float]:
    _analytic.cache_clear()
    t = time.perf_counter()
    for name, block in names_blocks:
        nmse(name, nus, block=block)
    dt = time.perf_counter() - t
    n = len(names_blocks) * len(nus)
    return n / dt, n, dt


def main() -> None:
    grid = [(f"{e}/g{b}", None) for e in FOUR_BIT for b in BLOCKS] + [(p, None) for p in PRESETS]
    r, n, dt = rate(grid, NUS)
    print(
        f"analytic, fresh: {n} evaluations ({len(grid)} 4-bit formats x {NUS.size} nu) "
        f"in {dt:.2f} s = {r:,.0f} evaluations/s"
    )
    t = time.perf_counter()
    for name, block in grid:
        nmse(name, NUS, block=block)
    dt_c = time.perf_counter() - t
    print(f"analytic, cached: {n / dt_c:,.0f} evaluations/s")
    r_d, n_d, dt_d = rate([(d, None) for d in DIALECT], NUS[::8])
    print(
        f"BlockDialect (two-stage exact, min-error bounds), fresh: {n_d} evaluations in "
        f"{dt_d:.2f} s = {r_d:,.1f} evaluations/s"
    )
    print()
    print(
        f"{'format':34s} {'analytic s':>10s} {'MC s/2^20':>9s} {'RSE':>7s} "
        f"{'MC s @0.1%':>10s} {'ratio':>10s}"
    )
    for name in [
        "int4/g128",
        "nf4/g64",
        "mxfp4",
        "nvfp4",
        "anda(m=4)",
        "blockdialect(sel=two-stage)/b32",
    ]:
        _analytic.cache_clear()
        t = time.perf_counter()
        a = error(name, 5.0).nmse
        t_a = time.perf_counter() - t
        t = time.perf_counter()
        mc = error(name, 5.0, method="montecarlo", samples=1 << 20)
        t_mc = time.perf_counter() - t
        rse = mc.se / mc.nmse
        t_need = t_mc * (rse / 1e-3) ** 2
        print(
            f"{name:34s} {t_a:10.4f} {t_mc:9.2f} {rse:7.2%} {t_need:10.1f} "
            f"{t_need / t_a:10,.0f}x   (analytic {a:.5g}, MC {mc.nmse:.5g})"
        )


if __name__ == "__main__":
    main()
