"""Fit the Student-t model to real tensors, at two levels.

* pooled: all values of the tensor, X = sigma * t(nu) -- what per-tensor scaling sees;
* within-group: each group (a row along the last axis, or a block of B values along it)
  divided by its body's RMS (`trimmed_rms`: without its largest 1 % of values), then one t
  fitted to the pooled normalised values -- what block and channel scaling see -- plus the
  spread of the group scales, the standard deviation of log2(RMS) over groups, and the
  measured law of the block maximum, of the mean square of the values below it and of where
  the maxima sit between powers of two at the catalogue's block sizes (`block_max`; with where
  the rows' scales sit, `scale_offsets`, read from older profiles): the semi-empirical model of
  `dse.error.empirical_max` that block- and channel-scaled formats use.

Fits are maximum likelihood with loc fixed at 0 (the error model is centred), by L-BFGS-B on
(log nu, log sigma) with the exact gradient; tensors with more than `max_values` values are
subsampled uniformly without replacement (seeded), and `n_values` says how many were used.
A fitted nu at the cap `NU_CAP` means the data are indistinguishable from a normal: it is
reported as nu = inf (`.inf` in YAML) with the normal's sigma (the RMS). Fit quality: the
Kolmogorov-Smirnov distance of the t fit and of the best centred normal N(0, RMS^2).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from dse.error.api import NU_ANALYTIC_MIN, ErrorResult, error
from dse.error.empirical_max import KIND as MAX_LAW_KIND
from dse.error.empirical_max import (
    LAW_BLOCKS,
    block_max_law,
    choices_given_max_law,
    error_given_max_law,
)
from dse.errors import UserError
from dse.formats import ChoiceFormat, ScaledFormat
from dse.formats.format import Format
from dse.formats.selectors import ScoreThreshold, TopFraction

#: Fitted nu at or above this is reported as inf (normal); t(1000) and N(0,1) differ by < 1e-3
#: in cdf.
NU_CAP = 1e3
NU_MIN = 0.2  # lower end of the nu search (below it the fit is meaningless for our purposes)
MAX_VALUES = 1_000_000
MIN_VALUES = 10  # fewest non-zero finite values `fit_t` fits


@dataclass(frozen=True)
class TFit:
    """A fitted t: nu (inf = normal), sigma, KS distances of the t and of the normal, values."""

    nu: float
    sigma: float
    ks: float
    ks_normal: float
    n_values: int

    def as_dict(self) -> dict:
        return {"nu": self.nu, "sigma": self.sigma, "ks": self.ks, "ks_normal": self.ks_normal}


#: Values `profile_array` holds in float64 at once (a slice of the tensor's groups): its peak
#: memory is a few such slices and the per-block statistics of the laws, not float64 copies
#: of the whole tensor. Measured on float32 tensors of 6144 and 12288 x 11008 values
#: (tracemalloc, tests/benchmarks/bench_profile.py): each further value costs 3.5 bytes (9.1
#: when each law's inputs were concatenated copies beside per-block energies and scales;
#: about 30 when the whole tensor was normalised in float64 at once).
SLICE_VALUES = 1 << 22


def _finite_count(flat: np.ndarray) -> int:
    """Finite values of a flat array, counted slice by slice."""
    return sum(int(np.count_nonzero(np.isfinite(flat[i : i + SLICE_VALUES])))
               for i in range(0, flat.size, SLICE_VALUES))  # fmt: skip


def sample_indices(n: int, k: int, seed: int = 0) -> np.ndarray:
    """k distinct indices of range(n), every k-subset alike, in random order (seeded), in
    memory of the order of k. Up to 4 k, numpy's choice without replacement (which would
    index all n values up to n = 50 k); beyond, distinct values of draws with replacement,
    topped up until there are k, then k of them in random order: exact, since the draws treat
    every index alike, so given how many distinct ones they hold, which ones is uniform."""
    rng = np.random.default_rng(seed)
    if n <= 4 * k:
        return rng.choice(n, k, replace=False)
    picked = np.empty(0, dtype=np.int64)
    while picked.size < k:  # about k^2 / (2 n) <= k / 8 repeats: one or two rounds
        more = k - picked.size
        picked = np.sort(np.concatenate([picked, rng.integers(0, n, more + more * k // n + 16)]))
        picked = picked[np.concatenate([[True], picked[1:] != picked[:-1]])]  # distinct
    return rng.permutation(picked)[:k]


def subsample(x: np.ndarray, max_values: int, seed: int = 0) -> np.ndarray:
    """Finite values of `x` (flattened, float64), at most `max_values` of them chosen
    uniformly (`sample_indices`). An all-finite array larger than that is sampled by index
    without a float64 copy of the whole (the same values as the copy would give)."""
    flat = np.asarray(x).reshape(-1)
    if flat.size > max_values and _finite_count(flat) == flat.size:
        return flat[sample_indices(flat.size, max_values, seed)].astype(np.float64)
    x = flat.astype(np.float64)
    x = x[np.isfinite(x)]
    if x.size > max_values:
        x = x[sample_indices(x.size, max_values, seed)]
    return x


def _neg_loglik(theta: np.ndarray, x2: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean negative log-likelihood of t(nu, sigma) and its gradient in (log nu, log sigma)."""
    nu, sigma = math.exp(theta[0]), math.exp(theta[1])
    z = x2 / (nu * sigma * sigma)
    l1 = np.log1p(z)
    r = z / (1.0 + z)
    const = special.gammaln((nu + 1) / 2) - special.gammaln(nu / 2) - 0.5 * math.log(nu * math.pi)
    f = -const + math.log(sigma) + 0.5 * (nu + 1) * l1.mean()
    dconst = 0.5 * special.digamma((nu + 1) / 2) - 0.5 * special.digamma(nu / 2) - 0.5 / nu
    d_nu = -dconst + 0.5 * l1.mean() - 0.5 * (nu + 1) * r.mean() / nu
    d_sigma = 1.0 - (nu + 1) * r.mean()
    return f, np.array([nu * d_nu, d_sigma])


