"""The exceptions users see (a clear message, exit status 2 on the command line) and the
checks of user input every layer shares: names, numbers, text files, YAML."""

from __future__ import annotations

import difflib
import math
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from importlib.resources.abc import Traversable
    else:
        from importlib.abc import Traversable


class UserError(ValueError):
    """Bad input from the user (config key, format name, out-of-range value).

    The message names the offending key or value and the valid choices; the CLI prints it
    without a traceback and exits with status 2.
    """


class ModelLimitError(ValueError):
    """A case outside what a model covers (not a mistake in the input): a unit style that
    cannot run a format pair, a distribution without variance (nu <= 2), a format a model
    cannot score. The evaluator marks such design points infeasible; elsewhere the CLI
    reports it as one line, exit status 2, like a `UserError`.
    """


def warn(message: str) -> None:
    """One line "dse: warning: <message>" on stderr (something the user should know that does
    not stop the run)."""
    print(f"dse: warning: {message}", file=sys.stderr)


def suggest(given: str, choices: Iterable[str], n: int = 3) -> str:
    """' (did you mean ...?)' for the choices of which `given` is a whole word (`energy`:
    energy_per_token_uj), in the order of `choices`, else for the closest in spelling; ''
    when none is close."""
    names = list(dict.fromkeys(str(c) for c in choices))
    word = str(given).lower()
    close = [c for c in names if word in _WORDS.split(c.lower())][:n] if word else []
    close = close or difflib.get_close_matches(str(given), names, n=n, cutoff=0.6)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


_WORDS = re.compile(r"[\W_]+")  # what separates the words of a name


def unknown(what: str, given: object, choices: Iterable[str],
            aliases: Iterable[str] = ()) -> UserError:  # fmt: skip
    """A UserError for an unknown name, listing the valid choices and the closest matches
    (`suggest`, in the order `choices` come: a table's own column order, say; `aliases`,
    other names of the choices, are suggested but not listed)."""
    choices = list(choices)
    valid = sorted({str(c) for c in choices}, key=_natural)
    return UserError(
        f"unknown {what} {given!r}{suggest(str(given), [*choices, *aliases])}; valid choices: "
        + ", ".join(valid)
    )


def _natural(text: str) -> list:
    """Sort key reading the digits in `text` as numbers ("int4" before "int16", 5 before 10)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def at(path: str) -> str:
    """Where a checked value sits, for messages: its path (e.g. "hardware.rows")."""
    return path or "the config"


_INT64_MAX = 2**63 - 1  # numpy's default integer: larger Python ints overflow in the models


def _text(bound: float) -> str:
    return f"{bound:g}" if isinstance(bound, float) else str(bound)


@dataclass
class Number:
    """A finite number in [minimum, maximum] (exclusive bounds via `open_min`); NaN is always
    refused, +-inf only when `allow_inf`. (`dse.schema.Num` is the same check in a schema.)"""

    minimum: float | None = None
    maximum: float | None = None
    integer: bool = False
    open_min: bool = False
    doc: str = ""
    allow_inf: bool = False

    def check(self, value: Any, path: str) -> Any:
        """`value` as an int (integers) or float, or a UserError naming `path`."""
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and self.integer and isinstance(value, float) and not value.is_integer():
            ok = False
        kind = "an integer" if self.integer else "a number"
        if not ok or (isinstance(value, float) and math.isnan(value)):
            raise UserError(f"{at(path)}: expected {kind}, got {value!r}")
        if isinstance(value, float) and math.isinf(value) and not self.allow_inf:
            raise UserError(f"{at(path)}: {value!r} is not allowed; give a finite number")
        if isinstance(value, int) and abs(value) > _INT64_MAX:
            raise UserError(f"{at(path)}: {value} is out of range (beyond 64-bit integers)")
        lo, hi = self.minimum, self.maximum
        low_bad = lo is not None and (value <= lo if self.open_min else value < lo)
        if low_bad or (hi is not None and value > hi):
            lo_txt = "-inf" if lo is None else _text(lo)
            rng = f"{'(' if self.open_min else '['}{lo_txt}, {'inf' if hi is None else _text(hi)}]"
            raise UserError(f"{at(path)}: {value!r} is out of range; valid range {rng}")
        if self.integer or isinstance(value, int):
            return int(value)
        return float(value)


def read_text(path: str | Path | Traversable, what: str) -> str:
    """The UTF-8 text of the file `path` (or of package data), or a UserError naming it:
    "cannot read <what> 'path': ..." (missing, a directory, unreadable, binary or not UTF-8)."""
    where = f"cannot read {what} {str(path)!r}"
    try:
        data = (Path(path) if isinstance(path, (str, os.PathLike)) else path).read_bytes()
    except OSError as exc:
        raise UserError(f"{where}: {exc.strerror}") from None
    if b"\0" in data:
        raise UserError(f"{where}: binary file (holds NUL bytes), expected text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UserError(
            f"{where}: not UTF-8 text (byte {data[exc.start]:#04x} on line {line})"
        ) from None


#: PyYAML's safe loader with the libyaml parser when PyYAML was built with it (4x faster on a
#: `dse profile` file of 500 tensors: 1.8 s against 7.9 s, measured), else the pure-Python one.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeyLoader(_SAFE_LOADER):  # type: ignore[valid-type, misc]
    """The safe loader, refusing a mapping key given twice (PyYAML keeps the last one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node.start_mark.line + 1)
            except TypeError:  # an unhashable key: the base class reports it
                continue
            if first != key_node.start_mark.line + 1:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicated key {key!r} (first on line {first})",
                    key_node.start_mark,
                )  # fmt: skip
        return super().construct_mapping(node, deep)


def parse_yaml(text: str, where: str):
    """The YAML document in `text`, or a UserError "<where>: not valid YAML at line L, column
    C: ..." (duplicated mapping keys are refused, naming the key and both lines)."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = getattr(exc, "problem", None) or "cannot parse"
        raise UserError(f"{where}: not valid YAML{at}: {what}") from None


def stems(folder: Path | Traversable, suffix: str) -> list[str]:
    """Sorted names, without `suffix`, of the files in `folder` (e.g. package data) ending in it."""
    return sorted(p.name.removesuffix(suffix) for p in folder.iterdir() if p.name.endswith(suffix))


def load_yaml(path: str | Path | Traversable, what: str):
    """The YAML document in the file `path` (`read_text`, `parse_yaml`)."""
    return parse_yaml(read_text(path, what), str(path))
