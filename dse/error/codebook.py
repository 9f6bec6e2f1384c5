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

from dse.error.student import Student, interval_moments, squared_error
from dse.formats.elements import Element

#: Stand-in for a zero scale (see `ScaledCells`).
TINY = 1e-280


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
    def signs(self) -> np.ndarray:
        """-1 for the cells whose lower end is below 0, else 1 (so also, from index 1, -1 for
        the negative thresholds): reflections by a multiply, faster than masked negation."""
        return np.where(self.lower < 0, -1.0, 1.0)

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
    """A codebook's cells at a set of scales (standard-t units): the tail moments at every
    threshold and the exact error of every cell, computed once per scale, and from their
    cumulative sums the error above x, below -x and inside [-x, x] for any x >= 0.

    A zero scale (the block quantizes to zeros) is evaluated as the scale TINY: the same
    error to ~1e-500 relative, with thresholds of the right sign."""

    def __init__(self, dist: Student, cb: Codebook, scales: np.ndarray, up=None) -> None:
        """`up`: the upper moments at scales x `cb.abs_thresholds[0]`, if already known."""
        self.dist, self.cb = dist, cb
        self.scales = s = positive(scales)
        ua, inv = cb.abs_thresholds
        up = dist.upper_moments(s[:, None] * ua[None, :]) if up is None else up  # (3, S, |t|)
        self.tt = np.zeros((3, s.size, cb.levels.size + 1))  # cell k is [k, k+1]; 0 at +-inf
        self.tt[:, :, 1:-1] = np.take(up, inv, axis=2)  # tail moments at the thresholds:
        self.tt[1, :, 1:-1] *= cb.signs[1:]  # lower tails below 0 (`reflect`)

    @cached_property
    def errors(self) -> np.ndarray:
        """Error of each cell over the whole line, shape (S, n): moments from the tail moments
        at its ends (`interval_moments`; a cell's side of 0 does not depend on the scale)."""
        ta, tb = self.tt[:, :, :-1], self.tt[:, :, 1:]
        mom = ta - tb
        mom *= self.cb.signs  # cells below 0: lower tails
        k = np.flatnonzero((self.cb.lower < 0) & (self.cb.upper >= 0))  # the cell holding 0
        if k.size:
            mom[:, :, k] = interval_moments(self.dist, -1.0, 1.0, ta[:, :, k], tb[:, :, k])
        return squared_error(mom, self.scales[:, None] * self.cb.levels)

    @cached_property
    def _sums(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(error of the cells left of cell k, right of cell k, total), per scale."""
        e = self.errors
        zero = np.zeros((e.shape[0], 1))
        left = np.concatenate([zero, np.cumsum(e, axis=1)], axis=1)
        right = np.concatenate([np.cumsum(e[:, :0:-1], axis=1)[:, ::-1], zero], axis=1)
        return left[:, :-1], right, left[:, -1]

    def total(self) -> np.ndarray:
        """Error over the whole line, per scale."""
        return self._sums[2]

    def tails(self, which, x, ux) -> tuple[np.ndarray, np.ndarray]:
        """(int_x^inf, int_-inf^-x) of (y - s Q(y / s))^2 f(y) dy with s = scales[which], for
        x >= 0 (arrays broadcasting with `which`, x = inf allowed); `ux` = the upper moments at
        x (`Student.upper_moments`, shape (3, ...)). The cell holding +-x contributes the
        closed form over its part beyond +-x; the other cells their cumulative sum."""
        which, x = np.broadcast_arrays(which, np.asarray(x, dtype=np.float64))
        s = self.scales[which]
        with np.errstate(over="ignore"):
            up = self._cell(which, x / s)  # the upper threshold of cell `up` lies above x
            down = self._cell(which, -x / s)  # the lower threshold of cell `down` lies below -x
        mom_up = ux - self.tt[:, which, up + 1]
        sign = np.array([1.0, -1.0, 1.0]).reshape((3,) + (1,) * x.ndim)
        mom_down = sign * ux - self.tt[:, which, down]
        left, right, _ = self._sums
        above = squared_error(mom_up, s * self._level(which, up)) + right[which, up]
        below = squared_error(mom_down, s * self._level(which, down)) + left[which, down]
        return above, below

    def _cell(self, which: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Cell index of `v` (codebook units) for the rows `which`."""
        return self.cb.cell(v)

    def _level(self, which: np.ndarray, cell: np.ndarray) -> np.ndarray:
        """Level of `cell` for the rows `which`."""
        return self.cb.levels[cell]

    def window(self, which: np.ndarray, m: np.ndarray, sf_m=None, um=None) -> np.ndarray:
        """int_{-m}^{m} (x - s Q(x / s))^2 f(x) dx with s = scales[which]: the error of the
        values inside a block whose maximum is m > 0 (`sf_m` = P(T > m), `um` = the upper
        moments at m, if known), as the total minus both tails (absolute precision ~1e-16 of
        the total)."""
        m = np.asarray(m, dtype=np.float64)
        um = self.dist.upper_moments(m, sf_m) if um is None else um
        above, below = self.tails(which, m, um)
        return np.maximum(self.total()[which] - above - below, 0.0)


def positive(scales: np.ndarray) -> np.ndarray:
    """Scales flattened, a zero scale replaced by TINY (see `ScaledCells`)."""
    s = np.asarray(scales, dtype=np.float64).reshape(-1)
    return np.where(s > 0, s, TINY)


class StackedCells(ScaledCells):
    """`ScaledCells` of several codebooks at chosen scales, as one table of rows (row r:
    codebook k at scale i, from its key k S + i, S = number of scales), so that windows and
    tails of different codebooks are evaluated in one pass (codebooks with fewer levels get
    empty cells at +inf). The tail moments at the union of their |thresholds| `ua` are
    computed once per scale (`up`, (3, scales, |t|); codebooks that share levels share cdf
    calls)."""

    def __init__(self, dist: Student, cbs: list[Codebook], scales: np.ndarray, keys) -> None:
        """`keys`: the rows' keys k S + i (ascending, distinct)."""
        s = positive(scales)
        n = max(cb.levels.size for cb in cbs)
        self.dist, self.size, self.keys = dist, s.size, keys
        self.row_k, at = np.divmod(keys, s.size)
        self.scales = s[at]
        pad = [n - cb.levels.size for cb in cbs]  # empty cells [inf, inf) of the last level
        self.thr = np.stack([np.append(cb.thresholds, [np.inf] * p) for cb, p in zip(cbs, pad)])
        self.levels = np.stack(
            [np.append(cb.levels, cb.levels[-1:].repeat(p)) for cb, p in zip(cbs, pad)]
        )
        self.ua = ua = np.unique(np.abs(self.thr))
        self.up = up = dist.upper_moments(s[:, None] * ua[None, :])  # (3, S, |t|)
        t = up[:, at[:, None], np.searchsorted(ua, np.abs(self.thr))[self.row_k]]  # (3, R, n - 1)
        t[1] *= np.where(self.thr < 0, -1.0, 1.0)[self.row_k]  # lower tails below 0 (`reflect`)
        self.tt = np.zeros((3, keys.size, n + 1))
        self.tt[:, :, 1:-1] = t

    def row(self, k, which) -> np.ndarray:
        """Row of codebook `k` at scale index `which` (arrays broadcast; the row must exist)."""
        return np.searchsorted(self.keys, np.asarray(k) * self.size + which)

    @cached_property
    def errors(self) -> np.ndarray:
        """As `ScaledCells.errors`, per row."""
        ta, tb = self.tt[:, :, :-1], self.tt[:, :, 1:]
        inf = np.full((self.thr.shape[0], 1), np.inf)
        lower = np.concatenate([-inf, self.thr], axis=1)
        upper = np.concatenate([self.thr, inf], axis=1)
        mom = ta - tb
        mom *= np.where(lower < 0, -1.0, 1.0)[self.row_k]  # cells below 0: lower tails
        r = np.arange(self.row_k.size)
        zero = np.argmax((lower < 0) & (upper >= 0), axis=1)[self.row_k]  # the cell holding 0
        mom[:, r, zero] = interval_moments(self.dist, -1.0, 1.0, ta[:, r, zero], tb[:, r, zero])
        return squared_error(mom, self.scales[:, None] * self.levels[self.row_k])

    def _cell(self, which: np.ndarray, v: np.ndarray) -> np.ndarray:
        return np.count_nonzero(self.thr[self.row_k[which]] <= v[..., None], axis=-1)

    def _level(self, which: np.ndarray, cell: np.ndarray) -> np.ndarray:
        return self.levels[self.row_k[which], cell]

    def max_error(self, which: np.ndarray, s: np.ndarray, m: np.ndarray) -> np.ndarray:
        """`max_error` with the codebook of each row `which`."""
        s = np.where(s > 0, s, TINY)
        up = m - s * self._level(which, self._cell(which, m / s))
        down = m + s * self._level(which, self._cell(which, -m / s))
        return 0.5 * (up * up + down * down)


def max_error(cb: Codebook, s: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Squared error of the block maximum, +m or -m with probability 1/2 each (a zero scale
    quantizes it to 0)."""
    s = np.where(s > 0, s, TINY)
    up = m - s * cb.quantize(m / s)
    down = m + s * cb.quantize(-m / s)
    return 0.5 * (up * up + down * down)
