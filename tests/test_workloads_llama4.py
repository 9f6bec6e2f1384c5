"""Llama 4 (model_types llama4, llama4_text): experts with an ungated shared expert on every
layer (Scout) or every other one (Maverick, dense MLPs between), and chunked attention on
the layers with rotary positions. Checked against the checkpoints' tensor shapes and chunks
counted by hand (the published parameter counts: test_workloads_moe.py)."""

from __future__ import annotations

import numpy as np
import pytest
from gemm_spans import layers_by_name

from dse.cli import main
from dse.errors import UserError
from workloads import (
    decode_gemms,
    kv_cache_elements,
    load_model,
    parameter_breakdown,
    parameter_count,
    prefill_gemms,
)
from workloads.hf import spec_from_hf_config
from workloads.presets import preset_config
from workloads.profiles import classify_tensor


def _checkpoint_elements(c: dict) -> int:
    """Elements of a Llama 4 checkpoint's language model (transformers' names: embed_tokens;
    per layer q/k/v/o_proj, two norms, and feed_forward: router, experts.gate_up_proj and
    down_proj stacked, shared_expert's gate/up/down_proj, or a dense gate/up/down_proj;
    norm, lm_head), from their shapes."""
    h, layers, d = c["hidden_size"], c["num_hidden_layers"], c["head_dim"]
    heads, kv, e, w = (c["num_attention_heads"], c["num_key_value_heads"],
                       c["num_local_experts"], c["intermediate_size"])  # fmt: skip
    attention = [(heads * d, h), (kv * d, h), (kv * d, h), (h, heads * d), (h,), (h,)]
    moe = [(e, h), (e, h, 2 * w), (e, w, h), (w, h), (w, h), (h, w)]
    dense = [(c["intermediate_size_mlp"], h)] * 2 + [(h, c["intermediate_size_mlp"])]
    step = c["interleave_moe_layer_step"]
    experts = len(range(step - 1, layers, step))
    shapes = (attention * layers + moe * experts + dense * (layers - experts)
              + [(c["vocab_size"], h)] * 2 + [(h,)])  # fmt: skip
    return sum(int(np.prod(s)) for s in shapes)


@pytest.mark.parametrize("name", ["llama-4-scout", "llama-4-maverick"])
def test_parameters_are_the_checkpoints_tensor_elements(name):
    text = preset_config(name)["text_config"]
    assert parameter_count(load_model(name)) == _checkpoint_elements(text)


@pytest.mark.parametrize(("context", "chunk_seen"), [(100, 101), (8191, 8192), (8192, 1),
                                                     (10000, 1809), (3 * 8192 + 5, 6)])
def test_decode_sees_the_current_chunk_on_rotary_layers_and_everything_on_the_others(
        context, chunk_seen):  # fmt: skip
    m, batch = load_model("llama-4-scout"), 3
    scores = [g for g in decode_gemms(m, batch, context) if g.name == "attn_score"]
    seen = {g.n: g.count // (batch * 8) for g in scores}  # tokens seen -> layers
    if chunk_seen == context + 1:
        assert seen == {context + 1: 48}
    else:
        assert seen == {chunk_seen: 36, context + 1: 12}  # every 4th layer has no rotary
    kept = 36 * chunk_seen + 12 * (context + 1)
    assert kv_cache_elements(m, batch, context + 1) == 2 * batch * 8 * 128 * kept


def test_prefill_chunks_see_their_own_tokens():
    m, batch, seq = load_model("llama-4-scout"), 2, 20000
    scores = [g for g in prefill_gemms(m, batch, seq) if g.name == "attn_score"]
    per_layer = {(g.m // 5, g.n): g.count // (batch * 8) for g in scores}  # 5 queries per kv
    # 36 chunked layers: two chunks of 8192 queries and one of the 3616 left, each against
    # its own keys; 12 layers against all 20000 tokens
    assert per_layer == {(8192, 8192): 36 * 2, (3616, 3616): 36, (seq, seq): 12}
    macs = sum(g.macs for g in scores)
    assert macs == batch * 40 * 128 * (36 * (2 * 8192**2 + 3616**2) + 12 * seq**2)


def test_maverick_alternates_dense_and_expert_layers():
    m = load_model("llama-4-maverick")
    assert (m.dense_layers, m.moe_layers, m.intermediate, m.expert_intermediate) == (
        24, 24, 16384, 8192)
    gemms = decode_gemms(m, 4, 1000)
    spans = layers_by_name(gemms, m.layers)
    assert spans["gate"] == spans["down"] == 24 and spans["q"] == 48
    assert spans["expert_up"] == pytest.approx(24) and spans["shared_up"] == 24
    parts = parameter_breakdown(m)
    stored = sum(g.k * g.n * (g.stored or g.count) for g in gemms if g.b_role == "weight")
    router = 24 * 5120 * 128
    assert stored == parts["attention"] + parts["mlp"] - router + parts["lm_head"]


def _text(**change) -> dict:
    return {**preset_config("llama-4-scout")["text_config"], **change}


def test_explicit_layer_lists_give_the_same_model():
    types = ["full_attention" if (i + 1) % 4 == 0 else "chunked_attention" for i in range(48)]
    default = load_model("llama-4-scout")
    for change in ({"layer_types": types}, {"no_rope_layers": [int(t != "full_attention")
                                                                for t in types]},
                   {"moe_layers": list(range(48))}):  # fmt: skip
        assert spec_from_hf_config(_text(**change), "llama-4-scout") == default
    halves = spec_from_hf_config(_text(moe_layers=list(range(0, 48, 2))), "x")
    assert (halves.dense_layers, halves.moe_layers) == (24, 24)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"layer_types": ["sliding_attention"] * 48},
         r"layer_types\[0\].*valid choices: chunked_attention, full_attention"),
        ({"no_rope_layers": [1, 0]}, "no_rope_layers must list 0 or 1 for each of 48 layers"),
        ({"moe_layers": [0, 48]}, "moe_layers must list distinct layer indices in 0 .. 47"),
        ({"interleave_moe_layer_step": 0}, "interleave_moe_layer_step: 0 is out of range"),
        ({"attention_chunk_size": -1}, "attention_chunk_size: -1 is out of range"),
    ],
)
def test_bad_configs_give_one_clear_error(change, message):
    with pytest.raises(UserError, match=message):
        spec_from_hf_config(_text(**change), "config.json")


@pytest.mark.parametrize(
    ("tensor", "expected"),
    [
        ("language_model.model.layers.1.feed_forward.experts.gate_up_proj", ("weight", "gate_up")),
        ("language_model.model.layers.1.feed_forward.experts.down_proj", ("weight", "down")),
        ("language_model.model.layers.1.feed_forward.shared_expert.up_proj.weight",
         ("weight", "gate_up")),
        ("language_model.model.layers.1.feed_forward.router.weight", None),
        ("vision_model.model.layers.0.mlp.fc1.weight", None),
        ("multi_modal_projector.linear_1.weight", None),
    ],
)
def test_profile_classes_of_a_llama4_checkpoint(tensor, expected):
    assert classify_tensor(tensor) == expected


def test_show_states_the_chunks_and_the_dense_layers(capsys):
    assert main(["workload", "show", "llama-4-maverick", "--seq", "32768"]) == 0
    out = capsys.readouterr().out
    assert "chunked attention: 36 of 48 layers attend within chunks of 8192 tokens" in out
    assert "mixture of experts on 24 of 48 layers, a dense MLP on the other 24" in out
