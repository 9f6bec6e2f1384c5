"""Analytic expected quantization error of a scaled format under X = sigma * t(nu).

Generic over format records (no per-format code): the element's codebook gives the cells
(`dse.error.codebook`), the scale rule gives s = g(M) through the format's own
`block_scales`, and the block maximum M is integrated out:

  E[(X - Q(X))^2] / sigma^2 = E_M[ (B-1)/B * W(M, s) / P(|T| <= M) + 1/B * E_max(M, s) ]

with W the exact error of the values inside [-M, M] and E_max the error of the maximum itself
(+M or -M with probability 1/2: asymmetric codebooks such as SF4 or E2M1+SR). Per-channel and
per-tensor scaling are the same formula with B = the row length or the tensor size. Three
evaluations:

* a plain cast (scale rule "none") has no block: the codebook's error over the whole line;
* scales that are piecewise constant in M (power-of-two, rounded to a coarse scale format,
  two-level): exactly, by the telescoped sum over the pieces (`dse.error.pieces`);
* scales that vary continuously with M (fp32; bf16/fp16, whose rounding steps of relative
  size 2^-(p+1) are integrated over as if continuous: an approximation): Gauss-Legendre
  quadrature over M (`dse.error.blockmax`) on nodes shared by every block size.

Every evaluation is vectorised over block sizes (the pieces and nodes do not depend on B).

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

from dse.error.blockmax import MaxNodes, max_range, nodes, shared_nodes
from dse.error.codebook import TINY, Codebook, ScaledCells, codebook, max_error
from dse.error.pieces import capped, piece_sums
from dse.error.student import Student
from dse.errors import ModelLimitError
from dse.formats import ChoiceFormat, ScaledFormat

#: Equispaced log2 offsets of sigma averaged over for scale rules that are not scale-invariant
#: (convergence to < 1e-4 relative is checked in tests/test_error_analytic.py).
OFFSETS = 8
#: Fewer offsets for the exact piecewise sums of small blocks, as (largest block, offsets):
#: the error is a smooth periodic function of the offset whose features narrow as blocks grow
#: (the spread of log2 M shrinks). Measured against 64 offsets (mxfp4/6/8, Anda m = 1/3/4,
#: int4, int8, nf4, sf4, e2m1+sr with E8M0 scales, e4m3:e8m0@0.9; nu in {3, 4, 5, 8, 30, inf}):
#: 4 offsets are within 4.7e-6 relative for blocks <= 64 (2.5e-6 from 8 to 64), 6 within 2.1e-6
#: up to 256, and OFFSETS within 1.2e-6 up to 512 and 3e-6 at 4096 (an approximation). Below
#: nu = 3 every count converges more slowly (the exponent clamps come into reach): Anda at
#: nu = 2.3, 5.4e-5 with 4 offsets and 1.3e-5 with 8; mxfp4 at nu = 2.1, 2e-3 and 7e-4.
PIECE_OFFSETS = ((64, 4), (256, 6))
#: Scale formats with at least this many mantissa bits are treated as continuous: their
#: rounding steps (relative 2^-(p+1)) are integrated over by the quadrature, not split at.
FINE_MANTISSA = 7


@dataclass(frozen=True)
class Setting:
    """What the error depends on besides the format: distribution, block size, sigma (None =
    averaged over its log2 offset), the tensor's absolute maximum in units of sigma (per
    node on a measured law, `empirical_max.choice_given_max_law`) and the spread of the
    blocks' scales (standard deviation of log2 of a block's scale factor across the tensor;
    0 for formats whose error it cannot move, `uses_scale_spread`)."""

    dist: Student
    block: int
    sigma: float | None
    tensor_amax: float | np.ndarray
    scale_spread: float = 0.0


def offset_sigmas(sigma: float | None, averaged: bool, count: int | None = None) -> np.ndarray:
    """The sigmas to average over: the given one, or `count` (default OFFSETS) equispaced log2
    offsets in [1, 2)."""
    if sigma is not None:
        return np.array([float(sigma)])
    if not averaged:
        return np.array([1.0])
    n = OFFSETS if count is None else count
    return 2.0 ** ((np.arange(n) + 0.5) / n)


def continuous(fmt: ScaledFormat) -> bool:
    """True when the scale is treated as a continuous function of M (see FINE_MANTISSA)."""
    return fmt.scale.continuous(FINE_MANTISSA)


def block_scale(fmt: ScaledFormat, m: np.ndarray, sigma, amax: float | np.ndarray) -> np.ndarray:
    """s = g(sigma m) / sigma: the format's own scale rule in standard-t units (`sigma`
    broadcasts with `m`)."""
    return fmt.block_scales(sigma * np.asarray(m, dtype=np.float64), sigma * amax) / sigma


def scale_key(fmt: ScaledFormat) -> tuple:
    """What `block_scale` depends on: formats with equal keys have the same scale function
    (a power-of-two scale sees the element's emax only, the others its largest value)."""
    return fmt.scale, fmt.clip, fmt.scale.element_key(fmt.element)


def scale_jumps(fmt: ScaledFormat, sigmas, amax, lo, hi) -> np.ndarray:
    """Candidate values of m (standard-t units) where g(sigma m) jumps, per sigma (rows of
    the result; `amax`, `lo`, `hi` scalars or columns of one value per row), covering
    [lo, hi] (`ScaleRule.jumps`). Empty for continuous scales."""
    sig = np.asarray(sigmas, dtype=np.float64).reshape(-1, 1)
    if continuous(fmt):
        return np.empty((1, 0)) / sig
    x = fmt.scale.jumps(fmt.element, fmt.clip, np.min(sig * lo), np.max(sig * hi), sig * amax)
    return x / sig


def breaks_of(fmt: ScaledFormat, st: Setting, sigmas, marks) -> list[np.ndarray]:
    """Per sigma of `sigmas`, panel boundaries for a quadrature over M of conditional errors
    given M (per-block choices): the jumps of the scale and the kinks where m / s crosses
    `marks` (element units) while s stays constant between jumps. All sigmas in one pass."""
    sig = np.asarray(sigmas, dtype=np.float64).reshape(-1, 1)
    if continuous(fmt):
        return [np.empty(0)] * sig.size  # s proportional to m up to fine rounding
    lo, hi = max_range(st.dist, st.block)
    j = scale_jumps(fmt, sig, st.tensor_amax, lo, hi)  # (sigmas, candidates)
    inside = (j > lo) & (j < hi)
    # edges per sigma; candidates outside (lo, hi) become empty intervals at lo (no kinks)
    edges = np.sort(
        np.concatenate(
            [np.full_like(sig, lo), np.where(inside, j, lo), np.full_like(sig, hi)], axis=1
        ),
        axis=1,
    )
    s = block_scale(fmt, np.sqrt(edges[:, :-1] * edges[:, 1:]), sig, st.tensor_amax)
    x = s[:, :, None] * np.abs(marks)
    kink = (x > edges[:, :-1, None]) & (x < edges[:, 1:, None])
    return [np.concatenate([j[r][inside[r]], x[r][kink[r]]]) for r in range(sig.size)]


def conditional_error(
    cb: Codebook, dist: Student, nodes: MaxNodes, s: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(W / P(|T| <= m), E_max) at each node for scales `s`: the mean error of a non-maximal
    value and the error of the maximum. A zero scale quantizes the block to zeros."""
    uniq, which = np.unique(np.where(s > 0, s, TINY), return_inverse=True)
    w = ScaledCells(dist, cb, uniq).window(which, nodes.m, nodes.q)
    return w / nodes.inside, max_error(cb, s, nodes.m)


def per_value(nodes: MaxNodes, inner: np.ndarray, e_max: np.ndarray) -> np.ndarray:
    """Mean error per value of a block: (B-1)/B of a non-maximal value plus 1/B of the max."""
    b = nodes.block
    return (b - 1) / b * inner + e_max / b


def scaled_errors(
    fmt: ScaledFormat,
    dist: Student,
    blocks,
    sigma: float | None,
    amax,
    refine: float = 1.0,
) -> np.ndarray:
    """E[(X - Q(X))^2] / sigma^2 for a `ScaledFormat`, shape (len(blocks), *nu.shape): for
    each of `blocks` values per scale and each nu of `dist` (`amax` a float or one value per
    nu), averaged over sigma's offset if needed; `refine` multiplies the quadrature nodes."""
    blocks = np.atleast_1d(np.asarray(blocks, dtype=np.int64))
    shape = () if dist.scalar else np.shape(dist.nu)
    averaged = sigma is None and not fmt.scale_invariant
    if not fmt.scale.is_cast and not continuous(fmt):
        return _piecewise_errors(fmt, dist, blocks, shape, sigma, averaged, amax)
    cb = codebook(fmt.element, fmt.rounding)
    sigmas = offset_sigmas(sigma, averaged)
    if fmt.scale.is_cast:  # a plain cast: codebook scaled by 1/sigma, no block
        flat = _flat(dist, (sigmas.size, *shape))
        s = np.broadcast_to(1.0 / sigmas.reshape((-1,) + (1,) * len(shape)), (sigmas.size, *shape))
        total = ScaledCells(flat, cb, s.ravel()).total().reshape(s.shape).mean(axis=0)
        return np.broadcast_to(total, (blocks.size, *shape)).copy()
    # scales continuous in M: Gauss-Legendre quadrature over M
    lo, hi = int(blocks.min()), int(blocks.max())
    nd = shared_nodes(dist, lo, hi) if refine == 1.0 else nodes(dist, lo, hi, None, refine)
    sig = sigmas.reshape((-1,) + (1,) * nd.m.ndim)
    s = block_scale(fmt, nd.m, sig, dist.lead(amax, nd.m))  # (sigmas, *nu, nodes)
    m, q = (np.broadcast_to(v, s.shape).ravel() for v in (nd.m, nd.q))
    um = np.broadcast_to(nd.moments[:, None], (3, *s.shape)).reshape(3, -1)  # shared
    cells = ScaledCells(_flat(dist, s.shape), cb, s.ravel())
    inner = (cells.window(np.arange(m.size), m, um=um) / (1.0 - 2.0 * q)).reshape(s.shape)
    e_max = max_error(cb, s.ravel(), m).reshape(s.shape)
    inner, e_max = inner.mean(axis=0), e_max.mean(axis=0)
    out = [(nd.weights(b) * ((b - 1) * inner + e_max)).sum(axis=-1) / b for b in blocks]
    return np.array(out)


def _piecewise_errors(fmt, dist, blocks, shape, sigma, averaged, amax) -> np.ndarray:
    """`scaled_errors` for scales piecewise constant in M: the exact sums of
    `dse.error.pieces`, each block size averaged over its own number of sigma offsets."""
    cap = cap_of(fmt, amax)

    def errors(group: np.ndarray, n: int) -> np.ndarray:
        sums = piece_sums(
            fmt,
            dist,
            group,
            offset_sigmas(sigma, averaged, n),
            amax,
            TINY,
            np.inf if cap is None else cap,
            lambda sig, amx, lo, hi: scale_jumps(fmt, sig, amx, lo, hi),
            lambda m, sig, amx: block_scale(fmt, m, sig, amx),
        )
        return capped(sums, dist, group, cap).sum(axis=-1) / n

    counts = np.array([piece_offsets(int(b)) if averaged else 1 for b in blocks])
    if (counts == counts[0]).all():
        return errors(blocks, int(counts[0]))
    out = np.empty((blocks.size, *shape))
    for n in np.unique(counts):
        out[counts == n] = errors(blocks[counts == n], int(n))
    return out


def piece_offsets(block: int) -> int:
    """Offsets of sigma averaged over by the piecewise sums for blocks of `block` values."""
    return next((n for b, n in PIECE_OFFSETS if block <= b), OFFSETS)


def _flat(dist: Student, shape: tuple) -> Student:
    """`dist` for arrays of `shape` = (sigmas, *nu.shape, ...) flattened."""
    index = np.arange(np.size(dist.nu)).reshape(np.shape(dist.nu))
    return dist.take(np.broadcast_to(dist.lead(index, np.empty(shape[1:])), shape).ravel())


def scaled_error(fmt: ScaledFormat, st: Setting, nodes_n: int = 64) -> float:
    """E[(X - Q(X))^2] / sigma^2 for one setting; `nodes_n` / 64 refines the quadrature."""
    return float(scaled_errors(fmt, st.dist, st.block, st.sigma, st.tensor_amax, nodes_n / 64)[0])


def cap_of(fmt: ScaledFormat | ChoiceFormat, amax: float) -> float | None:
    """The tensor's absolute maximum bounds every block maximum: the law of M is conditioned
    on M <= tensor_amax for formats that use it (`uses_tensor_amax`: two-level scales,
    per-tensor candidates). (A tensor of N values has one block with M equal to its maximum;
    that block's weight B/N is neglected.)"""
    return amax if fmt.uses_tensor_amax else None


def check_scaled(fmt: ScaledFormat) -> None:
    """ModelLimitError for records the analytic model does not cover (valid formats: a
    model limit, not an input mistake)."""
    if fmt.blocking.two_dimensional:
        raise ModelLimitError(
            f"{fmt.name}: 2-D tile scaling has no analytic model yet; use method='montecarlo'"
        )
    if fmt.element.bits > 16:
        raise ModelLimitError(
            f"{fmt.name}: the analytic model enumerates the element's values and "
            f"supports elements of at most 16 bits, not {fmt.element.bits}"
        )
