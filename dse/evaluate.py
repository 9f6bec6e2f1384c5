"""A batch of design points -> one row of metrics per point (the columns of `dse.columns`).

`Evaluator(config)` builds what does not change between points once (the workload's GEMMs,
tensor statistics, the base hardware) and is then called on DataFrames of design points. Work
per chunk is vectorised: each operand's format name is composed once per distinct combination
of the format variables, its error is computed once per distinct (format, distribution, block)
and cached for the run, MAC units are costed once per distinct (weight format, activation
format, style, lanes), and the accelerator roofline runs on (points x GEMMs) arrays.

Model error. A GEMM's output NMSE is nmse_w + nmse_a + nmse_w nmse_a (independent operand
errors, `dse.error.gemm_nmse`); the model's is the mean over the step's GEMMs, each GEMM of
a layer counting once per layer (the lm_head once), weighted by its class's sensitivity
(`workload.sensitivity`, default 1). This aggregate is an approximation: it ignores how errors
propagate through non-linearities and residual connections. `dse.accuracy` maps it to a
predicted perplexity change calibrated on published results.

Which fit each error uses (DESIGN.md section 3): block- and channel-scaled formats see the
within-group shape (`nu_within`) when it is known, per-tensor scales and plain casts the
pooled `nu`. Per-channel scales take the GEMM's reduction length K as the row; per-tensor
scales the operand's size. Outputs are written in the activation format of their GEMM.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from dse.accuracy import ppl_change_pct
from dse.error import error, gemm_nmse
from dse.errors import UserError
from dse.formats import parse, with_options
from dse.hardware import HARDWARE_VARIABLES, base_hardware
from hwmodels.accelerator import Design
from hwmodels.accelerator import evaluate as roofline
from hwmodels.layout import tensor_bits
from hwmodels.memory import off_chip
from hwmodels.presets import spec_from_dict
from hwmodels.units import mac_unit
from workloads import (
    CLASSES,
    LINEAR_CLASSES,
    apply_overrides,
    default_stats,
    load_model,
    load_profile_stats,
    operand_stats,
    parameter_count,
    phase_gemms,
)


class Evaluator:
    """Callable: DataFrame of design points (with `point`) -> the same rows plus metrics."""

    def __init__(self, cfg: Mapping[str, Any]):
        w = cfg["workload"]
        self.spec = load_model(w["model"])
        self.phase, self.batch, self.tokens = w["phase"], w["batch"], w["tokens"]
        self.gemms = phase_gemms(self.spec, self.phase, self.batch, self.tokens,
                                 fused_qkv=w["fused_qkv"])  # fmt: skip
        stats = default_stats()
        if w.get("profile"):
            stats = apply_overrides(stats, load_profile_stats(w["profile"]).overrides)
        self.stats = apply_overrides(stats, w.get("stats") or {})
        self.hw = base_hardware(cfg["hardware"])
        self.base_spec = spec_from_dict(self.hw, "hardware")
        self.tech = self.base_spec.reference_tech()
        sens = w.get("sensitivity") or {}
        occurrences = np.array([1 if g.tensor_class == "lm_head" else self.spec.layers
                                for g in self.gemms], dtype=float)  # fmt: skip
        weights = occurrences * np.array([sens.get(g.tensor_class, 1.0) for g in self.gemms])
        if weights.sum() <= 0:
            raise UserError("workload.sensitivity: at least one class needs a positive weight")
        self.error_weights = weights / weights.sum()
        self.params = parameter_count(self.spec)
        self.handled = self.batch * (self.tokens if self.phase == "prefill" else 1)
        self.per_token_div = self.tokens if self.phase == "prefill" else 1
        self._errors: dict[tuple, tuple[float, bool]] = {}
        self._units: dict[tuple, tuple[float, ...]] = {}
        self._bits: dict[tuple, float] = {}
        self._chunk_cache: dict = {}

    # --- formats ---------------------------------------------------------------------------

    def _names(self, points: pd.DataFrame, operand: str, cls: str) -> tuple[np.ndarray, list]:
        """(codes per point, distinct format names) of one operand of one class."""
        if (
            operand == "kv"
            and "kv_format" not in points
            and not any(f"kv_{m}" in points for m in ("block", "scale", "clip"))
        ):
            return self._names(points, "act", cls)  # the KV cache in the activation format
        default = {"weight": self.hw["weight_format"], "act": self.hw["activation_format"],
                   "kv": self.hw["activation_format"]}[operand]  # fmt: skip
        base = next((c for c in (f"{operand}_format_{cls}", f"{operand}_format") if c in points),
                    None)  # fmt: skip
        mods = [m for m in ("block", "scale", "clip") if f"{operand}_{m}" in points]
        cols = ([base] if base else []) + [f"{operand}_{m}" for m in mods]
        if not cols:
            return np.zeros(len(points), dtype=np.int64), [default]
        codes, uniq = factorize_rows([self._factorized(points, c) for c in cols])
        names = []
        for row in uniq:
            row = dict(zip(cols, row))
            name = row.get(base, default) if base else default
            opts = {m: row[f"{operand}_{m}"] for m in mods}
            names.append(with_options(name, **opts) if opts else name)
        return codes.astype(np.int64), names

    def _factorized(self, points: pd.DataFrame, col: str) -> tuple[np.ndarray, np.ndarray]:
        """One column's factorization, computed once per chunk."""
        if self._chunk_cache.get("id") is not points:
            self._chunk_cache = {"id": points}
        if col not in self._chunk_cache:
            self._chunk_cache[col] = factorize(points[col].to_numpy())
        return self._chunk_cache[col]

    def _error(self, name: str, stats, k: int, size: int) -> tuple[float, bool]:
        fmt = parse(name)
        scaled_in_groups = (
            fmt.block_size is not None
            or getattr(getattr(fmt, "blocking", None), "kind", "") == "channel"
        )
        nu = stats.nu_within if scaled_in_groups and stats.nu_within else stats.nu
        key = (name, nu, k, size, stats.sigma)
        if key not in self._errors:
            block = k if getattr(getattr(fmt, "blocking", None), "kind", "") == "channel" else None
            r = error(fmt, nu, block=block, tensor_size=size, sigma=stats.sigma)
            self._errors[key] = (r.nmse, r.exact)
        return self._errors[key]

    def _bits_moved(self, name: str, shape: tuple[int, int], layout: str, word: int) -> float:
        key = (name, shape, layout, word)
        if key not in self._bits:
            fmt = parse(name)
            lay = layout if fmt.block_size else "packed"
            self._bits[key] = tensor_bits(fmt, shape, lay, word).moved_per_element
        return self._bits[key]

    def _unit(self, w: str, a: str, style: str, lanes, k: int) -> tuple[float, ...]:
        key = (w, a, style, lanes, k)
        if key not in self._units:
            try:
                u = mac_unit(w, a, style, None if pd.isna(lanes) else int(lanes), k, self.tech)
                dw, da = u.decoder("weight"), u.decoder("activation")
                planes = max(1, round(u.lanes / u.macs_per_cycle))
                self._units[key] = (
                    u.pe.area_um2, u.pe.energy_pj, u.lanes, planes,
                    dw.energy_pj, da.energy_pj, dw.area_um2, da.area_um2,
                )  # fmt: skip
            except UserError:  # a pair this unit style cannot run: the point is infeasible
                self._units[key] = (np.nan,) * 8
        return self._units[key]

    # --- evaluation ------------------------------------------------------------------------

    def _hw_column(self, points: pd.DataFrame, key: str) -> np.ndarray:
        if key in points:
            return points[key].to_numpy()
        return np.full(len(points), self.hw.get(key), dtype=object)

    def __call__(self, points: pd.DataFrame) -> pd.DataFrame:
        points = points.reset_index(drop=True)
        self._chunk_cache = {}
        n_pts, gemms = len(points), self.gemms
        hw = {k: self._hw_column(points, k) for k in HARDWARE_VARIABLES}
        layout, word = hw["layout"], hw["word_bits"]
        out: dict[str, np.ndarray] = {}

        # formats and errors, per class
        per_gemm: dict[str, list[np.ndarray]] = {k: [] for k in ("nmse_w", "nmse_a", "exact")}
        codes: dict[tuple[str, str], tuple[np.ndarray, list]] = {}
        for cls in {g.tensor_class for g in gemms}:
            b_op = "weight" if cls in LINEAR_CLASSES else "kv"
            codes[("b", cls)] = self._names(points, b_op, cls)
            codes[("a", cls)] = self._names(points, "act", cls)
        for g in gemms:
            a_stats, b_stats = operand_stats(self.stats, g.tensor_class)
            cols = []
            for side, stats, size in (("b", b_stats, g.k * g.n), ("a", a_stats, g.m * g.k)):
                c, names = codes[(side, g.tensor_class)]
                vals = [self._error(n, stats, g.k, size) for n in names]
                cols.append((np.array([v[0] for v in vals])[c], np.array([v[1] for v in vals])[c]))
            per_gemm["nmse_w"].append(cols[0][0])
            per_gemm["nmse_a"].append(cols[1][0])
            per_gemm["exact"].append(cols[0][1] & cols[1][1])
        nw, na = (np.column_stack(per_gemm[k]) for k in ("nmse_w", "nmse_a"))
        nout = gemm_nmse(nw, na)
        model = nout @ self.error_weights
        out["model_nmse"] = model
        with np.errstate(divide="ignore"):
            out["model_sqnr_db"] = -10 * np.log10(model)
        out.update(ppl_change_pct(model, self.params))
        out["error_exact"] = np.column_stack(per_gemm["exact"]).all(axis=1)
        for cls in CLASSES:
            idx = [i for i, g in enumerate(gemms) if g.tensor_class == cls]
            if idx:
                out[f"nmse_w_{cls}"] = nw[:, idx[0]]
                out[f"nmse_a_{cls}"] = na[:, idx[0]]
                out[f"nmse_out_{cls}"] = nout[:, idx[0]]

        # bits moved per element and MAC units, per (point, GEMM)
        w_bits = np.empty((n_pts, len(gemms)))
        a_bits = np.empty_like(w_bits)
        unit = np.empty((8, n_pts, len(gemms)))
        hw_code, hw_rows = factorize_rows([layout, word, hw["style"], hw["lanes"]])
        hw_code = (hw_code, np.arange(len(hw_rows), dtype=object))
        k_unit = int(self.hw.get("k") or 4096)
        for j, g in enumerate(gemms):
            bc, bnames = codes[("b", g.tensor_class)]
            ac, anames = codes[("a", g.tensor_class)]
            key_codes, uniq = factorize_rows(
                [(bc, np.arange(len(bnames))), (ac, np.arange(len(anames))), hw_code]
            )
            rows = []
            for b, a, h in uniq:
                lay, wd, st, ln = hw_rows[h]
                bn, an = bnames[b], anames[a]
                rows.append((
                    self._bits_moved(bn, (g.n, g.k), lay, int(wd)),
                    self._bits_moved(an, (g.m, g.k), lay, int(wd)),
                    *self._unit(bn, an, st, ln, k_unit),
                ))  # fmt: skip
            table = np.array(rows, dtype=float)[key_codes]
            w_bits[:, j], a_bits[:, j] = table[:, 0], table[:, 1]
            unit[:, :, j] = table[:, 2:].T

        # the accelerator, on (points x GEMMs)
        chip = off_chip_arrays(hw)
        design = Design(
            rows=hw["rows"].astype(float), cols=hw["cols"].astype(float),
            lanes=unit[2], planes=unit[3], freq_ghz=hw["freq_ghz"].astype(float),
            pe_area_um2=unit[0], mac_energy_pj=unit[1], w_bits=w_bits, a_bits=a_bits,
            o_bits=a_bits, weight_buffer_bytes=hw["weight_buffer_kib"].astype(float) * 1024,
            act_buffer_bytes=hw["act_buffer_kib"].astype(float) * 1024,
            out_buffer_bytes=hw["out_buffer_kib"].astype(float) * 1024,
            bandwidth_gbs=chip[0], dram_pj_per_bit=chip[1],
            node_nm=hw["node_nm"].astype(float),
            vdd=pd.to_numeric(pd.Series(hw["vdd"]), errors="coerce").to_numpy(dtype=float),
            decode_w_pj=unit[4], decode_a_pj=unit[5], decode_w_area_um2=unit[6],
            decode_a_area_um2=unit[7], other_fraction=hw["other_fraction"].astype(float),
        )  # fmt: skip
        ev = roofline(design, _Gemms(gemms), self.tech)
        macs = np.array([g.m * g.n * g.k * g.count for g in gemms], dtype=float)
        is_w = np.array([g.b_role == "weight" for g in gemms])
        kv = ~is_w & np.array([g.tensor_class not in LINEAR_CLASSES for g in gemms])
        w_elems = np.array([g.k * g.n * g.count for g in gemms], dtype=float) * is_w
        out["bits_per_weight"] = (w_bits * macs * is_w).sum(1) / (macs * is_w).sum()
        out["bits_per_act"] = (a_bits * macs).sum(1) / macs.sum()
        out["bits_per_kv"] = (w_bits * macs * kv).sum(1) / (macs * kv).sum() if kv.any() else np.nan
        out["weight_memory_gb"] = (w_bits * w_elems).sum(1) / 8e9
        per_tok = 1e-6 / self.handled
        out["energy_per_token_uj"] = ev.energy_pj * per_tok
        out["energy_compute_uj"] = ev.energy_compute_pj * per_tok
        out["energy_sram_uj"] = ev.energy_sram_pj * per_tok
        out["energy_dram_uj"] = ev.energy_dram_pj * per_tok
        out["energy_static_uj"] = ev.energy_static_pj * per_tok
        out["latency_per_token_ms"] = ev.latency_ns * 1e-6 / self.per_token_div
        out["tokens_per_s"] = self.handled / (ev.latency_ns * 1e-9)
        bound = (ev.gemm_latency_ns * ~ev.gemm_memory_bound).sum(1)
        out["compute_bound_fraction"] = bound / ev.latency_ns
        out["area_mm2"] = ev.area_mm2
        out["area_pe_mm2"] = ev.area_pe_mm2
        out["area_buffer_mm2"] = ev.area_buffer_mm2
        out["area_other_mm2"] = ev.area_other_mm2
        out["edp_uj_ms"] = out["energy_per_token_uj"] * out["latency_per_token_ms"]
        for cls in CLASSES:
            idx = [i for i, g in enumerate(gemms) if g.tensor_class == cls]
            if idx:
                out[f"latency_ms_{cls}"] = (
                    ev.gemm_latency_ns[:, idx].sum(1) * 1e-6 / self.per_token_div
                )
                out[f"energy_uj_{cls}"] = ev.gemm_energy_pj[:, idx].sum(1) * per_tok
        # a format pair the unit style cannot run: its error stands, its costs are undefined
        infeasible = np.isnan(unit[0]).any(axis=1)
        result = pd.DataFrame(out)
        error_cols = ("model_nmse", "model_sqnr_db", "ppl_change_pct", "error_exact", "nmse_w_",
                      "nmse_a_", "nmse_out_", "bits_per_", "weight_memory_gb")  # fmt: skip
        result.loc[infeasible, [c for c in result if not c.startswith(error_cols)]] = np.nan
        return pd.concat([points, result], axis=1)


