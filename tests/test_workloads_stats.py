"""Tensor statistics: defaults with sources, overrides, and `dse profile` import."""

from __future__ import annotations

import math

import pytest
import yaml

from dse.errors import UserError
from workloads import (
    CLASSES,
    OPERAND_CLASSES,
    apply_overrides,
    default_stats,
    load_profile_stats,
    operand_stats,
    stats_table,
)
from workloads.profiles import classify_tensor


def test_defaults_cover_every_operand_with_a_source():
    stats = default_stats()
    expected = {(op, cls) for op, classes in OPERAND_CLASSES.items() for cls in classes}
    assert set(stats) == expected
    for key, entry in stats.items():
        assert entry.nu > 2 and entry.source.strip(), key
    # Dotzel et al. (ICML 2024) as quoted in issue 5: Llama-2-7B weights nu ~ 6.8,
    # activations nu ~ 3.0.
    assert stats[("weight", "qkv")].nu == 6.8
    assert stats[("activation", "down")].nu == 3.0
    assert "Dotzel" in stats[("weight", "down")].source
    assert "assumed" in stats[("kv_cache", "attn_score")].source


def test_every_gemm_class_has_operand_stats():
    stats = default_stats()
    for cls in CLASSES:
        assert operand_stats(stats, cls)[0] is stats[("activation", cls)]
    assert operand_stats(stats, "attn_context")[1] is stats[("kv_cache", "attn_context")]
    assert operand_stats(stats, "gate_up")[1] is stats[("weight", "gate_up")]


def test_overrides_all_then_class():
    base = default_stats()
    stats = apply_overrides(base, {
        "weight": {"qkv": {"nu": 5.0, "sigma": 0.02}, "all": {"nu": 8.0}},
        "kv_cache": {"attn_score": {"nu": math.inf, "source": "normal keys"}},
    })
    assert stats[("weight", "qkv")].nu == 5.0 and stats[("weight", "qkv")].sigma == 0.02
    assert stats[("weight", "down")].nu == 8.0
    assert stats[("weight", "down")].source == "override"
    assert stats[("kv_cache", "attn_score")].source == "normal keys"
    assert stats[("activation", "o")] == base[("activation", "o")]
    assert base[("weight", "qkv")].nu == 6.8  # the input table is not modified
    cleared = apply_overrides(stats, {"weight": {"qkv": {"sigma": None}}})
    assert cleared[("weight", "qkv")].sigma is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"weights": {}}, r"unknown stats operand 'weights' \(did you mean 'weight'"),
        ({"weight": {"attn_score": {"nu": 5}}}, r"tensor class for weight 'attn_score'"),
        ({"activation": {"qkv": {"df": 5}}}, r"unknown stats field in activation.qkv 'df'"),
        ({"weight": {"qkv": {"nu": 2.0}}}, r"weight.qkv.nu must be a number > 2"),
        ({"weight": {"qkv": {"sigma": -1}}}, r"sigma must be a number > 0"),
        ({"weight": {"qkv": {"nu": "five"}}}, "nu must be a number"),
        ({"weight": {"qkv": {"scale_spread_log2": 3}}}, r"qkv.scale_spread_log2 must be at most 2"),
        ({"weight": ["qkv"]}, "expected a mapping"),
    ],
)
def test_bad_overrides_name_the_key(overrides, message):
    with pytest.raises(UserError, match=message):
        apply_overrides(default_stats(), overrides)


def test_new_entry_needs_nu():
    with pytest.raises(UserError, match="nu is required"):
        apply_overrides({}, {"weight": {"qkv": {"sigma": 1.0}}})


def test_stats_table_rows():
    table = stats_table(default_stats())
    assert len(table) == 14
    assert list(table.columns) == ["operand", "class", "nu", "sigma", "nu_within",
                                   "scale_spread_log2", "source"]


