"""Helpers shared by the search strategies of this package: where their options live
(validated with the config), designs named by variable values, and the trace a strategy
leaves in the output directory."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from dse.columns import METRICS, metric_columns
from dse.errors import UserError, suggest
from dse.files import write_atomic
from dse.optimize import SearchContext
from dse.schema import ListOf, Num, OneOf, Str
from dse.space import Space

OPTIONS = "search.options"


def metric_option() -> Str:
    """The `metric` option of a strategy with a tolerance: a result column."""
    return Str(choices=metric_columns(), doc="result column compared with the reference")


def tolerance_option(min_items: int = 1) -> OneOf:
    """The `tolerance` option: one value or a list (one search each), see `error_limit`."""
    return OneOf(
        [Num(0), ListOf(Num(0), min_items=min_items)],
        doc="allowed increase over the reference: percent of perplexity for ppl_change_pct "
        "(1 = perplexity within 1 %), a relative increase (0.01 = 1 %) for other columns",
    )


def tolerances(value: float | list) -> list[float]:
    """The tolerance option as a list."""
    return [float(x) for x in (value if isinstance(value, list) else [value])]


def error_limit(metric: str, reference: float, tolerance: float) -> float:
    """The largest value of result column `metric` within `tolerance` of the reference's value.

    Columns in percent (the accuracy axis: `ppl_change_pct` and its band) are changes of a
    quantity q (perplexity) relative to the unquantized model; `tolerance` is then in percent
    of q, as the studies state theirs ("perplexity within 1 %"): q <= q_ref (1 + t / 100).
    Other columns (errors such as model_nmse) may grow by the fraction t: v <= v_ref (1 + t).
    """
    if METRICS.get(metric, ("",))[0] == "%":
        return 100 * ((1 + reference / 100) * (1 + tolerance / 100) - 1)
    return reference * (1 + tolerance)


def need_variables(space: Space, names: list[str], why: str) -> None:
    """UserError unless every variable of `names` is in the space."""
    missing = [n for n in names if n not in space.names]
    if missing:
        raise UserError(
            f"space: {why} needs the design variable(s) {', '.join(missing)}; "
            f"this space has {', '.join(space.names)}"
        )


def value_index(space: Space, name: str, value: Any, where: str) -> int:
    """Grid index of `value` in variable `name`'s list (UserError naming `where`)."""
    var = space.variables[space.names.index(name)]
    values = [str(v) for v in var.values]
    if str(value) not in values:
        raise UserError(
            f"{where}: {value!r} is not a value of space.{name}{suggest(str(value), values)}; "
            f"valid: {', '.join(values)}"
        )
    return values.index(str(value))


def design_digits(space: Space, design: Mapping[str, Any], where: str) -> np.ndarray:
    """Per-variable grid indices of a design given as {variable: value}; variables it leaves
    out take their first listed value."""
    digits = np.zeros(len(space.names), dtype=np.int64)
    for name, value in design.items():
        if name not in space.names:
            raise UserError(
                f"{where}.{name}: not a design variable of this sweep"
                f"{suggest(name, space.names)}; variables: {', '.join(space.names)}"
            )
        digits[space.names.index(name)] = value_index(space, name, value, f"{where}.{name}")
    return digits


def write_trace(ctx: SearchContext, name: str, data: dict) -> None:
    """The strategy's record of what it did, as `<output dir>/<name>.json`."""
    path = ctx.store.layout.trace(name)
    write_atomic(path, json.dumps(data, indent=2, default=_plain) + "\n")
    ctx.traces.append(path)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {value!r}")
