"""The semi-empirical error of profiled tensors (`dse.error.empirical_max`): the block
maximum's law measured, the values below it t. Checked against the real quantizer on
tensors whose block maxima a single t cannot describe (the defect: on all-MiniLM-L6-v2's FFN
down-projections INT8 per channel was predicted up to 76 % low and INT4/g128 22 % high), and
given a law, against a Monte Carlo of exactly that law."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from dse.error import error
from dse.error.empirical_max import (
    LAW_NOTE,
    SCALE_POINTS,
    block_max_law,
    body_scale,
    choice_given_max_law,
    error_given_max_law,
    group_bins,
    rank_edges,
    rank_order,
)
from dse.error.profile import error_for_stats, profile_array, trimmed_rms
from dse.formats import parse


def test_rank_order_is_a_stable_argsort():
    """The laws' ranking of block maxima: the order and the sorted values of numpy's stable
    argsort, bit for bit, on maxima with exact ties (an int8 checkpoint's), ties only in
    float32, values float32 rounds to 0 or to infinity, and none."""
    rng = np.random.default_rng(11)
    t = np.abs(rng.standard_t(4.0, 200_000))
    cases = [t, np.abs(rng.integers(-127, 128, 50_000)).astype(np.float64),
             1.0 + rng.integers(0, 5, 50_000) * 1e-12,  # equal in float32 only
             np.concatenate([t[:1000] * 1e-300, t[:1000] * 1e300, t[:1000]]),
             np.zeros(10), np.empty(0)]  # fmt: skip
    for m in cases:
        got_m, got = rank_order(m)
        want = np.argsort(m, kind="stable")
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(got_m, m[want])


def _measured(name: str, x: np.ndarray) -> float:
    q = parse(name).quantize(x, axis=-1)
    return float(np.sum((q - x) ** 2) / np.sum(x * x))


def _law_blocks(rng, n: int, b: int, nu: float, m, kappa=(1.0, 1.0), share=(0.7, 0.3)):
    """(blocks, stratum of each): n blocks of b values whose maximum is m[j] (random sign)
    with probability share[j], the other values kappa[j] t(nu) below it (by rejection)."""
    m, kappa = np.asarray(m, dtype=np.float64), np.asarray(kappa, dtype=np.float64)
    pick = rng.choice(m.size, n, p=share)
    top, k = m[pick], kappa[pick]
    rest = rng.standard_t(nu, (n, b - 1))
    bad = np.abs(rest) >= (top / k)[:, None]
    while bad.any():
        rest[bad] = rng.standard_t(nu, int(bad.sum()))
        bad = np.abs(rest) >= (top / k)[:, None]
    x = np.concatenate([(top * rng.choice([-1.0, 1.0], n))[:, None], k[:, None] * rest], axis=1)
    return x, pick


def _ratio(err: np.ndarray, energy: np.ndarray) -> tuple[float, float]:
    """The ratio estimator sum(err) / sum(energy) over blocks and its delta-method SE."""
    ratio = err.sum() / energy.sum()
    return ratio, float(np.std(err - ratio * energy) * math.sqrt(err.size) / energy.sum())


def _bodies(nu: float, m, kappa) -> list[float]:
    """Mean square of kappa t(nu) truncated to |kappa t| < m, per stratum (quadrature)."""
    from scipy import integrate, stats

    t = stats.t(nu)
    return [k * k * integrate.quad(lambda u: u * u * t.pdf(u), -c, c)[0] / (1 - 2 * t.sf(c))
            for k, c in zip(kappa, np.asarray(m) / np.asarray(kappa))]  # fmt: skip


def test_law_keeps_the_weighted_mean_square_maximum_and_the_tail():
    rng = np.random.default_rng(0)
    m = np.abs(rng.standard_t(4.0, 50_000)) + 1.0
    w = rng.uniform(0.5, 2.0, m.size)
    law = block_max_law(m, w)
    lm, lw = np.array(law["m"]), np.array(law["weight"])
    assert lw.sum() == pytest.approx(1.0, abs=1e-6)  # 7 significant digits stored
    assert np.dot(lw, lm**2) == pytest.approx(np.sum(w * m * m) / w.sum(), rel=1e-6)
    assert np.all(np.diff(lm) > 0)  # strata in rank order
    edges = rank_edges(m.size)
    assert edges[0] == 0 and edges[-1] == m.size and np.all(np.diff(edges) >= 2)
    assert lm[-1] >= np.sort(m)[-2]  # the last stratum is the top couple of blocks
    body = m * rng.uniform(0.1, 0.5, m.size)  # each block's mean square below its maximum
    lb = np.array(block_max_law(m, w, body)["body"])
    assert np.dot(lw, lb) == pytest.approx(np.sum(w * body) / w.sum(), rel=1e-6)


def test_law_keeps_each_strata_share_of_the_blocks_and_their_scales():
    """Unweighted block shares and mean log2 scale per stratum, against the same computed
    directly over the sorted blocks (the top stratum's scales are larger: maxima grow with
    them here), and per group of strata quantiles of the blocks' deviations from their
    stratum's mean: each point has its share of the group's blocks below it."""
    rng = np.random.default_rng(2)
    m = np.abs(rng.standard_t(4.0, 20_000)) + 1.0
    log_s = rng.normal(0.0, 0.5, m.size) + 0.3 * np.log2(m)
    log_s[rng.random(m.size) < 0.15] -= 3.0  # some rows of tiny scale (special tokens)
    law = block_max_law(m, rng.uniform(0.5, 2.0, m.size), None, 2.0**log_s)
    edges = rank_edges(m.size)
    order = np.argsort(m, kind="stable")
    strata = [log_s[order][a:b] for a, b in itertools.pairwise(edges)]
    np.testing.assert_allclose(law["blocks"], np.diff(edges) / m.size, rtol=1e-6)
    np.testing.assert_allclose(law["scale_log2"], [g.mean() for g in strata], atol=5e-5)  # 4 dec.
    assert law["scale_log2"][-1] > law["scale_log2"][0] + 1.0
    of = np.array(law["offset_of"])
    for g, (rep, share) in enumerate(zip(law["scale_dev"], law["scale_dev_weight"])):
        dev = np.concatenate([s - s.mean() for s, k in zip(strata, of) if k == g])
        assert len(rep) == len(share) < 2 * SCALE_POINTS
        assert sum(share) == pytest.approx(1.0, abs=1e-3)  # 4 digits each (renormalised)
        # each part carries its blocks' mean squared scale factor: the group's is kept
        assert np.dot(share, 4.0 ** np.array(rep)) == pytest.approx(np.mean(4.0**dev), rel=1e-3)
    first = law["scale_dev"][0]  # the tiny rows are a low part, not a wider spread:
    assert first[0] < -2.5 and abs(first[len(first) // 2]) < 0.5


def test_a_row_s_energy_and_scale_given_once_give_the_law_of_them_repeated():
    """`per_group`: a row's energy and scale given once for its blocks (what `profile_array`
    passes) are the law of the same values repeated per block."""
    rng = np.random.default_rng(5)
    rows, per_row = 500, 8
    m = np.abs(rng.standard_t(4.0, rows * per_row)) + 0.5
    body = rng.uniform(0.1, 0.3, m.size) * m * m
    energy, scale = rng.uniform(0.5, 2.0, rows), 2.0 ** rng.normal(0, 1, rows)
    repeated = block_max_law(m, np.repeat(energy, per_row), body, np.repeat(scale, per_row))
    assert block_max_law(m, energy, body, scale, per_group=per_row) == repeated


def test_a_law_of_a_few_scales_is_kept_exactly():
    """Rows at two scales two octaves apart (6 : 1): two parts with their exact shares."""
    dev = np.repeat([-2.0 / 7.0, 12.0 / 7.0], [600, 100])
    reps, shares = group_bins(dev, np.array([0]), [0])
    assert reps == [[-0.2857, 1.7143]] and shares == [[0.8571, 0.1429]]


@pytest.mark.parametrize("nu", [2.5, 4.0, 10.0, math.inf])
def test_body_scale_gives_the_measured_body(nu):
    """kappa^2 E[T^2 | |T| <= m / kappa] = body, the truncated moment integrated by quad, for
    bodies from nearly uniform on [-m, m] to far below m^2 / 3 (the search's bounds hold)."""
    from scipy import integrate, stats

    from dse.error.student import Student

    t = stats.norm() if math.isinf(nu) else stats.t(nu)
    m = np.array([0.3, 1.0, 2.5, 4.0, 9.0, 30.0])
    ratio = np.array([0.33, 0.3, 0.2, 0.1, 0.02, 1e-3])  # body / m^2 (at most 1/3)
    kappa = body_scale(Student(nu), m, ratio * m * m)
    for mi, ri, k in zip(m, ratio, kappa):
        c = mi / k
        second = integrate.quad(lambda x: x * x * t.pdf(x), -c, c, epsabs=0, epsrel=1e-13)[0]
        assert k * k * second / (t.cdf(c) - t.cdf(-c)) == pytest.approx(ri * mi * mi, rel=1e-9)


def test_trimmed_rms_leaves_out_only_the_largest_percent():
    rng = np.random.default_rng(1)
    body = rng.standard_normal((3, 400))
    spiked = body.copy()
    spiked[:, 7] = 1e3
    np.testing.assert_allclose(trimmed_rms(spiked), trimmed_rms(body), rtol=0.02)
    small = rng.standard_normal((5, 16))  # under 100 values: nothing left out
    np.testing.assert_allclose(trimmed_rms(small), np.sqrt(np.mean(small**2, axis=1)))


@pytest.fixture(scope="module")
def spiked():
    """Rows of t(10) values; every 25th row carries one value 30 times its body's RMS."""
    rng = np.random.default_rng(2)
    x = rng.standard_t(10.0, (400, 1024)) * 2.0 ** rng.normal(0.0, 0.3, (400, 1))
    rows = np.arange(0, 400, 25)
    x[rows, rng.integers(0, 1024, rows.size)] = 30.0 * np.sqrt(np.mean(x[rows] ** 2, axis=1))
    return x


@pytest.mark.parametrize("name", ["int8/ch", "int4/g128", "int3/g64", "anda(m=3)", "mxfp4",
                                  "nf4/g64"])  # fmt: skip
def test_outlier_rows_are_predicted_from_the_measured_law(spiked, name):
    stats = profile_array(spiked, "float64")
    r = error_for_stats(name, stats)
    assert r.kind.startswith("model: block maximum's law")
    assert r.nmse == pytest.approx(_measured(name, spiked), rel=0.04)


def test_the_t_fit_alone_mispredicts_the_outlier_rows(spiked):
    """The defect the law fixes: the same within-group t without it is far off."""
    stats = profile_array(spiked, "float64")
    fit = stats["within_group"]
    alone = error("int8/ch", fit["nu"], block=1024).nmse
    assert abs(alone / _measured("int8/ch", spiked) - 1) > 0.3


@pytest.mark.parametrize("name", ["int4/g128", "nvfp4", "mxfp4"])
def test_on_t_data_the_law_agrees_with_the_t_model(name):
    rng = np.random.default_rng(3)
    x = rng.standard_t(5.0, (512, 4096))
    stats = profile_array(x, "float64")
    law = error_for_stats(name, stats).nmse
    assert law == pytest.approx(_measured(name, x), rel=0.02)
    assert law == pytest.approx(error(name, 5.0).nmse, rel=0.03)


@pytest.fixture(scope="module")
def heads():
    """Rows of 12 normal "heads" of 32 values, each head at its own scale (0.4 octaves apart,
    the same in every row): blocks of 32 are homogeneous, rows are not (attention outputs)."""
    rng = np.random.default_rng(3)
    scale = 2.0 ** rng.normal(0.0, 0.4, 12)
    return (rng.standard_normal((2000, 12, 32)) * scale[None, :, None]).reshape(2000, 384)


@pytest.mark.parametrize("name", ["int4/g32", "int4/g128", "nvfp4", "nf4/g64", "int8/ch",
                                  "mxfp4"])  # fmt: skip
def test_blocks_of_different_scales_are_predicted_from_their_measured_body(heads, name):
    """Defect: the row's t, fitted to all its heads at once, is heavier-tailed than any one
    block, and INT4/g32 was predicted 44 % high (INT4/g128 14 %, MXFP4 16 %); the law's
    per-stratum body mean square puts every format within 3 %."""
    stats = profile_array(heads, "float64")
    assert error_for_stats(name, stats).nmse == pytest.approx(_measured(name, heads), rel=0.03)


@pytest.mark.parametrize("name", ["blockdialect(sel=two-stage)", "blockdialect(sel=min-error)",
                                  "blockdialect/b16"])  # fmt: skip
def test_per_block_choices_run_on_the_measured_law(heads, name):
    """Defect: the per-block choices took the row's t and missed the same way (BlockDialect
    two-stage +13 %, min-error +23 %, b16 +7 %); on the law (body scale and offsets) they
    are within 3 %."""
    stats = profile_array(heads, "float64")
    r = error_for_stats(name, stats)
    assert LAW_NOTE in r.kind
    assert r.nmse == pytest.approx(_measured(name, heads), rel=0.03)


@pytest.fixture(scope="module")
def tokens():
    """Token rows (activations): t(6) values, each row at its own scale (0.7 octaves apart),
    three outlier channels 12 times the body."""
    rng = np.random.default_rng(5)
    x = rng.standard_t(6, (3000, 384)) * 2.0 ** rng.normal(0.0, 0.7, (3000, 1))
    x[:, [7, 100, 250]] *= 12.0
    return x


@pytest.mark.parametrize("tensor", ["heads", "outlier_channels", "tokens"])
@pytest.mark.parametrize("name", ["nvfp4(cal=4)", "fp4fp8(p=0.3)", "fp4fp8(p=0.1)",
                                  "fp4fp8(threshold=0.5)"])  # fmt: skip
def test_choices_seeing_the_tensor_run_on_the_measured_law(request, tensor, name):
    """Defect: NVFP4(cal=4) (a tensor maximum in its scales) and the FP4/FP8 mix (blocks
    ranked tensor-wide) took the row's t: on outlier channels -29 % and -25 % (p = 0.3) /
    -37 % (p = 0.1), on heads the mix +27 %, on token rows +25 % / +30 %. On the law, with
    the blocks' scales in data units per stratum and the maxima over the tensor's, within
    3.5 %."""
    x = request.getfixturevalue(tensor)
    r = error_for_stats(name, profile_array(x, "float64"))
    assert LAW_NOTE in r.kind
    assert r.nmse == pytest.approx(_measured(name, x), rel=0.035)


def test_two_level_scales_see_the_block_maxima_over_the_tensors(outlier_channels):
    """Defect: NVFP4's per-block E4M3 scale rounds a block's maximum over the tensor's; taken
    as if every row had one scale, fixed-size outliers were predicted 7 % low. The law's
    maxima in data units (offsets and the strata's scales) and the tensor's maximum put it
    within 2 %; a profile without them keeps the old answer."""
    stats = profile_array(outlier_channels, "float64")
    assert stats["amax"] == np.abs(outlier_channels).max()
    got = error_for_stats("nvfp4", stats).nmse
    assert got == pytest.approx(_measured("nvfp4", outlier_channels), rel=0.02)
    old = {key: value for key, value in stats.items() if key != "amax"}
    assert abs(error_for_stats("nvfp4", old).nmse / got - 1) > 0.04


@pytest.mark.parametrize("name", ["blockdialect(sel=two-stage)", "blockdialect(sel=min-error)"])
def test_given_a_law_a_choice_matches_monte_carlo_of_that_law(name):
    """Blocks of two strata (maxima 2.5 and 6 in standard units, bodies kappa t(6) below them
    with kappa 0.5 and 1.6) at data scales putting the maximum 0.3 and 0.8 of the way between
    powers of two, through BlockDialect's real selector; errors in standard units."""
    fmt, nu, b = parse(name), 6.0, 32
    m, kappa, offset = np.array([2.5, 6.0]), np.array([0.5, 1.6]), np.array([0.3, 0.8])
    law = {"m": list(m), "weight": [0.7, 0.3], "body": _bodies(nu, m, kappa),
           "offsets": [[o] * 4 for o in offset], "offset_of": [0, 1]}  # fmt: skip
    model = choice_given_max_law(fmt, nu, law, b)
    x, pick = _law_blocks(np.random.default_rng(7), 30_000, b, nu, m, kappa)
    sigma = (2.0 ** (offset[pick] - np.log2(m[pick])))[:, None]  # data = sigma x
    err = np.sum((fmt.quantize(sigma * x, axis=-1) / sigma - x) ** 2, axis=1)
    ratio, se = _ratio(err, np.sum(x * x, axis=1))
    se = math.hypot(se, model.se or 0.0)
    assert abs(model.nmse - ratio) < 3 * se, (model.nmse, ratio, se)


@pytest.mark.parametrize("name", ["fp4fp8(p=0.3)", "fp4fp8(threshold=2.0)", "nvfp4(cal=4)"])
def test_given_a_law_a_tensor_wide_choice_matches_monte_carlo_of_that_law(name):
    """Three strata (maxima 2.5, 4 and 9 in standard units, bodies kappa t(6) below them),
    each at its own data scale (2^-1, 2^0.4, 2^1.2: blocks of the third rank high on scale
    and content), one block in seven four times larger, quantized as one tensor by the real
    format: the mix ranks all its blocks and NVFP4's scales see the tensor's maximum. The
    law carries what the profile measures (energy and block shares, bodies, offsets, scales
    and their parts; the data maximum)."""
    fmt, nu, b = parse(name), 6.0, 16
    m, kappa = np.array([2.5, 4.0, 9.0]), np.array([0.8, 1.0, 1.3])
    count, log_s = np.array([0.6, 0.3, 0.1]), np.array([-1.0, 0.4, 1.2])
    rng = np.random.default_rng(9)
    x, pick = _law_blocks(rng, 60_000, b, nu, m, kappa, count)
    dev = np.where(rng.random(pick.size) < 1 / 7, 12 / 7, -2 / 7)  # mean 0
    data = x * 2.0 ** (log_s[pick] + dev)[:, None]
    energy = count * 4.0**log_s
    law = {"m": list(m), "weight": list(energy / energy.sum()), "body": _bodies(nu, m, kappa),
           "offsets": [[float(np.mod(np.log2(v) + s - 2 / 7, 1.0))] * 4
                       for v, s in zip(m, log_s)],
           "offset_of": [0, 1, 2], "blocks": list(count), "scale_log2": list(log_s),
           "scale_dev": [[-2 / 7, 12 / 7]] * 3,
           "scale_dev_weight": [[6 / 7, 1 / 7]] * 3}  # fmt: skip
    model = choice_given_max_law(fmt, nu, law, b, data_amax=float(np.abs(data).max()))
    assert LAW_NOTE in model.kind
    err = np.sum((fmt.quantize(data, axis=-1) - data) ** 2, axis=1)
    ratio, se = _ratio(err, np.sum(data * data, axis=1))
    assert abs(model.nmse - ratio) < max(3 * se, 0.01 * ratio), (model.nmse, ratio, se)


@pytest.mark.parametrize("name", ["fp4fp8(p=0.3)", "fp4fp8(p=0.1)"])
def test_all_zero_blocks_count_in_the_mixs_share(name):
    """Defect: the law's strata of all-zero blocks are dropped, and the mix's share p was
    taken over the other blocks (+9.5 % at p = 0.3 with one block in eight zero); the
    selector ranks the zero blocks too (last)."""
    x = np.random.default_rng(4).standard_t(5, (1000, 256))
    x[:, 32:64] = 0.0
    got = error_for_stats(name, profile_array(x, "float64")).nmse
    assert got == pytest.approx(_measured(name, x), rel=0.02)


def _rows_at_two_scales() -> np.ndarray:
    x = np.random.default_rng(4).standard_t(5, (1000, 256))
    x[::7] *= 4.0
    return x


def _tokens_with_a_far_row() -> np.ndarray:
    rng = np.random.default_rng(5)
    x = rng.standard_t(6, (3000, 384)) * 2.0 ** rng.normal(0.0, 0.7, (3000, 1))
    x[:, [7, 100, 250]] *= 12.0
    x[5] *= 2.0**-10
    return x


@pytest.mark.parametrize(("make", "name"), [
    (_rows_at_two_scales, "fp4fp8(p=0.3)"), (_rows_at_two_scales, "fp4fp8(threshold=1.0)"),
    (_tokens_with_a_far_row, "fp4fp8(p=0.3)"),
    (_tokens_with_a_far_row, "fp4fp8(p=0.1)")])  # fmt: skip
def test_the_mix_sees_the_law_of_the_blocks_scales(make, name):
    """Defect: the scales about each stratum's mean were kept as 8 equally weighted parts;
    with one row in seven four times larger a part straddled the two scales and the mix was
    +4.4 % (p = 0.3) and +8.1 % (threshold) off. Parts split at quantiles and at equal steps
    of the range keep both scales, and one far row (2^-10) does not widen the others' parts
    (equal steps alone: +9.1 %)."""
    x = make()
    got = error_for_stats(name, profile_array(x, "float64")).nmse
    assert got == pytest.approx(_measured(name, x), rel=0.025)


@pytest.fixture(scope="module")
def outlier_channels():
    """Normal rows of 12 blocks of 32 whose sixth channel is an outlier of fixed size (2^2.93
    or 2^3.93 times the body, 1 % jitter, random sign): each block's maximum sits at the same
    place between powers of two in every row, wherever the row's own scale sits."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2000, 12, 32))
    size = 2.0 ** (rng.integers(2, 4, 12) + 0.93)
    jitter = 1.0 + 0.01 * rng.standard_normal((2000, 12))
    x[:, :, 5] = size * jitter * rng.choice([-1.0, 1.0], (2000, 12))
    return x.reshape(2000, 384)


@pytest.mark.parametrize(("name", "rel"), [("mxfp6e2m3", 0.05), ("mxfp4", 0.03),
                                           ("mxfp8e4m3", 0.03)])  # fmt: skip
def test_power_of_two_scales_see_where_the_block_maxima_sit(outlier_channels, name, rel):
    """Defect: the law paired each stratum's maximum with where the rows' scales sit between
    powers of two, as if independent; with maxima of fixed size they are not, and MXFP6 was
    predicted 25 % high. The law now records the maxima's own offsets per group of strata."""
    stats = profile_array(outlier_channels, "float64")
    law = stats["within_group"]["block_max"]["32"]
    assert len(law["offset_of"]) == len(law["m"]) and max(law["offset_of"]) < len(law["offsets"])
    # the top strata hold the outliers: their offsets sit at 0.93 (+ the jitter's top)
    top = law["offsets"][law["offset_of"][-1]]
    assert min(top) > 0.9 and max(top) < 1.0
    got = error_for_stats(name, stats).nmse
    assert got == pytest.approx(_measured(name, outlier_channels), rel=rel)


def test_offsets_are_equal_weight_quantiles_per_group_of_strata():
    from dse.error.empirical_max import OFFSET_POINTS, stratum_offsets

    rng = np.random.default_rng(9)
    frac = rng.random(10_000)
    starts = rank_edges(frac.size)[:-1]
    offsets, of = stratum_offsets(frac, np.ones(frac.size), starts)
    assert len(of) == starts.size and of == sorted(of) and of[-1] == len(offsets) - 1
    assert all(len(g) == OFFSET_POINTS for g in offsets)
    # uniform offsets: each group's points near (i + 1/2) / OFFSET_POINTS
    expected = (np.arange(OFFSET_POINTS) + 0.5) / OFFSET_POINTS
    np.testing.assert_allclose(offsets[0], expected, atol=0.03)
    # weights count: 100 blocks of weight 3 at 0.8 among 900 of weight 1 at 0.2: a quarter
    w = np.repeat([1.0, 3.0], [900, 100])
    g, _ = stratum_offsets(np.repeat([0.2, 0.8], [900, 100]), w, np.array([0]))
    assert sum(v > 0.5 for v in g[0]) == OFFSET_POINTS // 4


@pytest.mark.parametrize(("name", "offset"), [("int4/g32", None), ("mxfp4", 0.3),
                                              ("anda(m=3)", 0.8)])  # fmt: skip
def test_given_a_law_the_model_matches_monte_carlo_of_that_law(name, offset):
    """Blocks whose maximum is one of two values (signs random), the rest iid t(6) below it
    by rejection, quantized by the real quantizer at the data scale 2^offset."""
    fmt, nu, b = parse(name), 6.0, parse(name).blocking.size
    law = {"m": [2.5, 6.0], "weight": [0.7, 0.3]}
    offsets = None if offset is None else {"offset": [offset], "weight": [1.0]}
    model = error_given_max_law(fmt, nu, law, b, math.inf, offsets)
    x = _law_blocks(np.random.default_rng(4), 40_000, b, nu, law["m"])[0]
    x *= 2.0 ** (offset or 0.0)
    ratio, se = _ratio(np.sum((fmt.quantize(x, axis=-1) - x) ** 2, axis=1), np.sum(x * x, axis=1))
    assert abs(model - ratio) < 3 * se, (model, ratio, se)


@pytest.mark.parametrize("name", ["int4/g32", "nvfp4"])
def test_given_a_law_with_bodies_the_model_matches_monte_carlo_of_that_law(name):
    """As above, the values below each maximum kappa t(6) (kappa 0.5 and 1.6 for the two
    maxima), truncated to |kappa t| < m; the law carries their mean squares (quadrature)."""
    fmt, nu, b = parse(name), 6.0, parse(name).blocking.size
    m, kappa = np.array([2.5, 6.0]), np.array([0.5, 1.6])
    law = {"m": list(m), "weight": [0.7, 0.3], "body": _bodies(nu, m, kappa)}
    model = error_given_max_law(fmt, nu, law, b, float(m.max()))  # NVFP4's tensor maximum
    x = _law_blocks(np.random.default_rng(6), 40_000, b, nu, m, kappa)[0]
    ratio, se = _ratio(np.sum((fmt.quantize(x, axis=-1) - x) ** 2, axis=1), np.sum(x * x, axis=1))
    assert abs(model - ratio) < 3 * se, (model, ratio, se)


def test_a_block_size_the_profile_did_not_record_falls_back_to_the_t_model():
    x = np.random.default_rng(5).standard_t(5.0, (64, 4096))
    stats = profile_array(x, "float64")
    assert "512" not in stats["within_group"]["block_max"]
    assert error_for_stats("int4/g512", stats).kind == "exact"
    assert error_for_stats("int4/g128", stats).kind.startswith("model")


def test_all_zero_blocks_add_neither_error_nor_energy():
    """Defect: a law with all-zero blocks (sparse tensors) gave NaN."""
    fmt, law = parse("int4/g16"), {"m": [0.0, 2.5, 4.0], "weight": [0.5, 0.3, 0.2]}
    with_zeros = error_given_max_law(fmt, 5.0, law, 16, math.inf)
    without = error_given_max_law(fmt, 5.0, {"m": [2.5, 4.0], "weight": [0.6, 0.4]}, 16,
                                  math.inf)  # fmt: skip
    assert with_zeros == pytest.approx(without, rel=1e-12)
    assert math.isnan(error_given_max_law(fmt, 5.0, {"m": [0.0], "weight": [1.0]}, 16, 1.0))


def test_tensors_outside_the_analytic_range_fall_back_to_the_class_fit():
    """A profiled tensor whose within-group nu is below the analytic range (2.1) would raise
    inside a sweep; `error_for_tensors` then declines (None) and the class statistics apply."""
    from dse.error.profile import error_for_tensors

    x = np.random.default_rng(6).standard_t(5.0, (64, 1024))
    good = profile_array(x, "float64")
    bad = {**good, "within_group": {**good["within_group"], "nu": 1.9}}
    assert error_for_tensors("int4/g128", [good]) == pytest.approx(
        error_for_stats("int4/g128", good).nmse)
    assert error_for_tensors("int4/g128", [good, bad]) is None
