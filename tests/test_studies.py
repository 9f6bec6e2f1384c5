"""The four source studies as sweeps (configs/README.md): each test runs a study's sweep file
and asserts the engine's finding from the engine's own numbers, so a regression in the error,
hardware or workload models shows up here. Nothing is matched to a paper's numbers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

import dse
from dse.api import set_path
from dse.error import error, nmse
from dse.errors import UserError
from dse.formats import parse
from dse.pareto import non_dominated
from dse.strategies._common import error_limit
from hwmodels.units import mac_unit

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"


def study(name: str, tmp_path: Path, **changes) -> dict:
    """A study's sweep file as a dict, output in `tmp_path`, no report; `changes` set
    dotted paths (e.g. workload__model="opt-6.7b")."""
    cfg = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())
    cfg["output"] = {"dir": str(tmp_path / name), "report": False}
    for path, value in changes.items():
        set_path(cfg, path.replace("__", "."), value)
    return cfg


def front_of(names, *columns) -> set[str]:
    """Names of the rows non-dominated in `columns` (all minimised)."""
    f = np.column_stack([np.asarray(c, dtype=float) for c in columns])
    return {n for n, keep in zip(names, non_dominated(f)) if keep}


# --- FP4/FP8 mix: the calibrated (sensitivity-weighted) block scale ---------------------------


def test_calibrated_nvfp4_is_a_scale_search_without_flag_bits():
    cal = parse("nvfp4(cal=4)")
    assert cal.bits_per_element == parse("nvfp4").bits_per_element == 4.5
    assert cal.flag_bits == 0
    # every candidate is an ordinary NVFP4 whose analytic error matches its Monte Carlo twin
    for c in cal.candidates:
        a = error(c, 5).nmse
        mc = error(c, 5, method="montecarlo", samples=1 << 17)
        assert abs(a - mc.nmse) < 4 * mc.se
    # the search's analytic model (the least-error candidate per block) beats the rounded scale
    searched = error(cal, 5)
    assert searched.kind.startswith("model") and searched.nmse < error("nvfp4", 5).nmse
    with pytest.raises(UserError, match="cal"):
        parse("nvfp4(cal=9)")


def test_sensitivity_weighted_scale_choice_lowers_the_weighted_error():
    rng = np.random.default_rng(0)
    x = rng.standard_t(6.8, (256, 4096))
    g2 = np.exp(rng.standard_normal(x.shape))  # synthetic Fisher weights (log-normal)
    plain, cal = parse("nvfp4"), parse("nvfp4(cal=4)")

    def err(q, w=None):
        w = np.ones_like(x) if w is None else w
        return float(np.sum(w * (x - q) ** 2) / np.sum(w * x**2))

    q_plain, q_mse, q_fisher = plain.quantize(x), cal.quantize(x), cal.quantize(x, weights=g2)
    # the MSE search beats the rounded scale on MSE; the Fisher-weighted search beats both
    # on the Fisher-weighted error, and gives up a little MSE for it
    assert err(q_mse) < err(q_plain)
    assert err(q_fisher, g2) < err(q_mse, g2) < err(q_plain, g2)
    assert err(q_mse) < err(q_fisher)


# --- 1. Student-t formats ----------------------------------------------------------------------


def test_student_t_formats_front_and_sf4_vs_nf4(tmp_path):
    table = dse.run(study("student-t-formats", tmp_path))
    names = table["weight_format"].tolist()
    nmse = table["nmse_w_qkv"].to_numpy()  # every weight class has the same nu: one column
    area = [mac_unit(w, "fp16", "scalar").area_um2 for w in names]  # the MAC unit, 45 nm
    assert front_of(names, nmse, area) == {
        "int4/g128", "apot4/g128", "e2m1/g128", "e2m1+sp/g128", "sf4(nu=10)/g128"
    }  # fmt: skip
    assert set(table.loc[table["on_front"], "weight_format"]) == {
        "int4/g128",
        "apot4/g128",
        "e2m1+sp/g128",
        "sf4(nu=10)/g128",
    }  # the sweep's own front: PE array area, codebook decoders at the array edge
    by_nu = {}
    for nu in (5.0, 30.0):
        t = dse.run(study("student-t-formats", tmp_path / f"nu{nu:g}",
                          workload__stats={"weight": {"all": {"nu": nu}}}))  # fmt: skip
        by_nu[nu] = dict(zip(t["weight_format"], t["nmse_w_qkv"]))
    assert by_nu[5.0]["sf4(nu=5)/g128"] < by_nu[5.0]["nf4/g128"]  # SF4 beats NF4 at nu = 5
    assert by_nu[30.0]["sf4(nu=5)/g128"] > by_nu[30.0]["nf4/g128"]  # ... but not at nu = 30
    assert by_nu[5.0]["e2m1+sp/g128"] < by_nu[5.0]["e2m1/g128"] < by_nu[5.0]["int4/g128"]


# --- 2. FP4/FP8 block mix ----------------------------------------------------------------------


def _mix_runs(out: Path):
    import pandas as pd

    trace = json.loads((out / "global-threshold.json").read_text())
    table = pd.read_csv(out / "results.csv").set_index("point")
    return trace["runs"], table


def test_fp4_fp8_mix_curve_savings_and_global_threshold(tmp_path):
    cfg = study("fp4-fp8-mix", tmp_path)
    dse.run(cfg)
    runs, table = _mix_runs(Path(cfg["output"]["dir"]))
    fp8 = table.loc[next(r["point"] for r in runs if r["policy"] == "baseline")]
    uniform = {r["fraction"]: table.loc[r["point"]] for r in runs if r["policy"] == "uniform"}
    glob = {r["fraction"]: table.loc[r["point"]] for r in runs if r["policy"] == "global"}
    ps = sorted(uniform)
    curve = {c: np.array([uniform[p][c] for p in ps])
             for c in ("model_nmse", "weight_memory_gb", "energy_per_token_uj")}  # fmt: skip
    assert np.all(np.diff(curve["model_nmse"]) < 0)  # more FP8 blocks: less error,
    assert np.all(np.diff(curve["weight_memory_gb"]) > 0)  # more memory
    assert np.all(np.diff(curve["energy_per_token_uj"]) > 0)  # and more energy
    # p = 0.3 against all-FP8: the memory saving is the bit accounting's; energy saves less
    memory = 1 - uniform[0.3]["weight_memory_gb"] / fp8["weight_memory_gb"]
    assert memory == pytest.approx(1 - parse("fp4fp8(p=0.3)").bits_per_element / 8, abs=2e-3)
    energy = 1 - uniform[0.3]["energy_per_token_uj"] / fp8["energy_per_token_uj"]
    assert 0 < energy < memory
    assert uniform[0.3]["model_nmse"] > fp8["model_nmse"]
    # one global threshold beats a uniform fraction at (about) the same weight memory
    for p in ps[1:-1]:
        assert glob[p]["model_nmse"] < uniform[p]["model_nmse"]
        assert glob[p]["weight_memory_gb"] == pytest.approx(uniform[p]["weight_memory_gb"],
                                                            rel=0.01)  # fmt: skip
    # ... by giving FP8 blocks where a value weighs most in the model error
    wanted = next(r["wanted"] for r in runs if r["policy"] == "global" and r["fraction"] == 0.3)
    w = {k.rsplit("_format_", 1)[-1]: v for k, v in wanted.items()}
    assert w["qkv"] > w["gate_up"] > w["lm_head"] and w["o"] > w["down"]


# --- 3. Anda -------------------------------------------------------------------------------------

FP_INT = ("qkv", "o", "gate_up", "down")  # Anda's FP-INT GEMMs (module types)


def _anda(out: Path):
    import pandas as pd

    trace = json.loads((out / "greedy-mantissa.json").read_text())
    return trace, pd.read_csv(out / "results.csv").set_index("point")


def _check_searches(trace: dict, cap: int) -> None:
    """Each search's choice is the cheapest evaluated tuple within its tolerance."""
    for s in trace["searches"]:
        assert 0 < s["evaluations"] <= cap
        ok = [t for t in s["trace"] if t["error"] <= s["limit"]]
        assert s["chosen"]["bops"] == min(t["bops"] for t in ok)
        limit = error_limit(trace["metric"], trace["reference"]["error"], s["tolerance"])
        assert s["limit"] == pytest.approx(limit)


