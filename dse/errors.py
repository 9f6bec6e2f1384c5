"""The one exception type users see: a clear message, exit status 2 on the command line."""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:  # importlib.resources.abc is Python >= 3.11
    from importlib.resources.abc import Traversable


class UserError(ValueError):
    """Bad input from the user (config key, format name, out-of-range value).

    The message names the offending key or value and the valid choices; the CLI prints it
    without a traceback and exits with status 2.
    """


def warn(message: str) -> None:
    """One line "dse: warning: <message>" on stderr (something the user should know that does
    not stop the run)."""
    print(f"dse: warning: {message}", file=sys.stderr)


def suggest(given: str, choices: Iterable[str], n: int = 3) -> str:
    """' (did you mean ...?)' for the closest of `choices`, or '' when none is close."""
    close = difflib.get_close_matches(str(given), [str(c) for c in choices], n=n, cutoff=0.6)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


def unknown(what: str, given: object, choices: Iterable[str]) -> UserError:
    """A UserError for an unknown name, listing the valid choices and the closest matches."""
    choices = sorted({str(c) for c in choices})
    return UserError(
        f"unknown {what} {given!r}{suggest(str(given), choices)}; valid choices: "
        + ", ".join(choices)
    )


def read_text(path: str | Path | Traversable, what: str) -> str:
    """The text of the file `path` (or of package data), or a UserError naming it: "cannot read
    <what> 'path': ..."."""
    try:
        return (Path(path) if isinstance(path, (str, os.PathLike)) else path).read_text()
    except OSError as exc:
        raise UserError(f"cannot read {what} {str(path)!r}: {exc.strerror}") from None


def stems(folder: Path | Traversable, suffix: str) -> list[str]:
    """Sorted names, without `suffix`, of the files in `folder` (e.g. package data) ending in it."""
    return sorted(p.name.removesuffix(suffix) for p in folder.iterdir() if p.name.endswith(suffix))


def load_yaml(path: str | Path | Traversable, what: str):
    """The YAML document in `path` (`read_text`), or a UserError naming the file."""
    try:
        return yaml.safe_load(read_text(path, what))
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML ({exc})") from None
