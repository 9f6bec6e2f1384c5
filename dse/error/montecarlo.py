"""Monte Carlo twin of the analytic error: sample X = sigma * t(nu) in blocks, quantize with the
format library's exact quantizer, and estimate NMSE = E[(X - Q(X))^2] / Var(X) (normalised by
the true variance sigma^2 nu / (nu - 2)) with its standard error. Seeded and reproducible.

Same conventions as the analytic model (`dse.error.analytic`):

* a group is one row of B values (a block, a channel row or a whole tensor);
* rules that are not scale-invariant: sigma = 2^U with U uniform on [0, 1) per batch (or per
  block for the stratified sampler) unless sigma is given;
* a plain cast's overflow to inf is counted as saturation at the largest finite value;
* two-level scales and per-tensor candidates use the fixed tensor maximum tensor_amax * sigma,
  and blocks with a larger maximum are redrawn (the analytic model conditions on M <= amax);
  a per-tensor candidate of a per-block choice sees the sampled values plus one value equal
  to the tensor maximum, so that its scale is the one the tensor maximum sets;
* a scale spread s > 0 multiplies each block by its own factor 2^(s Z), Z standard normal,
  after drawing (the tensor maximum stays tensor_amax * sigma, so a per-tensor candidate
  saturates the rare scaled values above it), and the NMSE is normalised by the mean squared
  factor E[2^(2 s Z)] = exp(2 (s ln 2)^2) too.

Two samplers:

* "iid": independent t values; the estimate is the mean over `batches` independent batches
  and its standard error their standard deviation / sqrt(batches). For nu <= 4 the squared
  error has infinite variance (it grows like M^2 and E[M^4] is infinite), so this standard
  error is not reliable there. Selectors that rank blocks across a tensor (`TopFraction`)
  need this sampler: each batch is one tensor.
* "stratified": the same law sampled by the block maximum's rank: the maximum M is drawn at
  stratified tail probabilities (8 equal strata of the bulk, then geometric strata down to
  2^-60) and the other B - 1 values are iid t truncated to [-M, M] (rejection sampling); the
  maximum's sign is random. The estimate is sum_j p_j mean_j with variance
  sum_j p_j^2 var_j / n_j, finite for every nu > 2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dse.error.analytic import Setting
from dse.error.blockmax import q_of_v, v_of_m
from dse.error.student import Student
from dse.errors import UserError
from dse.formats import ChoiceFormat, ScaledFormat

SAMPLERS = ("iid", "stratified")
#: Fewest blocks per stratum: the within-stratum variance needs a few samples to be a usable
#: standard error (with 2 per stratum, per-tensor checks at B = 4096 showed |z| up to 7 that
#: vanished with more samples).
MIN_PER_STRATUM = 8
#: Strata of the stratified sampler in v = P(M > m): 8 equal strata on [1/2, 1], then
#: (2^-j-1, 2^-j] for j = 1..59 and a last stratum (0, 2^-60].
_EDGES = np.concatenate([np.linspace(1.0, 0.5, 9), 2.0 ** -np.arange(2.0, 61.0), [0.0]])

#: Peak working memory per value held at once, bytes: tracemalloc peaks measured on this
#: machine (2e6-value runs at nu = 5): 83-85 B for int4/g128 and nvfp4, 420 B for
#: blockdialect/b32 (a choice quantizes the block with every candidate); rounded up.
BYTES_PER_VALUE = 100
BYTES_PER_VALUE_CHOICE = 450
#: Default bound on that memory, bytes: 4 GB (a stated choice: a sixth of the 24 GB machine
#: the constants were measured on); `dse error --max-memory-gb` lifts it.
MAX_BYTES = 4e9


@dataclass(frozen=True)
class MonteCarlo:
    """A Monte Carlo estimate of NMSE with its standard error and the values it used."""

    mean: float
    se: float
    samples: int
    sampler: str


def _draw(rng: np.random.Generator, dist: Student, shape) -> np.ndarray:
    return rng.standard_normal(shape) if dist.normal else rng.standard_t(dist.nu, shape)


def quantize_blocks(fmt, x: np.ndarray, amax: np.ndarray | None) -> np.ndarray:
    """Quantize rows of `x` (one group each) with the library's exact quantizer; `amax` (one
    per row, or None) is the tensor maximum seen by two-level and per-tensor scales."""
    if isinstance(fmt, ScaledFormat):
        q = fmt.quantize_groups(x, amax)
        if fmt.scale.is_cast:  # a cast's overflow to inf counts as saturation (model)
            q = np.where(np.isinf(q), np.sign(x) * fmt.element.max_abs, q)
        return q
    each = []
    for c in fmt.candidates:
        if c.blocking.per_tensor:  # the batch is the tensor, with its maximum appended
            flat = np.append(x.ravel(), float(np.max(amax)) if amax is not None else 0.0)
            each.append(c.quantize_groups(flat[None, :])[0, :-1].reshape(x.shape))
        else:
            each.append(c.quantize_groups(x, amax))
    qb = np.stack(each)
    choice = fmt.selector.choose(x, qb, None, fmt)
    return np.take_along_axis(qb, choice[None, :, None], axis=0)[0]


def _check(fmt, st: Setting, sampler: str) -> None:
    if sampler not in SAMPLERS:
        raise UserError(f"unknown Monte Carlo sampler {sampler!r}; valid: {', '.join(SAMPLERS)}")
    if isinstance(fmt, ChoiceFormat):
        for c in fmt.candidates:
            if not (c.blocking.per_tensor or c.blocking.is_block_of(st.block)):
                raise UserError(
                    f"{fmt.name}: candidate {c.name} must be per-tensor or use the "
                    f"choice's block of {st.block}"
                )
        if sampler == "stratified" and fmt.selector.ranks_tensor:
            raise UserError(
                f"{fmt.name}: a top-fraction selector ranks blocks across a tensor; "
                "use sampler='iid'"
            )


def monte_carlo(
    fmt,
    st: Setting,
    samples: int = 1 << 20,
    seed: int = 0,
    batches: int = 32,
    sampler: str = "iid",
    max_bytes: float = MAX_BYTES,
) -> MonteCarlo:
    """NMSE of `fmt` on sigma * t(nu) in blocks of st.block, by sampling (see module doc).
    A run that would hold more than `max_bytes` of working memory at once is refused."""
    _check(fmt, st, sampler)
    _check_memory(fmt, st, samples, sampler, batches, max_bytes)
    rng = np.random.default_rng(seed)
    b = st.block
    if sampler == "stratified":
        return _stratified(fmt, st, rng, samples)
    rows = max(1, math.ceil(samples / (batches * b)))
    est = np.empty(batches)
    for i in range(batches):
        sigma = _sigma(fmt, st, rng, 1)
        x = _iid_rows(rng, st, rows, sigma, fmt.uses_tensor_amax) * _spread(rng, st, rows)
        amax = st.tensor_amax * sigma if fmt.uses_tensor_amax else None
        q = quantize_blocks(fmt, x, None if amax is None else np.full((rows, 1), amax[0, 0]))
        est[i] = np.mean((x - q) ** 2) / (sigma[0, 0] ** 2 * st.dist.variance * _mean_sq(st))
    return MonteCarlo(
        float(est.mean()), float(est.std(ddof=1) / math.sqrt(batches)), rows * b * batches, sampler
    )


def values_at_once(st: Setting, samples: int, sampler: str, batches: int = 32) -> int:
    """Values a run holds in memory at once: one batch (iid; whole blocks) or every stratum's
    blocks (stratified; at most len(_EDGES) - 1 strata)."""
    b = st.block
    if sampler == "stratified":
        strata = _EDGES.size - 1
        return max(MIN_PER_STRATUM, math.ceil(samples / (b * strata))) * b * strata
    return max(1, math.ceil(samples / (batches * b))) * b


def _check_memory(fmt, st: Setting, samples: int, sampler: str, batches: int,
                  max_bytes: float) -> None:
    per_value = BYTES_PER_VALUE_CHOICE if isinstance(fmt, ChoiceFormat) else BYTES_PER_VALUE
    need = values_at_once(st, samples, sampler, batches) * per_value
    if need > max_bytes:
        raise UserError(
            f"Monte Carlo of {fmt.name} with {samples:,} values ({sampler}, blocks of "
            f"{st.block:,}) would hold ~{need / 1e9:,.1f} GB at once, above the limit of "
            f"{max_bytes / 1e9:g} GB; use fewer values (--mc) or raise the limit "
            "(--max-memory-gb)"
        )


def _sigma(fmt, st: Setting, rng: np.random.Generator, n: int) -> np.ndarray:
    if st.sigma is not None:
        return np.full((n, 1), float(st.sigma))
    if not fmt.scale_invariant:
        return 2.0 ** rng.uniform(0.0, 1.0, (n, 1))
    return np.ones((n, 1))


def _spread(rng: np.random.Generator, st: Setting, n: int) -> np.ndarray:
    """Per-block scale factors 2^(s Z), shape (n, 1) (ones without a spread)."""
    if st.scale_spread == 0.0:
        return np.ones((n, 1))
    return 2.0 ** (st.scale_spread * rng.standard_normal((n, 1)))


def _mean_sq(st: Setting) -> float:
    """E[(2^(s Z))^2] of the per-block factors."""
    return math.exp(2.0 * (st.scale_spread * math.log(2.0)) ** 2)


def _iid_rows(rng, st: Setting, rows: int, sigma: np.ndarray, capped: bool) -> np.ndarray:
    """`rows` blocks of iid t values times sigma (`capped`: blocks above the tensor maximum
    redrawn)."""
    cap = st.tensor_amax if capped else np.inf
    x = _draw(rng, st.dist, (rows, st.block))
    bad = np.abs(x).max(axis=1) > cap
    while bad.any():
        x[bad] = _draw(rng, st.dist, (int(bad.sum()), st.block))
        bad = np.abs(x).max(axis=1) > cap
    return x * sigma


def _stratified(fmt, st: Setting, rng, samples: int) -> MonteCarlo:
    dist, b = st.dist, st.block
    capped = fmt.uses_tensor_amax
    v_cap = float(v_of_m(dist, np.array(st.tensor_amax), b)) if capped else 0.0
    hi_v, lo_v = np.maximum(_EDGES[:-1], v_cap), np.maximum(_EDGES[1:], v_cap)
    p = hi_v - lo_v
    hi_v, lo_v, p = hi_v[p > 0], lo_v[p > 0], p[p > 0]
    n = max(MIN_PER_STRATUM, math.ceil(samples / (b * p.size)))
    v = lo_v[:, None] + (hi_v - lo_v)[:, None] * rng.uniform(0.0, 1.0, (p.size, n))
    m = dist.isf(q_of_v(np.maximum(v, 1e-300), b)).ravel()
    rest = _draw(rng, dist, (m.size, b - 1))
    bad = np.abs(rest) >= m[:, None]
    while bad.any():
        rest[bad] = _draw(rng, dist, int(bad.sum()))
        bad = np.abs(rest) >= m[:, None]
    sign = rng.choice([-1.0, 1.0], m.size)
    sigma = _sigma(fmt, st, rng, m.size)
    x = np.concatenate([(sign * m)[:, None], rest], axis=1) * sigma * _spread(rng, st, m.size)
    q = quantize_blocks(fmt, x, st.tensor_amax * sigma if capped else None)
    e = np.mean((x - q) ** 2, axis=1) / sigma[:, 0] ** 2 / dist.variance / _mean_sq(st)
    e = e.reshape(p.size, n)
    p = p / p.sum()  # conditioned on M <= tensor_amax when capped
    mean = float(np.sum(p * e.mean(axis=1)))
    var = float(np.sum(p**2 * e.var(axis=1, ddof=1) / n))
    return MonteCarlo(mean, math.sqrt(var), x.size, "stratified")
