"""MiniMax-M2 (model_type minimax_m2): grouped-query attention with a full-width q/k RMSNorm and
Mixtral's experts behind a router with a bias per expert. Checked against the published
parameter counts, the checkpoint's tensor shapes and GEMMs counted by hand."""

from __future__ import annotations

import numpy as np
import pytest

from workloads import decode_gemms, load_model, parameter_breakdown, parameter_count
from workloads.presets import preset_config


def test_parameters_match_the_published_figures():
    """MiniMax-M2's model card (MiniMaxAI/MiniMax-M2): "230 billion total parameters with 10
    billion active". The total leaves out the multi-token-prediction modules (not modelled);
    the activated count leaves out the input embedding (a table look-up) and is stated to two
    digits (10.4B here)."""
    model = load_model("minimax-m2")
    assert parameter_count(model) / 1e9 == pytest.approx(230, rel=0.01)
    active = parameter_count(model, active=True) - parameter_breakdown(model)["embedding"]
    assert active / 1e9 == pytest.approx(10, rel=0.05)


def test_parameters_are_the_checkpoints_tensor_elements():
    """The safetensors names of the main model: embed_tokens; per layer q/k/v/o_proj (no
    biases), q_norm and k_norm over all heads (left out of the counts, as qwen3's per-head
    norms), the two layer norms, block_sparse_moe.gate with its e_score_correction_bias and
    the experts' w1, w3 (gate, up) and w2 (down); norm; lm_head."""
    c = preset_config("minimax-m2")
    h, heads, kv, d = (c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"],
                       c["head_dim"])  # fmt: skip
    w, experts, layers = c["intermediate_size"], c["num_local_experts"], c["num_hidden_layers"]
    layer = [(heads * d, h), (kv * d, h), (kv * d, h), (h, heads * d), (heads * d,), (kv * d,),
             (h,), (h,), (experts, h), (experts,)] + [(w, h), (w, h), (h, w)] * experts
    shapes = layer * layers + [(c["vocab_size"], h)] * 2 + [(h,)]
    qk_norms = (heads * d + kv * d) * layers
    assert parameter_count(load_model("minimax-m2")) == sum(
        int(np.prod(s)) for s in shapes) - qk_norms


def test_decode_gemms_count_eight_of_256_experts_per_token():
    m = load_model("minimax-m2")
    gemms = {g.name: g for g in decode_gemms(m, 1, 4096)}
    assert [(gemms[n].k, gemms[n].n) for n in ("q", "k", "v", "o")] == [
        (3072, 48 * 128), (3072, 8 * 128), (3072, 8 * 128), (48 * 128, 3072)]
    up = gemms["expert_up"]
    assert (up.k, up.n, up.count, up.stored) == (3072, 1536, 62 * 8, 62 * 256)
    assert not any(name.startswith("shared_") for name in gemms)  # no shared expert
    assert gemms["attn_score"].m == 48 // 8

