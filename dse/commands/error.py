"""`dse error FORMAT --nu 5 [--block B ...] [--mc N]`: analytic NMSE/SQNR of a format on a
Student-t tensor, and optionally its Monte Carlo estimate with the standard error."""

from __future__ import annotations

import argparse
import math
import re

import pandas as pd

from dse.commands import add_json_option, examples
from dse.errors import UserError

#: Fewest Monte Carlo values `--mc` takes (a stated choice): the iid estimate averages 32
#: batches, and below 32 values per batch its standard error is too noisy to judge z by.
MIN_MC = 1024
#: A block spelled in the format name (int4/g128, blockdialect/b32).
_SPELLED_BLOCK = re.compile(r"/([gb])(\d+)")


def _nu(text: str) -> float:
    if text.lower() in ("inf", "normal"):
        return math.inf
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"nu must be a number or 'inf', got {text!r}") from None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "error",
        help="expected quantization error (NMSE, SQNR) of a format on a Student-t tensor",
        description="Analytic NMSE and SQNR of FORMAT on X = sigma * t(nu) (nu = inf: normal), "
        "exact up to quadrature unless marked as a bound or model. With --mc N, also the Monte "
        "Carlo estimate from N sampled values through the format's exact quantizer, with its "
        "standard error. Per-channel formats take --block as the row length, per-tensor "
        "formats as the tensor size.",
        **examples(
            "dse error nvfp4 --nu 5",
            'dse error "sf4(nu=5)/g128" --nu 3 5 inf --mc 100000',
            "dse error int4 --nu 6.8 --block 32 64 128",
        ),
    )
    p.add_argument("format", help="format name, e.g. int4/g128, mxfp4, nvfp4, anda(m=6)")
    p.add_argument("--nu", type=_nu, nargs="+", default=[5.0], help="degrees of freedom (> 2)")
    p.add_argument("--block", type=int, nargs="+", default=[None], help="values per scale")
    p.add_argument(
        "--sigma",
        type=float,
        default=None,
        help="scale of the t (default: averaged over its position between powers "
        "of two where that matters)",
    )
    p.add_argument(
        "--tensor-amax",
        type=float,
        default=None,
        help="tensor absolute maximum in units of sigma (two-level scales)",
    )
    p.add_argument(
        "--scale-spread",
        type=float,
        default=0.0,
        metavar="S",
        help="standard deviation of log2 of the block scales across the tensor (dse "
        "profile's scale_spread_log2); moves only choices ranking blocks tensor-wide",
    )
    p.add_argument(
        "--mc", type=int, metavar="N", help=f"Monte Carlo with N values (N >= {MIN_MC})"
    )
    p.add_argument(
        "--max-memory-gb",
        type=float,
        default=4.0,
        metavar="GB",
        help="refuse a Monte Carlo run that would hold more memory at once (default 4)",
    )
    p.add_argument(
        "--sampler",
        choices=["iid", "stratified"],
        default="iid",
        help="Monte Carlo sampler (stratified: by the block maximum's rank)",
    )
    p.add_argument("--seed", type=int, default=0)
    add_json_option(p)
    p.set_defaults(func=run)


def _check(args: argparse.Namespace) -> None:
    """Refuse a too-small --mc, a bad memory limit, and a --block contradicting the name's."""
    if args.mc is not None and args.mc < MIN_MC:
        raise UserError(f"--mc {args.mc}: Monte Carlo needs at least {MIN_MC} values")
    if not args.max_memory_gb > 0 or math.isinf(args.max_memory_gb):
        raise UserError(f"--max-memory-gb must be a positive number, got {args.max_memory_gb}")
    spelled = _SPELLED_BLOCK.search(args.format)
    for block in args.block:
        if spelled and block is not None and block != int(spelled.group(2)):
            raise UserError(
                f"--block {block} contradicts the block {spelled.group(2)} in the format name "
                f"{args.format!r}; give the block once (e.g. "
                f"{_SPELLED_BLOCK.sub(f'/{spelled.group(1)}{block}', args.format, count=1)})"
            )


def rows(args: argparse.Namespace) -> list[dict]:
    from dse.error import error

    _check(args)
    out = []
    for nu in args.nu:
        for block in args.block:
            kw = dict(sigma=args.sigma, block=block, tensor_amax=args.tensor_amax,
                      scale_spread=args.scale_spread)  # fmt: skip
            r = error(args.format, nu, **kw)
            row = {k: v for k, v in r.as_dict().items() if k not in ("method", "fit")}
            if args.mc:
                mc = error(
                    args.format,
                    nu,
                    method="montecarlo",
                    samples=args.mc,
                    seed=args.seed,
                    sampler=args.sampler,
                    max_bytes=args.max_memory_gb * 1e9,
                    **kw,
                )
                row.update(
                    mc_nmse=mc.nmse,
                    mc_se=mc.se,
                    mc_sqnr_db=mc.sqnr_db,
                    z=(mc.nmse - r.nmse) / mc.se if mc.se else math.nan,
                )
            out.append(row)
    return out


def run(args: argparse.Namespace) -> int:
    table = rows(args)
    if args.json:
        from dse.commands import print_json

        print_json(table)
        return 0
    cols = ["format", "nu", "block", "nmse", "sqnr_db", "kind"]
    if any(r["se"] is not None for r in table):  # a model with a sampled part
        cols.append("se")
    if args.mc:
        cols += ["mc_nmse", "mc_se", "z"]
    frame = pd.DataFrame(table)[cols]
    print(frame.to_string(index=False, float_format=lambda v: f"{v:.6g}"))
    return 0
