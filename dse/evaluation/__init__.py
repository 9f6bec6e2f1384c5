"""Evaluation of design points: a batch of points -> one row of metrics per point.

`Evaluator(spec)` builds an `EvalContext` once (the workload's GEMMs, tensor statistics, error
weights, base hardware, technology) and is then called on DataFrames of design points. The
work runs in stages, each in its own module: format names per operand (`formats`), errors
(`errors`), storage bits (`bits`), MAC unit costs (`units`) and the accelerator roofline
(`roofline`); the metric columns are small functions registered once (`metrics`, with the
registry in `registry`) from which `dse.columns`, the JSON Schema's column lists and the
infeasible-point policy are derived.

The package attributes are imported lazily so that `dse.columns` (which reads the registry)
does not import the evaluator and hwmodels.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EvalContext", "Evaluator"]


def __getattr__(name: str) -> Any:
    if name == "Evaluator":
        from dse.evaluation.evaluator import Evaluator

        return Evaluator
    if name == "EvalContext":
        from dse.evaluation.context import EvalContext

        return EvalContext
    raise AttributeError(f"module 'dse.evaluation' has no attribute {name!r}")
