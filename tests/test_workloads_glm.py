"""GLM-4.5 and GLM-4.5-Air (model_type glm4_moe): grouped-query attention with DeepSeek's mixture
of experts (leading dense layers, an ungated shared expert, a biased router); GLM-4.7-Flash
(glm4_moe_lite): DeepSeek-V3's architecture. Checked against the checkpoints' tensor shapes
and GEMMs counted by hand (the published parameter counts: tests/test_workloads_moe.py)."""

from __future__ import annotations

import numpy as np
import pytest
from gemm_spans import layers_by_name

from dse.errors import UserError
from workloads import (
    decode_gemms,
    kv_cache_elements,
    load_model,
    parameter_breakdown,
    parameter_count,
)
from workloads.hf import spec_from_hf_config
from workloads.presets import preset_config


def test_glm_4_7_flash_matches_its_published_total():
    """GLM-4.7-Flash's model card: a 30B-A3B mixture (DeepSeek-V3's latent attention)."""
    model = load_model("glm-4.7-flash")
    assert parameter_count(model) / 1e9 == pytest.approx(30, rel=0.01)
    assert model.kv_lora_rank == 512 and model.dense_layers == 1
    assert kv_cache_elements(model, 1, 1000) == 1000 * 47 * (512 + 64)


def _checkpoint_elements(c: dict) -> int:
    """Elements of the tensors a glm4_moe checkpoint holds for its main model (the safetensors
    index's names, layers 0 .. num_hidden_layers - 1): embed_tokens; per layer q_proj, k_proj,
    v_proj (weights and biases), o_proj (no bias), q_norm and k_norm where use_qk_norm, the
    two layer norms, the dense MLP or the experts with the shared expert, the router and its
    e_score_correction_bias; norm; lm_head."""
    h, heads, kv, d = (c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"],
                       c["head_dim"])  # fmt: skip
    w, experts, layers = c["moe_intermediate_size"], c["n_routed_experts"], c["num_hidden_layers"]
    attention = [(heads * d, h), (heads * d,), (kv * d, h), (kv * d,)]
    attention += [(kv * d, h), (kv * d,), (h, heads * d), (h,), (h,)]  # v, o, the layer norms
    attention += [(d,), (d,)] if c.get("use_qk_norm") else []
    dense = [(c["intermediate_size"], h)] * 2 + [(h, c["intermediate_size"])]
    shared = [(c["n_shared_experts"] * w, h)] * 2 + [(h, c["n_shared_experts"] * w)]
    moe = [(w, h), (w, h), (h, w)] * experts + shared + [(experts, h), (experts,)]
    k = c["first_k_dense_replace"]
    shapes = (attention * layers + dense * k + moe * (layers - k)
              + [(c["vocab_size"], h)] * 2 + [(h,)])  # fmt: skip
    return sum(int(np.prod(s)) for s in shapes)


@pytest.mark.parametrize("name", ["glm-4.5", "glm-4.5-air"])
def test_parameters_are_the_checkpoints_tensor_elements(name):
    config = preset_config(name)
    qk_norms = 2 * config["head_dim"] * config["num_hidden_layers"] * config.get("use_qk_norm", 0)
    # the per-head q/k norms are left out of the counts, as for qwen3 (`workloads.hf`)
    assert parameter_count(load_model(name)) == _checkpoint_elements(config) - qk_norms


def test_attention_bias_is_on_q_k_v_only():
    """Glm4MoeAttention: q_proj, k_proj and v_proj take attention_bias, o_proj never has one."""
    config = preset_config("glm-4.5-air")
    with_bias = parameter_breakdown(load_model("glm-4.5-air"))["attention"]
    without = parameter_breakdown(spec_from_hf_config({**config, "attention_bias": False},
                                                      "no-bias"))["attention"]  # fmt: skip
    h, heads, kv, d = 4096, 96, 8, 128
    assert with_bias - without == 46 * (heads * d + 2 * kv * d)  # not + h for o_proj
    assert without == 46 * (h * heads * d * 2 + h * 2 * kv * d)


def test_decode_gemms_have_dense_layers_a_shared_expert_and_grouped_query_attention():
    """GLM-4.5 decode at 4096 tokens of context, counted by hand from its config: 96 query
    heads of 128 over 8 key/value heads, 3 dense layers of width 12288, 89 layers of 160
    experts of 1536 (8 per token) with one ungated shared expert of that width."""
    m = load_model("glm-4.5")
    gemms = decode_gemms(m, 1, 4096)
    by_name = {g.name: g for g in gemms}
    assert [(by_name[n].n, by_name[n].count) for n in ("q", "k", "v")] == [
        (96 * 128, 92), (8 * 128, 92), (8 * 128, 92)]
    assert (by_name["o"].k, by_name["o"].n) == (96 * 128, 5120)
    score = by_name["attn_score"]
    assert (score.m, score.k, score.n, score.count) == (12, 128, 4097, 92 * 8)
    for name, k, n in (("gate", 5120, 12288), ("up", 5120, 12288), ("down", 12288, 5120)):
        g = by_name[name]
        assert (g.k, g.n, g.count, g.layers) == (k, n, 3, 3)
    for name in ("expert_gate", "expert_up", "expert_down"):
        g = by_name[name]
        assert (g.count, g.stored, g.layers) == (89 * 8, 89 * 160, 89)
    for name in ("shared_gate", "shared_up", "shared_down"):  # the shared MLP's projections
        g = by_name[name]
        assert (g.count, g.layers, max(g.k, g.n)) == (89, 89, 5120)
    per_name = layers_by_name(gemms, m.layers)
    assert per_name["q"] == pytest.approx(92) and per_name["up"] == pytest.approx(3)
    assert per_name["expert_up"] == pytest.approx(89)
    assert kv_cache_elements(m, 1, 4096) == 4096 * 92 * 2 * 8 * 128


def test_a_glm_config_without_its_experts_fields_is_refused_by_name():
    config = {k: v for k, v in preset_config("glm-4.5").items() if k != "first_k_dense_replace"}
    with pytest.raises(UserError, match="first_k_dense_replace"):
        spec_from_hf_config(config, "glm")

