"""Stage 5: bits and unit costs per (point, GEMM), then the accelerator roofline on
(points x GEMMs) arrays (`hwmodels.accelerator`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dse.evaluation.bits import BitsStage
from dse.evaluation.context import EvalContext
from dse.evaluation.factorize import factorize, factorize_rows
from dse.evaluation.formats import Names
from dse.evaluation.units import UnitStage
from hwmodels.accelerator import Evaluation, design_from, evaluate
from hwmodels.memory import off_chip
from hwmodels.units import UnitCosts


@dataclass(frozen=True)
class Roofline:
    """Bits moved per element of B (weight or KV) and A, and unit costs, per (point, GEMM);
    the roofline's results; `infeasible` per point (a unit that cannot run a format pair);
    the off-chip bandwidth used per point (GB/s)."""

    w_bits: np.ndarray
    a_bits: np.ndarray
    unit: UnitCosts
    ev: Evaluation
    infeasible: np.ndarray
    bandwidth_gbs: np.ndarray


class RooflineStage:
    """Costs of a chunk of points; the bits and unit caches live for the run."""

    def __init__(self, ctx: EvalContext):
        self.ctx = ctx
        self.bits = BitsStage()
        self.units = UnitStage(ctx.tech)

    def __call__(self, hw: Mapping[str, np.ndarray], names: dict[tuple[str, str], Names]
                 ) -> Roofline:  # fmt: skip
        ctx, gemms = self.ctx, self.ctx.gemms
        n_pts = len(hw["layout"])
        w_bits = np.empty((n_pts, len(gemms)))
        a_bits = np.empty_like(w_bits)
        unit = np.empty((8, n_pts, len(gemms)))
        hw_code, hw_rows = factorize_rows([hw["layout"], hw["word_bits"], hw["style"],
                                           hw["lanes"]])  # fmt: skip
        hw_code = (hw_code, np.arange(len(hw_rows), dtype=object))
        k_unit = int(ctx.hw.get("k") or 4096)
        for j, g in enumerate(gemms):
            bc, bnames = names[("b", g.tensor_class)]
            ac, anames = names[("a", g.tensor_class)]
            key_codes, uniq = factorize_rows(
                [(bc, np.arange(len(bnames))), (ac, np.arange(len(anames))), hw_code]
            )
            rows = []
            for b, a, h in uniq:
                lay, wd, st, ln = hw_rows[h]
                bn, an = bnames[b], anames[a]
                rows.append((
                    self.bits(bn, (g.n, g.k), lay, int(wd)),
                    self.bits(an, g.a_shape, lay, int(wd)),
                    *self.units(bn, an, st, ln, k_unit),
                ))  # fmt: skip
            table = np.array(rows, dtype=float)[key_codes]
            w_bits[:, j], a_bits[:, j] = table[:, 0], table[:, 1]
            unit[:, :, j] = table[:, 2:].T
        costs = UnitCosts(*unit)
        bandwidth, dram_pj = off_chip_arrays(hw)
        design = design_from(
            costs, rows=hw["rows"].astype(float), cols=hw["cols"].astype(float),
            freq_ghz=hw["freq_ghz"].astype(float), w_bits=w_bits, a_bits=a_bits,
            o_bits=a_bits,  # outputs are written in the activation format of their GEMM
            weight_buffer_kib=hw["weight_buffer_kib"].astype(float),
            act_buffer_kib=hw["act_buffer_kib"].astype(float),
            out_buffer_kib=hw["out_buffer_kib"].astype(float), bandwidth_gbs=bandwidth,
            dram_pj_per_bit=dram_pj, node_nm=hw["node_nm"].astype(float),
            vdd=pd.to_numeric(pd.Series(hw["vdd"]), errors="coerce").to_numpy(dtype=float),
            other_fraction=hw["other_fraction"].astype(float),
        )  # fmt: skip
        ev = evaluate(design, ctx.arrays, ctx.tech)
        infeasible = np.isnan(costs.pe_area_um2).any(axis=1)
        return Roofline(w_bits, a_bits, costs, ev, infeasible, bandwidth)


def off_chip_arrays(hw: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(bandwidth GB/s, pJ/bit) per point: explicit values, else the off-chip preset's."""
    codes, names = factorize(np.asarray(hw["off_chip"]))
    chips = [off_chip(n) for n in names]
    out = []
    for key, attr in (("bandwidth_gbs", "bandwidth_gbs"), ("dram_pj_per_bit", "pj_per_bit")):
        preset = np.array([getattr(c, attr) for c in chips], dtype=float)[codes]
        given = pd.to_numeric(pd.Series(hw[key]), errors="coerce").to_numpy(dtype=float)
        out.append(np.where(np.isnan(given), preset, given))
    return out[0], out[1]
