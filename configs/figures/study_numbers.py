"""The numbers of configs/README.md, from the engine.

    python configs/figures/study_numbers.py

Runs the four study sweeps (and the variants the write-up quotes: other nu, a second model,
Monte Carlo of the calibrated NVFP4 scale), prints every number the README quotes as JSON on
stdout. (The figures are in each study's report; `screenshots.py` copies them here.)
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from anda_ratios import ratios

import dse
from dse.api import set_path
from dse.error import error, nmse
from dse.formats import parse
from dse.pareto import non_dominated
from hwmodels.units import mac_unit

HERE = Path(__file__).resolve().parent
OUT = HERE.parents[1] / "out" / "studies"
NUS = (3.0, 4.0, 5.0, 6.8, 8.0, 10.0, 30.0, math.inf)


def study_config(name: str, tag: str = "", **changes) -> dict:
    """configs/<name>.yaml with dotted `changes` (a__b=value), output out/studies/<name><tag>."""
    cfg = yaml.safe_load((HERE.parent / f"{name}.yaml").read_text())
    cfg["output"] = {"dir": str(OUT / f"{name}{tag}"), "report": False}
    for path, value in changes.items():
        set_path(cfg, path.replace("__", "."), value)
    return cfg


def run(name: str, tag: str = "", **changes) -> tuple[pd.DataFrame, Path]:
    """Run `study_config(name, tag, **changes)` afresh (stored rows of an older engine are
    not reused): its results table and output directory."""
    cfg = study_config(name, tag, **changes)
    return dse.run(cfg, fresh=True), Path(cfg["output"]["dir"])


# --- 1. Student-t formats --------------------------------------------------------------------


def student_t() -> dict:
    table, _ = run("student-t-formats")
    names = table["weight_format"].tolist()
    area = {n: mac_unit(n, "fp16", "scalar").area_um2 for n in names}
    scan = {nu: {n: nmse(n, nu) for n in names} for nu in NUS}
    fronts = {}
    for nu, e in scan.items():
        keep = non_dominated(np.array([[e[n], area[n]] for n in names]))
        fronts[str(nu)] = [n for n, k in zip(names, keep) if k]
    lo, hi = 5.0, 10.0  # SF4(5) - NF4 changes sign in between (bisection on the engine's NMSE)
    for _ in range(30):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if nmse("sf4(nu=5)/g128", mid) < nmse("nf4/g128", mid) else (lo, mid)
    numbers = {
        "nmse_at_profiled_nu": dict(zip(names, table["nmse_w_qkv"])),
        "mac_area_um2_45nm": area,
        "sweep_front": table.loc[table["on_front"], "weight_format"].tolist(),
        "mac_front_by_nu": fronts,
        "sf4_5_over_nf4_by_nu": {
            str(nu): scan[nu]["sf4(nu=5)/g128"] / scan[nu]["nf4/g128"] for nu in NUS
        },
        "sf4_5_beats_nf4_below_nu": round(0.5 * (lo + hi), 3),
    }
    return numbers


# --- 2. FP4/FP8 mix --------------------------------------------------------------------------


def _calibration(nu: float = 6.8, spread: float = 1.0) -> dict:
    """Monte Carlo of NVFP4 low-precision blocks with the rounded, the MSE-searched and the
    Fisher-weighted searched block scale (synthetic log-normal Fisher weights)."""
    rng = np.random.default_rng(0)
    x = rng.standard_t(nu, (1024, 4096))
    g2 = np.exp(spread * rng.standard_normal(x.shape))
    var = nu / (nu - 2)
    out = {}
    for label, q in (
        ("rounded", parse("nvfp4").quantize(x)),
        ("mse_search", parse("nvfp4(cal=4)").quantize(x)),
        ("fisher_search", parse("nvfp4(cal=4)").quantize(x, weights=g2)),
    ):
        out[label] = {
            "nmse": float(np.mean((x - q) ** 2) / var),
            "fisher_weighted_nmse": float(np.sum(g2 * (x - q) ** 2) / np.sum(g2) / var),
        }
    out["montecarlo_nmse_cal4"] = error("nvfp4(cal=4)", nu, method="montecarlo").nmse
    out["analytic_nmse_nvfp4"] = error("nvfp4", nu).nmse
    return out


def _prefill_saving() -> dict:
    """Energy and memory saving of uniform p = 0.3 against all-FP8 in a prefill step."""
    opts = {"fractions": [0.3], "policies": ["uniform"], "baselines": ["e4m3"]}
    _, out = run(
        "fp4-fp8-mix",
        "-prefill",
        workload__phase="prefill",
        workload__batch=1,
        workload__tokens=2048,
        search__options=opts,
    )
    t = pd.read_csv(out / "results.csv").set_index("point")
    runs = json.loads((out / "global-threshold.json").read_text())["runs"]
    mix, fp8 = (t.loc[r["point"]] for r in runs)
    return {c: 1 - float(mix[c] / fp8[c]) for c in ("weight_memory_gb", "energy_per_token_uj")}


def fp4_fp8() -> dict:
    _, out = run("fp4-fp8-mix")
    runs = json.loads((out / "global-threshold.json").read_text())["runs"]
    t = pd.read_csv(out / "results.csv").set_index("point")
    fp8 = t.loc[next(r["point"] for r in runs if r["policy"] == "baseline")]
    cols = ("model_nmse", "weight_memory_gb", "energy_per_token_uj")
    curves = {
        pol: sorted((r["fraction"], t.loc[r["point"]]) for r in runs if r["policy"] == pol)
        for pol in ("uniform", "global")
    }
    at = {pol: dict(c)[0.3] for pol, c in curves.items()}
    numbers = {
        "all_fp8": {c: float(fp8[c]) for c in cols},
        "p0.3": {pol: {c: float(r[c]) for c in cols} for pol, r in at.items()},
        "saving_vs_fp8_at_p0.3": {
            pol: {c: 1 - float(r[c] / fp8[c]) for c in cols[1:]} for pol, r in at.items()
        },
        "global_fractions_at_p0.3": next(
            r["wanted"] for r in runs if r["policy"] == "global" and r["fraction"] == 0.3
        ),
        "global_over_uniform_nmse": {
            p: float(g["model_nmse"] / u["model_nmse"])
            for (p, u), (_, g) in zip(curves["uniform"], curves["global"])
        },
        "energy_breakdown_p0.3_uniform": {
            c: float(at["uniform"][c])
            for c in ("energy_compute_uj", "energy_sram_uj", "energy_dram_uj", "energy_static_uj")
        },
        "calibrated_scale_nu6.8": _calibration(),
        "prefill_saving_vs_fp8_at_p0.3": _prefill_saving(),
    }
    return numbers


# --- 3. Anda ---------------------------------------------------------------------------------


def anda() -> dict:
    numbers = {}
    for model in ("llama-2-7b", "opt-6.7b"):
        cfg = study_config("anda", f"-{model}", workload__model=model)
        dse.run(cfg)
        out = Path(cfg["output"]["dir"])
        trace = json.loads((out / "greedy-mantissa.json").read_text())
        numbers[model] = {
            "reference_ppl_change_pct": trace["reference"]["error"],
            "searches": ratios(out, cfg, "chip"),
            "searches_compute_only": ratios(out, cfg, "compute"),
        }
    return numbers


# --- 4. BlockDialect -------------------------------------------------------------------------


def blockdialect() -> dict:
    t, _ = run("blockdialect")
    names = [n for n in dict.fromkeys(t["weight_format"]) if n != "bf16"]
    w = dict(zip(t["weight_format"], t["nmse_w_qkv"]))
    a = dict(zip(t["act_format"], t["nmse_a_qkv"]))
    bits = {n: parse(n).bits_per_element for n in names}
    numbers = {
        "bits_per_element": bits,
        "weight_nmse": {n: w[n] for n in names},
        "activation_nmse": {n: a[n] for n in names},
        "mac_dot32_45nm": {
            n: {
                "area_um2": mac_unit(n, n, "dot", 32).area_um2,
                "energy_pj": mac_unit(n, n, "dot", 32).energy_pj,
            }
            for n in names
        },
    }
    return numbers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.parse_args()
    numbers = {}
    for name, make in (
        ("student-t-formats", student_t),
        ("fp4-fp8-mix", fp4_fp8),
        ("anda", anda),
        ("blockdialect", blockdialect),
    ):
        numbers[name] = make()
    print(json.dumps(numbers, indent=1, default=float))


if __name__ == "__main__":
    main()
