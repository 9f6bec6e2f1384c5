"""`dse report RESULTS_DIR [-o FILE] [--cdn]`: (re)write a sweep's HTML report."""

from __future__ import annotations

import argparse
from pathlib import Path

from dse.commands import examples
from dse.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="write the HTML report of a finished sweep",
        description="Render a sweep's output directory (results.parquet, config.yaml and, when "
        "present, run.json) as one self-contained HTML file: summary, Pareto views, formats, "
        "breakdowns and the table of front designs. Works offline: plotly.js is embedded "
        "unless --cdn is given.",
        **examples("dse report out/quickstart", "dse report out/quickstart -o report.html --cdn"),
    )
    p.add_argument("results", metavar="RESULTS_DIR", help="output directory of a sweep")
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="HTML file to write (default: RESULTS_DIR/report.html)",
    )
    p.add_argument(
        "--cdn",
        action="store_true",
        help="link plotly.js from its CDN instead of embedding it (smaller file, "
        "needs a network connection to view)",
    )
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from reports import write_report

    if not Path(args.results).is_dir():
        raise UserError(f"no such results directory: {args.results!r}")
    path = write_report(args.results, args.output, plotly_js="cdn" if args.cdn else "embed")
    print(f"report: {path}")
    return 0
