"""`build_report` (results table + config -> one HTML file) and `write_report` (an output
directory -> its report.html)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import yaml

from dse.errors import UserError
from dse.files import write_atomic
from dse.store import Layout
from reports import figures, formats_panel
from reports.html import PLOTLY_MODES, esc, figure, page
from reports.keys import keys
from reports.read import read_sweep
from reports.roofline import roofline
from reports.study import study_figures
from reports.sweep import DETAIL_ROWS, Sweep, analyse
from reports.tables import (
    best_table,
    frame_table,
    front_data,
    front_rows,
    front_table,
    summary_cards,
)

_SCATTER_CAPTION = (
    "Each point is a design. Blue: the Pareto front over all objectives (non-dominated among the "
    "feasible designs); grey: dominated; red crosses: infeasible (constraints not met). The "
    "line is the front of this pair of objectives alone; the star is the knee. Hover a point "
    "for its whole design; drag to zoom, double-click to reset."
)
_KEYED_CAPTION = (
    "Each point is a design: its colour is its weight format, its symbol its activation "
    "format (legends on the right and on top; click an entry to hide or show its designs). "
    "Large outlined points: the Pareto front over all objectives (non-dominated among the "
    "feasible designs), labelled by their formats where there is room; small faint points: "
    "dominated; red crosses: infeasible (constraints not met). The line is the front of this "
    "pair of objectives alone; the star is the knee. Hover a point for its whole design; drag "
    "to zoom, double-click to reset."
)
_BITS_CAPTION = (
    "Each format's NMSE (median over the operand's tensor classes of the results' per-class "
    "NMSE, drawn rows) against its storage bits per element, block scales and per-block "
    "selector bits included. Lines join a family's formats (same element family and "
    "non-numeric parameters), ordered by bits. Formats with elements wider than "
    f"{formats_panel.MAX_DRAWN_BITS} bits (fp16, bf16) are left out when narrower ones are "
    "drawn."
)
_KNEE_NOTE = (
    "The knee is the front design nearest the ideal point after scaling each objective to "
    "[0, 1] over the front."
)


def _note(body: str) -> str:
    return f'<p class="note">{esc(body)}</p>'


def _sampling_note(s: Sweep, g: dict) -> str:
    if not s.sampled:
        return ""
    n_other = len(g.get(figures.OTHER, ()))
    return _note(
        f"This sweep has {len(s.results):,} rows. The plots draw every front design and a "
        f"random sample (seed 0) of the other rows, {DETAIL_ROWS:,} rows in all, with hover "
        f"details; the 2-D scatters also show the remaining {n_other:,} rows as a density "
        f"(rows per cell of a {figures.DENSITY_BINS} x {figures.DENSITY_BINS} grid, log10 "
        "shading, log-spaced cells on log axes; no hover per design); the 3-D view and "
        "parallel coordinates show the sample only, and the formats' NMSE tables are over "
        "the sample. Summary, best designs and the front table use every row."
    )


def _pareto(s: Sweep, g: dict) -> str:
    pairs = figures.scatters_2d(s, g)
    keyed = any(k is not None for k in keys(s))
    out = [_sampling_note(s, g), _note(_KEYED_CAPTION if keyed else _SCATTER_CAPTION)]
    if pairs:
        out.append('<div class="grid">'
                   + "".join(figure(f, f"scatter-{k}") for k, f in enumerate(pairs)) + "</div>")
    if len(s.objectives) >= 3:
        out.append("<h3>3-D view of the first three objectives</h3>"
                   + figure(figures.scatter_3d(s, g), "scatter-3d"))
    out.append("<h3>Parallel coordinates: design variables and objectives</h3>"
               + figure(figures.parallel(s, g), "parallel",
                        "Blue: Pareto front; grey: dominated; red: infeasible. Drag along an "
                        "axis to filter; categorical values are listed on their axes."))
    return "".join(out)


def _formats(s: Sweep) -> str:
    table = formats_panel.class_stats(s.config)
    out = []
    for op in formats_panel.OPERANDS:
        panel = formats_panel.operand_panel(s, op, table)
        if panel:
            fig, nmse = panel
            drawn = (figure(fig, f"formats-{op.prefix}") if fig is not None else _note(
                f"No format of the {op.title.lower()} is narrow enough to draw its levels "
                f"(at most {formats_panel.MAX_DRAWN_BITS} bits)."))  # fmt: skip
            out.append(f"<h3>{esc(op.title)}</h3>" + drawn
                       + "<p class=\"note\">NMSE by tensor class:</p>" + frame_table(nmse))
    if not out:
        return _note("No format is a design variable of this sweep.")
    bits = formats_panel.error_vs_bits(s)
    head = "" if bits is None else figure(bits, "error-vs-bits", _BITS_CAPTION)
    return head + _note(formats_panel.CAPTION) + "".join(out)


def _breakdowns(s: Sweep) -> str:
    designs = figures.selected_designs(s)
    if not designs:
        return _note("No feasible design: nothing to break down.")
    return (_note("Selected front designs: the knee and the best design of each objective. "
                  + _KNEE_NOTE)
            + figure(figures.breakdown(s, designs), "breakdown",
                     "Latency: the share of the step spent in compute-bound GEMMs "
                     "(compute_bound_fraction) and the rest, memory-bound.")
            + figure(figures.per_class(s, designs), "per-class",
                     "Per-layer contribution by tensor class (qkv, o, gate_up, down, lm_head, "
                     "attention score and context).")
            + _roofline(s, designs) + _format_map(s))


def _roofline(s: Sweep, designs: list[tuple[int, str]]) -> str:
    fig = roofline(s, designs)
    if fig is None:
        return ""
    return figure(fig, "roofline", (
        "Each GEMM of the step (marker shape: tensor class) of the selected designs at its "
        "arithmetic intensity (MACs per off-chip byte at the design's storage bits) and the "
        "throughput the engine's model gives it, under each design's roof (peak MAC rate, "
        "off-chip bandwidth). Memory-bound GEMMs sit on the slope; compute-bound ones at or "
        "below the flat roof (the array's padding). Hover for the GEMM's shape and time."))


def _format_map(s: Sweep) -> str:
    fig = figures.format_map(s)
    if fig is None:
        return ""
    return figure(fig, "format-map", (
        "Mixed designs: each front design's format per tensor class (cells shaded by bits per "
        f"element; at most {figures.MAP_ROWS} designs, evenly spread along the first "
        "objective, the knee and the bests always shown). Hover a cell for the class's "
        "output NMSE."))


def _front(s: Sweep, front: pd.DataFrame) -> str:
    if front.empty:
        return _note("No feasible design with finite objective values: the front is empty.")
    inexact = (~front["error_exact"].astype(bool)).sum() if "error_exact" in front else 0
    caveat = (f" {inexact} of them have approximate error values (error_exact false)."
              if inexact else "")
    return _note(f"{len(front):,} non-dominated feasible designs; highlighted rows are the "
                 f"knee and the best of each objective.{caveat}") + front_table(front)


def _warnings(s: Sweep) -> str:
    bad = s.negative_metrics()
    if not bad:
        return ""
    listed = ", ".join(f"{column} ({n:,} rows)" for column, n in bad.items())
    return (f'<p class="warning">Impossible values in the results: negative {esc(listed)}. '
            "The models that produced them need checking before these numbers are used.</p>")


def _summary(s: Sweep) -> str:
    return (_warnings(s) + summary_cards(s) + "<h3>Best design per objective, and the knee</h3>"
            + best_table(s) + _note(_KNEE_NOTE))


def _config(s: Sweep) -> str:
    dump = yaml.safe_dump(s.config, sort_keys=False, allow_unicode=True)
    out = f"<details><summary>Resolved config (YAML)</summary><pre>{esc(dump)}</pre></details>"
    if s.run_info:
        out += ("<details><summary>Run metadata (run.json)</summary><pre>"
                + esc(json.dumps(s.run_info, indent=2, default=str)) + "</pre></details>")
    return out


def build_report(results: pd.DataFrame, config: dict, run_info: dict | None = None, *,
                 plotly_js: str = "embed", path: str | Path | None = None) -> str:
    """The HTML report of a results table and its resolved config (written to `path` when
    given). `plotly_js`: "embed" (one offline file) or "cdn" (a script tag to plotly's CDN)."""
    return render(analyse(results, config, run_info), plotly_js, path)


def _check_mode(plotly_js: str) -> None:
    if plotly_js not in PLOTLY_MODES:
        raise UserError(f"plotly_js must be one of {', '.join(PLOTLY_MODES)}, got {plotly_js!r}")


def render(s: Sweep, plotly_js: str = "embed", path: str | Path | None = None) -> str:
    """The HTML report of an analysed sweep (written to `path` when given)."""
    _check_mode(plotly_js)
    g = figures.groups(s)
    front = front_rows(s)
    config = s.config
    name = str(config.get("name") or "sweep")
    study = study_figures(s)
    sections = [
        ("summary", "Summary", _summary(s)),
        *([("study", "Study", "".join(figure(f, i, c) for i, f, c in study))] if study else []),
        ("pareto", "Pareto views", _pareto(s, g)),
        ("formats", "Formats", _formats(s)),
        ("breakdowns", "Breakdowns", _breakdowns(s)),
        ("front", "Front designs", _front(s, front)),
        ("config", "Config", _config(s)),
    ]
    data = {"hover-data": figures.hover_data(s, g), "front-data": front_data(front, name)}
    text = page(name, str(config.get("description") or ""), sections, data, plotly_js)
    if path is not None:
        write_atomic(path, text)
    return text


def write_report(results_dir: str | Path, out: str | Path | None = None,
                 plotly_js: str = "embed") -> Path:
    """Render the sweep in `results_dir` (results.parquet or .csv, config.yaml, optional
    run.json; from Parquet, only the columns the report uses: `reports.read`) to `out`, by
    default `<results_dir>/report.html`; returns the path written."""
    _check_mode(plotly_js)
    s = read_sweep(results_dir)
    base = Path(results_dir)
    target = Path(out) if out is not None else Layout(
        base if base.is_dir() else base.parent).report
    render(s, plotly_js, target)
    return target
