"""`search.method: greedy-mantissa`: Anda's per-module mantissa search (Fang et al., HPCA 2025)
with an error tolerance standing in for accuracy.

The searched variables (`modules`, default the four `act_format_<cls>` of qkv, o, gate_up and
down: Anda's qkv, o, up and down module types) each list Anda formats `anda(m=K)`; a design
is a mantissa tuple, one m per module, every other variable at its first listed value. As in
the paper's adaptive precision search: uniform tuples [m, m, m, m] for m in `start` go into a
priority queue ordered by bit operations; the cheapest is popped and evaluated; if
its error is within tolerance it becomes the best and its neighbours (one component one bit
shorter) are pushed; the search stops after `max_evaluations` evaluations or when the queue is
empty. One change: a popped tuple no cheaper than the best is dropped without evaluating it
(it could not become the best), so the evaluation budget goes to tuples that can.

Bit operations: BOPs = sum over the searched modules of MACs x weight bits x m, with MACs the
workload's (phase, batch, tokens) MACs of the module's GEMMs, weight bits the element bits of
the module's weight format (4 for int4/g128) and m the mantissa length, hidden bit included.

Tolerance: a design is within tolerance t when its result column `metric` is within t of the
reference design's (`dse.strategies._common.error_limit`), whose modules use the `reference`
format (fp16: the paper's FP16-activation baseline) and whose other variables are
`reference_design`. With `metric: ppl_change_pct` (the calibrated accuracy axis,
`dse.accuracy`) t is in percent of perplexity: t = 1 keeps the predicted perplexity within 1 %
of the reference's, as the paper's accuracy-loss tolerances (0.1 % and 1 %) are stated. With
the default `metric: model_nmse` t is a relative NMSE increase, a stand-in for accuracy.

Every evaluated point lands in the results table; `<output dir>/greedy-mantissa.json` holds the
reference, each search's trace and chosen tuple, and the `compare` designs' points.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np

from dse.errors import UserError
from dse.formats import parameters, parse
from dse.optimize import SearchContext, register
from dse.schema import ListOf, MapOf, Num, Record, Str
from dse.space import Space
from dse.spec import SearchSpec
from dse.strategies._common import (
    OPTIONS,
    design_digits,
    error_limit,
    metric_option,
    need_variables,
    tolerance_option,
    tolerances,
    value_index,
    write_trace,
)

NAME = "greedy-mantissa"
MODULES = ("qkv", "o", "gate_up", "down")  # Anda's module types; gate_up is Anda's "up"

SCHEMA = Record(
    {
        "modules": ListOf(Str(), min_items=1, doc="space variables searched, one m each"),
        "tolerance": tolerance_option(),
        "start": ListOf(Num(1, 16, integer=True), min_items=2, doc="[low, high] uniform starts"),
        "max_evaluations": Num(1, integer=True, doc="evaluations per search"),
        "metric": metric_option(),
        "reference": Str(doc="format of the searched modules in the reference design"),
        "reference_design": MapOf(doc="other variables' values in the reference design"),
        "compare": ListOf(MapOf(), doc="further designs to evaluate, as {variable: value}"),
    },
    defaults={
        "modules": [f"act_format_{c}" for c in MODULES],
        "tolerance": [0.001, 0.01],
        "start": [4, 13],
        "max_evaluations": 32,
        "metric": "model_nmse",
        "reference": "fp16",
        "reference_design": {},
        "compare": [],
    },
)


@dataclass(frozen=True)
class _Problem:
    """The searched variables' positions, mantissa -> value index maps and BOPs weights."""

    space: Space
    base: np.ndarray  # digits of the search designs
    columns: tuple[int, ...]  # position of each searched variable
    index: tuple[dict[int, int], ...]  # per module: mantissa -> value index
    weights: np.ndarray  # per module: MACs x weight bits

    def digits(self, mantissas: tuple[int, ...]) -> np.ndarray:
        d = self.base.copy()
        for col, idx, m in zip(self.columns, self.index, mantissas):
            d[col] = idx[m]
        return d

    def bops(self, mantissas: tuple[int, ...]) -> float:
        return float(self.weights @ np.asarray(mantissas, dtype=float))

    def has(self, mantissas: tuple[int, ...]) -> bool:
        return all(m in idx for idx, m in zip(self.index, mantissas))


def _mantissas(space: Space, name: str) -> dict[int, int]:
    """Anda mantissa length -> value index of one searched variable."""
    var = space.variables[space.names.index(name)]
    out = {}
    for i, v in enumerate(var.values):
        family, params = parameters(v) if isinstance(v, str) else ("", {})
        if family == "anda":
            out[int(float(params["m"]))] = i
    if not out:
        raise UserError(f"space.{name}: {NAME} searches Anda formats; list some anda(m=K)")
    return out


def _weight_format(ctx: SearchContext, base: np.ndarray, cls: str) -> str:
    """The weight format of class `cls` in the search designs."""
    for name in (f"weight_format_{cls}", "weight_format"):
        if name in ctx.space.names:
            i = ctx.space.names.index(name)
            return str(ctx.space.variables[i].values[base[i]])
    return ctx.context.hw["weight_format"]


