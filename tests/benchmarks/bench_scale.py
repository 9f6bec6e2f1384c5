"""Sweep scale benchmark (run on demand: `python tests/benchmarks/bench_scale.py [--sizes ...]`).

A Llama-2-70B decode grid over formats x hardware at 10^5, 10^6 and 10^7 design points. Each
size runs `dse.execute` (the CLI's path, which never loads the table whole) in a fresh Python
process (so its peak resident memory is its own, from `resource.getrusage`) and prints the
wall time, the points per second, the peak RSS and the sizes of the files written; the last
line fits the growth exponent of wall time and memory in the number of points (log-log least
squares over the sizes run).

`--workers N` sets the local worker processes (default: `dse.distributed.default_workers`, 2
on a 2-core machine from 200,000 points); `--dask` runs on a Dask LocalCluster of 2 worker
processes instead, by default at 10^8 points, and the peak RSS printed is the client's (the
process running `dse.execute`, which also hosts the LocalCluster's scheduler), not the workers'.

Targets (issue 15, 2 cores): 10^7 points end to end in under 60 s without the report; peak
memory under 1.5 GB at every size; growth linear in points. The machine is shared: compare
figures within one run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

#: points = 10 weight formats x 4 activation formats x 5 rows x 5 cols x n_bw x n_buf.
FIXED = 10 * 4 * 5 * 5
AXES = {10**5: (10, 10), 10**6: (40, 25), 10**7: (100, 100), 10**8: (400, 250)}


def sweep(points: int, out: str, report: bool) -> dict:
    n_bw, n_buf = AXES[points]
    return {
        "name": f"scale-{points}",
        "workload": {"model": "llama-2-70b", "phase": "decode", "batch": 16, "tokens": 2048},
        "hardware": {"preset": "datacenter-7nm"},
        "space": {
            "weight_format": ["int4/g128", "int8/ch", "nf4/g64", "sf4(nu=5)/g128", "mxfp4",
                              "nvfp4", "e2m1+sp/g128", "e4m3", "mxfp6e2m3", "mxint8"],
            "act_format": ["mxfp8e4m3", "e4m3", "mxfp6e2m3", "bf16"],
            "rows": [16, 32, 64, 128, 256],
            "cols": [16, 32, 64, 128, 256],
            "bandwidth_gbs": {"range": [200, 8000], "log": True, "n": n_bw},
            "weight_buffer_kib": {"range": [256, 65536], "log": True, "n": n_buf},
        },
        "objectives": ["model_nmse", "energy_per_token_uj", {"column": "tokens_per_s",
                                                             "sense": "max"}, "area_mm2"],
        "search": {"method": "grid"},
        "output": {"dir": out, "report": report},
    }  # fmt: skip


_CHILD = """
import json, resource, sys, time
import dse
cfg, options = json.loads(sys.argv[1]), json.loads(sys.argv[2])
t = time.perf_counter()
done = dse.execute(cfg, max_points=10**9, **options)
wall = time.perf_counter() - t
print(json.dumps({"wall_s": wall, "rows": done.points_evaluated, "front": len(done.front),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_one(points: int, tmp: Path, report: bool, options: dict) -> dict:
    """One size in a fresh process; `options` are passed to `dse.execute`."""
    out = tmp / f"scale-{points}"
    cfg = sweep(points, str(out), report)
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(cfg), json.dumps(options)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode:
        return {"points": points, "failed": proc.stderr.strip().splitlines()[-1:]}
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["points"] = points
    res["files_mb"] = {
        p.name: round(p.stat().st_size / 2**20, 2)
        for p in sorted(out.glob("*"))
        if p.is_file() and p.suffix in (".parquet", ".csv", ".html")
    }
    res["files_mb"]["chunks/"] = round(
        sum(p.stat().st_size for p in (out / "chunks").glob("*.parquet")) / 2**20, 2
    )
    return res


def exponent(x: list[float], y: list[float]) -> float:
    """Slope of log y against log x (least squares)."""
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=float, nargs="+", choices=list(AXES), metavar="SIZE",
                    help="points per run, from 1e5 1e6 1e7 1e8 (default 1e5 1e6 1e7; "
                    "1e8 with --dask)")  # fmt: skip
    ap.add_argument("--report", action="store_true", help="also write the HTML report")
    ap.add_argument("--workers", type=int, help="local worker processes (default: automatic)")
    ap.add_argument("--dask", action="store_true", help="run on a Dask LocalCluster")
    args = ap.parse_args()
    sizes = args.sizes or ([1e8] if args.dask else [1e5, 1e6, 1e7])
    options = {"scheduler": "local"} if args.dask else {"workers": args.workers}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            res = run_one(int(size), Path(tmp), args.report, options)
            rows.append(res)
            if "failed" in res:
                print(f"{res['points']:>12,} points: FAILED {res['failed']}")
                continue
            print(
                f"{res['points']:>12,} points: {res['wall_s']:7.1f} s "
                f"({res['points'] / res['wall_s']:>9,.0f} points/s), peak RSS "
                f"{res['peak_rss_mb']:7.0f} MB{' (client)' if args.dask else ''}, "
                f"front {res['front']:,}, files {res['files_mb']}"
            )
    ok = [r for r in rows if "failed" not in r]
    if len(ok) >= 2:
        pts = [r["points"] for r in ok]
        print(
            f"growth exponents over {len(ok)} sizes: wall ~ points^"
            f"{exponent(pts, [r['wall_s'] for r in ok]):.2f}, peak RSS ~ points^"
            f"{exponent(pts, [r['peak_rss_mb'] for r in ok]):.2f}"
        )


if __name__ == "__main__":
    main()
