"""Report size and build time for a large synthetic sweep (default 110,592 design points).

    python tests/benchmarks/bench_report.py [--out report.html] [--browser]

Prints the rows, front size, build time and HTML size (total, and without the embedded
plotly.js); with --browser, also the time headless Chromium takes to load and draw it.
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path

from plotly.offline import get_plotlyjs

from reports import build_report
from reports.screenshot import find_chromium, run_headless

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="keep the report at this path")
    ap.add_argument("--browser", action="store_true", help="also time a headless load")
    args = ap.parse_args()
    config = copy.deepcopy(QUICKSTART_CONFIG)
    config.update(name="bench-large", space=LARGE_SPACE)
    config["objectives"].append({"column": "latency_per_token_ms", "sense": "min"})
    t0 = time.perf_counter()
    table = results_table(config)
    t1 = time.perf_counter()
    out = Path(args.out or Path(tempfile.mkdtemp(prefix="dse-bench-")) / "report.html")
    html = build_report(table, config, path=out)
    t2 = time.perf_counter()
    size = len(html.encode())
    plotly_size = len(get_plotlyjs().encode())
    print(f"rows:                 {len(table):,}")
    print(f"objectives:           {len(config['objectives'])}")
    print(f"synthetic table:      {t1 - t0:.2f} s")
    print(f"report build:         {t2 - t1:.2f} s")
    print(f"HTML size:            {size / 1e6:.1f} MB "
          f"({(size - plotly_size) / 1e6:.1f} MB without the embedded plotly.js)")
    print(f"written to:           {out}")
    if args.browser and find_chromium():
        t3 = time.perf_counter()
        run_headless(out, "--dump-dom", budget_ms=20_000)
        print(f"headless load + draw: {time.perf_counter() - t3:.1f} s")


if __name__ == "__main__":
    main()
