"""Error of a block- or channel-scaled format when the block maximum's law is measured, not
assumed: the semi-empirical model of profiled tensors.

A real tensor's blocks are not all draws of one t: most look like the t its values fit, a
few carry an outlier far beyond it (e.g. the FFN down-projection rows of all-MiniLM-L6-v2).
Integer grids and shared-exponent formats (INT4/g128, INT8 per channel, Anda) follow the
block maximum M closely, so a t fitted to all values mispredicts them there (up to 76 % per
tensor on that checkpoint). This model keeps the analytic structure of `dse.error.analytic`

  E[(X - Q(X))^2] = E_M[ (B-1)/B * W(M, s) / P(|T| <= M) + 1/B * E_max(M, s) ]

but takes the law of M from the data: `block_max_law` summarises the tensor's block maxima
(in units of the within-group t's sigma, groups normalised by their body's RMS, see
`dse.error.profile`) as strata of their ranks: equal strata of the lowest 90 %, then strata
halving in probability down to about two blocks. Each block is weighted by the square of
its group's normalising scale (the tensor's NMSE sums every block's error at its own scale); a
stratum is represented by the weighted root-mean-square maximum of its blocks (so the law's
weighted E[M^2] is the data's exactly) with its share of the weight, and by the weighted
mean square of its blocks' other values, the body b (so the law's weighted body energy is the
data's too). The other B - 1 values of a block are taken as iid kappa t(nu) truncated to
[-M, M], kappa per stratum such that their mean square is b (`body_scale`): a value's error at
scale s is kappa^2 times that of t(nu) truncated to M / kappa at scale s / kappa. Where a row's
blocks differ in scale (attention heads, outlier channels at fixed positions), blocks with a
small maximum have a proportionally small body, which one t for the whole row cannot say:
kappa carries it (on rows of 12 normal heads 0.4 octaves apart in scale, INT4/g32 was
predicted 44 % high without it; tests/test_error_block_max.py). The NMSE is normalised by the
law's energy E[(M^2 + (B-1) b) / B]. (Profiles without "body" take the fitted t's
E[T^2 | |T| <= M], kappa = 1.) Scale rules that are not scale-invariant (power-of-two scales:
MX, Anda) see where each block's maximum sits between powers of two in data units: the law
records, per group of strata, equally weighted quantiles of frac(log2 maximum)
(`stratum_offsets`), and a stratum's error averages over its group's points. (Older profiles:
where the rows' scales sit, "scale_offsets", taken as independent of M -- wrong where maxima have
a fixed size in data units, outlier channels: MXFP6 25 % high on such a tensor, MXFP8 33 % at
p90 on all-MiniLM-L6-v2's linear inputs.)

Per-block choices (BlockDialect's selections, calibrated scales) run their own models of
`dse.error.choice` on the law instead of the t law's quadrature (`choice_given_max_law`): a
block is kappa times a block of t(nu) values with maximum M / kappa at data scale sigma kappa,
so each (stratum, offset point) is one node. Two-level scales (NVFP4, also inside choices)
see a block's maximum over the tensor's: the law records each stratum's block scales in data
units (their mean log2 scale, and the law of the deviations from it per group of strata),
so with the tensor's maximum in data units each offset point is a block maximum in data
units (`_tensor_maxima`). The FP4/FP8 mix ranks blocks tensor-wide by their scores in data
units: a stratum's blocks score kappa^2 2^(2L) times their node's, L their log2 data scale
(the stratum's mean plus each part of the deviations' law), and its quantile counts blocks
(the law's unweighted shares, "blocks", all-zero blocks included). On three synthetic tensors
(heads, fixed outlier channels, token rows of spread scales with outlier channels)
NVFP4(cal=4) and the mix were 14 - 37 % off on the row's t, within 3.5 % on the law
(tests/test_error_block_max.py); on
all-MiniLM-L6-v2's linear inputs (`dse validate --acts`, 40 sentences) within 3.4 % and
4.2 % at p90 (35 % and 51 % on the t). A normal law of the scales per stratum was tried
first: rows of tiny body scale (the [CLS] token's, 3.8 octaves below the others on the
query inputs) widened it to 1 - 1.6 octaves where most rows differ by 0.2, and the mix on
those inputs was 24 - 33 % low; the parts of a measured law (`group_bins`) keep them apart.

An approximation (the values below a block's maximum are taken as the fitted t's shape at
their stratum's mean-square scale, and a stratum's blocks to share one maximum and one body
scale): on all-MiniLM-L6-v2's 36 linear weights (tests/test_validation.py) every block- and
channel-scaled acceptance format's per-tensor NMSE is predicted within 2.6 % at the 90th
percentile (INT8 per channel was 36 %, INT4/g128 8.7 % with the t alone); on the linear
inputs of its quantized forward pass (`dse validate --acts`), within 1.3 - 16 % for the
integer grids, NF4, SF4, E2M1, E3M2, NVFP4 and MXFP4/6/8 (4 - 33 % without the body scale and
the maxima's offsets). Where a block's body is far from the row's t in shape (normal values
beside one fixed outlier channel per block) the shape assumption shows: INT4/g32 22 % low on
such a synthetic tensor.
"""