def ks_distance(x_sorted: np.ndarray, cdf: np.ndarray) -> float:
    """sup |F_n - F| for sorted data and the model cdf at the data."""
    n = x_sorted.size
    i = np.arange(1, n + 1)
    return float(max(np.max(i / n - cdf), np.max(cdf - (i - 1) / n)))


class NothingToFit(UserError):
    """A tensor with fewer than MIN_VALUES non-zero finite values (an all-zero bias, a scalar
    buffer): no distribution to fit, and no quantization error to predict."""


def fit_t(x: np.ndarray, max_values: int = MAX_VALUES, seed: int = 0) -> TFit:
    """Maximum-likelihood t(nu, sigma) with loc 0 (see the module docstring)."""
    x = subsample(x, max_values, seed)
    x = x[x != 0] if np.count_nonzero(x) > 10 else x  # exact zeros (padding) carry no shape
    if x.size < MIN_VALUES or not np.any(x):
        raise NothingToFit(f"too few non-zero finite values to fit ({x.size})")
    x2 = x * x
    rms = math.sqrt(float(x2.mean()))
    mad = float(np.median(np.abs(x))) / 0.6744897501960817  # normal MAD -> sigma
    start = np.array([math.log(5.0), math.log(mad if mad > 0 else rms)])
    res = optimize.minimize(
        _neg_loglik,
        start,
        args=(x2,),
        jac=True,
        method="L-BFGS-B",
        bounds=[(math.log(NU_MIN), math.log(NU_CAP)), (None, None)],
    )
    nu, sigma = math.exp(res.x[0]), math.exp(res.x[1])
    xs = np.sort(x)
    if nu >= NU_CAP * 0.999:
        nu, sigma = math.inf, rms
    ks = ks_distance(
        xs, special.ndtr(xs / sigma) if math.isinf(nu) else special.stdtr(nu, xs / sigma)
    )
    ks_n = ks_distance(xs, special.ndtr(xs / rms))
    return TFit(nu, sigma, ks, ks_n, int(x.size))


