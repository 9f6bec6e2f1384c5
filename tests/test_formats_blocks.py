"""Block formats on hand-made blocks whose answers are worked out by hand in the comments."""

from __future__ import annotations

import numpy as np
import pytest

from dse.formats import parse
from dse.formats.blocking import Blocking


def test_mxfp4_shared_exponent_and_saturation():
    fmt = parse("mxfp4")
    # E8M0 exponent = floor(log2 max) - emax_elem(E2M1) = floor(log2 max) - 2
    amax = np.array([7.0, 8.0, 15.0, 0.3, 1.0])
    np.testing.assert_array_equal(fmt.block_scales(amax), [1.0, 2.0, 2.0, 2.0**-4, 2.0**-2])
    # max 7 at scale 1 lands in (6, 8): clipped to 6; 15 at scale 2 -> 7.5 -> 6 -> 12;
    # 0.3 at scale 1/16 -> 4.8 -> nearest E2M1 level 4 -> 0.25
    blocks = np.zeros((3, 32))
    blocks[0, :4] = [7.0, 1.0, 0.5, -3.0]
    blocks[1, :3] = [-15.0, 5.0, 2.5]  # 5/2 = 2.5 -> tie between 2 and 3 -> even mantissa: 2
    blocks[2, :2] = [0.3, -0.1]  # -0.1 * 16 = -1.6 -> -1.5 -> -0.09375
    q = fmt.quantize(blocks)
    np.testing.assert_array_equal(q[0, :4], [6.0, 1.0, 0.5, -3.0])
    np.testing.assert_array_equal(q[1, :3], [-12.0, 4.0, 2.0])
    np.testing.assert_array_equal(q[2, :2], [0.25, -0.09375])
    assert not q[:, 4:].any()


def test_mx_other_elements_by_hand():
    # MXFP8 E4M3: emax 8; max 500 -> floor(log2 500) = 8 -> scale 1, 500 > 448 -> 448
    assert parse("mxfp8e4m3").quantize(np.array([500.0, 3.3] + [0] * 30))[:2].tolist() == [
        448.0,
        3.25,
    ]
    # MXINT8: elements k/64 up to 127/64, emax 0; max 1.5 -> scale 1 -> 1.5 = 96/64
    q = parse("mxint8").quantize(np.array([1.5, 0.01] + [0] * 30))
    np.testing.assert_array_equal(q[:2], [1.5, 1 / 64])
    # E8M0 range: a block of 2^-140 clamps the scale exponent at -127 and flushes to zero
    tiny = parse("mxfp4").quantize(np.full(32, 2.0**-140))
    assert not tiny.any()


def test_nvfp4_two_level_scaling_by_hand():
    fmt = parse("nvfp4")
    x = np.zeros(48)
    x[0] = 2688.0  # tensor amax = 448 * 6 -> FP32 tensor scale exactly 1
    x[16:18] = [12.0, -3.0]  # block amax 12 -> 12/6 = 2 (exact in E4M3)
    x[32:34] = [5.0, 1.0]  # 5/6 = 0.8333 -> E4M3 step 1/16 there -> 13/16 = 0.8125
    q = fmt.quantize(x)
    assert q[0] == 2688.0  # 2688 / (448 * 1) = 6 -> 6
    np.testing.assert_array_equal(q[16:18], [12.0, -3.0])
    # 5 / 0.8125 = 6.15 -> saturates to 6 -> 4.875; 1 / 0.8125 = 1.23 -> 1 -> 0.8125
    np.testing.assert_array_equal(q[32:34], [4.875, 0.8125])
    assert fmt.bits_per_element == 4.5 and fmt.bits_per_tensor == 32
    assert fmt.storage_bits((1, 48)) == 48 * 4 + 3 * 8 + 32


def test_blockdialect_bit_accounting():
    for b, bits in ((16, 4 + 9 / 16), (32, 4.28125), (64, 4 + 9 / 64)):
        assert parse(f"blockdialect/b{b}").bits_per_element == bits


