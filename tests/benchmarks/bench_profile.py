"""Benchmark of a profiled sweep's error stage (run: python tests/benchmarks/bench_profile.py).

A profile of synthetic down-projection weights (TENSORS tensors of 48 x 11008 t(10) values,
every 16th row with one value 30x its body's RMS, as in tests/test_profile_sweep.py) written
by `dse profile`; then the errors of configs/fp4-fp8-mix.yaml's 21 mixes (p = 0, 0.05, ..., 1)
on those tensors from their measured block-maximum laws, measured in the same run:
  * one format at a time (`error_for_tensors` per mix: each builds every tensor's law of the
    block scores),
  * all at once (`errors_for_tensors`, what a sweep's error stage calls: one law per tensor,
    shared by the mixes), checked equal to the first.
Times are the best of REPEAT runs (the machine is shared and noisy). Also the time per
tensor of block- and channel-scaled formats on those laws (`error_for_tensors`; most of it,
INT4/g128's, finding each stratum's body scale, `empirical_max.body_scale`), and the cost of
reading a profile of many tensors (a mixture of experts: the records repeated MOE_TENSORS
times) from YAML and from JSON (`workloads.load_profile_stats`).
Also `profile_array` on float32 tensors of ROWS x 11008 values (Llama-2-7B's down-projection
rows): time and peak memory above the tensor (tracemalloc: numpy's allocations), per value,
and the memory each further value costs (the two largest peaks' difference over the
values'). 4096 rows (45 x 10^6 values) is where numpy's own draw of the fit's 10^6-value
sample would index every value (`profile.sample_indices`).
"""

from __future__ import annotations

import copy
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import yaml

from dse.cli import main as cli
from dse.commands import json_text
from dse.error.profile import error_for_tensors, errors_for_tensors, profile_array
from workloads import load_profile_stats

TENSORS, REPEAT, MOE_TENSORS, ROWS = 4, 2, 768, (4096, 6144, 12288)
SCALED = ["int4/g128", "int8/ch", "mxfp4", "nvfp4"]
MIXES = [f"fp4fp8(p={k / 20:g})" for k in range(21)]


def weights() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    out = {}
    for i in range(TENSORS):
        x = rng.standard_t(10.0, (48, 11008)) * 0.02
        rows = np.arange(0, 48, 16)
        x[rows, rng.integers(0, 11008, rows.size)] = 30.0 * np.sqrt(np.mean(x[rows] ** 2, 1))
        out[f"model.layers.{i}.mlp.down_proj.weight"] = x.astype(np.float32)
    return out


def best(fn) -> tuple[float, object]:
    t_best, out = float("inf"), None
    for _ in range(REPEAT):
        t = time.perf_counter()
        out = fn()
        t_best = min(t_best, time.perf_counter() - t)
    return t_best, out


def main() -> None:
    from safetensors.numpy import save_file

    with tempfile.TemporaryDirectory() as d:
        save_file(weights(), str(Path(d) / "model.safetensors"))
        cli(["profile", str(Path(d) / "model.safetensors"), "-o", str(Path(d) / "p.yaml")])
        records = list(yaml.safe_load((Path(d) / "p.yaml").read_text())["tensors"].values())
    t_one, one = best(lambda: [error_for_tensors(m, records) for m in MIXES])
    t_all, shared = best(lambda: errors_for_tensors(MIXES, records))
    assert shared == one, "the shared pass must give the same values"
    n = len(MIXES) * len(records)
    print(f"{len(MIXES)} mixes x {len(records)} profiled tensors:")
    print(f"  one format at a time: {t_one:7.2f} s  ({t_one / n * 1e3:6.1f} ms per tensor and mix)")
    print(f"  shared per tensor:    {t_all:7.2f} s  ({t_all / n * 1e3:6.1f} ms per tensor and mix)")
    print(f"  ratio: {t_one / t_all:.1f}x")
    for name in SCALED:
        t_fmt, _ = best(lambda name=name: error_for_tensors(name, records))
        print(f"  {name}: {t_fmt / len(records) * 1e3:.2f} ms per tensor")
    moe = {"tensors": {f"model.layers.{i // 96}.mlp.experts.{i % 96}.down_proj.weight":
                       copy.deepcopy(records[i % len(records)])  # no YAML aliases
                       for i in range(MOE_TENSORS)}}  # fmt: skip
    with tempfile.TemporaryDirectory() as d:
        for suffix, text in ((".yaml", yaml.safe_dump(moe, default_flow_style=None)),
                             (".json", json_text(moe, indent=None))):  # fmt: skip
            path = Path(d) / f"moe{suffix}"
            path.write_text(text)
            t_load, _ = best(lambda path=path: load_profile_stats(path))
            print(f"load_profile_stats, {MOE_TENSORS} tensors from {suffix[1:]}: {t_load:.2f} s "
                  f"({len(text) / 1e6:.1f} MB)")
    peaks = []
    for rows in ROWS:
        x = (np.random.default_rng(0).standard_t(6.0, (rows, 11008)) * 0.02).astype(np.float32)
        tracemalloc.start()
        t = time.perf_counter()
        profile_array(x, "float32")
        dt = time.perf_counter() - t
        peaks.append((x.size, tracemalloc.get_traced_memory()[1]))
        tracemalloc.stop()
        print(f"profile_array, {rows} x 11008 float32 ({x.nbytes / 2**20:.0f} MB): {dt:.2f} s, "
              f"peak {peaks[-1][1] / 2**20:.0f} MB above the tensor "
              f"({peaks[-1][1] / x.size:.2f} bytes per value)")
    (n1, p1), (n2, p2) = peaks[-2:]
    print(f"  each further value: {(p2 - p1) / (n2 - n1):.2f} bytes")


if __name__ == "__main__":
    main()
