"""Page assembly and escaping: one self-contained HTML file.

Every user string goes through `esc` (HTML text and attributes, and plotly's label markup,
which decodes the same entities). JSON inside `<script>` goes through `script_json`, which
escapes `<`, `>` and `&` as `\\u003c`-style sequences so no string can close the script element.
Figures are JSON blocks that `report.js` hands to `Plotly.newPlot`.
"""

from __future__ import annotations

import html
import json
import math
from functools import cache
from importlib.resources import files

import numpy as np
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs, get_plotlyjs_version

PLOTLY_MODES = ("embed", "cdn")
_JSON_UNSAFE = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)

CSS = """
:root { --ink: #1d2733; --muted: #5b6877; --line: #dde3ea; --accent: #1f5fbf; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: var(--ink); background: #f6f8fa; }
header { background: #fff; border-bottom: 1px solid var(--line); padding: 16px 28px 8px; }
header h1 { margin: 0 0 2px; font-size: 22px; }
header p { margin: 4px 0; color: var(--muted); max-width: 1100px; }
nav a { margin-right: 16px; color: var(--accent); text-decoration: none; font-weight: 500; }
main { padding: 8px 28px 40px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px;
          padding: 14px 20px; margin: 16px 0; }
h2 { font-size: 17px; margin: 0 0 10px; }
h3 { font-size: 14px; margin: 14px 0 6px; }
.note { color: var(--muted); margin: 6px 0; }
.warning { background: #fdecea; border: 1px solid #f5c2c0; color: #8a1f17; padding: 8px 12px;
           border-radius: 6px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr)); gap: 10px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; }
.card dt { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card dd { margin: 2px 0 0; font-weight: 600; overflow-wrap: anywhere; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 12px; }
figure { margin: 0; }
figcaption { color: var(--muted); font-size: 12.5px; margin: 4px 6px 8px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: left;
         white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f0f3f7; position: sticky; top: 0; }
#front-table th { cursor: pointer; user-select: none; }
#front-table th[aria-sort=ascending]::after { content: " \\25B2"; }
#front-table th[aria-sort=descending]::after { content: " \\25BC"; }
.scroll { overflow: auto; max-height: 560px; border: 1px solid var(--line); }
tr.role td { background: #fff7e6; }
button { font: inherit; padding: 4px 12px; border: 1px solid var(--accent); color: var(--accent);
         background: #fff; border-radius: 4px; cursor: pointer; }
pre { background: #f6f8fa; padding: 10px; overflow: auto; }
"""


def esc(value: object) -> str:
    """HTML-escaped text of any value (quotes included: safe in attributes too)."""
    return html.escape(str(value), quote=True)


def script_json(obj: object) -> str:
    """JSON for a `<script type="application/json">` block: NaN -> null, `<>&` escaped.

    A str is taken as JSON text already (e.g. a plotly figure's `to_json()`)."""
    text = obj if isinstance(obj, str) else json.dumps(_plain(obj), separators=(",", ":"))
    return text.translate(_JSON_UNSAFE)


def _plain(obj: object) -> object:
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def json_block(block_id: str, obj: object) -> str:
    """A JSON data block the page's script reads by id."""
    return f'<script type="application/json" id="{esc(block_id)}">{script_json(obj)}</script>'


def figure(fig: go.Figure, fig_id: str, caption: str = "") -> str:
    """A plot placeholder plus its figure JSON; `caption` is plain text."""
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return (
        f'<figure><div class="plotly-graph-div" id="{esc(fig_id)}" '
        f'data-figure="{esc(fig_id)}-json"></div>'
        f"{json_block(fig_id + '-json', fig.to_json())}{cap}</figure>"
    )


def section(section_id: str, title: str, body: str) -> str:
    """A titled section; `body` is HTML."""
    return f'<section id="{esc(section_id)}"><h2>{esc(title)}</h2>{body}</section>'


def cards(items: list[tuple[str, str]]) -> str:
    """A grid of (label, value) cards; both plain text."""
    inner = "".join(f'<div class="card"><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>' for k, v in items)
    return f'<dl class="cards">{inner}</dl>'


@cache
def _report_js() -> str:
    return (files("reports") / "report.js").read_text()


def plotly_script(mode: str) -> str:
    """plotly.js embedded ("embed": offline) or linked from the plotly CDN ("cdn")."""
    if mode == "embed":
        return f'<script charset="utf-8">{get_plotlyjs()}</script>'
    src = f"https://cdn.plot.ly/plotly-{get_plotlyjs_version()}.min.js"
    return f'<script charset="utf-8" src="{src}"></script>'


def page(title: str, subtitle: str, sections: list[tuple[str, str, str]], data: dict[str, object],
         plotly_js: str = "embed") -> str:
    """The whole document: `sections` are (id, title, body HTML), `data` the JSON blocks the
    script reads (by id), `title` and `subtitle` plain text."""
    nav = "".join(f'<a href="#{esc(sid)}">{esc(t)}</a>' for sid, t, _ in sections)
    blocks = "".join(json_block(k, v) for k, v in data.items())
    body = "".join(section(*s) for s in sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} \u2014 DSE report</title><style>{CSS}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p><nav>{nav}</nav></header>"
        f"<main>{body}</main>{blocks}{plotly_script(plotly_js)}"
        f"<script>{_report_js()}</script></body></html>\n"
    )
