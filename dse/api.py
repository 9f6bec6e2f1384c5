"""The Python API: `run`, `whatif` and `query`, each returning pandas DataFrames (the CLI is
a thin layer over these).

A run validates the config, builds the evaluator once, searches (grid or NSGA-II/III, in
process or on Dask), writes the results table incrementally to the output directory, marks the
feasible and non-dominated rows, records `run.json`, and writes the HTML report.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from dse import config as config_mod
from dse import distributed
from dse.errors import UserError, parse_yaml
from dse.evaluation import Evaluator
from dse.files import write_atomic
from dse.filters import query as query_table
from dse.limits import WHATIF_MAX_POINTS, check_points
from dse.optimize import SearchContext, strategies
from dse.pareto import bounds, hypervolume, knee, matrix, non_dominated
from dse.progress import Progress
from dse.spec import Constraint, SweepSpec, constraints_of, objectives_of
from dse.store import ResultStore, config_hash, read_results
from dse.stream import usable, write_results

Config = str | Path | Mapping | SweepSpec


def spec_of(config: Config) -> SweepSpec:
    """The validated sweep: a `SweepSpec` as it is, a mapping resolved, a path loaded."""
    if isinstance(config, SweepSpec):
        return config
    if isinstance(config, Mapping):
        return config_mod.resolve(config)
    return config_mod.load(config)


def mark(table: pd.DataFrame, spec: SweepSpec) -> pd.DataFrame:
    """Add `feasible` (constraints met and every objective defined) and `on_front`
    (non-dominated among feasible rows)."""
    table = table.copy()
    ok = usable(table, spec.objectives, spec.constraints)
    front = np.zeros(len(table), dtype=bool)
    if ok.any():
        front[np.flatnonzero(ok)] = non_dominated(matrix(table[ok], spec.objectives))
    table["feasible"] = ok
    table["on_front"] = front
    return table


@dataclass
class RunSummary:
    """What a run wrote and found, without its table: the output directory, the files
    (`csv` is None when it was not written), counts, the front's rows and each objective's
    best feasible value."""

    dir: Path
    results: Path
    csv: Path | None
    report: Path | None
    points_evaluated: int
    feasible: int
    front: pd.DataFrame
    bests: dict[str, float]


def execute(
    config: Config,
    *,
    quiet: bool = True,
    scheduler: str | None = None,
    output_dir: str | Path | None = None,
    report: bool | None = None,
    fresh: bool = False,
    max_points: int | None = None,
    workers: int | None = None,
) -> RunSummary:
    """Run a sweep (as `run`) and return a `RunSummary`: memory stays bounded by a chunk and
    the front, whatever the number of points (the results files are written chunk by chunk,
    see `dse.stream`). A grid runs on Dask (`scheduler`) or on `workers` local processes
    (default `dse.distributed.default_workers`), see `dse.distributed`."""
    spec = spec_of(config)
    if output_dir is not None:
        spec = spec.with_output_dir(str(output_dir))
    search = spec.search
    if not scheduler and search.executor == "dask":
        scheduler = search.scheduler or "local"
    if scheduler and search.method != "grid":
        raise UserError("the Dask executor runs grid searches; set search.method: grid")
    space = spec.grid
    strategy = strategies()[search.method]
    budget = strategy.budget(search, space)
    check_points(budget, search.max_points if max_points is None else max_points)
    evaluate = Evaluator(spec)
    cfg = spec.to_dict()
    with ResultStore(spec.output.dir, cfg, config_mod.resume_key(spec), fresh) as store:
        started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        t0 = time.perf_counter()
        progress = Progress(budget, quiet=quiet)
        ctx = SearchContext(
            spec, evaluate, store, progress, distributed.executor_for(scheduler, workers, budget)
        )
        result = strategy.run(ctx)
        progress.close()
        csv = "auto" if spec.output.csv is None else spec.output.csv
        written = write_results(
            store, spec.objectives, spec.constraints, csv,
            lambda label, total: Progress(total, label, quiet=quiet), result.front,
        )  # fmt: skip
        info = {
            "config_hash": config_hash(cfg),
            "resume_key_sha256": store.hash,
            "elapsed_s": round(time.perf_counter() - t0, 3),
            "points_evaluated": written.rows,
            "evaluated_this_run": result.evaluated,
            "space_size": space.size,
            "method": result.method,
            "traces": [p.name for p in result.traces],
            "started": started,
        }
        write_atomic(store.layout.run_info, json.dumps(info, indent=2) + "\n")
        if spec.output.report if report is None else report:
            from reports import write_report

            bar = Progress(1, "report written", quiet=quiet)
            write_report(store.dir)
            bar.update(1)
            bar.close()
    if spec.constraints and not written.feasible:
        raise UserError(
            f"no design meets the constraints {_constraint_text(spec.constraints)}; "
            + "; ".join(f"best {col} reached: {v:.4g}" for col, v in written.closest.items())
            + f" (all {written.rows:,} results are kept in {spec.output.dir})"
        )
    html = store.layout.report
    return RunSummary(
        store.dir, written.parquet, written.csv, html if html.exists() else None, written.rows,
        written.feasible, written.front, written.bests,
    )  # fmt: skip


def run(config: Config, **options: Any) -> pd.DataFrame:
    """Run a sweep and return its results table (one row per evaluated design point).

    Rows already in the output directory for the same workload, hardware, space and formats
    are reused (`dse.store`); `fresh=True` moves such a directory's results aside first.
    `max_points` (default: search.max_points, else `dse.limits.DEFAULT_MAX_POINTS`) refuses
    a larger sweep before it starts. `options` are those of `execute`: quiet, scheduler,
    output_dir, report, fresh, max_points.

    The run itself holds no more than a chunk and the front; the returned table is
    `results.parquet` read back whole (for huge sweeps use `execute`, which returns a
    `RunSummary` instead)."""
    return pq.read_table(execute(config, **options).results).to_pandas()


def _constraint_text(constraints: Sequence[Constraint]) -> str:
    parts = []
    for c in constraints:
        parts.append(" and ".join(
            t for t in (f"{c.column} >= {c.min:g}" if c.min is not None else "",
                        f"{c.column} <= {c.max:g}" if c.max is not None else "") if t
        ))  # fmt: skip
    return ", ".join(parts)


# --- what-if ---------------------------------------------------------------------------------


def set_path(cfg: dict, path: str, value: Any, where: str = "") -> None:
    """Set the dotted `path` (e.g. "workload.model") of a sweep dict to `value` in place,
    making missing sections; UserError (naming `where` or the path) when a step is not a
    section."""
    keys = path.strip().split(".")
    node = cfg
    for k in keys[:-1]:
        node = node.setdefault(k, {})
        if not isinstance(node, dict):
            raise UserError(f"{where or path}: {k!r} is not a section")
    node[keys[-1]] = value


def apply_sets(cfg: Mapping | SweepSpec, sets: Sequence[str]) -> dict:
    """The sweep `cfg` as a plain dict with PATH=VALUE overrides (VALUE parsed as YAML; a
    scalar given for a space variable becomes a one-value list); `dse.config.resolve` it."""
    out = cfg.to_dict() if isinstance(cfg, SweepSpec) else copy.deepcopy(dict(cfg))
    for item in sets:
        if "=" not in item:
            raise UserError(f"--set {item!r}: expected PATH=VALUE, e.g. hardware.node_nm=5nm")
        path, text = item.split("=", 1)
        value: Any = parse_yaml(text, f"--set {path}")
        if path.strip().startswith("space.") and path.count(".") == 1 and not isinstance(
                value, (list, dict)):
            value = [value]
        set_path(out, path, value, f"--set {path}")
    return out


def _design_key(df: pd.DataFrame, names: Sequence[str]) -> pd.Series:
    return df[list(names)].astype(str).agg("|".join, axis=1)


def whatif(config: Config, sets: Sequence[str]) -> dict:
    """Re-evaluate a sweep with overrides and compare with the original.

    Both sweeps are evaluated in memory (nothing is written). The chosen design is the knee of
    the original front; `metrics` holds its metrics before and after (the same design values,
    or the new knee when the overrides removed that design). `front` says how the Pareto front
    moved: designs gained and lost, and hypervolume before/after on common bounds.
    """
    before_spec = spec_of(config)
    after_spec = config_mod.resolve(apply_sets(before_spec, sets))
    tables = []
    for spec in (before_spec, after_spec):
        space = spec.grid
        if space.size > WHATIF_MAX_POINTS:
            raise UserError(f"what-if evaluates the whole grid; {space.size:,} points is too many")
        tables.append(mark(Evaluator(spec)(space.points(np.arange(space.size))), spec))
    before, after = tables
    objectives = before_spec.objectives
    names = [n for n in before_spec.space if n in after_spec.space]
    f_b, f_a = (t[t["on_front"]] for t in (before, after))
    chosen = f_b.iloc[knee(matrix(f_b, objectives))] if len(f_b) else None
    same = pd.DataFrame()
    if chosen is not None:
        same = after[_design_key(after, names) == "|".join(str(chosen[n]) for n in names)]
    after_row = (
        same.iloc[0]
        if len(same)
        else (f_a.iloc[knee(matrix(f_a, objectives))] if len(f_a) else None)
    )
    metric_cols = [o.column for o in objectives] + [
        c for c in ("model_nmse", "energy_per_token_uj", "latency_per_token_ms", "tokens_per_s",
                    "area_mm2", "bits_per_weight", "weight_memory_gb")
        if c not in {o.column for o in objectives}
    ]  # fmt: skip
    metrics = pd.DataFrame(
        {
            "before": [chosen[c] if chosen is not None else np.nan for c in metric_cols],
            "after": [after_row[c] if after_row is not None else np.nan for c in metric_cols],
        },
        index=metric_cols,
    )
    metrics["change_%"] = 100 * (metrics["after"] / metrics["before"] - 1)
    keys_b, keys_a = set(_design_key(f_b, names)), set(_design_key(f_a, names))
    both = np.vstack([matrix(f_b, objectives), matrix(f_a, objectives)])
    ideal, nadir = bounds(both) if len(both) else (None, None)
    return {
        "design": {n: chosen[n] for n in names} if chosen is not None else {},
        "same_design_after": bool(len(same)),
        "metrics": metrics,
        "front": {
            "size_before": len(f_b),
            "size_after": len(f_a),
            "gained": len(keys_a - keys_b),
            "lost": len(keys_b - keys_a),
            "kept": len(keys_a & keys_b),
            "hypervolume_before": hypervolume(matrix(f_b, objectives), ideal, nadir),
            "hypervolume_after": hypervolume(matrix(f_a, objectives), ideal, nadir),
        },
        "sets": list(sets),
        "objectives": {o.column: o.sense for o in objectives},
    }


def key_columns(table: pd.DataFrame, config: Mapping) -> list[str]:
    """The columns that say which design a row is and how it scores: `point`, the design
    variables, the objectives and constraint columns, `feasible` and `on_front` (those the
    table has), in that order."""
    objectives = [o.column for o in objectives_of(config.get("objectives") or [])]
    constraints = [c.column for c in constraints_of(config.get("constraints") or [])]
    wanted = ["point", *(config.get("space") or {}), *objectives, *constraints, "feasible",
              "on_front"]  # fmt: skip
    return [c for c in dict.fromkeys(wanted) if c in table]


def query(
    results: str | Path,
    where: str | None = None,
    sort: str | None = None,
    top: int | None = None,
    columns: list[str] | str | None = None,
) -> pd.DataFrame:
    """Filter and sort a finished sweep's results (see `dse.filters` for the language).

    `columns`: the columns to return (default: all), or "key" for `key_columns` (plus the
    sort column)."""
    table, config = read_results(results)
    if columns == "key":
        columns = key_columns(table, config) or list(table.columns)
        if sort and sort.lstrip("-") in table and sort.lstrip("-") not in columns:
            columns.append(sort.lstrip("-"))
    return query_table(table, where, sort, top, columns)
