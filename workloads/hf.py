"""HuggingFace `config.json` -> ModelSpec, for decoder-only models, dense or mixture of experts.

Supported `model_type`s and the conventions each implies (HF `transformers` modelling code):
- llama, mistral: gated SiLU MLP (gate, up, down), RMSNorm, rotary positions, untied by
  default; `attention_bias` puts biases on q, k, v, o and `mlp_bias` on the MLP (both default
  false; Mistral has neither).
- qwen2: as llama, with biases on q, k, v only (`Qwen2Attention`).
- phi3 (Phi-3, Phi-4): as mistral (a window on every layer where `sliding_window` is set),
  q, k, v fused in one weight and gate, up in another (`qkv_proj`, `gate_up_proj`: the same
  parameters).
- qwen3: as llama (no biases by default), with an RMSNorm over each head's queries and keys
  (`Qwen3Attention.q_norm`, `k_norm`: head_dim weights each, left out of the counts as for
  qwen3_moe) and `head_dim` given, not hidden / heads.
- gemma: as llama with a gated GELU MLP (`GemmaMLP`, the same three weights) and tied
  embeddings by default.
- gemma2: as gemma with four RMSNorms per layer (before and after attention and the MLP) and
  `sliding_window` on every other layer, the first included (`Gemma2DecoderLayer.is_sliding`),
  unless `layer_types` says otherwise.
- gemma3_text: as gemma2 with the window on all layers but every `sliding_window_pattern`-th
  (6: layer i is global where i + 1 is a multiple of 6, `Gemma3DecoderLayer.is_sliding`) and
  per-head q/k RMSNorms (left out, as for qwen3); fields a config omits take
  `Gemma3TextConfig`'s defaults (`_GEMMA3_DEFAULTS`). gemma3: the multimodal config; its
  `text_config` is the language model modelled here (the SigLIP vision encoder and the
  projector, about 0.4e9 parameters, are not: text generation only).
- mistral3 (Mistral Small 3.1 and 3.2): the multimodal config; its `text_config`, a mistral,
  is the language model modelled here (the Pixtral vision encoder and the projector are not).
  qwen3_vl and qwen3_vl_moe (Qwen3-VL) likewise: their text_config a qwen3_vl_text (qwen3's
  fields) or qwen3_vl_moe_text (qwen3_moe's), with multimodal rotary positions, which change
  no GEMM. A multimodal config's top-level tie_word_embeddings holds where its text_config
  has none.
- mixtral: as mistral, every MLP a mixture of `num_local_experts` experts of width
  `intermediate_size`, `num_experts_per_tok` per token (`MixtralSparseMoeBlock`).
- qwen2_moe: as qwen2, `num_experts` experts of width `moe_intermediate_size`, plus a shared
  expert of width `shared_expert_intermediate_size` with a sigmoid gate (`Qwen2MoeSparseMoeBlock`).
- qwen3_moe: as llama (no biases by default), `num_experts` experts of width
  `moe_intermediate_size`, no shared expert (`Qwen3MoeSparseMoeBlock`).
  For both Qwen MoE types every layer must be sparse (`decoder_sparse_step` 1, no
  `mlp_only_layers`).
- gpt_oss: as mixtral (`num_local_experts` experts of width `intermediate_size`, gate and up
  fused in one weight), with biases on every expert and on the router (`GptOssExperts`,
  `GptOssTopKRouter`), `attention_bias` on q, k, v, o, a learned sink logit per head and
  layer (`GptOssAttention.sinks`), and `sliding_window` on the layers `layer_types` marks
  "sliding_attention" (every other one in the released models).
- deepseek_v2, deepseek_v3: as llama with multi-head latent attention (`DeepseekV3Attention`:
  q_a_proj to a `q_lora_rank` latent, or q_proj where it is null, then q_b_proj;
  kv_a_proj_with_mqa to a `kv_lora_rank` latent and a `qk_rope_head_dim` rotary key, each
  latent with an RMSNorm, then kv_b_proj to `qk_nope_head_dim` keys and `v_head_dim` values
  per head); the first `first_k_dense_replace` layers a dense MLP of width
  `intermediate_size`, the rest `n_routed_experts` experts of width `moe_intermediate_size`,
  `num_experts_per_tok` per token, plus `n_shared_experts` of that width as one ungated
  shared MLP (`DeepseekV3MoE`); deepseek_v3's router has a bias per expert
  (`e_score_correction_bias`); kimi_k2 (Kimi K2) is deepseek_v3's architecture;
  deepseek_v32 (DeepSeek-V3.2) adds sparse attention: a lightning indexer of
  `index_n_heads` heads of `index_head_dim` (`Indexer`: wq_b from the query latent, wk with a
  LayerNorm, weights_proj) picks the `index_topk` tokens each query attends to. Experts on
  every layer past the dense ones only (`moe_layer_freq` 1). The multi-token-prediction
  module (`num_nextn_predict_layers`) is a training and speculative-decoding head that
  transformers does not load; it is not modelled.
- glm4_moe (GLM-4.5, 4.6, 4.7): as llama with `head_dim` given, `attention_bias` on q, k, v only
  (`Glm4MoeAttention`: o_proj has none), a per-head q/k RMSNorm where `use_qk_norm` (left out
  of the counts, as for qwen3), and DeepSeek-V3's experts: the first `first_k_dense_replace`
  layers a dense MLP of width `intermediate_size`, the rest `n_routed_experts` experts of width
  `moe_intermediate_size` with `n_shared_experts` as one ungated shared MLP and a router bias
  per expert (`Glm4MoeMoE`, `Glm4MoeTopkRouter`); the multi-token-prediction layer is not
  modelled, as for DeepSeek. glm4_moe_lite (GLM-4.7-Flash) is deepseek_v3's architecture
  (transformers' Glm4MoeLiteConfig is DeepseekV3Config, its attention DeepseekV3Attention).
- llama4_text (llama4: the multimodal config, its `text_config`; the vision encoder is not
  modelled): as llama with `num_local_experts` experts of width `intermediate_size`,
  `num_experts_per_tok` per token, and an ungated shared expert of that width
  (`Llama4TextMoe`) on the layers `moe_layers` lists (default every
  `interleave_moe_layer_step`-th), a dense MLP of width `intermediate_size_mlp` on the
  others; layers with rotary positions (`no_rope_layers` 1; default all but every 4th)
  attend within chunks of `attention_chunk_size` tokens (`layer_types` "chunked_attention";
  default 8192), the others to every token. Its per-head q/k norm has no weights.
- minimax_m2 (MiniMax-M2): as mixtral without a window (`MiniMaxM2Attention` has none), a
  q/k RMSNorm over all heads where `use_qk_norm` (left out of the counts, as qwen3's per-head
  norms) and a bias per expert on the router (`e_score_correction_bias`); its
  multi-token-prediction modules are not modelled.
- opt: plain ReLU MLP (fc1, fc2), LayerNorm, learned positions with an offset of 2 rows
  (`OPTLearnedPositionalEmbedding`), tied embeddings by default, biases everywhere unless
  `enable_bias` is false.
`layer_types` (per layer "full_attention" or "sliding_attention"; llama4_text:
"chunked_attention") is read for the families with sliding windows (mistral, mixtral, phi3,
gemma2, gemma3_text, gpt_oss) or chunks (llama4_text); elsewhere only all-full lists are
accepted.
Fields this model cannot represent (mixture of experts outside these types, latent attention,
encoder-decoder, other per-layer attention patterns, OPT's projected embeddings) are refused
by name.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dse.errors import UserError, read_text, unknown
from workloads.spec import ModelSpec


@dataclass(frozen=True)
class _Family:
    gated_mlp: bool
    layer_norm: bool
    tied_default: bool  # the config class's default for tie_word_embeddings
    ffn_key: str  # the field holding the MLP width
    position_offset: int | None  # learned position rows = max_position_embeddings + offset
    sliding_window: bool = False  # whether the config's sliding_window applies to every layer
    moe: tuple[str, str, str, str | None] | None = None  # keys: experts, per token, widths
    qkv_bias: bool = False  # q, k, v carry biases whatever attention_bias says (Qwen2)
    expert_bias: bool = False  # experts carry biases (gpt-oss)
    sinks: bool = False  # a learned attention-sink logit per head (gpt-oss)
    # without layer_types, the window on layers i with (i + 1) % pattern != 0 (Gemma 2: 2,
    # Gemma 3: the config's sliding_window_pattern, default 6)
    window_pattern: int | None = None
    layer_norms: int = 2  # norms per layer
    defaults: tuple[tuple[str, object], ...] = ()  # the config class's defaults for fields
    router_bias: bool = False  # a bias per expert on the router (gpt-oss, DeepSeek-V3)
    latent: bool = False  # DeepSeek's multi-head latent attention
    dense_first: bool = False  # DeepSeek's experts: leading dense layers, ungated shared experts
    o_bias: bool = True  # attention_bias puts a bias on o_proj too (GLM-4.5: q, k, v only)
    sparse: bool = False  # DeepSeek sparse attention: a lightning indexer picks the tokens
    shared_gate: bool = True  # the shared expert has a sigmoid gate (Qwen2-MoE)
    window_key: str = "sliding_window"  # the field holding the window's length in tokens
    chunked: bool = False  # the window is fixed chunks (Llama 4), not the last tokens
    listed_moe: bool = False  # experts on the layers `moe_layers` lists, dense MLPs elsewhere


#: Gemma3TextConfig's defaults (transformers, models/gemma3/configuration_gemma3.py), which
#: the released multimodal configs' text_config rely on for the fields they omit.
_GEMMA3_DEFAULTS = (
    ("vocab_size", 262_208), ("hidden_size", 2304), ("intermediate_size", 9216),
    ("num_hidden_layers", 26), ("num_attention_heads", 8), ("num_key_value_heads", 4),
    ("head_dim", 256), ("max_position_embeddings", 131_072), ("sliding_window", 4096),
    ("sliding_window_pattern", 6),
)
#: Multimodal model types whose language model is a config of its own (the key holding it).
_NESTED = {"gemma3": "text_config", "llama4": "text_config", "mistral3": "text_config",
           "qwen3_vl": "text_config", "qwen3_vl_moe": "text_config"}
_DEEPSEEK_MOE = ("n_routed_experts", "num_experts_per_tok", "moe_intermediate_size", None)
#: Fields of DeepSeek's configs read for the families with its latent attention and for those
#: with its experts (dense layers, shared experts); those in _NULLABLE may be null (no query
#: latent, no shared experts).
_LATENT_KEYS = ("kv_lora_rank", "q_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim",
                "v_head_dim")
_DENSE_FIRST_KEYS = ("n_shared_experts", "first_k_dense_replace")
_NULLABLE = ("q_lora_rank", "n_shared_experts", "first_k_dense_replace")
_INDEX_KEYS = ("index_n_heads", "index_head_dim", "index_topk")  # deepseek_v32's indexer
_LLAMA = _Family(gated_mlp=True, layer_norm=False, tied_default=False,
                 ffn_key="intermediate_size", position_offset=None)
#: DeepSeek's experts (DeepseekV3MoE): n_routed_experts, leading dense layers, an ungated
#: shared MLP; since V3 a router bias per expert (e_score_correction_bias)
_DEEPSEEK_EXPERTS = replace(_LLAMA, moe=_DEEPSEEK_MOE, dense_first=True, shared_gate=False,
                            router_bias=True)
_DEEPSEEK_V3 = replace(_DEEPSEEK_EXPERTS, latent=True)
_QWEN3_MOE = replace(_LLAMA, moe=("num_experts", "num_experts_per_tok", "moe_intermediate_size",
                                  None))  # fmt: skip
_FAMILIES = {
    "llama": _LLAMA,
    "mistral": replace(_LLAMA, sliding_window=True),
    "qwen2": replace(_LLAMA, qkv_bias=True),  # sliding_window needs use_sliding_window: refused
    "phi3": replace(_LLAMA, sliding_window=True),
    "qwen3": _LLAMA,  # as qwen2: a window only with use_sliding_window, refused
    "mixtral": replace(_LLAMA, sliding_window=True, moe=("num_local_experts",
                       "num_experts_per_tok", "intermediate_size", None)),
    "qwen2_moe": replace(_LLAMA, qkv_bias=True, moe=("num_experts", "num_experts_per_tok",
                         "moe_intermediate_size", "shared_expert_intermediate_size")),
    "qwen3_moe": _QWEN3_MOE,
    # Qwen3-VL's language models: qwen3 and qwen3_moe with multimodal rotary positions
    "qwen3_vl_text": _LLAMA,
    "qwen3_vl_moe_text": _QWEN3_MOE,
    "gpt_oss": replace(_LLAMA, sliding_window=True, expert_bias=True, sinks=True,
                       router_bias=True, moe=("num_local_experts", "num_experts_per_tok",
                                              "intermediate_size", None)),
    "gemma": replace(_LLAMA, tied_default=True),
    "gemma2": replace(_LLAMA, tied_default=True, sliding_window=True, window_pattern=2,
                      layer_norms=4),
    "gemma3_text": replace(_LLAMA, tied_default=True, sliding_window=True, window_pattern=6,
                           layer_norms=4, defaults=_GEMMA3_DEFAULTS),
    "deepseek_v2": replace(_DEEPSEEK_V3, router_bias=False),
    "deepseek_v3": _DEEPSEEK_V3,
    # DeepSeek-V3's architecture under a name of its own (Moonshot AI's Kimi-K2 deployment
    # guide: "Kimi-K2 reuses DeepSeekV3CausalLM architecture")
    "kimi_k2": _DEEPSEEK_V3,
    "deepseek_v32": replace(_DEEPSEEK_V3, sparse=True),
    "glm4_moe": replace(_DEEPSEEK_EXPERTS, o_bias=False),
    # GLM-4.7-Flash: transformers' Glm4MoeLiteConfig is DeepseekV3Config, its attention
    # DeepseekV3Attention and its experts Glm4MoeMoE (DeepSeek-V3's, with the router bias)
    "glm4_moe_lite": _DEEPSEEK_V3,
    # MiniMax-M2: Mixtral's experts (block_sparse_moe, w1 w3 w2) with a router bias per expert
    # (`MiniMaxM2SparseMoeBlock.e_score_correction_bias`) and no window
    "minimax_m2": replace(_LLAMA, router_bias=True, moe=("num_local_experts",
                          "num_experts_per_tok", "intermediate_size", None)),
    "llama4_text": replace(_LLAMA, ffn_key="intermediate_size_mlp", sliding_window=True,
                           window_key="attention_chunk_size", chunked=True, shared_gate=False,
                           listed_moe=True,
                           moe=("num_local_experts", "num_experts_per_tok",
                                "intermediate_size", "intermediate_size"),
                           defaults=(("attention_chunk_size", 8192),)),
    "opt": _Family(gated_mlp=False, layer_norm=True, tied_default=True, ffn_key="ffn_dim",
                   position_offset=2),
}

# Fields whose presence (with a value other than null/0/false) means an architecture this
# engine does not model, with the reason shown to the user. `layer_types` is refused only when
# some layer is not full attention in a family without sliding windows.
_UNSUPPORTED = {
    "num_local_experts": "mixture of experts",
    "num_experts": "mixture of experts",
    "n_routed_experts": "mixture of experts",
    "moe_intermediate_size": "mixture of experts",
    "num_experts_per_tok": "mixture of experts",
    "kv_lora_rank": "multi-head latent attention",
    "q_lora_rank": "multi-head latent attention",
    "is_encoder_decoder": "encoder-decoder model",
    "layer_types": "per-layer attention types",
    "use_sliding_window": "per-layer sliding window (Qwen2 max_window_layers)",
    "decoder_sparse_step": "dense MLP layers among the experts",
    "mlp_only_layers": "dense MLP layers among the experts",
}
_MOE_KEYS = ("num_local_experts", "num_experts", "moe_intermediate_size", "num_experts_per_tok")
_SPARSE_KEYS = ("decoder_sparse_step", "mlp_only_layers")  # checked for the MoE types below


def spec_from_hf_config(config: Mapping, name: str) -> ModelSpec:
    """Build a ModelSpec from the fields of a HuggingFace `config.json` (a mapping)."""
    outer = config.get("model_type")
    if isinstance(outer, str) and outer in _NESTED:  # a multimodal config: its language model
        inner = config.get(_NESTED[outer])
        if not isinstance(inner, Mapping):
            raise UserError(f"{name}: model_type {outer!r} needs {_NESTED[outer]} (the "
                            "language model's fields)")
        # the top level's tie_word_embeddings holds where the text_config has none
        # (Qwen3-VL-30B-A3B states it at the top level only)
        tied = {k: config[k] for k in ("tie_word_embeddings",) if k in config}
        config = {"model_type": f"{outer}_text", **tied, **inner}
    family = _FAMILIES.get(str(config.get("model_type")))
    if family is not None and family.defaults:
        config = {**dict(family.defaults), **config}
    refused = [k for k in sorted(_UNSUPPORTED) if config.get(k) not in (None, 0, False)]
    types = config.get("layer_types") or ()
    if (family is not None and family.sliding_window) or (
            isinstance(types, list) and set(types) <= {"full_attention"}):  # fmt: skip
        refused = [k for k in refused if k != "layer_types"]
    if family is not None and family.moe:
        allowed = {*_MOE_KEYS, *_SPARSE_KEYS, *family.moe}
        allowed |= {"kv_lora_rank", "q_lora_rank"} if family.latent else set()
        refused = [k for k in refused if k not in allowed]
        if config.get("decoder_sparse_step", 1) != 1 or config.get("mlp_only_layers"):
            refused.append("decoder_sparse_step" if config.get("decoder_sparse_step", 1) != 1
                           else "mlp_only_layers")  # fmt: skip
    if refused:
        reasons = sorted({_UNSUPPORTED[k] for k in refused})
        moe_types = ", ".join(t for t, f in _FAMILIES.items() if f.moe)
        raise UserError(f"{name}: cannot model field(s) {', '.join(refused)} "
                        f"({'; '.join(reasons)}); supported: dense decoder-only models and "
                        f"the mixture-of-experts types {moe_types}")
    model_type = config.get("model_type")
    if not isinstance(model_type, str) or model_type not in _FAMILIES:
        raise unknown(f"model_type in {name}", model_type, [*_FAMILIES, *_NESTED])
    family = _FAMILIES[model_type]
    required = ("hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size",
                family.ffn_key)
    missing = [k for k in required if config.get(k) is None]
    if missing:
        raise UserError(f"{name}: missing field(s) {', '.join(missing)} "
                        f"(required for model_type {model_type!r})")
    for key in (*required, "num_key_value_heads", "head_dim", "max_position_embeddings",
                family.window_key):
        _check_size(config.get(key), key, name)
    for key in _FLAGS:
        if config.get(key) is not None and not isinstance(config[key], bool):
            raise UserError(f"{name}: {key} must be true or false, got {config[key]!r}")
    hidden, heads = config["hidden_size"], config["num_attention_heads"]
    if model_type == "opt":
        _check_opt(config, name)
    max_positions = config.get("max_position_embeddings")
    positions = 0
    if family.position_offset is not None:
        if max_positions is None:
            raise UserError(f"{name}: missing field max_position_embeddings "
                            "(learned position embeddings)")
        positions = max_positions + family.position_offset
    qkv_bias, o_bias, mlp_bias = _biases(model_type, config)
    qkv_bias, o_bias = qkv_bias or family.qkv_bias, o_bias and family.o_bias
    window = config.get(family.window_key) if family.sliding_window else None
    sliding_layers = _sliding_layers(config, window, name, family) if family.sliding_window \
        else None  # fmt: skip
    if sliding_layers is None and family.chunked:
        sliding_layers = _rope_layers(config, name)
    if sliding_layers is None and family.window_pattern and window is not None:
        pattern = config.get("sliding_window_pattern") or family.window_pattern
        _check_size(pattern, "sliding_window_pattern", name)
        layers = config["num_hidden_layers"]
        sliding_layers = layers - layers // pattern  # all but layers pattern - 1, 2 pattern - 1
    moe: dict[str, Any] = {}
    if family.moe:
        keys = dict(zip(("experts", "experts_per_token", "expert_intermediate",
                         "shared_intermediate"), family.moe))  # fmt: skip
        for field_name, source in keys.items():
            if source is not None and field_name != "shared_intermediate":
                if config.get(source) is None:
                    raise UserError(f"{name}: missing field {source} (mixture of experts)")
                _check_size(config.get(source), source, name)
        moe = {f: int(config.get(k) or 0) for f, k in keys.items() if k is not None}
    _read(config, name, (*(_DENSE_FIRST_KEYS if family.dense_first else ()),
                         *(_LATENT_KEYS if family.latent else ()),
                         *(_INDEX_KEYS if family.sparse else ())))  # fmt: skip
    family_fields = _dense_first_fields(config, name) if family.dense_first else {}
    if family.latent:
        family_fields.update(_latent_fields(config, family.sparse))
    if family.listed_moe:  # Llama 4
        family_fields["dense_layers"] = config["num_hidden_layers"] - _moe_layers(config, name)
    # transformers' DeepseekV3Config sets head_dim to the rotary part: latent attention's
    # query/key head is the non-rotary and rotary parts together
    head_dim = (family_fields.pop("head_dim", None) or config.get("head_dim")
                or _divide(hidden, heads, name))  # fmt: skip
    return ModelSpec(
        name=name,
        hidden=hidden,
        layers=config["num_hidden_layers"],
        heads=heads,
        kv_heads=heads if family.latent else config.get("num_key_value_heads") or heads,
        head_dim=head_dim,
        intermediate=config[family.ffn_key],
        vocab=config["vocab_size"],
        gated_mlp=family.gated_mlp,
        tied_embeddings=bool(config.get("tie_word_embeddings", family.tied_default)),
        layer_norm=family.layer_norm,
        qkv_bias=qkv_bias,
        o_bias=o_bias,
        mlp_bias=mlp_bias or family.expert_bias,
        position_embeddings=positions,
        max_positions=max_positions,
        sliding_window=window if sliding_layers != 0 else None,  # 0: every layer full
        sliding_layers=None if sliding_layers in (0, config["num_hidden_layers"])
        else sliding_layers,  # None: the window on every layer
        attention_sinks=family.sinks,
        router_bias=family.router_bias,
        shared_gate=family.shared_gate,
        chunked=family.chunked,
        layer_norms=family.layer_norms,
        **moe,
        **family_fields,
    )


#: Largest accepted model dimension (hidden, heads, layers, vocab, ...): 2^24, about 300x the
#: largest published (Llama-3.1-405B: hidden 16384, intermediate 53248; Gemma: vocab 256000),
#: so that GEMM sizes and their products stay exact in int64. Positions and windows: 2^31 - 1.
MAX_DIMENSION = 2**24
MAX_POSITIONS = 2**31 - 1
_POSITION_KEYS = ("max_position_embeddings", "sliding_window", "attention_chunk_size")
#: Fields read as true/false (a string such as "no" must not count as true).
_FLAGS = ("tie_word_embeddings", "enable_bias", "attention_bias", "mlp_bias",
          "do_layer_norm_before")


def _check_size(value: object, key: str, name: str) -> None:
    """A positive integer within range, or a UserError naming the file and the key."""
    if value is None:
        return
    top = MAX_POSITIONS if key in _POSITION_KEYS else MAX_DIMENSION
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"{name}: {key} must be a positive integer, got {value!r}")
    if value == value and not 1 <= value <= top:
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        raise UserError(f"{name}: {key}: {shown} is out of range (1 .. {top})")
    if isinstance(value, float):
        raise UserError(f"{name}: {key} must be a positive integer, got {value!r}")


def load_hf_config(path: str | Path, name: str | None = None) -> ModelSpec:
    """Read a HuggingFace `config.json` file (or a directory holding one) into a ModelSpec."""
    path = Path(path)
    if path.is_dir():
        path = path / "config.json"
    try:
        config = json.loads(read_text(path, "model config"))
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(config, dict):
        raise UserError(f"{path}: expected a JSON object of config fields")
    return spec_from_hf_config(config, name or str(path))


def _sliding_layers(config: Mapping, window: int | None, name: str,
                    family: _Family) -> int | None:  # fmt: skip
    """How many layers `layer_types` gives the window (None: no `layer_types`, the window, if
    any, on every layer); a UserError naming a bad entry."""
    types = config.get("layer_types")
    if types is None:
        return None
    layers = config["num_hidden_layers"]
    valid = ("full_attention", "chunked_attention" if family.chunked else "sliding_attention")
    if not isinstance(types, list):
        raise UserError(f"{name}: layer_types must be a list of {', '.join(valid)}, "
                        f"got {types!r}")
    for i, kind in enumerate(types):
        if kind not in valid:
            raise UserError(f"{name}: layer_types[{i}]: {unknown('layer type', kind, valid)}")
    if len(types) != layers:
        raise UserError(f"{name}: layer_types lists {len(types)} layers, num_hidden_layers "
                        f"is {layers}")
    count = types.count(valid[1])
    if count and window is None:
        raise UserError(f"{name}: {valid[1]} layers need {family.window_key} (the window's "
                        "length in tokens)")
    return count


def _rope_layers(config: Mapping, name: str) -> int:
    """Llama 4's layers with rotary positions, which attend in chunks: `no_rope_layers` (1 for
    a rotary layer), or without it all but every `no_rope_layer_interval`-th (4;
    transformers' Llama4TextConfig)."""
    flags, layers = config.get("no_rope_layers") or [], config["num_hidden_layers"]
    if not isinstance(flags, list) or any(f not in (0, 1) for f in flags) or (
            flags and len(flags) != layers):  # fmt: skip
        raise UserError(f"{name}: no_rope_layers must list 0 or 1 for each of {layers} "
                        f"layers, got {flags!r}")
    if flags:
        return sum(flags)
    interval = config.get("no_rope_layer_interval", 4)
    _check_size(interval, "no_rope_layer_interval", name)
    return layers - layers // interval


def _moe_layers(config: Mapping, name: str) -> int:
    """How many of Llama 4's layers have experts: `moe_layers` (their indices), or without it
    every `interleave_moe_layer_step`-th (1: all; transformers' Llama4TextConfig)."""
    layers = config["num_hidden_layers"]
    listed = config.get("moe_layers")
    if listed is None:
        step = config.get("interleave_moe_layer_step", 1)
        _check_size(step, "interleave_moe_layer_step", name)
        listed = list(range(step - 1, layers, step))
    if (not isinstance(listed, list) or not listed or len(set(listed)) != len(listed)
            or any(isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < layers
                   for i in listed)):  # fmt: skip
        raise UserError(f"{name}: moe_layers must list distinct layer indices in 0 .. "
                        f"{layers - 1}, at least one, got {listed!r}")
    return len(listed)


def _read(config: Mapping, name: str, keys: tuple[str, ...]) -> None:
    """A UserError naming every missing field of `keys` (those in _NULLABLE may be null), or
    the first bad one."""
    missing = [k for k in keys
               if k not in config or (config[k] is None and k not in _NULLABLE)]  # fmt: skip
    if missing:
        raise UserError(f"{name}: missing field(s) {', '.join(missing)} (required for "
                        f"model_type {config['model_type']!r}; {', '.join(_NULLABLE)} may be "
                        "null)")
    for key in keys:
        if config[key] not in (None, 0) or key not in _NULLABLE:
            _check_size(config[key], key, name)


def _dense_first_fields(config: Mapping, name: str) -> dict[str, Any]:
    """ModelSpec fields of DeepSeek's experts in a config (leading dense layers, shared
    experts; fields checked by `_read`); a UserError for a layer plan it cannot model."""
    if config.get("moe_layer_freq", 1) != 1:
        raise UserError(f"{name}: cannot model field moe_layer_freq "
                        f"({config['moe_layer_freq']!r}): experts on every n-th layer only")
    dense, layers = config["first_k_dense_replace"] or 0, config["num_hidden_layers"]
    if dense >= layers:
        raise UserError(f"{name}: first_k_dense_replace: {dense} leaves no layer of experts "
                        f"(num_hidden_layers is {layers})")
    shared = (config["n_shared_experts"] or 0) * config["moe_intermediate_size"]
    return {"dense_layers": dense, "shared_intermediate": shared}


def _latent_fields(config: Mapping, sparse: bool) -> dict[str, Any]:
    """ModelSpec fields of a DeepSeek config's latent attention (and, `sparse`, its indexer;
    fields checked by `_read`)."""
    rope = config["qk_rope_head_dim"]
    return {
        "head_dim": config["qk_nope_head_dim"] + rope,
        "rope_head_dim": rope,
        "v_head_dim": config["v_head_dim"],
        "kv_lora_rank": config["kv_lora_rank"],
        "q_lora_rank": config["q_lora_rank"] or 0,
        **{field: config[key] for field, key in zip(("index_heads", "index_head_dim",
                                                      "index_topk"), _INDEX_KEYS) if sparse},
    }


def _divide(hidden: int, heads: int, name: str) -> int:
    if hidden % heads:
        raise UserError(f"{name}: hidden_size {hidden!r} is not a multiple of "
                        f"num_attention_heads {heads!r}; give head_dim explicitly")
    return hidden // heads


def _check_opt(config: Mapping, name: str) -> None:
    """OPT variants with projected embeddings or post-norm (OPT-350m) have extra layers."""
    proj = config.get("word_embed_proj_dim", config["hidden_size"])
    if proj != config["hidden_size"]:
        raise UserError(f"{name}: cannot model field word_embed_proj_dim ({proj}) differing "
                        f"from hidden_size ({config['hidden_size']}): projected embeddings")
    if not config.get("do_layer_norm_before", True):
        raise UserError(f"{name}: cannot model field do_layer_norm_before=false (post-norm OPT)")


def _biases(model_type: str, config: Mapping) -> tuple[bool, bool, bool]:
    """(q/k/v bias, o bias, MLP bias) as each family's modelling code builds them."""
    if model_type == "opt":
        bias = bool(config.get("enable_bias", True))
        return bias, bias, bias
    attention = bool(config.get("attention_bias", False))
    return attention, attention, bool(config.get("mlp_bias", False))
