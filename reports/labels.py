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


#: Words of column names written out in titles, and the unit words a title drops (the unit
#: follows in brackets).
_TITLE_WORDS = {"nmse": "NMSE", "sqnr": "SQNR", "ppl": "perplexity", "pe": "PE", "kv": "KV",
                "dram": "DRAM", "sram": "SRAM", "edp": "EDP", "act": "activation", "w": "weight",
                "a": "activation"}  # fmt: skip
_UNIT_WORDS = {"db", "pct", "gb", "uj", "pj", "ms", "ns", "us", "mm2"}


def title(column: str) -> str:
    """An axis title for a metric column: its name in words with the unit in brackets
    ("Energy per token [uJ]", "Tokens per second", "Model NMSE"); other columns as they are."""
    known = _unit_and_meaning(column)
    if known is None:
        return column
    words, unit = column.split("_"), known[0]
    while len(words) > 1 and words[-1] in _UNIT_WORDS:
        words.pop()
    if words[-2:] == ["per", "s"]:
        words[-1], unit = "second", "1"
    text = " ".join(_TITLE_WORDS.get(w, w) for w in words)
    text = text[0].upper() + text[1:]
    return text if unit in ("1", "bool") else f"{text} [{unit}]"


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
