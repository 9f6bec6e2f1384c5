"""DeepSeek-V2/V3 (model_types deepseek_v2, deepseek_v3): multi-head latent attention, leading
dense layers and shared experts. Checked against the published parameter counts, the
checkpoints' tensor shapes, latent attention computed directly (keys and values
up-projected) and caches and layer spans counted by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest
from gemm_spans import layers_by_name

import dse
from dse.cli import main
from dse.errors import UserError
from workloads import (
    decode_gemms,
    kv_cache_elements,
    layer_shares,
    load_model,
    parameter_breakdown,
    parameter_count,
    prefill_gemms,
)
from workloads.hf import spec_from_hf_config
from workloads.presets import preset_config
from workloads.profiles import classify_tensor

#: DeepSeek-V2's released config.json (deepseek-ai/DeepSeek-V2), the fields that shape it.
V2 = {
    "model_type": "deepseek_v2", "hidden_size": 5120, "intermediate_size": 12288,
    "moe_intermediate_size": 1536, "num_hidden_layers": 60, "num_attention_heads": 128,
    "num_key_value_heads": 128, "n_routed_experts": 160, "n_shared_experts": 2,
    "num_experts_per_tok": 6, "first_k_dense_replace": 1, "moe_layer_freq": 1,
    "q_lora_rank": 1536, "kv_lora_rank": 512, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64,
    "v_head_dim": 128, "vocab_size": 102400, "tie_word_embeddings": False,
}  # fmt: skip

#: Kimi K2's config.json (moonshotai/Kimi-K2-Instruct): DeepSeek-V3's with 64 heads, 384
#: experts, one dense layer and a vocabulary of 163840.
KIMI_K2 = {**preset_config("deepseek-v3"), "model_type": "kimi_k2", "num_attention_heads": 64,
           "num_key_value_heads": 64, "n_routed_experts": 384, "first_k_dense_replace": 1,
           "vocab_size": 163840}  # fmt: skip

#: (total, activated) parameters in billions and the total's precision: DeepSeek-V3 Technical
#: Report (arXiv:2412.19437, abstract: 671B, 37B), DeepSeek-V2 (arXiv:2405.04434, abstract:
#: 236B, 21B), the DeepSeek-V2-Lite model card (15.7B, 2.4B), the Kimi K2 model card (1T
#: total, stated to one digit; 32B). The activated counts leave out the input embedding (a
#: table look-up; with it V2-Lite's would be 2.66B).
PUBLISHED = {"deepseek-v3": (671, 37, 0.005), "deepseek-v2": (236, 21, 0.005),
             "deepseek-v2-lite": (15.7, 2.4, 0.005), "kimi-k2": (1000, 32, 0.05)}


def _model(name: str):
    configs = {"deepseek-v2": V2, "kimi-k2": KIMI_K2}
    return spec_from_hf_config(configs[name], name) if name in configs else load_model(name)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_parameters_match_the_published_figures(name):
    model = _model(name)
    total, active, precision = PUBLISHED[name]
    assert parameter_count(model) / 1e9 == pytest.approx(total, rel=precision)
    embedding = parameter_breakdown(model)["embedding"]
    assert (parameter_count(model, active=True) - embedding) / 1e9 == pytest.approx(active,
                                                                                   rel=0.025)


def _checkpoint_elements(c: dict) -> int:
    """Elements of the tensors a DeepSeek checkpoint holds for its main model (the
    safetensors index's names: embed_tokens, per layer q_a_proj .. o_proj with the two latent
    norms and V3.2's indexer, the dense or expert MLPs with the router and, since V3, its
    score-correction bias; norm, lm_head), from their shapes."""
    h, heads, layers = c["hidden_size"], c["num_attention_heads"], c["num_hidden_layers"]
    r_q, r_kv = c["q_lora_rank"] or 0, c["kv_lora_rank"]
    nope, rope, v = c["qk_nope_head_dim"], c["qk_rope_head_dim"], c["v_head_dim"]
    experts, w = c["n_routed_experts"], c["moe_intermediate_size"]
    q_out = heads * (nope + rope)
    queries = [(r_q, h), (r_q,), (q_out, r_q)] if r_q else [(q_out, h)]
    attention = [*queries, (r_kv + rope, h), (r_kv,), (heads * (nope + v), r_kv), (h, heads * v)]
    norms = [(h,), (h,)]  # input_layernorm, post_attention_layernorm
    dense = [(c["intermediate_size"], h)] * 2 + [(h, c["intermediate_size"])]
    expert = [(w, h), (w, h), (h, w)]
    shared = [(c["n_shared_experts"] * w, h)] * 2 + [(h, c["n_shared_experts"] * w)]
    router = [(experts, h)] + ([(experts,)] if c["model_type"] != "deepseek_v2" else [])
    moe = expert * experts + shared + router
    if "index_topk" in c:  # DeepSeek-V3.2's indexer: wq_b, wk, k_norm (weight, bias), weights_proj
        ih, idim = c["index_n_heads"], c["index_head_dim"]
        attention += [(ih * idim, r_q), (idim, h), (idim,), (idim,), (ih, h)]
    k = c["first_k_dense_replace"]
    shapes = ((attention + norms) * layers + dense * k + moe * (layers - k)
              + [(c["vocab_size"], h)] * 2 + [(h,)])  # fmt: skip
    return sum(int(np.prod(s)) for s in shapes)


@pytest.mark.parametrize("name", ["deepseek-v3", "deepseek-v3.2", "deepseek-v2-lite"])
def test_parameters_are_the_checkpoints_tensor_elements(name):
    assert parameter_count(load_model(name)) == _checkpoint_elements(preset_config(name))


def _gemm(gemms, name):
    (g,) = [g for g in gemms if g.name == name]
    return g


@pytest.mark.parametrize("fused", [False, True])
def test_decode_gemms_compute_latent_attention(fused):
    """Random weights and cache of a small latent-attention layer, through the decode GEMMs'
    shapes (k_up, attention over the cached latent, v_up), equal attention with keys and
    values up-projected per head (DeepSeek-V2, arXiv:2405.04434, section 2.1)."""
    config = {**V2, "hidden_size": 64, "num_attention_heads": 4, "num_key_value_heads": 4,
              "q_lora_rank": 24, "kv_lora_rank": 12, "qk_nope_head_dim": 10,
              "qk_rope_head_dim": 6, "v_head_dim": 8, "num_hidden_layers": 2,
              "intermediate_size": 96, "moe_intermediate_size": 16, "n_routed_experts": 4,
              "num_experts_per_tok": 2, "vocab_size": 100}  # fmt: skip
    m = spec_from_hf_config(config, "small")
    context = 9
    gemms = decode_gemms(m, 1, context, fused_qkv=fused)
    heads, nope, rope, r_kv = 4, 10, 6, 12
    k_up, score = _gemm(gemms, "k_up"), _gemm(gemms, "attn_score")
    ctx, v_up = _gemm(gemms, "attn_context"), _gemm(gemms, "v_up")
    rng = np.random.default_rng(0)
    q = rng.normal(size=(heads, nope + rope))  # q_b's output for the new token
    latent = rng.normal(size=(context + 1, r_kv))  # the cache and the new token's latent
    rotary = rng.normal(size=(context + 1, rope))
    w_uk = rng.normal(size=(heads, r_kv, nope))  # kv_b, per head: keys then values
    w_uv = rng.normal(size=(heads, r_kv, 8))

    # directly: per-head keys and values from the latent
    keys = np.concatenate([np.einsum("tc,hcd->htd", latent, w_uk),
                           np.broadcast_to(rotary, (heads, context + 1, rope))], axis=2)
    values = np.einsum("tc,hcd->htd", latent, w_uv)
    p = _softmax(np.einsum("hd,htd->ht", q, keys))
    direct = np.einsum("ht,htd->hd", p, values)

    # through the GEMMs, with the shapes they state
    assert (k_up.m, k_up.k, k_up.n, k_up.count) == (1, nope, r_kv, m.layers * heads)
    absorbed = np.stack([q[j, :nope] @ w_uk[j].T for j in range(heads)])
    a = np.concatenate([absorbed, q[:, nope:]], axis=1)
    b = np.concatenate([latent, rotary], axis=1).T
    assert a.shape == (score.m, score.k) and b.shape == (score.k, score.n)
    p_gemm = _softmax(a @ b)
    assert (ctx.m, ctx.k, ctx.n) == (heads, context + 1, r_kv) and ctx.count == m.layers
    out_latent = p_gemm @ latent
    assert (v_up.m, v_up.k, v_up.n, v_up.count) == (1, r_kv, 8, m.layers * heads)
    through = np.stack([out_latent[j] @ w_uv[j] for j in range(heads)])
    np.testing.assert_allclose(through, direct, rtol=1e-10)


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("name", ["deepseek-v3", "deepseek-v2-lite"])
def test_both_phases_hold_every_linear_weight_once(name):
    """kv_b runs whole in prefill and as its key and value halves (k_up, v_up) in decode:
    both phases store the same weights, every linear parameter of the model."""
    m = load_model(name)
    parts = parameter_breakdown(m)
    norms = m.layers * (m.q_lora_rank + m.kv_lora_rank)  # the latents' RMSNorms
    router = m.moe_layers * (m.hidden + m.router_bias) * m.experts
    linear = parts["attention"] + parts["mlp"] + parts["lm_head"] - norms - router
    for gemms in (prefill_gemms(m, 1, 64), decode_gemms(m, 3, 64)):
        assert sum(g.k * g.n * (g.stored or g.count) for g in gemms
                   if g.b_role == "weight") == linear  # fmt: skip


def test_prefill_attention_is_multi_head_with_the_query_and_value_heads():
    m, batch, seq = load_model("deepseek-v3"), 2, 300
    gemms = prefill_gemms(m, batch, seq)
    score, ctx = _gemm(gemms, "attn_score"), _gemm(gemms, "attn_context")
    assert (score.m, score.k, score.n) == (seq, 128 + 64, seq)
    assert (ctx.m, ctx.k, ctx.n) == (seq, seq, 128)
    assert score.count == ctx.count == batch * 128 * 61
    kv_b = _gemm(gemms, "kv_b")
    assert (kv_b.m, kv_b.k, kv_b.n) == (batch * seq, 512, 128 * (128 + 128))
    assert {"k_up", "v_up"}.isdisjoint(g.name for g in gemms)


def test_the_cache_holds_the_latent_and_the_rotary_key():
    m = load_model("deepseek-v3")
    assert kv_cache_elements(m, 2, 1000) == 2 * 1000 * 61 * (512 + 64)
    score, ctx = (_gemm(decode_gemms(m, 2, 999), n) for n in ("attn_score", "attn_context"))
    assert (score.k, score.n, score.count) == (576, 1000, 2 * 61)  # read per sequence, layer
    assert (ctx.k, ctx.n, ctx.m) == (1000, 512, 128)  # all 128 heads share it


def test_names_span_their_own_layers():
    m = load_model("deepseek-v3")
    for gemms in (decode_gemms(m, 16, 100), prefill_gemms(m, 1, 100)):
        spans = layers_by_name(gemms, m.layers)
        assert spans["gate"] == spans["down"] == 3  # first_k_dense_replace
        for name in ("expert_up", "expert_down", "shared_gate", "shared_down"):
            assert spans[name] == pytest.approx(58)
        assert spans["q_a"] == spans["o"] == spans["attn_score"] == 61 and spans["lm_head"] == 1
        dense, experts = _gemm(gemms, "up"), [g for g in gemms if g.name == "expert_up"]
        assert dense.count == 3 and sum(g.stored or g.count for g in experts) == 58 * 256


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"moe_layer_freq": 2}, "moe_layer_freq"),
        ({"kv_lora_rank": None}, "missing field.*kv_lora_rank"),
        ({"first_k_dense_replace": 60}, "first_k_dense_replace: 60 leaves no layer"),
        ({"qk_rope_head_dim": 0}, "qk_rope_head_dim: 0 is out of range"),
        ({"moe_intermediate_size": "1536"}, "moe_intermediate_size must be a positive integer"),
        ({"n_shared_experts": 1.5}, "n_shared_experts must be a positive integer"),
        ({"model_type": "llama"}, "multi-head latent attention"),
        ({"model_type": "deepseek_v32", "index_n_heads": 64, "index_head_dim": 128},
         "missing field.*index_topk"),
    ],
)
def test_bad_configs_give_one_clear_error(change, message):
    with pytest.raises(UserError, match=message):
        spec_from_hf_config({**V2, **change}, "config.json")


def test_one_message_names_every_missing_field():
    """The experts' and the latent attention's fields are read together: a config missing one
    of each is told both at once."""
    config = {k: v for k, v in V2.items() if k != "first_k_dense_replace"}
    with pytest.raises(UserError, match=r"missing field\(s\) first_k_dense_replace, kv_lora_rank"):
        spec_from_hf_config({**config, "kv_lora_rank": None}, "config.json")


def test_no_query_latent_projects_the_queries_directly():
    m = load_model("deepseek-v2-lite")
    names = [g.name for g in decode_gemms(m, 1, 10)]
    assert names[:3] == ["q", "kv_a", "k_up"] and "q_b" not in names
    (fused,) = [g for g in decode_gemms(m, 1, 10, fused_qkv=True) if g.name == "qkv_a"]
    assert fused.n == 16 * 192 + 512 + 64


@pytest.mark.parametrize(
    ("tensor", "expected"),
    [
        ("model.layers.3.self_attn.q_a_proj.weight", ("weight", "qkv")),
        ("model.layers.3.self_attn.q_b_proj.weight", ("weight", "qkv")),
        ("model.layers.3.self_attn.kv_a_proj_with_mqa.weight", ("weight", "qkv")),
        ("model.layers.3.self_attn.kv_b_proj.weight", ("weight", "qkv")),
        ("model.layers.3.self_attn.kv_b_proj.input", ("activation", "qkv")),
        ("model.layers.3.mlp.experts.17.down_proj.weight", ("weight", "down")),
        ("model.layers.3.mlp.shared_experts.gate_proj.weight", ("weight", "gate_up")),
        ("model.layers.3.mlp.gate.weight", None),  # the router
        ("model.layers.3.mlp.gate.e_score_correction_bias", None),
        ("model.layers.3.self_attn.kv_a_layernorm.weight", None),
        ("model.layers.3.self_attn.indexer.wk.weight", None),  # selects only; not Meta's wk
        ("model.layers.3.self_attn.indexer.wq_b.weight", None),
    ],
)
def test_profile_classes_of_a_deepseek_checkpoint(tensor, expected):
    assert classify_tensor(tensor) == expected


def test_a_deepseek_sweep_and_show_run(tmp_path, capsys):
    table = dse.run({
        "name": "mla", "workload": {"model": "deepseek-v2-lite", "batch": 8, "tokens": 2048},
        "space": {"weight_format": ["bf16", "mxfp4"], "kv_format": ["bf16", "e4m3"]},
        "objectives": ["model_nmse", {"column": "tokens_per_s", "sense": "max"}],
        "output": {"dir": str(tmp_path / "out"), "report": False},
    })  # fmt: skip
    assert len(table) == 4 and np.isfinite(table["model_nmse"]).all()
    fast = table.set_index(["weight_format", "kv_format"])["tokens_per_s"]
    assert fast["mxfp4", "e4m3"] > fast["mxfp4", "bf16"] > fast["bf16", "bf16"]
    assert main(["workload", "show", "deepseek-v3", "--batch", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["params"] == 671_026_419_200
    assert main(["workload", "show", "deepseek-v3"]) == 0
    out = capsys.readouterr().out
    assert "the KV cache holds 576 elements per token and layer" in out
    assert "mixture of experts on 58 of 61 layers, a dense MLP on the other 3" in out


@pytest.mark.parametrize("batch", [1, 3])
def test_sparse_attention_scores_every_token_and_attends_to_the_top_k(batch):
    m = load_model("deepseek-v3.2")
    long, short = decode_gemms(m, batch, 32767), decode_gemms(m, batch, 999)
    index = _gemm(long, "index_score")
    assert (index.m, index.k, index.n, index.count) == (64, 128, 32768, batch * 61)
    assert _gemm(long, "attn_score").n == _gemm(long, "attn_context").k == 2048
    assert _gemm(short, "attn_score").n == 1000 and _gemm(short, "index_score").n == 1000
    # the cache keeps every token: its latent, rotary key and indexer key
    assert kv_cache_elements(m, batch, 32768) == batch * 32768 * 61 * (512 + 64 + 128)
    seq = 4096
    prefill = prefill_gemms(m, batch, seq)
    index = _gemm(prefill, "index_score")
    assert (index.m, index.n) == (64 * seq, seq)
    scores = [g for g in prefill if g.name == "attn_score"]
    assert sum(g.macs for g in scores) == batch * 128 * 61 * seq * 2048 * 192


def test_the_indexer_weighs_nothing_in_the_error(tmp_path):
    """Below index_topk tokens DeepSeek-V3.2 attends as V3 does: the same model error, with
    the indexer's work on top of V3's energy."""
    runs = {}
    for model in ("deepseek-v3", "deepseek-v3.2"):
        runs[model] = dse.run({
            "name": model, "workload": {"model": model, "batch": 2, "tokens": 1000},
            "space": {"weight_format": ["mxfp4", "int4/g128"], "kv_format": ["e4m3"]},
            "objectives": ["model_nmse", "energy_per_token_uj"],
            "output": {"dir": str(tmp_path / model), "report": False},
        }).set_index("weight_format")  # fmt: skip
    v3, v32 = runs["deepseek-v3"], runs["deepseek-v3.2"]
    np.testing.assert_allclose(v32["model_nmse"], v3["model_nmse"], rtol=1e-12)
    assert (v32["energy_per_token_uj"] > v3["energy_per_token_uj"]).all()
    m = load_model("deepseek-v3.2")
    gemms = decode_gemms(m, 2, 999)
    shares = layer_shares(gemms, m.layers)
    assert all((s == 0) == g.name.startswith("index_") for g, s in zip(gemms, shares))


def test_a_profiled_latent_gives_the_statistics_of_both_cache_reads(tmp_path):
    """Latent attention caches kv_a_layernorm's output (the normalised latent): decode reads
    it as the keys of attn_score and the values of attn_context (`workloads.gemms`), so a
    captured latent (`dse.capture`) profiles the KV cache of both classes. Before, it was
    unmatched and both kept their assumed statistics."""
    import yaml

    from workloads import load_profile_stats

    latent = "model.layers.3.self_attn.kv_a_layernorm.output"
    assert classify_tensor(latent) == ("kv_cache", "attn_score")
    path = tmp_path / "profile.yaml"
    fit = {"n_values": 4096, "pooled": {"nu": 4.5, "sigma": 0.7, "ks": 0.01, "ks_normal": 0.1}}
    path.write_text(yaml.safe_dump({"tensors": {latent: fit}}))
    profile = load_profile_stats(path)
    assert profile.unmatched == ()
    for cls in ("attn_score", "attn_context"):
        assert profile.overrides["kv_cache"][cls]["nu"] == 4.5
        assert profile.overrides["kv_cache"][cls]["sigma"] == pytest.approx(0.7)
