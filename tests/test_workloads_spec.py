"""Presets, HuggingFace config import and parameter counts."""

from __future__ import annotations

import json

import pytest

from dse.errors import UserError
from workloads import (
    load_hf_config,
    load_model,
    load_preset,
    parameter_breakdown,
    parameter_count,
    preset_config,
    preset_names,
    spec_from_hf_config,
)

# Known totals listed in issue 5 (for the Llama and Mistral checkpoints these are the
# parameter counts HuggingFace reports for the released weights, rounded).
KNOWN_TOTALS = {
    "llama-2-7b": 6.74e9,
    "llama-2-13b": 13.0e9,
    "llama-2-70b": 68.98e9,
    "llama-3-8b": 8.03e9,
    "llama-3-70b": 70.55e9,
    "mistral-7b": 7.24e9,
    "opt-1.3b": 1.316e9,
    "opt-6.7b": 6.658e9,
    "opt-13b": 12.85e9,
}


@pytest.mark.parametrize("name", sorted(KNOWN_TOTALS))
def test_parameter_counts_match_known_totals(name):
    assert parameter_count(load_preset(name)) == pytest.approx(KNOWN_TOTALS[name], rel=0.005)


def test_llama_2_7b_parameter_count_exact():
    # Written out independently: embedding + lm_head, 32 layers of (q, k, v, o; gate, up, down;
    # two RMSNorm weights), final norm.
    vocab, hidden, inter, layers = 32000, 4096, 11008, 32
    expected = 2 * vocab * hidden + layers * (4 * hidden**2 + 3 * hidden * inter + 2 * hidden)
    expected += hidden
    assert parameter_count(load_preset("llama-2-7b")) == expected == 6_738_415_616


def test_opt_1_3b_parameter_count_exact():
    # OPT: tied embedding, learned positions (2048 + 2 rows), biased q/k/v/out/fc1/fc2,
    # LayerNorms with weight and bias (two per layer and a final one).
    v, h, f, n = 50272, 2048, 8192, 24
    per_layer = 4 * (h * h + h) + (h * f + f) + (f * h + h) + 2 * 2 * h
    expected = v * h + (2048 + 2) * h + n * per_layer + 2 * h
    assert parameter_count(load_preset("opt-1.3b")) == expected


def test_presets_hold_the_released_config_fields():
    # Values from the released HuggingFace config.json files, as issue 5 lists them.
    expected = {
        "llama-2-7b": dict(hidden_size=4096, intermediate_size=11008, num_attention_heads=32,
                           num_key_value_heads=32, num_hidden_layers=32, vocab_size=32000),
        "llama-2-70b": dict(hidden_size=8192, intermediate_size=28672, num_attention_heads=64,
                            num_key_value_heads=8, num_hidden_layers=80, vocab_size=32000),
        "llama-3-8b": dict(hidden_size=4096, intermediate_size=14336, num_key_value_heads=8,
                           vocab_size=128256),
        "mistral-7b": dict(hidden_size=4096, intermediate_size=14336, num_key_value_heads=8,
                           vocab_size=32000, sliding_window=4096),
        "opt-1.3b": dict(hidden_size=2048, ffn_dim=8192, word_embed_proj_dim=2048,
                         activation_function="relu", max_position_embeddings=2048),
    }
    for name, fields in expected.items():
        config = preset_config(name)
        assert {k: config[k] for k in fields} == fields, name


def test_every_preset_loads_and_tiny_is_small():
    assert {"llama-2-7b", "llama-3-8b", "mistral-7b", "opt-1.3b", "tiny"} <= set(preset_names())
    for name in preset_names():
        assert load_preset(name).name == name
    assert parameter_count(load_preset("tiny")) < 1_000_000


def test_preset_names_are_case_insensitive():
    assert load_preset("Llama-2-7B") == load_preset("llama-2-7b")
    assert load_model("LLAMA-3-8B").kv_heads == 8


