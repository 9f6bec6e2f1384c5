"""Plotly figures: the Pareto views (2-D per objective pair, 3-D, parallel coordinates) and the
breakdowns of selected front designs.

Rows are drawn in groups: `front`, `dominated` (feasible), `infeasible` (constraints not met)
and, for large sweeps, `other` (rows outside the detail sample: drawn in the 2-D scatters as a
density, a 2-D histogram of fixed size, so the page does not grow with the sweep). In the 2-D
and 3-D views, front and dominated points are coloured by weight format and shaped by
activation format (`reports.keys`): one trace per (group, weight format, activation format),
the group's rows sorted so each trace is one slice of them. The hover text of a group is stored
once in the page (`hover_data`) and attached by `report.js` to every trace whose `meta` is
`hover:<group>` (all its rows) or `hover:<group>:<start>:<stop>` (a slice), so a large sweep's
designs are not repeated per plot; `|symbol:<code>` in a `meta` ties the trace to the
activation format legend entry whose `meta` is `toggle:symbol:<code>` (clicking it hides and
shows them).
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import plotly.graph_objects as go
from plotly.basedatatypes import BaseTraceType
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from dse.pareto import Objective, non_dominated
from reports.formats_panel import known_format
from reports.html import esc
from reports.keys import SYMBOLS, SYMBOLS_3D, Key, keys, slices, sort_rows
from reports.labels import text, title
from reports.sweep import PARALLEL_ROWS, Sweep
from workloads import CLASSES
from workloads.operands import OPERANDS

#: 2-D scatters use WebGL (Scattergl) when they draw more points than this.
WEBGL_ROWS = 5_000
#: Bins per axis of the density of rows outside the detail sample (a design choice: fine
#: enough to show the shape of a cloud, 6,400 cells whatever the number of rows).
DENSITY_BINS = 80

FRONT, DOMINATED, INFEASIBLE, OTHER = "front", "dominated", "infeasible", "other"
_NAMES = {
    FRONT: "Pareto front",
    DOMINATED: "dominated",
    INFEASIBLE: "infeasible (constraints)",
    OTHER: "not sampled (density)",
}
_MARKERS = {
    FRONT: dict(color="#1f5fbf", size=8, line=dict(color="#ffffff", width=0.5)),
    DOMINATED: dict(color="#8795a5", size=5, opacity=0.35),
    INFEASIBLE: dict(color="#d9534f", size=5, opacity=0.3, symbol="x"),
}
#: Front points coloured by format: larger, outlined in ink, so they stand out from the
#: dominated points of the same colour.
_KEYED_FRONT = dict(size=10, line=dict(color="#1d2733", width=1.2))
#: Front points labelled by format in a 2-D scatter when that pair's front needs at most
#: this many labels (a design choice: more overlap at the report's plot size).
LABEL_MAX = 12
_KNEE = dict(color="#f39c12", size=16, symbol="star", line=dict(color="#7a4a00", width=1))
_LAYOUT = dict(template="plotly_white", margin=dict(l=60, r=20, t=50, b=50),
               legend=dict(orientation="h", y=-0.18), hoverlabel=dict(align="left"))

_ENERGY = (("energy_compute_uj", "compute"), ("energy_sram_uj", "SRAM"),
           ("energy_dram_uj", "DRAM"), ("energy_static_uj", "static"))
_AREA = (("area_pe_mm2", "PEs"), ("area_buffer_mm2", "buffers"), ("area_other_mm2", "other"))
_CLASS_COLOURS = dict(zip(CLASSES, qualitative.Plotly))
#: Per tensor class columns of the breakdowns: `<prefix>_<class>`.
_CLASS_PREFIXES = ("energy_uj", "latency_ms", "nmse_out")
#: Every column the breakdowns read (for the selected designs only).
BREAKDOWN_COLUMNS = (*(c for c, _ in _ENERGY + _AREA), "latency_per_token_ms",
                     "compute_bound_fraction",
                     *(f"{p}_{c}" for p in _CLASS_PREFIXES for c in CLASSES))


def groups(s: Sweep) -> dict[str, np.ndarray]:
    """Row positions of each drawn group (rows with a non-finite objective are not drawn);
    front and dominated rows ordered by (weight format, activation format) key."""
    drawable = s.drawable()
    masks = {
        FRONT: s.front,
        DOMINATED: s.feasible & ~s.front & s.detail & drawable,
        INFEASIBLE: ~s.feasible & s.detail & drawable,
        OTHER: ~s.detail & drawable,
    }
    out = {k: np.flatnonzero(m) for k, m in masks.items() if m.any()}
    for name in (FRONT, DOMINATED):
        if name in out:
            out[name] = sort_rows(out[name], *keys(s))
    return out


def hover_columns(s: Sweep) -> list[str]:
    """The whole design: point, design variables, objectives and key metrics."""
    return ["point", *s.variables, *s.key_columns]


def hover_data(s: Sweep, g: dict[str, np.ndarray]) -> dict[str, list[list[str]]]:
    """Escaped hover values of every row of each hoverable group, one list per row."""
    cols = hover_columns(s)
    out = {}
    for name, rows in g.items():
        if name != OTHER:
            table = s.frame(cols, rows)
            values = [[esc(text(v)) for v in table[c].to_numpy()] for c in cols]
            out[name] = [list(r) for r in zip(*values)]
    return out


def _hover(s: Sweep, name: str, part: tuple[int, int] | None = None) -> dict:
    """`meta` and hover template of a trace drawing group `name` (or the slice `part` of its
    rows)."""
    lines = "<br>".join(f"{esc(c)}: %{{customdata[{i}]}}" for i, c in enumerate(hover_columns(s)))
    meta = f"hover:{name}" + ("" if part is None else f":{part[0]}:{part[1]}")
    return dict(meta=meta, hovertemplate=f"{lines}<extra>{esc(_NAMES[name])}</extra>")


def _marker(name: str, colour: Key | None, c: int, symbol: Key | None, m: int,
            scale: float) -> dict:
    """The marker of a trace of group `name`, weight format `c`, activation format `m` (-1:
    none); `scale` < 1: a 3-D scatter's (smaller, 3-D symbols)."""
    marker = {**_MARKERS[name], **(_KEYED_FRONT if name == FRONT and colour else {})}
    marker["size"] *= scale
    if c >= 0 and colour:
        marker["color"] = colour.colour(c)
    if m >= 0 and symbol:
        marker["symbol"] = symbol.symbol(m, SYMBOLS_3D if scale < 1 else SYMBOLS)
    return marker