def test_blockdialect_two_stage_by_hand():
    fmt = parse("blockdialect(sel=two-stage)/b32")
    # Max 7.5 -> shared exponent floor(log2 7.5) - 2 = 0, scale 1; 7.5 picks pair 0
    # (dialects 0 and 1, largest level 15 half-units). Dialect 0's own level 5.5 favours
    # [4.25, 6.5); dialect 1's own level 4.5 favours [3.75, 6.0).
    a = np.zeros(32)
    a[:3] = [7.5, 6.2, 6.3]  # two values in dialect 0's range only -> dialect 0
    b = np.zeros(32)
    b[:4] = [7.5, 4.0, 3.9, 3.8]  # three values in dialect 1's range only -> dialect 1
    c = np.zeros(32)
    c[:2] = [7.0, 1.0]  # 7.0 -> pair with largest level 7.0 (14 half-units) = dialects 2, 3
    choice, _, _ = fmt.choose(np.stack([a, b, c]))
    assert choice[0] == 0 and choice[1] == 1 and choice[2] in (2, 3)
    q = fmt.quantize(np.stack([a, b]))
    np.testing.assert_array_equal(q[0, :3], [7.5, 5.5, 5.5])  # dialect 0: ..., 3, 5.5, 7.5
    np.testing.assert_array_equal(q[1, :4], [7.5, 4.5, 4.5, 4.5])  # dialect 1: ..., 3, 4.5, 7.5


def test_blockdialect_min_error_is_no_worse_than_two_stage_and_agreement():
    rng = np.random.default_rng(0)
    x = rng.standard_t(5, size=(2000, 32))
    mse, two = parse("blockdialect/b32"), parse("blockdialect(sel=two-stage)/b32")
    e_mse = ((mse.quantize(x) - x) ** 2).sum(axis=1)
    e_two = ((two.quantize(x) - x) ** 2).sum(axis=1)
    assert np.all(e_mse <= e_two + 1e-12)
    agree = np.mean(mse.choose(x)[0] == two.choose(x)[0])
    # the online rule picks the offline dialect for under half the blocks (measured 0.44 on
    # t(5), block 32) at about 13 % more squared error than the offline choice
    assert 0.3 < agree < 0.6
    assert 1.0 < e_two.sum() / e_mse.sum() < 1.2


def test_anda_truncation_by_hand():
    fmt = parse("anda(m=4)")
    # group max 1.0 -> FP16 exponent 0 -> step 2^(0 - (4 - 1)) = 1/8, truncation toward zero
    g = np.zeros(64)
    g[:5] = [1.0, 0.3, -0.7, 0.05, 1.99 / 2]
    np.testing.assert_array_equal(fmt.quantize(g)[:5], [1.0, 0.25, -0.625, 0.0, 0.875])
    # max 1.99: still exponent 0; 1.99 * 8 = 15.92 -> 15 -> 1.875, the 4-bit mantissa's top
    assert fmt.quantize(np.array([1.99] + [0.0] * 63))[0] == 1.875
    assert fmt.bits_per_element == 1 + 4 + 5 / 64


def test_fp4fp8_mix_fraction_and_limits():
    rng = np.random.default_rng(3)
    x = rng.standard_t(4, size=(8, 256))
    nv, fp8 = parse("nvfp4"), parse("e4m3")
    np.testing.assert_array_equal(parse("fp4fp8(p=0)").quantize(x), nv.quantize(x))
    np.testing.assert_array_equal(parse("fp4fp8(p=1)").quantize(x), fp8.quantize(x))
    mix = parse("fp4fp8(p=0.25)")
    choice, _, _ = mix.choose(x)
    assert choice.sum() == round(0.25 * choice.size)
    # the blocks kept high are those where NVFP4 and FP8 differ most
    q_lo = nv.quantize(x).reshape(-1, 16)
    q_hi = fp8.quantize(x).reshape(-1, 16)
    score = ((q_lo - q_hi) ** 2).sum(axis=1)
    assert score[choice == 1].min() >= score[choice == 0].max()
    # zero sensitivity on half the tensor keeps those blocks low
    w = np.ones_like(x)
    w[:, :128] = 0
    c_w = mix.choose(x, weights=w)[0].reshape(8, 16)
    assert c_w[:, :8].sum() == 0
    assert mix.bits_per_element == pytest.approx(0.75 * 4.5 + 0.25 * 8 + 1 / 16)


def test_fp4fp8_threshold_selection():
    x = np.random.default_rng(4).standard_normal((4, 64))
    low = parse("fp4fp8(threshold=1e9)").quantize(x)
    np.testing.assert_array_equal(low, parse("nvfp4").quantize(x))


