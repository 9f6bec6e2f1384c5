"""DSE benchmarks (run on demand: `python tests/benchmarks/bench_dse.py`).

1. Design points evaluated per second, in process, for a Llama-2-7B decode sweep over
   formats x PE arrays x buffers x bandwidth: the evaluator alone (warm caches, as in the
   chunks after the first) and a whole `dse.run` grid sweep (first-time error values, CSV
   chunks, marking the front) measured in the same run.
2. NSGA-II against the exhaustive front on the same space (> 100,000 points): hypervolume
   reached as a fraction of the exhaustive front's, and the fraction of points evaluated.
   Both hypervolumes use the exhaustive front's ideal and nadir for normalisation and the
   reference point 1.1 (dse.pareto).

Targets (issue 6): >= 100,000 points/s; >= 98 % of the exhaustive hypervolume with <= 5 % of
the evaluations. The machine is shared: compare figures within one run.
"""

from __future__ import annotations

import copy
import tempfile
import time

import numpy as np

import dse
from dse.config import resolve
from dse.evaluation import Evaluator
from dse.pareto import bounds, hypervolume, matrix
from dse.space import Space
from dse.spec import SweepSpec

SWEEP = {
    "name": "bench",
    "workload": {"model": "llama-2-7b", "phase": "decode", "batch": 8, "tokens": 1024},
    "hardware": {"preset": "edge-16nm"},
    "space": {
        "weight_format": ["int4/g128", "nf4/g64", "sf4(nu=5)/g128", "mxfp4", "nvfp4",
                          "e2m1+sp/g128", "e4m3", "mxfp6e2m3"],
        "act_format": ["mxfp8e4m3", "e4m3", "bf16"],
        "rows": [4, 8, 16, 32, 64, 128],
        "cols": [4, 8, 16, 32, 64, 128],
        "weight_buffer_kib": [64, 128, 256, 512, 1024, 2048],
        "act_buffer_kib": [64, 256, 1024, 4096],
        "bandwidth_gbs": [17, 34, 68, 136, 272, 544],
    },
    "objectives": ["model_nmse", "energy_per_token_uj", "latency_per_token_ms", "area_mm2"],
    "output": {"report": False},
}  # fmt: skip


def evaluator_rate(spec: SweepSpec, space: Space) -> float:
    ev = Evaluator(spec)
    chunk = np.arange(min(space.size, 100_000))
    ev(space.points(chunk))  # warm the per-format caches
    best = 0.0
    for _ in range(3):
        pts = space.points(chunk)
        t = time.perf_counter()
        ev(pts)
        best = max(best, len(pts) / (time.perf_counter() - t))
    return best


def main() -> None:
    spec = resolve(SWEEP)
    space = spec.grid
    print(f"space: {space.size:,} design points (Llama-2-7B decode, batch 8, context 1024)")
    rate = evaluator_rate(spec, space)
    print(f"evaluator, warm caches, chunks of 100,000:  {rate:12,.0f} points/s")

    with tempfile.TemporaryDirectory() as tmp:
        grid = copy.deepcopy(SWEEP)
        grid["output"]["dir"] = f"{tmp}/grid"
        t = time.perf_counter()
        table = dse.run(grid)
        grid_s = time.perf_counter() - t
        print(f"dse.run grid end to end ({len(table):,} points, Parquet chunks, cold caches): "
              f"{len(table) / grid_s:,.0f} points/s ({grid_s:.1f} s)")
        objectives = spec.objectives
        f_all = matrix(table[table.on_front], objectives)
        ideal, nadir = bounds(f_all)
        hv_exhaustive = hypervolume(f_all, ideal, nadir)

        print("NSGA-II vs exhaustive (normalised on the exhaustive front, reference 1.1):")
        for pop, gens in ((100, 40), (100, 60)):
            for seed in (0, 1):
                ga = copy.deepcopy(SWEEP)
                ga["output"]["dir"] = f"{tmp}/ga-{pop}-{gens}-{seed}"
                ga["search"] = {"method": "nsga2", "population": pop, "generations": gens,
                                "seed": seed}  # fmt: skip
                t = time.perf_counter()
                res = dse.run(ga)
                ga_s = time.perf_counter() - t
                hv = hypervolume(matrix(res[res.on_front], objectives), ideal, nadir)
                print(f"  pop {pop} x {gens} gen, seed {seed}: {len(res):,} evaluated "
                      f"({100 * len(res) / space.size:.2f} % of the space), hypervolume "
                      f"{100 * hv / hv_exhaustive:.2f} % of exhaustive, {ga_s:.1f} s "
                      f"(grid {grid_s:.1f} s)")


if __name__ == "__main__":
    main()
