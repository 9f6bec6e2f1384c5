"""Minimum-error selection among per-block candidates that share one scale (BlockDialect's
offline, minimum-error dialect choice): the expected error as the best-on-average
candidate's exact error minus the selection's gain, the gain by conditional Monte Carlo.

Given the block maximum M (standard-t units, quadrature nodes as for every choice model),
candidate k's block error is S_k = e_k(M) + sum_i e_k(x_i) over the B - 1 other values, iid
on |x| <= M. Then, exactly,

    E[min_k S_k | M] = E[S_k* | M] - E[G | M],   G = S_k* - min_k S_k >= 0,

with k* the candidate of least E[S_k | M]. The first term is the analytic conditional error
(`choice._candidates_h`, exact). The candidates' codebooks agree below a split level h (in
codebook units: the first threshold above the levels they share), so with a shared scale s
the values with |x| < h s have the same error under every candidate and cancel in G: G
depends on M and on the values in H = [h s, M] only. Their count is N ~ Binomial(B - 1,
p_H), p_H = P(h s <= |T| <= M | |T| <= M), and given N they are iid on H.

The gain E_M E[G | M] is sampled: each sampled block draws its node with probability equal
to the node's quadrature weight (the law of M; measured within 15-30 % of the optimal
allocation's standard error), stratified (two blocks in each of n/2 equal slices of the
cumulative weight, whose pairwise differences give an unbiased variance estimate; 10-20 %
less standard error than independent draws), then N by inverse CDF from where the block's
position fell inside its node's share of the weight (uniform given the node, so N is
stratified with the node: 5-16 % fewer blocks for the same error), then N values by inverse CDF
(`TailQuantile`), each value's band between the merged thresholds of all codebooks giving
every candidate's level at once, so S_k - sum x^2 = sum_bands (count s^2 L_k^2 - 2 s L_k
sum|x|) per block. The differences S_k - S_k* have an exactly known mean given M (B times the
difference of the analytic per-value errors), so they serve as control variates
(least-squares coefficients; the variance of the estimate falls 2-3x). Sampling runs in two
rounds, the second sized for a standard error of GAIN_RSE of the value. The seed is fixed:
the same inputs give the same value, and the result's `se` is the sampling error.

A model, not an exact value: the Monte Carlo of the real selector agrees within 1 % and 3 of
its SE over nu in {3, 4, 5, 8, 30, inf} x blocks 16/32/64 (tests/test_error_montecarlo.py).
It replaces an upper bound that was 3.5 - 20 % high, after normal laws of the 16 block
errors (Clark's minimum and the exact normal minimum) were measured 2.6 - 13 % low: ties
between candidates that differ on an often empty band are an atom a normal law spreads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from dse.error.analytic import Setting
from dse.error.blockmax import MaxNodes
from dse.error.codebook import Codebook, max_error

#: Target standard error of the sampled gain, relative to the value (E S_k* - gain); the
#: second round's size is set from the first round's variance.
GAIN_RSE = 1e-3
#: Blocks of the first round, and the most blocks in all (the gain's standard error at
#: the cap, if the target is not reached by then, is still returned as `se`).
FIRST_BLOCKS, MAX_BLOCKS = 1 << 12, 1 << 18
#: Blocks sampled per pass: small arrays are reused from the heap where large ones are
#: mapped afresh (measured 2x faster per value than one pass over all blocks; of 256 .. 2048
#: blocks, 512 was fastest: 8 ms against 9-15 ms for blockdialect/b32 at nu = 5).
CHUNK = 1 << 9
#: The gain's samples come from this seed: the same inputs give the same value.
GAIN_SEED = 0


@dataclass(frozen=True)
class Gain:
    """The selection's mean gain per value (integrated over M) and its standard error."""

    mean: float
    se: float


def split_level(cbs: list[Codebook]) -> float:
    """The smallest magnitude (codebook units) from which the codebooks can quantize
    differently: the lowest threshold above the non-negative levels they all share (0 when
    they share none, inf when they are equal)."""
    pos = [cb.levels[cb.levels >= 0] for cb in cbs]
    common = 0
    while all(len(p) > common for p in pos) and all(p[common] == pos[0][common] for p in pos):
        common += 1
    if common == 0:
        return 0.0
    parts = [0.5 * (p[common - 1] + p[common]) for p in pos if len(p) > common]
    return float(min(parts)) if parts else math.inf  # equal codebooks never part


def symmetric(cb: Codebook) -> bool:
    """Whether the codebook's levels are symmetric about 0 (magnitudes suffice)."""
    return bool(np.array_equal(cb.levels, -cb.levels[::-1]))