@pytest.mark.parametrize(("checkpoint", "preset"), [
    ("meta-llama/Llama-2-7b-hf", "llama-2-7b"), ("zai-org/GLM-4.5", "glm-4.5"),
    ("deepseek-ai/DeepSeek-V3", "deepseek-v3"), ("ZAI-ORG/glm-4.5-air", "glm-4.5-air"),
])  # fmt: skip
def test_a_preset_is_also_named_by_its_checkpoint_id(checkpoint, preset):
    """The HuggingFace id a preset's config.json comes from (its `_name_or_path`) names it
    too: `model: zai-org/GLM-4.5` was refused as unknown (it is neither a file nor an id)."""
    assert load_model(checkpoint) == load_preset(preset)
    assert preset_config(checkpoint) == preset_config(preset)


def test_unknown_preset_suggests_close_names():
    with pytest.raises(UserError, match=r"llama-2-7b.*valid choices: .*mistral-7b"):
        load_preset("llama2-7b")
    # a checkpoint id close to the presets' (GLM-4.7 is GLM-4.5's architecture)
    with pytest.raises(UserError, match=r"did you mean 'zai-org/GLM-4\.[56]'"):
        load_preset("zai-org/GLM-4.7")


def test_tied_embeddings_counted_once():
    untied = load_preset("llama-2-7b")
    config = {**preset_config("llama-2-7b"), "tie_word_embeddings": True}
    tied = spec_from_hf_config(config, "tied")
    assert parameter_count(untied) - parameter_count(tied) == 32000 * 4096
    assert parameter_breakdown(tied)["lm_head"] == 0


def _write(tmp_path, config, name="config.json"):
    path = tmp_path / name
    path.write_text(json.dumps(config))
    return path


LLAMA_LIKE = {
    "model_type": "llama", "hidden_size": 512, "intermediate_size": 1376,
    "num_attention_heads": 8, "num_hidden_layers": 4, "vocab_size": 1000,
    "hidden_act": "silu", "max_position_embeddings": 2048,
}


def test_import_llama_like_without_kv_heads_is_multi_head(tmp_path):
    spec = load_hf_config(_write(tmp_path, LLAMA_LIKE))
    assert (spec.heads, spec.kv_heads, spec.head_dim) == (8, 8, 64)
    assert spec.gated_mlp and not spec.tied_embeddings and not spec.layer_norm
    h, i, v, n = 512, 1376, 1000, 4
    assert parameter_count(spec) == 2 * v * h + n * (4 * h * h + 3 * h * i + 2 * h) + h


def test_import_directory_holding_config(tmp_path):
    _write(tmp_path, LLAMA_LIKE)
    assert load_model(tmp_path).hidden == 512


def test_import_grouped_query_with_explicit_head_dim(tmp_path):
    config = {**LLAMA_LIKE, "num_key_value_heads": 2, "head_dim": 128}  # 8 * 128 != 512
    spec = load_model(_write(tmp_path, config))
    assert (spec.kv_heads, spec.head_dim, spec.group) == (2, 128, 4)
    h = 512
    attention = h * 8 * 128 + 2 * h * 2 * 128 + 8 * 128 * h
    assert parameter_breakdown(spec)["attention"] == 4 * attention


def test_import_tied_qwen2_like_with_qkv_bias(tmp_path):
    config = {**LLAMA_LIKE, "model_type": "qwen2", "num_key_value_heads": 2,
              "tie_word_embeddings": True, "sliding_window": 4096, "use_sliding_window": False}
    spec = load_hf_config(_write(tmp_path, config))
    assert spec.tied_embeddings and spec.qkv_bias and not spec.o_bias
    assert spec.sliding_window is None  # only applies with use_sliding_window
    h, d = 512, 64
    attention = h * (8 * d + 2 * 2 * d) + 8 * d * h + (8 * d + 2 * 2 * d)
    assert parameter_breakdown(spec)["attention"] == 4 * attention
    assert parameter_breakdown(spec)["lm_head"] == 0


