"""What does not change between design points, built once per sweep (`EvalContext`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dse.errors import UserError
from dse.spec import SweepSpec
from hwmodels.presets import HardwareSpec
from hwmodels.technology import Technology
from workloads import (
    LINEAR_CLASSES,
    Gemm,
    GemmArrays,
    ModelSpec,
    TensorStats,
    apply_overrides,
    default_stats,
    gemm_arrays,
    layer_shares,
    load_model,
    load_profile_stats,
    parameter_count,
    phase_gemms,
    stated_fields,
)


@dataclass(frozen=True)
class EvalContext:
    """The workload's GEMMs (records and arrays), the tensor statistics (and the profiled
    tensors' own records, where a profile gives them: `workloads.ProfileStats.tensors`), the
    error weights, the base hardware (dict and `HardwareSpec`) and the 45 nm technology unit
    costs are priced in.

    handled: tokens one step handles (decode: batch; prefill: batch x sequence);
    per_token_div: divisor from the step's latency to latency per token (prefill: sequence)."""

    model: ModelSpec
    phase: str
    gemms: tuple[Gemm, ...]
    arrays: GemmArrays
    stats: dict[tuple[str, str], TensorStats]
    profiled: dict[tuple[str, str], tuple[dict, ...]]  # per-tensor profile records (laws)
    error_weights: np.ndarray
    hw: dict[str, Any]
    base: HardwareSpec
    tech: Technology
    params: int
    handled: int
    per_token_div: int
    macs: np.ndarray  # per GEMM, count included
    is_weight: np.ndarray  # B is a weight
    is_kv: np.ndarray  # B is the KV cache (or the keys/values in prefill)
    weight_elements: np.ndarray  # per GEMM: weight elements stored, 0 when B is no weight
    class_gemms: dict[str, list[int]]  # tensor class -> its GEMM indices

    @classmethod
    def of(cls, spec: SweepSpec) -> EvalContext:
        """The context of a sweep."""
        w = spec.workload
        model = load_model(w.model)
        gemms = tuple(phase_gemms(model, w.phase, w.batch, w.tokens, fused_qkv=w.fused_qkv))
        stats = default_stats()
        profiled: dict[tuple[str, str], tuple[dict, ...]] = {}
        if w.profile:
            apply_overrides(stats, w.stats or {})  # checked before its fields are read
            profile = load_profile_stats(w.profile, stated_fields(w.stats or {}))
            stats = apply_overrides(stats, profile.overrides)
            profiled = dict(profile.tensors)
        overridden = apply_overrides(stats, w.stats or {})
        # a class whose statistics the sweep states itself is predicted from them, not from
        # the profile's tensors
        profiled = {k: v for k, v in profiled.items() if overridden[k] == stats[k]}
        stats = overridden
        sens = w.sensitivity or {}
        weights = layer_shares(gemms, model.layers) * np.array(
            [sens.get(g.tensor_class, 1.0) for g in gemms])
        if weights.sum() <= 0:
            raise UserError("workload.sensitivity: at least one class needs a positive weight")
        is_w = np.array([g.b_role == "weight" for g in gemms])
        classes: dict[str, list[int]] = {}
        for i, g in enumerate(gemms):
            classes.setdefault(g.tensor_class, []).append(i)
        return cls(
            model=model, phase=w.phase, gemms=gemms, arrays=gemm_arrays(gemms), stats=stats,
            profiled=profiled,
            error_weights=weights / weights.sum(), hw=dict(spec.base_hardware), base=spec.base,
            tech=spec.base.reference_tech(),
            params=parameter_count(model),
            handled=w.batch * (w.tokens if w.phase == "prefill" else 1),
            per_token_div=w.tokens if w.phase == "prefill" else 1,
            macs=np.array([g.m * g.n * g.k * g.count for g in gemms], dtype=float),
            is_weight=is_w,
            is_kv=~is_w & np.array([g.tensor_class not in LINEAR_CLASSES for g in gemms]),
            weight_elements=np.array([g.k * g.n * (g.stored or g.count) for g in gemms],
                                     dtype=float) * is_w,
            class_gemms=classes,
        )  # fmt: skip
