"""gpt-oss (openai/gpt-oss-20b and -120b) as its config.json describes it: a mixture of experts
with biases, a learned attention sink per head, and every other layer attending to a window of
128 tokens (`layer_types`). Checked against the model card's figures and against GEMMs and
caches counted by hand."""

from __future__ import annotations

import json

import pytest

import dse
from dse.cli import main
from dse.errors import UserError
from workloads import (
    decode_gemms,
    kv_cache_elements,
    layer_shares,
    load_hf_config,
    load_model,
    parameter_breakdown,
    parameter_count,
    prefill_gemms,
)

#: gpt-oss-120b & gpt-oss-20b Model Card (OpenAI, 2025, arXiv:2508.10925), section 2.1: total
#: and active parameters (billions; active without the embedding, a table look-up) and the
#: checkpoint size in GiB (MXFP4 experts, the rest in BF16).
CARD = {"gpt-oss-120b": (116.8, 5.1, 60.8), "gpt-oss-20b": (20.9, 3.6, 12.8)}


@pytest.mark.parametrize("name", sorted(CARD))
def test_parameters_match_the_model_card(name):
    model = load_model(name)
    total, active, _ = CARD[name]
    embedding = parameter_breakdown(model)["embedding"]
    assert parameter_count(model) / 1e9 == pytest.approx(total, abs=0.05)
    active_params = parameter_count(model, active=True) - embedding
    assert active_params / 1e9 == pytest.approx(active, abs=0.05)


@pytest.mark.parametrize("name", sorted(CARD))
def test_checkpoint_size_with_mxfp4_experts_matches_the_model_card(tmp_path, name):
    """The sweep's weight footprint with MXFP4 experts and BF16 attention and lm_head (the
    checkpoint's own formats), plus every other parameter in BF16, is the published size."""
    model = load_model(name)
    table = dse.run({
        "name": "ckpt", "workload": {"model": name, "batch": 1, "tokens": 1024},
        "space": {"weight_format_gate_up": ["mxfp4"], "weight_format_down": ["mxfp4"],
                  "weight_format_qkv": ["bf16"], "weight_format_o": ["bf16"],
                  "weight_format_lm_head": ["bf16"]},
        "objectives": ["weight_memory_gb"],
        "output": {"dir": str(tmp_path / "out"), "report": False},
    })  # fmt: skip
    gemm_weights = sum(g.k * g.n * (g.stored or g.count)
                       for g in decode_gemms(model, 1, 1024) if g.b_role == "weight")  # fmt: skip
    rest = (parameter_count(model) - gemm_weights) * 2  # bytes: embedding, biases, norms, router
    size = (table["weight_memory_gb"].iloc[0] * 1e9 + rest) / 2**30
    assert size == pytest.approx(CARD[name][2], abs=0.05)


def test_every_other_layer_attends_to_a_window_of_128_tokens():
    model = load_model("gpt-oss-20b")
    assert (model.layers, model.sliding_window, model.sliding_layers) == (24, 128, 12)
    batch, context = 2, 8191
    score = [g for g in decode_gemms(model, batch, context) if g.tensor_class == "attn_score"]
    kv_heads = batch * model.kv_heads
    assert sorted((g.n, g.count) for g in score) == [(128, kv_heads * 12), (8192, kv_heads * 12)]
    assert kv_cache_elements(model, batch, context) == 2 * kv_heads * 64 * 12 * (8191 + 128)
    # within the window every layer attends alike: one GEMM, as without windows
    short = [g for g in decode_gemms(model, batch, 100) if g.tensor_class == "attn_context"]
    assert [(g.k, g.count) for g in short] == [(101, kv_heads * 24)]
    assert kv_cache_elements(model, batch, 100) == 2 * kv_heads * 64 * 24 * 100
    prefill = [g for g in prefill_gemms(model, 1, 4096) if g.tensor_class == "attn_context"]
    assert sorted((g.k, g.count) for g in prefill) == [(128, 8 * 12 * 32), (4096, 8 * 12)]


