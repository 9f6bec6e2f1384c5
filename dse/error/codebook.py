"""The cells of a scalar codebook and the exact squared error of quantizing t(nu) onto it.

A codebook with levels q_0 < ... < q_{n-1} partitions the line into cells [t_{k-1}, t_k) that
round to q_k (t_{-1} = -inf, t_{n-1} = +inf: values beyond the end levels saturate to them).
Thresholds (`dse.formats.elements` rounding):

* "even" / "away": the midpoints between consecutive levels (ties have probability 0);
* "trunc" (toward zero): q_k >= 0 owns [q_k, q_{k+1}), q_k <= 0 owns (q_{k-1}, q_k], so the
  threshold between q_k and q_{k+1} is q_{k+1} on the positive side and q_k on the negative.

With a scale s the cells are s [t_{k-1}, t_k) with levels s q_k, and the squared error over
any interval follows exactly from the partial moments (`dse.error.student`):
int_a^b (x - s q)^2 f = M2 - 2 s q M1 + s^2 q^2 M0 over [a, b]. Since f is symmetric, the
errors are evaluated on |x| (`Folded`), in upper-tail moments only.

Plain casts (scale rule "none") overflow to inf in IEEE formats; this model counts those
values as saturated at the largest finite level (their infinite error would make every
expectation infinite; their probability is below 1e-12 for sigma ~ 1 and nu >= 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from dse.error.student import Student
from dse.formats.elements import Element

#: Stand-in for a zero scale (see `ScaledCells`).
TINY = 1e-280


#: `Codebook.cell` looks cells up in a table when the thresholds lie on a grid of step 2^-k,
#: k <= GRID_FINEST, of at most GRID_POINTS points (every float element's: dyadic levels).
GRID_FINEST, GRID_POINTS = 8, 1 << 14


@dataclass(frozen=True, eq=False)
class Codebook:
    """Levels (ascending) and the n - 1 finite thresholds between their cells."""

    levels: np.ndarray
    thresholds: np.ndarray

    def cell(self, v: np.ndarray) -> np.ndarray:
        """Index of the cell holding each value `v` (in codebook units): the count of
        thresholds <= v (NaN is not a value here)."""
        if self._grid is None:
            return np.searchsorted(self.thresholds, v, side="right")
        scale, first, table = self._grid
        j = np.floor(np.multiply(v, scale))  # exact: a power of two
        np.clip(j, first, first + table.size - 1, out=j)
        return table[j.astype(np.intp) - first]

    @cached_property
    def _grid(self) -> tuple[float, int, np.ndarray] | None:
        """(2^k, first grid index, count of thresholds <= each grid point from it) when the
        thresholds are multiples of 2^-k: v in [j, j + 1) 2^-k has the cell of j 2^-k, a
        table look-up about 3x faster than a binary search per value. None otherwise."""
        t = self.thresholds
        for k in range(GRID_FINEST + 1):
            g = t * 2.0**k
            if t.size and np.all(g == np.round(g)) and g[-1] - g[0] < GRID_POINTS:
                first = int(g[0]) - 1
                grid = np.arange(first, int(g[-1]) + 1) / 2.0**k
                return 2.0**k, first, np.searchsorted(t, grid, side="right")
        return None

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


@dataclass(frozen=True, eq=False)
class Folded:
    """Codebooks folded onto |x| over the union of their |thresholds| `ua` (ascending):
    interval i is [ua_{i-1}, ua_i) (ua_{-1} = 0, ua_n = inf), where codebook k rounds x to
    `pos[k, i]` and -x to -`neg[k, i]`. By the symmetry of f the error of both signs over
    s [ua_{i-1}, ua_i) is, from the interval's moments M (x >= 0),

        2 M2 - 2 s (pos + neg) M1 + s^2 (pos^2 + neg^2) M0,

    so an interval costs one closed form for both half-lines."""

    ua: np.ndarray
    pos: np.ndarray
    neg: np.ndarray

    @cached_property
    def c1(self) -> np.ndarray:
        return self.pos + self.neg

    @cached_property
    def c2(self) -> np.ndarray:
        return self.pos * self.pos + self.neg * self.neg


@lru_cache(maxsize=512)
def folded(cbs: tuple[Codebook, ...]) -> Folded:
    """`Folded` of codebooks (cached per tuple of records)."""
    ua = np.unique(np.abs(np.concatenate([cb.thresholds for cb in cbs])))
    lo = np.concatenate([[0.0], ua])
    mid = np.concatenate([0.5 * (lo[:-1] + ua), [2.0 * lo[-1] + 1.0]])  # inside each interval
    pos = np.stack([cb.quantize(mid) for cb in cbs])
    neg = np.stack([-cb.quantize(-mid) for cb in cbs])
    return Folded(ua, pos, neg)


class ScaledCells:
    """Codebooks at scales (standard-t units), folded (`Folded`): the error of every interval
    at every scale, computed once, and from their cumulative sums the error inside [-x, x]
    and beyond it for any x >= 0, each with absolute precision ~1e-16 of its own size.

    Rows: codebook k at scale i for the keys k S + i (ascending, distinct; S = number of
    scales; default: one codebook at every scale). The upper moments at scales x `ua` are
    computed once per scale (`up`, (3, S, |ua|); pass them if already known), so codebooks
    that share thresholds share cdf calls. `dist` has a scalar nu or one nu per scale.
    A zero scale (the block quantizes to zeros) is evaluated as the scale TINY: the same
    error to ~1e-500 relative."""

    def __init__(self, dist: Student, cbs, scales: np.ndarray, keys=None, up=None) -> None:
        cbs = (cbs,) if isinstance(cbs, Codebook) else tuple(cbs)
        s = positive(scales)
        self.dist, self.fold, self.size = dist, folded(cbs), s.size
        self.keys: np.ndarray | None
        self.row_k: np.ndarray | int  # the codebook of each row (one for all: 0)
        at: np.ndarray | slice
        if keys is None:  # one codebook at every scale: the rows are the scales
            self.keys, self.row_k, at = None, 0, slice(None)
        else:
            self.keys = np.asarray(keys)
            self.row_k, at = np.divmod(self.keys, s.size)
        self.scales, self.at = s[at], at
        # every codebook at every scale, rows k S + i: interval errors by broadcasting
        self.every = self.keys is None or (
            self.keys.size == len(cbs) * s.size
            and bool(np.array_equal(self.keys, np.arange(self.keys.size)))
        )
        self.ua = self.fold.ua
        self.up = dist.upper_moments(s[:, None] * self.ua) if up is None else up  # (3, S, |ua|)
        zero = dist.upper_at_zero
        self.ends = np.empty((3, s.size, self.ua.size + 2))  # upper moments at interval ends,
        self.ends[:, :, 0] = zero if zero.ndim > 1 else zero[:, None]  # per scale
        self.ends[:, :, 1:-1] = self.up
        self.ends[:, :, -1] = 0.0
        self.all_scales = s

    @cached_property
    def bounds(self) -> np.ndarray:
        """Upper moments at the interval ends per row, (3, rows, |ua| + 2)."""
        return self.ends[:, self.at]

    @cached_property
    def coef(self) -> np.ndarray:
        """The folded error of an interval with moments M is sum_j coef_j M_j (`Folded`):
        coef per row, (3, rows, |ua| + 1)."""
        coef = np.empty((3, self.scales.size, self.ua.size + 1))
        sc = self.scales[:, None]
        c1, c2 = self.fold.c1, self.fold.c2
        if c1.shape[0] > 1:
            c1, c2 = c1[self.row_k], c2[self.row_k]
        np.multiply(sc * sc, c2, out=coef[0])
        np.multiply(-2.0 * sc, c1, out=coef[1])
        coef[2] = 2.0
        return coef

    @staticmethod
    def _error(mom: np.ndarray, coef: np.ndarray) -> np.ndarray:
        """The folded error over intervals with moments `mom` (3, ...), clamped at 0."""
        mom = mom * coef
        e = mom[0]
        e += mom[1]
        e += mom[2]
        return np.maximum(e, 0.0, out=e)

    @cached_property
    def errors(self) -> np.ndarray:
        """Error of each interval at each row, shape (rows, |ua| + 1)."""
        if not self.every:
            return self._error(self.bounds[:, :, :-1] - self.bounds[:, :, 1:], self.coef)
        d = self.ends[:, :, :-1] - self.ends[:, :, 1:]  # per scale, (3, S, |ua| + 1)
        sc = self.all_scales[:, None]
        fold = self.fold  # the products in `coef`'s order: the same values as `_error`'s
        e = d[0] * ((sc * sc) * fold.c2[:, None, :])  # (codebooks, S, |ua| + 1)
        e += d[1] * ((-2.0 * sc) * fold.c1[:, None, :])
        e += d[2] * 2.0
        np.maximum(e, 0.0, out=e)
        return e.reshape(-1, d.shape[2])

    @cached_property
    def _below(self) -> np.ndarray:
        """Error of the intervals below interval i, per row (cumulative from 0)."""
        e = self.errors
        out = np.zeros_like(e)
        np.add.accumulate(e[:, :-1], axis=1, out=out[:, 1:])
        return out

    @cached_property
    def _above(self) -> np.ndarray:
        """Error of the intervals above interval i, per row (cumulative from the far end, so
        that a tail keeps the precision of its own size)."""
        e = self.errors
        out = np.zeros_like(e)
        np.add.accumulate(e[:, :0:-1], axis=1, out=out[:, -2::-1])
        return out

    def total(self) -> np.ndarray:
        """Error over the whole line, per row."""
        return self._above[:, 0] + self.errors[:, 0]

    def _part(self, which: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(index of the interval holding x, its error coefficients), for each x."""
        with np.errstate(over="ignore"):
            i = np.searchsorted(self.ua, x / self.scales[which], side="right")
        return i, self.coef[:, which, i]

    def inside(self, which, x, ux) -> np.ndarray:
        """int_{-x}^{x} (y - s Q(y / s))^2 f(y) dy for rows `which` and x >= 0 (arrays that
        broadcast, x = inf allowed; `ux` = the upper moments at x, shape (3, ...))."""
        i, coef = self._part(which, x)
        return self._below[which, i] + self._error(self.bounds[:, which, i] - ux, coef)

    def beyond(self, which, x, ux) -> np.ndarray:
        """The same error over |y| > x (tail form: keeps its relative precision far out)."""
        i, coef = self._part(which, x)
        return self._above[which, i] + self._error(ux - self.bounds[:, which, i + 1], coef)

    def window(self, which: np.ndarray, m: np.ndarray, sf_m=None, um=None) -> np.ndarray:
        """`inside` at m > 0: the error of the values inside a block whose maximum is m
        (`sf_m` = P(T > m), `um` = the upper moments at m, if known)."""
        m = np.asarray(m, dtype=np.float64)
        return self.inside(which, m, self.dist.upper_moments(m, sf_m) if um is None else um)

    def inside_every(self, which: np.ndarray, x: np.ndarray, ux: np.ndarray) -> np.ndarray:
        """`inside` for every codebook at once, (codebooks, points): codebook k at scale index
        `which` (rows k S + which, every one of which must exist: keys None with one codebook
        or all K S keys) up to x >= 0 (`ux`: the upper moments at x, (3, points)). The
        codebooks share the folded intervals, so each point's interval and the moments over
        its partial interval are found once, not once per codebook."""
        if not self.every:
            raise ValueError("inside_every needs every codebook at every scale")
        which = np.asarray(which)
        s = self.all_scales[which]
        with np.errstate(over="ignore"):
            i = np.searchsorted(self.ua, x / s, side="right")
        part = self.ends[:, which, i] - ux  # moments over [start of interval i, x], (3, n)
        fold = self.fold  # the products in `coef`'s order: the same values as `inside`'s
        out = part[0] * ((s * s) * fold.c2[:, i])
        out += part[1] * ((-2.0 * s) * fold.c1[:, i])
        out += part[2] * 2.0
        np.maximum(out, 0.0, out=out)
        j = np.arange(fold.c2.shape[0])[:, None] * self.size + which  # (codebooks, n)
        out += self._below[j, i]
        return out

    def row(self, k, which) -> np.ndarray:
        """Row of codebook `k` at scale index `which` (arrays broadcast; the row must exist)."""
        if self.keys is None:  # one codebook (k = 0): the row is the scale index
            return np.asarray(which) + 0 * np.asarray(k)
        return np.searchsorted(self.keys, np.asarray(k) * self.size + which)

    def max_error(self, which: np.ndarray, s: np.ndarray, m: np.ndarray) -> np.ndarray:
        """`max_error` with the codebook of each row `which` at scales `s`."""
        s = np.where(s > 0, s, TINY)
        i = np.searchsorted(self.ua, m / s, side="right")
        k = self.row_k if isinstance(self.row_k, int) else self.row_k[which]
        up, down = m - s * self.fold.pos[k, i], m - s * self.fold.neg[k, i]
        return 0.5 * (up * up + down * down)


def positive(scales: np.ndarray) -> np.ndarray:
    """Scales flattened, a zero scale replaced by TINY (see `ScaledCells`)."""
    return np.fmax(np.asarray(scales, dtype=np.float64).reshape(-1), TINY)  # NaN -> TINY too


def max_error(cb: Codebook, s: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Squared error of the block maximum, +m or -m with probability 1/2 each (a zero scale
    quantizes it to 0)."""
    s = np.where(s > 0, s, TINY)
    up = m - s * cb.quantize(m / s)
    down = m + s * cb.quantize(-m / s)
    return 0.5 * (up * up + down * down)
