"""The `dse` command line: thin over the Python API.

Every subcommand lives in `dse.commands.<name>` and exposes `register(subparsers)`, which adds
its parser and sets `func` (args -> exit status). A `UserError` anywhere becomes one line on
stderr and exit status 2, with no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

import dse.commands
from dse import __version__
from dse.errors import ModelLimitError, UserError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own usage errors: status 2, ONE line
        self.exit(2, f"dse: error: {message} (see '{self.prog} --help')\n")


#: options whose value may start with '-' (`--sort -COLUMN` means descending)
_DASH_VALUED = ("--sort",)


def _join_dash_values(argv: Sequence[str]) -> list[str]:
    """`--sort -X` as `--sort=-X` (argparse would otherwise read -X as an option)."""
    out: list[str] = []
    for arg in argv:
        if out and out[-1] in _DASH_VALUED and arg.startswith("-") and not arg.startswith("--"):
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="dse",
        description="Analytic design-space exploration of LLM number formats and accelerators.",
    )
    parser.add_argument("--version", action="version", version=f"dse {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for info in sorted(pkgutil.iter_modules(dse.commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"dse.commands.{info.name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(_join_dash_values(sys.argv[1:] if argv is None else argv))
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (UserError, ModelLimitError) as exc:
        print(f"dse: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
