"""Bytes, tables and totals of a GEMM list at chosen bits per element.

Bytes count each GEMM's input operands once (A: M*K*count elements; B: K*N*count), at the
weight bits for weights, the activation bits for activations and the KV bits for the KV cache.
Outputs are not counted: they are the inputs of the next operation. Bits per element include
block scales and metadata (e.g. 4.5 for NVFP4), so bytes are fractional.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real
from typing import TYPE_CHECKING

import numpy as np

from dse.errors import UserError
from workloads.gemms import ROLES, Gemm, GemmArrays, gemm_arrays, phase_gemms
from workloads.spec import ModelSpec, kv_cache_elements, parameter_count

if TYPE_CHECKING:  # pandas (and the pyarrow it loads) only where a table is built
    import pandas as pd


def operand_bytes(arrays: GemmArrays, weight_bits, act_bits, kv_bits=None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(A bytes, B bytes) of every GEMM, shape `broadcast(bits).shape + (G,)`.

    The bits may be floats or arrays over design points (any broadcastable shapes); `kv_bits`
    defaults to `act_bits`.
    """
    kv_bits = act_bits if kv_bits is None else kv_bits
    bits = np.stack(np.broadcast_arrays(*(np.asarray(b, dtype=float)
                                          for b in (weight_bits, act_bits, kv_bits))), axis=-1)
    a_bytes = (arrays.m * arrays.k * arrays.count) * bits[..., 1:2] / 8
    b_bytes = (arrays.k * arrays.n * arrays.count) * bits[..., arrays.b_role] / 8
    return a_bytes, b_bytes


def gemm_table(gemms: Sequence[Gemm], weight_bits: float = 16.0, act_bits: float = 16.0,
               kv_bits: float | None = None) -> pd.DataFrame:
    """One row per GEMM: name, class, M, N, K, count, macs, roles, and input bytes by role.

    `weight_bytes`, `act_bytes` and `kv_bytes` split the GEMM's input bytes by what they are
    (A is always an activation; B is a weight, an activation or the KV cache).
    """
    import pandas as pd

    bits = _checked_bits(weight_bits, act_bits, kv_bits)
    arrays = gemm_arrays(gemms)
    a_bytes, b_bytes = operand_bytes(arrays, *bits)
    role = arrays.b_role
    return pd.DataFrame({
        "name": [g.name for g in gemms],
        "class": [g.tensor_class for g in gemms],
        "M": arrays.m,
        "N": arrays.n,
        "K": arrays.k,
        "count": arrays.count,
        "macs": arrays.macs,
        "a_role": [g.a_role for g in gemms],
        "b_role": [g.b_role for g in gemms],
        "weight_bytes": np.where(role == ROLES.index("weight"), b_bytes, 0.0),
        "act_bytes": a_bytes + np.where(role == ROLES.index("activation"), b_bytes, 0.0),
        "kv_bytes": np.where(role == ROLES.index("kv_cache"), b_bytes, 0.0),
    })


def workload_summary(spec: ModelSpec, phase: str, batch: int, tokens: int, *,
                     weight_bits: float = 16.0, act_bits: float = 16.0,
                     kv_bits: float | None = None, fused_qkv: bool = False) -> dict:
    """Totals of one step: `tokens` is the sequence length (prefill) or the context (decode).

    Keys: model, phase, batch, seq (prefill) or context (decode), bits used, params,
    param_bytes (every parameter at the weight bits), macs, tokens processed, macs_per_token,
    weight_bytes / act_bytes / kv_bytes (GEMM inputs, see module doc), kv_cache_bytes (the
    cache after the step: written in prefill, read in decode).
    """
    weight_bits, act_bits, kv_bits = _checked_bits(weight_bits, act_bits, kv_bits)
    table = gemm_table(phase_gemms(spec, phase, batch, tokens, fused_qkv=fused_qkv),
                       weight_bits, act_bits, kv_bits)
    processed = batch * tokens if phase == "prefill" else batch
    cached = tokens if phase == "prefill" else tokens + 1
    params = parameter_count(spec)
    macs = int(table["macs"].sum())
    return {
        "model": spec.name,
        "phase": phase,
        "batch": batch,
        "seq" if phase == "prefill" else "context": tokens,
        "weight_bits": weight_bits,
        "act_bits": act_bits,
        "kv_bits": kv_bits,
        "params": params,
        "param_bytes": params * weight_bits / 8,
        "macs": macs,
        "tokens": processed,
        "macs_per_token": macs / processed,
        "weight_bytes": float(table["weight_bytes"].sum()),
        "act_bytes": float(table["act_bytes"].sum()),
        "kv_bytes": float(table["kv_bytes"].sum()),
        "kv_cache_bytes": kv_cache_elements(spec, batch, cached) * kv_bits / 8,
    }


def _checked_bits(weight_bits, act_bits, kv_bits) -> tuple[float, float, float]:
    kv_bits = act_bits if kv_bits is None else kv_bits
    for what, bits in (("weight", weight_bits), ("activation", act_bits), ("kv", kv_bits)):
        if isinstance(bits, bool) or not isinstance(bits, Real) or not math.isfinite(bits) \
                or bits <= 0:
            raise UserError(f"{what} bits per element must be a positive number, got {bits!r}")
    return float(weight_bits), float(act_bits), float(kv_bits)
