"""The metric columns of a results table, each registered once with its unit and meaning.

Each function reads the evaluated stages (`Stages`: the context, the errors, the roofline and
the columns computed before it) and returns one column; per-class functions also get the
indices of the class's GEMMs. Besides these, a results table holds `point` and one column per
design variable of the sweep. Per tensor class columns use the class names of
`workloads.CLASSES` as suffixes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from dse.evaluation.registry import metric

if TYPE_CHECKING:
    from dse.evaluation.context import EvalContext
    from dse.evaluation.errors import Errors
    from dse.evaluation.roofline import Roofline


@dataclass
class Stages:
    """A chunk's stage outputs, and the columns computed so far (`out`)."""

    ctx: EvalContext
    err: Errors
    cost: Roofline
    out: dict[str, Any] = field(default_factory=dict)

    @property
    def per_token(self) -> float:
        """pJ of one step -> uJ per token."""
        return 1e-6 / self.ctx.handled


# --- error -----------------------------------------------------------------------------------


@metric("model_nmse", "1", "output NMSE of the model: GEMM output NMSEs averaged with "
        "sensitivity weights (analytic Student-t model)", cost=False)  # fmt: skip
def _model_nmse(s: Stages):
    return s.err.model


@metric("model_sqnr_db", "dB", "-10 log10 model_nmse", cost=False)
def _model_sqnr_db(s: Stages):
    with np.errstate(divide="ignore"):
        return -10 * np.log10(s.err.model)


def _ppl(name: str, s: Stages):
    """A perplexity column of `dse.accuracy.ppl_change_pct` (computed with the errors)."""
    return s.err.ppl[name]


for _name, _meaning in (
    ("ppl_change_pct", "predicted perplexity change of the model from model_nmse and its "
     "parameter count (dse.accuracy: calibrated on published RTN results; approximation)"),
    ("ppl_change_pct_lo", "lower end of the ppl_change_pct band (80 % of held-out cases)"),
    ("ppl_change_pct_hi", "upper end of the ppl_change_pct band (80 % of held-out cases)"),
):  # fmt: skip
    metric(_name, "%", _meaning, cost=False)(partial(_ppl, _name))


@metric("error_exact", "bool", "false when any error term is an approximation (BlockDialect "
        "min-error / two-stage selection)", cost=False)  # fmt: skip
def _error_exact(s: Stages):
    return s.err.exact.all(axis=1)


@metric("nmse_w", "1", "NMSE of the class's weight (or KV-cache) operand", per_class=True,
        cost=False)  # fmt: skip
def _nmse_w(s: Stages, idx: list[int]):
    return s.err.nmse_w[:, idx[0]]


@metric("nmse_a", "1", "NMSE of the class's activation operand", per_class=True, cost=False)
def _nmse_a(s: Stages, idx: list[int]):
    return s.err.nmse_a[:, idx[0]]


@metric("nmse_out", "1", "output NMSE of the class's GEMMs", per_class=True, cost=False)
def _nmse_out(s: Stages, idx: list[int]):
    return s.err.nmse_out[:, idx[0]]


# --- storage ---------------------------------------------------------------------------------


@metric("bits_per_weight", "bit", "bits per weight element, scales and metadata included "
        "(MAC-weighted mean over GEMMs when formats differ by class)", cost=False)  # fmt: skip
def _bits_per_weight(s: Stages):
    macs, is_w = s.ctx.macs, s.ctx.is_weight
    return (s.cost.w_bits * macs * is_w).sum(1) / (macs * is_w).sum()


@metric("bits_per_act", "bit", "bits per activation element, as bits_per_weight", cost=False)
def _bits_per_act(s: Stages):
    return (s.cost.a_bits * s.ctx.macs).sum(1) / s.ctx.macs.sum()


@metric("bits_per_kv", "bit", "bits per KV-cache element", cost=False)
def _bits_per_kv(s: Stages):
    macs, kv = s.ctx.macs, s.ctx.is_kv
    return (s.cost.w_bits * macs * kv).sum(1) / (macs * kv).sum() if kv.any() else np.nan


@metric("weight_memory_gb", "GB", "weight footprint at the chosen formats (1 GB = 1e9 bytes)",
        cost=False)  # fmt: skip
def _weight_memory_gb(s: Stages):
    return (s.cost.w_bits * s.ctx.weight_elements).sum(1) / 8e9


# --- energy, latency, area -------------------------------------------------------------------


@metric("energy_per_token_uj", "uJ", "energy of one step divided by the tokens it handles "
        "(decode: batch; prefill: batch x sequence)")  # fmt: skip
def _energy(s: Stages):
    return s.cost.ev.energy_pj * s.per_token


def _total(name: str, s: Stages, per_token: bool = False):
    """A per-point total of the roofline (`hwmodels.accelerator.Evaluation`), in uJ per token
    when `per_token` (from pJ per step), else as it is."""
    return getattr(s.cost.ev, name) * s.per_token if per_token else getattr(s.cost.ev, name)


for _part, _meaning in (("compute", "MAC units"), ("sram", "on-chip buffer accesses"),
                        ("dram", "off-chip memory traffic"),
                        ("static", "leakage over the latency")):
    metric(f"energy_{_part}_uj", "uJ", f"per token: {_meaning}")(
        partial(_total, f"energy_{_part}_pj", per_token=True)
    )


@metric("latency_per_token_ms", "ms", "decode: the time of one step (every sequence of the "
        "batch gets one token); prefill: the prefill time / sequence length")  # fmt: skip
def _latency(s: Stages):
    return s.cost.ev.latency_ns * 1e-6 / s.ctx.per_token_div


@metric("tokens_per_s", "1/s", "throughput: tokens handled per second (decode: batch / step "
        "time)")  # fmt: skip
def _tokens_per_s(s: Stages):
    return s.ctx.handled / (s.cost.ev.latency_ns * 1e-9)


@metric("compute_bound_fraction", "1", "share of the latency spent in compute-bound GEMMs")
def _compute_bound(s: Stages):
    ev = s.cost.ev
    return (ev.gemm_latency_ns * ~ev.gemm_memory_bound).sum(1) / ev.latency_ns


for _name, _meaning in (("area_mm2", "accelerator area"), ("area_pe_mm2", "area of the PE array"),
                       ("area_buffer_mm2", "area of the on-chip buffers"),
                       ("area_other_mm2", "other area (control, vector unit, interconnect)")):
    metric(_name, "mm^2", _meaning)(partial(_total, _name))


@metric("edp_uj_ms", "uJ*ms", "energy-delay product per token")
def _edp(s: Stages):
    return s.out["energy_per_token_uj"] * s.out["latency_per_token_ms"]


@metric("latency_ms", "ms", "latency per token spent in the class's GEMMs", per_class=True)
def _latency_class(s: Stages, idx: list[int]):
    return s.cost.ev.gemm_latency_ns[:, idx].sum(1) * 1e-6 / s.ctx.per_token_div


@metric("energy_uj", "uJ", "energy per token spent in the class's GEMMs", per_class=True)
def _energy_class(s: Stages, idx: list[int]):
    return s.cost.ev.gemm_energy_pj[:, idx].sum(1) * s.per_token