def points(s: Sweep, g: dict[str, np.ndarray], coords: dict[str, np.ndarray], make: type,
           scale: float = 1.0) -> list:
    """The traces of the infeasible, dominated and front rows (in that order, the front on
    top) at `coords` (axis -> values of every row): one per (group, weight format, activation
    format) slice. With a weight format key, a format's traces share a legend group whose
    entry is `format_legend`'s; the activation formats' entries are `symbol_legend`'s.
    `make`: the plotly trace class."""
    colour, symbol = keys(s)
    traces, shown = [], set()
    for name in (INFEASIBLE, DOMINATED, FRONT):
        if name not in g:
            continue
        rows = g[name]
        parts = ([(-1, -1, 0, len(rows))] if name == INFEASIBLE
                 else slices(rows, colour, symbol))  # fmt: skip
        for c, m, a, b in parts:
            keyed = c >= 0 and colour is not None
            group = f"colour:{c}" if keyed else name
            hover = _hover(s, name, None if (a, b) == (0, len(rows)) else (a, b))
            if m >= 0:
                hover["meta"] += f"|symbol:{m}"
            traces.append(make(
                **{axis: v[rows[a:b]].astype(np.float32) for axis, v in coords.items()},
                mode="markers", name=esc(colour.names[c] if keyed else _NAMES[name]),
                legendgroup=group, showlegend=not keyed and group not in shown,
                marker=_marker(name, colour, c, symbol, m, scale), **hover))
            shown.add(group)
    return traces


