"""Roofline of the selected front designs: each GEMM of a design at its arithmetic intensity
and the throughput the engine's model gives it, under that design's roof.

Numbers come from the evaluator's own roofline stage (`Evaluator.gemm_roofline`, i.e.
`hwmodels.accelerator.evaluate`), per GEMM times its count in the step: intensity = MACs /
off-chip bytes [MAC/byte]; attained throughput = MACs / latency [TMAC/s]; the roof =
min(peak MAC rate, intensity x off-chip bandwidth). A memory-bound GEMM sits on the slope; a
compute-bound one at or below the flat roof (below it by the array's padding: tiles of rows,
columns and lanes that the GEMM's shape does not fill).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from dse.errors import ModelLimitError, UserError
from reports.formats_panel import PALETTE
from reports.html import esc
from reports.keys import SYMBOLS
from reports.sweep import Sweep
from workloads import CLASSES


def gemm_points(s: Sweep, rows: np.ndarray) -> tuple[list, dict[str, np.ndarray]] | None:
    """(GEMMs, per (design, GEMM) arrays: macs, dram_bytes, latency_ns, and per design
    peak_tmacs, bandwidth_gbs) of the designs at `rows`, re-evaluated from the sweep's config;
    None when the config cannot be evaluated here (a table from elsewhere)."""
    from dse.config import resolve
    from dse.evaluation.evaluator import Evaluator

    try:
        evaluator = Evaluator(resolve(s.config))
        points = s.frame(["point", *s.variables], rows)
        roof = evaluator.gemm_roofline(points)
    except (UserError, ModelLimitError, KeyError):
        return None
    gemms = evaluator.context.gemms
    ev = roof.ev
    macs = np.array([[g.m * g.n * g.k * g.count for g in gemms]] * len(rows), dtype=float)
    return list(gemms), dict(macs=macs, dram_bytes=np.asarray(ev.gemm_dram_bytes),
                             latency_ns=np.asarray(ev.gemm_latency_ns),
                             peak_tmacs=np.asarray(ev.peak_macs_per_ns) / 1e3,
                             bandwidth_gbs=np.asarray(roof.bandwidth_gbs, dtype=float))


def roofline(s: Sweep, designs: list[tuple[int, str]]) -> go.Figure | None:
    """Intensity [MAC/byte] against attained throughput [TMAC/s] of every GEMM of each
    selected design, with each design's roof (log-log); None when they cannot be
    re-evaluated."""
    rows = np.array([r for r, _ in designs], dtype=np.int64)
    got = gemm_points(s, rows) if rows.size else None
    if got is None:
        return None
    gemms, a = got
    intensity = a["macs"] / a["dram_bytes"]
    attained = a["macs"] / a["latency_ns"] / 1e3
    lo, hi = np.nanmin(intensity) / 4, np.nanmax(intensity) * 4
    x = np.geomspace(lo, hi, 200)
    symbols = {c: SYMBOLS[k % len(SYMBOLS)] for k, c in enumerate(CLASSES)}
    fig = go.Figure()
    for i, (_, label) in enumerate(designs):
        colour = PALETTE[i % len(PALETTE)]
        roof = np.minimum(a["peak_tmacs"][i], x * a["bandwidth_gbs"][i] / 1e3)
        fig.add_trace(go.Scatter(x=x, y=roof, mode="lines", name=label, legendgroup=str(i),
                                 line=dict(color=colour, width=1.5), hoverinfo="skip"))
        text = [esc(f"{g.name} ({g.tensor_class}): M {g.m}, N {g.n}, K {g.k} x {g.count}; "
                    f"{t / 1e6:.4g} ms") for g, t in zip(gemms, a["latency_ns"][i])]
        fig.add_trace(go.Scatter(
            x=intensity[i], y=attained[i], mode="markers", legendgroup=str(i), showlegend=False,
            name=label, text=text, meta="roofline-gemms",
            marker=dict(color=colour, size=9, symbol=[symbols[g.tensor_class] for g in gemms],
                        line=dict(color="#1d2733", width=0.5)),
            hovertemplate="%{text}<br>%{x:.3g} MAC/byte, %{y:.3g} TMAC/s<extra></extra>"))
    fig.update_xaxes(type="log", dtick=1, exponentformat="power",
                     title_text="Arithmetic intensity [MAC per off-chip byte]")
    fig.update_yaxes(type="log", dtick=1, exponentformat="power",
                     title_text="Attained throughput [TMAC/s]")
    fig.update_layout(title="Roofline of the selected designs: every GEMM of the step",
                      height=480, template="plotly_white", margin=dict(l=60, r=20, t=50, b=50),
                      legend=dict(orientation="h", y=-0.2))
    return fig
