"""The formats panel: for each operand and tensor class, the codebook levels of the sweep's
formats drawn over the class's Student-t density, and each format's NMSE from the results.

Scaling (stated in the caption): x is in units of the t scale sigma; a format's levels are
scaled so its largest magnitude sits at the median absolute maximum of one of its blocks
(B values of the class's t; B = TENSOR_BLOCK for per-channel and per-tensor scaling), i.e. an
idealised exact block scale. Choice formats (BlockDialect, FP4/FP8 mixes) draw the union of
their candidates' levels, each candidate scaled the same way.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots
from scipy import stats as sps

from dse.errors import UserError
from dse.formats import ChoiceFormat, Format, parse
from dse.formats.registry import parameters
from reports.html import esc
from reports.labels import text
from reports.sweep import Sweep
from workloads import (
    apply_overrides,
    default_stats,
    load_profile_stats,
)
from workloads.operands import OPERANDS as OPERANDS  # re-exported for reports.read, reports.report
from workloads.operands import Operand

MAX_DRAWN_BITS = 8  # wider elements (fp16, bf16) have too many levels to draw
#: Format colours: plotly's Dark24 then Light24, 48 distinct colours before one repeats.
PALETTE = (*qualitative.Dark24, *qualitative.Light24)
#: Extra height (px) per format beyond 8 in each panel, so that the format rows stay apart.
ROW_PX = 22
TENSOR_BLOCK = 4096  # values per scale assumed for per-channel and per-tensor scaling
VIEW_QUANTILE = 0.9995  # the x range stops at this quantile of the density, or the levels
CAPTION = (
    "x: values in units of the Student-t scale \u03c3 of the class (\u03bd from the workload's "
    "statistics: defaults, profile and overrides). Each format's levels (ticks below the "
    "density) are scaled so its largest level sits at the median absolute maximum of one of "
    f"its blocks (B = block size; {TENSOR_BLOCK} for per-channel and per-tensor scaling): an "
    "idealised exact scale. Choice formats show the union of their candidates' levels. "
    f"Elements wider than {MAX_DRAWN_BITS} bits are not drawn. NMSE: the results table's "
    "per-class value, median over the design points using the format (range when it varies, "
    "e.g. with block or scale modifiers)."
)


def class_stats(config: dict) -> dict:
    """The sweep's tensor statistics: defaults, then the profile file if present, then the
    config's overrides."""
    workload = config.get("workload") or {}
    table = default_stats()
    profile = workload.get("profile")
    if profile and Path(profile).exists():
        table = apply_overrides(table, load_profile_stats(profile).overrides)
    return apply_overrides(table, workload.get("stats") or {})


def density(nu: float):
    """Frozen standard Student-t (normal for nu = inf)."""
    return sps.norm() if math.isinf(nu) else sps.t(nu)


def block_max(dist, block: int) -> float:
    """Median of the absolute maximum of `block` iid values: (2F(m) - 1)^B = 1/2."""
    return float(dist.ppf((1 + 0.5 ** (1 / block)) / 2))


def known_format(name: str) -> Format | None:
    """The parsed format, or None for a name this version does not know."""
    try:
        return parse(name)
    except UserError:
        return None


def _parts(fmt: Format) -> tuple[Format, ...]:
    return fmt.candidates if isinstance(fmt, ChoiceFormat) else (fmt,)


def _widest(fmt: Format) -> int:
    """Bits of the widest element of a format (of any of a choice format's candidates)."""
    return max(p.element.bits for p in _parts(fmt))


def scaled_levels(fmt: Format | None, dist) -> np.ndarray | None:
    """The format's levels scaled as the module doc says, or None when there are too many to
    draw (or the format is unknown)."""
    if fmt is None or _widest(fmt) > MAX_DRAWN_BITS:
        return None
    top = block_max(dist, fmt.block_size or TENSOR_BLOCK)
    levels = []
    for p in _parts(fmt):
        v = np.asarray(p.element.values, dtype=float)
        v = v[np.isfinite(v)]
        levels.append(v * top / np.abs(v).max())
    return np.unique(np.concatenate(levels))


def _nmse(values: pd.Series) -> str:
    v = values.dropna()
    if v.empty:
        return ""
    med = text(float(v.median()))
    return med if v.min() == v.max() else f"{med} ({text(float(v.min()))}\u2013{text(v.max())})"