def test_anda_greedy_search_and_bit_serial_design(tmp_path):
    cfg = study("anda", tmp_path)
    dse.run(cfg)
    trace, table = _anda(Path(cfg["output"]["dir"]))
    _check_searches(trace, cfg["search"]["options"].get("max_evaluations", 32))
    strict, loose = sorted(trace["searches"], key=lambda s: s["tolerance"])
    assert strict["chosen"]["bops"] > loose["chosen"]["bops"]  # a looser tolerance is cheaper
    searched = {tuple(t["mantissas"]) for s in trace["searches"] for t in s["trace"]}
    assert len(table) == len(searched) + 1 + len(trace["compare"])  # every evaluation kept

    def cost(point: int) -> tuple[float, float, float]:
        row = table.loc[point]
        lat = sum(row[f"latency_ms_{c}"] for c in FP_INT)
        return lat, sum(row[f"energy_uj_{c}"] for c in FP_INT), row["area_mm2"]

    anda = cost(loose["chosen"]["point"])
    fp_int = cost(trace["reference"]["point"])
    fp_fp = cost(trace["compare"][0]["point"])
    # energy per token of the FP-INT GEMMs: bit-serial Anda < FP16 x INT4 < FP16 x FP16
    assert anda[1] < fp_int[1] < fp_fp[1]
    # throughput per area: Anda beats both bit-parallel baselines
    assert 1 / (anda[0] * anda[2]) > 1 / (fp_int[0] * fp_int[2]) > 1 / (fp_fp[0] * fp_fp[2])


