"""Mixture-of-experts workloads: parameters against the published totals, the experts a step
touches against a simulation of routing, GEMMs that keep MACs exact and store every expert."""

from __future__ import annotations

import numpy as np
import pytest

import dse
from dse.cli import main
from workloads import load_model, parameter_count, phase_gemms
from workloads.gemms import experts_touched
from workloads.spec import parameter_breakdown

#: (total, active) parameters in billions as the model cards / release posts state them, the
#: total's tolerance and the parts the active count leaves out: Mixtral (mistral.ai "Mixtral
#: of experts", 2023: 46.7B total, 12.9B per token), Qwen1.5-MoE-A2.7B (model card: 14.3B
#: total, 2.7B activated), Qwen3-30B-A3B (model card: 30.5B total, 3.3B activated), Llama 4
#: Scout and Maverick (Meta's model cards: 109B and 400B total, 17B activated; the totals
#: include the vision encoder, which is not modelled: 2 %), GLM-4.5 and GLM-4.5-Air (model
#: card, zai-org/GLM-4.5: "355 billion total parameters with 32 billion active", "106 billion
#: total parameters and 12 billion active"; GLM-4.6, zai-org/GLM-4.6, the same architecture
#: with a context of 200K: 355B-A32B; Z.ai's active counts leave out both the input embedding
#: and the output head: with the head 32.85B and 12.80B; the totals leave out the
#: multi-token-prediction layer, not modelled: with it about 357B and 109B).
PUBLISHED = {
    "mixtral-8x7b": (46.7, 12.9, 0.01, ()),
    "qwen1.5-moe-a2.7b": (14.3, 2.7, 0.01, ()),
    "qwen3-30b-a3b": (30.5, 3.3, 0.01, ()),
    "llama-4-scout": (109, 17, 0.02, ()),
    "llama-4-maverick": (400, 17, 0.02, ()),
    "glm-4.5": (355, 32, 0.01, ("embedding", "lm_head")),
    "glm-4.5-air": (106, 12, 0.01, ("embedding", "lm_head")),
    "glm-4.6": (355, 32, 0.01, ("embedding", "lm_head")),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_total_and_active_parameters_match_the_published_figures(name):
    model = load_model(name)
    total, active, tolerance, left_out = PUBLISHED[name]
    assert parameter_count(model) / 1e9 == pytest.approx(total, rel=tolerance)
    parts = parameter_breakdown(model)
    counted = parameter_count(model, active=True) - sum(parts[p] for p in left_out)
    assert counted / 1e9 == pytest.approx(active, rel=0.02)


@pytest.mark.parametrize(("experts", "k", "tokens"), [(8, 2, 1), (8, 2, 3), (60, 4, 5),
                                                      (128, 8, 16), (128, 8, 40)])
def test_experts_touched_matches_a_simulation_of_uniform_routing(experts, k, tokens):
    rng = np.random.default_rng(1)
    trials = 4000
    picks = np.argsort(rng.random((trials, tokens, experts)), axis=2)[:, :, :k]
    distinct = np.array([np.unique(p).size for p in picks])
    se = distinct.std(ddof=1) / np.sqrt(trials)
    assert abs(distinct.mean() - experts_touched(experts, k, tokens)) < max(4 * se, 1e-2)


def _experts(gemms, part="up"):
    return [g for g in gemms if g.name == f"expert_{part}"]


@pytest.mark.parametrize("batch", [1, 2, 4, 16, 256])
def test_decode_touches_k_experts_for_one_token_and_all_for_large_batches(batch):
    m = load_model("mixtral-8x7b")
    up = _experts(phase_gemms(m, "decode", batch, 512))
    used = sum(g.count for g in up) / m.layers
    assert used == max(1, min(8, round(experts_touched(8, 2, batch))))
    assert (used == 2) == (batch == 1) and (used == 8) == (batch >= 16)
    # MACs are exact: every token's k experts, whatever the grouping
    assert sum(g.m * g.count for g in up) == batch * 2 * m.layers
    assert sum(g.stored or g.count for g in up) == 8 * m.layers  # every expert is stored


def test_weight_footprint_counts_every_expert_and_traffic_only_those_touched():
    m = load_model("mixtral-8x7b")
    gemms = phase_gemms(m, "decode", 1, 512)
    stored = sum(g.k * g.n * (g.stored or g.count) for g in gemms if g.b_role == "weight")
    parts = parameter_breakdown(m)
    router = m.hidden * m.experts * m.layers
    assert stored == parts["attention"] + parts["mlp"] - router + parts["lm_head"]
    read = sum(g.k * g.n * g.count for g in gemms if g.b_role == "weight")
    assert read == pytest.approx(parameter_count(m, active=True) - parts["embedding"]
                                 - parts["norms"] - router, rel=1e-9)  # fmt: skip


def test_a_moe_sweep_runs_and_its_memory_is_the_whole_model(tmp_path, capsys):
    table = dse.run({
        "name": "moe", "workload": {"model": "qwen1.5-moe-a2.7b", "batch": 1, "tokens": 512},
        "space": {"weight_format": ["bf16", "int4/g128"]},
        "objectives": ["model_nmse", {"column": "tokens_per_s", "sense": "max"}],
        "output": {"dir": str(tmp_path / "out"), "report": False},
    })  # fmt: skip
    bf16 = table.set_index("weight_format").loc["bf16"]
    m = load_model("qwen1.5-moe-a2.7b")
    parts = parameter_breakdown(m)
    linear = parts["attention"] + parts["mlp"] + parts["lm_head"]
    assert bf16["weight_memory_gb"] * 1e9 / 2 == pytest.approx(linear, rel=1e-3)
    assert table["tokens_per_s"].is_monotonic_increasing  # int4 reads fewer bytes
    assert main(["workload", "show", "qwen3-30b-a3b", "--batch", "4"]) == 0
    assert "expert_down" in capsys.readouterr().out
