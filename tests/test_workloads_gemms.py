"""GEMM lists of prefill and decode: shapes, MACs, bytes and the numpy view."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from dse.errors import UserError
from workloads import (
    CLASSES,
    decode_gemms,
    gemm_arrays,
    gemm_table,
    load_preset,
    operand_bytes,
    parameter_breakdown,
    parameter_count,
    phase_gemms,
    prefill_gemms,
    workload_summary,
)


def _macs(gemms):
    return sum(g.macs for g in gemms)


def test_decode_macs_per_token_llama_2_7b_by_hand():
    # One decode token: every linear weight is used once per token (4 h^2 attention
    # projections, 3 h*i MLP, vocab*h lm_head); attention: scores and context, each
    # heads * head_dim * (context + 1) MACs per layer.
    h, i, v, n, heads, d = 4096, 11008, 32000, 32, 32, 128
    context, batch = 1024, 8
    linear = n * (4 * h * h + 3 * h * i) + v * h
    attention = n * 2 * heads * d * (context + 1)
    assert _macs(decode_gemms(load_preset("llama-2-7b"), batch, context)) == batch * (
        linear + attention)
    # ... which is the parameter count less the embedding table and norm weights (no MACs).
    spec = load_preset("llama-2-7b")
    parts = parameter_breakdown(spec)
    assert linear == parameter_count(spec) - parts["embedding"] - parts["norms"]


def test_decode_macs_opt_tied_lm_head_uses_embedding():
    h, f, v, n = 2048, 8192, 50272, 24
    context = 100
    linear = n * (4 * h * h + 2 * h * f) + v * h  # tied lm_head still multiplies
    attention = n * 2 * h * (context + 1)  # heads * head_dim = hidden
    assert _macs(decode_gemms(load_preset("opt-1.3b"), 1, context)) == linear + attention


def test_prefill_macs_tiny_by_hand():
    # tiny: hidden 64, intermediate 176, 4 heads of 16, 2 KV heads, 2 layers, vocab 512.
    h, i, v, n, heads, kv, d = 64, 176, 512, 2, 4, 2, 16
    batch, seq = 3, 10
    linear = batch * seq * n * (2 * h * h + 2 * h * kv * d + 3 * h * i)
    lm_head = batch * v * h  # last position only
    attention = batch * n * heads * 2 * seq * seq * d  # full L x L
    assert _macs(prefill_gemms(load_preset("tiny"), batch, seq)) == linear + lm_head + attention


def test_gemm_shapes_and_roles():
    spec = load_preset("llama-3-8b")
    gemms = {g.name: g for g in decode_gemms(spec, 4, 99)}
    assert list(gemms) == ["q", "k", "v", "attn_score", "attn_context", "o", "gate", "up",
                           "down", "lm_head"]
    q, k, score, context, down = (gemms[x] for x in ("q", "k", "attn_score", "attn_context",
                                                     "down"))
    assert (q.m, q.k, q.n, q.count, q.b_role) == (4, 4096, 4096, 32, "weight")
    assert (k.n, k.tensor_class) == (1024, "qkv")
    # 4 query heads share each of the 8 KV heads: stacked along M, one GEMM per KV head.
    assert (score.m, score.k, score.n, score.count) == (4, 128, 100, 4 * 8 * 32)
    assert (context.m, context.k, context.n) == (4, 100, 128)
    assert score.b_role == context.b_role == "kv_cache"
    assert (down.k, down.n, down.tensor_class) == (14336, 4096, "down")
    assert all(g.a_role == "activation" for g in gemms.values())
    assert {g.b_role for g in prefill_gemms(spec, 1, 8) if g.tensor_class in CLASSES[5:]} == {
        "activation"}


def test_plain_mlp_has_no_gate():
    names = [g.name for g in decode_gemms(load_preset("opt-1.3b"), 1, 1)]
    assert "gate" not in names and {"up", "down"} <= set(names)


def test_fused_qkv_same_totals():
    spec = load_preset("llama-2-70b")
    split, fused = prefill_gemms(spec, 2, 64), prefill_gemms(spec, 2, 64, fused_qkv=True)
    assert [g.name for g in fused][:1] == ["qkv"]
    assert fused[0].n == (64 + 2 * 8) * 128
    assert _macs(split) == _macs(fused)
    assert gemm_table(split)["weight_bytes"].sum() == gemm_table(fused)["weight_bytes"].sum()


def test_gqa_kv_bytes_are_a_fraction_of_multi_head():
    gqa = load_preset("llama-2-70b")
    mha = replace(gqa, kv_heads=gqa.heads, name="llama-2-70b-mha")
    batch, context = 4, 2047
    s_gqa = workload_summary(gqa, "decode", batch, context)
    s_mha = workload_summary(mha, "decode", batch, context)
    assert s_gqa["kv_bytes"] * 8 == s_mha["kv_bytes"]
    # Attention MACs are per query head, the same for both.
    attn = [c for c in CLASSES if c.startswith("attn")]
    macs = [sum(g.macs for g in decode_gemms(s, batch, context) if g.tensor_class in attn)
            for s in (gqa, mha)]
    assert macs[0] == macs[1]
    # K and V of 80 layers x 8 KV heads x 128 x 2048 tokens x 4 sequences, 2 bytes each.
    assert s_gqa["kv_bytes"] == s_gqa["kv_cache_bytes"] == 2 * 80 * 8 * 128 * 2048 * 4 * 2


def test_weight_bytes_at_a_format():
    spec = load_preset("llama-2-7b")
    summary = workload_summary(spec, "decode", 1, 0, weight_bits=4.5, act_bits=8)
    parts = parameter_breakdown(spec)
    gemm_weights = parameter_count(spec) - parts["embedding"] - parts["norms"]
    assert summary["weight_bytes"] == pytest.approx(gemm_weights * 4.5 / 8)
    assert summary["param_bytes"] == pytest.approx(parameter_count(spec) * 4.5 / 8)
    assert summary["kv_bits"] == 8  # defaults to the activation bits


def test_sliding_window_caps_attention_and_cache():
    spec = load_preset("mistral-7b")
    inside = workload_summary(spec, "decode", 1, 4095)
    beyond = workload_summary(spec, "decode", 1, 20000)
    assert beyond["kv_cache_bytes"] == inside["kv_cache_bytes"]
    assert beyond["macs"] == inside["macs"]
    assert prefill_gemms(spec, 1, 8192)[3].n == 4096


def test_table_columns_and_totals_agree():
    gemms = decode_gemms(load_preset("tiny"), 2, 5)
    table = gemm_table(gemms, weight_bits=4, act_bits=8, kv_bits=16)
    assert list(table.columns) == ["name", "class", "M", "N", "K", "count", "macs", "a_role",
                                   "b_role", "weight_bytes", "act_bytes", "kv_bytes"]
    assert (table["macs"] == table["M"] * table["N"] * table["K"] * table["count"]).all()
    score = table.set_index("name").loc["attn_score"]
    assert score["kv_bytes"] == score["K"] * score["N"] * score["count"] * 16 / 8
    assert score["weight_bytes"] == 0


def test_arrays_broadcast_over_design_points():
    gemms = prefill_gemms(load_preset("tiny"), 2, 16)
    arrays = gemm_arrays(gemms)
    assert arrays.macs.tolist() == [g.macs for g in gemms]
    assert [CLASSES[i] for i in arrays.tensor_class] == [g.tensor_class for g in gemms]
    weight_bits = np.array([4.25, 4.5, 8.0])
    a_bytes, b_bytes = operand_bytes(arrays, weight_bits, 8.0)
    assert a_bytes.shape == b_bytes.shape == (3, len(gemms))
    for row, bits in enumerate(weight_bits):
        table = gemm_table(gemms, weight_bits=bits, act_bits=8.0)
        expected = table["weight_bytes"] + table["act_bytes"] + table["kv_bytes"]
        np.testing.assert_allclose(a_bytes[row] + b_bytes[row], expected)
    grid = operand_bytes(arrays, weight_bits[:, None], np.array([4.0, 8.0])[None, :])
    assert grid[0].shape == grid[1].shape == (3, 2, len(gemms))


@pytest.mark.parametrize(
    ("phase", "batch", "tokens", "message"),
    [
        ("prefill", 0, 16, "batch must be a positive integer"),
        ("prefill", 1, 0, "sequence length must be a positive integer"),
        ("decode", 1, -1, "context must be an integer >= 0"),
        ("decode", 1.5, 3, "batch"),
        ("train", 1, 1, "unknown phase 'train'"),
    ],
)
def test_bad_step_sizes(phase, batch, tokens, message):
    with pytest.raises(UserError, match=message):
        phase_gemms(load_preset("tiny"), phase, batch, tokens)


def test_bad_bits():
    with pytest.raises(UserError, match="weight bits"):
        gemm_table(decode_gemms(load_preset("tiny"), 1, 1), weight_bits=0)
