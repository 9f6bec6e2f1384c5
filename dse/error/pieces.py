"""Exact expected error of quantizers that are piecewise-constant functions of the block
maximum M: power-of-two scales (MX, Anda), scales rounded to a coarse format (NVFP4's UE4M3),
and per-block choices made on M alone (the FP4/FP8 mix). No quadrature.

If a block uses quantizer Q_j whenever M is in [a_j, b_j), the mean error per value is, by
exchangeability, E[e_M(X_1)] with M = max(|X_1|, M') and M' the maximum of the other B - 1
values (cdf P(m)^(B-1), P(m) = P(|T| <= m)). The event {M in [a, b)} is
{|X_1| < b, M' < b} minus {|X_1| < a, M' < a}, so

    E[err per value] = sum_j  W_j(b_j) P(b_j)^(B-1) - W_j(a_j) P(a_j)^(B-1),
    W_j(m) = int_{-m}^{m} (x - Q_j(x))^2 f(x) dx   (closed form: `ScaledCells`).

Each term is evaluated as dW_j P(b_j)^(B-1) + W_j(a_j) (P(b_j)^(B-1) - P(a_j)^(B-1)), dW_j the
error over a_j <= |x| < b_j, a difference of the tail errors beyond a_j and b_j
(`ScaledCells.beyond`, cumulative sums of per-interval errors): every term is non-negative and
exact to ~1e-16 of the piece's total error. Conditioning on M <= cap (a tensor maximum)
ends the last piece at cap and divides by P(cap)^B. Approximation: scale jumps are resolved
only where P(M > m) >= `blockmax.V_MIN` (and where P(M < m) >= 1e-14); outside, the nearest
piece's scale is used.
"""

from __future__ import annotations

import math

import numpy as np

from dse.error.blockmax import max_range
from dse.error.codebook import ScaledCells, codebook, folded, positive
from dse.error.student import Student
from dse.formats import ScaledFormat


def telescoped(cells: ScaledCells, ab: np.ndarray, uab: np.ndarray, blocks) -> np.ndarray:
    """The terms of the sum above for pieces [a, b) (ab = [a, b], shape (2, pieces),
    0 < a <= b <= inf; piece j uses row j of `cells`; `uab` the upper moments at a and b,
    shape (3, 2, pieces)), shape (len(blocks), pieces)."""
    beyond = cells.beyond(np.arange(ab.shape[1]), ab, uab)
    w_a = np.maximum(cells.total() - beyond[0], 0.0)  # absolute precision ~1e-16 of the total
    dw = np.maximum(beyond[0] - beyond[1], 0.0)
    e = np.asarray(blocks, dtype=np.float64)[:, None, None] - 1.0
    ga, gb = ((1.0 - 2.0 * uab[0]) ** e).swapaxes(0, 1)  # P(|T| < a)^(B-1), same at b
    return dw * gb + w_a * (gb - ga)


