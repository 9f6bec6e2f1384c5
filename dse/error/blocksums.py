"""Joint law, given the block maximum M, of per-block sums over a block's values: the error of
each candidate of a per-block choice, and a selector's score.

Given M = m the other B - 1 values are iid t truncated to [-m, m], so a per-block quantity
S_a = e_a(+-m) + sum_{i < B} g_a(x_i) (g_a: a candidate's squared error, or a score term) is a
sum of B - 1 iid vectors plus the maximum's own term (sign +-1 with probability 1/2 each).
Its mean vector and covariance matrix given m are

    E[S_a] = E[e_a] + (B - 1) E[g_a(X)],
    Cov(S_a, S_b) = (B - 1) (E[g_a g_b] - E[g_a] E[g_b]) + Cov(e_a, e_b),

with X ~ t truncated to [-m, m]. Each g_a is a piecewise polynomial of x (degree 2 in x between
the thresholds of its scaled codebook), so the products are polynomials of degree <= 4 between
the union of all thresholds. The integrals are Gauss-Legendre sums over |x| in [0, m] split at
that union and at a geometric grid (powers of two, where the t density changes scale), both
signs of x folded: a polynomial times the smooth density on each piece, integrated to < 1e-7
relative (measured against the exact cell means, tests/test_error_analytic.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dse.error.blockmax import MaxNodes
from dse.error.codebook import TINY, Codebook

#: Gauss-Legendre nodes per piece (products of degree <= 4 times the density on a piece at
#: most one octave wide: measured < 1e-7 relative on the means, see the module docstring).
GAUSS = 4
#: The geometric grid of |x| (standard-t units): powers of two from 2^-3 up to the largest m.
GRID_LOW = -3


@dataclass(frozen=True)
class Term:
    """One per-value function of a block sum: the squared error of codebook `cb` at scales `s`
    (one per node), or with `other` (a second codebook and scales) the squared difference of
    the two quantizations (a mix's score)."""

    cb: Codebook
    s: np.ndarray
    other: tuple[Codebook, np.ndarray] | None = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The function at points x (nodes, points), signed."""
        q = _quantized(self.cb, self.s, x)
        ref = x if self.other is None else _quantized(*self.other, x)
        return (ref - q) ** 2


def _quantized(cb: Codebook, s: np.ndarray, x: np.ndarray) -> np.ndarray:
    s = np.where(s > 0, s, TINY)[:, None]
    return s * cb.quantize(x / s)


@dataclass(frozen=True)
class BlockSums:
    """Mean (terms, nodes), covariance (terms, terms, nodes) and, if asked for, third joint
    cumulants (terms, terms, terms, nodes) of the block sums S_a given M."""

    mean: np.ndarray
    cov: np.ndarray
    third: np.ndarray | None = None


def block_sums(terms: list[Term], nodes: MaxNodes, dist, third: bool = False) -> BlockSums:
    """`BlockSums` of `terms` at every node of `nodes` (see the module docstring); `third`:
    with the third cumulants (B - 1 times those of one value: the maximum's term, two equally
    likely values, has none)."""
    m = nodes.m
    cuts = [np.minimum(b, m[:, None]) for b in _breaks(terms)]
    top = np.log2(max(float(m.max()), 1.0))
    grid = 2.0 ** np.arange(GRID_LOW, np.ceil(top) + 1)
    cuts.append(np.minimum(grid[None, :], m[:, None]))
    ends = np.sort(np.concatenate([np.zeros((m.size, 1)), *cuts, m[:, None]], axis=1), axis=1)
    a, width = ends[:, :-1], np.diff(ends, axis=1)
    gx, gw = np.polynomial.legendre.leggauss(GAUSS)
    x = (a[:, :, None] + width[:, :, None] * (0.5 * (gx + 1.0))).reshape(m.size, -1)
    w = (width[:, :, None] * (0.5 * gw)).reshape(m.size, -1) * dist.pdf(x) / nodes.inside[:, None]
    vals = np.stack([np.stack([t(x), t(-x)]) for t in terms])  # (terms, sign, nodes, points)
    mean = np.einsum("asnp,np->an", vals, w)
    second = np.einsum("asnp,bsnp,np->abn", vals, vals, w)
    e = np.stack([t(np.stack([m, -m], axis=1)) for t in terms])  # (terms, nodes, sign)
    e_mean = e.mean(axis=2)
    half = 0.5 * (e[:, :, 0] - e[:, :, 1])
    b = nodes.block - 1
    cov = b * (second - mean[:, None] * mean[None, :]) + half[:, None] * half[None, :]
    k3 = None
    if third:
        c = vals - mean[:, None, :, None]
        k3 = b * np.einsum("asnp,bsnp,csnp,np->abcn", c, c, c, w)
    return BlockSums(e_mean + b * mean, cov, k3)


def _breaks(terms: list[Term]) -> list[np.ndarray]:
    """The terms' breaks (|thresholds| x scale), (nodes, breaks) per distinct scale: each
    threshold of the codebooks at one scale once."""
    by_scale: dict[bytes, tuple[np.ndarray, list]] = {}
    for t in terms:
        pairs = [(t.cb, t.s)] + ([t.other] if t.other is not None else [])
        for cb, s in pairs:
            by_scale.setdefault(s.tobytes(), (s, []))[1].append(np.abs(cb.thresholds))
    return [np.unique(np.concatenate(th))[None, :] * s[:, None] for s, th in by_scale.values()]