def _legend_only(make: type, **kwargs: object) -> BaseTraceType:
    """A trace drawing nothing, for a legend entry."""
    empty = {axis: [None] for axis in ("xyz" if make is go.Scatter3d else "xy")}
    return make(**empty, mode="markers", hoverinfo="skip", **kwargs)


def format_legend(s: Sweep, make: type) -> list:
    """One legend entry per weight format (a solid square of its colour) whose click hides
    and shows that format's points (its legend group); none without a colour key."""
    colour, _ = keys(s)
    if colour is None:
        return []
    return [_legend_only(make, name=esc(n), legendgroup=f"colour:{c}",
                         marker=dict(symbol="square", color=colour.colour(c), size=10))
            for c, n in enumerate(colour.names)]


def symbol_legend(s: Sweep, make: type) -> list:
    """One legend entry per activation format (in the second legend) whose click hides or
    shows that format's points (`report.js`); no entry without a symbol key."""
    _, symbol = keys(s)
    if symbol is None:
        return []
    table = SYMBOLS_3D if make is go.Scatter3d else SYMBOLS
    return [_legend_only(make, name=esc(n), legend="legend2", meta=f"toggle:symbol:{m}",
                         marker=dict(symbol=symbol.symbol(m, table), color="#5b6877", size=9))
            for m, n in enumerate(symbol.names)]


def legends(s: Sweep) -> dict:
    """Layout of the legends: with format keys, the weight formats (and the other entries)
    in a column on the right and the activation formats' symbols in a row on top; else the
    plain legend in a row below the plot."""
    colour, symbol = keys(s)
    if not colour and not symbol:
        return {}
    out = dict(legend=dict(orientation="v", x=1.02, y=1, yanchor="top", font=dict(size=10),
                           tracegroupgap=0, title=dict(text=esc(colour.title if colour else ""))),
               margin=dict(l=60, r=20, t=90 if symbol else 50, b=50))
    if symbol:
        out["legend2"] = dict(orientation="h", x=0, y=1.02, yanchor="bottom",
                              title=dict(text=esc(f"{symbol.title} (symbol):")),
                              font=dict(size=10))
    return out


def _format_labels(s: Sweep, rows: np.ndarray) -> list[str]:
    """Labels of the front points `rows` (in staircase order) by their formats ("nf4 ·
    e4m3"): each label on the first of a run of points sharing it; none at all when that
    leaves more than LABEL_MAX labels, or the sweep has no format key."""
    keyed = [k for k in keys(s) if k is not None]
    labels = [" · ".join(k.names[k.codes[r]] for k in keyed if k.codes[r] >= 0)
              for r in rows]
    shown = [lab if k == 0 or lab != labels[k - 1] else "" for k, lab in enumerate(labels)]
    if not any(shown) or sum(map(bool, shown)) > LABEL_MAX:
        return []
    return [esc(lab) for lab in shown]


def log_scale(values: np.ndarray) -> bool:
    """Log axis for positive values spanning more than two decades."""
    v = values[np.isfinite(values)]
    return bool(v.size) and v.min() > 0 and v.max() / v.min() > 100


def _axis(s: Sweep, o: Objective, hint: bool = True) -> dict:
    better = f" ({'lower' if o.sense == 'min' else 'higher'} is better)" if hint else ""
    log = s.memo(("log", o.column), log_scale, s.values(o.column))
    # log axes label the decades only (dtick 1 = one decade), as powers of ten
    ticks = dict(dtick=1, exponentformat="power") if log else {}
    return dict(title=esc(title(o.column) + better), type="log" if log else "linear", **ticks)


