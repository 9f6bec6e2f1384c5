"""Student-t statistics of the GEMM operands, per operand kind and tensor class.

A stats table maps (operand, tensor class) to TensorStats. Operand kinds:
- `weight`: B of the linear classes (qkv, o, gate_up, down, lm_head);
- `activation`: A of every class (layer inputs; queries for attn_score; attention
  probabilities for attn_context);
- `kv_cache`: B of the attention classes (keys for attn_score, values for attn_context), in
  prefill as well, where they are fresh activations but the same tensors the cache stores.

Overrides (and the defaults file `tensor_stats.yaml`) use one nested schema:

    {operand: {tensor_class | "all": {field: value, ...}, ...}, ...}

e.g. `{"weight": {"qkv": {"nu": 5.0}}, "activation": {"all": {"nu": 4.0}}}`. `all` sets
every class of that operand, then named classes refine it. Fields: nu (> 2, inf = normal),
sigma (> 0), nu_within (> 2), scale_spread_log2 (>= 0), source; null clears an optional field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from functools import cache
from importlib.resources import files
from numbers import Real
from typing import TYPE_CHECKING

import yaml

from dse.error.api import MAX_SCALE_SPREAD
from dse.errors import UserError, unknown
from workloads.gemms import CLASSES
from workloads.operands import OPERANDS, operands_of

if TYPE_CHECKING:  # pandas (and the pyarrow it loads) only where a table is built
    import pandas as pd

OPERAND_CLASSES = {o.stats_key: o.classes for o in OPERANDS}
#: The default statistics, package data (read with importlib.resources).
DEFAULTS_FILE = files("workloads") / "tensor_stats.yaml"


@dataclass(frozen=True)
class TensorStats:
    """X = sigma * T_nu for one operand of one tensor class.

    nu: degrees of freedom of the pooled fit (inf = normal); sigma: t scale, None = unknown;
    nu_within: nu of the group-normalised values, None = unknown; scale_spread_log2: standard
    deviation of log2 of the group scales, None = unknown; source: where the numbers come from.
    """

    nu: float
    sigma: float | None = None
    nu_within: float | None = None
    scale_spread_log2: float | None = None
    source: str = "override"


StatsTable = dict[tuple[str, str], TensorStats]
_FIELDS = tuple(f.name for f in fields(TensorStats))


@cache
def _defaults() -> tuple[tuple[tuple[str, str], TensorStats], ...]:
    table = apply_overrides({}, yaml.safe_load(DEFAULTS_FILE.read_text()))
    missing = [key for key in _keys() if key not in table]
    if missing:
        raise RuntimeError(f"{DEFAULTS_FILE} lacks defaults for {missing}")
    return tuple(table.items())


def default_stats() -> StatsTable:
    """The default table (a fresh dict), from `tensor_stats.yaml`, every entry with a source."""
    return dict(_defaults())


def apply_overrides(stats: Mapping[tuple[str, str], TensorStats],
                    overrides: Mapping) -> StatsTable:
    """A new table with `overrides` (nested schema, see module doc) applied to `stats`.

    Unknown operands, classes or fields, and out-of-range values, raise UserError naming them.
    An entry without a `source` gets source "override".
    """
    table = dict(stats)
    for operand, by_class in _mapping(overrides, "stats overrides").items():
        if operand not in OPERAND_CLASSES:
            raise unknown("stats operand", operand, OPERAND_CLASSES)
        by_class = _mapping(by_class, f"stats overrides for {operand!r}")
        valid = OPERAND_CLASSES[operand]
        for cls in by_class:
            if cls != "all" and cls not in valid:
                raise unknown(f"tensor class for {operand}", cls, ("all", *valid))
        ordered = ([("all", by_class["all"])] if "all" in by_class else []) + [
            (cls, values) for cls, values in by_class.items() if cls != "all"]
        for cls, values in ordered:
            where = f"{operand}.{cls}"
            values = _checked(_mapping(values, f"stats override {where}"), where)
            for target in valid if cls == "all" else (cls,):
                key = (operand, target)
                if key in table:
                    table[key] = replace(table[key], **{"source": "override", **values})
                elif "nu" in values:
                    table[key] = TensorStats(**values)
                else:
                    raise UserError(f"stats override {where}: nu is required (no default)")
    return table


def stated_fields(overrides: Mapping) -> dict[tuple[str, str], set[str]]:
    """The fields that checked `overrides` (the schema above, `all` expanded) set, per
    (operand, class)."""
    out: dict[tuple[str, str], set[str]] = {}
    for operand, by_class in overrides.items():
        for cls, values in by_class.items():
            for target in OPERAND_CLASSES[operand] if cls == "all" else (cls,):
                out.setdefault((operand, target), set()).update(values)
    return out


def operand_stats(stats: Mapping[tuple[str, str], TensorStats],
                  tensor_class: str) -> tuple[TensorStats, TensorStats]:
    """(A stats, B stats) of a GEMM of `tensor_class`: activation, then weight or kv_cache."""
    a, b = operand_keys(tensor_class)
    return stats[a], stats[b]


def operand_keys(tensor_class: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """The stats keys (operand kind, class) of a GEMM's A and B operands (`operand_stats`)."""
    if tensor_class not in CLASSES:
        raise unknown("tensor class", tensor_class, CLASSES)
    a, b = operands_of(tensor_class)
    return (a.stats_key, tensor_class), (b.stats_key, tensor_class)


def stats_table(stats: Mapping[tuple[str, str], TensorStats]) -> pd.DataFrame:
    """One row per (operand, class) in a fixed order, with every TensorStats field."""
    import pandas as pd

    rows = [{"operand": operand, "class": cls, **vars(stats[(operand, cls)])}
            for operand, cls in _keys() if (operand, cls) in stats]
    return pd.DataFrame(rows, columns=["operand", "class", *_FIELDS])


def _keys() -> list[tuple[str, str]]:
    return [(operand, cls) for operand, classes in OPERAND_CLASSES.items() for cls in classes]


def _mapping(value: object, what: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise UserError(f"{what}: expected a mapping, got {type(value).__name__}")
    return value


# (lower bound, whether the bound itself is allowed) per numeric field; nu <= 2 has no
# variance, so NMSE is undefined.
_BOUNDS = {"nu": (2.0, False), "sigma": (0.0, False), "nu_within": (2.0, False),
           "scale_spread_log2": (0.0, True)}


def _checked(values: Mapping, where: str) -> dict:
    out: dict[str, str | float | None] = {}
    for name, value in values.items():
        if name not in _FIELDS:
            raise unknown(f"stats field in {where}", name, _FIELDS)
        if name == "source":
            out[name] = str(value)
            continue
        if value is None and name != "nu":
            out[name] = None
            continue
        lower, inclusive = _BOUNDS[name]
        if isinstance(value, bool) or not isinstance(value, Real) or math.isnan(value) \
                or value < lower or (value == lower and not inclusive):
            relation = ">=" if inclusive else ">"
            raise UserError(f"stats {where}.{name} must be a number {relation} {lower:g}, "
                            f"got {value!r}")
        if name in ("sigma", "scale_spread_log2") and math.isinf(value):
            raise UserError(f"stats {where}.{name} must be finite, got {value!r}")
        if name == "scale_spread_log2" and float(value) > MAX_SCALE_SPREAD:
            raise UserError(f"stats {where}.{name} must be at most {MAX_SCALE_SPREAD:g} "
                            f"(octaves), got {value!r}")
        out[name] = float(value)
    return out