from __future__ import annotations

import math

import numpy as np

from dse.error.analytic import Setting, block_scale, conditional_error, offset_sigmas, per_value
from dse.error.api import ErrorResult
from dse.error.blockmax import MaxNodes
from dse.error.choice import ChoiceEstimate, Ranking, choice_errors
from dse.error.codebook import codebook, max_error
from dse.error.student import Student
from dse.errors import ModelLimitError
from dse.formats import ChoiceFormat, ScaledFormat

#: Block sizes whose maximum's law `dse profile` records (with the row length itself), the
#: block sizes of the catalogue's block formats.
LAW_BLOCKS = (16, 32, 64, 128, 256)
#: Rank strata of the law: equal strata up to BULK, then strata halving in probability while
#: a stratum still holds at least TAIL_MIN blocks (the last one takes the rest).
BULK, BULK_STRATA, TAIL_MIN = 0.9, 36, 2
#: Label of results from this model.
KIND = (
    "model: block maximum's law measured by dse profile, t(nu) values below it at the measured "
    "body scale; per-tensor NMSE within 2.6 % at p90 on all-MiniLM-L6-v2's weights"
)


def rank_edges(n: int) -> np.ndarray:
    """Stratum edges (as block counts, 0 .. n) over the ranks of n sorted block maxima."""
    probs = list(np.linspace(0.0, BULK, BULK_STRATA + 1))
    tail = 1.0 - BULK
    while n * tail / 2 >= TAIL_MIN:
        tail /= 2
        probs.append(1.0 - tail)
    probs.append(1.0)
    return np.unique(np.round(np.array(probs) * n).astype(np.int64))


