"""Column labels with units (from `dse.columns`) and the text form of table values.

Labels are plain text; callers escape them for where they go (HTML or plotly).
"""

from __future__ import annotations

import math
from numbers import Integral, Real

from dse.columns import METRICS, PER_CLASS
from workloads import CLASSES


def metric_unit(column: str) -> str | None:
    """The unit of a metric column of `dse.columns` ('1' for ratios), None for other columns."""
    known = _unit_and_meaning(column)
    return known[0] if known else None


def _unit_and_meaning(column: str) -> tuple[str, str] | None:
    if column in METRICS:
        return METRICS[column]
    for prefix, (unit, meaning) in PER_CLASS.items():
        cls = column[len(prefix) + 1:]
        if column.startswith(prefix + "_") and cls in CLASSES:
            return unit, f"{meaning} ({cls})"
    return None


def label(column: str) -> str:
    """`column [unit]` for metrics with a unit, else the column name."""
    known = _unit_and_meaning(column)
    if known and known[0] not in ("1", "bool"):
        return f"{column} [{known[0]}]"
    return column


def meaning(column: str) -> str:
    """What a metric column holds ('' for design variables and other columns)."""
    known = _unit_and_meaning(column)
    return known[1] if known else ""


def text(value: object) -> str:
    """A table value as text: 4 significant digits for reals, '' for missing values."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool | str) or isinstance(value, Integral):
        return str(value)
    if isinstance(value, Real):
        v = float(value)
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else f"{v:.4g}"
    return str(value)