def test_import_opt_like(tmp_path):
    config = {"model_type": "opt", "hidden_size": 256, "ffn_dim": 1024,
              "num_attention_heads": 4, "num_hidden_layers": 2, "vocab_size": 1000,
              "max_position_embeddings": 512, "word_embed_proj_dim": 256,
              "activation_function": "relu", "do_layer_norm_before": True}
    spec = load_hf_config(_write(tmp_path, config))
    assert not spec.gated_mlp and spec.tied_embeddings and spec.layer_norm
    assert spec.position_embeddings == 514
    parts = parameter_breakdown(spec)
    assert parts["mlp"] == 2 * (256 * 1024 + 1024 + 1024 * 256 + 256)
    assert parts["norms"] == (2 * 2 + 1) * 2 * 256


def test_mixtures_this_engine_does_not_model_are_refused_by_name(tmp_path):
    deepseek = {**LLAMA_LIKE, "model_type": "llama", "n_routed_experts": 64,
                "num_experts_per_tok": 6, "kv_lora_rank": 512}  # DeepSeek-V2 style fields
    with pytest.raises(UserError, match=r"kv_lora_rank, n_routed_experts, num_experts_per_tok "
                                        r"\(mixture of experts; multi-head latent attention\)"):
        load_hf_config(_write(tmp_path, deepseek))
    mixtral = {**LLAMA_LIKE, "model_type": "mixtral", "num_local_experts": 8}
    with pytest.raises(UserError, match=r"missing field num_experts_per_tok"):
        load_hf_config(_write(tmp_path, mixtral))
    sparse_step = {**LLAMA_LIKE, "model_type": "qwen2_moe", "num_experts": 60,
                   "num_experts_per_tok": 4, "moe_intermediate_size": 1408,
                   "decoder_sparse_step": 2}
    with pytest.raises(UserError, match=r"decoder_sparse_step \(dense MLP layers among"):
        load_hf_config(_write(tmp_path, sparse_step))
    top_k = {**mixtral, "num_experts_per_tok": 9}
    with pytest.raises(UserError, match=r"experts_per_token must be in 1 .. 8, got 9"):
        load_hf_config(_write(tmp_path, top_k))


def test_opt_projected_embeddings_are_refused(tmp_path):
    config = {"model_type": "opt", "hidden_size": 1024, "ffn_dim": 4096,
              "num_attention_heads": 16, "num_hidden_layers": 24, "vocab_size": 50272,
              "max_position_embeddings": 2048, "word_embed_proj_dim": 512}
    with pytest.raises(UserError, match="word_embed_proj_dim"):
        load_hf_config(_write(tmp_path, config))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model_type": "gpt2"},
         r"unknown model_type.*'gpt2'.*valid choices: deepseek_v2, deepseek_v3, deepseek_v32, "
         r"gemma, gemma2, gemma3, gemma3_text, glm4_moe, glm4_moe_lite, gpt_oss, kimi_k2, llama"),
        ({"intermediate_size": None}, "missing field.*intermediate_size"),
        ({"num_attention_heads": 7}, "not a multiple of num_attention_heads"),
        ({"num_key_value_heads": 3}, "not a multiple of 3 key/value heads"),
        ({"layer_types": ["full_attention", "sliding_attention"]}, "layer_types"),
        ({"hidden_size": "512"}, "hidden_size"),
    ],
)
def test_bad_configs_give_one_clear_error(tmp_path, change, message):
    with pytest.raises(UserError, match=message):
        load_hf_config(_write(tmp_path, {**LLAMA_LIKE, **change}))