def block_max_law(
    maxima: np.ndarray,
    energy: np.ndarray | None = None,
    body: np.ndarray | None = None,
    scale: np.ndarray | None = None,
    per_group: int = 1,
) -> dict:
    """The stratified law of block maxima (standard-t units) with each block weighted by
    `energy` (its row's mean square before normalisation: a tensor's NMSE weights each
    block's error by it; None = equal): {"m": node per stratum (the weighted RMS maximum of
    its blocks), "weight": its share of the weight}, as lists; with `body` (each block's
    mean square of its other values, same units) also "body": its weighted mean per
    stratum; with `scale` (each block's data units per standard unit) also where the maxima
    sit between powers of two in data units, frac(log2 maximum x scale): "offsets",
    OFFSET_POINTS equally weighted quantiles per group of strata, and "offset_of", each
    stratum's group (`stratum_offsets`); and the blocks' scales themselves, which choices
    ranking blocks tensor-wide need: "blocks", each stratum's share of the blocks (unweighted),
    the mean of log2 scale over its blocks, "scale_log2", and per group of strata (those of
    "offset_of") the law of each block's deviation from its stratum's mean in a few parts,
    "scale_dev" and "scale_dev_weight" (`group_bins`). `per_group`: `energy` and `scale` hold
    one value per run of that many consecutive blocks (a row's blocks), not one per block.
    Beside its inputs it holds about five arrays of one value per block at once."""
    m, order = rank_order(np.asarray(maxima, dtype=np.float64).ravel())
    b = None if body is None else np.asarray(body, dtype=np.float64).ravel()[order]
    row = order // per_group if per_group > 1 else order  # each block's energy and scale
    del order
    w = np.ones_like(m) if energy is None else np.asarray(energy, dtype=np.float64).ravel()[row]
    sc = None if scale is None else np.asarray(scale, dtype=np.float64).ravel()[row]
    del row
    starts = rank_edges(m.size)[:-1]
    mass = np.add.reduceat(w, starts)
    sums = np.add.reduceat(w * m * m, starts)
    law: dict = {"m": _short(np.sqrt(sums / mass)), "weight": _short(mass / mass.sum())}
    if b is not None:
        b *= w
        law["body"] = _short(np.add.reduceat(b, starts) / mass)
        del b
    if sc is not None:
        top = m * sc
        del m
        frac = np.log2(np.where(top > 0, top, 1.0))
        del top
        np.mod(frac, 1.0, out=frac)
        law["offsets"], law["offset_of"] = stratum_offsets(frac, w, starts)
        del frac, w
        count = np.diff(np.append(starts, sc.size))
        log_s = np.log2(sc, out=sc)  # sc no longer needed
        mean = np.add.reduceat(log_s, starts) / count
        law["blocks"] = _short(count / log_s.size)
        law["scale_log2"] = [round(float(v), 4) for v in mean]  # octaves
        log_s -= np.repeat(mean, count)  # each block's deviation from its stratum's mean
        law["scale_dev"], law["scale_dev_weight"] = group_bins(log_s, starts, law["offset_of"])
    return law