def operand_panel(s: Sweep, op: Operand, table: dict
                  ) -> tuple[go.Figure | None, pd.DataFrame] | None:  # fmt: skip
    """(figure, NMSE table) of one operand, or None when no design variable sets its format;
    the figure is None when no format of it can be drawn (all wider than MAX_DRAWN_BITS: the
    panels would repeat the density alone). `table`: the sweep's tensor statistics."""
    columns = {c: op.format_variable(c, s.variables) for c in op.classes}
    classes = tuple(c for c in op.classes if columns[c])
    if not classes:
        return None
    names = list(dict.fromkeys(f for c in classes for f in s.categories(columns[c])))
    colours = {f: PALETTE[i % len(PALETTE)] for i, f in enumerate(names)}
    ncols = min(len(classes), 3)
    nrows = math.ceil(len(classes) / ncols)
    nus = {c: table[(op.stats_key, c)].nu for c in classes}
    fig = make_subplots(rows=nrows, cols=ncols, horizontal_spacing=0.1, vertical_spacing=0.16,
                        subplot_titles=[f"{c} (\u03bd = {nus[c]:g})" for c in classes])
    shown = set()
    for k, cls in enumerate(classes):
        row, col = divmod(k, ncols)
        dist = density(nus[cls])
        formats = s.categories(columns[cls])
        levels = {f: scaled_levels(known_format(f), dist) for f in formats}
        reach = max((np.abs(v).max() for v in levels.values() if v is not None), default=3.0)
        xmax = 1.05 * min(reach, float(dist.ppf(VIEW_QUANTILE)))
        x = np.linspace(-xmax, xmax, 401)
        pdf = dist.pdf(x)
        gap = 0.13 * pdf.max()
        fig.add_trace(go.Scatter(x=x, y=pdf, fill="tozeroy", mode="lines", hoverinfo="skip",
                                 line=dict(color="#7f8c99", width=1), fillcolor="#e7ebf0",
                                 name="Student-t density", legendgroup="density",
                                 showlegend=k == 0), row=row + 1, col=col + 1)
        for i, f in enumerate(formats):
            if levels[f] is None:
                continue
            fig.add_trace(go.Scatter(
                x=levels[f], y=np.full(len(levels[f]), -(i + 1) * gap), mode="markers",
                marker=dict(symbol="line-ns-open", size=8, color=colours[f],
                            line=dict(width=1.5, color=colours[f])),
                name=esc(f), legendgroup=f, showlegend=f not in shown,
                hovertemplate=f"{esc(f)}: %{{x:.3g}} \u03c3<extra></extra>"),
                row=row + 1, col=col + 1)
            shown.add(f)
        fig.update_xaxes(range=[-xmax, xmax], row=row + 1, col=col + 1)
        fig.update_yaxes(range=[-(len(formats) + 0.8) * gap, 1.08 * pdf.max()],
                         tickvals=[-(i + 1) * gap for i in range(len(formats))],
                         ticktext=[esc(f if levels[f] is not None else f"{f} (not drawn)")
                                   for f in formats], row=row + 1, col=col + 1)
    if not shown:
        return None, _nmse_table(s, op, columns, names)
    fig.update_layout(title=esc(f"{op.title}: levels over the fitted density"),
                      height=(340 + ROW_PX * max(0, len(names) - 8)) * nrows + 110,
                      template="plotly_white",
                      margin=dict(l=30, r=20, t=80, b=40), legend=dict(orientation="h", y=-0.08))
    return fig, _nmse_table(s, op, columns, names)


def _by_class(s: Sweep, op: Operand, columns: dict[str, str | None]
              ) -> dict[str, dict[str, pd.Series]]:  # fmt: skip
    """Class -> format -> the class's NMSE values of the detail rows using that format."""
    nmse = {c: f"{op.nmse}_{c}" for c in op.classes if columns[c] and s.has(f"{op.nmse}_{c}")}
    r = s.frame(list(dict.fromkeys([*nmse.values(), *(columns[c] for c in nmse)])),
                np.flatnonzero(s.detail))
    return {c: dict(list(r[col].groupby(r[columns[c]].astype(str), observed=True)))
            for c, col in nmse.items()}


