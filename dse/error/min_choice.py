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
p_H), p_H = P(h s <= |T| <= M | |T| <= M), and given N they are iid on H; N is small (a few
per block at the top of the distribution), so G is sampled cheaply: per node, blocks of N
values drawn by inverse CDF (`Student.isf`) from a fixed seed (the value is deterministic),
each value's band between the merged thresholds of all codebooks giving every candidate's
level at once, so S_k - sum x^2 = sum_bands (count s^2 L_k^2 - 2 s L_k sum|x|) per block.

A model, not an exact value: the gain carries a sampling error, returned as `se` (measured
0.1 - 0.45 % of the value with GAIN_BLOCKS blocks; the Monte Carlo of the real selector
agrees within 1 % and 3 of its SE over nu in {3, 4, 5, 8, 30, inf} x blocks 16/32/64:
tests/test_error_montecarlo.py). It replaces an upper bound that was 3.5 - 20 % high, after
normal laws of the 16 block errors (Clark's minimum and the exact normal minimum) were
measured 2.6 - 13 % low: ties between candidates that differ on an often empty band are an
atom a normal law spreads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dse.error.analytic import Setting
from dse.error.blockmax import MaxNodes
from dse.error.codebook import Codebook

#: Blocks sampled in all (spread evenly over the quadrature nodes, at least MIN_PER_NODE
#: each): the gain's standard error is about 0.1 - 0.45 % of the value at 2^16 (measured on
#: BlockDialect, blocks 16 - 64, nu 3 - inf), at 50 - 180 ms per value on one core.
GAIN_BLOCKS = 1 << 16
MIN_PER_NODE = 8
#: The gain's samples come from this seed: the same inputs give the same value.
GAIN_SEED = 0


@dataclass(frozen=True)
class Gain:
    """Per quadrature node: the selection's mean gain per value and its standard error."""

    mean: np.ndarray
    se: np.ndarray


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


def _bands(cbs: list[Codebook], h: float) -> tuple[np.ndarray, np.ndarray]:
    """(thresholds above h, level of every codebook in each band between them), magnitudes
    in codebook units: within a band every codebook's quantized level is constant."""
    cuts = np.unique(np.concatenate([cb.thresholds for cb in cbs]))
    cuts = cuts[cuts > h]
    edges = np.concatenate([[h], cuts, [cuts[-1] + 2.0 if cuts.size else h + 2.0]])
    mids = 0.5 * (edges[:-1] + edges[1:])
    return cuts, np.array([cb.quantize(mids) for cb in cbs])


def selection_gain(cbs: list[Codebook], s: np.ndarray, best: np.ndarray, nodes: MaxNodes,
                   st: Setting) -> Gain:  # fmt: skip
    """E[S_k* - min_k S_k | M] / B per node (module docstring), for symmetric codebooks
    `cbs` sharing the scale `s` (per node, standard-t units); `best`: k* per node."""
    m, q, B = nodes.m, nodes.q, st.block
    nodes_count = m.size
    h = split_level(cbs)
    cuts, levels = _bands(cbs, h)
    lo = np.minimum(h * s, m)
    q_lo = st.dist.sf(lo)
    p_h = np.clip((q_lo - q) / np.where(q < 0.5, 0.5 - q, 1.0), 0.0, 1.0)
    n = max(MIN_PER_NODE, -(-GAIN_BLOCKS // nodes_count))
    rng = np.random.default_rng(GAIN_SEED)
    counts = rng.binomial(B - 1, np.repeat(p_h, n))
    block = np.repeat(np.arange(nodes_count * n), counts)
    node = block // n
    x = st.dist.isf(q[node] + rng.random(block.size) * (q_lo[node] - q[node]))
    nb = levels.shape[1]
    cell = block * nb + np.searchsorted(cuts, x / s[node], side="right")
    size = nodes_count * n * nb
    count = np.bincount(cell, minlength=size).reshape(-1, nb)
    total = np.bincount(cell, weights=x, minlength=size).reshape(-1, nb)
    sb = np.repeat(s, n)[:, None]
    S = sb * sb * (count @ (levels * levels).T) - 2.0 * sb * (total @ levels.T)
    e_max = np.array([(m - s * cb.quantize(m / s)) ** 2 for cb in cbs]).T  # (nodes, k)
    S = S.reshape(nodes_count, n, -1) + e_max[:, None, :]
    g = (S[np.arange(nodes_count), :, best] - S.min(axis=2)) / B
    return Gain(g.mean(axis=1), g.std(axis=1, ddof=1) / math.sqrt(n))