def _bins(values: np.ndarray, log: bool) -> tuple[np.ndarray, np.ndarray]:
    """(DENSITY_BINS + 1 bin edges, bin of each value): equal bins over the values' range, in
    log10 space on a log axis."""
    v = np.log10(values) if log else values
    lo, hi = float(v.min()), float(v.max())
    width = (hi - lo) / DENSITY_BINS or 1.0
    edges = lo + width * np.arange(DENSITY_BINS + 1)
    index = np.clip(((v - lo) / width).astype(np.int64), 0, DENSITY_BINS - 1)
    return (10.0 ** edges if log else edges), index


def density(x: tuple[np.ndarray, np.ndarray], y: tuple[np.ndarray, np.ndarray]) -> go.Heatmap:
    """Rows as a 2-D histogram, shaded by log10 of the row count (empty cells transparent);
    `x`, `y`: the `_bins` of their values."""
    (ex, ix), (ey, iy) = x, y
    counts = np.bincount(iy * DENSITY_BINS + ix, minlength=DENSITY_BINS ** 2)
    with np.errstate(divide="ignore"):
        z = np.where(counts > 0, np.log10(counts), np.nan).reshape(DENSITY_BINS, DENSITY_BINS)
    return go.Heatmap(x=ex, y=ey, z=z.astype(np.float32), name=_NAMES[OTHER],
                      showlegend=True, colorscale=[[0, "#e6eaee"], [1, "#3d4957"]], zmin=0,
                      showscale=True,
                      colorbar=dict(title="log10 rows", thickness=10, len=0.6),
                      hovertemplate="10^%{z:.2f} rows<extra>not sampled</extra>")


def scatter_2d(s: Sweep, g: dict[str, np.ndarray], i: int, j: int,
               bins: dict[int, tuple[np.ndarray, np.ndarray]] | None = None) -> go.Figure:
    """Objective i against objective j: every drawn group, the front's staircase in this
    projection, and the knee. `bins`: objective -> `_bins` of the `other` rows (computed
    when not given)."""
    oi, oj = s.objectives[i], s.objectives[j]
    x, y = s.values(oi.column), s.values(oj.column)
    webgl = sum(len(r) for n, r in g.items() if n != OTHER) > WEBGL_ROWS
    trace = go.Scattergl if webgl else go.Scatter
    fig = go.Figure()
    x_axis, y_axis = _axis(s, oi), _axis(s, oj)
    if OTHER in g:
        bins = bins if bins is not None else other_bins(s, g)
        fig.add_trace(density(bins[i], bins[j]))
    fig.add_traces(points(s, g, {"x": x, "y": y}, trace))
    if FRONT in g:
        rows = g[FRONT]
        stair = rows[non_dominated(np.column_stack([oi.sign * x[rows], oj.sign * y[rows]]))]
        stair = stair[np.argsort(x[stair], kind="stable")]
        fig.add_trace(trace(x=x[stair], y=y[stair], mode="lines", line_shape="hv",
                            line=dict(color=_MARKERS[FRONT]["color"], width=1.2),
                            name="front of this pair", hoverinfo="skip"))
        labels = _format_labels(s, stair)
        if labels:
            fig.add_trace(trace(x=x[stair], y=y[stair], mode="text", text=labels,
                                textposition="top right", textfont=dict(size=9),
                                showlegend=False, hoverinfo="skip"))
        fig.add_trace(trace(x=[x[s.knee]], y=[y[s.knee]], mode="markers", marker=_KNEE,
                            name="knee", hoverinfo="skip"))
    fig.add_traces(format_legend(s, trace) + symbol_legend(s, trace))
    fig.update_layout(title=esc(f"{title(oi.column)} vs {title(oj.column)}"), xaxis=x_axis,
                      yaxis=y_axis, height=460, **{**_LAYOUT, **legends(s)})
    return fig


