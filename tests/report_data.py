"""Test data: a synthetic results table that follows the results-table contract
(`dse.columns`), for the report's tests and size benchmark only: the metrics come from simple
closed-form stand-ins (bits -> error, PE array and bandwidth -> roofline), not from the
engine's error or hardware models, and must never be read as results.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from dse.formats import parse
from workloads import ATTENTION_CLASSES, CLASSES, LINEAR_CLASSES

#: A quickstart-like sweep: 5 x 3 x 3 x 3 x 4 x 3 = 1,620 design points.
QUICKSTART_CONFIG: dict = {
    "name": "quickstart",
    "description": "Llama-2-7B decode at batch 8: weight and activation formats against PE "
    "array, on-chip buffer and DRAM bandwidth (synthetic metrics).",
    "workload": {"model": "llama-2-7b", "phase": "decode", "batch": 8, "tokens": 1024},
    "hardware": {"preset": "edge-16nm", "frequency_mhz": 1000},
    "space": {
        "weight_format": ["int4/g128", "nf4/g64", "mxfp4", "nvfp4", "blockdialect/b32"],
        "act_format": ["fp16", "e4m3", "mxfp8e4m3"],
        "pe_rows": [16, 32, 64],
        "pe_cols": [16, 32, 64],
        "sram_kb": [256, 512, 1024, 2048],
        "dram_bandwidth_gbs": [25.6, 51.2, 102.4],
    },
    "objectives": [
        {"column": "model_nmse", "sense": "min"},
        {"column": "energy_per_token_uj", "sense": "min"},
        {"column": "area_mm2", "sense": "min"},
    ],
    "constraints": [{"column": "area_mm2", "max": 50}],
    "search": {"method": "grid", "seed": 0},
    "output": {"dir": "out/quickstart", "report": True},
}

# Share of a decode step's MACs per tensor class (rough Llama-2-7B proportions at 1k context).
_CLASS_SHARE = dict(zip(CLASSES, (0.22, 0.07, 0.38, 0.19, 0.04, 0.05, 0.05)))
_MACS_PER_TOKEN = 6.9e9
_WEIGHT_BYTES_PER_BIT = 6.7e9 / 8


def _element_nmse(name: str, nu: float) -> float:
    """Stand-in NMSE: 3 * 4^-bits, a deterministic per-name factor, worse for heavy tails."""
    fmt = parse(name)
    bits = fmt.bits_per_element if fmt.block_size else fmt.bits_per_element + 1
    factor = 0.7 + 0.5 * (zlib.crc32(name.encode()) % 100) / 100
    return 3.0 * 4.0 ** -min(bits, 16.0) * factor * (1 + 2 / nu)


def grid_table(space: dict) -> pd.DataFrame:
    """Every combination of the space's lists, in row-major order, with a `point` column."""
    names = list(space)
    axes = np.meshgrid(*[np.arange(len(space[n])) for n in names], indexing="ij")
    df = pd.DataFrame({n: np.asarray(space[n], dtype=object)[a.ravel()]
                       for n, a in zip(names, axes)})
    for n in names:
        if not any(isinstance(v, str) for v in space[n]):
            df[n] = pd.to_numeric(df[n])
    df.insert(0, "point", np.arange(len(df)))
    return df


