"""Names other tools use: ml_dtypes / torch dtypes and microxcaling elements (checked against
ml_dtypes' value sets), compressed-tensors schemes (a sweep variable), HuggingFace
`quantization_config` import."""

from __future__ import annotations

import json

import ml_dtypes
import numpy as np
import pytest

from dse.cli import main
from dse.config import resolve
from dse.errors import UserError
from dse.evaluation import Evaluator
from dse.formats import parse
from dse.formats.aliases import ELEMENT_ALIASES, SCHEMES
from dse.formats.hf import formats_from_hf

#: ml_dtypes types by alias, with their storage width in bits.
DTYPES = {
    "float8_e4m3fn": 8, "float8_e5m2": 8, "float8_e4m3fnuz": 8, "float8_e5m2fnuz": 8,
    "float8_e4m3b11fnuz": 8, "float8_e4m3": 8, "float8_e3m4": 8, "float6_e3m2fn": 6,
    "float6_e2m3fn": 6, "float4_e2m1fn": 4,
}  # fmt: skip


def _finite_values(dtype_name: str, bits: int) -> set[float]:
    codes = np.arange(2**bits, dtype=np.uint8).view(getattr(ml_dtypes, dtype_name))
    values = codes.astype(np.float64)
    return set(values[np.isfinite(values)].tolist())


@pytest.mark.parametrize("alias", sorted(DTYPES))
def test_dtype_aliases_have_exactly_the_ml_dtypes_values(alias):
    element = parse(alias).element
    assert set(np.asarray(element.values, dtype=np.float64).tolist()) == _finite_values(
        alias, DTYPES[alias]
    )


def test_wide_dtype_aliases_are_the_casts():
    assert [parse(a).name for a in ("bfloat16", "float16", "float32")] == ["bf16", "fp16", "fp32"]
    assert parse("bfloat16").scale.is_cast


def test_an_alias_takes_the_whole_grammar_and_results_show_canonical_names():
    assert parse("float8_e4m3fn/ch").name == "e4m3/ch"
    assert parse("float8_e4m3fnuz/g32:e8m0").name == "e4m3(bias=8,nonfinite=none)/g32:e8m0"
    assert parse("fp4_e2m1/g32:e8m0").name == "e2m1/g32:e8m0"
    assert set(ELEMENT_ALIASES) >= {"fp8_e4m3", "fp8_e5m2", "fp6_e3m2", "fp6_e2m3", "fp4_e2m1"}


def test_a_microxcaling_element_in_an_mx_block_is_mxfp4():
    rng = np.random.default_rng(0)
    x = rng.standard_t(5, size=(64, 256))
    assert np.array_equal(parse("fp4_e2m1/g32:e8m0").quantize(x), parse("mxfp4").quantize(x))
    assert np.array_equal(parse("fp8_e4m3/g32:e8m0").quantize(x), parse("mxfp8e4m3").quantize(x))


def test_a_scale_type_given_as_an_element_is_one_clear_error():
    with pytest.raises(UserError, match=r"'float8_e8m0fnu'.*scale format.*:e8m0"):
        parse("float8_e8m0fnu")


def _sweep(space: dict):
    spec = resolve({"name": "s", "workload": {"model": "llama-2-7b", "batch": 4, "tokens": 256},
                    "space": space, "objectives": ["model_nmse", "tokens_per_s"]})  # fmt: skip
    return Evaluator(spec)(spec.grid.points(np.arange(spec.grid.size)))


@pytest.mark.parametrize("name", sorted(SCHEMES))
def test_a_scheme_is_its_weight_and_activation_formats(name):
    s = SCHEMES[name]
    by_formats = _sweep({"weight_format": [s.weights], "act_format": [s.activations]}).iloc[0]
    by_scheme = _sweep({"scheme": [name.lower()]}).iloc[0]
    for col in ("model_nmse", "bits_per_weight", "bits_per_act", "bits_per_kv", "tokens_per_s",
                "energy_per_token_uj"):  # fmt: skip
        # FP8_BLOCK's 2-D tiles have no analytic error model: NaN error on both sides
        assert by_scheme[col] == by_formats[col] or (
            col == "model_nmse" and np.isnan(by_scheme[col]) and np.isnan(by_formats[col])
            and "x" in s.weights), col


def test_an_operand_variable_overrides_the_scheme_and_bad_schemes_are_named():
    both = _sweep({"scheme": ["W4A16"], "act_format": ["e4m3"]}).iloc[0]
    plain = _sweep({"weight_format": ["int4/g128"], "act_format": ["e4m3"]}).iloc[0]
    assert both["model_nmse"] == plain["model_nmse"]
    with pytest.raises(UserError, match=r"space\.scheme\[0\]: unknown quantization scheme "
                                         r"'W4A17' \(did you mean 'W4A16'"):  # fmt: skip
        _sweep({"scheme": ["W4A17"]})