def other_bins(s: Sweep, g: dict[str, np.ndarray]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Objective -> `_bins` of the values of the `other` rows (log-spaced on a log axis)."""
    rows = g[OTHER]
    return {k: _bins(s.values(o.column)[rows], _axis(s, o)["type"] == "log")
            for k, o in enumerate(s.objectives)}


def scatters_2d(s: Sweep, g: dict[str, np.ndarray]) -> list[go.Figure]:
    """One 2-D scatter per pair of objectives."""
    bins = other_bins(s, g) if OTHER in g else None
    return [scatter_2d(s, g, i, j, bins) for i, j in combinations(range(len(s.objectives)), 2)]


def scatter_3d(s: Sweep, g: dict[str, np.ndarray]) -> go.Figure:
    """The first three objectives in 3-D (detail rows only)."""
    objs = s.objectives[:3]
    xyz = [s.values(o.column).astype(np.float32) for o in objs]
    fig = go.Figure(points(s, g, dict(zip("xyz", xyz)), go.Scatter3d, scale=0.6))
    if s.knee is not None:
        fig.add_trace(go.Scatter3d(x=[xyz[0][s.knee]], y=[xyz[1][s.knee]], z=[xyz[2][s.knee]],
                                   mode="markers",
                                   name="knee", marker={**_KNEE, "size": 8, "symbol": "diamond"},
                                   hoverinfo="skip"))
    fig.add_traces(format_legend(s, go.Scatter3d) + symbol_legend(s, go.Scatter3d))
    axes = {f"{a}axis": _axis(s, o, hint=False) for a, o in zip("xyz", objs)}
    fig.update_layout(scene=dict(**axes, aspectmode="cube",
                                 camera=dict(eye=dict(x=1.7, y=1.5, z=0.9))), height=640,
                      title=esc(" / ".join(title(o.column) for o in objs)),
                      **{**_LAYOUT, **legends(s)})
    return fig


def parallel(s: Sweep, g: dict[str, np.ndarray]) -> go.Figure:
    """Parallel coordinates over design variables and objectives (at most PARALLEL_ROWS rows
    of the detail sample; the front is drawn last, on top). Objectives spanning decades are
    shown as log10."""
    keep = s.sample(PARALLEL_ROWS)
    g = {n: rows[keep[rows]] for n, rows in g.items()}
    order_names = [n for n in (INFEASIBLE, DOMINATED, FRONT) if n in g and len(g[n])]
    rows = np.concatenate([g[n] for n in order_names]) if order_names else np.array([], int)
    colour = np.concatenate([np.full(len(g[n]), (INFEASIBLE, DOMINATED, FRONT).index(n))
                             for n in order_names]) if order_names else np.array([])
    dims = []
    for v in s.variables:
        col = s.frame([v], rows)[v]
        if col.nunique(dropna=False) < 2:  # a constant carries no information: no axis
            continue
        if col.dtype.kind in "biuf":
            dims.append(dict(label=esc(v), values=col.to_numpy(dtype=float)))
        else:
            cats = s.categories(v)
            codes = col.astype(str).map({c: k for k, c in enumerate(cats)}).to_numpy(dtype=float)
            dims.append(dict(label=esc(v), values=codes, tickvals=list(range(len(cats))),
                             ticktext=[esc(c) for c in cats]))
    for o in s.objectives:
        vals = s.values(o.column, rows)
        if _axis(s, o)["type"] == "log":
            dims.append(dict(label=esc(f"log10 {title(o.column)}"), values=np.log10(vals)))
        else:
            dims.append(dict(label=esc(title(o.column)), values=vals))
    scale = [[0, _MARKERS[INFEASIBLE]["color"]], [0.5, "#c3ccd6"], [1, _MARKERS[FRONT]["color"]]]
    fig = go.Figure(go.Parcoords(dimensions=dims, line=dict(color=colour, colorscale=scale,
                                                            cmin=0, cmax=2)))
    fig.update_layout(height=460, template="plotly_white", margin=dict(l=90, r=80, t=60, b=30))
    return fig


_DOT = " \u00b7 "  # between the values of a design in its label


def selected_designs(s: Sweep) -> list[tuple[int, str]]:
    """(row, label) of the front designs broken down: the knee and each objective's best,
    labelled by the design (its format names, then `variable value` for the others) and its
    roles; the point number is added when two labels would be equal."""
    roles = s.roles()
    rows = np.array(list(roles), dtype=np.int64)
    table = s.frame(["point", *s.variables], rows)
    labels = []
    for row in rows:
        values = table.loc[row]
        design = [str(values[v]) if isinstance(values[v], str) else f"{v} {text(values[v])}"
                  for v in s.variables]  # fmt: skip
        name = _DOT.join(design) or f"#{values['point']}"
        labels.append(f"{name} ({', '.join(roles[row])})")
    repeated = {lab for lab in labels if labels.count(lab) > 1}
    return [(int(row), esc(lab if lab not in repeated else f"#{table.loc[row, 'point']} {lab}"))
            for row, lab in zip(rows, labels)]


def _bars(designs: list[tuple[int, str]], panels: list[tuple[str, str, list]],
          colours: dict[str, str], extra: tuple[str, ...] = ()) -> go.Figure:
    """Horizontal stacked bars, one row per design, one panel per (title, unit, parts); a
    part is (name, values per design). Parts sharing a name share a legend entry. `extra`:
    titles of further panels, left for the caller to fill."""
    labels = [lab for _, lab in designs]
    titles = [title for title, _, _ in panels] + list(extra)
    fig = make_subplots(rows=1, cols=len(titles), shared_yaxes=True, horizontal_spacing=0.03,
                        subplot_titles=[esc(t) for t in titles])
    seen = set()
    for col, (_, unit, parts) in enumerate(panels, start=1):
        for name, values in parts:
            fig.add_trace(go.Bar(y=labels, x=values, orientation="h", name=esc(name),
                                 marker_color=colours[name], legendgroup=name,
                                 showlegend=name not in seen,
                                 hovertemplate=f"%{{y}}<br>{esc(name)}: %{{x:.4g}} {esc(unit)}"
                                 "<extra></extra>"), row=1, col=col)
            seen.add(name)
        if not parts:
            fig.add_annotation(text="not in the results table", showarrow=False, x=0.5, y=0.5,
                               xref="x domain", yref="y domain", row=1, col=col)
    fig.update_yaxes(autorange="reversed", automargin=True)
    fig.update_layout(barmode="stack", height=150 + 48 * len(designs), **_LAYOUT)
    return fig


def breakdown(s: Sweep, designs: list[tuple[int, str]]) -> go.Figure:
    """Energy per token (compute / SRAM / DRAM / static), area (PEs / buffers / other) and
    latency (compute- vs memory-bound share) of the selected designs, as stacked bars."""
    rows = np.array([r for r, _ in designs])
    latency = []
    if s.has("latency_per_token_ms") and s.has("compute_bound_fraction"):
        t = s.values("latency_per_token_ms", rows)
        share = s.values("compute_bound_fraction", rows)
        latency = [("compute-bound", t * share), ("memory-bound", t * (1 - share))]
    panels = [
        ("Energy per token [uJ]", "uJ", [(n, s.values(c, rows)) for c, n in _ENERGY if s.has(c)]),
        ("Area [mm^2]", "mm^2", [(n, s.values(c, rows)) for c, n in _AREA if s.has(c)]),
        ("Latency per token [ms]", "ms", latency),
    ]
    colours = dict(zip((n for p in panels for n, _ in p[2]), qualitative.Safe))
    return _bars(designs, panels, colours)


def per_class(s: Sweep, designs: list[tuple[int, str]]) -> go.Figure:
    """Each tensor class's part of the energy and latency per token (stacked), and its output
    NMSE (markers, log scale), for the selected designs."""
    rows = np.array([r for r, _ in designs])

    def parts(prefix: str) -> list[tuple[str, np.ndarray]]:
        return [(c, s.values(f"{prefix}_{c}", rows)) for c in CLASSES
                if s.has(f"{prefix}_{c}")]

    energy, latency, nmse = _CLASS_PREFIXES
    fig = _bars(designs, [("Energy per token by tensor class [uJ]", "uJ", parts(energy)),
                          ("Latency per token by tensor class [ms]", "ms", parts(latency))],
                _CLASS_COLOURS, extra=("Output NMSE by tensor class",))
    labels = [lab for _, lab in designs]
    for cls, values in parts(nmse):
        fig.add_trace(go.Scatter(y=labels, x=values, mode="markers", name=esc(cls),
                                 legendgroup=cls, showlegend=False,
                                 marker=dict(color=_CLASS_COLOURS[cls], size=9, symbol="diamond"),
                                 hovertemplate=f"%{{y}}<br>{esc(cls)}: %{{x:.3g}}<extra></extra>"),
                      row=1, col=3)
    fig.update_xaxes(type="log", dtick=1, exponentformat="power", title_text="output NMSE",
                     row=1, col=3)
    return fig


#: Front designs shown in the format map at most (evenly spread along the first objective).
MAP_ROWS = 30


def _map_rows(s: Sweep) -> np.ndarray:
    """Front rows ordered by the first objective, thinned evenly to MAP_ROWS, the knee and
    the bests always kept."""
    rows = np.flatnonzero(s.front)
    o = s.objectives[0]
    rows = rows[np.argsort(o.sign * s.values(o.column, rows), kind="stable")]
    if len(rows) > MAP_ROWS:
        keep = set(rows[np.linspace(0, len(rows) - 1, MAP_ROWS).round().astype(int)])
        keep |= set(s.roles())
        rows = np.array([r for r in rows if r in keep])
    return rows


def format_map(s: Sweep) -> go.Figure | None:
    """Per-class formats of the front designs (rows, ordered by the first objective) for each
    operand with a per-class format variable (`weight_format_qkv`, ...): one column per
    tensor class, the format's name in the cell, shaded by its bits per element; None when
    no operand is chosen per class (every class then has the design's one format)."""
    ops = [op for op in OPERANDS if any(op.class_variable(c) in s.variables for c in op.classes)]
    if not ops or not s.front.any():
        return None
    rows = _map_rows(s)
    roles = s.roles()
    points = s.frame(["point"], rows)["point"].to_numpy()
    labels = [f"#{p}" + (f" ({', '.join(roles[r])})" if r in roles else "")
              for r, p in zip(rows, points)]
    fig = make_subplots(rows=1, cols=len(ops), horizontal_spacing=0.06, shared_yaxes=True,
                        subplot_titles=[esc(op.title) for op in ops])
    for col, op in enumerate(ops, start=1):
        classes = [c for c in op.classes if op.format_variable(c, s.variables)]
        table = s.frame([op.format_variable(c, s.variables) for c in classes], rows)
        names = table.astype(str).to_numpy()
        bits = np.vectorize(lambda f: (fmt.bits_per_element if (fmt := known_format(f))
                                       else np.nan), otypes=[float])(names)
        nmse = np.column_stack([s.values(f"{op.nmse}_{c}", rows) if s.has(f"{op.nmse}_{c}")
                                else np.full(len(rows), np.nan) for c in classes])
        fig.add_trace(go.Heatmap(
            x=classes, y=[esc(lab) for lab in labels], z=bits, text=[[esc(v) for v in r]
                                                                     for r in names],
            texttemplate="%{text}", textfont=dict(size=10), customdata=nmse,
            colorscale="Blues", reversescale=True, zmin=np.nanmin(bits), zmax=np.nanmax(bits),
            showscale=col == 1, colorbar=dict(title="bits per element", thickness=10),
            hovertemplate="%{y}, %{x}: %{text}<br>%{z:.4g} bits/element, NMSE %{customdata:.3g}"
                          "<extra></extra>"), row=1, col=col)
    fig.update_yaxes(autorange="reversed", automargin=True)
    fig.update_layout(title="Per-class formats of the front designs (ordered by "
                      + esc(title(s.objectives[0].column)) + ")",
                      height=140 + 22 * len(rows), template="plotly_white",
                      margin=dict(l=60, r=20, t=70, b=40))
    return fig