def factorize(col: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes, distinct values) of one column, NaN/None kept as a value."""
    c, u = pd.factorize(np.asarray(col, dtype=object), use_na_sentinel=False)
    return c.astype(np.int64), np.asarray(u, dtype=object)


def factorize_rows(columns: Sequence) -> tuple[np.ndarray, list[tuple]]:
    """(code per row, distinct rows) of several aligned columns, each given as values or as
    an already factorized (codes, distinct values) pair; the codes combine in mixed radix
    (much faster than a pandas MultiIndex on object columns)."""
    codes, uniques = [], []
    for col in columns:
        c, u = col if isinstance(col, tuple) else factorize(col)
        codes.append(c)
        uniques.append(u)
    sizes = [max(1, len(u)) for u in uniques]
    combined = np.ravel_multi_index(codes, sizes) if codes else np.zeros(0, dtype=np.int64)
    distinct, inverse = np.unique(combined, return_inverse=True)
    digits = np.unravel_index(distinct, sizes)
    rows = [tuple(u[d[i]] for u, d in zip(uniques, digits)) for i in range(distinct.size)]
    return inverse.reshape(-1), rows


class _Gemms:
    """The workload's GEMMs as the arrays `hwmodels.accelerator.evaluate` reads."""

    def __init__(self, gemms: Sequence):
        for attr in ("m", "n", "k", "count"):
            setattr(self, attr, np.array([getattr(g, attr) for g in gemms], dtype=np.int64))


def off_chip_arrays(hw: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(bandwidth GB/s, pJ/bit) per point: explicit values, else the off-chip preset's."""
    names = pd.Series(hw["off_chip"])
    chips = {n: off_chip(n) for n in names.unique()}
    out = []
    for key, attr in (("bandwidth_gbs", "bandwidth_gbs"), ("dram_pj_per_bit", "pj_per_bit")):
        preset = names.map({n: getattr(c, attr) for n, c in chips.items()})
        given = pd.to_numeric(pd.Series(hw[key]), errors="coerce")
        out.append(given.fillna(preset).to_numpy(dtype=float))
    return out[0], out[1]
