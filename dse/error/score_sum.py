"""The law of a block's score sum given the block maximum, by convolution on a lattice: what
the FP4/FP8 mix's ranking needs beyond the moments of `dse.error.blocksums`.

Given M = m the other B - 1 values of a block are iid, so the block score T = tau(+-m) +
V_{B-1}, V_k the sum of k iid one-value scores t(X). `blocksums` gives the one-value law as
weighted points (Gauss-Legendre over |x| < m, the truncated t's density in the weights). Here
that law is put on a lattice of step h = max_p t_p / K per node (each point's weight split
linearly between its two neighbouring lattice points, which keeps the mean), and the laws
of V_{B-1} and V_{B-2} follow exactly on the lattice by FFT powers of its transform (the
lattice spans the whole support of V_{B-1}: no wrap-around). Between lattice points the
distribution function is interpolated linearly (each lattice atom spread over its bin).
Approximations: the one-value law's quadrature points and the lattice step (`LATTICE`).
"""

from __future__ import annotations

import numpy as np

#: Lattice points of the sum's support (a power of two; larger blocks take more, see
#: `ScoreSums`), and the fewest lattice steps across one value's score range. The lattice's
#: error falls as the square of its step: against 2^17 points, the FP4/FP8 mix's NMSE is
#: within 2e-4 relative at B = 16 .. 128 (5e-4 at B = 64, nu = 3) with these values, 4x
#: closer per doubling (measured: p = 0.1 .. 0.95, nu = 3 .. inf).
LATTICE = 1 << 11
MIN_STEPS = 64


class ScoreSums:
    """Distribution functions of V_{B-1} and V_{B-2} per node of a one-value score law:
    `score` (nodes, points) >= 0 with weights `w` (nodes, points; each row sums to ~1); with
    `value` (nodes, points), also the expectation of a one-value quantity d(X) over the
    values whose score and B - 2 others' exceed a level (`exceed_value`)."""

    def __init__(
        self, score: np.ndarray, w: np.ndarray, block: int, value: np.ndarray | None = None
    ) -> None:
        k = max(block - 1, 1)
        size = max(LATTICE, 1 << int(np.ceil(np.log2(k * MIN_STEPS + 1))))
        steps = (size - 1) // k  # one value spans lattice points 0 .. steps
        top = np.max(score, axis=1)
        self.h = np.where(top > 0, top, 1.0) / steps  # (nodes,)
        u = score / self.h[:, None]
        lo = np.minimum(np.floor(u).astype(np.int64), steps - 1)
        frac = u - lo
        n, span = score.shape[0], steps + 1  # one value's lattice points 0 .. steps
        rows = (np.arange(n)[:, None] * span + lo).ravel()

        def lattice(mass: np.ndarray) -> np.ndarray:  # (nodes, span): split between neighbours
            flat, up = mass.ravel(), frac.ravel()
            lower = np.bincount(rows, flat * (1.0 - up), n * span)
            return (lower + np.bincount(rows + 1, flat * up, n * span)).reshape(n, span)

        pmf = lattice(w)
        pmf = pmf / pmf.sum(axis=1, keepdims=True)
        f = np.fft.rfft(pmf, size, axis=1)  # zero beyond one value's points
        self.size = size
        # per count, the distribution function at the lattice points, padded with 0 below and
        # its total above (what `exceed` interpolates in), and the total: built on first use
        # from the transform of the count's law
        self.cdf: dict = {}
        below = f ** max(block - 2, 0)  # the transform of V_{B-2}'s law
        self._transforms = {max(block - 1, 0): below * f if block > 1 else below,
                            max(block - 2, 0): below}  # fmt: skip
        if value is not None:  # d(X) at X's score, convolved with V_{B-2}
            spread = np.fft.irfft(np.fft.rfft(lattice(value * w), size, axis=1) * below, size,
                                  axis=1)  # fmt: skip
            self.cdf["value"] = (self._padded(spread, None), np.sum(value * w, axis=1))

    def _padded(self, mass: np.ndarray, clip: float | None) -> np.ndarray:
        padded = np.zeros((mass.shape[0], self.size + 2))
        np.cumsum(mass, axis=1, out=padded[:, 1:-1])
        padded[:, -1] = padded[:, -2]
        if clip is not None:  # a distribution function: within [0, 1], 1 above the lattice
            padded[:, -1] = clip
            np.clip(padded, 0.0, clip, out=padded)
        return padded

    def exceed(self, y: np.ndarray, count) -> np.ndarray:
        """P(V_count > y) per node, `y` shaped (nodes, ...) in score units (count = B - 1 or
        B - 2); count "value": E[d(X) 1{t(X) + V_{B-2} > y}]."""
        if count not in self.cdf:
            law = np.fft.irfft(self._transforms[count], self.size, axis=1)
            self.cdf[count] = (self._padded(law, 1.0), 1.0)
        pad, total = self.cdf[count]
        shape = y.shape
        y = y.reshape(shape[0], -1)
        u = y / self.h[:, None] - 0.5  # atom j spread over [(j - 1/2) h, (j + 1/2) h]
        np.clip(u, -1.0, self.size, out=u)
        j = np.minimum(np.floor(u), self.size - 1)  # between padded points j + 1 and j + 2
        frac = u - j  # in [0, 1]
        # flat positions of padded points j + 1 and j + 2 of each row
        at = (j + 1.0).astype(np.int64) + (np.arange(shape[0]) * (self.size + 2))[:, None]
        flat = pad.reshape(-1)
        lo = flat.take(at)
        hi = flat.take(at + 1)
        total = np.reshape(total, (-1, 1)) if np.ndim(total) else total
        return (total - (lo + (hi - lo) * frac)).reshape(shape)
