"""`dse profile FILE...`: fit the Student-t model to the tensors in .npy/.npz/.safetensors
files and write the statistics as YAML or JSON (the schema workloads load)."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import pandas as pd

from dse.commands import add_json_option, examples, json_text


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "profile",
        help="fit Student-t statistics (nu, sigma) to tensors in .npy/.npz/.safetensors files",
        description="Fit X = sigma * t(nu) by maximum likelihood to every tensor in the files, "
        "pooled and within groups (rows or blocks divided by their RMS), with the "
        "Kolmogorov-Smirnov distance of the t fit and of the best centred normal. Writes YAML "
        "(nu = .inf means normal). A file that cannot be read is reported and skipped (exit "
        "status 2; a partial profile is not written over an existing one); a tensor with too "
        "few non-zero values to fit (an all-zero bias) is skipped with a warning.",
        **examples(
            "dse profile model.safetensors -o stats.yaml",
            "dse profile weights.npz --group 128 -o -",
        ),
    )
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument(
        "-o",
        "--output",
        default="out/profile.yaml",
        help="file to write: YAML, or JSON if it ends in .json (for profiles of thousands of "
        "tensors, mixtures of experts: 768 tensors load in 1.4 s instead of 20 s); default "
        "out/profile.yaml; '-' for YAML on stdout",
    )
    p.add_argument(
        "--group",
        default="row",
        help="within-group unit: 'row' (along the last axis) or a block size B",
    )
    p.add_argument(
        "--max-values",
        type=int,
        default=1_000_000,
        help="subsample tensors larger than this for the fits (default 1e6)",
    )
    p.add_argument("--seed", type=int, default=0)
    add_json_option(p)
    p.set_defaults(func=run)


def profile_files(args: argparse.Namespace) -> tuple[dict, list[str], list[str]]:
    """({tensor name: stats}, error messages, tensors skipped with nothing to fit), going on
    after a bad file."""
    from dse.error.profile import MIN_VALUES, NothingToFit, profile_array
    from dse.error.tensorio import read_tensors
    from dse.errors import UserError

    group = args.group if args.group == "row" else _block(args.group)
    if args.max_values < MIN_VALUES:
        raise UserError(f"--max-values must be at least {MIN_VALUES}, got {args.max_values}")
    if args.seed < 0:
        raise UserError(f"--seed must be >= 0, got {args.seed}")
    tensors, errors, skipped = {}, [], []
    for path in args.files:
        try:
            for name, arr, dtype in read_tensors(path):
                key = name if name not in tensors else f"{path}:{name}"
                try:
                    tensors[key] = {
                        "file": str(path),
                        **profile_array(arr, dtype, group, args.max_values, args.seed),
                    }
                except NothingToFit as exc:  # not a defect of the file: nothing to describe
                    skipped.append(f"{path}: tensor {name!r} skipped: {exc}")
                except UserError as exc:
                    errors.append(f"{path}: tensor {name!r}: {exc}")
        except UserError as exc:
            errors.append(str(exc))
    return tensors, errors, skipped


def _block(text: str) -> int:
    from dse.errors import UserError

    try:
        block = int(text)
    except ValueError:
        block = 0
    if block < 1:
        raise UserError(f"--group must be 'row' or a block size >= 1, got {text!r}")
    return block


def run(args: argparse.Namespace) -> int:
    import yaml

    from dse.errors import UserError
    from dse.files import write_atomic

    tensors, errors, skipped = profile_files(args)
    if not tensors:  # nothing fitted: an error, and nothing written over an earlier profile
        reasons = errors + skipped
        first = f": {reasons[0]}" if reasons else ""
        more = f" (and {len(reasons) - 1} more)" if len(reasons) > 1 else ""
        raise UserError(f"no tensor could be profiled{first}{more}")
    for msg in skipped:
        print(f"dse: warning: {msg}", file=sys.stderr)
    for msg in errors:
        print(f"dse: error: {msg}", file=sys.stderr)
    doc = {"tensors": tensors}
    if args.json:
        sys.stdout.write(json_text(doc))
    else:
        out = Path(args.output)
        if out.suffix.lower() == ".json":
            text = json_text(doc, indent=None)  # a machine's file: a third of the indented size
        else:  # leaf lists inline; libyaml's emitter where PyYAML has it (the same text)
            dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
            text = yaml.dump(doc, Dumper=dumper, sort_keys=False, default_flow_style=None)
        if args.output == "-":
            sys.stdout.write(text)
        else:
            if errors and out.exists():  # a partial profile never replaces an existing file
                raise UserError(
                    f"{len(errors)} tensor(s) failed; the existing {str(out)!r} is kept "
                    "(fix the errors, or write the partial profile elsewhere with -o)"
                )
            write_atomic(out, text)
            _table(tensors)
            print(f"wrote {out} ({len(tensors)} tensors)")
    return 2 if errors else 0


def _table(tensors: dict) -> None:
    if not tensors:
        return
    rows = [
        {
            "tensor": k,
            "shape": "x".join(map(str, v["shape"])),
            "dtype": v["dtype"],
            "n_values": v["n_values"],
            "nu": v["pooled"]["nu"],
            "sigma": v["pooled"]["sigma"],
            "ks": v["pooled"]["ks"],
            "ks_normal": v["pooled"]["ks_normal"],
            "nu_within": v["within_group"]["nu"],
            "spread_log2": v["within_group"]["scale_spread_log2"],
        }
        for k, v in tensors.items()
    ]
    print(
        pd.DataFrame(rows).to_string(
            index=False, float_format=lambda x: f"{x:.4g}" if math.isfinite(x) else "inf"
        )
    )
