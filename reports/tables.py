"""HTML tables and summary cards: the run summary, the best design per objective and the knee,
and the sortable table of front designs with the data its CSV download is made from."""

from __future__ import annotations

from collections.abc import Collection
from numbers import Real

import numpy as np
import pandas as pd

from dse.store import config_hash
from reports.html import cards, esc
from reports.labels import label, meaning, text
from reports.sweep import Sweep


def html_table(columns: list[str], rows: list[list[object]], table_id: str | None = None,
               highlight: Collection[int] = ()) -> str:
    """A table of values (escaped; reals right-aligned); column headers are labelled with
    units and carry the column's meaning as a tooltip. Rows in `highlight` are marked."""
    head = "".join(f'<th data-col="{i}" title="{esc(meaning(c))}">{esc(label(c))}</th>'
                   for i, c in enumerate(columns))
    body = []
    for k, row in enumerate(rows):
        cells = "".join(
            f'<td class="num">{esc(text(v))}</td>' if isinstance(v, Real) and not isinstance(
                v, bool) else f"<td>{esc(text(v))}</td>" for v in row)
        mark = ' class="role"' if k in highlight else ""
        body.append(f'<tr data-row="{k}"{mark}>{cells}</tr>')
    ident = f' id="{esc(table_id)}"' if table_id else ""
    return (f'<div class="scroll"><table{ident}><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def frame_table(df: pd.DataFrame) -> str:
    """`html_table` of a DataFrame."""
    return html_table(list(df.columns), df.to_numpy(dtype=object).tolist())


def _workload(config: dict) -> str:
    w = config.get("workload") or {}
    text_ = f"{w.get('model', 'unknown model')}, {w.get('phase', 'decode')}"
    if "batch" in w:
        text_ += f", batch {w['batch']}"
    if "tokens" in w:
        text_ += f", {w['tokens']} tokens"
    if w.get("stats"):
        text_ += " (tensor statistics overridden)"
    return text_


def _run_time(info: dict) -> str:
    if "elapsed_s" not in info:
        return "not recorded"
    started = f", started {info['started']}" if info.get("started") else ""
    return f"{float(info['elapsed_s']):.3g} s{started}"


def summary_cards(s: Sweep) -> str:
    """Workload, hardware, space, counts, search, run time and config hash."""
    cfg, info = s.config, s.run_info
    hardware = ", ".join(f"{k}: {v}" for k, v in (cfg.get("hardware") or {}).items())
    size = info.get("space_size")
    search = cfg.get("search") or {}
    method = info.get("method") or search.get("method", "not recorded")
    seed = f", seed {search['seed']}" if "seed" in search else ""
    bounds = (("min", "\u2265"), ("max", "\u2264"))
    constraints = "; ".join(" and ".join(f"{c['column']} {op} {c[k]}" for k, op in bounds if k in c)
                            for c in cfg.get("constraints") or [])
    digest = (f"{info['config_hash'][:16]} (run.json has it in full)" if info.get("config_hash")
              else f"{config_hash(cfg)[:16]} (SHA-256 of config.yaml, first 16 digits)")
    undrawn = int((~s.drawable()).sum())
    return cards([
        ("Workload", _workload(cfg)),
        ("Hardware", hardware or "defaults"),
        ("Design space", (f"{int(size):,} points" if size is not None else "size not recorded")
         + f" over {len(s.variables)} variables: " + ", ".join(s.variables)),
        ("Points evaluated", f"{int(info.get('points_evaluated', len(s.results))):,}"
         + (f" ({undrawn:,} without objective values)" if undrawn else "")),
        ("Feasible", f"{int(s.feasible.sum()):,}"
         + (f" \u2014 {constraints}" if constraints else "")),
        ("Pareto front", f"{int(s.front.sum()):,} designs"),
        ("Objectives", ", ".join(f"{o.sense} {o.column}" for o in s.objectives)),
        ("Search", f"{method}{seed}"),
        ("Run time", _run_time(info)),
        ("Config hash", digest),
    ])


def best_table(s: Sweep) -> str:
    """One row per objective (its best feasible design) and one for the knee of the front."""
    cols = ["design", "point", *s.variables, *[o.column for o in s.objectives]]
    picks = [(f"best {o.column} ({o.sense})", s.best[o.column]) for o in s.objectives
             if o.column in s.best]
    if s.knee is not None:
        picks.append(("knee of the front", s.knee))
    rows = [[name, *s.frame(cols[1:], np.array([row])).iloc[0]] for name, row in picks]
    return html_table(cols, rows)


def front_rows(s: Sweep) -> pd.DataFrame:
    """The front designs, best first for the first objective: role (knee, best ...), point,
    design variables, key metrics and, when present, error_exact."""
    first = s.objectives[0]
    roles = s.roles()
    rows = np.flatnonzero(s.front)
    exact = ["error_exact"] if s.has("error_exact") else []
    df = s.frame(["point", *s.variables, *s.key_columns, *exact], rows)
    df.insert(0, "role", [", ".join(roles.get(r, [])) for r in rows])
    return df.sort_values(first.column, ascending=first.sense == "min", kind="stable")


def front_table(df: pd.DataFrame) -> str:
    """The sortable front table (rows with a role highlighted) and its CSV button."""
    values = df.to_numpy(dtype=object).tolist()
    marked = {k for k, role in enumerate(df["role"]) if role}
    return ('<p><button id="front-csv" type="button">Download CSV</button> '
            '<span class="note">Click a column header to sort.</span></p>'
            + html_table(list(df.columns), values, table_id="front-table", highlight=marked))


def front_data(df: pd.DataFrame, name: str) -> dict:
    """The front table's raw values, for sorting and the CSV download."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name) or "sweep"
    return {"columns": list(df.columns), "rows": df.to_numpy(dtype=object).tolist(),
            "filename": f"{safe}-front.csv"}
