"""Report build time and size from a results.parquet of 10^5, 10^6 and 10^7 rows (targets at
10^7: under 5 s, under 10 MB with plotly.js embedded).

    python tests/benchmarks/bench_report.py [--copies 1 10 100] [--keep DIR] [--browser]

The table is synthetic (tests/report_data.py: closed-form stand-ins for the metrics, every
column of the results-table contract): a 110,592-point grid with `on_front` marked, then
dominated copies of it (every float metric of a copy scaled by one random factor in [1, 3), so
values are distinct as in a real sweep), written as `dse run` writes: the same encoding
(`dse.store.parquet_options`) and one row group per chunk of `search.chunk` (50,000) rows.
Rows: 110,592 x copies. The time is `write_report` on the
directory: reading the Parquet columns it needs, the analysis, the HTML and writing it.
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from plotly.offline import get_plotlyjs

from dse.store import parquet_options
from reports import write_report
from reports.screenshot import find_chromium, run_headless
from reports.sweep import analyse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the synthetic table
from report_data import QUICKSTART_CONFIG, results_table

LARGE_SPACE = {
    "weight_format": ["int4/g128", "nf4/g64", "sf4(nu=5)/g128", "e2m1+sp/g128", "mxfp4",
                      "nvfp4", "blockdialect/b32", "int8/ch"],
    "act_format": ["fp16", "e4m3", "mxfp8e4m3", "mxfp6e2m3"],
    "kv_format": ["fp16", "e4m3"],
    "pe_rows": [8, 16, 32, 48, 64, 128],
    "pe_cols": [8, 16, 32, 48, 64, 128],
    "sram_kb": [128, 256, 384, 512, 768, 1024, 1536, 2048],
    "dram_bandwidth_gbs": [12.8, 25.6, 51.2, 102.4, 204.8, 409.6],
}
COPIES_PER_WRITE = 10  # copies concatenated per write_table call (about 1.1 M rows)
CHUNK = 50_000  # rows per row group: dse run writes one per chunk (search.chunk's default)


def write_sweep(out: Path, config: dict, copies: int) -> int:
    """results.parquet and config.yaml of `copies` copies of the synthetic grid in `out`;
    returns the number of rows."""
    base = results_table(config)
    base["on_front"] = analyse(base, config).front
    floats = [c for c in base if base[c].dtype.kind == "f" and c not in config["space"]]
    rng = np.random.default_rng(0)
    schema = pa.Schema.from_pandas(base, preserve_index=False)
    with pq.ParquetWriter(out / "results.parquet", schema, **parquet_options(schema)) as writer:
        for first in range(0, copies, COPIES_PER_WRITE):
            parts = []
            for k in range(first, min(first + COPIES_PER_WRITE, copies)):
                part = base.copy()
                part["point"] += k * len(base)
                if k:
                    factor = 1 + 2 * rng.random(len(base))
                    part[floats] = part[floats].to_numpy() * factor[:, None]
                    part["on_front"] = False
                parts.append(pa.Table.from_pandas(part, schema=schema, preserve_index=False))
            writer.write_table(pa.concat_tables(parts), row_group_size=CHUNK)
    (out / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return len(base) * copies


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, nargs="+", default=[1, 10, 100])
    ap.add_argument("--keep", help="write the sweeps under this directory and keep them")
    ap.add_argument("--browser", action="store_true", help="also time a headless load")
    args = ap.parse_args()
    config = copy.deepcopy(QUICKSTART_CONFIG)
    config.update(name="bench-large", space=LARGE_SPACE)
    config["objectives"].append({"column": "latency_per_token_ms", "sense": "min"})
    root = Path(args.keep or tempfile.mkdtemp(prefix="dse-bench-"))
    plotly_size = len(get_plotlyjs().encode())
    print(f"{'rows':>12} {'parquet':>9} {'build':>8} {'HTML':>8} {'w/o plotly.js':>14}")
    for copies in args.copies:
        out = root / f"x{copies}"
        out.mkdir(parents=True, exist_ok=True)
        rows = write_sweep(out, config, copies)
        t0 = time.perf_counter()
        path = write_report(out)
        elapsed = time.perf_counter() - t0
        size = path.stat().st_size
        parquet = (out / "results.parquet").stat().st_size
        print(f"{rows:>12,} {parquet / 1e6:>7.0f}MB {elapsed:>7.2f}s {size / 1e6:>6.2f}MB "
              f"{(size - plotly_size) / 1e6:>12.2f}MB", flush=True)
        if args.browser and find_chromium():
            t1 = time.perf_counter()
            run_headless(path, "--dump-dom", budget_ms=20_000)
            print(f"{'':>12} headless load + draw: {time.perf_counter() - t1:.1f} s")
        if not args.keep:
            for f in out.iterdir():
                f.unlink()
            out.rmdir()


if __name__ == "__main__":
    main()