def results_table(config: dict = QUICKSTART_CONFIG) -> pd.DataFrame:
    """A synthetic results table for `config`: every space variable a list, with pe_rows,
    pe_cols, sram_kb and dram_bandwidth_gbs among them."""
    df = grid_table(config["space"])
    n = len(df)

    def fmt_col(name: str, default: str) -> pd.Series:
        return df[name] if name in df else pd.Series([default] * n)

    w, a, kv = fmt_col("weight_format", "int8/ch"), fmt_col("act_format", "fp16"), fmt_col(
        "kv_format", "fp16")
    bits = {key: s.map({f: parse(f).bits_per_element for f in s.unique()})
            for key, s in (("w", w), ("a", a), ("kv", kv))}
    out: dict[str, np.ndarray] = {}
    for cls in CLASSES:
        b_fmt, nu_b = (w, 6.8) if cls in LINEAR_CLASSES else (kv, 3.0)
        out[f"nmse_w_{cls}"] = b_fmt.map({f: _element_nmse(f, nu_b) for f in b_fmt.unique()})
        out[f"nmse_a_{cls}"] = a.map({f: _element_nmse(f, 3.0) for f in a.unique()})
        nw, na = out[f"nmse_w_{cls}"].to_numpy(), out[f"nmse_a_{cls}"].to_numpy()
        out[f"nmse_out_{cls}"] = nw + na + nw * na
    model_nmse = sum(_CLASS_SHARE[c] * out[f"nmse_out_{c}"] for c in CLASSES)

    pes = (df["pe_rows"] * df["pe_cols"]).to_numpy(dtype=float)
    sram = df["sram_kb"].to_numpy(dtype=float)
    bw = df["dram_bandwidth_gbs"].to_numpy(dtype=float)
    bw_bits, ba_bits, bkv = (bits[k].to_numpy(dtype=float) for k in ("w", "a", "kv"))
    batch = config["workload"].get("batch", 1)
    mac_pj = 0.05 * (bw_bits * ba_bits) ** 0.8
    compute_ms = _MACS_PER_TOKEN / (pes * 1e9 * (8 / np.maximum(ba_bits, 4))) * 1e3 * batch
    dram_bytes = _WEIGHT_BYTES_PER_BIT * bw_bits + 2.1e8 * bkv * batch / 8
    memory_ms = dram_bytes / (bw * 1e9) * 1e3 / (1 + sram / 8192)
    step_ms = np.maximum(compute_ms, memory_ms)
    area_pe = pes * 2.5e-3 * (bw_bits * ba_bits / 32) ** 0.7
    area_buf = sram * 0.02
    area_other = 0.15 * (area_pe + area_buf) + 1.5
    e_compute = _MACS_PER_TOKEN * mac_pj * 1e-6
    e_sram = _MACS_PER_TOKEN * 0.02 * (ba_bits + bw_bits) / 8 * np.sqrt(sram / 256) * 1e-6 / 4
    e_dram = dram_bytes * 8 * 4.0 * 1e-6 / batch
    e_static = (area_pe + area_buf + area_other) * 2.0 * step_ms / batch
    energy = e_compute + e_sram + e_dram + e_static
    out.update(
        model_nmse=model_nmse,
        model_sqnr_db=-10 * np.log10(model_nmse),
        error_exact=~w.str.startswith("blockdialect").to_numpy(),
        bits_per_weight=bw_bits,
        bits_per_act=ba_bits,
        bits_per_kv=bkv,
        weight_memory_gb=_WEIGHT_BYTES_PER_BIT * bw_bits / 1e9,
        energy_per_token_uj=energy,
        energy_compute_uj=e_compute,
        energy_sram_uj=e_sram,
        energy_dram_uj=e_dram,
        energy_static_uj=e_static,
        latency_per_token_ms=step_ms,
        tokens_per_s=batch / step_ms * 1e3,
        compute_bound_fraction=(compute_ms >= memory_ms).astype(float),
        area_mm2=area_pe + area_buf + area_other,
        area_pe_mm2=area_pe,
        area_buffer_mm2=area_buf,
        area_other_mm2=area_other,
        edp_uj_ms=energy * step_ms,
    )
    for cls in CLASSES:
        share = _CLASS_SHARE[cls] * (1.6 if cls in ATTENTION_CLASSES else 1.0)
        out[f"energy_uj_{cls}"] = energy * share
        out[f"latency_ms_{cls}"] = step_ms * share
    metrics = pd.DataFrame(out)
    # A buffer smaller than one PE tile of weights: the design is not buildable (NaN metrics).
    unbuildable = pes > 16 * sram
    hardware = [c for c in metrics if c.startswith(("energy", "latency", "area", "tokens",
                                                     "edp", "compute"))]
    metrics.loc[unbuildable, hardware] = np.nan
    df = pd.concat([df, metrics], axis=1)
    ok = ~unbuildable
    for c in config.get("constraints", []):
        ok &= (df[c["column"]] <= c.get("max", np.inf)) & (df[c["column"]] >= c.get("min", -np.inf))
    df["feasible"] = ok
    return df
