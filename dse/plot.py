"""Plots of a sweep as plotly figures, for notebooks: the report's own figures, one at a time.

    import dse.plot
    dse.plot.front("out/quickstart", x="model_nmse", y="energy_per_token_uj").show()

`results` is a finished sweep's output directory (or its results file), or a results table
(DataFrame) with its config (a dict, a sweep file path or a resolved `SweepSpec`). The figures
are those of the HTML report (`reports.figures`), with the hover data filled in (the report's
page script does that in the browser).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from dse.errors import UserError
from reports import figures
from reports.read import read_sweep
from reports.sweep import Sweep, analyse


def sweep(results: Any, config: Any = None) -> Sweep:
    """The analysed sweep of an output directory, or of a table and its config."""
    if isinstance(results, pd.DataFrame):
        if config is None:
            raise UserError("a results table needs its config (a dict, path or SweepSpec)")
        if not isinstance(config, dict):
            from dse.api import spec_of

            config = spec_of(config).to_dict()
        return analyse(results, config)
    return read_sweep(Path(results))


def _filled(s: Sweep, g: dict, fig: go.Figure) -> go.Figure:
    """`fig` with the hover data `report.js` attaches in a report (see `reports.figures`)."""
    hover = figures.hover_data(s, g)
    for trace in fig.data:
        field = str(getattr(trace, "meta", "") or "").split("|")[0]
        if field.startswith("hover:"):
            group, *part = field[6:].split(":")
            rows = hover.get(group)
            if rows is not None:
                trace.customdata = rows[int(part[0]):int(part[1])] if part else rows
    return fig


def front(results: Any, config: Any = None, x: str | None = None,
          y: str | None = None) -> go.Figure:  # fmt: skip
    """Objective `y` against objective `x` (default: the first two objectives): the front,
    the dominated and infeasible designs of the drawn sample, the rest as a density."""
    s = sweep(results, config)
    names = [o.column for o in s.objectives]
    x, y = x or names[0], y or names[min(1, len(names) - 1)]
    for axis, col in (("x", x), ("y", y)):
        if col not in names:
            raise UserError(f"{axis}={col!r} is not an objective of this sweep; objectives: "
                            + ", ".join(names))  # fmt: skip
    g = figures.groups(s)
    return _filled(s, g, figures.scatter_2d(s, g, names.index(x), names.index(y)))


def parallel(results: Any, config: Any = None) -> go.Figure:
    """Parallel coordinates over the design variables and objectives."""
    s = sweep(results, config)
    return figures.parallel(s, figures.groups(s))


def breakdown(results: Any, config: Any = None) -> go.Figure:
    """Energy, area and latency of the knee and each objective's best, as stacked bars."""
    s = sweep(results, config)
    return figures.breakdown(s, figures.selected_designs(s))


def per_class(results: Any, config: Any = None) -> go.Figure:
    """Each tensor class's energy, latency and output NMSE for the selected designs."""
    s = sweep(results, config)
    return figures.per_class(s, figures.selected_designs(s))


def error_vs_bits(results: Any, config: Any = None) -> go.Figure | None:
    """NMSE against bits per element of the sweep's formats, one line per family (None when
    no format is a design variable)."""
    from reports.formats_panel import error_vs_bits as draw

    return draw(sweep(results, config))


def format_map(results: Any, config: Any = None) -> go.Figure | None:
    """Per-class formats of the front designs (None unless formats are chosen per class)."""
    return figures.format_map(sweep(results, config))


def study(results: Any, config: Any = None) -> list[go.Figure]:
    """The report's Study figures: the search strategy's (from its trace: pass an output
    directory) and those of the sweep file's `figures:` section."""
    from reports.study import study_figures

    return [fig for _, fig, _ in study_figures(sweep(results, config))]


def roofline(results: Any, config: Any = None) -> go.Figure | None:
    """Every GEMM of the knee and each objective's best under its roof (intensity against
    attained throughput; None when the config cannot be re-evaluated)."""
    from reports.roofline import roofline as draw

    s = sweep(results, config)
    return draw(s, figures.selected_designs(s))