def _nmse_table(s: Sweep, op: Operand, columns: dict[str, str | None],
                names: list[str]) -> pd.DataFrame:
    classes = [c for c in op.classes if columns[c]]
    by_class = _by_class(s, op, columns)
    op_column = op.variable
    on_front = (s.frame([op_column], np.flatnonzero(s.front))[op_column].astype(str)
                .value_counts() if s.has(op_column) else None)
    rows = []
    for f in names:
        fmt = known_format(f)
        bits = _widest(fmt) if fmt else None
        drawn = ("no (unknown format)" if bits is None else "yes" if bits <= MAX_DRAWN_BITS
                 else f"no ({bits}-bit elements)")
        row = {"format": f, "bits/element": text(fmt.bits_per_element) if fmt else "",
               "levels drawn": drawn,
               "front designs": "" if on_front is None else text(int(on_front.get(f, 0)))}
        for c in classes:
            row[c] = _nmse(by_class[c][f]) if c in by_class and f in by_class[c] else ""
        rows.append(row)
    return pd.DataFrame(rows)


def _line_key(name: str) -> str:
    """Formats joined by a line in `error_vs_bits`: the same family and the same non-numeric
    parameters (numeric ones, e.g. a mix's p or a mantissa width, move along the line)."""
    family, params = parameters(name)
    fixed = [f"{k}={v}" for k, v in sorted(params.items()) if not _numeric(v)]
    return family + (f"({', '.join(fixed)})" if fixed else "")


def _numeric(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def error_vs_bits(s: Sweep) -> go.Figure | None:
    """NMSE against bits per element (scales and selector bits included) of every format of
    each operand that a design variable sets, one line per format family (`_line_key`),
    log NMSE; None when no operand has a format variable or no NMSE column. A format's NMSE
    is the median, over the operand's tensor classes, of its median per-class NMSE in the
    drawn rows. Formats with elements wider than MAX_DRAWN_BITS (fp16, bf16 references) are
    left out of a panel that has narrower ones: they would squeeze those into one corner."""
    panels = []
    for op in OPERANDS:
        columns = {c: op.format_variable(c, s.variables) for c in op.classes}
        by_class = _by_class(s, op, columns) if any(columns.values()) else {}
        values: dict[str, list[float]] = {}
        for formats in by_class.values():
            for f, v in formats.items():
                if v.notna().any():
                    values.setdefault(f, []).append(float(v.median()))
        points = [(f, known_format(f), float(np.median(v))) for f, v in values.items()]
        points = [(f, fmt, e) for f, fmt, e in points if fmt and e > 0]
        narrow = [p for p in points if _widest(p[1]) <= MAX_DRAWN_BITS]
        points = [(f, fmt.bits_per_element, e) for f, fmt, e in (narrow or points)]
        if points:
            panels.append((op, points))
    if not panels:
        return None
    fig = make_subplots(rows=1, cols=len(panels), horizontal_spacing=0.08,
                        subplot_titles=[esc(op.title) for op, _ in panels])
    lines = list(dict.fromkeys(_line_key(f) for _, pts in panels for f, _, _ in pts))
    colours = {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(lines)}
    shown = set()
    for col, (_, pts) in enumerate(panels, start=1):
        for line in lines:
            mine = sorted((b, e, f) for f, b, e in pts if _line_key(f) == line)
            if not mine:
                continue
            bits, nmse, names = zip(*mine)
            fig.add_trace(go.Scatter(
                x=bits, y=nmse, text=[esc(f) for f in names], mode="lines+markers+text",
                textposition=[("top center", "bottom center")[k % 2] for k in range(len(mine))],
                textfont=dict(size=9), name=esc(line),
                legendgroup=line, showlegend=line not in shown,
                marker=dict(size=8, color=colours[line]), line=dict(color=colours[line]),
                hovertemplate="%{text}: %{x:.4g} bits/element, NMSE %{y:.3g}<extra></extra>"),
                row=1, col=col)
            shown.add(line)
        fig.update_xaxes(title_text="bits per element (scales and selectors included)",
                         row=1, col=col)
        decades = np.log10(max(e for _, _, e in pts) / min(e for _, _, e in pts))
        ticks = dict(dtick=1, exponentformat="power") if decades >= 1 else {}
        fig.update_yaxes(type="log", row=1, col=col, **ticks,
                         title_text="NMSE (median over tensor classes)" if col == 1 else None)
    fig.update_layout(title="Error vs bits per element, by format family", height=460,
                      template="plotly_white", margin=dict(l=60, r=20, t=80, b=50),
                      legend=dict(orientation="h", y=-0.2))
    return fig