def _problem(ctx: SearchContext, opts: dict) -> _Problem:
    modules = opts["modules"]
    need_variables(ctx.space, modules, f"{OPTIONS}.modules of {NAME}")
    gemms = ctx.context.gemms
    base = np.zeros(len(ctx.space.names), dtype=np.int64)
    weights = []
    for name in modules:
        cls = name.rsplit("_format_", 1)[-1]
        macs = sum(g.macs for g in gemms if g.tensor_class == cls)
        if not macs:
            raise UserError(f"{OPTIONS}.modules: {name} names no GEMM class of the workload")
        weights.append(macs * parse(_weight_format(ctx, base, cls)).element.bits)
    return _Problem(
        ctx.space,
        base,
        tuple(ctx.space.names.index(n) for n in modules),
        tuple(_mantissas(ctx.space, n) for n in modules),
        np.array(weights, dtype=float),
    )


class _Evaluations:
    """Error of designs by digits, through the context's cache (stored, resumable)."""

    def __init__(self, ctx: SearchContext, metric: str):
        self.ctx, self.metric, self.cache = ctx, metric, ctx.cache()

    def point(self, digits: np.ndarray) -> int:
        return int(self.ctx.space.index_of(digits[None, :])[0])

    def error(self, digits: np.ndarray, what: str) -> float:
        row = self.cache.get(np.array([self.point(digits)])).iloc[0]
        value = float(row[self.metric])
        if not math.isfinite(value):
            design = {n: row[n] for n in self.ctx.space.names}
            raise UserError(
                f"{OPTIONS}: the {what} design {design} has no {self.metric} (a unit this "
                "hardware cannot build?); change reference_design or the space"
            )
        return value


def _search(p: _Problem, ev: _Evaluations, limit: float, opts: dict) -> dict:
    """One greedy search (module docstring) under the error `limit`."""
    n = len(p.columns)
    lo, hi = opts["start"][0], opts["start"][-1]
    starts = [(m,) * n for m in range(lo, hi + 1) if p.has((m,) * n)]
    if not starts:
        raise UserError(f"{OPTIONS}.start: no uniform tuple of m in {lo}..{hi} is in the space")
    heap = [(p.bops(t), t) for t in starts]
    heapq.heapify(heap)
    seen, trace, best = set(starts), [], None
    while heap and len(trace) < opts["max_evaluations"]:
        cost, t = heapq.heappop(heap)
        if best is not None and cost >= best["bops"]:
            continue
        digits = p.digits(t)
        err = ev.error(digits, "search")
        ok = err <= limit
        trace.append({"mantissas": list(t), "bops": cost, "error": err, "within": ok})
        if not ok:
            continue
        best = {"mantissas": list(t), "bops": cost, "error": err, "point": ev.point(digits)}
        for i in range(n):
            nb = (*t[:i], t[i] - 1, *t[i + 1 :])
            if nb not in seen and p.has(nb):
                seen.add(nb)
                heapq.heappush(heap, (p.bops(nb), nb))
    return {"limit": limit, "evaluations": len(trace), "chosen": best, "trace": trace}


def _budget(search: SearchSpec, space: Space) -> int:
    opts = search.options  # validated with the config (dse.config)
    return 1 + len(opts["compare"]) + len(tolerances(opts["tolerance"])) * opts["max_evaluations"]


@register(
    NAME,
    _budget,
    "Anda's greedy per-module mantissa search under an error tolerance",
    options=SCHEMA,
)
def greedy_mantissa(ctx: SearchContext) -> None:
    opts = ctx.search.options
    p = _problem(ctx, opts)
    ev = _Evaluations(ctx, opts["metric"])
    ref = p.base.copy()
    for name, col in zip(opts["modules"], p.columns):
        ref[col] = value_index(ctx.space, name, opts["reference"], f"{OPTIONS}.reference")
    ref_design = {n: ctx.space.variables[i].values[ref[i]] for i, n in enumerate(ctx.space.names)}
    ref_design.update(opts["reference_design"])
    ref = design_digits(ctx.space, ref_design, f"{OPTIONS}.reference_design")
    ref_error = ev.error(ref, "reference")
    searches = [
        {"tolerance": t, **_search(p, ev, error_limit(opts["metric"], ref_error, t), opts)}
        for t in tolerances(opts["tolerance"])
    ]
    compared = []
    for i, design in enumerate(opts["compare"]):
        full = {**{m: opts["reference"] for m in opts["modules"]}, **design}
        digits = design_digits(ctx.space, full, f"{OPTIONS}.compare[{i}]")
        ev.cache.get(np.array([ev.point(digits)]))
        compared.append({"design": full, "point": ev.point(digits)})
    write_trace(ctx, NAME, {
        "metric": opts["metric"],
        "modules": opts["modules"],
        "bops": "sum over modules of MACs x weight element bits x mantissa bits",
        "bops_weights": dict(zip(opts["modules"], p.weights.tolist())),
        "reference": {"design": ref_design, "point": ev.point(ref), "error": ref_error},
        "searches": searches,
        "compare": compared,
    })  # fmt: skip
