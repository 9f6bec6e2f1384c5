"""Order statistics of the block absolute maximum and the quadrature over it.

For a block of B iid standard-t values, M = max |T_i| has cdf G(m) = (2 F(m) - 1)^B, and
given M = m the other B - 1 values are iid t truncated to [-m, m] (DESIGN.md §3). Expected
errors are integrals E[h(M)] = int_0^1 h(G^-1(u)) du, computed by Gauss-Legendre quadrature in
a variable t with 1 - u = (1 - t)^p:

* the substitution removes the endpoint singularity of heavy tails (h ~ m^2 ~ (1-u)^(-2/nu)
  as u -> 1): with p = 4 / (1 - 2/nu) the integrand behaves as (1 - t)^3 there;
* `breaks` (values of m where h is not smooth: jumps of a power-of-two or rounded scale,
  kinks where the scaled maximum crosses a rounding threshold) become panel boundaries, so
  each panel integrates a smooth function (tests check convergence against adaptive quad).

Everything is kept in tail probabilities (v = 1 - u, q = P(T > m)) so that nodes deep in the
tail (v down to ~1e-40) keep full precision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dse.error.student import Student

#: Deepest tail probability of M the quadrature reaches (breakpoints beyond are dropped; the
#: omitted mass contributes < 1e-12 relative for nu >= 2.5).
V_MIN = 1e-40


# Panels graded geometrically toward both ends of the u-range (in t: u = 1e-8, 1e-4, 1e-2,
# and v = 1 - u = 1e-2 ... 1e-32), which localises the endpoint singularities (m ~ u^(1/B)
# at u -> 0, the heavy tail at u -> 1) so that Gauss-Legendre converges geometrically.
_U_GRADED = 10.0 ** -np.array([8.0, 4.0, 2.0])
_V_GRADED = 10.0 ** -np.array([2.0, 4.0, 8.0, 16.0, 24.0, 32.0])


@dataclass(frozen=True, eq=False)
class MaxNodes:
    """Quadrature nodes of the block maximum: m (standard-t units), q = P(T > m) per value,
    and weights summing to 1 (integrals over the law of M)."""

    m: np.ndarray
    q: np.ndarray
    weight: np.ndarray
    block: int

    @property
    def inside(self) -> np.ndarray:
        """P(|T| <= m) = 1 - 2q, the normaliser of the truncated law of the other values."""
        return 1.0 - 2.0 * self.q


def tail_power(dist: Student) -> float:
    """The exponent p of the substitution 1 - u = (1 - t)^p (see the module docstring)."""
    return 4.0 if dist.normal else 4.0 / (1.0 - 2.0 / dist.nu)


def q_of_v(v: np.ndarray, block: int) -> np.ndarray:
    """Per-value tail P(T > m) at the m where P(M > m) = v: (1 - (1 - v)^(1/B)) / 2."""
    return -np.expm1(np.log1p(-v) / block) / 2.0


def v_of_m(dist: Student, m: np.ndarray, block: int) -> np.ndarray:
    """P(M > m) = 1 - (1 - 2 P(T > m))^B, accurate when small."""
    q = dist.sf(m)
    return -np.expm1(block * np.log1p(-2.0 * q))


def max_range(dist: Student, block: int) -> tuple[float, float]:
    """m at tail probabilities 1 - 1e-14 and V_MIN of M: the range where breaks matter."""
    lo, hi = dist.isf(q_of_v(np.array([1 - 1e-14, V_MIN]), block))
    return float(lo), float(hi)


def max_nodes(
    dist: Student,
    block: int,
    breaks: np.ndarray | None = None,
    n: int = 64,
    per_panel: int = 4,
    cap: float | None = None,
) -> MaxNodes:
    """Gauss-Legendre nodes for E[h(M)], M the absolute maximum of `block` values.

    About `n` nodes in all, spread over the panels between `breaks` (values of m) in
    proportion to their length in t, with at least `per_panel` in each. With `cap`, the law
    of M is conditioned on M <= cap (a block of a tensor whose absolute maximum is `cap`).
    """
    p = tail_power(dist)
    edges = np.concatenate([-np.expm1(np.log1p(-_U_GRADED) / p), 1.0 - _V_GRADED ** (1.0 / p)])
    if cap is not None:
        breaks = np.append(np.asarray([] if breaks is None else breaks, dtype=np.float64), cap)
    if breaks is not None and np.size(breaks):
        v = v_of_m(dist, np.asarray(breaks, dtype=np.float64), block)
        v = v[(v > V_MIN) & (v < 1.0)]
        edges = np.concatenate([edges, 1.0 - v ** (1.0 / p)])
    edges = np.unique(np.concatenate([[0.0, 1.0], edges]))
    lengths = np.diff(edges)
    keep = lengths > 1e-15
    lo, lengths = edges[:-1][keep], lengths[keep]
    counts = np.maximum(per_panel, np.ceil(n * lengths)).astype(int)
    t_parts, w_parts = [], []
    for k in np.unique(counts):  # one Gauss-Legendre rule per distinct panel size
        x, w = _gauss(int(k))
        sel = counts == k
        t_parts.append((lo[sel, None] + lengths[sel, None] * x[None, :]).ravel())
        w_parts.append((lengths[sel, None] * w[None, :]).ravel())
    t = np.concatenate(t_parts)
    w = np.concatenate(w_parts) * p * (1.0 - t) ** (p - 1.0)
    v = (1.0 - t) ** p
    q = q_of_v(v, block)
    m = dist.isf(q)
    if cap is not None:
        w = np.where(m <= cap, w, 0.0)
        w = w / w.sum()
    return MaxNodes(m, q, w, block)


_GAUSS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _gauss(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [0, 1]."""
    if k not in _GAUSS:
        x, w = np.polynomial.legendre.leggauss(k)
        _GAUSS[k] = (0.5 * (x + 1.0), 0.5 * w)
    return _GAUSS[k]


def median_max(dist: Student, size: int) -> float:
    """Median of the absolute maximum of `size` iid standard-t values (closed form: G^-1(1/2)),
    the default model of a tensor's absolute maximum."""
    return float(dist.isf(q_of_v(np.array(0.5), size)))


def log2_span(lo: float, hi: float) -> range:
    """Integers k with 2^k in [lo, hi] (padded by one octave each side)."""
    return range(math.floor(math.log2(lo)) - 1, math.ceil(math.log2(hi)) + 2)
