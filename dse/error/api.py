"""`nmse` and `error`: the public entry points of the error model.

Conventions (stated once, used by the analytic model and its Monte Carlo twin alike):

* X = sigma * t(nu); NMSE = E[(X - Q(X))^2] / Var X, SQNR = -10 log10 NMSE dB.
* `block`: values per scale. Block formats default to their own block (another value re-blocks
  the format); per-channel formats to a row of `DEFAULT_ROW` values; per-tensor formats to a
  tensor of `tensor_size` values. Plain casts have no scale and ignore it.
* `sigma=None` averages over sigma's log2 offset for rules that are not scale-invariant.
* `tensor_amax` (units of sigma): the tensor maximum seen by two-level scales (NVFP4) and
  per-tensor candidates; default the median maximum of `tensor_size` values.
* `scale_spread`: the standard deviation of log2 of the blocks' scale factors across the
  tensor, beyond the t's own (a lognormal factor per block: an approximation of real rows'
  scales, `dse profile`'s `scale_spread_log2`). Only choices that compare blocks with a
  tensor-wide level see it (`Format.uses_scale_spread`); for every other format it is 0.

Analytic values are cached per (format record, nu, block, sigma, tensor maximum, spread). Arrays of
nu and block (`nmse`, `nmse_table`) are evaluated in one vectorised pass per scaled format:
every nu and block at once (`analytic.scaled_errors`).
"""

from __future__ import annotations

import dataclasses
import math
from collections import OrderedDict
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np

from dse.error.analytic import Setting, check_scaled, scaled_error, scaled_errors
from dse.error.blockmax import median_max
from dse.error.choice import choice_error
from dse.error.montecarlo import MAX_BYTES as MC_MAX_BYTES
from dse.error.montecarlo import SAMPLERS, monte_carlo
from dse.error.student import Student, check_nu
from dse.errors import ModelLimitError, UserError, unknown
from dse.formats import ChoiceFormat, ScaledFormat, parse
from dse.formats.format import Format

#: Row length assumed for per-channel formats when no block is given (a 4096-wide layer,
#: the hidden size of Llama-2-7B).
DEFAULT_ROW = 4096
#: Tensor size assumed for per-tensor scales and tensor maxima (a 4096 x 4096 matrix).
DEFAULT_TENSOR_SIZE = 4096 * 4096
METHODS = ("analytic", "montecarlo")
#: Smallest nu of the analytic method. Measured against Monte Carlo (2^22 values, tensors of
#: 98,304, E2M1/g32, INT8 and E4M3 per tensor): within 1.5 SE from nu = 2.1 up, but 14 SE off
#: at nu = 2.08 and 50x off at 2.01, where the variance is carried by the far tail.
NU_ANALYTIC_MIN = 2.1
#: Largest scale spread accepted (log2 units; a stated choice): 2 octaves of standard
#: deviation is a scale factor of 16 between a typical large and small block, beyond any
#: profiled weight or activation tensor here (all-MiniLM-L6-v2 rows: 0.12 .. 0.63).
MAX_SCALE_SPREAD = 2.0


@dataclass(frozen=True)
class ErrorResult:
    """One NMSE value and what it is.

    `kind`: "exact" (the model's exact value, up to quadrature) or "model: ..." (an
    approximate law of a per-block choice; the label says which and how far from Monte Carlo
    it was measured); `fit`: which profile level supplied nu ("pooled", "within_group" or
    None); `se`: the standard error of a Monte Carlo value, or of an analytic model with a
    sampled part (BlockDialect's minimum-error selection), else None.
    """

    format: str
    nu: float
    block: int
    sigma: float | None
    nmse: float
    kind: str
    method: str = "analytic"
    se: float | None = None
    tensor_amax: float | None = None
    fit: str | None = None
    scale_spread: float = 0.0

    @property
    def sqnr_db(self) -> float:
        return -10.0 * math.log10(self.nmse) if self.nmse > 0 else math.inf

    @property
    def exact(self) -> bool:
        return self.kind == "exact"

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["sqnr_db"] = self.sqnr_db
        d["exact"] = self.exact
        return d


def resolve(fmt: Format | str) -> Format:
    """A format record from a record or a name."""
    if isinstance(fmt, (ScaledFormat, ChoiceFormat)):
        return fmt
    return parse(fmt)


