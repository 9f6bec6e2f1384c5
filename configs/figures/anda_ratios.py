"""Anda's three headline ratios from a `greedy-mantissa` run of configs/anda.yaml: speed-up,
area efficiency and energy efficiency of each search's chosen design over its baselines.

Counted: the four FP-INT module types' GEMMs (qkv, o, gate_up, down), as the paper evaluates
FP-INT GeMMs. Speed-up = baseline latency / Anda latency; energy efficiency = baseline energy /
Anda energy; area efficiency = throughput per area (1 / (latency x area)), Anda over baseline.

scope "chip": the results table's per-class latency and energy (MAC units, buffers, DRAM,
leakage) and the whole accelerator area. scope "compute": the PE-array area and the MAC units'
energy (`hwmodels.units.mac_unit` per MAC at the design's node: the standalone unit with its
decoders, an approximation of the array's edge decoders).

Baselines: "fp16xint4" is the search's reference design (FP16 activations, INT4/g128 weights,
bit-parallel dot units); "fp16xfp16" the first `compare` design (FP16 weights in memory and
units); "gpu_like" is the paper's GPU-like FP-FP baseline as this module derives it: INT4 weights
in DRAM and buffers (weight-only quantization), dequantized to FP16 for FP16 x FP16 units. It
takes the FP16 x INT4 design's latency and memory energy, the FP16 x FP16 design's area, and
swaps the MAC energy for the FP16 x FP16 unit's (dequantizer cost left out: an approximation).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from dse.config import resolve
from dse.evaluation import Evaluator
from hwmodels.technology import node_factors
from hwmodels.units import mac_unit

FP_INT = ("qkv", "o", "gate_up", "down")  # Anda's FP-INT module types (gate_up is its "up")
KINDS = ("speedup", "area_efficiency", "energy_efficiency")
BASELINES = ("fp16xint4", "fp16xfp16", "gpu_like")


def _mac_energy_uj(row: pd.Series, macs: dict[str, float], hw: Mapping, handled: int) -> float:
    """MAC-unit energy per token (uJ) of the FP-INT GEMMs of the design in `row` (base
    hardware `hw`)."""
    node = row.get("node_nm", hw["node_nm"])
    _, energy_f, _ = node_factors(int(node), hw.get("vdd"))
    pj = sum(
        macs[c]
        * mac_unit(
            row["weight_format"], row[f"act_format_{c}"], row["style"], int(row["lanes"])
        ).energy_pj
        for c in FP_INT
    )
    return float(pj * float(energy_f) * 1e-6 / handled)


def _costs(row: pd.Series, scope: str, macs: dict, hw: Mapping, handled: int) -> dict:
    """latency (ms), energy (uJ) per token of the FP-INT GEMMs and area (mm^2) of one design."""
    return {
        "latency": sum(row[f"latency_ms_{c}"] for c in FP_INT),
        "energy": sum(row[f"energy_uj_{c}"] for c in FP_INT)
        if scope == "chip"
        else _mac_energy_uj(row, macs, hw, handled),
        "area": float(row["area_mm2" if scope == "chip" else "area_pe_mm2"]),
    }


def ratios(out: Path, config: dict, scope: str = "chip") -> dict:
    """Per search tolerance: the chosen mantissas and the three ratios over each baseline of
    the run in output directory `out` made from the sweep dict `config`."""
    if scope not in ("chip", "compute"):
        raise ValueError(f"scope must be chip or compute, got {scope!r}")
    trace = json.loads((out / "greedy-mantissa.json").read_text())
    table = pd.read_csv(out / "results.csv").set_index("point")
    ev = Evaluator(resolve(config)).context
    macs = {c: float(sum(g.macs for g in ev.gemms if g.tensor_class == c)) for c in FP_INT}

    def costs(point: int) -> dict:
        return _costs(table.loc[point], scope, macs, ev.hw, ev.handled)

    fp_int, fp_fp = costs(trace["reference"]["point"]), costs(trace["compare"][0]["point"])
    rows = [table.loc[trace["reference"]["point"]], table.loc[trace["compare"][0]["point"]]]
    swap = _mac_energy_uj(rows[1], macs, ev.hw, ev.handled) - _mac_energy_uj(
        rows[0], macs, ev.hw, ev.handled
    )
    gpu = {"latency": fp_int["latency"], "energy": fp_int["energy"] + swap, "area": fp_fp["area"]}
    bases = dict(zip(BASELINES, (fp_int, fp_fp, gpu)))
    result = {}
    for s in trace["searches"]:
        a = costs(s["chosen"]["point"])
        result[str(s["tolerance"])] = {
            "mantissas": dict(zip(FP_INT, s["chosen"]["mantissas"])),
            "evaluations": s["evaluations"],
            **{
                f"vs_{k}": {
                    "speedup": b["latency"] / a["latency"],
                    "area_efficiency": b["latency"] * b["area"] / (a["latency"] * a["area"]),
                    "energy_efficiency": b["energy"] / a["energy"],
                }
                for k, b in bases.items()
            },
        }
    return result