def test_anda_search_on_a_second_model(tmp_path):
    cfg = study("anda", tmp_path, workload__model="opt-6.7b", search__options__tolerance=1)
    dse.run(cfg)
    trace, _ = _anda(Path(cfg["output"]["dir"]))
    _check_searches(trace, 32)
    assert trace["searches"][0]["chosen"] is not None


def _anda_ratios():
    """`ratios` of configs/figures/anda_ratios.py (the README's Anda headline numbers)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "anda_ratios", CONFIGS / "figures" / "anda_ratios.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ratios


#: configs/README.md, section 3 (Engine): speed-up, area and energy efficiency of Anda over
#: each baseline (whole chip, the FP-INT GEMMs of Llama-2-7B prefill 2048), per bit-serial
#: lane count and perplexity tolerance; the README states them to +-1 %.
ANDA_HEADLINE = {
    64: {
        "0.1": {"fp16xint4": (1.06, 1.15, 1.65), "gpu_like": (1.06, 1.80, 2.15),
                "fp16xfp16": (1.06, 1.80, 3.86)},
        "1.0": {"fp16xint4": (1.33, 1.45, 1.96), "gpu_like": (1.33, 2.27, 2.56),
                "fp16xfp16": (1.33, 2.27, 4.59)},
    },
    128: {
        "0.1": {"fp16xint4": (2.12, 1.88, 1.72), "gpu_like": (2.12, 2.94, 2.25),
                "fp16xfp16": (2.12, 2.94, 4.04)},
        "1.0": {"fp16xint4": (2.67, 2.37, 2.05), "gpu_like": (2.67, 3.70, 2.67),
                "fp16xfp16": (2.67, 3.70, 4.80)},
    },
}  # fmt: skip
ANDA_PAPER = (2.4, 4.0, 3.1)  # Fang et al., HPCA 2025 (arXiv 2411.15982), over GPU-like FP-FP


@pytest.mark.parametrize("lanes", sorted(ANDA_HEADLINE))
def test_anda_headline_ratios_as_the_readme_states(tmp_path, lanes):
    cfg = study("anda", tmp_path, space__lanes=[lanes, 8])
    dse.run(cfg)
    got = _anda_ratios()(Path(cfg["output"]["dir"]), cfg)
    kinds = ("speedup", "area_efficiency", "energy_efficiency")
    for tol, bases in ANDA_HEADLINE[lanes].items():
        for base, want in bases.items():
            measured = tuple(got[tol][f"vs_{base}"][k] for k in kinds)
            assert measured == pytest.approx(want, rel=0.01), (lanes, tol, base)
    loose = [got["1.0"]["vs_gpu_like"][k] / p - 1 for k, p in zip(kinds, ANDA_PAPER)]
    # README: with 128 lanes all three land within 25 % of the paper at 1 %; with the
    # preset's 64 the speed-up and area efficiency do not
    assert (max(map(abs, loose)) <= 0.25) == (lanes == 128)


def test_anda_compute_only_area_efficiency(tmp_path):
    """README: counting only the PE array, Anda's area efficiency over FP16 x FP16 is 4.32 at
    the 0.1 % tolerance (the paper's 4.0 within 25 %) and its MAC energy ratio 5.9."""
    cfg = study("anda", tmp_path)
    dse.run(cfg)
    got = _anda_ratios()(Path(cfg["output"]["dir"]), cfg, "compute")["0.1"]["vs_fp16xfp16"]
    assert got["area_efficiency"] == pytest.approx(4.32, rel=0.01)
    assert got["energy_efficiency"] == pytest.approx(5.88, rel=0.01)


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"tolerance": -0.1}, "search.options.tolerance"),
        ({"tolerence": 0.01}, "search.options.tolerence: unknown key 'tolerence' (did you mean"),
        ({"reference": "bf16"}, "search.options.reference: 'bf16' is not a value of space."),
        ({"compare": [{"stlye": "dot"}]}, "search.options.compare[0].stlye: not a design"),
        ({"modules": ["act_format_qkv", "act_format_lm_head"]}, "act_format_lm_head"),
    ],
)
def test_greedy_mantissa_options_are_checked(tmp_path, options, fragment):
    cfg = study("anda", tmp_path)
    cfg["search"]["options"].update(options)
    with pytest.raises(UserError) as exc:
        dse.run(cfg)
    assert fragment in str(exc.value)


