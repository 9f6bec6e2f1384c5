"""The cells of a scalar codebook and the exact squared error of quantizing t(nu) onto it.

A codebook with levels q_0 < ... < q_{n-1} partitions the line into cells [t_{k-1}, t_k) that
round to q_k (t_{-1} = -inf, t_{n-1} = +inf: values beyond the end levels saturate to them).
Thresholds (`dse.formats.elements` rounding):

* "even" / "away": the midpoints between consecutive levels (ties have probability 0);
* "trunc" (toward zero): q_k >= 0 owns [q_k, q_{k+1}), q_k <= 0 owns (q_{k-1}, q_k], so the
  threshold between q_k and q_{k+1} is q_{k+1} on the positive side and q_k on the negative.

With a scale s the cells are s [t_{k-1}, t_k) with levels s q_k, and the squared error over
any interval follows exactly from the partial moments (DESIGN.md §3):
int_a^b (x - s q)^2 f = M2 - 2 s q M1 + s^2 q^2 M0 over [a, b].

Plain casts (scale rule "none") overflow to inf in IEEE formats; this model counts those
values as saturated at the largest finite level (their infinite error would make every
expectation infinite; their probability is below 1e-12 for sigma ~ 1 and nu >= 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from dse.error.student import Student, interval_moments, reflect, squared_error
from dse.formats.elements import Element


@dataclass(frozen=True, eq=False)
class Codebook:
    """Levels (ascending) and the n - 1 finite thresholds between their cells."""

    levels: np.ndarray
    thresholds: np.ndarray

    @cached_property
    def lower(self) -> np.ndarray:
        return np.concatenate([[-np.inf], self.thresholds])

    @cached_property
    def upper(self) -> np.ndarray:
        return np.concatenate([self.thresholds, [np.inf]])

    @cached_property
    def abs_thresholds(self) -> tuple[np.ndarray, np.ndarray]:
        """(unique |t|, index of each threshold in it): a symmetric codebook needs half."""
        return np.unique(np.abs(self.thresholds), return_inverse=True)

    def cell(self, v: np.ndarray) -> np.ndarray:
        """Index of the cell holding each value `v` (in codebook units)."""
        return np.searchsorted(self.thresholds, v, side="right")

    def quantize(self, v: np.ndarray) -> np.ndarray:
        return self.levels[self.cell(v)]


@lru_cache(maxsize=512)
def codebook(element: Element, rounding: str) -> Codebook:
    """The cells of `element` under rounding mode `rounding` (cached per record)."""
    return codebook_of_levels(tuple(float(v) for v in element.values), rounding)


@lru_cache(maxsize=512)
def codebook_of_levels(levels: tuple[float, ...], rounding: str) -> Codebook:
    v = np.unique(np.asarray(levels, dtype=np.float64))
    lo, hi = v[:-1], v[1:]
    if rounding == "trunc":
        t = np.where(hi <= 0, lo, hi)
    else:
        t = 0.5 * (lo + hi)
    return Codebook(v, t)


class ScaledCells:
    """A codebook's cells at a set of distinct scales (standard-t units): the tail moments at
    every threshold and every cell's squared error, computed once per scale (a power-of-two
    scale rule has only a few distinct scales for many quadrature nodes)."""

    def __init__(self, dist: Student, cb: Codebook, scales: np.ndarray) -> None:
        self.dist, self.cb = dist, cb
        self.scales = s = np.asarray(scales, dtype=np.float64).reshape(-1)
        ua, inv = cb.abs_thresholds
        up = dist.upper_moments(s[:, None] * ua[None, :])  # (3, S, unique |t|)
        self.tt = reflect(up[:, :, inv], (cb.thresholds < 0)[None, None, :])  # (3, S, n-1)
        zeros = np.zeros((3, s.size, 1))
        a = s[:, None] * cb.lower[None, :]
        b = s[:, None] * cb.upper[None, :]
        mom = interval_moments(
            dist,
            np.where(np.isfinite(a), a, -1.0),  # only the sign of an infinite end matters
            np.where(np.isfinite(b), b, 1.0),
            np.concatenate([zeros, self.tt], axis=2),  # tails at +-inf vanish
            np.concatenate([self.tt, zeros], axis=2),
        )
        self.errors = squared_error(mom, s[:, None] * cb.levels[None, :])  # (S, n)
        self.cumulative = np.concatenate(
            [np.zeros((s.size, 1)), np.cumsum(self.errors, axis=1)], axis=1
        )

    def total(self) -> np.ndarray:
        """Error over the whole line, per scale."""
        return self.cumulative[:, -1]

    def window(self, which: np.ndarray, m: np.ndarray, sf_m: np.ndarray | None = None):
        """int_{-m}^{m} (x - s Q(x / s))^2 f(x) dx with s = scales[which]: the error of the
        values inside a block whose maximum is m (`sf_m` = P(T > m) if known)."""
        cb = self.cb
        m = np.asarray(m, dtype=np.float64)
        s = self.scales[which]
        k_hi = cb.cell(m / s)
        k_lo = cb.cell(-m / s)
        t_hi = self.dist.upper_moments(m, sf_m)
        t_lo = reflect(t_hi, True)
        same = k_lo == k_hi
        # partial cells [s t_{k_hi - 1}, m] and [-m, s t_{k_lo}] (or [-m, m] when one cell)
        a_hi = np.where(same, -m, s * cb.lower[k_hi])
        b_lo = np.where(same, m, s * cb.upper[k_lo])
        ta_hi = np.where(same, t_lo, self.tt[:, which, np.maximum(k_hi - 1, 0)])
        tb_lo = self.tt[:, which, np.minimum(k_lo, cb.thresholds.size - 1)]
        top = squared_error(interval_moments(self.dist, a_hi, m, ta_hi, t_hi), s * cb.levels[k_hi])
        bottom = squared_error(
            interval_moments(self.dist, -m, b_lo, t_lo, tb_lo), s * cb.levels[k_lo]
        )
        inner = self.cumulative[which, k_hi] - self.cumulative[which, np.minimum(k_lo + 1, k_hi)]
        return np.where(same, top, top + bottom + inner)


def max_error(cb: Codebook, s: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Squared error of the block maximum, +m or -m with probability 1/2 each."""
    up = m - s * cb.quantize(m / s)
    down = m + s * cb.quantize(-m / s)
    return 0.5 * (up * up + down * down)
