"""The results table's metric columns, with units: the contract between `dse.evaluate` (which
writes them), the optimizer (objectives and constraints name them) and `reports` (which reads
them).

Besides these, a results table holds `point` (the design point's index in the space) and one
column per design variable of the sweep (e.g. `weight_format`, `pe_rows`). Per tensor class
columns use the class names of `workloads.CLASSES` (qkv, o, gate_up, down, lm_head,
attn_score, attn_context) as suffixes.
"""

from __future__ import annotations

from workloads import CLASSES

#: column -> (unit, meaning). Units are also in the names where a name has one.
METRICS: dict[str, tuple[str, str]] = {
    "model_nmse": (
        "1",
        "output NMSE of the model: GEMM output NMSEs averaged with sensitivity "
        "weights (analytic Student-t model)",
    ),
    "model_sqnr_db": ("dB", "-10 log10 model_nmse"),
    "ppl_change_pct": (
        "%",
        "predicted perplexity change of the model from model_nmse and its parameter count "
        "(dse.accuracy: calibrated on published RTN results; approximation)",
    ),
    "ppl_change_pct_lo": ("%", "lower end of the ppl_change_pct band (80 % of held-out cases)"),
    "ppl_change_pct_hi": ("%", "upper end of the ppl_change_pct band (80 % of held-out cases)"),
    "error_exact": (
        "bool",
        "false when any error term is an approximation (BlockDialect "
        "min-error / two-stage selection)",
    ),
    "bits_per_weight": (
        "bit",
        "bits per weight element, scales and metadata included "
        "(MAC-weighted mean over GEMMs when formats differ by class)",
    ),
    "bits_per_act": ("bit", "bits per activation element, as bits_per_weight"),
    "bits_per_kv": ("bit", "bits per KV-cache element"),
    "weight_memory_gb": ("GB", "weight footprint at the chosen formats (1 GB = 1e9 bytes)"),
    "energy_per_token_uj": (
        "uJ",
        "energy of one step divided by the tokens it handles "
        "(decode: batch; prefill: batch x sequence)",
    ),
    "energy_compute_uj": ("uJ", "per token: MAC units"),
    "energy_sram_uj": ("uJ", "per token: on-chip buffer accesses"),
    "energy_dram_uj": ("uJ", "per token: off-chip memory traffic"),
    "energy_static_uj": ("uJ", "per token: leakage over the latency"),
    "latency_per_token_ms": (
        "ms",
        "decode: the time of one step (every sequence of the batch "
        "gets one token); prefill: the prefill time / sequence length",
    ),
    "tokens_per_s": ("1/s", "throughput: tokens handled per second (decode: batch / step time)"),
    "compute_bound_fraction": ("1", "share of the latency spent in compute-bound GEMMs"),
    "area_mm2": ("mm^2", "accelerator area"),
    "area_pe_mm2": ("mm^2", "area of the PE array"),
    "area_buffer_mm2": ("mm^2", "area of the on-chip buffers"),
    "area_other_mm2": ("mm^2", "other area (control, vector unit, interconnect)"),
    "edp_uj_ms": ("uJ*ms", "energy-delay product per token"),
}

#: Per tensor class columns: prefix -> (unit, meaning); the column is f"{prefix}_{class}".
PER_CLASS: dict[str, tuple[str, str]] = {
    "nmse_w": ("1", "NMSE of the class's weight (or KV-cache) operand"),
    "nmse_a": ("1", "NMSE of the class's activation operand"),
    "nmse_out": ("1", "output NMSE of the class's GEMMs"),
    "energy_uj": ("uJ", "energy per token spent in the class's GEMMs"),
    "latency_ms": ("ms", "latency per token spent in the class's GEMMs"),
}


def metric_columns() -> list[str]:
    """Every column an objective, a constraint or a strategy's `metric` may name: the numeric
    metrics (not the true/false ones such as error_exact)."""
    numeric = (c for c, (unit, _) in METRICS.items() if unit != "bool")
    return [*numeric, *(f"{p}_{c}" for p in PER_CLASS for c in CLASSES)]


def units_table() -> list[dict[str, str]]:
    """Rows of (column, unit, meaning) for documentation and `--json` consumers."""
    rows = [{"column": c, "unit": u, "meaning": m} for c, (u, m) in METRICS.items()]
    rows += [{"column": f"{p}_<class>", "unit": u, "meaning": m} for p, (u, m) in PER_CLASS.items()]
    return rows