#: Share of each group's largest |values| left out of its normalising scale (`trimmed_rms`).
TRIM = 0.01


def trimmed_rms(groups: np.ndarray) -> np.ndarray:
    """Per group (row), the RMS of all but its largest TRIM share of |values| (rounded down:
    groups under 1 / TRIM values keep every value). A few outliers then stand out above a
    group's body instead of shrinking it: measured on all-MiniLM-L6-v2, normalising by the
    full RMS put the FFN down-projection rows' bodies too high and INT4/g128's per-tensor
    NMSE up to 22 % high."""
    n = groups.shape[1]
    keep = n - int(TRIM * n)
    a = np.abs(groups)
    if keep < n:
        a = np.partition(a, keep - 1, axis=1)[:, :keep]
    return np.sqrt(np.mean(a * a, axis=1))


def group_rows(arr: np.ndarray, group: str | int) -> np.ndarray:
    """The tensor as (groups, values): rows along the last axis, or blocks of `group` values
    (a view where the array allows, in its own dtype)."""
    a = np.asarray(arr)
    rows = a.reshape(-1, a.shape[-1]) if a.ndim else a.reshape(1, 1)
    if group == "row":
        return rows
    b = int(group)
    if b < 1 or rows.shape[1] % b:
        raise UserError(f"group block {b} must divide the row length {rows.shape[1]}")
    return rows.reshape(-1, b)


