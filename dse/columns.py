"""The results table's metric columns, with units: the contract between the evaluation (which
writes them), the optimizer (objectives and constraints name them) and `reports` (which reads
them). Derived from the metric registry (`dse.evaluation.metrics`), where each column is
registered once with its unit, meaning and computation.

Besides these, a results table holds `point` (the design point's index in the space) and one
column per design variable of the sweep (e.g. `weight_format`, `pe_rows`). Per tensor class
columns use the class names of `workloads.CLASSES` (qkv, o, gate_up, down, lm_head,
attn_score, attn_context) as suffixes.
"""

from __future__ import annotations

import dse.evaluation.metrics  # noqa: F401  (registers the metrics)
from dse.evaluation.registry import REGISTRY
from workloads import CLASSES

#: The version of the values in these columns. A change of a model that moves results (the
#: golden tables of tests/golden are regenerated) bumps it; it is in every sweep's resume key,
#: so rows stored by an older engine are not resumed (`dse run --fresh` moves them aside), and
#: tests/golden/update.py refuses to rewrite moved tables under an unchanged version.
RESULTS_VERSION = "2026.12.05.1"

#: column -> (unit, meaning). Units are also in the names where a name has one.
METRICS: dict[str, tuple[str, str]] = {
    m.name: (m.unit, m.meaning) for m in REGISTRY.values() if not m.per_class
}

#: Per tensor class columns: prefix -> (unit, meaning); the column is f"{prefix}_{class}".
PER_CLASS: dict[str, tuple[str, str]] = {
    m.name: (m.unit, m.meaning) for m in REGISTRY.values() if m.per_class
}


def metric_columns() -> list[str]:
    """Every column an objective, a constraint or a strategy's `metric` may name: the numeric
    metrics (not the true/false ones such as error_exact)."""
    numeric = (c for c, (unit, _) in METRICS.items() if unit != "bool")
    return [*numeric, *(f"{p}_{c}" for p in PER_CLASS for c in CLASSES)]


def units_table() -> list[dict[str, str]]:
    """Rows of (column, unit, meaning) for documentation and `--json` consumers."""
    rows = [{"column": c, "unit": u, "meaning": m} for c, (u, m) in METRICS.items()]
    rows += [{"column": f"{p}_<class>", "unit": u, "meaning": m} for p, (u, m) in PER_CLASS.items()]
    return rows
