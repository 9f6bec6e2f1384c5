"""`dse run CONFIG`: run a sweep, write the results table and the HTML report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dse.commands import add_json_option, add_set_option, examples


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run a sweep from a YAML file",
        description="Run the sweep in CONFIG: evaluate its design points, write the results "
        "table (resumable: re-running the same config continues where it stopped) and the "
        "HTML report to the output directory.",
        **examples(
            "dse run configs/quickstart.yaml",
            "dse run configs/quickstart.yaml --set hardware.node_nm=7nm -o out/quickstart-7nm "
            "--no-report",
        ),
    )
    p.add_argument("config", help="sweep file (YAML), e.g. configs/quickstart.yaml")
    p.add_argument("-o", "--output", help="output directory (default: output.dir of the file)")
    add_set_option(p, required=False)
    p.add_argument("--scheduler", help="evaluate on Dask: tcp://HOST:PORT, or 'local'")
    p.add_argument("--no-report", action="store_true", help="skip the HTML report")
    p.add_argument(
        "--fresh", action="store_true",
        help="start anew: move results the output directory already holds (of other inputs) "
        "aside to <dir>.old-<time> instead of resuming from them",
    )  # fmt: skip
    p.add_argument(
        "--max-points",
        type=int,
        metavar="N",
        help="refuse a sweep evaluating more than N points (default: search.max_points, "
        "else 20,000,000)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_json_option(p)
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from dse.api import apply_sets, execute
    from dse.commands import print_json
    from dse.config import load, resolve

    spec = load(args.config)
    if args.sets:
        spec = resolve(apply_sets(spec, args.sets))
    out = Path(args.output or spec.output.dir)
    done = execute(
        spec,
        quiet=args.quiet or args.json,
        scheduler=args.scheduler,
        output_dir=out,
        report=False if args.no_report else None,
        fresh=args.fresh,
        max_points=args.max_points,
    )
    front = done.front
    summary = {
        "results": str(done.csv or done.results),
        "report": str(done.report) if done.report else None,
        "points_evaluated": done.points_evaluated,
        "feasible": done.feasible,
        "front_size": len(front),
    }
    if args.json:
        print_json(summary)
        return 0
    cols = [o.column for o in spec.objectives]
    names = list(spec.space)
    print(
        f"{summary['points_evaluated']:,} design points evaluated, "
        f"{summary['feasible']:,} feasible, {summary['front_size']} on the Pareto front"
    )
    if len(front):
        shown = front.sort_values(cols[0]).head(15)[names + cols]
        print(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"results: {summary['results']}", file=sys.stdout)
    if done.csv is None:
        print(
            f"         (no results.csv for {done.points_evaluated:,} rows: set output.csv: "
            "true to write it; dse query and the report read results.parquet)"
        )
    if summary["report"]:
        print(f"report:  {summary['report']}")
    return 0