def test_nan_inf_and_zero_blocks():
    fmt = parse("int4/g4")
    x = np.array([[np.nan, 1.0, -2.0, 0.5], [np.inf, 1.0, 0.0, -7.0], [0.0, 0.0, 0.0, 0.0]])
    q = fmt.quantize(x)
    # NaN stays NaN and does not touch the block's scale (max 2 -> step 2/7)
    assert np.isnan(q[0, 0])
    np.testing.assert_allclose(q[0, 1:], np.array([3.0, -7.0, 2.0]) * 2 / 7)
    # inf saturates to the largest level of its block; it does not set the scale
    assert q[1, 0] == 7.0 and q[1, 3] == -7.0
    np.testing.assert_array_equal(q[2], 0.0)  # a block of zeros is zeros
    assert np.isinf(parse("fp16").quantize(np.array([1e6]))).all()  # plain IEEE cast overflows


def test_axis_channel_tile_and_padding():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 10))
    # per-block along axis 0 equals per-block along axis -1 of the transpose
    np.testing.assert_array_equal(
        parse("int4/g4").quantize(x, axis=0), parse("int4/g4").quantize(x.T).T
    )
    # a trailing partial block (10 = 4 + 4 + 2) is its own block
    q = parse("int4/g4").quantize(x)
    np.testing.assert_array_equal(q[:, 8:], parse("int4/g2").quantize(x[:, 8:]))
    # per-channel = one block per row
    np.testing.assert_array_equal(parse("int4/ch").quantize(x), parse("int4/g10").quantize(x))
    # 3x5 tiles equal quantizing each tile as one per-tensor group
    qt = parse("int4/3x5").quantize(x)
    for r in (0, 3):
        for c in (0, 5):
            tile = x[r : r + 3, c : c + 5]
            np.testing.assert_array_equal(qt[r : r + 3, c : c + 5], parse("int4/t").quantize(tile))
    assert Blocking("tile", tile=(3, 5)).groups((6, 10)) == 4
    assert Blocking("block", 4).groups((6, 10)) == 18


def test_clip_and_scale_format_rounding():
    x = np.array([[1.0, 0.5, 0.1, -0.9]])
    s_exact = 0.9 / 7
    np.testing.assert_allclose(
        parse("int4/g4@0.9").quantize(x), np.clip(np.rint(x / s_exact), -7, 7) * s_exact
    )
    # a bf16 scale: 1/7 rounded to 8 significant bits
    s_bf16 = parse("int4/g4:bf16").block_scales(np.array([1.0]))[0]
    assert s_bf16 != 1 / 7 and abs(s_bf16 - 1 / 7) / (1 / 7) < 2**-8


def test_mx_scale_floor_saturates_and_round_up_never_does():
    """OCP MX (floor): s = 2^(floor(log2 M) - emax), so a block maximum in (6, 8) x 2^k maps
    above E2M1's largest value 6 and saturates to it; round-up: s = 2^ceil(log2(M / 6)), so
    M / s <= 6 always and the maximum is represented within E2M1's rounding error."""
    rng = np.random.default_rng(3)
    x = rng.standard_t(4, size=(4096, 32)) * 2.0 ** rng.integers(-20, 20, size=(4096, 1))
    m = np.abs(x).max(axis=1)
    floor, ceil = parse("mxfp4"), parse("mxfp4:e8m0ceil")
    s_floor = floor.scale.block_scale(m, floor.element)
    s_ceil = ceil.scale.block_scale(m, ceil.element)
    # closed forms, computed with logarithms instead of frexp
    assert np.array_equal(s_floor, 2.0 ** (np.floor(np.log2(m)) - 2))
    assert np.array_equal(s_ceil, 2.0 ** np.ceil(np.log2(m / 6.0)))
    assert np.all(m / s_ceil <= 6.0) and np.all(m / s_ceil > 3.0)
    over = m / s_floor > 6.0
    assert over.any()  # the floor rule leaves some maxima above 6 ...
    top = np.abs(floor.quantize(x, axis=1)).max(axis=1)  # ... which the quantizer saturates
    assert np.allclose(top[over], 6.0 * s_floor[over])
    # round-up: the maximum within E2M1's relative step (<= 1/3 at 1.5 -> 1 or 2 in [3, 6])
    top = np.abs(ceil.quantize(x, axis=1)).max(axis=1)
    assert np.all(np.abs(top - m) <= m / 3)
