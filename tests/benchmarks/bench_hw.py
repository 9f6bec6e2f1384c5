"""Design points per second of the vectorised accelerator model on a Llama-2-7B decode step.

Run: python tests/benchmarks/bench_hw.py [--points N]. Builds N random design points (format
pair, array shape, frequency, buffers, bandwidth, node, Vdd), costs the distinct format pairs
once (`mac_unit`, cached) and broadcasts them by index, then times `evaluate` over
(points x the step's GEMMs) and prints points/s of one run, and of the best of three.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from dse.formats import parse
from hwmodels.accelerator import Design, evaluate
from hwmodels.units import mac_unit
from workloads.gemms import decode_gemms, gemm_arrays
from workloads.presets import load_preset

PAIRS = [
    ("int4/g128", "int8"), ("mxfp4", "mxfp8e4m3"), ("nvfp4", "nvfp4"), ("nvfp4", "e4m3"),
    ("blockdialect/b32", "blockdialect/b32"), ("fp4fp8(p=0.3)", "e4m3"), ("mxint8", "mxint8"),
    ("e2m1+sr/g128", "int8"), ("sf4(nu=5)/g128", "e4m3"), ("int8/ch", "int8"),
]  # fmt: skip


def build(points: int, rng: np.random.Generator) -> Design:
    units = [mac_unit(w, a, "dot", lanes=32) for w, a in PAIRS]
    table = {
        "pe": np.array([u.pe.area_um2 for u in units]),
        "e": np.array([u.pe.energy_pj for u in units]),
        "wb": np.array([parse(w).bits_per_element for w, _ in PAIRS]),
        "ab": np.array([parse(a).bits_per_element for _, a in PAIRS]),
    }
    i = rng.integers(0, len(PAIRS), points)
    return Design(
        rows=rng.choice([8, 16, 32, 64], points), cols=rng.choice([8, 16, 32, 64], points),
        lanes=32, freq_ghz=rng.uniform(0.3, 2.0, points), pe_area_um2=table["pe"][i],
        mac_energy_pj=table["e"][i], w_bits=table["wb"][i], a_bits=table["ab"][i],
        o_bits=table["ab"][i], weight_buffer_bytes=rng.choice([2**18, 2**20, 2**22], points),
        act_buffer_bytes=rng.choice([2**17, 2**19, 2**21], points),
        out_buffer_bytes=2**17, bandwidth_gbs=rng.uniform(25, 3000, points),
        dram_pj_per_bit=rng.choice([3.9, 5.0, 30.5], points),
        node_nm=rng.choice([45, 28, 16, 7, 5], points), vdd=np.nan,
    )  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=100_000)
    args = ap.parse_args()
    gemms = gemm_arrays(decode_gemms(load_preset("llama-2-7b"), batch=8, context=2048))
    design = build(args.points, np.random.default_rng(0))
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        evaluate(design, gemms)
        times.append(time.perf_counter() - t0)
    g = len(gemms.m)
    print(f"{args.points} design points x {g} GEMMs (Llama-2-7B decode, batch 8, context 2048)")
    print(f"first run: {args.points / times[0]:,.0f} points/s ({times[0] * 1e3:.1f} ms)")
    print(f"best of 3: {args.points / min(times):,.0f} points/s ({min(times) * 1e3:.1f} ms)")
    print("target: >= 100,000 points/s")


if __name__ == "__main__":
    main()
