"""Transformer workloads: presets and HuggingFace config import -> GEMM lists with statistics.

A model (`ModelSpec`) comes from a preset id (`load_preset`) or a HuggingFace `config.json`
(`load_hf_config`); `prefill_gemms` / `decode_gemms` list the GEMMs of one step (`Gemm`,
convention Y[M, N] = A[M, K] @ B[K, N]); `gemm_arrays` gives them as numpy columns for
vectorised costs; `gemm_table` / `workload_summary` give bytes and totals at chosen bits per
element; `default_stats`, `apply_overrides` and `load_profile_stats` give the Student-t
statistics of each operand by tensor class.
"""

from workloads.gemms import (
    ATTENTION_CLASSES,
    CLASSES,
    LINEAR_CLASSES,
    PHASES,
    ROLES,
    Gemm,
    GemmArrays,
    decode_gemms,
    gemm_arrays,
    layer_shares,
    phase_gemms,
    prefill_gemms,
)
from workloads.hf import load_hf_config, spec_from_hf_config
from workloads.operands import OPERANDS, Operand, format_variables, operands_of
from workloads.presets import load_model, load_preset, preset_config, preset_names
from workloads.profiles import ProfileStats, load_profile_stats
from workloads.spec import ModelSpec, kv_cache_elements, parameter_breakdown, parameter_count
from workloads.stats import (
    OPERAND_CLASSES,
    TensorStats,
    apply_overrides,
    default_stats,
    operand_keys,
    operand_stats,
    stated_fields,
    stats_table,
)
from workloads.summary import gemm_table, operand_bytes, workload_summary

__all__ = [
    "ATTENTION_CLASSES",
    "CLASSES",
    "LINEAR_CLASSES",
    "OPERANDS",
    "OPERAND_CLASSES",
    "PHASES",
    "ROLES",
    "Gemm",
    "GemmArrays",
    "ModelSpec",
    "Operand",
    "ProfileStats",
    "TensorStats",
    "apply_overrides",
    "decode_gemms",
    "default_stats",
    "format_variables",
    "gemm_arrays",
    "gemm_table",
    "kv_cache_elements",
    "layer_shares",
    "load_hf_config",
    "load_model",
    "load_preset",
    "load_profile_stats",
    "operand_bytes",
    "operand_keys",
    "operand_stats",
    "operands_of",
    "parameter_breakdown",
    "parameter_count",
    "phase_gemms",
    "prefill_gemms",
    "preset_config",
    "preset_names",
    "spec_from_hf_config",
    "stated_fields",
    "stats_table",
    "workload_summary",
]
