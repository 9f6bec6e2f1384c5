"""`dse workload list` and `dse workload show`."""

from __future__ import annotations

import json

import pytest
import yaml

from dse.cli import main


def _json(capsys, *argv):
    assert main(["workload", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_show_decode_json_totals(capsys):
    out = _json(capsys, "show", "llama-2-7b", "--phase", "decode", "--batch", "8",
                "--seq", "1024")
    totals = out["totals"]
    assert totals["params"] == 6_738_415_616
    # Per token: linear layers (params less embedding and norms) + attention over 1025 tokens.
    h, i, v, n, d = 4096, 11008, 32000, 32, 128
    per_token = n * (4 * h * h + 3 * h * i) + v * h + n * 2 * 32 * d * 1025
    assert totals["macs"] == 8 * per_token
    assert totals["macs_per_token"] == per_token
    assert totals["kv_cache_bytes"] == 2 * n * 32 * d * 1025 * 8 * 2  # bf16 K and V
    assert totals["weight_format"] == "bf16" and totals["context"] == 1024
    assert len(out["gemms"]) == 10 and len(out["stats"]) == 14
    assert sum(g["macs"] for g in out["gemms"]) == totals["macs"]


def test_show_text_prefill(capsys):
    assert main(["workload", "show", "tiny", "--phase", "prefill", "--batch", "2",
                 "--seq", "16", "--weight-bits", "4", "--fused-qkv"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("tiny: prefill, batch 2, seq 16; weights 4 bits/element")
    for text in ("qkv", "attn_score", "lm_head", "macs_per_token", "kv_cache_bytes", "Dotzel"):
        assert text in out


def test_show_with_format_names(capsys):
    formats = pytest.importorskip("dse.formats")
    expected = formats.parse("nvfp4").bits_per_element
    totals = _json(capsys, "show", "llama-3-8b", "--weight-format", "nvfp4",
                   "--act-format", "bf16")["totals"]
    assert totals["weight_bits"] == expected and totals["act_bits"] == totals["kv_bits"] == 16


def test_show_config_json_and_profile(tmp_path, capsys):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({
        "model_type": "llama", "hidden_size": 128, "intermediate_size": 256,
        "num_attention_heads": 4, "num_hidden_layers": 2, "vocab_size": 100}))
    profile = tmp_path / "profile.yaml"
    profile.write_text(yaml.safe_dump({"tensors": {
        "model.layers.0.mlp.up_proj.weight": {"n_values": 10, "pooled": {"nu": 4.5,
                                                                          "sigma": 0.03}},
        "model.norm.weight": {"n_values": 10, "pooled": {"nu": 30.0, "sigma": 1.0}},
    }}))
    assert main(["workload", "show", str(config), "--profile", str(profile), "--json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["totals"]["model"] == str(config)
    row = next(r for r in out["stats"] if (r["operand"], r["class"]) == ("weight", "gate_up"))
    assert row["nu"] == 4.5
    assert "match no GEMM operand: model.norm.weight" in captured.err


def test_list(capsys):
    rows = _json(capsys, "list")
    by_name = {r["name"]: r for r in rows}
    assert by_name["llama-2-70b"]["kv_heads"] == 8
    assert by_name["opt-1.3b"]["mlp"] == "plain" and by_name["opt-1.3b"]["tied"]
    assert by_name["llama-3-8b"]["checkpoint"] == "meta-llama/Meta-Llama-3-8B"
    dense, moe = by_name["llama-2-7b"], by_name["deepseek-v3"]
    assert dense["active"] == dense["params"] and dense["experts"] == "-"
    assert moe["experts"] == "8/256" and moe["active"] == 37_552_297_472  # with the embedding
    assert main(["workload", "list"]) == 0
    text = capsys.readouterr().out
    assert "mistral-7b" in text and "6.738e9" in text and "37.55e9" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["show", "llama-2-7"], "did you mean 'llama-2-7b'"),
        (["show", "tiny", "--batch", "0"], "batch must be a positive integer"),
        (["show", "tiny", "--phase", "prefill", "--seq", "-4"], "sequence length"),
        (["show", "tiny", "--phase", "training"], "unknown phase 'training'"),
        (["show", "tiny", "--act-bits", "-1"], "activation bits"),
        (["show", "missing/config.json"], "cannot read model config"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, argv, message):
    assert main(["workload", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1
