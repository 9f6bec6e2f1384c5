"""The numbers and figures of configs/README.md, from the engine.

    python configs/figures/make_figures.py [--no-png]

Runs the four study sweeps (and the variants the write-up quotes: other nu, a second model,
Monte Carlo of the calibrated NVFP4 scale), prints every number the README quotes as JSON on
stdout, and writes one small PNG per study into this folder (plotly, screenshotted by the
reports package's headless Chromium). Sweep outputs go to out/studies/ (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import yaml
from anda_ratios import ratios
from plotly.subplots import make_subplots

import dse
from dse.error import error, nmse
from dse.formats import parse
from dse.pareto import non_dominated
from hwmodels.units import mac_unit

HERE = Path(__file__).resolve().parent
OUT = HERE.parents[1] / "out" / "studies"
#: Formats labelled in the Student-t figure besides the front (the rest crowd the front's end).
LABELLED = ("e3m0/g128", "e2m1-b/g128", "e2m1-i/g128", "e2m1-ns/g128", "e2m1+sr/g128")
NUS = (3.0, 4.0, 5.0, 6.8, 8.0, 10.0, 30.0, math.inf)


def study_config(name: str, tag: str = "", **changes) -> dict:
    """configs/<name>.yaml with dotted `changes` (a__b=value), output out/studies/<name><tag>."""
    cfg = yaml.safe_load((HERE.parent / f"{name}.yaml").read_text())
    cfg["output"] = {"dir": str(OUT / f"{name}{tag}"), "report": False}
    for path, value in changes.items():
        *keys, last = path.split("__")
        node = cfg
        for k in keys:
            node = node.setdefault(k, {})
        node[last] = value
    return cfg


def run(name: str, tag: str = "", **changes) -> tuple[pd.DataFrame, Path]:
    """Run `study_config(name, tag, **changes)`: its results table and output directory."""
    cfg = study_config(name, tag, **changes)
    return dse.run(cfg), Path(cfg["output"]["dir"])


def short(name: str) -> str:
    return name.replace("/g128", "").replace("blockdialect", "BD").replace("(sel=two-stage)", "-2s")


# --- 1. Student-t formats --------------------------------------------------------------------


def student_t() -> tuple[dict, go.Figure]:
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
    fig = make_subplots(
        1,
        2,
        horizontal_spacing=0.1,
        subplot_titles=(
            "NMSE vs MAC area (weights t(6.8), group 128, x FP16)",
            "NMSE relative to NF4 vs nu",
        ),
    )
    nu0 = table["nmse_w_qkv"].to_numpy()
    on = set(fronts["6.8"])
    fig.add_scatter(
        x=[area[n] for n in names],
        y=nu0,
        mode="markers+text",
        text=[short(n) if n in on or n in LABELLED else "" for n in names],
        textposition="top center",
        textfont_size=9,
        marker_size=7,
        marker_color=["#1f77b4" if n in on else "#aaa" for n in names],
        showlegend=False,
        row=1,
        col=1,
    )
    f = sorted(on, key=area.get)
    fig.add_scatter(
        x=[area[n] for n in f],
        y=[scan[6.8][n] for n in f],
        mode="lines",
        line_color="#1f77b4",
        name="front",
        row=1,
        col=1,
    )
    xs = [nu if math.isfinite(nu) else 100.0 for nu in NUS]
    for n in (
        "sf4(nu=3)/g128",
        "sf4(nu=5)/g128",
        "sf4(nu=10)/g128",
        "e2m1+sp/g128",
        "e2m1/g128",
        "apot4/g128",
    ):
        fig.add_scatter(
            x=xs,
            y=[scan[nu][n] / scan[nu]["nf4/g128"] for nu in NUS],
            mode="lines+markers",
            name=short(n),
            row=1,
            col=2,
        )
    fig.add_hline(y=1, line_dash="dot", row=1, col=2)
    fig.update_xaxes(
        title_text="MAC area, um^2 at 45 nm (dse hw mac W fp16 --style scalar)", row=1, col=1
    )
    fig.update_yaxes(title_text="weight NMSE", type="log", row=1, col=1)
    fig.update_xaxes(title_text="nu of the weights (100 = normal)", type="log", row=1, col=2)
    fig.update_yaxes(title_text="NMSE / NMSE(NF4)", row=1, col=2)
    return numbers, fig


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


def fp4_fp8() -> tuple[dict, go.Figure]:
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
    fig = make_subplots(
        1,
        3,
        horizontal_spacing=0.08,
        subplot_titles=("model NMSE", "weight memory (GB)", "energy per token (uJ)"),
    )
    for k, c in enumerate(cols, start=1):
        for pol, color in (("uniform", "#1f77b4"), ("global", "#d62728")):
            ps = [p for p, _ in curves[pol]]
            fig.add_scatter(
                x=ps,
                y=[r[c] for _, r in curves[pol]],
                mode="lines+markers",
                line_color=color,
                name=f"{pol} policy",
                legendgroup=pol,
                showlegend=k == 1,
                row=1,
                col=k,
            )
        fig.add_scatter(
            x=[0, 1],
            y=[float(fp8[c])] * 2,
            mode="lines",
            line=dict(dash="dot", color="black"),
            name="all FP8 (e4m3)",
            legendgroup="fp8",
            showlegend=k == 1,
            row=1,
            col=k,
        )
        fig.update_xaxes(title_text="fraction of FP8 weight blocks", row=1, col=k)
    fig.update_yaxes(type="log", row=1, col=1)
    return numbers, fig


# --- 3. Anda ---------------------------------------------------------------------------------


def anda() -> tuple[dict, go.Figure]:
    numbers, traces = {}, {}
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
        traces[model] = trace
    fig = make_subplots(
        1,
        2,
        horizontal_spacing=0.1,
        subplot_titles=(
            "greedy search, Llama-2-7B: every evaluated tuple",
            "Llama-2-7B, 1 % tolerance, whole chip: Anda vs",
        ),
    )
    tr = traces["llama-2-7b"]
    ref = 1 + tr["reference"]["error"] / 100  # perplexity / FP16 model's, FP16 activations
    for s, color in zip(tr["searches"], ("#d62728", "#1f77b4")):
        fig.add_scatter(
            x=[e["bops"] / 1e12 for e in s["trace"]],
            y=[100 * ((1 + e["error"] / 100) / ref - 1) for e in s["trace"]],
            mode="markers",
            marker_color=color,
            marker_size=8,
            marker_symbol=["circle" if e["within"] else "x" for e in s["trace"]],
            name=f"tolerance {s['tolerance']:g} %",
            row=1,
            col=1,
        )
        fig.add_hline(y=s["tolerance"], line_color=color, line_dash="dot", row=1, col=1)
    fig.update_xaxes(title_text="BOPs (10^12)", row=1, col=1)
    fig.update_yaxes(
        title_text="predicted perplexity increase over FP16 activations (%)",
        type="log",
        row=1,
        col=1,
    )
    one = numbers["llama-2-7b"]["searches"]["1.0"]
    kinds = ("speedup", "area_efficiency", "energy_efficiency")
    for base, color in (
        ("fp16xint4", "#2ca02c"),
        ("gpu_like", "#ff7f0e"),
        ("fp16xfp16", "#9467bd"),
    ):
        fig.add_bar(
            x=list(kinds),
            y=[one[f"vs_{base}"][k] for k in kinds],
            marker_color=color,
            name={"gpu_like": "GPU-LIKE FP-FP (INT4 IN MEMORY)"}.get(
                base, base.replace("x", " x ").upper()
            ),
            row=1,
            col=2,
        )
    fig.add_hline(y=1, line_dash="dot", row=1, col=2)
    fig.update_yaxes(title_text="ratio (Anda better > 1)", row=1, col=2)
    return numbers, fig


# --- 4. BlockDialect -------------------------------------------------------------------------


def blockdialect() -> tuple[dict, go.Figure]:
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
    fig = make_subplots(
        1,
        2,
        horizontal_spacing=0.1,
        subplot_titles=("weights (t, nu = 6.8)", "activations (t, nu = 3)"),
    )
    for k, e in enumerate((w, a), start=1):
        for group, color in (
            ("blockdialect/", "#1f77b4"),
            ("blockdialect(sel=two", "#ff7f0e"),
            ("mx", "#2ca02c"),
            ("nv", "#d62728"),
        ):
            ns = [n for n in names if n.startswith(group)]
            fig.add_scatter(
                x=[bits[n] for n in ns],
                y=[e[n] for n in ns],
                text=[short(n) for n in ns],
                mode="lines+markers+text",
                textposition="top center",
                marker_size=9,
                marker_color=color,
                name=short(ns[0]).split("/")[0],
                showlegend=k == 1,
                row=1,
                col=k,
            )
        fig.update_xaxes(
            title_text="bits per element (scales and dialect ids included)", row=1, col=k
        )
        fig.update_yaxes(title_text="NMSE", row=1, col=k)
    return numbers, fig


def save(fig: go.Figure, name: str, width: int = 1200, height: int = 460) -> None:
    from reports.screenshot import screenshot

    fig.update_layout(
        width=width,
        height=height,
        margin=dict(l=60, r=20, t=40, b=50),
        template="plotly_white",
        font_size=11,
    )
    with tempfile.TemporaryDirectory() as tmp:
        html = Path(tmp) / f"{name}.html"
        fig.write_html(html, include_plotlyjs=True, full_html=True, config={"staticPlot": True})
        screenshot(html, HERE / f"{name}.png", width, height)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-png", action="store_true", help="print the numbers only")
    args = ap.parse_args()
    numbers = {}
    for name, make in (
        ("student-t-formats", student_t),
        ("fp4-fp8-mix", fp4_fp8),
        ("anda", anda),
        ("blockdialect", blockdialect),
    ):
        numbers[name], fig = make()
        if not args.no_png:
            save(fig, name)
    print(json.dumps(numbers, indent=1, default=float))


if __name__ == "__main__":
    main()
