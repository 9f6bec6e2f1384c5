"""Stage 2: operand and output errors per (point, GEMM), and the model's error.

A GEMM's output NMSE is nmse_w + nmse_a + nmse_w nmse_a (independent operand errors,
`dse.error.gemm_nmse`); the model's is the mean over the step's GEMMs, each GEMM of a layer
counting once per layer (the lm_head once), weighted by its class's sensitivity
(`workload.sensitivity`, default 1). This aggregate is an approximation: it ignores how errors
propagate through non-linearities and residual connections. `dse.accuracy` maps it to a
predicted perplexity change calibrated on published results.

With a profile (`workload.profile`) whose tensors carry measured block-maximum laws, a block-
or channel-scaled format's error on a class, and a per-block choice's where the law carries it
(BlockDialect), is predicted tensor by tensor from those records, weighted by each tensor's sum
of squares (`dse.error.profile.errors_for_tensors`, the model `dse validate` checks; the
formats of a class in one pass over its tensors, so the FP4/FP8 mixes of a sweep over p build
each tensor's law of the block scores once); other formats, and classes whose statistics the
sweep overrides, use the class statistics below.
Such values are models, not exact (the `exact` flag is false).

Which fit each error uses (`dse.error.profile.fit_level`): block- and
channel-scaled formats see the within-group shape (`nu_within`) when it is known, per-tensor
scales and plain casts the pooled `nu`; the within-group level's `scale_spread_log2`, when
known, reaches the choices that rank blocks tensor-wide (`dse.error.api`). Per-channel
scales take the GEMM's reduction length K as the row; per-tensor scales the operand's size.
Each error is computed once per distinct (format, distribution, block, spread) and cached
for the run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dse.accuracy import ppl_change_pct
from dse.error import error, gemm_nmse
from dse.error.profile import errors_for_tensors, fit_level
from dse.errors import ModelLimitError, warn
from dse.evaluation.context import EvalContext
from dse.evaluation.formats import Names
from dse.formats import ScaledFormat, parse
from workloads import operand_keys


@dataclass(frozen=True)
class Errors:
    """Per (point, GEMM): weight (or KV) and activation NMSE, output NMSE, exactness; per
    point: the model NMSE and the perplexity change columns of `dse.accuracy`."""

    nmse_w: np.ndarray
    nmse_a: np.ndarray
    nmse_out: np.ndarray
    exact: np.ndarray
    model: np.ndarray
    ppl: dict[str, np.ndarray]


class ErrorStage:
    """The errors of a chunk of points; keeps a cache of operand errors for the run."""

    def __init__(self, ctx: EvalContext):
        self.ctx = ctx
        self._cache: dict[tuple, tuple[float, bool]] = {}
        self._per_tensor: dict[tuple, tuple[float, bool] | None] = {}  # profiled classes
        self._refused: set[str] = set()  # formats the error model has no model of

    def operand(self, name: str, operand: tuple[str, str], k: int, size: int
                ) -> tuple[float, bool]:  # fmt: skip
        """(NMSE, exact) of format `name` on the operand `operand` (kind, class: its
        statistics, or the profiled tensors that, where they carry the format's block-maximum
        law, give the error tensor by tensor), reduction length k and `size` elements."""
        fmt = parse(name)
        stats = self.ctx.stats[operand]
        if self.ctx.profiled.get(operand):
            self.profiled([name], operand)
            found = self._per_tensor[(name, operand)]
            if found is not None:
                return found
        within = fit_level(fmt) == "within_group"
        nu = stats.nu_within if within and stats.nu_within else stats.nu
        spread = (stats.scale_spread_log2 or 0.0) if within else 0.0
        key = (name, nu, k, size, stats.sigma, spread)
        if key not in self._cache:
            channel = isinstance(fmt, ScaledFormat) and fmt.blocking.per_channel
            try:
                r = error(fmt, nu, block=k if channel else None, tensor_size=size,
                          sigma=stats.sigma, scale_spread=spread)
                self._cache[key] = (r.nmse, r.exact)
            except ModelLimitError as exc:  # no model of this format: its points infeasible
                if name not in self._refused:
                    warn(f"{exc}; the design points using it have no error (NaN) and are "
                         "infeasible")
                    self._refused.add(name)
                self._cache[key] = (np.nan, False)
        return self._cache[key]

    def profiled(self, names: list[str], operand: tuple[str, str]) -> None:
        """Compute, in one pass over the operand's profiled tensors, the per-tensor errors of
        the formats of `names` not known yet (`errors_for_tensors`: the mixes of one candidate
        pair share each tensor's law of the block scores)."""
        records = self.ctx.profiled.get(operand)
        todo = [n for n in dict.fromkeys(names) if (n, operand) not in self._per_tensor]
        if not records or not todo:
            return
        values = errors_for_tensors([parse(n) for n in todo], list(records))
        for n, value in zip(todo, values):
            self._per_tensor[(n, operand)] = None if value is None else (value, False)

    def __call__(self, names: dict[tuple[str, str], Names]) -> Errors:
        ctx = self.ctx
        cols: dict[str, list[np.ndarray]] = {"w": [], "a": [], "exact": []}
        for g in ctx.gemms:
            a_key, b_key = operand_keys(g.tensor_class)
            side = []
            for key, size, op in (("b", g.k * g.n, b_key), ("a", g.a_elements, a_key)):
                c, distinct = names[(key, g.tensor_class)]
                self.profiled(list(distinct), op)
                vals = [self.operand(n, op, g.k, size) for n in distinct]
                side.append((np.array([v[0] for v in vals])[c], np.array([v[1] for v in vals])[c]))
            cols["w"].append(side[0][0])
            cols["a"].append(side[1][0])
            cols["exact"].append(side[0][1] & side[1][1])
        nw, na = np.column_stack(cols["w"]), np.column_stack(cols["a"])
        nout = gemm_nmse(nw, na)
        model = nout @ ctx.error_weights
        exact = np.column_stack(cols["exact"])
        return Errors(nw, na, nout, exact, model, ppl_change_pct(model, ctx.params))
