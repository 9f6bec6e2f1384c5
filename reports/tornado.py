"""The what-if tornado: how much each metric of the chosen design moved under the overrides.

One horizontal bar per metric, its relative change (after / before - 1, in %), sorted by
magnitude (largest on top), better-or-worse coloured by the metric's sense when it is an
objective of the sweep. `whatif_page` wraps it, with the before/after table and the front's
move, into a self-contained HTML page (`dse whatif --html PATH`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from reports.html import cards, figure, page
from reports.labels import text, title
from reports.tables import frame_table

BETTER, WORSE, NEUTRAL = "#2a9d8f", "#e76f51", "#8d99ae"


def tornado(metrics: pd.DataFrame, senses: dict[str, str] | None = None) -> go.Figure:
    """Bars of `metrics["change_%"]` (index: metric columns), largest change on top; a metric
    in `senses` ("min"/"max") is coloured by whether it moved the better way."""
    senses = senses or {}
    change = metrics["change_%"].astype(float)
    change = change[np.isfinite(change)]
    order = change.abs().sort_values(kind="stable").index  # plotly draws the first row lowest

    def colour(col: str) -> str:
        if col not in senses or change[col] == 0:
            return NEUTRAL
        return BETTER if (change[col] < 0) == (senses[col] == "min") else WORSE

    fig = go.Figure(go.Bar(
        x=[change[c] for c in order], y=[title(c) for c in order], orientation="h",
        marker_color=[colour(c) for c in order],
        customdata=[[text(metrics.loc[c, "before"]), text(metrics.loc[c, "after"])]
                    for c in order],
        hovertemplate="%{y}: %{x:+.3g} %<br>before %{customdata[0]}, after %{customdata[1]}"
                      "<extra></extra>",
    ))  # fmt: skip
    fig.update_layout(title="Change of the chosen design's metrics", template="plotly_white",
                      xaxis=dict(title="change [%]", zeroline=True, zerolinecolor="#555"),
                      height=160 + 32 * len(order), margin=dict(l=220, r=30, t=60, b=50))
    return fig


def whatif_page(result: dict, plotly_js: str = "embed") -> str:
    """A self-contained HTML page of a `dse.whatif` result."""
    front = result["front"]
    summary = cards([
        ("overrides", " ".join(result["sets"])),
        ("design", ", ".join(f"{k}={v}" for k, v in result["design"].items())),
        ("same design after", "yes" if result["same_design_after"] else "no (new knee)"),
        ("front designs", f"{front['size_before']} \u2192 {front['size_after']}"),
        ("hypervolume", f"{front['hypervolume_before']:.4f} \u2192 "
                        f"{front['hypervolume_after']:.4f}"),
    ])  # fmt: skip
    table = result["metrics"].reset_index(names="metric")
    body = figure(tornado(result["metrics"], result["objectives"]), "tornado")
    body += frame_table(table)
    return page("What if", " ".join(result["sets"]),
                [("summary", "Summary", summary), ("metrics", "Metrics", body)], {}, plotly_js)