def test_classify_tensor_names():
    assert classify_tensor("model.layers.3.self_attn.k_proj.weight") == ("weight", "qkv")
    assert classify_tensor("model.decoder.layers.0.fc1.weight") == ("weight", "gate_up")
    assert classify_tensor("model.decoder.layers.0.self_attn.out_proj.weight") == ("weight", "o")
    assert classify_tensor("transformer.h.0.self_attention.query_key_value.weight") == (
        "weight", "qkv")
    assert classify_tensor("lm_head.weight") == ("weight", "lm_head")
    assert classify_tensor("model.layers.0.mlp.down_proj.input") == ("activation", "down")
    assert classify_tensor("model.layers.0.self_attn.v_proj.output") == (
        "kv_cache", "attn_context")
    for name in ("model.embed_tokens.weight", "model.norm.weight",
                 "model.layers.0.self_attn.q_proj.bias", "weights"):
        assert classify_tensor(name) is None
    # defect: Mixtral's experts (w1 gate, w3 up, w2 down) and Meta's original checkpoints
    # (wq, wk, wv, wo; feed_forward.w1/w2/w3) were all unmatched
    moe = "model.layers.0.block_sparse_moe"
    assert classify_tensor(f"{moe}.experts.3.w1.weight") == ("weight", "gate_up")
    assert classify_tensor(f"{moe}.experts.3.w3.weight") == ("weight", "gate_up")
    assert classify_tensor(f"{moe}.experts.3.w2.weight") == ("weight", "down")
    assert classify_tensor(f"{moe}.experts.3.w2.input") == ("activation", "down")
    assert classify_tensor(f"{moe}.gate.weight") is None  # the router: no GEMM class
    assert classify_tensor("layers.0.attention.wk.weight") == ("weight", "qkv")
    assert classify_tensor("layers.0.attention.wo.weight") == ("weight", "o")
    assert classify_tensor("layers.0.attention.wv.output") == ("kv_cache", "attn_context")
    assert classify_tensor("layers.0.feed_forward.w2.weight") == ("weight", "down")


def test_classify_names_told_apart_by_their_parents():
    """Defect: BERT's (and RoBERTa's, ViT's) modules have the same name `dense` for the
    attention output, the intermediate and the output layer: all three were profiled as o, and
    the queries, keys and values (`attention.self.query` ...) were unmatched."""
    layer = "encoder.layer.2"
    assert classify_tensor(f"{layer}.attention.output.dense.weight") == ("weight", "o")
    assert classify_tensor(f"{layer}.intermediate.dense.weight") == ("weight", "gate_up")
    assert classify_tensor(f"{layer}.output.dense.weight") == ("weight", "down")
    assert classify_tensor(f"{layer}.output.dense.input") == ("activation", "down")
    for part in ("query", "key", "value"):
        assert classify_tensor(f"{layer}.attention.self.{part}.weight") == ("weight", "qkv")
    assert classify_tensor(f"{layer}.attention.self.query.output") == ("activation", "attn_score")
    assert classify_tensor(f"{layer}.attention.self.key.output") == ("kv_cache", "attn_score")
    assert classify_tensor(f"{layer}.attention.self.value.output") == (
        "kv_cache", "attn_context")
    assert classify_tensor(f"{layer}.attention.output.LayerNorm.weight") is None
    assert classify_tensor("pooler.dense.weight") is None  # a task head, not a layer's GEMM
    # the names other families give `dense` keep their class
    assert classify_tensor("model.layers.0.self_attn.dense.weight") == ("weight", "o")  # Phi-2
    assert classify_tensor("gpt_neox.layers.0.attention.dense.weight") == ("weight", "o")
    assert classify_tensor("model.layers.0.query.weight") is None  # no `self` parent
    # gpt-oss's original checkpoint (openai/gpt-oss, torch/model.py): block.N.attn.qkv and
    # .attn.out are linear layers; mlp.mlp1_weight / mlp2_weight every expert's weights
    assert classify_tensor("block.3.attn.qkv.weight") == ("weight", "qkv")
    assert classify_tensor("block.3.attn.out.weight") == ("weight", "o")
    assert classify_tensor("block.3.mlp.mlp1_weight") == ("weight", "gate_up")
    assert classify_tensor("block.3.mlp.mlp2_weight") == ("weight", "down")
    assert classify_tensor("unembedding.weight") == ("weight", "lm_head")
    for name in ("block.3.mlp.mlp1_bias", "block.3.mlp.gate.weight", "embedding.weight",
                 "block.3.attn.sinks", "block.3.attn.norm.scale", "block.3.out.weight"):
        assert classify_tensor(name) is None
    # a multimodal checkpoint's vision encoder and projector are no layer of the language
    # model, though their modules are named alike (Gemma 3, LLaVA, Qwen2-VL)
    for name in ("vision_tower.vision_model.encoder.layers.0.self_attn.q_proj.weight",
                 "vision_tower.vision_model.encoder.layers.0.mlp.fc2.weight",
                 "multi_modal_projector.linear_1.weight", "visual.blocks.0.mlp.down_proj.weight"):
        assert classify_tensor(name) is None, name
    assert classify_tensor("language_model.model.layers.0.self_attn.q_proj.weight") == (
        "weight", "qkv")
    # T5's feed-forward output is named wo, as Meta's attention output is
    t5 = "encoder.block.0.layer.1.DenseReluDense"
    assert classify_tensor(f"{t5}.wo.weight") == ("weight", "down")
    assert classify_tensor(f"{t5}.wi_1.weight") == ("weight", "gate_up")