def reblock(fmt: Format, block: int | None, tensor_size: int) -> tuple[Format, int]:
    """(format with `block` values per scale, block): see the module docstring."""
    if block is not None and (not float(block).is_integer() or block < 1):
        raise UserError(f"block size must be an integer >= 1, got {block!r}")
    block = None if block is None else int(block)
    if isinstance(fmt, ChoiceFormat):
        if block is None or block == fmt.block_size:
            return fmt, fmt.block_size
        cands = tuple(
            dataclasses.replace(c, blocking=c.blocking.resized(block)) for c in fmt.candidates
        )
        return dataclasses.replace(fmt, candidates=cands, block_size=block), block
    if fmt.scale.is_cast:
        return fmt, block or DEFAULT_ROW  # a cast: no scale, any grouping
    if fmt.blocking.two_dimensional:
        check_scaled(fmt)  # raises: no analytic model of tiles
    blocking = fmt.blocking if block is None else fmt.blocking.resized(block)
    if blocking != fmt.blocking:
        fmt = dataclasses.replace(fmt, blocking=blocking)
    group = block or fmt.blocking.group_values(DEFAULT_ROW, tensor_size)
    if group is None:
        raise AssertionError(fmt.blocking)
    return fmt, group

#: Largest tensor maximum accepted, in units of sigma: a t(nu) tail falls as x^-nu, so even
#: at nu = 2 a tensor of 1e12 values reaches ~1e6 sigma; larger values only overflow.
MAX_TENSOR_AMAX = 1e6


def _checked(nu, sigma, tensor_amax, tensor_size, scale_spread=0.0) -> float:
    nu = check_nu(nu)
    ok = isinstance(scale_spread, Real) and not isinstance(scale_spread, bool)
    if not (ok and 0.0 <= float(scale_spread) <= MAX_SCALE_SPREAD):
        raise UserError(
            f"scale_spread must be in [0, {MAX_SCALE_SPREAD:g}] (standard deviation of log2 "
            f"of the block scales), got {scale_spread!r}"
        )
    if sigma is not None and not (float(sigma) > 0 and math.isfinite(sigma)):
        raise UserError(f"sigma must be a positive number, got {sigma!r}")
    if tensor_amax is not None and not 0 < float(tensor_amax) <= MAX_TENSOR_AMAX:
        raise UserError(
            f"tensor_amax must be in (0, {MAX_TENSOR_AMAX:g}] (units of sigma), "
            f"got {tensor_amax!r}"
        )
    if not (float(tensor_size).is_integer() and tensor_size >= 1):
        raise UserError(f"tensor_size must be an integer >= 1, got {tensor_size!r}")
    return nu


def _amax(fmt: Format, dist: Student, tensor_amax, tensor_size: int):
    """The tensor maximum (units of sigma) a format sees: inf when unused."""
    if not fmt.uses_tensor_amax:
        return math.inf  # unused: no cap, no two-level scale
    if tensor_amax is None:
        return median_max(dist, int(tensor_size))
    return float(tensor_amax)


def _setting(
    fmt, nu, block, sigma, tensor_amax, tensor_size, scale_spread=0.0
) -> tuple[Format, Setting]:
    nu = _checked(nu, sigma, tensor_amax, tensor_size, scale_spread)
    fmt, block = reblock(resolve(fmt), block, int(tensor_size))
    dist = Student(nu)
    amax = _amax(fmt, dist, tensor_amax, tensor_size)
    spread = float(scale_spread) if fmt.uses_scale_spread else 0.0
    return fmt, Setting(dist, block, None if sigma is None else float(sigma), amax, spread)


