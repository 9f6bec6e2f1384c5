"""Closed-form and convergence checks of the analytic error model, computed another way."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, optimize, stats

from dse.error import error, gemm_nmse, nmse, optimal_clip
from dse.error.analytic import Setting, scaled_error
from dse.error.blockmax import lane_max_nodes, max_nodes, median_max
from dse.error.codebook import ScaledCells, codebook, codebook_of_levels, max_error
from dse.error.student import Student
from dse.errors import UserError
from dse.formats import parse

NUS = [2.5, 3.0, 4.7, 30.0, math.inf]


@pytest.mark.parametrize("nu", NUS)
@pytest.mark.parametrize("x", [0.0, 0.3, 2.0, 6.0, 40.0])
def test_partial_moments_match_numerical_integration(nu, x):
    d = Student(nu)
    pdf = stats.norm.pdf if math.isinf(nu) else (lambda y: stats.t.pdf(y, nu))
    got = d.upper_moments(np.array(x))
    for k in range(3):
        ref = integrate.quad(lambda y, k=k: y**k * pdf(y), x, np.inf, epsabs=1e-15, epsrel=1e-12)
        assert got[k] == pytest.approx(ref[0], rel=1e-9, abs=1e-15)
    if x == 0.0:  # the closed form at 0
        np.testing.assert_allclose(d.upper_at_zero, got, rtol=1e-14)


@pytest.mark.parametrize("nu", [3.0, 8.0, math.inf])
def test_far_tail_cells_keep_relative_precision(nu):
    d = Student(nu)
    pdf = stats.norm.pdf if math.isinf(nu) else (lambda x: stats.t.pdf(x, nu))
    a, b, q = (30.0, 30.5, 30.25) if nu < 10 else (7.0, 7.01, 7.005)
    h = b - a
    levels = (0.0, q - h, q, q + h)  # the cell of q is [a, b), probability ~1e-6 .. 1e-12
    levels = tuple(sorted({-v for v in levels} | set(levels)))  # and its mirror (-b, -a]
    got = ScaledCells(d, codebook_of_levels(levels, "even"), np.array([1.0])).errors
    ref = integrate.quad(lambda x: (x - q) ** 2 * pdf(x), a, b, epsrel=1e-12, epsabs=0)[0]
    assert got[0, 2] == pytest.approx(2 * ref, rel=1e-6)  # folded: both signs, |x| in [a, b)


@pytest.mark.parametrize("nu", [3.0, 5.0, math.inf])
def test_fine_uniform_grid_gives_step_squared_over_12(nu):
    step = 1e-3
    levels = tuple(np.arange(-20000, 20001) * step)
    d = Student(nu)
    cb = codebook_of_levels(levels, "even")
    inner = ScaledCells(d, cb, np.array([1.0])).errors[0, :-1].sum()  # without |x| > 19.9995
    p = d.cdf(cb.thresholds[-1]) - d.cdf(cb.thresholds[0])
    assert inner == pytest.approx(step**2 / 12 * p, rel=1e-5)


@pytest.mark.parametrize(
    "name", ["e2m1", "int4", "int8", "e3m2", "e2m3", "e2m1+sr", "nf4", "e4m3", "apot4"]
)
def test_codebook_cells_by_table_match_a_binary_search(name):
    """`Codebook.cell`'s grid look-up (dyadic thresholds) is the count of thresholds <= v,
    at and beside every threshold, at +-0 and +-inf; other codebooks search."""
    fmt = parse(f"{name}/g32")
    cb = codebook(fmt.element, fmt.rounding)
    t = cb.thresholds
    v = np.concatenate([np.random.default_rng(0).standard_t(3, 1 << 16) * t[-1], t,
                        np.nextafter(t, -np.inf), np.nextafter(t, np.inf),
                        [0.0, -0.0, np.inf, -np.inf]])  # fmt: skip
    assert np.array_equal(cb.cell(v), np.searchsorted(t, v, side="right"))
    assert (cb._grid is None) == (name in ("nf4", "e4m3", "apot4"))  # off-grid or too fine


def test_optimal_clipping_of_a_4bit_uniform_grid_on_a_normal():
    cb = codebook_of_levels(tuple(np.linspace(-1.0, 1.0, 16)), "even")
    d = Student(math.inf)
    res = optimize.minimize_scalar(
        lambda a: ScaledCells(d, cb, np.array([a])).total()[0], bounds=(1.5, 4), method="bounded"
    )
    # Max (1960) optimal uniform 16-level quantizer: step 0.3352, outer levels +-7.5 steps
    assert res.x == pytest.approx(7.5 * 0.3352, abs=0.01)


@pytest.mark.parametrize("nu", [3.0, 5.0, math.inf])
@pytest.mark.parametrize("block", [1, 16, 128, 4096])
def test_block_max_quadrature_is_a_probability_measure_with_the_right_mean(nu, block):
    d = Student(nu)
    nodes = max_nodes(d, block)
    assert nodes.weight.sum() == pytest.approx(1.0, abs=1e-12)
    g = lambda m: block * (2 * d.cdf(m) - 1) ** (block - 1) * 2 * d.pdf(m)  # noqa: E731
    ref = integrate.quad(lambda m: m * g(m), 0, np.inf, limit=500, epsrel=1e-10)[0]
    assert np.dot(nodes.weight, nodes.m) == pytest.approx(ref, rel=5e-5)


@pytest.mark.parametrize("name", ["int4/g128", "e2m1+sr/g32", "mxfp4", "nvfp4", "anda(m=4)"])
@pytest.mark.parametrize("nu", [3.0, math.inf])
def test_quadrature_converged(name, nu):
    d = Student(nu)
    fmt = parse(name)
    st = Setting(d, fmt.block_size, None, median_max(d, 1 << 24))
    assert scaled_error(fmt, st) == pytest.approx(scaled_error(fmt, st, 400), rel=5e-5)


@pytest.mark.parametrize("name", ["mxfp4", "anda(m=3)", "e4m3/g32:e8m0@0.9"])
def test_sigma_offset_average_converged(monkeypatch, name):
    """The offset average with PIECE_OFFSETS / OFFSETS offsets against 64 offsets, for blocks
    in each tier (the documented bounds: 4.7e-6, 2.1e-6, 3e-6 relative)."""
    import dse.error.analytic as an

    d = Student(np.array([3.0, 5.0, math.inf]))
    blocks = [8, 64, 128, 512, 4096]
    base = an.scaled_errors(parse(name), d, blocks, None, math.inf)
    assert [an.piece_offsets(b) for b in blocks] == [4, 4, 6, 8, 8]
    monkeypatch.setattr(an, "OFFSETS", 64)
    monkeypatch.setattr(an, "PIECE_OFFSETS", ())
    ref = an.scaled_errors(parse(name), d, blocks, None, math.inf)
    np.testing.assert_allclose(base, ref, rtol=5e-6)
    assert not np.array_equal(base, ref)  # the offsets did change


@pytest.mark.parametrize("nu", [3.0, math.inf])
@pytest.mark.parametrize("block", [16, 64])
def test_choice_offset_average_converged(monkeypatch, nu, block):
    """BlockDialect's two-stage model averaged over CHOICE_OFFSETS log2 offsets of sigma, against
    64 offsets (the documented bound, 3e-6 relative)."""
    import dse.error.choice as ch

    d = Student(nu)
    fmt = parse(f"blockdialect(sel=two-stage)/b{block}")
    st = Setting(d, block, None, median_max(d, 1 << 24))
    base = ch.choice_error(fmt, st).value
    monkeypatch.setattr(ch, "CHOICE_OFFSETS", 64)
    assert ch.choice_error(fmt, st).value == pytest.approx(base, rel=3e-6)


@pytest.mark.parametrize("n", [1, 2, 7, 31])
@pytest.mark.parametrize("tie_first", [True, False])
def test_stage2_counts_against_enumeration(n, tie_first):
    """The stage-2 count sums against the multinomial enumerated term by term, for region
    probabilities where the rest is or is not the largest, or zero (the sums drop count pairs
    of total probability < STAGE2_EPS = 1e-17)."""
    from dse.error.choice import _stage2_counts

    rng = np.random.default_rng(n)
    p = np.vstack([rng.dirichlet([1, 1, 1], 12), rng.dirichlet([0.2, 0.2, 9], 6)])
    p = np.vstack([p, [[0.0, 0.1, 0.9], [0.3, 0.0, 0.7], [0.6, 0.4, 0.0]]])
    lead = rng.integers(-1, 2, len(p))
    got = _stage2_counts(*p.T, lead, n, tie_first)
    for j, (pa, pb, pr) in enumerate(p):
        ref = np.zeros((2, 3))
        for a in range(n + 1):
            for b in range(n + 1 - a):
                c = math.factorial(n) // (
                    math.factorial(a) * math.factorial(b) * math.factorial(n - a - b)
                )
                pmf = c * pa**a * pb**b * pr ** (n - a - b)
                first = a + lead[j] > b or (a + lead[j] == b and tie_first)
                ref[0 if first else 1] += pmf * np.array([1.0, a, b])
        np.testing.assert_allclose(got[:, :, j], ref, rtol=1e-10, atol=1e-15)  # STAGE2_EPS cut


def test_conditional_error_against_direct_integration():
    """E[err | M = m] for one block maximum, against quad over the truncated law."""
    d, fmt, m = Student(4.0), parse("sf4(nu=5)/g64"), 2.7
    cb = codebook(fmt.element, fmt.rounding)
    s = m / fmt.element.max_abs
    inner = ScaledCells(d, cb, np.array([s])).window(np.array([0]), np.array([m]))[0]
    f = lambda x: (x - s * fmt.element.round(np.array(x) / s)) ** 2 * stats.t.pdf(x, 4.0)  # noqa: E731
    pts = [s * t for t in cb.thresholds if abs(s * t) < m]
    assert inner == pytest.approx(integrate.quad(f, -m, m, points=pts, limit=200)[0], rel=1e-9)


@pytest.mark.parametrize("nu", [3.0, math.inf])
def test_every_codebook_at_once_equals_the_row_by_row_error(nu):
    """`inside_every` (all codebooks at shared scale indices, one interval look-up per point)
    gives bit for bit what `inside` gives row by row, and refuses a table missing rows."""
    d = Student(nu)
    cbs = [codebook(parse(e).element, "even") for e in ("e2m1", "int4", "nf4")]
    scales = np.array([0.0, 0.2, 0.9, 3.0])
    every = ScaledCells(d, cbs, scales, np.arange(len(cbs) * scales.size))
    rng = np.random.default_rng(5)
    which = rng.integers(0, scales.size, 200)
    x = np.concatenate([rng.exponential(3.0, 199), [np.inf]])
    ux = d.upper_moments(x)
    rows = np.arange(len(cbs))[:, None] * scales.size + which
    by_row = every.inside(rows, x, ux[:, None])
    np.testing.assert_array_equal(every.inside_every(which, x, ux), by_row)
    one = ScaledCells(d, cbs[1], scales)  # one codebook at every scale: its rows are the scales
    np.testing.assert_array_equal(one.inside_every(which, x, ux)[0], one.inside(which, x, ux))
    with pytest.raises(ValueError, match="every codebook at every scale"):
        ScaledCells(d, cbs, scales, np.arange(5)).inside_every(which, x, ux)


@pytest.mark.parametrize("nu", [3.0, math.inf])
def test_stacked_cells_equal_one_table_per_codebook(nu):
    d = Student(nu)
    cbs = [
        codebook_of_levels((-2.0, -1.0, 0.0, 1.0, 2.0), "even"),
        codebook(parse("sf4").element, "even"),
    ]
    scales = np.array([0.0, 0.3, 1.0, 4.0])
    keys = np.array([1, 2, 3, 4, 6])  # codebook 0 at scales 1..3, codebook 1 at scales 0, 2
    stacked = ScaledCells(d, cbs, scales, keys)
    m = np.array([[0.5, 2.0, 7.0], [1.0, 3.0, np.inf]])
    for k, i in [(0, 1), (0, 3), (1, 0), (1, 2)]:
        one = ScaledCells(d, cbs[k], scales[i : i + 1])
        rows = np.broadcast_to(stacked.row(k, i), m.shape)
        # the stacked table splits at the union of the thresholds: equal up to rounding
        np.testing.assert_allclose(
            stacked.window(rows, m), one.window(np.zeros(m.shape, int), m), rtol=1e-13
        )
        np.testing.assert_allclose(stacked.total()[rows[0, 0]], one.total()[0], rtol=1e-13)
        x = np.array([0.2, 1.7, 9.0])  # the error inside [-x, x] and beyond make the total
        r, ux = np.broadcast_to(stacked.row(k, i), x.shape), d.upper_moments(x)
        both = stacked.inside(r, x, ux) + stacked.beyond(r, x, ux)
        np.testing.assert_allclose(both, stacked.total()[r], rtol=1e-12)
        finite = np.array([0.37, 1.9, 6.1])  # block maxima off every threshold
        s = np.full(finite.shape, scales[i])
        np.testing.assert_array_equal(
            stacked.max_error(rows[0], s, finite), max_error(cbs[k], s, finite)
        )


def test_lane_nodes_equal_one_node_set_per_lane():
    d = Student(4.0)
    lanes = [np.array([1.5, 2.5, 9.0]), np.empty(0), np.array([0.7, 30.0])]
    nodes, sizes = lane_max_nodes(d, 32, lanes, 64, cap=20.0)
    bounds = np.cumsum(sizes)
    for br, b, n in zip(lanes, bounds, sizes):
        one = max_nodes(d, 32, br, 64, cap=20.0)
        for key in ("m", "q", "weight"):
            np.testing.assert_array_equal(getattr(nodes, key)[b - n : b], getattr(one, key))


def test_vectorised_over_nu_and_block_and_cached():
    v = nmse("int4/ch", [3.0, 5.0, math.inf], block=[[256], [4096]])
    assert v.shape == (2, 3)
    assert v[1, 1] == nmse("int4/ch", 5.0, block=4096)
    assert np.all(np.diff(v, axis=1) < 0)  # lighter tails, smaller error
    assert np.all(v[1] > v[0])  # longer rows, larger maxima


def test_result_record_and_sqnr():
    r = error("nf4/g64", 5)
    assert r.exact and r.kind == "exact" and r.block == 64
    assert r.sqnr_db == pytest.approx(-10 * math.log10(r.nmse))
    bd = error("blockdialect/b32", 5)
    assert bd.kind.startswith("model") and 0 < bd.se < 0.005 * bd.nmse  # sampled gain's SE
    assert error("fp4fp8(p=0.3)", 5).kind.startswith("model")


def test_reblocking_matches_the_named_format():
    assert nmse("int4/g128", 5, block=32) == pytest.approx(nmse("int4/g32", 5), rel=1e-12)


def test_more_bits_less_error_and_clip_helps():
    assert nmse("int8/g128", 5) < nmse("int4/g128", 5)
    clip, best = optimal_clip("int4/ch", 5)
    assert clip < 1 and best < nmse("int4/ch", 5)


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"nu": 2}, "nu"),
        ({"nu": -1}, "nu"),
        ({"nu": "x"}, "nu"),
        ({"nu": 5, "sigma": 0}, "sigma"),
        ({"nu": 5, "block": 0}, "block"),
        ({"nu": 5, "method": "exact"}, "method"),
    ],
)
def test_bad_input_is_one_clear_error(kwargs, word):
    with pytest.raises(UserError, match=word):
        nmse("int4/g128", **kwargs)


def test_gemm_helper():
    assert gemm_nmse(0.01, 0.02) == pytest.approx(0.0302)
    assert gemm_nmse([0.0, 0.1], 0.0).tolist() == [0.0, 0.1]


def test_blockdialect_blocks_beyond_the_stage2_range_are_refused():
    """The two-stage sums hold in floating point up to STAGE2_MAX_BLOCK values per block: a
    finite value there, a clear error beyond (not a NaN). (The minimum-error model has no
    such sums: tests/test_error_min_choice.py.)"""
    from dse.error.choice import STAGE2_MAX_BLOCK

    sel = "blockdialect(sel=two-stage)"
    v = error(f"{sel}/b{STAGE2_MAX_BLOCK}", 5.0).nmse
    assert np.isfinite(v) and 0 < v < error(f"{sel}/b{STAGE2_MAX_BLOCK}", 3.0).nmse
    with pytest.raises(UserError, match="at most 601 values"):
        error(f"{sel}/b1024", 5.0)


def test_clark_minimum_of_normals():
    from dse.error.choice import clark_min

    # two iid N(0, 1): E[min] = -1 / sqrt(pi) (exact for two); a dominated third changes nothing
    two = clark_min(np.zeros((2, 1)), np.eye(2)[:, :, None])
    assert two[0] == pytest.approx(-1 / math.sqrt(math.pi), rel=1e-12)
    three = clark_min(np.array([[0.0], [0.0], [50.0]]), np.eye(3)[:, :, None])
    assert three[0] == pytest.approx(two[0], rel=1e-12)


@pytest.mark.parametrize("nu", [3.0, math.inf])
def test_block_sum_means_match_the_exact_cells(nu):
    import dse.error.choice as ch
    from dse.error.blocksums import BlockSums

    fmt = parse("nvfp4(cal=4)")
    st = Setting(Student(nu), 16, None, median_max(Student(nu), 4096))
    nodes, sigma = ch._offset_nodes(fmt, st, 64)
    bs = BlockSums([ch._term(c, nodes, sigma, st) for c in fmt.candidates], nodes, st.dist)
    exact = ch._candidates_h(fmt, st, nodes, sigma)  # per value, from the cells
    np.testing.assert_allclose(nodes.weight @ (bs.mean / 16).T, nodes.weight @ exact.T, rtol=1e-6)
    assert (np.diagonal(bs.cov()) >= 0).all()  # variances


@pytest.mark.parametrize("fmt", ["e4m3", "int8", "e2m1/g32"])
def test_heavy_tails_near_nu_2_are_finite_or_refused(fmt):
    """Near nu = 2 the analytic error was NaN (a quadrature node's block maximum came out as
    -inf): from nu = 2.1 it is finite and matches Monte Carlo, nearer 2 it is refused as a
    model limit (pointing to Monte Carlo) instead of returning a wrong value."""
    import warnings

    from dse.errors import ModelLimitError

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values = [error(fmt, nu, tensor_size=98304, sigma=1.0).nmse for nu in (2.1, 2.2)]
    assert all(np.isfinite(v) and v > 0 for v in values)
    with pytest.raises(ModelLimitError, match=r"nu = 2\.05.*nu >= 2\.1.*montecarlo"):
        error(fmt, 2.05, tensor_size=98304, sigma=1.0)


def test_tail_quantile_far_beyond_stdtrit():
    """`Student.isf` where scipy's stdtrit fails (q ~ 1e-300 at nu near 2): the power-law tail
    inverts the survival function; q = 0 is +inf."""
    dist = Student(2.05)
    q = np.array([1e-120, 1e-250, 1e-300, 1e-305])
    x = dist.isf(q)
    assert np.all(x > 0) and np.all(np.isfinite(x))
    assert dist.sf(x) == pytest.approx(q, rel=1e-6)
    assert dist.isf(np.array([0.0]))[0] == np.inf
