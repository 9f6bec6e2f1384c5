"""BlockDialect's minimum-error selection (`dse.error.min_choice`): the split level where the
dialects' codebooks part, the value's determinism and reported sampling error, its place
between the exact bounds, and candidate sets without a model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dse.error import error, min_choice
from dse.error.api import _analytic
from dse.error.codebook import codebook, codebook_of_levels
from dse.error.min_choice import Bands, TailQuantile, _count_cdf, split_level, symmetric
from dse.error.student import Student
from dse.errors import ModelLimitError
from dse.formats import ChoiceFormat, parse
from dse.formats.selectors import MinErrorRule


def test_split_level_is_the_first_threshold_above_the_shared_levels():
    a = codebook_of_levels((-6, -4, -2, -1, 0, 1, 2, 4, 6), "even")
    b = codebook_of_levels((-7, -5, -2, -1, 0, 1, 2, 5, 7), "even")
    assert split_level([a, b]) == pytest.approx(3.0)  # (2 + 4) / 2 < (2 + 5) / 2
    assert split_level([a, a]) == math.inf  # equal codebooks never part
    c = codebook_of_levels((-1, 1), "even")  # no shared non-negative level with a
    assert split_level([a, c]) == 0.0
    assert symmetric(a) and not symmetric(codebook_of_levels((-1, 0, 1, 2), "even"))
    dialects = [codebook(c.element, c.rounding) for c in parse("blockdialect/b32").candidates]
    # DialectFP4's 16 dialects share 0, 0.5, 1, 1.5, 2; dialect 15 goes on with 2.5, the
    # others with 3: they part at (2 + 2.5) / 2
    assert split_level(dialects) == pytest.approx(2.25)


@pytest.mark.parametrize("nu", [4.0, math.inf])
def test_min_error_lies_between_its_exact_bounds_and_is_deterministic(nu):
    """Below the two-stage choice and the best single dialect (selections the minimum never
    does worse than), above every value taking its best level of the union codebook."""
    fmt = parse("blockdialect/b16")
    r = error(fmt, nu)
    assert r == error(parse("blockdialect/b16"), nu)  # seeded: the same value every time
    two = error("blockdialect(sel=two-stage)/b16", nu).nmse
    assert r.nmse < two
    union = sorted({float(v) for c in fmt.candidates for v in c.element.values})
    assert np.isfinite(r.nmse) and r.se > 0
    # the lower bound: Monte Carlo of the union codebook per value, at the dialects' scale
    rng = np.random.default_rng(0)
    x = rng.standard_t(nu, (4096, 16)) if math.isfinite(nu) else rng.standard_normal((4096, 16))
    q = fmt.candidates[0].quantize(x)  # any dialect gives the block's shared scale
    scale = np.abs(q).max(axis=1, keepdims=True) / max(np.abs(fmt.candidates[0].element.values))
    levels = np.array(union)
    nearest = levels[np.abs(x[..., None] / scale[..., None] - levels).argmin(axis=-1)] * scale
    var = nu / (nu - 2) if math.isfinite(nu) else 1.0
    assert np.mean((x - nearest) ** 2) / var < r.nmse


def test_candidates_without_a_shared_scale_have_no_model():
    mixed = ChoiceFormat("int4-or-e2m1", (parse("int4/g32"), parse("e2m1/g32")), 32,
                         MinErrorRule())
    with pytest.raises(ModelLimitError, match=r"sharing one scale.*montecarlo"):
        error(mixed, 5.0)
    mc = error(mixed, 5.0, method="montecarlo", samples=1 << 14)
    assert mc.nmse < min(error("int4/g32", 5.0).nmse, error("e2m1/g32", 5.0).nmse)


@pytest.mark.parametrize("nu", [2.5, 5.0, math.inf])
def test_tail_quantile_table_matches_the_inverse_cdf(nu):
    """The sampler's interpolated tail quantile against scipy's inverse (`Student.isf`)."""
    dist = Student(nu)
    quantile = TailQuantile(dist, 1e-30)
    rng = np.random.default_rng(1)
    q = np.concatenate([np.exp(rng.uniform(math.log(1e-30), math.log(0.5), 1 << 16)),
                        [1e-30, 0.5]])  # fmt: skip
    x, y = dist.isf(q), quantile(q)
    big = x > 1
    assert np.max(np.abs(y - x)[~big]) < 1e-6
    assert np.max(np.abs(y[big] / x[big] - 1)) < 1e-7


def test_band_lookup_matches_a_binary_search():
    """`Bands.index` by grid table (dyadic thresholds) and by search agree, cuts included."""
    cbs = [codebook(c.element, c.rounding) for c in parse("blockdialect/b32").candidates]
    bands = Bands(cbs, split_level(cbs))
    assert bands.cells._grid[0] == 4.0  # DialectFP4's thresholds sit on quarter units
    y = np.concatenate([np.random.default_rng(0).uniform(2.25, 9.0, 1 << 16), bands.cuts,
                        np.nextafter(bands.cuts, 0.0)])  # fmt: skip
    assert np.array_equal(bands.index(y), np.searchsorted(bands.cuts, y, side="right"))
    odd = Bands([codebook_of_levels((-3.3, 0.0, 1.0, 3.3), "even"),
                 codebook_of_levels((-2.9, 0.0, 1.0, 2.9), "even")], 0.5)  # fmt: skip
    assert odd.cells._grid is None  # thresholds off any dyadic grid: the search itself
    assert np.array_equal(odd.index(np.array([0.6, 2.0, 2.2, 3.0])), [0, 1, 2, 2])


def test_reported_standard_error_matches_the_spread_over_seeds(monkeypatch):
    """The sampled gain's reported standard error (two blocks per weight slice, control
    variates) against the spread of the value over 16 independent seeds."""
    values, ses = [], []
    for seed in range(16):
        monkeypatch.setattr(min_choice, "GAIN_SEED", seed)
        _analytic.cache_clear()  # values are cached per (format, setting)
        r = error("blockdialect/b16", 5.0)
        values.append(r.nmse)
        ses.append(r.se)
    spread, se = float(np.std(values, ddof=1)), float(np.mean(ses))
    assert se < 1.2e-3 * np.mean(values)  # the target precision, GAIN_RSE
    assert 0.55 * se < spread < 1.6 * se  # chi-square with 15 d.o.f.: 99.8 % interval


def test_min_error_has_no_block_limit():
    """The minimum-error model samples counts, not the two-stage's multinomial sums: blocks
    beyond the two-stage limit (601 values) have a value, below the best single dialect and
    within 3 SE of the real selector."""
    r = error("blockdialect/g1024", 5.0)
    fmt = parse("blockdialect/g1024")
    single = min(error(c, 5.0, block=1024).nmse for c in fmt.candidates)
    mc = error("blockdialect/g1024", 5.0, method="montecarlo", samples=1 << 20,
               sampler="stratified")  # fmt: skip
    assert r.nmse < single
    assert abs(r.nmse - mc.nmse) < 3 * mc.se


def test_duplicate_candidates_give_the_value_without_them():
    """A candidate listed twice adds an identical control variate (a singular system, which
    raised LinAlgError): the value equals that of the set without the copy."""
    c = parse("blockdialect/b32").candidates
    dup = ChoiceFormat("dup", (c[0], c[0], c[5]), 32, MinErrorRule())
    two = ChoiceFormat("two", (c[0], c[5]), 32, MinErrorRule())
    r, ref = error(dup, 5.0), error(two, 5.0)
    assert r.nmse == pytest.approx(ref.nmse, abs=3 * math.hypot(r.se, ref.se))


def test_block_counts_by_inverse_cdf_follow_the_binomial_law():
    """The counts drawn from one offset table for several nodes (p = 0 and 1 included) are
    scipy's binomial quantiles of the same uniforms."""
    from scipy import stats

    n, p = 31, np.array([0.0, 0.03, 0.4, 0.97, 1.0])
    table = _count_cdf(n, p)
    u = np.random.default_rng(1).random((p.size, 2000))
    node = np.repeat(np.arange(p.size), u.shape[1])
    counts = np.searchsorted(table, node + u.ravel(), side="right") - node * n
    expected = stats.binom.ppf(u, n, p[:, None])  # the least k with P(N <= k) >= u
    np.testing.assert_array_equal(counts.reshape(u.shape), expected)
