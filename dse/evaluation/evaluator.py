"""`Evaluator`: a DataFrame of design points -> the same rows plus the registered metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dse.evaluation.context import EvalContext
from dse.evaluation.errors import ErrorStage
from dse.evaluation.formats import format_names
from dse.evaluation.metrics import Stages
from dse.evaluation.registry import columns
from dse.evaluation.roofline import Roofline, RooflineStage
from dse.hardware import HARDWARE_VARIABLES
from dse.spec import SweepSpec
from workloads import CLASSES


class Evaluator:
    """Callable: DataFrame of design points (with `point`) -> the same rows plus metrics.

    Work per chunk is vectorised: names per distinct combination of format variables, errors
    per distinct (format, distribution, block), units per distinct (formats, style, lanes),
    the roofline on (points x GEMMs) arrays."""

    def __init__(self, spec: SweepSpec):
        self.context = EvalContext.of(spec)
        self.errors = ErrorStage(self.context)
        self.roofline = RooflineStage(self.context)
        classes = [c for c in CLASSES if c in self.context.class_gemms]
        self.columns = columns(classes)
        #: columns undefined at an infeasible point (the unit style cannot run its formats)
        self.cost_columns = [c for c, m, _ in self.columns if m.cost]

    def _hw_column(self, points: pd.DataFrame, key: str) -> np.ndarray:
        if key in points:
            return points[key].to_numpy()
        return np.full(len(points), self.context.hw.get(key), dtype=object)

    def _inputs(self, points: pd.DataFrame) -> tuple[dict, dict]:
        """(hardware columns, format names) of `points` (index 0..n-1), the stages' inputs."""
        hw = {k: self._hw_column(points, k) for k in HARDWARE_VARIABLES}
        return hw, format_names(self.context, points)

    def gemm_roofline(self, points: pd.DataFrame) -> Roofline:
        """The roofline stage of `points` alone: bits, unit costs and the accelerator's per
        (point, GEMM) results (`hwmodels.accelerator.Evaluation`), GEMMs as `context.gemms`
        (for the report's roofline plot)."""
        return self.roofline(*self._inputs(points.reset_index(drop=True)))

    def __call__(self, points: pd.DataFrame) -> pd.DataFrame:
        points = points.reset_index(drop=True)
        ctx = self.context
        hw, names = self._inputs(points)
        s = Stages(ctx, self.errors(names), self.roofline(hw, names))
        for col, m, cls in self.columns:
            s.out[col] = m.compute(s, ctx.class_gemms[cls]) if cls else m.compute(s)
        result = pd.DataFrame(s.out)
        result.loc[s.cost.infeasible, self.cost_columns] = np.nan
        return pd.concat([points, result], axis=1)
