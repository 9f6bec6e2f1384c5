"""Stage 1: the format name of each operand of each tensor class, per design point.

A name is composed once per distinct combination of the operand's format variables (the
operand table, `workloads.operands`): `<op>_format_<class>` else `<op>_format` else the base
hardware's format, with the `<op>_block/scale/clip` modifiers applied through the grammar.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dse.evaluation.context import EvalContext
from dse.evaluation.factorize import factorize, factorize_rows
from dse.formats import with_options
from dse.formats.aliases import scheme
from workloads.operands import BY_PREFIX, MODIFIERS, SCHEME, Operand, operands_of

#: (codes per point, distinct format names) of one operand of one class.
Names = tuple[np.ndarray, list[str]]


class Columns:
    """One chunk's columns, each factorized once."""

    def __init__(self, points: pd.DataFrame):
        self.points = points
        self._codes: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def __contains__(self, col: str) -> bool:
        return col in self.points

    def codes(self, col: str) -> tuple[np.ndarray, np.ndarray]:
        if col not in self._codes:
            self._codes[col] = factorize(self.points[col].to_numpy())
        return self._codes[col]


def operand_names(ctx: EvalContext, cols: Columns, op: Operand, cls: str) -> Names:
    """(codes per point, distinct format names) of operand `op` in tensor class `cls`."""
    base = op.format_variable(cls, cols)
    if base is None and op.scheme_side and SCHEME in cols:
        base = SCHEME
    mods = [m for m in MODIFIERS if op.modifier(m) in cols]
    if op.fallback and base is None and not mods:  # nothing in the space names its format here
        return operand_names(ctx, cols, BY_PREFIX[op.fallback], cls)
    default = ctx.hw[op.hardware_key]
    names_of = ([base] if base else []) + [op.modifier(m) for m in mods]
    if not names_of:
        return np.zeros(len(cols.points), dtype=np.int64), [default]
    codes, uniq = factorize_rows([cols.codes(c) for c in names_of])
    names = []
    for row in uniq:
        row = dict(zip(names_of, row))
        name = row.get(base, default) if base else default
        if base == SCHEME:
            name = getattr(scheme(name), str(op.scheme_side))
        opts = {m: row[op.modifier(m)] for m in mods}
        names.append(with_options(name, **opts) if opts else name)
    return codes.astype(np.int64), names


def format_names(ctx: EvalContext, points: pd.DataFrame) -> dict[tuple[str, str], Names]:
    """(GEMM side "a" or "b", tensor class) -> the names of that operand, per point."""
    cols = Columns(points)
    out: dict[tuple[str, str], Names] = {}
    for cls in ctx.class_gemms:
        for op in operands_of(cls):
            out[(op.side, cls)] = operand_names(ctx, cols, op, cls)
    return out