def rank_order(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`m` (>= 0) sorted and the permutation that sorts it, equal values in index order: what
    a stable argsort gives, found faster. One sort of 64-bit keys, m's float32 bits then the
    index (a value sort, vectorised where a stable argsort is not), orders all but the values
    equal in float32; a stable argsort of that nearly sorted result (runs: fast) orders
    those."""
    if m.size >= 2**32:  # the index needs more than the key's 32 low bits
        order = np.argsort(m, kind="stable")
        return m[order], order
    with np.errstate(over="ignore"):  # beyond float32's range: inf, ordered by the argsort
        key = m.astype(np.float32).view(np.uint32).astype(np.uint64)
    key <<= np.uint64(32)
    key |= np.arange(m.size, dtype=np.uint64)
    key.sort()
    key &= np.uint64(0xFFFFFFFF)
    order = key.view(np.int64)
    m = m[order]
    fix = np.argsort(m, kind="stable")
    return m[fix], order[fix]


#: Where block maxima sit between powers of two (`stratum_offsets`): OFFSET_POINTS equally
#: weighted quantiles per group of strata, the bulk's strata (the lowest 90 % of maxima) in
#: OFFSET_BULK_GROUPS groups of equal rank, every tail stratum its own group. Measured on
#: the linear inputs of all-MiniLM-L6-v2's float forward pass (40 sentences; p90
#: |pred/meas - 1| for MXFP4 / MXFP6 / MXFP8): this
#: 2.8 / 5.9 / 5.1 %; 16 points per stratum 3.0 / 5.3 / 3.6 % at three times the profile's
#: size; 8 points per stratum 3.5 / 4.0 / 6.4 %; one group for the whole tail 5.8 / 6.0 /
#: 14 %; one offset law for all strata 13 / 13 / 37 % (the rows' scales alone: 17 / 19 / 33 %).
OFFSET_POINTS, OFFSET_BULK_GROUPS = 16, 4
#: Parts per group of strata of the law of the blocks' log2 data scales about their stratum's
#: mean (`group_bins`: split at the quantiles i / SCALE_POINTS and at SCALE_POINTS equal steps
#: of the range, at most 2 SCALE_POINTS - 1 parts; "scale_dev", which the FP4/FP8 mix's
#: ranking sees). Measured, pred/meas - 1 of fp4fp8(p=0.3) / (threshold=1.0) or (p=0.1):
#: on t(5) rows one in seven four times larger, these parts -0.7 / -0.6 %, quantiles alone
#: +4.4 / +8.1 % (a part straddling the two scales), equal steps alone -0.6 / -0.6 %; on
#: token rows of log-normal scales (0.7 octaves) with one row 2^-10 smaller, these +0.0 /
#: +1.9 % (p = 0.1), equal steps alone +9.1 / +4.0 % (the far row widens every part);
#: all-MiniLM-L6-v2's float-network linear inputs (24 distinct, 40 sentences) p90 5.7 %
#: (quantiles alone 6.0 %, 16 equally weighted quantile points 6.3 %).
SCALE_POINTS = 8


def stratum_offsets(
    frac: np.ndarray, w: np.ndarray, starts: np.ndarray
) -> tuple[list[list[float]], list[int]]:
    """(offsets, offset_of): for each group of strata (see OFFSET_BULK_GROUPS; stratum j
    holds the blocks starts[j] .. starts[j + 1] - 1 in rank order) the OFFSET_POINTS weighted
    quantiles at probabilities (i + 1/2) / OFFSET_POINTS of `frac` (values in [0, 1), one per
    block, weights `w`), rounded to 4 decimals, each standing for an equal share of the
    group's blocks; and each stratum's group."""
    n = frac.size
    first = starts / n  # rank share below each stratum
    bulk = first < BULK - 1e-12
    group = np.where(bulk, np.floor(first / BULK * OFFSET_BULK_GROUPS), 0).astype(np.int64)
    tail = np.flatnonzero(~bulk)
    group[tail] = (group[bulk].max() + 1 if bulk.any() else 0) + np.arange(tail.size)
    of = [int(g) for g in np.unique(group, return_inverse=True)[1]]  # 0, 1, ... in rank order
    probs = (np.arange(OFFSET_POINTS) + 0.5) / OFFSET_POINTS
    offsets = []
    for run in _group_runs(starts, n, of):
        f, o = rank_order(frac[run])
        wg = w[run][o]
        mid = (np.cumsum(wg) - 0.5 * wg) / wg.sum()  # each block's centre on the weight axis
        offsets.append([round(float(v), 4) for v in np.interp(probs, mid, f)])
    return offsets, of


def group_bins(
    values: np.ndarray, starts: np.ndarray, group: list[int], points: int = SCALE_POINTS
) -> tuple[list[list[float]], list[list[float]]]:
    """Per group of strata (`group`: each stratum's, as `stratum_offsets` gives), the law of
    `values` (log2 scale deviations, one per block in rank order) in parts: split at its
    quantiles i / `points` and at `points` equal steps of its range (equal values stay in one
    part, so a law of a few values is kept exactly, and a few far values do not widen the
    bulk's parts); each part's 1/2 log2 of the mean of 4^value (its blocks' mean squared scale
    factor, so each part carries its energy exactly), rounded to 4 decimals, and its share of
    the group's blocks (4 digits)."""
    reps, weights = [], []
    cuts = np.arange(1, points) / points
    for run in _group_runs(starts, values.size, group):
        v = np.sort(values[run])
        inner = np.unique(np.concatenate([np.quantile(v, cuts), v[0] + cuts * (v[-1] - v[0])]))
        part = np.searchsorted(inner, v, side="right")  # a value at an edge joins the part above
        count = np.bincount(part, minlength=inner.size + 1)
        energy = np.bincount(part, 4.0**v, minlength=inner.size + 1)
        used = count > 0
        reps.append([round(float(x), 4) for x in 0.5 * np.log2(energy[used] / count[used])])
        weights.append(_short(count[used] / v.size, 4))
    return reps, weights


def _group_runs(starts: np.ndarray, n: int, group: list[int]) -> list[slice]:
    """Per group of strata (runs of strata in rank order; `group`: each stratum's), the
    slice of its blocks among the n in rank order."""
    ends = np.append(starts[1:], n)
    of = np.asarray(group)
    runs = []
    for g in range(int(of.max()) + 1):
        members = np.flatnonzero(of == g)
        runs.append(slice(int(starts[members[0]]), int(ends[members[-1]])))
    return runs


def _short(values: np.ndarray, digits: int = 7) -> list[float]:
    """Floats rounded to `digits` significant digits (the profile's YAML stays compact)."""
    return [float(f"{v:.{digits}g}") for v in values]


def error_given_max_law(
    fmt: ScaledFormat,
    nu: float,
    law: dict,
    block: int,
    tensor_amax: float,
    offsets: dict | None = None,
    data_amax: float | None = None,
) -> float:
    """NMSE of `fmt` (block or channel scales, `block` values per scale) when the block
    maximum follows `law` (`block_max_law`) and the other values are t(nu) below it.
    Scale rules that are not scale-invariant see where each stratum's block maxima sit
    between powers of two (the law's "offsets"), else where the data's scale does
    (`offsets`: older profiles' "scale_offsets", a histogram of frac(log2) of the rows'
    scales, {"offset": [...], "weight": [...]}), else that averaged uniformly. Two-level
    scales see a block's maximum over the tensor's: from the law's maxima in data units
    when it has them and `data_amax` (the tensor's maximum in data units) is given
    (`_tensor_maxima`), else `tensor_amax` (standard-t units) as if every row had one
    scale."""
    dist = Student(float(nu))
    strata = _strata(dist, law)
    if strata is None:
        return math.nan
    keep, m, share, body, kappa = strata
    nodes = MaxNodes(m, dist.sf(m), share, int(block))
    c = m / kappa  # the body's truncation point in its own units
    body_nodes = MaxNodes(c, dist.sf(c), share, int(block))
    cb = codebook(fmt.element, fmt.rounding)
    # sigma per (offset, stratum): sigma m sits at the offset between powers of two
    if fmt.scale_invariant and not _sees_data_maxima(fmt, law, data_amax):
        sigmas, ws = np.ones((1, 1)), np.ones(1)
    elif "offsets" in law:  # the maxima's own offsets, equally weighted per stratum
        sigmas = _offset_sigmas(law, keep, m)
        ws = np.full(sigmas.shape[0], 1.0 / sigmas.shape[0])
    elif offsets:
        sigmas = 2.0 ** np.asarray(offsets["offset"], dtype=np.float64)[:, None]
        ws = np.asarray(offsets["weight"], dtype=np.float64)
    else:
        sigmas = offset_sigmas(None, True)[:, None]
        ws = np.full(sigmas.shape[0], 1.0 / sigmas.shape[0])
    amax = _tensor_maxima(fmt, law, keep, m, sigmas.shape, tensor_amax, data_amax)
    per = []
    for sig, a in zip(sigmas, amax):
        s = block_scale(fmt, m, sig, a)
        inner = conditional_error(cb, dist, body_nodes, s / kappa)[0] * kappa**2
        per.append(per_value(nodes, inner, max_error(cb, s, m)))
    err = float(np.dot(nodes.weight, np.tensordot(ws / ws.sum(), per, axes=1)))
    energy = _energy(m, share, body, block)
    return err / energy if energy > 0 and math.isfinite(energy) else math.nan


def _sees_data_maxima(fmt: ScaledFormat | ChoiceFormat, law: dict, data_amax) -> bool:
    """Whether `fmt`'s scales see the tensor maximum and the law can say where each block's
    maximum sits under it in data units (`_tensor_maxima`)."""
    has = data_amax is not None and "offsets" in law and "scale_log2" in law
    return fmt.uses_tensor_amax and has


def _tensor_maxima(
    fmt: ScaledFormat | ChoiceFormat,
    law: dict,
    keep: np.ndarray,
    m: np.ndarray,
    shape: tuple[int, ...],
    tensor_amax: float,
    data_amax: float | None,
) -> np.ndarray:
    """(points, strata) = `shape`: the tensor maximum in each stratum's standard units at
    each of its offset points. Where the law has the maxima in data units
    (`_sees_data_maxima`), m A / D: A = `data_amax`, D the point's block maximum in data
    units, 2^(offset + n) with n the integer that puts it nearest the stratum's typical
    maximum m 2^scale_log2 (a two-level scale then sees D / A exactly where a stratum's
    maxima lie within half an octave of that); else `tensor_amax` everywhere (profiles
    before 2026.12.05: as if every row had one scale)."""
    if not _sees_data_maxima(fmt, law, data_amax):
        return np.full(shape, tensor_amax)
    at = _offsets_at(law, keep)
    typical = np.asarray(law["scale_log2"], dtype=np.float64)[keep] + np.log2(m)
    return np.broadcast_to(m * data_amax / 2.0 ** (at + np.round(typical - at)), shape)


def _strata(dist: Student, law: dict):
    """The law's strata with a non-zero maximum (all-zero blocks add neither error nor
    energy): (which strata were kept, m, weight share, body mean square, kappa), or None when
    none is left. Profiles without "body" (written before it was recorded) take the fitted
    t's E[T^2 | |T| <= m], kappa = 1."""
    m = np.asarray(law["m"], dtype=np.float64)
    keep = m > 0
    if not keep.any():
        return None
    weight = np.asarray(law["weight"], dtype=np.float64)[keep]
    m = m[keep]
    if "body" in law:
        body = np.asarray(law["body"], dtype=np.float64)[keep]
        kappa = body_scale(dist, m, body)
    else:
        q = dist.sf(m)
        body = (dist.variance - 2.0 * dist.upper_moments(m, q)[2]) / (1.0 - 2.0 * q)
        kappa = np.ones_like(m)
    return keep, m, weight / weight.sum(), body, kappa


def _energy(m: np.ndarray, share: np.ndarray, body: np.ndarray, block: int) -> float:
    """The law's mean square per value: E[(M^2 + (B - 1) b) / B]."""
    return float(np.dot(share, (m * m + (block - 1) * body) / block))


def _offsets_at(law: dict, keep: np.ndarray) -> np.ndarray:
    """(points, strata): the law's offsets of each kept stratum's group."""
    groups = np.asarray(law["offsets"], dtype=np.float64)
    return groups[np.asarray(law["offset_of"], dtype=np.int64)][keep].T


def _offset_sigmas(law: dict, keep: np.ndarray, m: np.ndarray) -> np.ndarray:
    """(points, strata): the sigma that puts sigma m at each of the stratum's offsets between
    powers of two (the law's "offsets" of the stratum's group; `keep`: the strata kept)."""
    return 2.0 ** (_offsets_at(law, keep) - np.log2(m))


def choice_given_max_law(
    fmt: ChoiceFormat,
    nu: float,
    law: dict,
    block: int,
    tensor_amax: float = math.inf,
    data_amax: float | None = None,
) -> ErrorResult:
    """`choices_given_max_law` of one format."""
    return choices_given_max_law([fmt], nu, law, block, tensor_amax, data_amax)[0]


def choices_given_max_law(
    fmts: list[ChoiceFormat],
    nu: float,
    law: dict,
    block: int,
    tensor_amax: float = math.inf,
    data_amax: float | None = None,
) -> list[ErrorResult]:
    """NMSE of each per-block choice format of `fmts` when the block maximum follows `law`
    with its body and offsets (the models of `dse.error.choice` on these nodes instead of the
    t law's quadrature). A block with maximum M, body scale kappa and data scale sigma is
    kappa times a block of t(nu) values with maximum M / kappa at data scale sigma kappa
    (quantization is scale-equivariant), so each (stratum, offset point) is a node M / kappa
    with sigma kappa and weight share x kappa^2, and the NMSE is the result over the law's
    energy.

    A tensor maximum in a node's units is kappa times smaller than in the law's (`tensor_amax`
    or `data_amax` as for `error_given_max_law`). The mix's tensor-wide ranking compares
    blocks in data units: a block of a stratum scores its node's score times (kappa 2^L)^2,
    L the block's log2 data scale, the stratum's measured mean plus each of its group's
    measured deviations with their shares ("scale_log2", "scale_dev", "scale_dev_weight"), and
    the quantile counts blocks ("blocks", the strata's shares of the blocks; the law's
    weights are energy shares). Taking L independent of the block's contents within a
    stratum, and its deviations alike across a group's strata, is an approximation. The mix
    needs a law with the scales (profiles since 2026.12.05): ModelLimitError without.
    The law's nodes are built once for all of `fmts`, and mixes of one candidate pair share
    their law of the block scores (`choice.choice_errors`)."""
    dist = Student(float(nu))
    strata = _strata(dist, law)
    if strata is None:  # an all-zero tensor: no error and no energy
        raise ModelLimitError(f"{fmts[0].name}: every block of the tensor is zero")
    keep, m, share, body, kappa = strata
    sigmas = _offset_sigmas(law, keep, m) * kappa  # (points, strata)
    points = sigmas.shape[0]
    c = np.tile(m / kappa, points)
    nodes = MaxNodes(c, dist.sf(c), np.tile(share * kappa**2, points) / points, int(block))
    rank = _ranking(law, keep, kappa, points) if "scale_dev" in law else None
    energy = _energy(m, share, body, block)
    found: dict[int, ChoiceEstimate] = {}  # by position in `fmts`
    for sees in (False, True):  # formats whose candidates see the tensor maximum, and the rest
        group = [i for i, f in enumerate(fmts) if _sees_data_maxima(f, law, data_amax) == sees]
        if not group:
            continue
        amax = _tensor_maxima(fmts[group[0]], law, keep, m, sigmas.shape, tensor_amax,
                              data_amax)  # fmt: skip
        st = Setting(dist, int(block), None, (amax / kappa).ravel())
        rs = choice_errors([fmts[i] for i in group], st, at=(nodes, sigmas.ravel()), rank=rank)
        found.update(zip(group, rs))
    out = []
    for i, fmt in enumerate(fmts):
        r = found[i]
        model = "the exact choice" if r.kind == "exact" else r.kind.removeprefix("model: ")
        out.append(ErrorResult(format=fmt.name, nu=float(nu), block=int(block), sigma=None,
                               nmse=r.value / energy, kind=f"model: {model}, {LAW_NOTE}",
                               fit="within_group",
                               se=None if r.se is None else r.se / energy))  # fmt: skip
    return out


def _ranking(law: dict, keep: np.ndarray, kappa: np.ndarray, points: int) -> Ranking:
    """The mix's view of the law's blocks (`choices_given_max_law`), nodes in the order of
    `choices_given_max_law`'s (offset point, stratum): each stratum's blocks at the log2 data
    scales of its mean plus its group's parts of the deviations, with their shares. Shares
    of the blocks count all-zero blocks too (the selector ranks them, last)."""
    blocks = np.asarray(law["blocks"], dtype=np.float64)
    mean = np.asarray(law["scale_log2"], dtype=np.float64)[keep]
    size = max(len(g) for g in law["scale_dev"])
    dev, weight = (np.array([g + [0.0] * (size - len(g)) for g in law[k]])  # padded: weight 0
                   for k in ("scale_dev", "scale_dev_weight"))  # fmt: skip
    of = np.asarray(law["offset_of"])[keep]
    factors = (kappa[:, None] * 2.0 ** (mean[:, None] + dev[of])) ** 2  # (strata, parts)
    counts = weight[of] / weight[of].sum(axis=1, keepdims=True)
    return Ranking(np.tile(blocks[keep] / blocks.sum(), points) / points,
                   np.tile(factors, (points, 1)), np.tile(counts, (points, 1)),
                   np.ones(points * int(keep.sum())))  # fmt: skip


#: Added to a choice model's kind when it ran on a measured law (`choice_given_max_law`).
LAW_NOTE = "on the block maximum's law measured by dse profile (body scale and offsets)"


#: Bounds of c = m / kappa in `body_scale`'s search (standard-t units): below C_MIN the
#: truncated second moment loses its digits to cancellation (measured: E[T^2 | |T| <= c] /
#: c^2 = 1/3 within 2e-6 at C_MIN), so bodies within about 1e-5 of m^2 / 3 (nearly uniform on
#: [-m, m]) are held there: an approximation.
C_MIN, C_MAX = 1e-3, 1e6


#: `body_scale`'s search stops when its step in log c is below this (a relative 1e-12 in kappa).
BODY_TOL = 1e-12


def body_scale(dist: Student, m: np.ndarray, body: np.ndarray) -> np.ndarray:
    """kappa per stratum such that kappa T, T ~ t(nu) truncated to |kappa T| <= m, has the
    measured mean square `body`: kappa^2 E[T^2 | |T| <= c] = body with c = m / kappa. The
    left side over m^2, g(c) = E[T^2 | |T| <= c] / c^2, falls from 1/3 to 0 as c grows (a
    unimodal symmetric density), so c is found on x = log c by Newton's method kept inside a
    bracket (a step leaving it bisects instead), with dg/dx = 2 f(c) c (1 - g) / P(c) - 2 g,
    P(c) = P(|T| <= c) and f the density: about 11 steps where bisection takes 60, the same
    kappa to 6e-12 (measured on random strata; targets at the search's bounds are held there
    without a search)."""
    target = np.clip(body / (m * m), 0.0, 1.0 / 3.0)
    lo, hi = np.full(m.shape, math.log(C_MIN)), np.full(m.shape, math.log(C_MAX))

    def ratio(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # g(c) and P(|T| <= c)
        sf = dist.sf(c)
        inside = 1.0 - 2.0 * sf
        return (dist.variance - 2.0 * dist.upper_moments(c, sf)[2]) / inside / (c * c), inside

    g_min, g_max = ratio(np.array([C_MIN, C_MAX]))[0]
    x = np.where(target >= g_min, lo, np.where(target <= g_max, hi, 0.5 * (lo + hi)))
    todo = np.flatnonzero((target < g_min) & (target > g_max))  # the bounds hold the rest
    for _ in range(200):  # bisection alone would need 60; Newton's steps end far sooner
        c = np.exp(x[todo])
        g, inside = ratio(c)
        high = g > target[todo]  # c too small
        lo[todo], hi[todo] = np.where(high, x[todo], lo[todo]), np.where(high, hi[todo], x[todo])
        slope = 2.0 * dist.pdf(c) * c * (1.0 - g) / inside - 2.0 * g
        with np.errstate(divide="ignore", invalid="ignore"):
            step = (target[todo] - g) / slope
        new = x[todo] + step
        bad = ~((new >= lo[todo]) & (new <= hi[todo]))  # also a flat or NaN slope
        new[bad] = 0.5 * (lo[todo] + hi[todo])[bad]
        done = np.abs(new - x[todo]) <= BODY_TOL
        x[todo] = new
        todo = todo[~done]
        if not todo.size:
            break
    return m / np.exp(x)
