"""`search.method: global-threshold`: FGMP's FP4/FP8 block mix (Hooper et al. 2025) with one
sensitivity-weighted threshold over all layers, against a uniform FP8 fraction per layer.

The searched variables (`variables`, default `weight_format_<cls>` of the five linear classes)
each list FP4/FP8 mixes `fp4fp8(p=...)` (NVFP4 or FP8 per block of 16). For each global FP8
fraction P of `fractions` (a share of all weight elements) and each policy:

* `uniform`: every class takes p = P;
* `global`: FGMP's rule. A block's score is sum_i g_i^2 (Q_low(x_i) - Q_high(x_i))^2 and the
  blocks above one threshold, over every block of the model, stay FP8; the threshold is set so
  that a fraction P of all weight elements is FP8, and class c gets the share p_c of its
  blocks above it.

Scores are computed by Monte Carlo, not analytically: `blocks` blocks of iid Student-t values
per class (nu of the class's weight statistics, `nu_within` when known) through the class's
own low and high quantizers. Per-value sensitivities g_i^2 come from a stated synthetic model:
g_i^2 = lambda_j u_i, where lambda_j = w_j / (N_j Var) is what one unit of squared error on a
value of GEMM j adds to the engine's model error (w_j: the GEMM's weight in model_nmse,
`workload.sensitivity` included; N_j: its weight elements over all layers) and u_i is
log-normal with mean 1 and log-standard deviation `spread` (within-tensor Fisher variation;
0 = uniform). So the global policy spends the FP8 budget where the engine's own error
aggregate gains most.

Each class's p_c is rounded to the nearest value its list offers; the designs are then
evaluated by the engine as usual (the analytic error of fp4fp8(p) ranks blocks within a class
by their unweighted score: the mix model of `dse.error.choice`). `baselines` names formats
applied to every searched variable (e.g. e4m3 for all-FP8), evaluated for comparison. The policies'
fractions and points go to `<output dir>/global-threshold.json`.

With `tolerance` (e.g. 1 with the default `metric: ppl_change_pct`: predicted perplexity within
1 % of the all-`reference` design's, FGMP's FP8 model), the trace also names, per tolerance and
policy, the smallest listed fraction whose design is within it (`within_tolerance`; null when
none is).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dse.errors import UserError
from dse.formats import ChoiceFormat, parse
from dse.optimize import SearchContext, register
from dse.schema import ListOf, Num, Record, Str
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
    write_trace,
)
from workloads import LINEAR_CLASSES, operand_stats

NAME = "global-threshold"
POLICIES = ("global", "uniform")
BLOCK_VALUES = 16  # values per sampled block (FGMP's block)

SCHEMA = Record(
    {
        "variables": ListOf(Str(), min_items=1, doc="space variables listing fp4fp8(p=...)"),
        "fractions": ListOf(Num(0, 1), min_items=1, doc="global FP8 fractions of the weights"),
        "policies": ListOf(Str(choices=POLICIES), min_items=1),
        "spread": Num(0, doc="log-standard deviation of the per-value sensitivities"),
        "blocks": Num(64, integer=True, doc="Monte Carlo blocks per class"),
        "seed": Num(0, integer=True),
        "baselines": ListOf(Str(), doc="formats set on every variable, for comparison"),
        "tolerance": tolerance_option(min_items=0),
        "metric": metric_option(),
        "reference": Str(doc="format set on every variable in the tolerance's reference design"),
    },
    defaults={
        "variables": [f"weight_format_{c}" for c in LINEAR_CLASSES],
        "fractions": [round(0.1 * i, 1) for i in range(11)],
        "policies": list(POLICIES),
        "spread": 1.0,
        "blocks": 16384,
        "seed": 0,
        "baselines": [],
        "tolerance": [],
        "metric": "ppl_change_pct",
        "reference": "e4m3",
    },
)


@dataclass(frozen=True)
class _Class:
    """One searched variable: its GEMMs' element counts and value weights, its mix values
    (p -> value index) and Monte Carlo block scores (before the GEMM's lambda)."""

    variable: str
    elements: np.ndarray  # per GEMM of the class: weight elements over all layers
    lam: np.ndarray  # per GEMM: model-error weight per unit squared error of one value
    p_index: dict[float, int]
    scores: np.ndarray  # per sampled block: sum u_i (Q_low - Q_high)^2 / Var

    def fraction(self, tau: float) -> float:
        """Share of the class's elements whose blocks score above `tau`."""
        above = np.array([np.mean(lam * self.scores > tau) for lam in self.lam])
        return float(above @ self.elements / self.elements.sum())

    def nearest(self, p: float) -> int:
        """Value index of the listed mix nearest p."""
        ps = np.array(list(self.p_index))
        return self.p_index[float(ps[np.argmin(np.abs(ps - p))])]


def _mixes(space: Space, name: str) -> tuple[dict[float, int], ChoiceFormat]:
    var = space.variables[space.names.index(name)]
    out, fmt = {}, None
    for i, v in enumerate(var.values):
        f = parse(str(v))
        shares = f.selector.fractions(len(f.candidates)) if isinstance(f, ChoiceFormat) else None
        if shares is not None:  # a mix with a fixed share p of high-precision blocks
            out[float(shares[-1])] = i
            fmt = fmt or f
    if fmt is None:
        raise UserError(f"space.{name}: {NAME} needs FP4/FP8 mixes, e.g. fp4fp8(p=0.3)")
    return out, fmt


def _scores(fmt: ChoiceFormat, nu: float, opts: dict, rng: np.random.Generator) -> np.ndarray:
    """Monte Carlo block scores sum_i u_i (Q_low - Q_high)^2 / Var of t(nu) blocks."""
    shape = (opts["blocks"], BLOCK_VALUES)
    x = rng.standard_normal(shape) if np.isinf(nu) else rng.standard_t(nu, shape)
    s = opts["spread"]
    u = np.exp(s * rng.standard_normal(shape) - s * s / 2)  # log-normal, mean 1
    low, high = (c.quantize(x) for c in fmt.candidates)
    var = 1.0 if np.isinf(nu) else nu / (nu - 2)
    return (u * (low - high) ** 2).sum(axis=1) / var


def _classes(ctx: SearchContext, opts: dict) -> list[_Class]:
    ev = ctx.context
    need_variables(ctx.space, opts["variables"], f"{OPTIONS}.variables of {NAME}")
    rng = np.random.default_rng(opts["seed"])
    out = []
    for name in opts["variables"]:
        cls = name.rsplit("_format_", 1)[-1]
        idx = [j for j, g in enumerate(ev.gemms) if g.tensor_class == cls]
        if not idx:
            raise UserError(f"{OPTIONS}.variables: {name} names no GEMM class of the workload")
        p_index, fmt = _mixes(ctx.space, name)
        stats = operand_stats(ev.stats, cls)[1]
        n = np.array([ev.gemms[j].k * ev.gemms[j].n * ev.gemms[j].count for j in idx], float)
        lam = ev.error_weights[idx] / n
        nu = stats.nu_within or stats.nu
        out.append(_Class(name, n, lam, p_index, _scores(fmt, nu, opts, rng)))
    return out


def _threshold(classes: list[_Class], p: float) -> float:
    """The score threshold above which the blocks of a fraction p of all elements lie."""
    if p <= 0 or p >= 1:
        return np.inf if p <= 0 else -np.inf
    scores = np.concatenate([lam * c.scores for c in classes for lam in c.lam])
    weights = np.concatenate(
        [np.full(c.scores.size, n / c.scores.size) for c in classes for n in c.elements]
    )
    order = np.argsort(-scores)
    above = np.cumsum(weights[order]) / weights.sum()
    return float(scores[order][min(np.searchsorted(above, p), scores.size - 1)])


def _budget(search: SearchSpec, space: Space) -> int:
    opts = search.options  # validated with the config (dse.config)
    reference = 1 if tolerances(opts["tolerance"]) else 0
    return len(opts["fractions"]) * len(opts["policies"]) + len(opts["baselines"]) + reference


@register(
    NAME,
    _budget,
    "FGMP FP4/FP8 mix: one Fisher-weighted threshold vs uniform fractions",
    options=SCHEMA,
)
def global_threshold(ctx: SearchContext) -> None:
    opts = ctx.search.options
    classes = _classes(ctx, opts)
    base = np.zeros(len(ctx.space.names), dtype=np.int64)
    cols = [ctx.space.names.index(c.variable) for c in classes]
    runs, digits = [], []
    for p in opts["fractions"]:
        for policy in opts["policies"]:
            tau = _threshold(classes, p) if policy == "global" else None
            wanted = [c.fraction(tau) if tau is not None else p for c in classes]
            d = base.copy()
            d[cols] = [c.nearest(q) for c, q in zip(classes, wanted)]
            digits.append(d)
            wanted = dict(zip(opts["variables"], wanted))
            runs.append({"policy": policy, "fraction": p, "wanted": wanted})
    for i, fmt in enumerate(opts["baselines"]):
        design = dict.fromkeys(opts["variables"], fmt)
        digits.append(design_digits(ctx.space, design, f"{OPTIONS}.baselines[{i}]"))
        runs.append({"policy": "baseline", "format": fmt})
    points = ctx.space.index_of(np.array(digits))
    values = ctx.cache().get(points)[opts["metric"]].to_numpy(dtype=float)
    for run, point in zip(runs, points):
        run["point"] = int(point)
    write_trace(ctx, NAME, {
        "variables": opts["variables"],
        "sensitivity": "g^2 = lambda_j u_i: model-error weight per value x log-normal(spread)",
        "spread": opts["spread"],
        "blocks": opts["blocks"],
        "lambda": {c.variable: c.lam.tolist() for c in classes},
        "runs": runs,
        **(_within_tolerance(ctx, opts, runs, values) if tolerances(opts["tolerance"]) else {}),
    })  # fmt: skip


def _within_tolerance(ctx: SearchContext, opts: dict, runs: list[dict], values) -> dict:
    """Per tolerance and policy, the smallest FP8 fraction whose design's `metric` is within
    the tolerance of the reference design's (every variable in `reference`; FGMP compares
    with its FP8 model), as FGMP picks its operating points."""
    design = dict.fromkeys(opts["variables"], opts["reference"])
    ref_point = ctx.space.index_of(design_digits(ctx.space, design, f"{OPTIONS}.reference")[None])
    ref = float(ctx.cache().get(ref_point)[opts["metric"]].iloc[0])
    chosen = []
    for t in tolerances(opts["tolerance"]):
        limit = error_limit(opts["metric"], ref, t)
        for policy in opts["policies"]:
            ok = [r for r, v in zip(runs, values) if r["policy"] == policy and v <= limit]
            best = min(ok, key=lambda r: r["fraction"], default=None)
            chosen.append({
                "tolerance": t, "policy": policy, "limit": limit,
                "fraction": best and best["fraction"], "point": best and best["point"],
            })  # fmt: skip
    return {
        "metric": opts["metric"],
        "reference": {"format": opts["reference"], "point": int(ref_point[0]), "value": ref},
        "within_tolerance": chosen,
    }
