"""Accelerator roofline: memory/compute bound sanity, traffic scaling, vectorisation, presets."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from dse.errors import UserError
from hwmodels.accelerator import Design, evaluate
from hwmodels.presets import load, preset_names, spec_from_dict
from workloads import Gemm, gemm_arrays

BASE = dict(
    rows=16, cols=16, lanes=32, freq_ghz=1.0, pe_area_um2=5000.0, mac_energy_pj=0.2,
    w_bits=4.25, a_bits=8.25, o_bits=8.25, weight_buffer_bytes=2**20,
    act_buffer_bytes=2**20, out_buffer_bytes=2**17, bandwidth_gbs=256.0, dram_pj_per_bit=3.9,
    node_nm=16,
)  # fmt: skip
DECODE = (1, 4096, 4096, 1)
PREFILL = (2048, 4096, 4096, 1)


def _gemms(shapes):
    """GEMM arrays from (m, n, k, count) shapes."""
    return gemm_arrays([Gemm("g", "qkv", *shape, b_role="weight") for shape in shapes])


def _eval(gemms, **over):
    return evaluate(Design(**{**BASE, **over}), _gemms(gemms))


def test_decode_memory_bound_prefill_compute_bound():
    e = _eval([DECODE, PREFILL])
    assert e.gemm_memory_bound[0].tolist() == [True, False]
    # decode reads every weight once: 4096 x 4096 x 4.25 bits
    assert e.gemm_weight_dram_bytes[0, 0] == pytest.approx(4096 * 4096 * 4.25 / 8)


def test_halving_weight_bits_halves_weight_traffic():
    full, half = _eval([DECODE, PREFILL], w_bits=8.0), _eval([DECODE, PREFILL], w_bits=4.0)
    np.testing.assert_allclose(half.gemm_weight_dram_bytes, full.gemm_weight_dram_bytes / 2)
    assert half.latency_ns[0] < full.latency_ns[0]


def test_more_bandwidth_never_slower_and_bigger_buffers_never_more_traffic():
    g = [DECODE, PREFILL, (512, 11008, 4096, 4)]
    assert _eval(g, bandwidth_gbs=512).latency_ns[0] <= _eval(g).latency_ns[0]
    small = _eval(g, weight_buffer_bytes=2**16, act_buffer_bytes=2**16)
    assert _eval(g).dram_bytes[0] <= small.dram_bytes[0]


def test_splits_add_up_and_smaller_node_smaller_area():
    e = _eval([DECODE, PREFILL])
    parts = e.energy_compute_pj + e.energy_sram_pj + e.energy_dram_pj + e.energy_static_pj
    np.testing.assert_allclose(e.energy_pj, parts)
    np.testing.assert_allclose(e.area_mm2, e.area_pe_mm2 + e.area_buffer_mm2 + e.area_other_mm2)
    assert _eval([DECODE], node_nm=7).area_mm2[0] < e.area_mm2[0]


def test_vectorised_matches_point_by_point():
    rng = np.random.default_rng(1)
    p = 64
    arrays = dict(
        rows=rng.integers(2, 64, p), cols=rng.integers(2, 64, p),
        bandwidth_gbs=rng.uniform(20, 2000, p), node_nm=rng.choice([7, 12, 16, 28, 45], p),
        weight_buffer_bytes=rng.choice([2**14, 2**20, 2**24], p),
        w_bits=rng.choice([4.0, 4.25, 8.25], p),
    )  # fmt: skip
    gemms = [DECODE, PREFILL, (8, 32000, 4096, 1), (32, 1024, 128, 256)]
    whole = _eval(gemms, **arrays)
    assert whole.latency_ns.shape == (p,) and whole.gemm_latency_ns.shape == (p, len(gemms))
    for i in (0, 17, 63):
        one = _eval(gemms, **{k: v[i] for k, v in arrays.items()})
        for name, col in whole.totals().items():
            assert col[i] == pytest.approx(getattr(one, name)[0]), name


def test_per_gemm_operand_bits():
    bits = np.array([[4.0, 8.0]])  # one point, a different weight format per GEMM
    e = _eval([DECODE, DECODE], w_bits=bits)
    assert e.gemm_weight_dram_bytes[0, 1] == pytest.approx(2 * e.gemm_weight_dram_bytes[0, 0])


def test_presets_evaluate():
    assert {"anda-16nm", "edge-16nm", "datacenter-7nm"} <= set(preset_names())
    for name in preset_names():
        spec = load(name)
        e = evaluate(spec.design(), _gemms([DECODE, PREFILL]), spec.reference_tech())
        assert e.gemm_memory_bound[0].tolist() == [True, False], name
    anda = load("anda-16nm")
    assert anda.planes() == 6 and anda.unit().lanes == 64
    assert anda.bits("activation") == pytest.approx(1 + 6 + 5 / 64)


def test_spec_errors_name_the_key():
    good = dataclasses.asdict(load("edge-16nm"))
    with pytest.raises(UserError, match="colls"):
        spec_from_dict({**good, "colls": 3})
    with pytest.raises(UserError, match="rows"):
        spec_from_dict({**good, "rows": "many"})
    with pytest.raises(UserError, match="off-chip"):
        spec_from_dict({**good, "off_chip": "hbm9"})
    with pytest.raises(UserError, match="style"):
        spec_from_dict({**good, "style": "systolic"})
    with pytest.raises(UserError, match="missing"):
        spec_from_dict({"rows": 4})
    with pytest.raises(UserError, match="rows, cols and lanes"):
        _eval([DECODE], rows=0)