def profile_array(
    arr: np.ndarray,
    dtype: str,
    group: str | int = "row",
    max_values: int = MAX_VALUES,
    seed: int = 0,
) -> dict:
    """The statistics record of one tensor (the YAML schema of `dse profile`). Tensors that
    are not real numbers, or hold NaN or infinite values, are refused (a trusted fit needs
    every value; a NaN in a checkpoint is a defect to fix, not to average over). The groups
    are read a slice at a time (`SLICE_VALUES`; `arr` may be a memory map)."""
    arr = np.asarray(arr)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise UserError(f"dtype {arr.dtype} is not a real number type")
    bad = arr.size - _finite_count(arr.reshape(-1))
    if bad:
        raise UserError(
            f"{bad:,} of {arr.size:,} values are NaN or infinite; fix or remove them first"
        )
    pooled = fit_t(arr, max_values, seed)
    g = group_rows(arr, group)
    step = max(1, SLICE_VALUES // max(g.shape[1], 1))  # groups per slice
    parts = [(i, min(i + step, g.shape[0])) for i in range(0, g.shape[0], step)]

    def groups(i: int, j: int) -> np.ndarray:  # a slice of the groups in float64
        return np.asarray(g[i:j], dtype=np.float64)

    def first(x: np.ndarray) -> tuple:  # per group: RMS, scale; the slice's sum x^2, max |x|
        square = x * x
        top = float(np.max(np.abs(x))) if x.size else 0.0
        return np.sqrt(np.mean(square, axis=1)), trimmed_rms(x), float(np.sum(square)), top

    per_slice = list(zip(*(first(groups(i, j)) for i, j in parts)))
    rms, scale = np.concatenate(per_slice[0]), np.concatenate(per_slice[1])
    sums, tops = per_slice[2], per_slice[3]
    ok = scale > 0
    within = fit_t(_normalised_sample(g, scale, ok, max_values, seed), max_values, seed)
    spread = float(np.std(np.log2(rms[ok]))) if ok.sum() > 1 else 0.0
    row = g.shape[1]
    sizes = [b for b in LAW_BLOCKS if b < row and row % b == 0] + [row]
    # per block size, each block's maximum and body (mean square of its other values), filled
    # a slice at a time
    maxima = {b: np.empty(int(ok.sum()) * (row // b)) for b in sizes}
    bodies = {b: np.empty(maxima[b].size) if b > 1 else None for b in sizes}

    def fill(i: int, j: int, start: int) -> tuple[int, float]:  # groups i..j: (count, max)
        keep = ok[i:j]
        unit = groups(i, j)[keep]
        unit /= scale[i:j][keep, None]
        np.abs(unit, out=unit)
        unit /= within.sigma  # standard-t units of the within-group fit
        ats = [slice(start * (row // b), (start + unit.shape[0]) * (row // b)) for b in sizes]
        _block_stats(unit, sizes, [maxima[b][at] for b, at in zip(sizes, ats)],
                     [None if (body := bodies[b]) is None else body[at]
                      for b, at in zip(sizes, ats)])  # fmt: skip
        return unit.shape[0], float(unit.max()) if unit.size else 0.0

    amax, filled = 0.0, 0
    for i, j in parts:
        count, top = fill(i, j, filled)
        filled, amax = filled + count, max(amax, top)
    energy = scale[ok] ** 2 / np.mean(scale[ok] ** 2)  # each group's weight in the NMSE
    laws = {}
    for b in sorted(sizes, reverse=True):  # the smallest blocks' law, the largest, last
        laws[str(b)] = block_max_law(maxima.pop(b), energy, bodies.pop(b),
                                     scale[ok] * within.sigma, per_group=row // b)
    laws = {str(b): laws[str(b)] for b in sizes}
    return {
        "shape": [int(d) for d in np.shape(arr)],
        "dtype": dtype,
        "rms": math.sqrt(sum(sums) / max(arr.size, 1)),
        "amax": max(tops, default=0.0),
        "n_values": pooled.n_values,
        "pooled": pooled.as_dict(),
        "within_group": {
            **within.as_dict(),
            "group": "row" if group == "row" else f"block{int(group)}",
            "groups": int(ok.sum()),
            "scale_spread_log2": spread,
            "n_values": within.n_values,
            "amax": amax,
            "block_max": laws,
        },
    }


def _normalised_sample(g: np.ndarray, scale: np.ndarray, ok: np.ndarray, max_values: int,
                       seed: int) -> np.ndarray:  # fmt: skip
    """What `subsample` draws from the groups of `g` with a non-zero scale, each divided by
    its scale (flattened in order), gathered by index instead of normalising them all."""
    rows = np.flatnonzero(ok)
    n = rows.size * g.shape[1]
    if n <= max_values:
        return (np.asarray(g[rows], dtype=np.float64) / scale[rows, None]).ravel()
    pick = sample_indices(n, max_values, seed)
    r, c = rows[pick // g.shape[1]], pick % g.shape[1]
    return np.asarray(g[r, c], dtype=np.float64) / scale[r]


def _block_stats(unit: np.ndarray, sizes: list[int], tops: list[np.ndarray],
                 bodies: list[np.ndarray | None]) -> None:  # fmt: skip
    """Per block size b of `sizes` (ascending, each a multiple of the one before) and per
    block of b values along the rows of `unit`: its maximum into the matching array of `tops`
    and the mean square of its other values into that of `bodies` (None for blocks of one
    value). The smallest blocks' from their values, each larger size's from the size before
    (maxima of maxima, sums of squares of sums: a few vector operations instead of a
    reduction along short rows per size)."""
    blocks = unit.reshape(-1, sizes[0])
    top, square = np.max(blocks, axis=1), np.einsum("ij,ij->i", blocks, blocks)
    for k, b in enumerate(sizes):
        if k:
            r = b // sizes[k - 1]
            top, square = _runs(np.maximum, top, r), _runs(np.add, square, r)
        tops[k][:] = top
        if bodies[k] is not None:
            np.divide(square - top * top, b - 1, out=bodies[k])


def _runs(op: np.ufunc, a: np.ndarray, r: int) -> np.ndarray:
    """`op` over each run of `r` consecutive values of `a` (in order: a[i r] op a[i r + 1] op
    ...)."""
    out = a[0::r].copy()
    for k in range(1, r):
        op(out, a[k::r], out=out)
    return out


def fit_level(fmt: Format) -> str:
    """Which profile level a format sees: block-, channel-scaled and per-block choices see the
    within-group shape; per-tensor scales and plain casts the pooled fit."""
    return "pooled" if fmt.blocking.per_tensor else "within_group"


def error_for_stats(fmt: Format | str, stats: dict, **options) -> ErrorResult:
    """The analytic error of `fmt` on a profiled tensor (a record of `profile_array`), with the
    fit level the format sees (`fit_level`). Per-channel formats take the row length from the
    tensor's shape; per-tensor formats its size. Pooled fits pass their sigma (it matters for
    plain casts); within-group fits are scale-free (sigma averaged over its offset) and pass
    the spread of the group scales (it matters to choices that rank blocks tensor-wide).
    Block- and channel-scaled formats whose block size the profile recorded a block-maximum
    law for take the semi-empirical model instead (`dse.error.empirical_max`, kind "model:
    ..."); so do per-block choices when the law has its body and offsets (and the mix,
    which ranks blocks tensor-wide, when it has the blocks' scales: `choice_given_max_law`);
    two-level scales see the record's tensor maximum in data units ("amax") where present."""
    return errors_for_stats([fmt], stats, **options)[0]


def errors_for_stats(
    fmts: Sequence[Format | str], stats: dict, **options
) -> list[ErrorResult]:
    """`error_for_stats` of each of `fmts` on one profiled tensor; the per-block choices that
    run on one of its laws in one call (`choices_given_max_law`: the FP4/FP8 mixes of one
    candidate pair build the law of the block scores once). The same values as one by one."""
    from dse.error.api import resolve

    records = [resolve(f) for f in fmts]
    out: dict[Format, ErrorResult] = {}
    choices: dict[int, list[ChoiceFormat]] = {}
    for r in dict.fromkeys(records):
        level = fit_level(r)
        opts = _options(r, stats, options)
        found = _law(r, stats[level], opts) if level == "within_group" else None
        if isinstance(r, ChoiceFormat) and found is not None:
            choices.setdefault(found[0], []).append(r)
        else:
            out[r] = _one(r, stats, level, found, opts)
    for block, group in choices.items():
        out.update(zip(group, _choices_on_law(group, stats, block)))
    return [out[r] for r in records]


def _one(record: Format, stats: dict, level: str, found: tuple[int, dict] | None,
         opts: dict) -> ErrorResult:  # fmt: skip
    """`error_for_stats` of a format that is not a choice on a law: a scaled format on its
    law (`found`, `_law`'s), else the t fit of its level."""
    fit = stats[level]
    if found is not None and isinstance(record, ScaledFormat):  # narrows the type (_law checked)
        block, law = found
        value = error_given_max_law(record, fit["nu"], law, block, fit["amax"],
                                    fit.get("scale_offsets"), stats.get("amax"))  # fmt: skip
        return ErrorResult(format=record.name, nu=fit["nu"], block=block, sigma=None,
                           nmse=value, kind=MAX_LAW_KIND, tensor_amax=fit["amax"],
                           fit=level)  # fmt: skip
    if level == "pooled":
        opts.setdefault("tensor_size", int(np.prod(stats.get("shape") or [1])))
        opts.setdefault("sigma", float(fit["sigma"]))
    else:
        opts.setdefault("scale_spread", float(fit.get("scale_spread_log2", 0.0)))
    return error(record, fit["nu"], fit=level, **opts)


def _options(record: Format, stats: dict, options: dict) -> dict:
    """`error`'s options for a profiled tensor: per-channel formats take the row length."""
    opts = dict(options)
    if record.blocking.per_channel:
        opts.setdefault("block", int((stats.get("shape") or [1])[-1]))
    return opts


def _law(record: Format, fit: dict, opts: dict) -> tuple[int, dict] | None:
    """(block size, measured block-maximum law) the format's analytic error can use: its
    block size recorded by the profile, the analytic method, no fixed sigma; a block- or
    channel-scaled format, or a per-block choice whose law has its body and offsets (and,
    for the mix's tensor-wide ranking, the blocks' scales: `choice_given_max_law`); else
    None."""
    laws = fit.get("block_max")
    if not laws or opts.get("method", "analytic") != "analytic" or opts.get("sigma") is not None:
        return None
    block = opts.get("block") or record.blocking.size
    law = laws.get(str(block))
    if law is None:
        return None
    if isinstance(record, ScaledFormat):
        return None if record.scale.is_cast else (block, law)
    if not isinstance(record, ChoiceFormat) or not ("body" in law and "offsets" in law):
        return None
    ranks = isinstance(record.selector, (TopFraction, ScoreThreshold))
    return None if ranks and "scale_dev" not in law else (block, law)


def energy_of(stats: dict) -> float:
    """The tensor's sum of squares from its profile record: size x rms^2 (records without
    `rms`, from older profiles: the pooled fit's variance sigma^2 nu / (nu - 2))."""
    size = float(np.prod(stats.get("shape") or [1]))
    rms = stats.get("rms")
    if rms is None:
        fit = stats["pooled"]
        nu = float(fit["nu"])
        var = 1.0 if math.isinf(nu) else nu / (nu - 2.0)
        return size * float(fit["sigma"]) ** 2 * var
    return size * float(rms) ** 2


def _choices_on_law(records: list[ChoiceFormat], stats: dict, block: int) -> list[ErrorResult]:
    """Per-block choices of one block size on a profiled tensor's law of that block size
    (`choices_given_max_law`), with the record's tensor maximum in data units."""
    fit = stats["within_group"]
    law = fit["block_max"][str(block)]
    return choices_given_max_law(records, fit["nu"], law, block, fit["amax"], stats.get("amax"))


def error_for_tensors(fmt: Format | str, records: list[dict], **options) -> float | None:
    """NMSE of `fmt` over several profiled tensors quantized alike (e.g. every layer's
    down-projection weight): each tensor's `error_for_stats`, weighted by its sum of squares
    (`energy_of`), exactly as the tensors' errors add up. None unless every tensor has a
    measured block-maximum law the format can use (`_law`) and a within-group nu in the
    analytic range (`NU_ANALYTIC_MIN`): the caller then falls back to the per-class fit."""
    return errors_for_tensors([fmt], records, **options)[0]


def errors_for_tensors(
    fmts: Sequence[Format | str], records: list[dict], **options
) -> list[float | None]:
    """`error_for_tensors` of each of `fmts`, tensor by tensor: the per-block choices of one
    block size on a tensor's law in one call (`choices_given_max_law`: the mixes of one
    candidate pair, e.g. a sweep over the FP8 share p, build their law of the block scores
    once per tensor instead of once per mix). The same values as one format at a time."""
    from dse.error.api import resolve

    wanted = [resolve(f) for f in fmts]
    usable = [r for r in dict.fromkeys(wanted) if _covers(r, records, options)]
    values: dict[Format, list[float]] = {r: [] for r in usable}
    for stats in records:
        for r, res in zip(usable, errors_for_stats(usable, stats, **options)):
            values[r].append(res.nmse)
    energies = [energy_of(stats) for stats in records]
    total = np.sum(energies)
    return [float(np.dot(values[r], energies) / total) if r in values else None for r in wanted]


def _covers(record: Format, records: list[dict], options: dict) -> bool:
    """Every tensor of `records` has a measured block-maximum law `record` can use (`_law`)
    and a within-group nu in the analytic range (`NU_ANALYTIC_MIN`)."""
    if not records or fit_level(record) != "within_group":
        return False  # per-tensor scales have no measured-law model
    return all(float(stats["within_group"]["nu"]) >= NU_ANALYTIC_MIN
               and _law(record, stats["within_group"], _options(record, stats, options))
               is not None for stats in records)  # fmt: skip
