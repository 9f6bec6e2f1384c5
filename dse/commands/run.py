"""`dse run CONFIG`: run a sweep, write the results table and the HTML report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from dse.commands import add_json_option, add_set_option, examples

if TYPE_CHECKING:
    import pandas as pd

    from dse.pareto import Objective


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


#: Distinct front points `dse run` lists (the rest are in the results table).
FRONT_ROWS = 15


def front_table(front: pd.DataFrame, names: list[str], objectives: list[Objective],
                limit: int = FRONT_ROWS) -> tuple[pd.DataFrame, int]:
    """The front as `dse run` lists it: one row per distinct objective vector (the first design
    having it, and in column `designs` how many do), best first by the first objective, at
    most `limit` rows; and the number of distinct vectors left out."""
    cols = [o.column for o in objectives]
    key = front[cols].astype(str).agg("|".join, axis=1)
    rows = front.loc[~key.duplicated(), names + cols].assign(designs=key.value_counts()[
        key[~key.duplicated()]].to_numpy())  # fmt: skip
    first = objectives[0]
    rows = rows.sort_values(first.column, ascending=first.sense == "min", kind="stable")
    return rows.head(limit), max(0, len(rows) - limit)


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
    cols = [o.column for o in spec.objectives]
    names = list(spec.space)
    summary = {
        "results": str(done.csv or done.results),
        "report": str(done.report) if done.report else None,
        "points_evaluated": done.points_evaluated,
        "feasible": done.feasible,
        "front_size": len(front),
    }
    if args.json:
        keep = ["point", *names, *cols] if "point" in front else [*names, *cols]
        print_json({**summary, "front": front[keep].to_dict(orient="records")})
        return 0
    print(
        f"{summary['points_evaluated']:,} design points evaluated, "
        f"{summary['feasible']:,} feasible, {summary['front_size']} on the Pareto front"
    )
    if len(front):
        shown, more = front_table(front, names, list(spec.objectives))
        ties = not (shown["designs"] == 1).all()
        shown = shown if ties else shown.drop(columns="designs")
        print(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        if more:
            print(f"... {more:,} more distinct front points; see the results table")
        if ties:
            print("(designs: how many front designs share the row's objective values; the "
                  "first is shown)")
    print(f"results: {summary['results']}", file=sys.stdout)
    if done.csv is None:
        print(
            f"         (no results.csv for {done.points_evaluated:,} rows: set output.csv: "
            "true to write it; dse query and the report read results.parquet)"
        )
    if summary["report"]:
        print(f"report:  {summary['report']}")
    return 0
