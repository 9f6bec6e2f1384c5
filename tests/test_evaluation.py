"""The evaluation package: its output columns are exactly the metric registry's, each with a
unit and a meaning, and the infeasible-point policy follows the registry's `cost` flag."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from dse.columns import METRICS, PER_CLASS, metric_columns, units_table
from dse.config import resolve
from dse.evaluation import Evaluator
from dse.evaluation.registry import REGISTRY
from workloads import CLASSES, OPERANDS, format_variables


def _evaluate(space: dict):
    spec = resolve({"name": "t", "workload": {"model": "llama-2-7b", "batch": 2, "tokens": 64},
                    "space": space, "objectives": ["model_nmse"]})  # fmt: skip
    return Evaluator(spec)(spec.grid.points(np.arange(spec.grid.size))), list(space)


@pytest.fixture(scope="module")
def evaluated():
    return _evaluate({"weight_format": ["int4", "nvfp4"], "act_format": ["fp16", "int8"],
                      "style": ["dot", "bit_serial"]})  # fmt: skip


def test_every_column_produced_is_registered_with_unit_and_meaning(evaluated):
    table, variables = evaluated
    metrics = [c for c in table.columns if c not in ("point", *variables)]
    prefixes = {f"{p}_{c}": p for p in PER_CLASS for c in CLASSES}
    for col in metrics:
        unit, meaning = METRICS.get(col) or PER_CLASS[prefixes[col]]
        assert unit and meaning, col
    # ... and every registered column is produced (this workload has every tensor class)
    registered = [*METRICS, *prefixes]
    assert sorted(metrics) == sorted(registered)
    assert set(metric_columns()) <= set(metrics)
    assert len(units_table()) == len(REGISTRY)


def test_infeasible_points_keep_error_columns_and_lose_cost_columns(evaluated):
    table, _ = evaluated
    bad = (table["style"] == "bit_serial") & (table["act_format"] == "fp16")
    assert bad.any() and not bad.all()
    for name, m in REGISTRY.items():
        cols = [name] if not m.per_class else [f"{name}_{c}" for c in CLASSES]
        for col in cols:
            values = table.loc[bad, col].astype(float)
            assert values.isna().all() == m.cost, col
            assert table.loc[~bad, col].astype(float).notna().all() or name == "bits_per_kv", col


def test_operand_table_names_the_format_variables_and_stats_keys():
    assert format_variables()[:4] == ["scheme", "weight_format", "act_format", "kv_format"]
    assert {o.stats_key for o in OPERANDS} == {"weight", "activation", "kv_cache"}
    assert {o.nmse for o in OPERANDS} <= set(PER_CLASS)
    assert {c for o in OPERANDS if o.side == "a" for c in o.classes} == set(CLASSES)
    assert sorted(c for o in OPERANDS if o.side == "b" for c in o.classes) == sorted(CLASSES)


def test_kv_cache_takes_the_activation_format_unless_the_space_names_one():
    implicit, _ = _evaluate({"act_format": ["int4"]})
    explicit, _ = _evaluate({"act_format": ["int4"], "kv_format": ["int4"]})
    own, _ = _evaluate({"act_format": ["int4"], "kv_format": ["fp16"]})
    col = "nmse_w_attn_score"
    assert implicit[col].tolist() == explicit[col].tolist()
    assert (own[col] < implicit[col] / 100).all()


def test_column_lists_do_not_import_the_evaluator_or_hwmodels():
    """`dse.columns` (read by the config schema) takes the registry only, not the evaluator."""
    code = ("import sys, dse.columns\n"
            "for m in sorted(sys.modules):\n"
            "    if m.startswith(('hwmodels', 'dse.evaluation.')):\n"
            "        print(m)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["dse.evaluation.metrics", "dse.evaluation.registry"]


def test_separate_k_and_v_cache_formats():
    """`kv_format_attn_score` is the K cache (B of Q K^T), `kv_format_attn_context` the V cache
    (B of P V): each class takes its own format's error, and the cache's bits per element are
    the mean of the two (K and V are equally large)."""
    k, v = "bf16", "e4m3/t:none"  # casts: the same bits in every class (16 and 8)
    both, _ = _evaluate({"kv_format_attn_score": [k], "kv_format_attn_context": [v]})
    alone, _ = _evaluate({"kv_format": [k, v]})
    row, as_k, as_v = both.iloc[0], alone.iloc[0], alone.iloc[1]
    assert row["nmse_w_attn_score"] == as_k["nmse_w_attn_score"]
    assert row["nmse_w_attn_context"] == as_v["nmse_w_attn_context"]
    assert row["bits_per_kv"] == pytest.approx((as_k["bits_per_kv"] + as_v["bits_per_kv"]) / 2)
    # decode reads the cache: all-e4m3 fastest, all-bf16 slowest, K bf16 + V e4m3 between
    assert as_k["tokens_per_s"] < row["tokens_per_s"] < as_v["tokens_per_s"]


def test_a_class_without_its_own_kv_format_follows_the_activations():
    """Only the V cache named: the K cache stays in the activation format (as a KV cache the
    space names nothing for)."""
    mixed, _ = _evaluate({"act_format": ["e4m3", "bf16"], "kv_format_attn_context": ["int4/g128"]})
    plain, _ = _evaluate({"act_format": ["e4m3", "bf16"]})
    assert (mixed["nmse_w_attn_score"].to_numpy() == plain["nmse_w_attn_score"].to_numpy()).all()
    assert (mixed["nmse_w_attn_context"] > plain["nmse_w_attn_context"]).all()


def test_a_sweep_passes_the_profiled_scale_spread_to_the_mix_only():
    """A workload whose weights carry `scale_spread_log2` (from `dse profile`): the FP4/FP8
    mix's weight NMSE is the error model's at that spread, and a per-block format's is not
    moved by it."""
    from dse.error import error

    def run(stats):
        spec = resolve({"name": "t", "objectives": ["model_nmse"],
                        "workload": {"model": "llama-2-7b", "batch": 2, "tokens": 64,
                                     "stats": stats},
                        "space": {"weight_format": ["fp4fp8(p=0.3)", "int4/g128"]}})  # fmt: skip
        return Evaluator(spec)(spec.grid.points(np.arange(spec.grid.size)))

    plain = run({"weight": {"all": {"nu_within": 8.0}}})
    spread = run({"weight": {"all": {"nu_within": 8.0, "scale_spread_log2": 0.4}}})
    mix, intg = spread.iloc[0], spread.iloc[1]
    want = error("fp4fp8(p=0.3)", 8.0, scale_spread=0.4, tensor_size=4096 * 4096).nmse
    assert mix["nmse_w_qkv"] == pytest.approx(want, rel=1e-12)
    assert mix["nmse_w_qkv"] < 0.97 * plain.iloc[0]["nmse_w_qkv"]
    assert intg["nmse_w_qkv"] == plain.iloc[1]["nmse_w_qkv"]
