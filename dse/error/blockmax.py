"""Order statistics of the block absolute maximum and the quadrature over it.

For a block of B iid standard-t values, M = max |T_i| has cdf G(m) = (2 F(m) - 1)^B, and
given M = m the other B - 1 values are iid t truncated to [-m, m]. Expected
errors E[h(M)] are computed by Gauss-Legendre quadrature in the per-value tail variable

    y = -ln(2 P(T > m)) in [0, inf),  in which M has density  B e^-y (1 - e^-y)^(B-1),

a Gumbel-like bump of width ~1 at y ~ ln B. The nodes (values of m) do not depend on B, so one
node set, and every function of m evaluated on it, serves all block sizes; only the weights
do. Panels:

* bulk: panels of width <= PANEL in y over [ln(B_lo) - LOW, ln(B_hi) + HIGH] (below it
  P(M < m) < e^-37 for every B >= B_lo), BULK_NODES nodes each;
* tail, y > y_t: two panels in w = e^(-y/p), p = 4 / (1 - 2/nu) (4 for the normal), down to
  w = 0 (no truncation): there the integrand behaves as w^3 (h ~ m^2 ~ q^(-2/nu)), a smooth
  function that Gauss-Legendre integrates fast;
* `breaks` (values of m where h is not smooth) split the panels; each piece gets nodes in
  proportion to its share of the panel, at least MIN_NODES.

Measured against a 4x refined rule (fp32-scaled INT4, E2M1, NF4, SF4, E2M1+SR, APoT4, E3M0,
INT8, E4M3; nu in {2.5, 3, 4, 5, 8, 30, inf}; blocks 2..4096): relative error < 4.4e-6 with
36-51 nodes (< 7.3e-7 for nu >= 3 and blocks >= 32; 6 bulk nodes per panel gave < 4.8e-6 and
3e-7 for 13 % more time); the convergence test is in tests/test_error_analytic.py.
Quantities are kept in tail probabilities (q = P(T > m)) so that nodes deep in the tail keep
full precision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import overload

import numpy as np

from dse.error.student import Student

#: Deepest tail probability of M at which scale jumps are still resolved (beyond it the scale
#: is held constant; the omitted effect is < 1e-12 relative for nu >= 3).
V_MIN = 1e-40
#: Bulk panel width in y, Gauss nodes per bulk panel and per tail panel, fewest per piece.
PANEL, BULK_NODES, TAIL_NODES, MIN_NODES = 1.5, 5, 8, 2
#: The bulk spans y in [ln(B_lo) - LOW, ln(B_hi) + HIGH].
LOW, HIGH = math.log(37.0), 4.5


@dataclass(frozen=True, eq=False)
class Nodes:
    """Quadrature nodes in m shared by every block size: q = P(T > m), y = -ln 2q, and the
    quadrature weights in y."""

    dist: Student
    m: np.ndarray
    q: np.ndarray
    y: np.ndarray
    wy: np.ndarray

    @property
    def inside(self) -> np.ndarray:
        """P(|T| <= m) = 1 - 2q, the normaliser of the truncated law of the other values."""
        return 1.0 - 2.0 * self.q

    @cached_property
    def moments(self) -> np.ndarray:
        """Upper-tail partial moments at every node, shape (3, n) (`Student.upper_moments`)."""
        return self.dist.upper_moments(self.m, self.q)

    @cached_property
    def _log_weight(self) -> tuple[np.ndarray, np.ndarray]:
        """(ln(wy e^-y), ln(1 - e^-y)): the density of M in y is B e^-y (1 - e^-y)^(B-1)."""
        with np.errstate(divide="ignore"):
            return np.log(self.wy) - self.y, np.log1p(-np.exp(-self.y))

    def weights(self, block: int, cap: float | None = None) -> np.ndarray:
        """Weights of E[h(M)] for blocks of `block` values, normalised to sum to 1 (which
        makes the rule exact for constants); with `cap`, for the law of M conditioned on
        M <= cap (`cap` must be a break of the nodes)."""
        base, log_below = self._log_weight
        w = np.exp(base + (block - 1) * log_below)
        if cap is not None:
            w = np.where(self.m <= cap, w, 0.0)
        return w / w.sum(axis=-1, keepdims=True)


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


@overload
def q_of_v(v: float, block: int) -> float: ...
@overload
def q_of_v(v: np.ndarray, block: int) -> np.ndarray: ...
def q_of_v(v: float | np.ndarray, block: int) -> float | np.ndarray:
    """Per-value tail P(T > m) at the m where P(M > m) = v: (1 - (1 - v)^(1/B)) / 2.
    At v = 1 (m = 0) log1p gives -inf and the tail its limit 1/2. Python floats for python
    scalars (math's functions: no array calls)."""
    if isinstance(v, float) and isinstance(block, (int, np.integer)):
        return 0.5 if v == 1.0 else -math.expm1(math.log1p(-v) / block) / 2.0
    with np.errstate(divide="ignore"):
        return -np.expm1(np.log1p(-v) / block) / 2.0


def v_of_m(dist: Student, m: np.ndarray, block: int) -> np.ndarray:
    """P(M > m) = 1 - (1 - 2 P(T > m))^B, accurate when small."""
    q = dist.sf(m)
    return -np.expm1(block * np.log1p(-2.0 * q))


def max_range(dist: Student, block: int, hi_block: int | None = None):
    """m at tail probabilities 1 - 1e-14 of M for `block` values and V_MIN for `hi_block`
    (default `block`): the range where breaks matter (floats, or arrays of nu's shape)."""
    q = np.array([q_of_v(1 - 1e-14, block), q_of_v(V_MIN, block if hi_block is None else hi_block)])
    m = q if dist.scalar else np.broadcast_to(q, (*np.shape(dist.nu), 2))
    m = dist.isf(m)
    return (float(m[0]), float(m[1])) if m.ndim == 1 else (m[..., 0], m[..., 1])


def nodes(
    dist: Student,
    lo_block: int,
    hi_block: int,
    breaks: np.ndarray | None = None,
    refine: float = 1.0,
) -> Nodes:
    """Nodes for E[h(M)] for every block size in [lo_block, hi_block] (module docstring);
    `refine` multiplies the number of nodes per panel. Vectorised over nu (arrays of shape
    (*nu.shape, nodes)) when there are no breaks."""
    return _lane_nodes(dist, lo_block, hi_block, [() if breaks is None else breaks], refine)[0]


def _lane_nodes(
    dist: Student, lo_block: int, hi_block: int, breaks: list, refine: float
) -> tuple[Nodes, np.ndarray]:
    """`nodes` for several independent sets of breaks ("lanes", one node set each, for a scalar
    nu when there is more than one) in one pass: the lanes' nodes concatenated, and the
    number of nodes per lane."""
    p = dist.lead(4.0 / (1.0 - 2.0 * dist.inv_nu), np.empty((*np.shape(dist.nu), 1)))
    y_lo = max(0.0, math.log(lo_block) - LOW)
    y_t = math.log(hi_block) + HIGH
    bulk = np.linspace(y_lo, y_t, max(1, math.ceil((y_t - y_lo) / PANEL)) + 1)
    lane = np.repeat(np.arange(len(breaks)), [np.size(b) for b in breaks])
    m_b = np.concatenate([np.ravel(b) for b in breaks]).astype(np.float64)
    q = dist.sf(m_b) if m_b.size else m_b
    lane, q = lane[q > 0], q[q > 0]
    yb = -np.log(2.0 * q)
    mid = (yb > y_lo) & (yb < y_t)
    y, wy, n_bulk = _panels(bulk, yb[mid], lane[mid], len(breaks), math.ceil(BULK_NODES * refine))
    # tail in u = w / w_t on [0, 1/2, 1], w = e^(-y/p), w_t = e^(-y_t/p)
    deep = yb > y_t
    u_b = np.exp(-(yb[deep] - y_t) / p).ravel() if yb.size else yb
    k_tail = math.ceil(TAIL_NODES * refine)
    u, wu, n_tail = _panels(np.array([0.0, 0.5, 1.0]), u_b, lane[deep], len(breaks), k_tail)
    y_tail, w_tail = y_t - p * np.log(u), wu * p / u
    if len(breaks) == 1:
        y = np.concatenate([np.broadcast_to(y, (*np.shape(p)[:-1], y.size)), y_tail], axis=-1)
        wy = np.concatenate([np.broadcast_to(wy, y.shape[:-1] + wy.shape), w_tail], axis=-1)
    else:  # lane by lane: its bulk nodes, then its tail nodes
        cb, ct = np.cumsum(n_bulk) - n_bulk, np.cumsum(n_tail) - n_tail
        parts = [(slice(i, i + n), slice(j, j + m)) for i, n, j, m in zip(cb, n_bulk, ct, n_tail)]
        y = np.concatenate([v for sb, st in parts for v in (y[sb], y_tail[st])])
        wy = np.concatenate([v for sb, st in parts for v in (wy[sb], w_tail[st])])
    wy = np.where(y < 690.0, wy, 0.0)  # beyond, q = e^-y / 2 underflows (nu near 2 only)
    y = np.minimum(y, 690.0)
    q = 0.5 * np.exp(-y)
    return Nodes(dist, dist.isf(q), q, y, wy), n_bulk + n_tail


def shared_nodes(dist: Student, lo_block: int, hi_block: int) -> Nodes:
    """`nodes` without breaks, cached: one set per distribution (scalar or array nu) and range
    of block sizes."""
    nu = np.asarray(dist.nu, dtype=np.float64)
    return _nodes_of(nu.tobytes(), nu.shape, lo_block, hi_block)


@lru_cache(maxsize=1024)
def _nodes_of(nu: bytes, shape: tuple, lo_block: int, hi_block: int) -> Nodes:
    v = np.frombuffer(nu).reshape(shape)
    return nodes(Student(float(v) if not shape else v), lo_block, hi_block)


# as on lru_cache's own functions (the benchmarks clear it); mypy sees no such attribute
shared_nodes.cache_clear = _nodes_of.cache_clear  # type: ignore[attr-defined]


def max_nodes(
    dist: Student,
    block: int,
    breaks: np.ndarray | None = None,
    n: int = 64,
    cap: float | None = None,
) -> MaxNodes:
    """Nodes and weights for E[h(M)], M the absolute maximum of `block` values, with panels
    split at `breaks` (values of m); `n` / 64 refines the rule. With `cap`, the law of M is
    conditioned on M <= cap (a block of a tensor whose absolute maximum is `cap`)."""
    return lane_max_nodes(dist, block, [() if breaks is None else breaks], n, cap)[0]


def lane_max_nodes(
    dist: Student, block: int, breaks: list, n: int = 64, cap: float | None = None
) -> tuple[MaxNodes, np.ndarray]:
    """`max_nodes` for each set of breaks of `breaks` (scalar nu), in one pass: the node sets
    concatenated, each with weights summing to 1, and the number of nodes per set."""
    if cap is not None:
        breaks = [np.append(np.asarray(b, dtype=np.float64), cap) for b in breaks]
    nd, sizes = _lane_nodes(dist, block, block, breaks, n / 64)
    w = nd.wy * np.exp(-nd.y + (block - 1) * np.log1p(-np.exp(-nd.y)))
    if cap is not None:
        w = np.where(nd.m <= cap, w, 0.0)
    bounds = np.cumsum(sizes)
    w = w / np.repeat([w[b - c : b].sum() for b, c in zip(bounds, sizes)], sizes)
    return MaxNodes(nd.m, nd.q, w, block), sizes


def _panels(
    edges: np.ndarray, breaks: np.ndarray, lane: np.ndarray, lanes: int, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on the panels between `edges`, each split at the
    `breaks` inside it, for each of `lanes` independent sets of breaks (`lane`: the set of
    each break): the nodes lane by lane, and their number per lane. A piece gets
    ceil(k * its share of the panel) nodes, >= MIN_NODES."""
    vals = np.concatenate([np.tile(edges, lanes), breaks])
    ids = np.concatenate([np.repeat(np.arange(lanes), edges.size), lane])
    order = np.lexsort((vals, ids))
    vals, ids = vals[order], ids[order]
    new = np.append(True, (vals[1:] != vals[:-1]) | (ids[1:] != ids[:-1]))
    cut, cut_lane = vals[new], ids[new]  # sorted distinct cuts per lane
    same = cut_lane[1:] == cut_lane[:-1]
    lo, length, lane = cut[:-1][same], np.diff(cut)[same], cut_lane[:-1][same]
    panel = np.diff(edges)[np.clip(np.searchsorted(edges, lo, side="right") - 1, 0, None)]
    keep = length > 1e-13 * panel
    lo, length, panel, lane = lo[keep], length[keep], panel[keep], lane[keep]
    counts = np.maximum(MIN_NODES, np.ceil(k * length / panel - 1e-9)).astype(int)
    x_table, w_table = _gauss_table(int(counts.max()))
    order = np.lexsort((counts, lane))  # pieces grouped by lane, then by number of nodes
    piece = np.repeat(order, counts[order])
    starts = np.cumsum(counts[order]) - counts[order]
    j = np.arange(piece.size) - np.repeat(starts, counts[order])  # node index within its piece
    c = counts[piece]
    sizes = np.bincount(lane, counts, minlength=lanes).astype(int)
    return lo[piece] + length[piece] * x_table[c, j], length[piece] * w_table[c, j], sizes


@lru_cache(maxsize=16)
def _gauss_table(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [0, 1] for 1..k nodes: row c holds the c-node rule
    (zero-padded)."""
    x, w = np.zeros((k + 1, k)), np.zeros((k + 1, k))
    for c in range(1, k + 1):
        xc, wc = np.polynomial.legendre.leggauss(c)
        x[c, :c], w[c, :c] = 0.5 * (xc + 1.0), 0.5 * wc
    return x, w


def median_max(dist: Student, size: int):
    """Median of the absolute maximum of `size` iid standard-t values (closed form: G^-1(1/2)),
    the default model of a tensor's absolute maximum (an array for an array of nu)."""
    q = q_of_v(0.5, size)
    m = dist.isf(q if dist.scalar else np.full(np.shape(dist.nu), q))
    return float(m) if m.ndim == 0 else m
