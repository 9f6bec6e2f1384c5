"""`dse formats` (the catalogue) and `dse formats show NAME` (codebook and bit accounting)."""

from __future__ import annotations

import argparse

import pandas as pd

from dse.commands import add_json_option, examples
from dse.formats import CATALOGUE, ChoiceFormat, Format, ScaledFormat, parse

_VALUES_SHOWN = 64  # beyond this many levels, `show` prints the ends of the list only


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "formats",
        help="list number formats, or show one",
        description="List the catalogue of number formats with their bit accounting, show "
        "one format's codebook (`dse formats show NAME`), list the names other tools use "
        "(`dse formats aliases`: ml_dtypes/torch dtypes, microxcaling elements, "
        "compressed-tensors schemes), or read a HuggingFace config.json's quantization "
        "(`dse formats hf CONFIG`). Names follow the grammar in the README, e.g. int4/g128, "
        "e2m1/g32:e8m0, sf4(nu=5)/g128, mxfp4, nvfp4, anda(m=6).",
        **examples(
            "dse formats",
            "dse formats --nu 5",
            "dse formats show e2m1/g32:e8m0",
            'dse formats show "anda(m=6)"',
            "dse formats show float8_e4m3fnuz",
            "dse formats aliases",
        ),
    )
    p.add_argument("action", nargs="?", choices=["list", "show", "aliases", "hf"],
                   default="list")  # fmt: skip
    p.add_argument("name", nargs="?", help="format name (show) or config.json path (hf)")
    p.add_argument("--nu", type=float, help="add the analytic NMSE and SQNR on Student-t(nu) data")
    add_json_option(p)
    p.set_defaults(func=run)


def catalogue(nu: float | None = None) -> pd.DataFrame:
    """One row per catalogue format: name, element, bits, block, scale, bits/element, and with
    `nu` the analytic NMSE / SQNR (and whether the value is exact or a bound)."""
    table = pd.DataFrame([parse(n).describe() for n in CATALOGUE])
    if nu is not None:
        from dse.error import error

        results = [error(n, nu) for n in CATALOGUE]
        table["nmse"] = [r.nmse for r in results]
        table["sqnr_db"] = [r.sqnr_db for r in results]
        table["kind"] = [r.kind for r in results]
    return table


def details(fmt: Format) -> dict:
    """Codebook values and bit accounting of one format."""
    out = fmt.describe()
    parts = fmt.parts
    out["codebooks"] = {c.element.name: _levels(c) for c in parts}
    if isinstance(fmt, ChoiceFormat):
        out["flag_bits_per_block"] = fmt.flag_bits
        fixed = fmt.fixed_bits
        out["fractions"] = dict(zip((c.name for c in parts), fmt.fractions)) if fixed else None
    out["accounting"] = _accounting(fmt)
    return out


def _levels(fmt: ScaledFormat) -> list[float]:
    el = fmt.element
    if el.bits > 16:
        return []
    return [float(v) for v in el.values]


def _accounting(fmt: Format) -> str:
    if isinstance(fmt, ChoiceFormat):
        if len({c.bits_per_element for c in fmt.candidates}) == 1:
            each = fmt.candidates[0].bits_per_element
            return (
                f"{each:g} (element + scale, any of {len(fmt.candidates)} candidates) + "
                f"{fmt.flag_bits}/{fmt.block_size} flag = {fmt.bits_per_element:g}"
            )
        flag = f"{fmt.flag_bits}/{fmt.block_size} flag"
        if not fmt.fixed_bits:  # a threshold: the shares are the data's
            low, high = fmt.candidates
            return (f"(1 - s) x {low.bits_per_element:g} ({low.name}) + s x "
                    f"{high.bits_per_element:g} ({high.name}) + {flag}, s the share of blocks "
                    f"{fmt.selector.label} gives {high.name} (known from the data)")  # fmt: skip
        terms = " + ".join(
            f"{f:g} x {c.bits_per_element:g} ({c.name})"
            for f, c in zip(fmt.fractions, fmt.candidates)
            if f > 0
        )
        return f"{terms} + {flag} = {fmt.bits_per_element:g}"
    b = fmt.block_size
    text = f"{fmt.element.bits} element"
    if b:
        text += f" + {fmt.scale.bits}/{b} {fmt.scale.name} scale"
    text += f" = {fmt.bits_per_element:g} bits/element"
    if fmt.bits_per_tensor:
        text += f", plus {fmt.bits_per_tensor} bits per tensor"
    if fmt.blocking.per_channel:
        text += f", plus one {fmt.scale.bits}-bit scale per row"
    return text


def run(args: argparse.Namespace) -> int:
    from dse.commands import print_json

    if args.action == "list":
        table = catalogue(args.nu)
        if args.json:
            print_json(table.to_dict(orient="records"))
        else:
            print(table.to_string(index=False, float_format=lambda v: f"{v:g}"))
        return 0
    if args.action == "aliases":
        return _print(aliases(), args.json)
    if not args.name:
        from dse.errors import UserError

        what = "a config.json path" if args.action == "hf" else "a format name, e.g. nvfp4"
        raise UserError(f"`dse formats {args.action}` needs {what}")
    if args.action == "hf":
        from dse.formats.hf import SIXTEEN, formats_from_hf, unquantized_modules
        from workloads.profiles import classes_of_modules

        weights, acts = formats_from_hf(args.name)
        rows = [{"operand": "weights", "format": weights},
                {"operand": "activations", "format": acts}]
        left = classes_of_modules(unquantized_modules(args.name))
        if left:
            rows.append({"operand": f"weights and activations of {', '.join(left)} (left "
                                    "unquantized)", "format": SIXTEEN})  # fmt: skip
        return _print(pd.DataFrame(rows), args.json)
    info = details(parse(args.name))
    if args.json:
        print_json(info)
        return 0
    for key in ("name", "element", "block", "scale", "selector", "accounting"):
        if key in info:
            print(f"{key:>10}: {info[key]}")
    for name, levels in info["codebooks"].items():
        shown = levels
        if len(levels) > _VALUES_SHOWN:
            half = _VALUES_SHOWN // 2
            shown = [*levels[:half], "...", *levels[-half:]]
        text = ", ".join(v if isinstance(v, str) else f"{v:.7g}" for v in shown)
        print(f"{name:>10}: {len(levels)} levels: {text}" if levels else f"{name:>10}: wide")
    return 0


def aliases() -> pd.DataFrame:
    """Every alias: the name, what it stands for here, and where the name comes from."""
    from dse.formats.aliases import ELEMENT_ALIASES, SCHEMES

    rows = [{"alias": a, "kind": "element", "means": parse(a).name.split("/")[0]}
            for a in ELEMENT_ALIASES]  # fmt: skip
    rows += [{"alias": k, "kind": "scheme (space.scheme)",
              "means": f"weights {s.weights}, activations {s.activations}"}
             for k, s in SCHEMES.items()]  # fmt: skip
    return pd.DataFrame(rows)


def _print(table: pd.DataFrame, as_json: bool) -> int:
    from dse.commands import print_json

    if as_json:
        print_json(table.to_dict(orient="records"))
    else:
        print(table.to_string(index=False))
    return 0


__all__ = ["aliases", "catalogue", "details"]