class _Cache:
    """Least-recently-used cache of analytic values keyed by (format record, `Setting`)."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self.data: OrderedDict[tuple, tuple[float, str, float | None]] = OrderedDict()

    def get(self, key):
        value = self.data.get(key)
        if value is not None:
            self.data.move_to_end(key)
        return value

    def put(self, key, value) -> None:
        self.data[key] = value
        if len(self.data) > self.maxsize:
            self.data.popitem(last=False)

    def __call__(self, fmt: Format, st: Setting) -> tuple[float, str, float | None]:
        """(NMSE, kind, standard error or None) for one (format, distribution, block, sigma,
        amax)."""
        value = self.get((fmt, st))
        if value is None:
            value = _compute(fmt, st)
            self.put((fmt, st), value)
        return value

    def cache_clear(self) -> None:
        self.data.clear()


def _compute(fmt: Format, st: Setting) -> tuple[float, str, float | None]:
    var = st.dist.variance
    if isinstance(fmt, ChoiceFormat):
        r = choice_error(fmt, st)
        return r.value / var, r.kind, None if r.se is None else r.se / var
    check_scaled(fmt)
    return scaled_error(fmt, st) / var, "exact", None


_analytic = _Cache(65536)


def _batch(fmt, nus, blocks, sigma, tensor_amax, tensor_size):
    """Analytic NMSE of `fmt` at every nu x block, shape (nus, blocks), in one vectorised pass
    for scaled formats (None for other records), with the (record, Setting) cache keys."""
    records = [reblock(resolve(fmt), b, int(tensor_size)) for b in blocks]
    base = records[0][0]
    if not isinstance(base, ScaledFormat):
        return None, None
    check_scaled(base)
    sig = None if sigma is None else float(sigma)
    nus = np.array([_checked(n, sigma, tensor_amax, tensor_size) for n in nus])
    dist = Student(nus)
    amax = _amax(base, dist, tensor_amax, tensor_size)
    values = scaled_errors(base, dist, [b for _, b in records], sig, amax) / dist.variance
    amaxes = np.broadcast_to(amax, nus.shape)

    def keys():
        for n, a in zip(nus, amaxes):
            yield [(r, Setting(Student(float(n)), b, sig, float(a))) for r, b in records]

    return values.T, keys


def _fill(fmt, nus, blocks, sigma, tensor_amax, tensor_size) -> None:
    """Compute and cache the analytic values of `fmt` at every (nu, block) pair."""
    values, keys = _batch(fmt, np.unique(nus), blocks, sigma, tensor_amax, tensor_size)
    if values is not None:
        for row_v, row_k in zip(values, keys()):
            for v, k in zip(row_v, row_k):
                _analytic.put(k, (float(v), "exact", None))


def error(
    fmt: Format | str,
    nu: float,
    *,
    method: str = "analytic",
    sigma: float | None = None,
    block: int | None = None,
    tensor_amax: float | None = None,
    tensor_size: int = DEFAULT_TENSOR_SIZE,
    samples: int = 1 << 20,
    seed: int = 0,
    sampler: str = "iid",
    fit: str | None = None,
    max_bytes: float = MC_MAX_BYTES,
    scale_spread: float = 0.0,
) -> ErrorResult:
    """NMSE of `fmt` on sigma * t(nu) as a result record (one nu, one block); a Monte Carlo
    run holding more than `max_bytes` of memory at once is refused."""
    if method not in METHODS:
        raise unknown("error method", method, METHODS)
    record, st = _setting(fmt, nu, block, sigma, tensor_amax, tensor_size, scale_spread)
    amax = st.tensor_amax if math.isfinite(st.tensor_amax) else None
    common: dict[str, Any] = dict(
        format=record.name, nu=st.dist.nu, block=st.block, sigma=st.sigma, tensor_amax=amax,
        fit=fit, scale_spread=st.scale_spread,
    )  # fmt: skip
    if method == "montecarlo":
        if sampler not in SAMPLERS:
            raise unknown("Monte Carlo sampler", sampler, SAMPLERS)
        if not (float(samples).is_integer() and samples >= 2):
            raise UserError(f"samples must be an integer >= 2, got {samples!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise UserError(f"seed must be an integer >= 0, got {seed!r}")
        mc = monte_carlo(record, st, int(samples), seed, sampler=sampler, max_bytes=max_bytes)
        return ErrorResult(nmse=mc.mean, se=mc.se, kind="exact", method="montecarlo", **common)
    if st.dist.nu < NU_ANALYTIC_MIN:
        raise ModelLimitError(
            f"nu = {st.dist.nu:g}: the analytic error is checked against Monte Carlo for "
            f"nu >= {NU_ANALYTIC_MIN} only (nearer 2 the variance lives in the far tail and the "
            "quadrature over the block maximum is not converged); use method='montecarlo'"
        )
    value, kind, se = _analytic(record, st)
    return ErrorResult(nmse=value, kind=kind, se=se, **common)


def nmse(
    fmt: Format | str,
    nu,
    *,
    method: str = "analytic",
    sigma: float | None = None,
    block=None,
    **options,
):
    """NMSE of `fmt` on sigma * t(nu).

    `nu` and `block` broadcast (arrays in, arrays out). Analytic: a float (or array).
    Monte Carlo: a (mean, standard error) pair (of floats or arrays). `options`:
    tensor_amax, tensor_size, samples, seed, sampler (see `error`).
    """
    nus, blocks = np.broadcast_arrays(np.asarray(nu, dtype=object), np.asarray(block, dtype=object))
    if method == "analytic" and nus.size > 1:
        _fill(fmt, nus.ravel(), list(dict.fromkeys(blocks.ravel())), sigma, **_opts(options))
    out = [
        error(fmt, n, method=method, sigma=sigma, block=b, **options)
        for n, b in zip(nus.ravel(), blocks.ravel())
    ]
    means = np.array([r.nmse for r in out]).reshape(nus.shape)
    if method == "montecarlo":
        ses = np.array([r.se for r in out]).reshape(nus.shape)
        return (float(means), float(ses)) if nus.ndim == 0 else (means, ses)
    return float(means) if nus.ndim == 0 else means


def _opts(options: dict) -> dict:
    return {
        "tensor_amax": options.get("tensor_amax"),
        "tensor_size": options.get("tensor_size", DEFAULT_TENSOR_SIZE),
    }


def nmse_table(
    formats,
    nus,
    blocks=(None,),
    *,
    sigma: float | None = None,
    tensor_amax: float | None = None,
    tensor_size: int = DEFAULT_TENSOR_SIZE,
) -> np.ndarray:
    """Analytic NMSE of every format x nu x block, shape (formats, nus, blocks), each scaled
    format in one vectorised pass over all nu and blocks (`blocks`: as for `nmse`; None = the
    format's own). A batch evaluator: its values are not cached (per-choice formats go
    through `error`, which caches)."""
    opts: dict[str, Any] = dict(sigma=sigma, tensor_amax=tensor_amax, tensor_size=tensor_size)
    nus, blocks = list(np.ravel(nus)), list(blocks)
    out = []
    for f in formats:
        values, _ = _batch(f, nus, blocks, **opts)
        if values is None:
            values = [[error(f, n, block=b, **opts).nmse for b in blocks] for n in nus]
        out.append(values)
    return np.array(out)


def sqnr_db(value):
    """SQNR in dB of an NMSE (array or float)."""
    return -10.0 * np.log10(value)


def gemm_nmse(nmse_w, nmse_a):
    """Output NMSE of Y = W A from the weight and activation NMSEs: nmse_w + nmse_a +
    nmse_w nmse_a.

    Exact when W and A are independent and zero-mean and each quantization error is
    zero-mean, uncorrelated with its own tensor's values and independent of the other tensor
    (additive-noise model): then E[(dW A)^2] = nmse_w E[W^2] E[A^2], likewise for W dA and
    dW dA, and the cross terms vanish. Vectorised.
    """
    w = np.asarray(nmse_w, dtype=np.float64)
    a = np.asarray(nmse_a, dtype=np.float64)
    return w + a + w * a


def optimal_clip(
    fmt: Format | str, nu: float, *, lo: float = 0.2, **options
) -> tuple[float, float]:
    """(clip ratio in [lo, 1], NMSE): the MSE-optimal clip of a scaled format's scale
    (s = clip * M / max|element|), by bounded scalar minimisation of the analytic NMSE.
    `options` as for `error` (block, sigma, tensor_amax, tensor_size)."""
    from scipy.optimize import minimize_scalar

    record = resolve(fmt)
    if not isinstance(record, ScaledFormat) or record.scale.is_cast:
        raise UserError(f"{record.name}: a clip ratio applies to scaled formats only")

    def f(c: float) -> float:
        return error(dataclasses.replace(record, clip=float(c)), nu, **options).nmse

    res = minimize_scalar(f, bounds=(lo, 1.0), method="bounded", options={"xatol": 1e-4})
    best = min((float(res.x), float(res.fun)), (1.0, f(1.0)), key=lambda t: t[1])
    return best