def test_global_threshold_options_are_checked(tmp_path):
    cfg = study("fp4-fp8-mix", tmp_path)
    cfg["search"]["options"]["policies"] = ["greedy"]
    with pytest.raises(UserError, match=r"search.options.policies\[0\]: 'greedy' is not valid"):
        dse.run(cfg)
    cfg = study("fp4-fp8-mix", tmp_path / "b", search__options__baselines=["e5m2"])
    with pytest.raises(UserError, match=r"search.options.baselines\[0\].weight_format_qkv"):
        dse.run(cfg)


# --- 4. BlockDialect -----------------------------------------------------------------------------


def test_blockdialect_at_matched_bits_for_weights_and_activations(tmp_path):
    t = dse.run(study("blockdialect", tmp_path))
    w = dict(zip(t["weight_format"], t["nmse_w_qkv"]))  # weights: nu of the weight statistics
    a = dict(zip(t["act_format"], t["nmse_a_qkv"]))  # activations: heavier tails
    for e in (w, a):
        # BlockDialect-32 (4.28 bits) beats MXFP4 (4.25 bits) at about the same bits
        assert e["blockdialect/b32"] < e["mxfp4"]
        assert e["blockdialect(sel=two-stage)/b32"] < e["mxfp4"]
        # smaller blocks, less error; the online two-stage choice costs a little error
        for sel in ("blockdialect", "blockdialect(sel=two-stage)"):
            assert e[f"{sel}/b16"] < e[f"{sel}/b32"] < e[f"{sel}/b64"]
        for b in (16, 32, 64):
            assert e[f"blockdialect/b{b}"] <= e[f"blockdialect(sel=two-stage)/b{b}"]
    # BlockDialect-16 (4.56 bits) is clearly better than NVFP4 (4.5 bits) on weights, in the
    # model and in Monte Carlo through the exact quantizer (measured 0.00743 vs 0.00864 at
    # nu = 6.8), and the two agree within 1 %
    assert w["blockdialect/b16"] < 0.95 * w["nvfp4"]
    nu_w = 6.8
    bd, bd_se = nmse("blockdialect/b16", nu_w, method="montecarlo", samples=1 << 18, seed=2)
    assert abs(w["blockdialect/b16"] - bd) <= max(0.01 * bd, 3 * bd_se)
    assert bd + 3 * bd_se < 0.95 * w["nvfp4"]
    # MAC units (45 nm, scalar core as in the published table): a DialectFP4 MAC costs about
    # an E2M1 one; in a 32-lane dot unit its codebook decoders make it the larger
    core = {f: mac_unit(f, f, "scalar", k=16).group("core").area_um2
            for f in ("e2m1", "blockdialect/b32")}  # fmt: skip
    assert core["blockdialect/b32"] == pytest.approx(core["e2m1"], rel=0.02)
    dot = {f: mac_unit(f, f, "dot", 32).area_um2 for f in ("mxfp4", "blockdialect/b32")}
    assert dot["blockdialect/b32"] > dot["mxfp4"]