class Bands:
    """The bands above h between the merged thresholds of all codebooks (magnitudes in
    codebook units), in which every codebook's quantized level is constant: `levels`
    (codebooks, bands) and `index(y)`, the band of each magnitude y >= h (the bands are the
    cells of one codebook whose thresholds are the cuts: its table look-up when they lie on a
    dyadic grid)."""

    def __init__(self, cbs: list[Codebook], h: float) -> None:
        cuts = np.unique(np.concatenate([cb.thresholds for cb in cbs]))
        self.cuts = cuts = cuts[cuts > h]
        edges = np.concatenate([[h], cuts, [cuts[-1] + 2.0 if cuts.size else h + 2.0]])
        mids = 0.5 * (edges[:-1] + edges[1:])
        self.levels = np.array([cb.quantize(mids) for cb in cbs])
        self.cells = Codebook(mids, cuts)

    def index(self, y: np.ndarray) -> np.ndarray:
        return self.cells.cell(y)


#: Knots of `TailQuantile` per unit of log q: cubic Hermite interpolation at this spacing is
#: within 2e-8 relative of `Student.isf` where x > 1 and within 6e-7 absolute below (nu 2.5 ..
#: inf, q from 1e-30 to 1/2; a band is 0.25 scale units wide).
KNOTS_PER_LOG = 16


class TailQuantile:
    """The tail quantile x(q) = isf(q) of `dist` for q in [q_min, 1/2], by cubic Hermite
    interpolation in log q on equispaced knots (the slope dx/d log q = -q / f(x) is exact
    at the knots): an approximation (KNOTS_PER_LOG gives its precision), measured 4-7x
    cheaper per value than `Student.isf` (scipy's inverse incomplete beta function)."""

    def __init__(self, dist, q_min: float) -> None:
        lo = math.log(max(q_min, 1e-300))
        self.n = max(2, math.ceil((math.log(0.5) - lo) * KNOTS_PER_LOG))
        self.lo, self.step = lo, (math.log(0.5) - lo) / self.n
        q = np.exp(lo + self.step * np.arange(self.n + 1))
        self.x = dist.isf(q)
        self.slope = -q / dist.pdf(self.x) * self.step  # dx per knot interval

    def __call__(self, q: np.ndarray) -> np.ndarray:
        t = np.log(q)
        t -= self.lo
        t /= self.step
        np.clip(t, 0.0, self.n, out=t)
        j = t.astype(np.int64)
        np.minimum(j, self.n - 1, out=j)
        u = t
        u -= j
        x0, dx, d0, d1 = self.x[j], self.x[j + 1], self.slope[j], self.slope[j + 1]
        dx -= x0
        # x0 + dx (3u^2 - 2u^3) + d0 (u^3 - 2u^2 + u) + d1 (u^3 - u^2)
        #   = x0 + u (d0 (u - 1)^2 + u (dx (3 - 2u) + d1 (u - 1))), in place
        um1 = u - 1.0
        d1 *= um1
        dx *= 3.0 - 2.0 * u
        d1 += dx
        d1 *= u
        d0 *= um1
        d0 *= um1
        d1 += d0
        d1 *= u
        d1 += x0
        return d1


class _Sums:
    """Running sums over sampled blocks (in pairs, two per slice) of the gain g and its
    control variates c (known mean 0): all the regression estimate and its pairwise variance
    need, without keeping the samples."""

    def __init__(self, k: int) -> None:
        self.n, self.g, self.gg = 0, 0.0, 0.0
        self.c, self.cg = np.zeros(k), np.zeros(k)
        self.cc, self.dcc, self.dcg = np.zeros((k, k)), np.zeros((k, k)), np.zeros(k)

    def add(self, g: np.ndarray, c: np.ndarray) -> None:
        self.n += g.size
        self.g += float(g.sum())
        self.c += c.sum(axis=0)
        self.cc += c.T @ c
        self.cg += c.T @ g
        dg, dc = g[0::2] - g[1::2], c[0::2] - c[1::2]  # within-slice differences
        self.gg += float(dg @ dg)
        self.dcc += dc.T @ dc
        self.dcg += dc.T @ dg

    def estimate(self, scale: float) -> tuple[float, float]:
        """(scale x mean of r, its standard error), r = g - c beta with beta from least
        squares on the centred sums (minimum norm: candidates never better than k*, or
        listed twice, make the system singular); the variance from the pairs of r."""
        c, g = self.c / self.n, self.g / self.n
        gram = self.cc - self.n * np.outer(c, c)
        beta = np.linalg.lstsq(gram, self.cg - self.n * c * g, rcond=None)[0]
        pairs = float(self.gg - 2.0 * beta @ self.dcg + beta @ self.dcc @ beta)
        return scale * float(g - c @ beta), scale * math.sqrt(max(pairs, 0.0)) / self.n


