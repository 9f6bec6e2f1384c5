"""Analytic expected quantization error of a scaled format under X = sigma * t(nu).

Generic over format records (no per-format code): the element's codebook gives the cells
(`dse.error.codebook`), the scale rule gives s = g(M) through the format's own
`block_scales`, and the block maximum M is integrated out (`dse.error.blockmax`):

  E[(X - Q(X))^2] / sigma^2 = E_M[ (B-1)/B * W(M, s) / P(|T| <= M) + 1/B * E_max(M, s) ]

with W the exact error of the values inside [-M, M] and E_max the error of the maximum itself
(+M or -M with probability 1/2: asymmetric codebooks such as SF4 or E2M1+SR). Per-channel and
per-tensor scaling are the same formula with B = the row length or the tensor size. A plain
cast (scale rule "none") has no block: its error is the codebook's error over the whole line.

Scale rules that are not scale-invariant (power-of-two scales, scales rounded to fp16/bf16,
plain casts) make the error depend on where sigma sits between powers of two. Unless sigma is
given, the result is the average over a uniform log2 offset of sigma: the function of the
offset is periodic (period one octave), so the midpoint rule over `OFFSETS` equispaced
offsets converges fast (tests check it). Two-level scales (NVFP4's UE4M3 x FP32) depend on
sigma only through the tensor's absolute maximum in units of sigma, `tensor_amax`, which
defaults to the median maximum of `tensor_size` t-values (`blockmax.median_max`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dse.error.blockmax import MaxNodes, log2_span, max_nodes, max_range
from dse.error.codebook import Codebook, ScaledCells, codebook, max_error
from dse.error.student import Student, interval_moments
from dse.errors import UserError
from dse.formats import ScaledFormat

#: Equispaced log2 offsets of sigma averaged over for scale rules that are not scale-invariant
#: (convergence to < 1e-4 relative is checked in tests/test_error_analytic.py).
OFFSETS = 8
#: Scale formats with at least this many mantissa bits are treated as breakpoint-free: their
#: rounding steps (relative 2^-(p+1)) are integrated over by the quadrature, not split at.
FINE_MANTISSA = 7


@dataclass(frozen=True)
class Setting:
    """What the error depends on besides the format: distribution, block size, sigma (None =
    averaged over its log2 offset) and the tensor's absolute maximum in units of sigma."""

    dist: Student
    block: int
    sigma: float | None
    tensor_amax: float


def offset_sigmas(sigma: float | None, averaged: bool) -> np.ndarray:
    """The sigmas to average over: the given one, or OFFSETS equispaced log2 offsets in [1, 2)."""
    if sigma is not None:
        return np.array([float(sigma)])
    if not averaged:
        return np.array([1.0])
    return 2.0 ** ((np.arange(OFFSETS) + 0.5) / OFFSETS)


def scale_invariant(fmt: ScaledFormat) -> bool:
    """True when the error does not depend on sigma's position between powers of two."""
    rule = fmt.scale
    if rule.kind == "two_level":
        return True  # depends on sigma only through tensor_amax / sigma
    if rule.kind == "real":
        return rule.format.man_bits >= 23  # fp32: exact up to 2^-24
    return False  # "pow2" and "none"


def block_scale(fmt: ScaledFormat, m: np.ndarray, sigma: float, amax: float) -> np.ndarray:
    """s = g(sigma m) / sigma: the format's own scale rule in standard-t units."""
    return fmt.block_scales(sigma * np.asarray(m, dtype=np.float64), sigma * amax) / sigma


def scale_jumps(fmt: ScaledFormat, sigma: float, amax: float, lo: float, hi: float) -> np.ndarray:
    """Values of m in [lo, hi] (standard-t units) where g(sigma m) jumps."""
    rule, el, clip = fmt.scale, fmt.element, fmt.clip
    if rule.kind == "pow2":
        k = np.array(log2_span(sigma * clip * lo, sigma * clip * hi), dtype=np.float64)
        x = np.ldexp(1.0, k.astype(int)) / clip
    elif rule.kind in ("real", "two_level") and rule.format.man_bits < FINE_MANTISSA:
        v = rule.format.values
        mid = 0.5 * (v[1:] + v[:-1])
        unit = el.max_abs / clip
        if rule.kind == "two_level":
            unit *= float(rule.tensor_scale(el, sigma * amax * clip))
        x = mid * unit
    else:
        return np.empty(0)
    m = x / sigma
    return m[(m > lo) & (m < hi)]


