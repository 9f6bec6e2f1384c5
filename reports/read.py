"""Reading a finished sweep for its report: from Parquet, only the columns the report uses.

Every row is read for the columns that decide what is drawn (objectives, constraint columns,
`feasible`, `on_front`); the columns shown per design (`point`, design variables, key metrics,
per-class NMSE) for the rows drawn in detail only, and the breakdowns' columns for the designs
broken down only (`Sweep.details`; Parquet decodes whole row groups, so these are the costly
reads). A metric column whose Parquet statistics show a negative value is read in full, so the
report can count the impossible values. CSV tables are read whole (`dse.store.read_results`).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dse.errors import UserError, load_yaml, warn
from dse.store import Layout, read_results
from reports.figures import BREAKDOWN_COLUMNS
from reports.formats_panel import OPERANDS
from reports.labels import metric_unit
from reports.sweep import KEY_METRICS, Sweep, analyse
from workloads import CLASSES


def wanted(config: dict, names: list[str]) -> tuple[list[str], list[str], list[str]]:
    """(columns read for every row, for the detail rows, for the selected designs) among
    `names`."""
    objectives = [o if isinstance(o, str) else o.get("column") for o in
                  config.get("objectives") or []]
    constraints = ([] if "feasible" in names else
                   [c.get("column") for c in config.get("constraints") or []])
    every = [*objectives, *constraints, "feasible", "on_front"]
    detail = ["point", *(config.get("space") or {}), *KEY_METRICS, "error_exact",
              *(f"{op.nmse}_{c}" for op in OPERANDS for c in CLASSES)]  # fmt: skip
    every = list(dict.fromkeys(c for c in every if c in names))
    detail = [c for c in dict.fromkeys(detail) if c in names and c not in every]
    return every, detail, [c for c in BREAKDOWN_COLUMNS if c in names and c not in every + detail]


def _negative(pf: pq.ParquetFile, columns: list[str]) -> list[str]:
    """The metric columns among `columns` whose row-group statistics show a negative value
    (or have none)."""
    meta, out = pf.metadata, []
    for column in columns:
        unit = metric_unit(column)
        if unit is None or unit in ("dB", "bool"):
            continue
        k = pf.schema_arrow.get_field_index(column)
        for g in range(meta.num_row_groups):
            stats = meta.row_group(g).column(k).statistics
            if stats is None or not stats.has_min_max or stats.min < 0:
                out.append(column)
                break
    return out


def _rows(pf: pq.ParquetFile, columns: list[str], rows: np.ndarray) -> pd.DataFrame:
    """`columns` at the sorted row positions `rows`, indexed by position, one row group at a
    time."""
    if not columns:
        return pd.DataFrame(index=pd.Index(rows))
    parts, start = [], 0
    for g in range(pf.metadata.num_row_groups):
        n = pf.metadata.row_group(g).num_rows
        lo, hi = np.searchsorted(rows, (start, start + n))
        if hi > lo:
            group = pf.read_row_group(g, columns=columns)
            parts.append(group.take(pa.array(rows[lo:hi] - start)))
        start += n
    table = pa.concat_tables(parts) if parts else pf.schema_arrow.empty_table().select(columns)
    return table.to_pandas().set_axis(pd.Index(rows[: table.num_rows]))


def _parquet(path: Path, config: dict, run_info: dict | None) -> Sweep:
    pf = pq.ParquetFile(path)
    every, detail, selected = wanted(config, pf.schema_arrow.names)
    negative = _negative(pf, detail + selected)
    every += negative
    detail, selected = ([c for c in cols if c not in negative] for cols in (detail, selected))
    strings = [c for c in every if pa.types.is_string(pf.schema_arrow.field(c).type)
               or pa.types.is_large_string(pf.schema_arrow.field(c).type)]
    results = pq.read_table(path, columns=every, read_dictionary=strings).to_pandas(
        split_blocks=True, self_destruct=True)
    s = analyse(results, config, run_info, detail_columns=detail)
    details = pd.concat([_rows(pf, detail, np.flatnonzero(s.detail)),
                         _rows(pf, selected, np.array(sorted(s.roles())))], axis=1)
    return dataclasses.replace(s, details=details)


def read_sweep(results_dir: str | Path) -> Sweep:
    """The analysed sweep of an output directory (or results file) with its config.yaml,
    optional run.json and the search strategy's trace, if written."""
    p = Path(results_dir)
    base = Layout(p if p.is_dir() else p.parent)
    run_info = _json(base.run_info)
    parquet = base.results if p.is_dir() else p
    if parquet.suffix != ".parquet" or not parquet.is_file():
        s = analyse(*read_results(results_dir), run_info)
    else:
        config = load_yaml(base.config, "sweep config") if base.config.exists() else {}
        try:
            s = _parquet(parquet, config if isinstance(config, dict) else {}, run_info)
        except (pa.ArrowException, OSError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise UserError(f"cannot read the results table {str(parquet)!r}: {first}") from None
    method = str((s.config.get("search") or {}).get("method", "grid"))
    trace = _json(base.trace(method))
    return dataclasses.replace(s, traces={method: trace}) if trace is not None else s


def _json(path: Path) -> dict | None:
    """A JSON object file's content, or None: run metadata and traces are optional, so the
    report says less without them; a file that is there but unreadable or not a JSON object
    gets a warning naming it."""
    if not path.exists():
        return None
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        warn(f"{path} is unreadable ({type(exc).__name__}): the report leaves it out")
        return None
    if not isinstance(value, dict):
        warn(f"{path} is not a JSON object: the report leaves it out")
        return None
    return value
