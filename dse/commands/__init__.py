"""Subcommands of `dse`: each module here defines `register(subparsers)`.

`dse.cli` discovers the modules, so adding a command means adding a module, nothing else.
A command's handler takes the parsed arguments and returns an exit status. Each command's help
ends with `examples(...)`: whole command lines, run from the repository root by
tests/test_docs_examples.py.
"""

import argparse
import json
import math
import sys


class _ExamplesFormatter(argparse.HelpFormatter):
    """argparse's help layout, keeping the lines of an "examples:" epilog as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("examples:"):
            return "\n".join(indent + line for line in text.splitlines())
        return super()._fill_text(text, width, indent)


def examples(*commands: str) -> dict:
    """`add_parser` keywords for an "examples:" epilog of whole `dse ...` command lines."""
    return {
        "epilog": "examples:\n" + "\n".join(f"  {c}" for c in commands),
        "formatter_class": _ExamplesFormatter,
    }


def add_set_option(parser, required: bool = False) -> None:
    """The `--set PATH=VALUE` option (repeatable) of the commands that take a sweep file."""
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        required=required,
        help="override an entry of the sweep file, e.g. hardware.node_nm=7nm (repeatable)",
    )


def add_json_option(parser) -> None:
    """The `--json` flag every table-printing command takes: one JSON document on stdout."""
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")


def _json_safe(obj: object) -> object:
    """`obj` with numpy values as Python ones, NaN as None and infinities as "inf" / "-inf"
    (JSON has neither)."""
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if hasattr(obj, "tolist"):  # numpy arrays and scalars
        return _json_safe(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    return obj


def json_text(obj: object, indent: int | None = 2) -> str:
    """One JSON document (numpy values converted; NaN null, infinities "inf"), ending in a
    newline."""
    return json.dumps(_json_safe(obj), indent=indent, default=str, allow_nan=False) + "\n"


def print_json(obj: object) -> None:
    """`json_text` on stdout."""
    sys.stdout.write(json_text(obj))


def help_of(parser):
    """The handler of a command given no action: print its help, exit status 0."""

    def handler(args) -> int:
        parser.print_help()
        return 0

    return handler