def _count_cdf(n: int, p: np.ndarray) -> np.ndarray:
    """P(N <= k) for N ~ Binomial(n, p) and k < n, plus the index of p: one sorted array
    whose entries at p's index j lie in [j, j + 1], so that a node's count is the number of
    its entries at or below j + u for u ~ U[0, 1) (inverse CDF; P(N <= n) = 1 is implied).
    p is kept inside [1e-300, 1 - 2^-53] to avoid 0 log 0 (the pmf moves by <= 1e-16)."""
    k = np.arange(float(n))
    q = np.clip(p, 1e-300, 1.0 - 2.0**-53)[:, None]
    log_pmf = np.log(q) * k + np.log1p(-q) * (n - k)
    log_pmf += special.gammaln(n + 1.0) - special.gammaln(k + 1.0) - special.gammaln(n + 1.0 - k)
    cdf = np.cumsum(np.exp(log_pmf, out=log_pmf), axis=1)
    cdf += np.arange(p.size)[:, None]
    return cdf.ravel()


def selection_gain(cbs: list[Codebook], s: np.ndarray, each: np.ndarray, nodes: MaxNodes,
                   st: Setting) -> Gain:  # fmt: skip
    """E[S_k* - min_k S_k] / B integrated over M (module docstring), for symmetric codebooks
    `cbs` sharing the scale `s` (per node, standard-t units); `each`: every candidate's
    analytic per-value error given M, (candidates, nodes); k* its least per node."""
    m, q, B, w = nodes.m, nodes.q, st.block, nodes.weight
    best, least = each.argmin(axis=0), each.min(axis=0)
    h = split_level(cbs)
    bands = Bands(cbs, h)
    levels = bands.levels
    lo = np.minimum(h * s, m)
    q_lo = st.dist.sf(lo)
    p_h = np.clip((q_lo - q) / np.where(q < 0.5, 0.5 - q, 1.0), 0.0, 1.0)
    quantile = TailQuantile(st.dist, float(q[w > 0].min()))
    e_max = np.array([max_error(cb, s, m) for cb in cbs]).T / B  # (nodes, k)
    known = (each - least).T  # E[S_k - S_k* | M] / B
    cum, share = np.cumsum(w) / w.sum(), w / w.sum()
    count_cdf = _count_cdf(B - 1, p_h)
    square, twice, nb = levels * levels / B, 2.0 * levels / B, levels.shape[1]
    rng = np.random.default_rng(GAIN_SEED)

    def blocks(node: np.ndarray, within: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(G, control variates) of blocks at `node`; `within` ~ U[0, 1) draws N."""
        n = node.size
        counts = np.searchsorted(count_cdf, node + within, side="right") - node * (B - 1)
        block = np.repeat(np.arange(n), counts)
        at = node[block]
        x = quantile(q[at] + rng.random(block.size) * (q_lo[at] - q[at]))
        cell = block * nb + bands.index(x / s[at])
        count = np.bincount(cell, minlength=n * nb).reshape(n, nb)
        total = np.bincount(cell, weights=x, minlength=n * nb).reshape(n, nb)
        sb = s[node][:, None]
        S = sb * (sb * (count @ square.T) - total @ twice.T) + e_max[node]  # S_k / B
        at_best = S[np.arange(n), best[node]]
        return at_best - S.min(axis=1), S - known[node] - at_best[:, None]

    def draw(n: int, sums: _Sums) -> None:  # n blocks, two per slice of weight
        position = (np.repeat(np.arange(n // 2), 2) + rng.random(n)) / (n // 2)
        node = np.minimum(np.searchsorted(cum, position), w.size - 1)
        # where the position falls in its node's share of the weight: U[0, 1) given the
        # node, so N drawn from it by inverse CDF is stratified along with the node
        within = (position - (cum[node] - share[node])) / np.maximum(share[node], 1e-300)
        within = np.clip(within, 0.0, np.nextafter(1.0, 0.0))
        for a in range(0, n, CHUNK):
            sums.add(*blocks(node[a : a + CHUNK], within[a : a + CHUNK]))

    sums = _Sums(len(cbs))
    draw(FIRST_BLOCKS, sums)
    mean, se = sums.estimate(float(w.sum()))
    value = float(np.dot(w, least)) - mean
    need = min(MAX_BLOCKS, 2 * math.ceil(FIRST_BLOCKS * (se / (GAIN_RSE * value)) ** 2 / 2))
    if need > FIRST_BLOCKS:
        draw(need - FIRST_BLOCKS, sums)
        mean, se = sums.estimate(float(w.sum()))
    return Gain(mean, se)