def test_unreadable_config_files(tmp_path):
    with pytest.raises(UserError, match="cannot read model config"):
        load_hf_config(tmp_path / "absent.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        load_hf_config(bad)
    listed = _write(tmp_path, [1, 2], "list.json")
    with pytest.raises(UserError, match="JSON object"):
        load_hf_config(listed)


#: Qwen3 model cards (huggingface.co/Qwen/Qwen3-0.6B, -8B; Qwen3 Technical Report,
#: arXiv:2505.09388, Table 1): parameters and parameters without the embedding (billions).
QWEN3_CARD = {"qwen3-0.6b": (0.6, 0.44), "qwen3-8b": (8.2, 6.95)}


@pytest.mark.parametrize("name", sorted(QWEN3_CARD))
def test_qwen3_dense_matches_its_model_card(name):
    """Qwen3's dense models (model_type qwen3: llama's layout without biases, per-head q/k
    RMSNorm, explicit head_dim; 0.6B ties its embedding, 8B does not) were refused as an
    unknown model_type."""
    model = load_model(name)
    total, body = QWEN3_CARD[name]
    parts = parameter_breakdown(model)
    assert parameter_count(model) / 1e9 == pytest.approx(total, abs=0.05)
    without = parameter_count(model) - parts["embedding"] - parts["lm_head"]
    assert without / 1e9 == pytest.approx(body, abs=0.005)
    config = preset_config(name)
    h, heads, kv, d = (config[k] for k in ("hidden_size", "num_attention_heads",
                                           "num_key_value_heads", "head_dim"))  # fmt: skip
    per_layer = h * d * (heads + 2 * kv) + heads * d * h + 3 * h * config["intermediate_size"]
    assert parts["attention"] + parts["mlp"] == config["num_hidden_layers"] * per_layer
    assert model.tied_embeddings == config["tie_word_embeddings"]
    assert not (model.qkv_bias or model.o_bias or model.mlp_bias)


#: Gemma 2 report (Gemma Team, arXiv:2408.00118), Table 2: non-embedding parameters (the
#: final norm included); the embedding there counts a 256,128-row vocabulary, the released
#: configs' vocab_size is 256,000.
GEMMA2_NON_EMBEDDING = {"gemma-2-2b": 2_024_517_888, "gemma-2-9b": 8_324_201_984,
                        "gemma-2-27b": 26_047_480_320}  # fmt: skip


@pytest.mark.parametrize("name", sorted(GEMMA2_NON_EMBEDDING))
def test_gemma2_matches_its_report(name):
    """Gemma 2 (model_type gemma2: gated GELU MLP, four RMSNorms per layer, tied embedding,
    a 4096-token window on every other layer, the first included) was refused as an unknown
    model_type."""
    model = load_model(name)
    parts = parameter_breakdown(model)
    assert parameter_count(model) - parts["embedding"] == GEMMA2_NON_EMBEDDING[name]
    assert model.tied_embeddings and parts["lm_head"] == 0
    assert (model.sliding_window, model.sliding_layers) == (4096, (model.layers + 1) // 2)
    # transformers' layer_types, where a newer config states them, say the same
    config = preset_config(name)
    types = ["sliding_attention" if i % 2 == 0 else "full_attention"
             for i in range(config["num_hidden_layers"])]  # fmt: skip
    stated = spec_from_hf_config({**config, "layer_types": types}, name)
    assert stated.sliding_layers == model.sliding_layers


@pytest.mark.parametrize(("fields", "total"), [
    ({"hidden_size": 2048, "intermediate_size": 16384, "num_hidden_layers": 18,
      "num_attention_heads": 8, "num_key_value_heads": 1}, 2.51e9),
    ({"hidden_size": 3072, "intermediate_size": 24576, "num_hidden_layers": 28,
      "num_attention_heads": 16, "num_key_value_heads": 16}, 8.54e9),
])  # fmt: skip
def test_gemma_matches_its_published_size(fields, total):
    """Gemma (model_type gemma; google/gemma-2b and -7b's config.json fields, their model
    pages' 2.51B and 8.54B parameters): tied embedding, head_dim 256, two norms per layer."""
    config = {"model_type": "gemma", "head_dim": 256, "vocab_size": 256000, **fields}
    model = spec_from_hf_config(config, "gemma")
    assert model.tied_embeddings and model.sliding_window is None
    assert parameter_count(model) == pytest.approx(total, abs=0.005e9)


@pytest.mark.parametrize(("fields", "total", "digits"), [
    ({"hidden_size": 3072, "intermediate_size": 8192, "num_hidden_layers": 32,
      "num_attention_heads": 32, "num_key_value_heads": 32, "vocab_size": 32064,
      "sliding_window": 2047}, 3.82e9, 0.005e9),
    ({"hidden_size": 5120, "intermediate_size": 17920, "num_hidden_layers": 40,
      "num_attention_heads": 40, "num_key_value_heads": 10, "vocab_size": 100352,
      "sliding_window": None}, 14.7e9, 0.05e9),
])  # fmt: skip
def test_phi3_matches_its_published_size(fields, total, digits):
    """Phi-3 and Phi-4 (model_type phi3; microsoft/Phi-3-mini-4k-instruct's and phi-4's
    config.json fields, their model pages' 3.82B and 14.7B parameters): llama's layout with
    q, k, v and gate, up each fused in one weight (the same parameters), untied, a window on
    every layer where sliding_window is set."""
    config = {"model_type": "phi3", "tie_word_embeddings": False, **fields}
    model = spec_from_hf_config(config, "phi3")
    assert not model.tied_embeddings
    assert model.sliding_window == fields["sliding_window"] and model.sliding_layers is None
    assert parameter_count(model) == pytest.approx(total, abs=digits)  # as published


#: Gemma 3 report (Gemma Team, arXiv:2503.19786), Table 1: non-embedding parameters of the
#: language model (millions, rounded there). The text configs as released: the 1B's flat
#: (model_type gemma3_text), the 4B's and 27B's nested in a multimodal config (model_type
#: gemma3) and omitting the fields whose Gemma3TextConfig defaults they keep.
GEMMA3 = {
    "1b": ({"model_type": "gemma3_text", "hidden_size": 1152, "intermediate_size": 6912,
            "num_hidden_layers": 26, "num_attention_heads": 4, "num_key_value_heads": 1,
            "head_dim": 256, "vocab_size": 262144, "sliding_window": 512,
            "sliding_window_pattern": 6, "max_position_embeddings": 32768}, 698, 26 - 4),
    "4b": ({"model_type": "gemma3", "vision_config": {"hidden_size": 1152},
            "text_config": {"model_type": "gemma3_text", "hidden_size": 2560,
                            "intermediate_size": 10240, "num_hidden_layers": 34,
                            "sliding_window": 1024}}, 3209, 34 - 5),
    "27b": ({"model_type": "gemma3", "vision_config": {"hidden_size": 1152},
             "text_config": {"model_type": "gemma3_text", "hidden_size": 5376,
                             "intermediate_size": 21504, "num_hidden_layers": 62,
                             "num_attention_heads": 32, "num_key_value_heads": 16,
                             "head_dim": 128, "sliding_window": 1024}}, 25600, 62 - 10),
}  # fmt: skip


@pytest.mark.parametrize("size", sorted(GEMMA3))
def test_gemma3_matches_its_report(size):
    """Gemma 3 (refused as an unknown model_type): Gemma 2's layout with five windowed layers
    to one global (layer i global where i + 1 is a multiple of sliding_window_pattern, 6),
    fields a config omits taken from Gemma3TextConfig's defaults, and of a multimodal
    config the language model (its text_config) only."""
    config, non_embedding, windowed = GEMMA3[size]
    model = spec_from_hf_config(config, f"gemma-3-{size}")
    parts = parameter_breakdown(model)
    body = parameter_count(model) - parts["embedding"]
    assert body / 1e6 == pytest.approx(non_embedding, abs=0.5)
    assert model.tied_embeddings and model.sliding_layers == windowed
    assert model.sliding_window == (config.get("text_config") or config)["sliding_window"]


def test_a_multimodal_config_without_its_language_model_is_refused_clearly():
    with pytest.raises(UserError, match=r"gemma-3: model_type 'gemma3' needs text_config"):
        spec_from_hf_config({"model_type": "gemma3"}, "gemma-3")


def test_mistral3_is_its_text_config_a_mistral():
    """Mistral Small 3.1 / 3.2 (model_type mistral3, Mistral3ForConditionalGeneration): the
    language model is the nested text_config, a plain mistral (no window: sliding_window
    null); the Pixtral vision encoder and projector are not modelled. The model card names
    24B parameters with the encoder (about 0.4B)."""
    config = preset_config("mistral-small-3.2-24b")
    nested = load_model("mistral-small-3.2-24b")
    flat = spec_from_hf_config(config["text_config"], "mistral-small-3.2-24b")
    assert nested == flat and nested.sliding_window is None
    assert (nested.layers, nested.hidden, nested.kv_heads, nested.head_dim) == (40, 5120, 8, 128)
    assert parameter_count(nested) / 1e9 == pytest.approx(24, rel=0.02)
    with pytest.raises(UserError, match="model_type 'mistral3' needs text_config"):
        spec_from_hf_config({"model_type": "mistral3"}, "m3")


#: Qwen3-VL-30B-A3B-Instruct's config.json (Qwen/Qwen3-VL-30B-A3B-Instruct), the fields that
#: shape its language model: tie_word_embeddings only at the top level.
QWEN3_VL_MOE = {
    "model_type": "qwen3_vl_moe", "tie_word_embeddings": False,
    "text_config": {
        "model_type": "qwen3_vl_moe_text", "attention_bias": False, "decoder_sparse_step": 1,
        "head_dim": 128, "hidden_size": 2048, "intermediate_size": 6144,
        "max_position_embeddings": 262144, "mlp_only_layers": [], "moe_intermediate_size": 768,
        "num_attention_heads": 32, "num_experts": 128, "num_experts_per_tok": 8,
        "num_hidden_layers": 48, "num_key_value_heads": 4, "vocab_size": 151936,
    },
}  # fmt: skip


def test_qwen3_vl_is_its_text_config_a_qwen3():
    """Qwen3-VL (qwen3_vl, qwen3_vl_moe): the language model is the nested text_config, a
    qwen3 (qwen3_vl_text) or qwen3_moe (qwen3_vl_moe_text) with multimodal rotary positions
    (no change to the GEMMs); the vision encoder is not modelled. Qwen3-VL-30B-A3B's language
    model is Qwen3-30B-A3B's (the same fields); the top level's tie_word_embeddings holds
    where the text_config has none (Qwen3-VL-4B states it in both)."""
    moe = spec_from_hf_config(QWEN3_VL_MOE, "qwen3-vl-30b-a3b")
    text = load_preset("qwen3-30b-a3b")
    assert parameter_count(moe) == parameter_count(text)
    assert parameter_count(moe, active=True) == parameter_count(text, active=True)
    assert not moe.tied_embeddings and moe.experts == 128
    moe_only = ("num_experts", "moe_intermediate_size", "num_experts_per_tok",
                "decoder_sparse_step", "mlp_only_layers")
    inner = {k: v for k, v in QWEN3_VL_MOE["text_config"].items() if k not in moe_only}
    inner["model_type"] = "qwen3_vl_text"
    tied = spec_from_hf_config({"model_type": "qwen3_vl", "tie_word_embeddings": True,
                                "text_config": inner}, "dense")  # fmt: skip
    assert tied.tied_embeddings and tied.experts == 0
    untied = spec_from_hf_config({"model_type": "qwen3_vl", "tie_word_embeddings": True,
                                  "text_config": {**inner, "tie_word_embeddings": False}},
                                 "dense")  # fmt: skip
    assert not untied.tied_embeddings  # the text_config's own value wins
