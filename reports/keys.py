"""Format keys of the drawn designs: in the Pareto views a point's colour says its weight
format and its symbol its activation format, so a cluster of designs reads by format.

A design's key is its operand's format when one space variable names it (`weight_format`,
`act_format`; a `scheme` when no weight variable does, for the colour); with per-class
variables only (`weight_format_qkv`, ...) it is the format every class shares, or "mixed".
A sweep gets no colour key when it has one such value or more than MAX_COLOURS, and no
symbol key when it has one or more than len(SYMBOLS): then every point keeps the plain
front / dominated colour, resp. a circle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from reports.formats_panel import PALETTE
from reports.sweep import Sweep
from workloads.operands import ACT, SCHEME, WEIGHT, Operand

#: Marker symbols of activation formats, in order (plotly's 2-D marker symbols).
SYMBOLS = ("circle", "square", "diamond", "triangle-up", "triangle-down", "star", "pentagon",
           "hexagon", "triangle-left", "triangle-right", "cross", "circle-open", "square-open",
           "diamond-open", "triangle-up-open", "star-open")  # fmt: skip
#: The symbols 3-D scatters draw (plotly's scatter3d knows only these; "x" marks infeasible
#: points), cycled when there are more activation formats.
SYMBOLS_3D = ("circle", "square", "diamond", "cross", "circle-open", "square-open",
              "diamond-open")
#: Colours of weight formats: the formats panel's 48-colour palette (no colour repeats).
MAX_COLOURS = len(PALETTE)
MIXED = "mixed"


@dataclass(frozen=True)
class Key:
    """One key: its title, the distinct values in display order, and each row's value as an
    index into `names` (-1 for rows not drawn in detail)."""

    title: str
    names: tuple[str, ...]
    codes: np.ndarray

    def colour(self, code: int) -> str:
        return PALETTE[code % len(PALETTE)]

    def symbol(self, code: int, table: tuple[str, ...] = SYMBOLS) -> str:
        return table[code % len(table)]


def _variables(s: Sweep, op: Operand) -> tuple[str, ...]:
    """The space variables naming `op`'s format: its own for every class, else its per-class
    ones (a scheme names the weights' when nothing else does)."""
    if op.variable in s.variables:
        return (op.variable,)
    per_class = tuple(v for v in (op.class_variable(c) for c in op.class_variables)
                      if v in s.variables)
    if per_class or op is not WEIGHT:
        return per_class
    return (SCHEME,) if SCHEME in s.variables else ()


def _labels(s: Sweep, variables: tuple[str, ...], rows: np.ndarray) -> pd.Series:
    """Each row's key value: the variable's value, or the classes' common value / MIXED."""
    table = s.frame(list(variables), rows).astype(str)
    if len(variables) == 1:
        return table[variables[0]]
    same = table.eq(table.iloc[:, 0], axis=0).all(axis=1)
    return table.iloc[:, 0].where(same, MIXED)


def _order(s: Sweep, variables: tuple[str, ...], present: set[str]) -> list[str]:
    """The present values in the config's order of the first variable, then the others
    sorted, MIXED last."""
    listed = [v for v in s.categories(variables[0]) if v in present]
    rest = sorted(present - set(listed) - {MIXED})
    return listed + rest + ([MIXED] if MIXED in present else [])


def key(s: Sweep, op: Operand, limit: int) -> Key | None:
    """`op`'s key over the rows drawn in detail, or None (see the module docstring)."""
    variables = _variables(s, op)
    if not variables:
        return None
    rows = np.flatnonzero(s.detail)
    labels = _labels(s, variables, rows)
    names = _order(s, variables, set(labels))
    if not 1 < len(names) <= limit:
        return None
    codes = np.full(len(s.results), -1, dtype=np.int64)
    codes[rows] = labels.map({n: k for k, n in enumerate(names)}).to_numpy(dtype=np.int64)
    title = "Scheme" if variables == (SCHEME,) else f"{op.title[:-1]} format"
    return Key(title, tuple(names), codes)


def keys(s: Sweep) -> tuple[Key | None, Key | None]:
    """(colour key: weight format, symbol key: activation format) of the sweep, memoised."""
    return s.memo("format keys", lambda: (key(s, WEIGHT, MAX_COLOURS),
                                          key(s, ACT, len(SYMBOLS))))


def _codes(rows: np.ndarray, key: Key | None) -> np.ndarray:
    """Each row's code under `key` (-1 for every row when the sweep has no such key)."""
    return key.codes[rows] if key else np.full(len(rows), -1, dtype=np.int64)


def sort_rows(rows: np.ndarray, colour: Key | None, symbol: Key | None) -> np.ndarray:
    """`rows` ordered by (colour code, symbol code), stably: each (colour, symbol) pair is then
    one contiguous slice."""
    return rows[np.lexsort((_codes(rows, symbol), _codes(rows, colour)))]


def slices(rows: np.ndarray, colour: Key | None, symbol: Key | None
           ) -> list[tuple[int, int, int, int]]:  # fmt: skip
    """(colour code, symbol code, start, stop) of each contiguous pair in `sort_rows` order
    (code -1 where the sweep has no such key)."""
    c, m = _codes(rows, colour), _codes(rows, symbol)
    if not len(rows):
        return []
    starts = np.flatnonzero(np.r_[True, (c[1:] != c[:-1]) | (m[1:] != m[:-1])])
    stops = np.r_[starts[1:], len(rows)]
    return [(int(c[a]), int(m[a]), int(a), int(b)) for a, b in zip(starts, stops)]