@pytest.mark.parametrize("seq", [4096, 1000, 128, 100])
def test_prefill_reads_every_key_once_on_windowed_layers_too(seq):
    """A windowed layer's prefill attention runs as chunks of `window` queries, each against
    `window` keys: each query still sees `window` keys (the MACs), and the keys and values of
    all `seq` tokens are read (up to one chunk more where the window does not divide `seq`)."""
    model = load_model("gpt-oss-20b")
    kv, d, group, window, half = model.kv_heads, model.head_dim, model.group, 128, 12
    gemms = prefill_gemms(model, 1, seq)
    for cls in ("attn_score", "attn_context"):
        entries = [g for g in gemms if g.tensor_class == cls]
        keys = min(seq, window)
        macs = kv * half * group * seq * d * (seq + keys)
        assert sum(g.macs for g in entries) == macs
        read = sum(g.k * g.n * g.count for g in entries)  # the keys or values
        chunks = -(-seq // keys)
        assert read == kv * half * d * (seq + chunks * keys)
        if cls == "attn_score":  # every query row is read once per layer
            assert sum(g.m * g.k * g.count for g in entries) == kv * 2 * half * group * seq * d
        # the error model sees each layer's whole operand (a per-tensor scale's extent), as
        # without chunks: the queries, or the probabilities, of all `seq` tokens
        for g in entries:
            width = d if cls == "attn_score" else g.k
            assert g.a_elements == group * seq * width
        # each layer's share of the model error: the windowed layers count as many as the rest
        shares = layer_shares(entries, model.layers)
        assert sum(shares) == pytest.approx(model.layers)
        windowed = sum(s for g, s in zip(entries, shares) if g.n * g.k < seq * d)
        assert windowed == pytest.approx(half if seq > window else 0)


def test_the_mixture_has_biases_a_router_bias_and_attention_sinks():
    model = load_model("gpt-oss-20b")
    h, e, w, layers = 2880, 32, 2880, 24
    parts = parameter_breakdown(model)
    experts = e * (3 * h * w + 2 * w + h)  # gate, up, down and their biases
    assert parts["mlp"] == layers * (h * e + e + experts)
    q, kv = 64 * 64, 8 * 64
    attention = h * (q + 2 * kv) + q * h + (q + 2 * kv) + h + 64  # biases, one sink per head
    assert parts["attention"] == layers * attention


def _config(**change) -> dict:
    from workloads.presets import preset_config

    return {**preset_config("gpt-oss-20b"), **change}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"layer_types": ["full_attention"] * 23 + ["linear_attention"]},
         r"layer_types\[23\]: unknown layer type 'linear_attention'.*; valid choices: "
         r"full_attention, sliding_attention"),
        ({"layer_types": ["full_attention", "sliding_attention"] * 11},
         r"layer_types lists 22 layers, num_hidden_layers is 24"),
        ({"sliding_window": None}, r"sliding_attention layers need sliding_window"),
    ],
)
def test_bad_layer_types_give_one_clear_error(change, message):
    from workloads import spec_from_hf_config

    with pytest.raises(UserError, match=message):
        spec_from_hf_config(_config(**change), "config.json")


def test_a_dense_family_with_sliding_layers_is_still_refused():
    from workloads import spec_from_hf_config

    config = {**_config(), "model_type": "llama"}
    for key in ("num_local_experts", "num_experts_per_tok", "experts_per_token"):
        config.pop(key)
    with pytest.raises(UserError, match=r"cannot model field.*layer_types.*per-layer attention"):
        spec_from_hf_config(config, "config.json")


def test_a_downloaded_config_runs_from_the_command_line(tmp_path, capsys):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(_config()))
    assert load_hf_config(path).experts == 32
    assert main(["workload", "show", str(path), "--batch", "4", "--seq", "8192", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["totals"]["params"] == parameter_count(load_model("gpt-oss-20b"))
    assert main(["workload", "show", str(path), "--seq", "8192"]) == 0
    window = "sliding window: 12 of 24 layers attend to the last 128 tokens"
    assert window in capsys.readouterr().out
