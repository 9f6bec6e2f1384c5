"""`dse whatif CONFIG --set PATH=VALUE ...`: how metrics and the Pareto front move."""

from __future__ import annotations

import argparse

from dse.commands import add_json_option, add_set_option, examples


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "whatif",
        help="re-evaluate a sweep with overrides and show what changed",
        description="Re-evaluate CONFIG with PATH=VALUE overrides (e.g. "
        "space.bandwidth_gbs=512, space.weight_format=nvfp4, hardware.node_nm=5nm) and "
        "print the chosen design's metrics before and after, and how the Pareto front moved.",
        **examples(
            "dse whatif configs/quickstart.yaml --set hardware.node_nm=5nm",
            "dse whatif configs/quickstart.yaml --set space.bandwidth_gbs=512 "
            "--set space.weight_format=nvfp4",
            "dse whatif configs/quickstart.yaml --set hardware.node_nm=5nm "
            "--html out/whatif-5nm.html",
        ),
    )
    p.add_argument("config", help="sweep file (YAML)")
    add_set_option(p, required=True)
    p.add_argument("--html", metavar="PATH",
                   help="also write a page with the tornado of the metrics' changes")
    add_json_option(p)
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from dse.api import whatif
    from dse.commands import print_json

    out = whatif(args.config, args.sets)
    if args.html:
        from dse.files import write_atomic
        from reports.tornado import whatif_page

        write_atomic(args.html, whatif_page(out))
    if args.json:
        out = dict(out, metrics=out["metrics"].reset_index(names="metric").to_dict("records"))
        print_json(out)
        return 0
    design = ", ".join(f"{k}={v}" for k, v in out["design"].items())
    print(f"with {' '.join(args.sets)}")
    print(
        f"design (knee of the original front): {design}"
        + ("" if out["same_design_after"] else "  [not in the new space: new knee shown]")
    )
    print(out["metrics"].to_string(float_format=lambda v: f"{v:.5g}"))
    f = out["front"]
    print(
        f"front: {f['size_before']} -> {f['size_after']} designs "
        f"({f['gained']} gained, {f['lost']} lost, {f['kept']} kept); hypervolume "
        f"{f['hypervolume_before']:.4f} -> {f['hypervolume_after']:.4f} (common bounds)"
    )
    return 0