def _profile(tmp_path, tensors):
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump({"tensors": tensors}))
    return path


def _fit(n, nu, sigma, within=None, spread=None):
    entry = {"n_values": n, "pooled": {"nu": nu, "sigma": sigma, "ks": 0.01, "ks_normal": 0.03}}
    if within is not None:
        entry["within_group"] = {"nu": within, "sigma": 1.0, "group": "row",
                                 "scale_spread_log2": spread}
    return entry


def test_profile_aggregates_per_class(tmp_path):
    path = _profile(tmp_path, {
        "model.layers.0.self_attn.q_proj.weight": _fit(100, 4.0, 0.02, within=6.0, spread=0.3),
        "model.layers.0.self_attn.k_proj.weight": _fit(300, 5.0, 0.04, within=8.0, spread=0.5),
        "model.layers.1.self_attn.v_proj.weight": _fit(100, 9.0, 0.02),
        "model.layers.0.mlp.down_proj.weight": _fit(10, 7.5, 0.01),
        "model.embed_tokens.weight": _fit(10, 4.0, 0.1),
        "model.layers.0.input_layernorm.weight": _fit(10, 30.0, 1.0),
    })
    profile = load_profile_stats(path)
    assert profile.unmatched == ("model.embed_tokens.weight",
                                 "model.layers.0.input_layernorm.weight")
    qkv = profile.overrides["weight"]["qkv"]
    assert qkv["nu"] == 5.0  # median of 4, 5, 9
    # Pooled scale: sqrt((100 * 0.02^2 + 300 * 0.04^2 + 100 * 0.02^2) / 500)
    assert qkv["sigma"] == pytest.approx(math.sqrt((2 * 100 * 0.02**2 + 300 * 0.04**2) / 500))
    assert qkv["nu_within"] == 7.0 and qkv["scale_spread_log2"] == pytest.approx(0.4)
    assert "down" in profile.overrides["weight"] and "nu_within" not in (
        profile.overrides["weight"]["down"])
    stats = apply_overrides(default_stats(), profile.overrides)
    assert stats[("weight", "qkv")].nu == 5.0
    assert str(path) in stats[("weight", "qkv")].source
    assert stats[("weight", "o")].nu == 6.8  # not profiled: default kept


def test_profile_errors(tmp_path):
    with pytest.raises(UserError, match="cannot read profile"):
        load_profile_stats(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("tensors: [1, 2")
    with pytest.raises(UserError, match="not valid YAML"):
        load_profile_stats(bad)
    bad.write_text("fits: {}")
    with pytest.raises(UserError, match="tensors"):
        load_profile_stats(bad)
    path = _profile(tmp_path, {"model.layers.0.mlp.up_proj.weight": {"n_values": 5,
                                                                     "pooled": {"nu": 4.0}}})
    with pytest.raises(UserError, match=r"up_proj.weight.*missing pooled.sigma"):
        load_profile_stats(path)
