"""`dse query RESULTS --where ... --sort ... --top N`: questions over a finished sweep."""

from __future__ import annotations

import argparse

from dse.commands import add_json_option, examples


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "query",
        help="filter and sort a finished sweep",
        description="Answer questions over a finished sweep's results. --where takes column "
        "names, numbers, quoted strings, + - * /, comparisons and and/or/not, e.g. "
        '"model_nmse < 0.01 and area_mm2 < 5"; nothing else is evaluated.',
        **examples(
            'dse query out/quickstart --where "model_nmse < 0.01 and area_mm2 < 5"',
            "dse query out/quickstart --where on_front --sort=-tokens_per_s --top 3 "
            "--columns weight_format,act_format,tokens_per_s",
        ),
    )
    p.add_argument(
        "results",
        help="a sweep's output directory (its results.parquet, else results.csv) or a results file",
    )
    p.add_argument("--where", help="filter expression")
    p.add_argument("--sort", help="column to sort by; prefix - for descending (--sort=-COLUMN)")
    p.add_argument("--top", type=int, help="keep the first N rows")
    p.add_argument(
        "--columns",
        help="comma-separated columns to show, or 'all' (default: the point, the design "
        "variables, objectives and constraint columns, feasible and on_front)",
    )
    add_json_option(p)
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from dse.api import query
    from dse.commands import print_json

    cols: list[str] | str | None = "key"
    if args.columns and args.columns.strip() != "all":
        cols = [c.strip() for c in args.columns.split(",")]
    elif args.columns:
        cols = None
    table = query(args.results, args.where, args.sort, args.top, cols)
    if args.json:
        print_json(table.to_dict(orient="records"))
    else:
        print(table.to_string(index=False, float_format=lambda v: f"{v:.5g}"))
    return 0