def kinks(jumps: np.ndarray, lo: float, hi: float, scale, marks: np.ndarray) -> np.ndarray:
    """Values of m where the scaled maximum m / s crosses one of `marks` (element units) while
    s = scale(m) stays constant between `jumps`: the kinks of the block-maximum terms."""
    edges = np.unique(np.concatenate([[lo, hi], jumps]))
    mids = np.sqrt(edges[:-1] * edges[1:])
    s = scale(mids)
    x = s[:, None] * np.abs(marks)[None, :]
    inside = (x > edges[:-1, None]) & (x < edges[1:, None])
    return x[inside]


def breaks_of(fmt: ScaledFormat, st: Setting, sigma: float, marks=None) -> np.ndarray:
    """Panel boundaries for the quadrature over M: the jumps of the scale and the kinks."""
    if fmt.scale.kind == "real" and fmt.scale.format.man_bits >= FINE_MANTISSA:
        return np.empty(0)  # s proportional to m up to fine rounding: m / s is constant
    lo, hi = max_range(st.dist, st.block)
    jumps = scale_jumps(fmt, sigma, st.tensor_amax, lo, hi)
    cb = codebook(fmt.element, fmt.rounding)
    marks = cb.thresholds if marks is None else marks
    scale = lambda m: block_scale(fmt, m, sigma, st.tensor_amax)  # noqa: E731
    return np.concatenate([jumps, kinks(jumps, lo, hi, scale, marks)])


def conditional_error(
    cb: Codebook, dist: Student, nodes: MaxNodes, s: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(W / P(|T| <= m), E_max) at each node for scales `s`: the mean error of a non-maximal
    value and the error of the maximum. A zero scale quantizes the block to zeros."""
    m = nodes.m
    zero = ~(s > 0)
    safe = np.where(zero, 1.0, s)
    uniq, which = np.unique(safe, return_inverse=True)
    w = ScaledCells(dist, cb, uniq).window(which, m, nodes.q)
    if zero.any():
        w = np.where(zero, interval_moments(dist, -m, m)[2], w)
    e_max = np.where(zero, m * m, max_error(cb, safe, m))
    return w / nodes.inside, e_max


def per_value(nodes: MaxNodes, inner: np.ndarray, e_max: np.ndarray) -> np.ndarray:
    """Mean error per value of a block: (B-1)/B of a non-maximal value plus 1/B of the max."""
    b = nodes.block
    return (b - 1) / b * inner + e_max / b


def scaled_error(fmt: ScaledFormat, st: Setting, nodes_n: int = 64) -> float:
    """E[(X - Q(X))^2] / sigma^2 for a `ScaledFormat` (averaged over sigma's offset if needed)."""
    cb = codebook(fmt.element, fmt.rounding)
    total = 0.0
    sigmas = offset_sigmas(st.sigma, not scale_invariant(fmt))
    for sigma in sigmas:
        if fmt.scale.kind == "none":  # a plain cast: codebook scaled by 1/sigma, no block
            total += float(ScaledCells(st.dist, cb, np.array([1.0 / sigma])).total()[0])
            continue
        nodes = max_nodes(
            st.dist, st.block, breaks_of(fmt, st, sigma), nodes_n, cap=cap_of(fmt, st)
        )
        s = block_scale(fmt, nodes.m, sigma, st.tensor_amax)
        total += float(
            np.dot(nodes.weight, per_value(nodes, *conditional_error(cb, st.dist, nodes, s)))
        )
    return total / sigmas.size


def cap_of(fmt: ScaledFormat, st: Setting) -> float | None:
    """The tensor's absolute maximum bounds every block maximum: the law of M is conditioned
    on M <= tensor_amax for rules that use it (two-level scales). (A tensor of N values has one
    block with M equal to its maximum; that block's weight B/N is neglected.)"""
    return st.tensor_amax if fmt.scale.kind == "two_level" else None


def check_scaled(fmt: ScaledFormat) -> None:
    """UserError for records the analytic model does not cover."""
    if fmt.blocking.kind == "tile":
        raise UserError(
            f"{fmt.name}: 2-D tile scaling has no analytic model yet; use method='montecarlo'"
        )
    if fmt.element.bits > 16:
        raise UserError(
            f"{fmt.name}: the analytic model enumerates the element's values and "
            f"supports elements of at most 16 bits, not {fmt.element.bits}"
        )
