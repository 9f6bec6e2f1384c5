"""Analytic error of per-block choice formats (`ChoiceFormat`): a mixture over the block
maximum M and, where the selection looks inside the block, over the block's contents.

All candidates of a block share the block maximum M; a candidate's scale is its own rule
applied to M (per-block candidates) or to the tensor maximum (per-tensor candidates), so
each candidate's conditional error given M comes from `dse.error.analytic`.

* `TopFraction(p)` and `ScoreThreshold(t)` (FP4/FP8 mix, FGMP): the blocks whose score
  T = sum (Q_low - Q_high)^2 is above the (1 - p) quantile of T (or above t) take the high
  candidate; blocks of larger scale (a spread of block scales across the tensor) win more.
  Given M, T and the error saved D = S_low - S_high are sums of iid terms
  (`dse.error.blocksums`); the law of the score sum is convolved on a fine lattice
  (`dse.error.score_sum`) and the expected error follows (`mix_error`): a model, within 1 %
  or 3 SE of Monte Carlo on the tested grid; unweighted scores only (the Monte Carlo twin
  uses no weights either). On a measured law the blocks rank by their scores in data units
  (`Ranking`, `empirical_max.choice_given_max_law`). Everything but the selector
  (`MixModel`) is shared by the mixes of one candidate pair that differ in p or the
  threshold (`choice_errors`).
* `BeneficialRange` (BlockDialect two-stage): stage 1 picks the pair from the scaled maximum
  (a function of M); stage 2 compares the counts of block values in each dialect's
  beneficial range. Given M, those counts are multinomial, and given the counts the values
  are iid in their regions, so the expected error is an exact finite sum over the counts:
  exact in the model.
* `ScaleSearch` (`nvfp4(cal=N)`): the least-error of N scale candidates per block, the
  candidates' block errors given M taken as jointly normal and their minimum by Clark's
  recursion (`scale_search_error`): a model, within 1 % of Monte Carlo on the tested grid.
* `MinErrorRule` (BlockDialect offline selection): the best dialect per block depends on all
  values jointly. For symmetric candidates sharing one scale (BlockDialect's dialects): the
  best-on-average dialect's exact error given M minus the selection's gain, which depends
  only on the few values above the level where the dialects' codebooks part and is sampled
  given M (`dse.error.min_choice`): a model, within 1 % or 3 SE of Monte Carlo on the tested
  grid, with its own sampling error as the result's `se`. Other candidate sets have no
  model (ModelLimitError).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.optimize import brentq
from scipy.special import gammaln, ndtr

from dse.error.analytic import (
    Setting,
    block_scale,
    breaks_of,
    cap_of,
    offset_sigmas,
    per_value,
    scale_key,
)
from dse.error.blockmax import MaxNodes, lane_max_nodes
from dse.error.blocksums import BlockSums, Term
from dse.error.codebook import (
    ScaledCells,
    codebook,
    codebook_of_levels,
    max_error,
)
from dse.error.min_choice import selection_gain, symmetric
from dse.error.score_sum import ScoreSums
from dse.errors import ModelLimitError, UserError
from dse.formats import ChoiceFormat, ScaledFormat
from dse.formats.selectors import (
    BeneficialRange,
    MinErrorRule,
    ScaleSearch,
    ScoreThreshold,
    TopFraction,
)


@dataclass(frozen=True)
class ChoiceEstimate:
    """E[(X - Q)^2] / sigma^2 of a choice format: the value, its kind ("exact" or "model:
    ...", the label saying which law and how far from Monte Carlo it was measured) and, for
    a model with a sampled part, the value's standard error."""

    value: float
    kind: str
    se: float | None = None


def _check(fmt: ChoiceFormat, st: Setting) -> None:
    for c in fmt.candidates:
        if c.blocking.per_tensor or c.blocking.is_block_of(st.block):
            continue
        raise UserError(
            f"{fmt.name}: the analytic model needs each candidate to be per-tensor or to use "
            f"the choice's block of {st.block}, not {c.name}"
        )


def _scale(c: ScaledFormat, nodes: MaxNodes, sigma, st: Setting) -> np.ndarray:
    if c.blocking.per_tensor:  # scale set by the tensor maximum
        return np.broadcast_to(
            block_scale(c, np.array(st.tensor_amax), sigma, st.tensor_amax), nodes.m.shape
        )
    return block_scale(c, nodes.m, sigma, st.tensor_amax)


def _candidates_h(fmt: ChoiceFormat, st: Setting, nodes: MaxNodes, sigma) -> np.ndarray:
    """Per-value error given M of every candidate at each node, shape (candidates, nodes):
    candidates with the same scales share one table of cells and one pass over the nodes."""
    out = np.empty((len(fmt.candidates), nodes.m.size))
    um = st.dist.upper_moments(nodes.m, nodes.q)
    same: dict[tuple, list[int]] = {}  # candidates sharing a scale function
    for k, c in enumerate(fmt.candidates):
        same.setdefault((c.blocking.per_tensor, *scale_key(c)), []).append(k)
    for ks in same.values():
        s = _scale(fmt.candidates[ks[0]], nodes, sigma, st)
        uniq, which = np.unique(s, return_inverse=True)
        cbs = [codebook(fmt.candidates[k].element, fmt.candidates[k].rounding) for k in ks]
        cells = ScaledCells(st.dist, cbs, uniq, np.arange(len(ks) * uniq.size))
        rows = np.arange(len(ks))[:, None] * uniq.size + which  # (group member, node)
        inner = cells.inside_every(which, nodes.m, um) / nodes.inside
        out[ks] = per_value(nodes, inner, cells.max_error(rows, s, nodes.m))
    return out


def _breaks(fmt: ChoiceFormat, st: Setting, sigmas, extra_marks=()) -> list[np.ndarray]:
    """Per sigma of `sigmas`, the panel breaks of the candidates' scale jumps and kinks."""
    block = [c for c in fmt.candidates if not c.blocking.per_tensor]  # blocks (`_check`)
    marks = np.concatenate(
        [codebook(c.element, c.rounding).thresholds for c in block] + [np.asarray(extra_marks)]
    )
    distinct = {scale_key(c): c for c in block}.values()  # candidates sharing g share breaks
    per = [breaks_of(c, st, sigmas, marks) for c in distinct]
    return [np.unique(np.concatenate(row)) for row in zip(*per)]


#: Nodes of the block maximum and each node's sigma (`_offset_nodes`'s result).
At = tuple[MaxNodes, np.ndarray]


def choice_error(
    fmt: ChoiceFormat, st: Setting, nodes_n: int = 64, at: At | None = None,
    rank: Ranking | None = None,
) -> ChoiceEstimate:  # fmt: skip
    """Dispatch on the selector type (see the module docstring). `at`: the block maximum's
    nodes and each node's sigma to integrate over instead of the t law's quadrature (a
    measured law, `empirical_max.choice_given_max_law`); the mix, whose tensor-wide ranking
    sees every block's scale, needs `rank` with it (`Ranking`)."""
    return choice_errors([fmt], st, nodes_n, at, rank)[0]


def choice_errors(
    fmts: list[ChoiceFormat], st: Setting, nodes_n: int = 64, at: At | None = None,
    rank: Ranking | None = None,
) -> list[ChoiceEstimate]:  # fmt: skip
    """`choice_error` of each of `fmts` at one setting; the mixes of one candidate pair share
    their `MixModel` (the same values as one by one, each mix's lattice built once)."""
    models: dict[tuple, MixModel] = {}
    out = []
    for fmt in fmts:
        _check(fmt, st)
        if not isinstance(fmt.selector, (TopFraction, ScoreThreshold)):
            out.append(_per_block_error(fmt, st, nodes_n, at))
            continue
        key = (fmt.candidates, fmt.block_size)
        if key not in models:
            models[key] = MixModel(fmt, st, nodes_n, at, rank)
        out.append(models[key].error(fmt.selector))
    return out


def _per_block_error(fmt: ChoiceFormat, st: Setting, nodes_n: int, at: At | None
                     ) -> ChoiceEstimate:  # fmt: skip
    """`choice_error` of the selectors that look at one block alone (not the mix)."""
    sel = fmt.selector
    if isinstance(sel, BeneficialRange) and st.block > STAGE2_MAX_BLOCK:
        raise UserError(
            f"{fmt.name}: the analytic two-stage model sums multinomial counts in floating "
            f"point for blocks of at most {STAGE2_MAX_BLOCK} values, not {st.block}; use "
            "method='montecarlo'"
        )
    if isinstance(sel, BeneficialRange):
        nodes, sigma = at or _offset_nodes(fmt, st, nodes_n, _stage_marks(fmt, sel))
        value = np.dot(nodes.weight, two_stage_h(fmt, st, sel, sigma, nodes))
        return ChoiceEstimate(float(value), "exact")
    if isinstance(sel, MinErrorRule):
        return dialect_min_error(fmt, st, nodes_n, at)
    if isinstance(sel, ScaleSearch):
        return scale_search_error(fmt, st, nodes_n, at)
    raise UserError(
        f"{fmt.name}: selector {sel.label} has no analytic model; use method='montecarlo'"
    )


#: Equispaced log2 offsets of sigma averaged over when a candidate is not scale-invariant:
#: each offset is a node set of its own, split at that offset's breaks, so the cost grows
#: linearly with the count. The expected error is a smooth periodic function of the offset,
#: for which the midpoint rule converges fast: 4 offsets are within 3e-6 relative of 64 for
#: BlockDialect's two-stage selection (nu 3..inf, blocks 16..64; tests/test_error_analytic.py).
#: The min-error model's best-on-average term, a minimum over the candidates and so less
#: smooth in the offset, moves by 1e-4 .. 3.5e-4 relative from 4 to 8 offsets (blocks 16..64,
#: nu 3..30), a third of its sampled gain's standard error (`min_choice.GAIN_RSE`).
CHOICE_OFFSETS = 4


def _offset_nodes(
    fmt: ChoiceFormat, st: Setting, nodes_n: int, marks=()
) -> tuple[MaxNodes, np.ndarray]:
    """Quadrature nodes for every sigma offset averaged over (`offset_sigmas`, CHOICE_OFFSETS
    of them), concatenated, with weights summing to 1 over all of them (a dot product is the
    offset average), and each node's sigma. `marks`: as for `_breaks`."""
    sig = offset_sigmas(st.sigma, not fmt.scale_invariant, CHOICE_OFFSETS)
    cap = cap_of(fmt, float(st.tensor_amax))  # the t law: one tensor maximum
    nodes, sizes = lane_max_nodes(st.dist, st.block, _breaks(fmt, st, sig, marks), nodes_n, cap)
    return MaxNodes(nodes.m, nodes.q, nodes.weight / sig.size, st.block), np.repeat(sig, sizes)


#: Label of the FP4/FP8 mix model (measured gaps: `mix_error`).
MIX_KIND = (
    "model: lattice law of the block score given the block maximum (one-value quadrature "
    "points convolved by FFT); within 1 % or 3 SE of Monte Carlo on the tested grid"
)


@dataclass(frozen=True)
class Ranking:
    """How the mix's tensor-wide ranking sees each node's blocks (`mix_error`). `blocks`
    (nodes,): the node's share of the tensor's blocks (its error weight, `MaxNodes.weight`,
    may differ: a measured law weights blocks by their energy); `factors` (nodes, k) or (k,):
    what a block's score in node units is multiplied by to compare it with other blocks', over
    the node's blocks, with `counts` ((k,) or like `factors`), each factor's share of the
    node's blocks (the energy of a block grows with its factor too); `unit` (nodes,): a
    `ScoreThreshold`'s threshold in score units of a node at factor 1."""

    blocks: np.ndarray
    factors: np.ndarray
    counts: np.ndarray
    unit: np.ndarray


def t_ranking(nodes: MaxNodes, sigma: np.ndarray, st: Setting) -> Ranking:
    """The t model's ranking: the quadrature's weights are the blocks' shares, the block
    scales spread by `spread_factors` alike at every node, a threshold in data units is
    threshold / sigma^2 in a node's standard units."""
    f, wf = spread_factors(st.scale_spread)
    return Ranking(nodes.weight, f, wf, 1.0 / np.broadcast_to(sigma, nodes.m.shape) ** 2)


def mix_error(
    fmt: ChoiceFormat, st: Setting, sel, nodes_n: int = 64, at: At | None = None,
    rank: Ranking | None = None,
) -> ChoiceEstimate:  # fmt: skip
    """FP4/FP8 mix, unweighted score T = sum_i (Q_low(x_i) - Q_high(x_i))^2 (the Monte Carlo
    and the model use no sensitivity weights): the blocks with T above t take the high
    candidate, t the (1 - p) quantile of T over blocks (`TopFraction`) or the fixed threshold
    (`ScoreThreshold`, data units: t / sigma^2 in standard units).

    Given M = m, T = tau(+-m) + sum_{i < B} t(x_i) and the error the high candidate saves,
    D = delta(+-m) + sum_i d(x_i), are sums over the B - 1 iid values plus the maximum's
    terms (+m or -m, probability 1/2 each). With V_k the sum of k iid one-value scores
    (`score_sum.ScoreSums`: their law on a fine lattice, exact up to it),

        P(T > t | m) = E_+-[ P(V_{B-1} > t - tau) ],
        E[D 1{T > t} | m] = (B - 1) E_X[ d(X) E_+-[ P(V_{B-2} > t - t(X) - tau) ] ]
                            + E_+-[ delta P(V_{B-1} > t - tau) ]

    (the first term: one value's saving times the chance that it and the other B - 2 values
    push the score over t; on the lattice, d(X) is placed at t(X) and convolved with V_{B-2}'s
    law once per node, `ScoreSums.exceed(y, "value")`). The error is E[S_low] - E[D 1{T > t}],
    integrated over M; the quantile solves E_M[P(T > t | M)] = p. An earlier first-order
    Edgeworth law of (T, D) was off by -1.5 % (4.4 SE) at p = 0.6, B = 16; measured against
    the real selector (Monte Carlo, 2^19 values): see tests/test_error_montecarlo.py.

    Blocks of different scales (`st.scale_spread` = s > 0: a block's values times a factor
    2^(s Z), Z standard normal, across the tensor): T and D of a block scale by the squared
    factor f, so P(f T > t | M, f) = P(T > t / f | M) and the gain is f E[D 1{T > t / f}]; the
    quantile solves E_f E_M[P(T > t / f | M)] = p, and the NMSE is E_f[f (E S_low - gain)] /
    E f, over f by Gauss-Hermite quadrature in Z (`spread_factors`). The candidates' errors are
    taken as homogeneous in the factor (exact for scale-invariant candidates; an
    approximation for the per-tensor E4M3 and two-level NVFP4 scales, whose fixed tensor
    maximum a block of large factor can exceed). Without it, real weights, whose rows differ in
    scale (all-MiniLM-L6-v2: 0.12 .. 0.63 octaves), were predicted +27 % (median) too high.

    `at` and `rank`: nodes of a measured law and how its blocks rank (`Ranking`; per node its
    share of the blocks and its own factors, `empirical_max.choice_given_max_law`) instead of
    the t law's quadrature and the spread alike at every node (`t_ranking`).
    """
    return MixModel(fmt, st, nodes_n, at, rank).error(sel)


class MixModel:
    """Everything of `mix_error` but the selector: the law of the block scores and savings
    given M at the nodes, built once and shared by the mixes of one candidate pair that differ
    only in p or the threshold (`choice_errors`; a sweep over p on a profiled tensor pays the
    lattice once)."""

    def __init__(
        self, fmt: ChoiceFormat, st: Setting, nodes_n: int = 64, at: At | None = None,
        rank: Ranking | None = None,
    ) -> None:  # fmt: skip
        if at is None:
            nodes, sigma = _offset_nodes(fmt, st, nodes_n)
            rank = t_ranking(nodes, sigma, st)
        elif rank is None:
            raise ModelLimitError(f"{fmt.name}: the mix's ranking needs the blocks' scales")
        else:
            nodes, sigma = at
        low, high = (_term(c, nodes, sigma, st) for c in fmt.candidates)
        score = Term(low.cb, low.s, (high.cb, high.s))
        bs = BlockSums([low, high, score], nodes, st.dist)
        self.tau = bs.ends[2]  # the maximum's score (nodes, sign)
        self.delta = bs.ends[0] - bs.ends[1]  # and its saving
        self.block, self.rank, self.weight = st.block, rank, nodes.weight
        self.sums = ScoreSums(bs.values[2], bs.w, st.block, bs.values[0] - bs.values[1])
        n = bs.values.shape[1]
        self.f = np.broadcast_to(rank.factors, (n, np.shape(rank.factors)[-1]))  # (nodes, factors)
        self.wf = np.broadcast_to(rank.counts, self.f.shape)
        self.top = float(np.max((st.block * np.max(bs.values[2], axis=1) + self.tau.max(axis=1))
                                [:, None] * self.f))  # a score no block exceeds  # fmt: skip
        self.low = bs.mean[0]  # E[S_low | M]

    def _above(self, thr: np.ndarray, count) -> np.ndarray:
        """P(tau + V_count > thr), per sign of the maximum."""
        signs = self.tau.reshape(self.tau.shape[0], *[1] * (thr.ndim - 1), 2)
        return self.sums.exceed(thr[..., None] - signs, count)

    def error(self, sel: TopFraction | ScoreThreshold) -> ChoiceEstimate:
        """The mix's error with selector `sel` (`mix_error`)."""
        b, f, wf = self.block, self.f, self.wf
        if isinstance(sel, TopFraction):
            if sel.p in (0.0, 1.0):
                t = np.inf if sel.p == 0.0 else -np.inf
            else:

                def share(t):  # fraction of blocks with f T > t, minus p
                    shares = np.einsum("nf,nf->n", wf, self._above(t / f, b - 1).mean(axis=-1))
                    return np.dot(self.rank.blocks, shares) - sel.p

                t = brentq(share, 0.0, self.top, xtol=1e-300)
            thr = np.divide(t, f)
        else:
            thr = sel.threshold * self.rank.unit[:, None] / f
        thr = np.asarray(thr, dtype=np.float64)  # (nodes, factors)
        gain = (self._above(thr, b - 1) * self.delta[:, None, :]).mean(axis=-1)  # the maximum's
        if b > 1:  # the other values' savings (a block of one value is its maximum alone)
            gain += (b - 1) * self._above(thr, "value").mean(axis=-1)
        energy = wf * f / np.sum(wf * f, axis=1, keepdims=True)  # each factor's energy share
        value = np.dot(self.weight, np.einsum("nf,nf->n", energy, self.low[:, None] - gain))
        return ChoiceEstimate(float(value) / b, MIX_KIND)


#: Gauss-Hermite nodes over the block-scale factor's log (`spread_factors`): 32 are within
#: 5e-5 relative of 96 at spread 1 and 24 within 2.3e-4 (fp4fp8(p=0.3), nu = 5; the test
#: checks 1e-4).
SPREAD_NODES = 32


def spread_factors(spread: float) -> tuple[np.ndarray, np.ndarray]:
    """Squared block-scale factors f = 2^(2 s Z), Z standard normal, at Gauss-Hermite nodes,
    and weights summing to 1 (one factor 1 without a spread)."""
    if spread == 0.0:
        return np.ones(1), np.ones(1)
    z, w = np.polynomial.hermite_e.hermegauss(SPREAD_NODES)
    return 2.0 ** (2.0 * spread * z), w / w.sum()


#: Label of the scale-search model (measured gaps: `scale_search_error`).
SEARCH_KIND = (
    "model: normal law of the candidates' block errors given the block maximum, minimum by "
    "Clark's recursion; within 1 % of Monte Carlo on the tested grid"
)


def scale_search_error(
    fmt: ChoiceFormat, st: Setting, nodes_n: int = 64, at: At | None = None
) -> ChoiceEstimate:
    """Calibrated block scale (`ScaleSearch`, `nvfp4(cal=N)`): per block the candidate of least
    error. Given M the candidates' block errors S_k are sums of B - 1 iid terms plus the
    maximum's (`blocksums`), taken as jointly normal; E[min_k S_k | M] by Clark's recursion
    (`clark_min`: exact for two normal candidates, an approximation beyond), integrated over M.

    Measured against Monte Carlo of the real selector (stratified, 2^18 values, B = 16, nu = 3
    and 30): cal = 2: -0.2 % .. +0.1 %, cal = 4 and 8: -0.7 % .. 0.0 % (the slow grid of
    tests/test_error_montecarlo.py covers blocks 16..64 and nu 3..inf).
    """
    nodes, sigma = at or _offset_nodes(fmt, st, nodes_n)
    bs = BlockSums([_term(c, nodes, sigma, st) for c in fmt.candidates], nodes, st.dist)
    value = float(np.dot(nodes.weight, clark_min(bs.mean, bs.cov()))) / st.block
    return ChoiceEstimate(value, SEARCH_KIND)


def clark_min(mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """E[min_k S_k] of normal S with means (K, n) and covariances (K, K, n), per column: Clark
    (1961), merging the candidates in order of decreasing mean (the likeliest minimum last:
    for nvfp4(cal=8) at nu = 30, -0.7 % from Monte Carlo against -1.5 % in increasing order);
    each merge min(A, S_k) has the exact mean, variance and covariances of the minimum of two
    normals, the result then taken as normal again (exact for K = 2)."""
    order = np.argsort(-mean, axis=0)
    mu = np.take_along_axis(mean, order, 0)
    c = np.take_along_axis(np.take_along_axis(cov, order[:, None], 0), order[None, :], 1)
    a, var_a, cov_a = mu[0], c[0, 0], c[0]  # the running minimum A, Var A, Cov(A, S_j)
    for k in range(1, mean.shape[0]):
        b, var_b = mu[k], c[k, k]
        theta = np.sqrt(np.maximum(var_a + var_b - 2.0 * cov_a[k], 1e-300))
        alpha = np.clip((b - a) / theta, -40.0, 40.0)
        p, dens = ndtr(alpha), _phi(alpha)  # P(A < B), its density term
        second = (a * a + var_a) * p + (b * b + var_b) * (1.0 - p) - (a + b) * theta * dens
        a = a * p + b * (1.0 - p) - theta * dens
        var_a = np.maximum(second - a * a, 0.0)
        cov_a = cov_a * p + c[k] * (1.0 - p)
    return a


def _term(c: ScaledFormat, nodes: MaxNodes, sigma, st: Setting) -> Term:
    """The squared error of candidate `c` as a block-sum term (`blocksums.Term`)."""
    return Term(codebook(c.element, c.rounding), _scale(c, nodes, sigma, st))


def _phi(z):
    return np.exp(-0.5 * z * z) * _INV_SQRT_2PI


_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)


@lru_cache(maxsize=256)
def _groups(fmt: ChoiceFormat, sel: BeneficialRange):
    """Stage 1 of BlockDialect as in `selectors.BeneficialRange.choose`: the candidates'
    largest levels, the group boundaries in scaled-maximum units, and the group of r (cached
    per record)."""
    tops = np.array([c.element.max_abs for c in fmt.candidates])
    groups = np.unique(tops)
    if sel.group_rule == "nearest":
        bounds = 0.5 * (groups[1:] + groups[:-1])

        def group(r):  # nearest, ties to the larger
            return np.searchsorted(bounds, r, side="right")
    else:
        bounds = groups

        def group(r):  # smallest top not below r
            return np.minimum(np.searchsorted(groups, r, side="left"), groups.size - 1)

    return tops, groups, bounds, group


def _stage_marks(fmt: ChoiceFormat, sel: BeneficialRange) -> np.ndarray:
    """Scaled-maximum values where the two-stage selection changes: group boundaries and the
    ends of the beneficial ranges."""
    spans = _ranges(fmt, sel)
    return np.concatenate([_groups(fmt, sel)[2], [e for s in spans for span in s for e in span]])


@lru_cache(maxsize=256)
def _ranges(fmt: ChoiceFormat, sel: BeneficialRange) -> list:
    """`sel.ranges(fmt)`, cached per record (read only)."""
    return sel.ranges(fmt)


@lru_cache(maxsize=1024)
def _pair_intervals(fmt: ChoiceFormat, sel: BeneficialRange, i: int, j: int):
    """`_elementary` of the beneficial ranges of candidates i and j, cached per record."""
    spans = _ranges(fmt, sel)
    return _elementary(spans[i], spans[j])


def _elementary(spans_i, spans_j):
    """Elementary intervals of the union of two span lists, with membership flags."""
    ends = np.unique([e for s in (spans_i, spans_j) for span in s for e in span])
    lo, hi = ends[:-1], ends[1:]

    def member(spans):
        return np.array([any(a <= x0 and x1 <= b for a, b in spans) for x0, x1 in zip(lo, hi)])

    return lo, hi, member(spans_i), member(spans_j)


def two_stage_h(
    fmt: ChoiceFormat, st: Setting, sel: BeneficialRange, sigma, nodes: MaxNodes
) -> np.ndarray:
    """Per-value expected error of the two-stage selection given M, at each node (stage 2
    of every pair of candidates in one pass)."""
    tops, groups, _, group = _groups(fmt, sel)
    s = _scale(fmt.candidates[0], nodes, sigma, st)  # the dialects share the scale rule
    target = groups[group(nodes.m / s)]
    uniq, which = np.unique(s, return_inverse=True)
    cbs = [codebook(c.element, c.rounding) for c in fmt.candidates]
    h = np.zeros_like(nodes.m)
    single_at, single_k, pair_at, pair_members = [], [], [], []
    for top in groups:
        at = np.flatnonzero(target == top)
        members = np.flatnonzero(tops == top)
        if at.size == 0:
            continue
        if members.size == 1:
            single_at.append(at)
            single_k.append(members[0])
        elif members.size == 2:
            pair_at.append(at)
            pair_members.append(members)
        else:
            raise UserError(f"{fmt.name}: two-stage selection models groups of two candidates")
    # cell rows: each candidate at the scales of the nodes where it competes
    keys = [k * uniq.size + which[at] for at, k in zip(single_at, single_k)]
    keys += [k * uniq.size + which[at] for at, ks in zip(pair_at, pair_members) for k in ks]
    cells = ScaledCells(st.dist, cbs, uniq, np.unique(np.concatenate(keys)))
    for at, k in zip(single_at, single_k):
        sub = MaxNodes(nodes.m[at], nodes.q[at], nodes.weight[at], nodes.block)
        w = cells.window(cells.row(k, which[at]), sub.m, sub.q)
        h[at] = per_value(sub, w / sub.inside, max_error(cbs[k], s[at], sub.m))
    if pair_at:
        at = np.concatenate(pair_at)
        sizes = [a.size for a in pair_at]
        members = np.repeat(np.array(pair_members), sizes, axis=0)  # (nodes, 2)
        plans = [_pair_intervals(fmt, sel, int(i), int(j)) for i, j in pair_members]
        sub = MaxNodes(nodes.m[at], nodes.q[at], nodes.weight[at], nodes.block)
        r = _regions(st, plans, sizes, sub, s[at], which[at], cells, members)
        counts = _stage2_counts(
            r["A"], r["B"], r["R"], r["lead"], nodes.block - 1, sel.tie == "first"
        )
        rows = [cells.row(members[:, p], which[at]) for p in (0, 1)]
        h[at] = _pair_h(cells, rows, r, s[at], sub.m, counts, nodes.block)
    return h


def _regions(st: Setting, plans, sizes, nodes: MaxNodes, s, which, cells, members) -> dict:
    """Stage 2 between the candidates i < j of each pair, for all pairs at once: per node (the
    nodes of pair g are the g-th run of `sizes`; `plans` their `_pair_intervals`; `members`
    (i, j) per node; `cells`: `ScaledCells` of all candidates at scales indexed by `which`)
    the probabilities of the regions "A" (only i's beneficial range), "B" (only j's) and "R"
    (the rest) for the other values, each candidate's mean error over A, B and the window
    (("A", 0) for i, ("A", 1) for j, ...), and the maximum's own vote "lead" (1 in A, -1 in
    B, else 0). Pairs with fewer elementary intervals are padded with empty ones at their
    last end."""
    dist, m, inside, r = st.dist, nodes.m, nodes.inside, nodes.m / s
    e_max = max(p[0].size for p in plans)
    ends = np.stack([np.append(p[0], np.full(e_max + 1 - p[0].size, p[1][-1])) for p in plans])
    pad = [np.zeros(e_max - p[0].size, dtype=bool) for p in plans]
    in_a = np.stack([np.append(p[2] & ~p[3], z) for p, z in zip(plans, pad)])
    in_b = np.stack([np.append(p[3] & ~p[2], z) for p, z in zip(plans, pad)])
    g = np.repeat(np.arange(len(plans)), sizes)
    # Regions are cut at the maximum: their ends are x = min(end * s, m), then m itself. Below
    # m, x depends on a node only through its pair and scale, so the tail moments and windows
    # there are evaluated once per (pair, distinct scale), at m once per node, then gathered.
    combo, node_ix = np.unique(g * cells.size + which, return_inverse=True)
    pair_c, which_c = np.divmod(combo, cells.size)
    pair_members = members[np.searchsorted(g, np.arange(len(plans)))]  # (pairs, 2)
    rows_c = [cells.row(pair_members[pair_c, p], which_c) for p in (0, 1)]
    xe = ends[pair_c].T * cells.scales[rows_c[0]]  # (e_max + 1, combos)
    col = np.minimum(np.searchsorted(cells.ua, ends), cells.ua.size - 1)
    if np.array_equal(cells.ua[col], ends):  # ends at thresholds (round to nearest)
        ue = cells.up[:, which_c, col[pair_c].T]  # the same products s x |t|
    else:
        ue = dist.upper_moments(xe)
    qe = ue[0]
    um = dist.upper_moments(m, nodes.q)
    below = xe[:, node_ix] < m
    q = np.vstack([np.where(below, qe[:, node_ix], nodes.q), nodes.q])
    win = []  # per candidate of the pair, (e_max + 2, nodes): at the ends, then at m
    for p in (0, 1):
        w_e = cells.window(rows_c[p], xe, um=ue)
        w_m = cells.window(cells.row(members[:, p], which), m, um=um)
        win.append(np.vstack([np.where(below, w_e[:, node_ix], w_m), w_m]) / inside)
    ends, in_a, in_b = ends[g].T, in_a[g].T, in_b[g].T  # (e_max + 1 or e_max, nodes)
    out: dict[str | tuple[str, int], np.ndarray] = {"lead": np.zeros(m.shape, dtype=int)}
    prob = 2 * (q[:-1] - q[1:])  # (e_max + 1, nodes): the last row is [end, m)
    for name, mask, vote in (("A", in_a, 1), ("B", in_b, -1)):
        out[name] = (prob[:-1] * mask).sum(axis=0) / inside
        for p, w in enumerate(win):
            out[name, p] = ((w[1:-1] - w[:-2]) * mask).sum(axis=0)
        hit = (r >= ends[:-1]) & (r < ends[1:]) & mask
        out["lead"] += vote * hit.any(axis=0)
    out["R"] = np.maximum(1.0 - out["A"] - out["B"], 0.0)
    for p, w in enumerate(win):
        out["R", p] = w[-1] - out["A", p] - out["B", p]
    return out


def _pair_h(cells, rows, regions: dict, s, m, counts, block: int) -> np.ndarray:
    """Per-value error of the stage-2 pairs from their `_regions` and `_stage2_counts`: each
    candidate's share of the blocks, with its expected counts in A, B and the rest (`rows`:
    the `ScaledCells` rows of candidates i and j at each node)."""
    h = np.zeros_like(m)
    for p, (p_k, n_a, n_b) in enumerate(counts):
        n_r = (block - 1) * p_k - n_a - n_b
        h += (
            n_a * _ratio(regions["A", p], regions["A"])
            + n_b * _ratio(regions["B", p], regions["B"])
            + n_r * _ratio(regions["R", p], regions["R"])
            + p_k * cells.max_error(rows[p], s, m)
        ) / block
    return h


#: Stage 2 drops the count pairs with a + b above k where P(a + b > k) < STAGE2_EPS (an
#: approximation: it moves each expectation by < 1e-17 relative), k from STAGE2_TOTALS.
STAGE2_EPS, STAGE2_TOTALS = 1e-17, (1, 2, 3, 4, 6, 8, 12, 16, 20, 24, 28)
#: Largest block of the stage-2 sums: the multinomial coefficients (up to 3^n) and p^n (down
#: to 3^-n) of `_stage2_counts` stay inside the float range for n = block - 1 <= 600 (they
#: overflow near n = 645: NaN from a two-stage block of ~700 values).
STAGE2_MAX_BLOCK = 601


def _stage2_counts(pa, pb, pr, lead, n: int, tie_first: bool):
    """Per node, for candidate i then j of stage 2: (P(chosen), E[a; chosen], E[b; chosen]),
    a, b, n - a - b multinomial(n; pa, pb, pr) counts of the other values in regions A, B and
    the rest, i chosen when a + lead > b (`lead`: the maximum's own vote, -1, 0 or 1) or on a
    tie if `tie_first`. A finite sum over the count pairs, ordered by a + b and cut per node
    where the rest is negligible (STAGE2_EPS; bound P(a + b > k) <= C(n, k+1) (pa + pb)^(k+1)),
    summed as a polynomial: with p the largest of (pa, pb, pr) and x, y the other two counts,
    p^n sum_{x, y} c(x, y) f(x, y) (p_x / p)^x (p_y / p)^y (`_stage2_kernel`; no power above
    1). A cut k < n implies pa + pb < 1e-17^(1/29) = 0.26, so there p = pr, x, y = a, b <= k."""
    probs = np.stack([pa, pb, pr])
    with np.errstate(divide="ignore"):
        ks = np.array([k for k in STAGE2_TOTALS if k < n] + [n])
        log_tail = gammaln(n + 1) - gammaln(ks + 2) - gammaln(n - ks)  # -inf at k = n
        log_tail = log_tail + (ks + 1) * np.log(pa + pb)[:, None]
    need = ks[np.argmax(log_tail < np.log(STAGE2_EPS), axis=1)]
    pivot = np.argmax(probs, axis=0)
    group = (need * 3 + lead + 1) * 3 + pivot  # one key per (cut, lead, pivot)
    out = np.empty((2, 3, len(lead)))
    for key in np.unique(group):
        at = group == key
        k, d, piv = int(key // 9), int(key // 3 % 3 - 1), int(key % 3)
        p = probs[piv, at]
        powers = np.ones((2, p.size, k + 1))  # (p_x / p)^x, (p_y / p)^y
        powers[..., 1:] = (probs[[i for i in range(3) if i != piv]][:, at] / p)[..., None]
        np.cumprod(powers, axis=-1, out=powers)
        kern = _stage2_kernel(n, k, d, piv, tie_first)
        sums = np.einsum("nfy,ny->nf", (powers[0] @ kern).reshape(-1, 6, k + 1), powers[1])
        out[:, :, at] = (sums * p[:, None] ** n).T.reshape(2, 3, -1)
    return out


@lru_cache(maxsize=64)
def _stage2_kernel(n: int, k: int, lead: int, pivot: int, tie_first: bool) -> np.ndarray:
    """c(x, y) f(x, y) of `_stage2_counts` for the count pairs with a + b <= k: the
    multinomial coefficient times the features (1, a, b) of candidate i chosen, then of j
    chosen, indexed (x, feature, y) by the two counts other than `pivot` (0: a, 1: b, 2: the
    rest) and flattened to (k + 1, 6 (k + 1)) (cached, read only)."""
    pairs = (k + 1) * (k + 2) // 2
    total, a = (v[:pairs].astype(np.float64) for v in np.tril_indices(n + 1))  # by a + b
    b, rest = total - a, n - total
    coef = np.exp(gammaln(n + 1) - gammaln(a + 1) - gammaln(b + 1) - gammaln(rest + 1))
    diff = a + lead - b
    pick = ((diff > 0) | ((diff == 0) & tie_first))[:, None]
    feats = np.stack([np.ones_like(a), a, b], axis=1) * coef[:, None]
    x, y = np.delete(np.stack([a, b, rest]).astype(int), pivot, axis=0)
    kern = np.zeros((k + 1, 6, k + 1))
    kern[x, :, y] = np.hstack([feats * pick, feats * ~pick])
    return kern.reshape(k + 1, -1)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Conditional mean num / den, 0 where the region is empty."""
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)


#: Label of the minimum-error model (`dse.error.min_choice`; its sampling error is the
#: result's `se`).
MIN_KIND = "model: best mean dialect minus its sampled selection gain (within 1 % of Monte Carlo)"


def dialect_min_error(
    fmt: ChoiceFormat, st: Setting, nodes_n: int = 64, at: At | None = None
) -> ChoiceEstimate:
    """Minimum-error selection (`MinErrorRule`) of symmetric candidates sharing one scale
    (BlockDialect's dialects): the best-on-average candidate's exact error minus the
    selection's gain (`dse.error.min_choice`). Other candidate sets: ModelLimitError."""
    cbs = [codebook(c.element, c.rounding) for c in fmt.candidates]
    if len({(c.blocking.per_tensor, *scale_key(c)) for c in fmt.candidates}) > 1 or not all(
            symmetric(cb) for cb in cbs):
        raise ModelLimitError(
            f"{fmt.name}: the minimum-error selection is modelled for symmetric candidates "
            "sharing one scale (BlockDialect's dialects); use method='montecarlo'")
    union = codebook_of_levels(
        tuple(sorted({float(v) for c in fmt.candidates for v in c.element.values})),
        fmt.candidates[0].rounding,
    )
    nodes, sigma = at or _offset_nodes(fmt, st, nodes_n, union.thresholds)  # where best parts
    each = _candidates_h(fmt, st, nodes, sigma)
    gain = selection_gain(cbs, _scale(fmt.candidates[0], nodes, sigma, st), each, nodes, st)
    value = float(np.dot(nodes.weight, each.min(axis=0))) - gain.mean
    return ChoiceEstimate(value, MIN_KIND, gain.se)
