"""Element value sets and rounding against independent truth: ml_dtypes, numpy casts and the
published NF4 / SF4 tables."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from dse.formats import parse
from dse.formats.elements import apot4, normal_float, ocp_float, student_float
from dse.formats.scales import BF16, E8M0, FP16, FP32

# (our element, ml_dtypes type, storage bits)
FLOATS = [
    (ocp_float(2, 1), ml_dtypes.float4_e2m1fn, 4),
    (ocp_float(2, 3), ml_dtypes.float6_e2m3fn, 6),
    (ocp_float(3, 2), ml_dtypes.float6_e3m2fn, 6),
    (ocp_float(4, 3), ml_dtypes.float8_e4m3fn, 8),
    (ocp_float(5, 2), ml_dtypes.float8_e5m2, 8),
    (E8M0, ml_dtypes.float8_e8m0fnu, 8),
]


def oracle_values(dtype, bits: int) -> np.ndarray:
    """Every finite value of an ml_dtypes type, by decoding every bit pattern."""
    codes = np.arange(2**bits, dtype=np.uint8)
    vals = codes.view(dtype).astype(np.float64)
    return np.unique(vals[np.isfinite(vals)]) + 0.0


@pytest.mark.parametrize(("el", "dtype", "bits"), FLOATS, ids=lambda v: getattr(v, "name", ""))
def test_float_value_sets_equal_ml_dtypes(el, dtype, bits):
    assert el.bits == bits
    np.testing.assert_array_equal(el.values, oracle_values(dtype, bits))
    assert el.max_abs == float(ml_dtypes.finfo(dtype).max)


def _spread(rng, n: int, lo: float, hi: float) -> np.ndarray:
    """Signed values log-uniform in magnitude over [2^lo, 2^hi], plus exact ties."""
    mag = np.exp2(rng.uniform(lo, hi, n))
    return np.where(rng.random(n) < 0.5, -mag, mag)


@pytest.mark.parametrize(("el", "dtype", "bits"), FLOATS, ids=lambda v: getattr(v, "name", ""))
def test_rounding_matches_ml_dtypes_cast(el, dtype, bits):
    rng = np.random.default_rng(1)
    vals = el.values
    lo = np.log2(vals[vals > 0].min()) - 2
    hi = np.log2(el.max_abs) + 0.49  # inside the range and a little beyond
    x = _spread(rng, 20000, lo, hi)
    mids = (vals[1:] + vals[:-1]) / 2  # exact ties exercise round-half-even
    x = np.concatenate([x, mids])
    if not el.signed:
        x = np.abs(x)
    ref = x.astype(dtype).astype(np.float64)
    # ml_dtypes saturates the formats without inf/NaN codes and overflows the others
    ours = el.round(x, "even", saturate=el.nonfinite == "none")
    inside = np.abs(x) <= el.max_abs
    np.testing.assert_array_equal(ours[inside], ref[inside])
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    np.testing.assert_array_equal(ours[~np.isnan(ref)], ref[~np.isnan(ref)])


@pytest.mark.parametrize(("el", "dtype"), [(FP16, np.float16), (BF16, ml_dtypes.bfloat16),
                                           (FP32, np.float32)])
def test_wide_floats_match_casts(el, dtype):
    rng = np.random.default_rng(2)
    x = _spread(rng, 50000, -140, 130)
    with np.errstate(over="ignore"):
        ref = x.astype(dtype).astype(np.float64)
    np.testing.assert_array_equal(el.round(x, "even", saturate=False), ref)
    # the arithmetic rounding on the bit fields (what `round` uses for non-native formats)
    ours = el.round_arithmetic(x, "even", saturate=False)
    np.testing.assert_array_equal(ours, ref)
    np.testing.assert_array_equal(np.signbit(ours), np.signbit(ref))
    # saturating: both paths clamp to the largest finite value, signs kept
    sat = el.round(x, "even", saturate=True)
    np.testing.assert_array_equal(sat, el.round_arithmetic(x, "even", saturate=True))
    np.testing.assert_array_equal(np.abs(sat[np.abs(x) > el.max_abs]), el.max_abs)


def test_e8m0_rounds_in_its_lowest_binade_without_subnormals():
    # E8M0 has no zero and no subnormals: its lowest value is 2^-127 (code 0). Values in
    # [2^-127, 1.5 * 2^-127) round down to it, (1.5, 2) * 2^-127 up to 2^-126; the tie
    # 1.5 * 2^-127 goes up as in every other binade (ml_dtypes 0.7 does the same). Closed
    # form, independent of any ml_dtypes release.
    lo = 2.0**-127
    x = np.array([lo, 1.2 * lo, 1.49 * lo, 1.5 * lo, 1.51 * lo, 0.3 * lo, 3 * lo, 1.5])
    want = np.array([lo, lo, lo, 2 * lo, 2 * lo, lo, 4 * lo, 2.0])
    for mode in ("even", "away", "trunc"):
        got = E8M0.round_arithmetic(x, mode)
        exp = want.copy()
        if mode == "trunc":  # toward zero
            exp[3], exp[4], exp[6], exp[7] = lo, lo, 2 * lo, 1.0
        np.testing.assert_array_equal(got, exp, err_msg=mode)


def test_rounding_modes_on_e2m1_by_hand():
    e2m1 = ocp_float(2, 1)
    x = np.array([0.25, 0.75, 1.25, 2.5, 5.0, -5.0, 2.9, -0.2, 7.0])
    np.testing.assert_array_equal(e2m1.round(x, "even"), [0, 1, 1, 2, 4, -4, 3, 0, 6])
    np.testing.assert_array_equal(e2m1.round(x, "away"), [0.5, 1, 1.5, 3, 6, -6, 3, -0.0, 6])
    np.testing.assert_array_equal(e2m1.round(x, "trunc"), [0, 0.5, 1, 2, 4, -4, 2, 0, 6])


def test_nonfinite_inputs():
    e4m3, e2m1 = ocp_float(4, 3), ocp_float(2, 1)
    x = np.array([np.nan, np.inf, -np.inf, 1e6])
    assert np.isnan(e4m3.round(x, saturate=False)).all()  # e4m3fn has no inf: NaN
    np.testing.assert_array_equal(e4m3.round(x[1:], saturate=True), [448, -448, 448])
    np.testing.assert_array_equal(e2m1.round(x[1:]), [6, -6, 6])
    assert np.isnan(e2m1.round(x[:1])).all()


# bitsandbytes' NF4 table (its create_normal_map, offset 0.9677083)
NF4 = [-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
       -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
       0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
       0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0]  # fmt: skip
# SF4(nu=5) as published by Dotzel et al. (ICML 2024)
SF4_5 = [-1.0, -0.627781, -0.454736, -0.334331, -0.237434, -0.152899, -0.074982, 0.0,
         0.065513, 0.132965, 0.204661, 0.283835, 0.375805, 0.491076, 0.656781, 1.0]  # fmt: skip


def test_nf4_equals_bitsandbytes_table():
    np.testing.assert_allclose(normal_float(4).values, NF4, atol=1e-7, rtol=0)


def test_sf4_equals_published_list():
    np.testing.assert_allclose(student_float(4, 5.0).values, SF4_5, atol=1e-6, rtol=0)


def test_sf_tends_to_nf_as_nu_grows():
    np.testing.assert_allclose(student_float(4, 1e7).values, normal_float(4).values, atol=1e-5)


def test_k_bit_quantile_codebooks_have_the_published_shape():
    nf3 = normal_float(3).values
    assert nf3.size == 8 and (nf3 > 0).sum() == 4 and (nf3 < 0).sum() == 3
    assert nf3.max() == 1.0 and nf3.min() == -1.0


def test_small_codebooks_from_reference_table():
    assert list(apot4().values[7:]) == pytest.approx([0, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8, 1.0])
    table = {
        "e2m1": [0, 0.5, 1, 1.5, 2, 3, 4, 6],
        "e2m1-ns": [0, 0.75, 1, 1.5, 2, 3, 4, 6],
        "e2m1-i": [0, 0.0625, 1, 1.5, 2, 3, 4, 6],
        "e2m1-b": [0, 0.0625, 2, 3, 4, 6, 8, 12],
        "e3m0": [0, 0.25, 0.5, 1, 2, 4, 8, 16],
    }
    for name, mags in table.items():
        v = parse(name).element.values
        assert sorted(v[v >= 0]) == mags, name
        np.testing.assert_array_equal(np.sort(-v[v <= 0]), mags)
    sr, sp = parse("e2m1+sr").element.values, parse("e2m1+sp").element.values
    assert sr.max() == 8 and sr.min() == -6 and sr.size == 16
    assert 5 in sp and -5 not in sp and sp.size == 16
    asp = parse("apot4+sp").element.values
    assert 0.5 in asp and -0.5 not in asp and asp.size == 16


def test_integer_grids():
    assert list(parse("int4").element.values) == list(range(-7, 8))
    assert list(parse("int4-asym").element.values) == list(range(-8, 8))
    mx = parse("mxint8").element.values
    assert mx.max() == 127 / 64 and mx.size == 255


def test_user_level_list_is_mirrored():
    el = parse("levels(0.5, 1, 2)").element
    assert list(el.values) == [-2, -1, -0.5, 0, 0.5, 1, 2] and el.bits == 3
    asym = parse("levels(-1, 0.5, 1)").element
    assert list(asym.values) == [-1, 0, 0.5, 1] and asym.bits == 2


def test_general_exmy_parameters():
    # E3M2 without subnormals: e=0 codes hold only zero
    no_sub = parse("e3m2(sub=0)").element
    pos = no_sub.values[no_sub.values > 0]
    assert pos.min() == 2.0**-2 and 0.0 in no_sub.values
    # an IEEE-style E4M3 reserves its top exponent: max normal 240
    assert parse("e4m3(nonfinite=ieee)").element.max_abs == 240.0
