"""The report's "Study" section: the figure of the study a search strategy reproduces, drawn
from the trace the strategy wrote (`<output>/<method>.json`), and the figures a sweep file
asks for in its `figures:` section, computed by the engine.

Strategy figures (`STRATEGY_FIGURES`, by search method):
* `global-threshold` (FP4/FP8 block mix): each objective against the global FP8 fraction, one
  line per policy (uniform p in every class, one global threshold), the baselines as
  horizontal lines;
* `greedy-mantissa` (Anda): every tuple the search evaluated, BOPs against its error metric,
  kept (circle) or over the tolerance (cross), the limit of each tolerance and the chosen
  tuples.

`figures:` kinds (`FIGURE_KINDS`; `dse.config` checks the entries):
* `error-vs-nu`: the analytic NMSE of `formats` on Student-t values over `nu` (inf: normal),
  divided by that of `relative_to` when given (the Student-t formats study's question:
  which 4-bit codebook wins at which tail weight).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from reports.formats_panel import PALETTE
from reports.html import esc
from reports.labels import title
from reports.sweep import Sweep

Figure = tuple[str, go.Figure, str]  # (id, figure, caption)
_LAYOUT = dict(template="plotly_white", margin=dict(l=60, r=20, t=70, b=50),
               legend=dict(orientation="h", y=-0.2))
STRATEGY_FIGURES: dict[str, Callable[[Sweep, Mapping[str, Any]], list[Figure]]] = {}


def _strategy(method: str) -> Callable:
    def register(fn: Callable[[Sweep, Mapping[str, Any]], list[Figure]]) -> Callable:
        STRATEGY_FIGURES[method] = fn
        return fn
    return register


def _by_point(s: Sweep, columns: Sequence[str]) -> dict[int, dict[str, float]]:
    """Point -> values of `columns` for the rows drawn in detail (a strategy's few points are
    all among them: they are the whole table)."""
    rows = np.flatnonzero(s.detail)
    points = s.frame(["point"], rows)["point"].to_numpy()
    values = {c: s.values(c, rows) for c in columns}
    return {int(p): {c: float(values[c][k]) for c in columns} for k, p in enumerate(points)}


@_strategy("global-threshold")
def policy_curves(s: Sweep, trace: Mapping[str, Any]) -> list[Figure]:
    """Each objective against the global FP8 fraction, per policy; baselines as lines."""
    columns = [o.column for o in s.objectives]
    at = _by_point(s, columns)
    runs = [r for r in trace.get("runs", []) if r.get("point") in at]
    policies = list(dict.fromkeys(r["policy"] for r in runs if r["policy"] != "baseline"))
    fig = make_subplots(rows=1, cols=len(columns), horizontal_spacing=0.08,
                        subplot_titles=[esc(title(c)) for c in columns])
    for k, column in enumerate(columns, start=1):
        for i, policy in enumerate(policies):
            mine = sorted((r["fraction"], at[r["point"]][column]) for r in runs
                          if r["policy"] == policy)
            fig.add_trace(go.Scatter(
                x=[f for f, _ in mine], y=[v for _, v in mine], mode="lines+markers",
                name=esc(f"{policy} policy"), legendgroup=policy, showlegend=k == 1,
                line=dict(color=PALETTE[i]),
                hovertemplate=f"{esc(policy)}: fraction %{{x}}<br>%{{y:.4g}}<extra></extra>"),
                row=1, col=k)
        for j, run in enumerate(r for r in runs if r["policy"] == "baseline"):
            value = at[run["point"]][column]
            fig.add_trace(go.Scatter(
                x=[0, 1], y=[value, value], mode="lines", name=esc(f"all {run['format']}"),
                legendgroup=f"baseline-{j}", showlegend=k == 1,
                line=dict(dash="dot", color="#1d2733"), hoverinfo="skip"), row=1, col=k)
        fig.update_xaxes(title_text="global fraction of FP8 weight blocks", row=1, col=k)
        if column.startswith(("model_nmse", "nmse")):
            fig.update_yaxes(type="log", row=1, col=k)
    fig.update_layout(title="Block mix: objectives against the FP8 fraction, per policy",
                      height=440, **_LAYOUT)
    caption = ("The global-threshold search (trace global-threshold.json): for each global "
               "fraction of weight blocks kept in FP8, the uniform policy (that fraction in "
               "every tensor class) and the global policy (one threshold on the "
               "sensitivity-weighted block scores over all classes); dotted: the baselines "
               "(one format on every class).")
    return [("study-policies", fig, caption)]


@_strategy("greedy-mantissa")
def mantissa_search(s: Sweep, trace: Mapping[str, Any]) -> list[Figure]:
    """Every evaluated mantissa tuple: BOPs against the error metric, per tolerance."""
    metric = str(trace.get("metric", "error"))
    fig = go.Figure()
    for i, search in enumerate(trace.get("searches", [])):
        colour = PALETTE[i]
        steps = search.get("trace", [])
        name = f"tolerance {search['tolerance']:g}"
        fig.add_trace(go.Scatter(
            x=[e["bops"] for e in steps], y=[e["error"] for e in steps], mode="markers",
            name=esc(name), legendgroup=name,
            text=[esc(str(e["mantissas"])) for e in steps],
            marker=dict(color=colour, size=9,
                        symbol=["circle" if e["within"] else "x" for e in steps]),
            hovertemplate="mantissas %{text}<br>%{x:.4g} BOPs<br>%{y:.4g}<extra></extra>"))
        if "limit" in search:
            fig.add_hline(y=search["limit"], line=dict(color=colour, dash="dot", width=1))
        chosen = search.get("chosen")
        if chosen:
            fig.add_trace(go.Scatter(
                x=[chosen["bops"]], y=[chosen["error"]], mode="markers", showlegend=False,
                legendgroup=name, hoverinfo="skip",
                marker=dict(symbol="star", size=17, color=colour,
                            line=dict(color="#1d2733", width=1))))
    fig.update_xaxes(title_text="BOPs (MACs x weight bits x activation mantissa bits)")
    fig.update_yaxes(title_text=esc(title(metric)), type="log")
    fig.update_layout(title="Mantissa search: every evaluated tuple", height=460, **_LAYOUT)
    caption = ("The greedy mantissa search (trace greedy-mantissa.json): each tuple of "
               "per-module activation mantissa widths it evaluated, circles within the "
               "tolerance, crosses over it; dotted lines: each tolerance's limit on "
               f"{metric} (relative to the reference design); stars: the chosen tuples.")
    return [("study-search", fig, caption)]


def _nu_axis(nu: float) -> float:
    """Where a nu sits on the x axis: inf (normal) drawn at 100, labelled ∞."""
    return nu if math.isfinite(nu) else 100.0


def error_vs_nu(s: Sweep, spec: Mapping[str, Any], index: int) -> Figure:
    """NMSE of `spec['formats']` over `spec['nu']`, relative to `spec['relative_to']` when
    given (analytic, `dse.error.nmse`)."""
    from dse.error import nmse

    nus = [float(v) for v in spec["nu"]]
    ref = spec.get("relative_to")
    base = np.asarray(nmse(ref, nus)) if ref else 1.0
    fig = go.Figure()
    for i, name in enumerate(spec["formats"]):
        values = np.asarray(nmse(name, nus)) / base
        fig.add_trace(go.Scatter(
            x=[_nu_axis(v) for v in nus], y=values, mode="lines+markers", name=esc(name),
            line=dict(color=PALETTE[i % len(PALETTE)]),
            hovertemplate=f"{esc(name)}: \u03bd %{{x:g}}, %{{y:.4g}}<extra></extra>"))
    if ref:
        fig.add_hline(y=1, line=dict(dash="dot", color="#1d2733"))
    fig.update_xaxes(type="log", title_text="ν of the values (∞: normal)",
                     tickvals=[_nu_axis(v) for v in nus],
                     ticktext=[f"{v:g}" if math.isfinite(v) else "∞" for v in nus])
    fig.update_yaxes(title_text=esc(f"NMSE / NMSE({ref})" if ref else "NMSE"),
                     type="linear" if ref else "log")
    fig.update_layout(title=esc(spec.get("title") or (
        f"Error relative to {ref} against the tail weight \u03bd" if ref
        else "Error against the tail weight \u03bd")), height=440, **_LAYOUT)
    caption = ("Analytic NMSE of each format on Student-t values of each \u03bd (the "
               "engine's exact model, per block as the format scales)"
               + (f", divided by {ref}'s: below 1, the format beats {ref}." if ref else "."))
    return (f"study-figure-{index}", fig, caption)


FIGURE_KINDS: dict[str, Callable[[Sweep, Mapping[str, Any], int], Figure]] = {
    "error-vs-nu": error_vs_nu,
}


def study_figures(s: Sweep) -> list[Figure]:
    """The strategy's figures (when its trace was read) and the `figures:` section's."""
    method = str((s.config.get("search") or {}).get("method", "grid"))
    out = []
    if method in STRATEGY_FIGURES and method in s.traces:
        out += STRATEGY_FIGURES[method](s, s.traces[method])
    for k, spec in enumerate(s.config.get("figures") or []):
        out.append(FIGURE_KINDS[spec["kind"]](s, spec, k))
    return out