#: `quantization_config` sections as published in the config.json of these checkpoints.
HF = {
    # deepseek-ai/DeepSeek-V3
    "fp8": ({"quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic",
             "weight_block_size": [128, 128]}, ("e4m3/128x128", "e4m3/g128")),
    # openai/gpt-oss-20b
    "mxfp4": ({"quant_method": "mxfp4", "modules_to_not_convert": ["model.layers.*.self_attn",
               "model.layers.*.mlp.router", "model.embed_tokens", "lm_head"]},
              ("mxfp4", "bf16")),
    # TheBloke/Llama-2-7B-GPTQ
    "gptq": ({"quant_method": "gptq", "bits": 4, "group_size": 128, "damp_percent": 0.01,
              "desc_act": False, "sym": True, "true_sequential": True}, ("int4/g128", "bf16")),
    # TheBloke/Llama-2-7B-AWQ
    "awq": ({"quant_method": "awq", "zero_point": True, "group_size": 128, "bits": 4,
             "version": "gemm"}, ("int4-asym/g128", "bf16")),
    # RedHatAI/Meta-Llama-3.1-8B-Instruct-FP8-dynamic
    "compressed-tensors fp8": ({"quant_method": "compressed-tensors", "config_groups": {
        "group_0": {"targets": ["Linear"],
                    "weights": {"num_bits": 8, "type": "float", "strategy": "channel",
                                "symmetric": True, "dynamic": False},
                    "input_activations": {"num_bits": 8, "type": "float", "strategy": "token",
                                          "symmetric": True, "dynamic": True}}}},
        ("e4m3/ch", "e4m3/ch")),
    # RedHatAI/Meta-Llama-3.1-8B-Instruct-quantized.w4a16
    "compressed-tensors w4a16": ({"quant_method": "compressed-tensors", "config_groups": {
        "group_0": {"targets": ["Linear"], "input_activations": None,
                    "weights": {"num_bits": 4, "type": "int", "strategy": "group",
                                "group_size": 128, "symmetric": True, "dynamic": False}}}},
        ("int4/g128", "bf16")),
    # an NVFP4 checkpoint of llm-compressor (scheme NVFP4)
    "compressed-tensors nvfp4": ({"quant_method": "compressed-tensors", "config_groups": {
        "group_0": {"weights": {"num_bits": 4, "type": "float", "strategy": "tensor_group",
                                "group_size": 16, "symmetric": True},
                    "input_activations": {"num_bits": 4, "type": "float",
                                          "strategy": "tensor_group", "group_size": 16,
                                          "dynamic": "local"}}}}, ("nvfp4", "nvfp4")),
    # a bitsandbytes 4-bit NF4 checkpoint (BitsAndBytesConfig(load_in_4bit=True, nf4))
    "bitsandbytes": ({"quant_method": "bitsandbytes", "load_in_4bit": True,
                      "bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": True},
                     ("nf4/g64", "bf16")),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(HF))
def test_huggingface_quantization_configs_import(case, tmp_path):
    section, want = HF[case]
    assert formats_from_hf({"quantization_config": section}) == want
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "llama", "quantization_config": section}))
    assert formats_from_hf(path) == want
    assert all(parse(name).name == name for name in want)  # canonical engine names


def test_hf_import_errors_name_what_is_supported(tmp_path, capsys):
    with pytest.raises(UserError, match=r"unknown quantization_config\.quant_method 'hqq'.*"
                                         r"awq, bitsandbytes, compressed-tensors"):  # fmt: skip
        formats_from_hf({"quantization_config": {"quant_method": "hqq"}})
    with pytest.raises(UserError, match="no quantization_config"):
        formats_from_hf({"model_type": "llama"})
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"quantization_config": HF["fp8"][0]}))
    assert main(["formats", "hf", str(path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows == [{"operand": "weights", "format": "e4m3/128x128"},
                    {"operand": "activations", "format": "e4m3/g128"}]  # fmt: skip
    assert main(["formats", "hf", str(tmp_path / "missing.json")]) == 2
    assert "cannot read" in capsys.readouterr().err


@pytest.mark.parametrize(("section", "classes"), [
    (HF["mxfp4"][0], ["qkv", "o", "lm_head"]),  # gpt-oss: attention, router, embeddings, lm_head
    ({**HF["compressed-tensors w4a16"][0], "ignore": ["lm_head"]}, ["lm_head"]),
    ({**HF["compressed-tensors w4a16"][0], "ignore": ["re:.*self_attn.*"]}, ["qkv", "o"]),
    ({**HF["bitsandbytes"][0], "llm_int8_skip_modules": ["down_proj"]}, ["down"]),
    (HF["gptq"][0], []),
])  # fmt: skip
def test_modules_left_unquantized_are_named_by_class(tmp_path, capsys, section, classes):
    """Defect: `dse formats hf` said "weights mxfp4" for gpt-oss, whose quantization_config
    leaves the attention and lm_head in BF16 (`modules_to_not_convert`): a sweep of MXFP4
    everywhere overstates what the checkpoint quantizes. The classes left unquantized are now
    named (compressed-tensors' `ignore`, globs and "re:" patterns, bitsandbytes' skip list)."""
    from dse.formats.hf import unquantized_modules
    from workloads.profiles import classes_of_modules

    assert classes_of_modules(unquantized_modules({"quantization_config": section})) == classes
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"quantization_config": section}))
    assert main(["formats", "hf", str(path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    left = [r for r in rows if r["operand"].endswith("(left unquantized)")]
    assert [r["operand"] for r in left] == (
        [f"weights and activations of {', '.join(classes)} (left unquantized)"] if classes else [])
    assert all(r["format"] == "bf16" for r in left)


def test_dse_formats_lists_the_aliases(capsys):
    assert main(["formats", "aliases", "--json"]) == 0
    rows = {r["alias"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["float8_e4m3fnuz"]["means"] == "e4m3(bias=8,nonfinite=none)"
    assert rows["W8A8"]["means"] == "weights int8/ch, activations int8/ch"
    assert set(rows) == set(ELEMENT_ALIASES) | set(SCHEMES)