def piece_sums(
    fmt: ScaledFormat,
    dist: Student,
    blocks: np.ndarray,
    sigmas: np.ndarray,
    amax,
    start: float,
    end,
    jumps,
    scale,
) -> np.ndarray:
    """Sum of the terms over M in [start, end) (start > 0) for `fmt`, shape (blocks, *nu.shape,
    sigmas).

    Vectorised over nu (`dist.nu`, `amax` and `end` may be arrays of nu's shape) and sigma:
    one row per (nu, sigma). `jumps(sig, amax, lo, hi)`: candidate values of m where the scale
    may jump, per row (a boundary that is no jump is harmless); `scale(m, sig, amax)`: the
    scale at m. Arguments come as columns of one value per row. The tail moments at every
    piece end and every threshold of every piece's scale come from one pass, each distinct
    point once (`distinct_moments`)."""
    shape = () if dist.scalar else np.shape(dist.nu)
    n_nu, n_sig = math.prod(shape), sigmas.size
    nu_row = np.arange(n_nu).repeat(n_sig)  # the nu of each row

    def col(v):  # one value per row, as a column
        if isinstance(v, np.ndarray) and v.ndim:
            return v.ravel()[nu_row][:, None]
        return v + np.zeros((nu_row.size, 1))

    lo, hi = max_range(dist, int(min(blocks)), int(max(blocks)))
    end, amax = col(end), col(amax)
    lo = np.minimum(np.maximum(col(lo), start), end)
    hi = np.maximum(np.minimum(col(hi), end), start)
    sig = (sigmas[None, :] + np.zeros((n_nu, 1))).reshape(-1, 1)
    j = np.minimum(np.maximum(jumps(sig, amax, lo, hi), lo), hi)
    j.sort(axis=1)
    edges = np.concatenate([np.full(lo.shape, start), lo, j, hi, end], axis=1)
    a, b = edges[:, :-1], edges[:, 1:]
    rep = np.sqrt(a * b)  # a >= start > 0: no 0 x inf
    rep[:, 0], rep[:, -1] = b[:, 0] * (1 - 1e-9), a[:, -1] * (1 + 1e-9)
    s = scale(rep, sig, amax)
    keep = (b > a).ravel()
    row = np.arange(a.shape[0]).repeat(a.shape[1])[keep]
    a, b = a.ravel()[keep], b.ravel()[keep]
    cb, s = codebook(fmt.element, fmt.rounding), positive(s.ravel()[keep])
    ua = folded((cb,)).ua
    # per piece: its ends, then its thresholds (a piece's end is the next one's start: the
    # repeats cost nothing, `distinct_moments` evaluates each point once)
    x = np.concatenate([a[:, None], b[:, None], s[:, None] * ua], axis=1)
    nu_of = per_point = None  # each piece's nu, each point's (array nu only)
    if not dist.scalar:
        nu_of = nu_row[row]
        per_point = nu_of.repeat(ua.size + 2)
    mom = distinct_moments(dist, per_point, x.ravel()).reshape(3, *x.shape)
    cells = ScaledCells(dist.take(nu_of), cb, s, up=mom[:, :, 2:])  # take: a scalar nu as is
    terms = telescoped(cells, x[:, :2].T, mom[:, :, :2].transpose(0, 2, 1), blocks)
    sums = np.array([np.bincount(row, t, minlength=lo.shape[0]) for t in terms])
    return sums.reshape((len(blocks), *shape, n_sig))


def distinct_moments(dist: Student, nu_of: np.ndarray | None, x: np.ndarray) -> np.ndarray:
    """`upper_moments` at points x > 0 of the distributions nu_of (indices into dist.nu; None
    for a scalar nu), each distinct (nu, x) pair evaluated once: piece ends and the thresholds
    of scales that repeat every octave (powers of two, float scale formats) coincide exactly,
    a sixth to a half of the points. Sorted by log2 x within each nu (a key; equal pairs end
    up adjacent unless a different x has the same key, which only costs a repeated
    evaluation)."""
    if nu_of is None:
        order = x.argsort()
    else:
        with np.errstate(divide="ignore"):
            order = (np.log2(x) + 4096.0 * nu_of).argsort()  # |log2 x| < 2048 for floats
    xs = x[order]
    new = np.empty(x.size, dtype=bool)
    new[:1] = True
    new[1:] = xs[1:] != xs[:-1]
    if nu_of is not None:
        ns = nu_of[order]
        new[1:] |= ns[1:] != ns[:-1]
        dist = dist.take(ns[new])
    inverse = np.empty(x.size, dtype=np.intp)
    inverse[order] = np.add.accumulate(new, dtype=np.intp) - 1
    return dist.upper_moments(xs[new])[:, inverse]


def capped(sums: np.ndarray, dist: Student, blocks: np.ndarray, cap) -> np.ndarray:
    """Condition piece sums (blocks, *nu.shape, sigmas) on M <= cap (None, or one value per
    nu): divide by P(cap)^B."""
    if cap is None:
        return sums
    p_cap = 1.0 - 2.0 * dist.sf(cap)
    e = np.asarray(blocks, dtype=np.float64).reshape((-1,) + (1,) * p_cap.ndim)
    return sums / (p_cap**e)[..., None]
