"""What a report shows of a sweep: objectives, design variables, feasible rows, the Pareto front
(from `dse.pareto`), its knee, the best design per objective and the rows drawn in detail."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from dse.errors import UserError
from dse.pareto import Objective, knee, matrix, non_dominated
from dse.spec import constraints_of, feasible, objectives_of
from reports.labels import metric_unit

#: Beyond this many rows, the plots draw every front row plus a random sample of the others
#: with hover details (the rest are drawn as a density in the 2-D scatters). A design choice:
#: with 4 objectives the page stays under 10 MB with plotly.js (4.8 MB) embedded, whatever the
#: sweep size (tests/benchmarks/bench_report.py measures it).
DETAIL_ROWS = 10_000
#: Rows drawn in parallel coordinates at most (the front plus a subset of the same sample).
PARALLEL_ROWS = 5_000
SAMPLE_SEED = 0
SAMPLE_MAX = max(DETAIL_ROWS, PARALLEL_ROWS)  # the largest sample any view draws

#: Metrics shown with every design (hover, front table) besides the objectives, when present.
KEY_METRICS = (
    "model_nmse",
    "model_sqnr_db",
    "energy_per_token_uj",
    "latency_per_token_ms",
    "tokens_per_s",
    "area_mm2",
    "bits_per_weight",
    "bits_per_act",
)


@dataclass(frozen=True)
class Sweep:
    """A results table (index 0..n-1, with a `point` column) with its config, run metadata and
    Pareto analysis.

    Masks and row numbers are positions in `results`. `details`, when given (a table read
    from Parquet), holds further columns for some rows only (index: row positions): the rows
    drawn in detail; `has`, `values` and `frame` read a column from either. The front is the
    table's `on_front` column when it has one (as `dse run` writes it), else the non-dominated
    set of the feasible rows; `best` maps each objective column to the row of
    its best feasible value. `traces`: the search strategy's trace (`<output>/<method>.json`)
    when it was read, for the report's Study section.
    """

    results: pd.DataFrame
    config: dict
    run_info: dict
    objectives: tuple[Objective, ...]
    variables: tuple[str, ...]
    feasible: np.ndarray
    front: np.ndarray
    knee: int | None
    best: dict[str, int]
    shuffled: np.ndarray  # the first SAMPLE_MAX rows other than front and bests, seeded order
    details: pd.DataFrame | None = None
    traces: Mapping[str, Any] = field(default_factory=dict)  # search method -> its trace
    _memo: dict = field(default_factory=dict, repr=False, compare=False)

    def memo(self, key: object, fn: Callable, *args: object) -> object:
        """`fn(*args)`, computed once per `key` for this sweep."""
        if key not in self._memo:
            self._memo[key] = fn(*args)
        return self._memo[key]

    def has(self, column: str) -> bool:
        """Whether the table has `column` (for every row, or in `details`)."""
        return column in self.results or (self.details is not None and column in self.details)

    def values(self, column: str, rows: np.ndarray | None = None) -> np.ndarray:
        """Float values of `column` at `rows` (all rows by default; NaN where not read)."""
        if column in self.results:
            v = self.results[column]
            return (v if rows is None else v.iloc[rows]).to_numpy(dtype=float)
        index = np.arange(len(self.results)) if rows is None else rows
        return self.details[column].reindex(index).to_numpy(dtype=float)

    def frame(self, columns: Sequence[str], rows: np.ndarray) -> pd.DataFrame:
        """The rows `rows` of `columns` (from `results` or `details`), indexed by position."""
        own = [c for c in columns if c in self.results]
        out = self.results.iloc[rows][own]
        if len(own) < len(columns):
            more = [c for c in columns if c not in own]
            out = pd.concat([out, self.details[more].reindex(out.index)], axis=1)
        return out[list(columns)]

    def sample(self, limit: int) -> np.ndarray:
        """Mask of every front row and best row plus the first of the shuffled others, `limit`
        rows in all (every row when there are no more than `limit`); smaller samples nest in
        larger."""
        if len(self.results) <= limit:
            return np.ones(len(self.results), dtype=bool)
        if limit > SAMPLE_MAX:
            raise ValueError(f"samples of at most {SAMPLE_MAX} rows are drawn, not {limit}")
        return self.memo(("sample", limit), self._sample, limit)

    def _sample(self, limit: int) -> np.ndarray:
        mask = self.front.copy()
        mask[list(self.best.values())] = True
        mask[self.shuffled[: max(0, limit - int(mask.sum()))]] = True
        return mask

    def categories(self, column: str) -> list[str]:
        """Values of a design variable present in the table: in the config's order, then the
        others sorted."""
        listed = (self.config.get("space") or {}).get(column)
        listed = [str(v) for v in listed] if isinstance(listed, list) else []
        present = self.memo(("present", column), lambda: {str(v) for v in pd.unique(
            self.frame([column], np.flatnonzero(self.detail))[column])})
        return [v for v in listed if v in present] + sorted(present - set(listed))

    def drawable(self) -> np.ndarray:
        """Mask of the rows with every objective finite."""
        return np.logical_and.reduce([np.isfinite(self.values(o.column))
                                      for o in self.objectives])

    @property
    def detail(self) -> np.ndarray:
        """Rows drawn with hover details."""
        return self.sample(DETAIL_ROWS)

    @property
    def key_columns(self) -> list[str]:
        """Objective columns, then the key metrics present in the table."""
        cols = [o.column for o in self.objectives]
        return cols + [c for c in KEY_METRICS if self.has(c) and c not in cols]

    @property
    def sampled(self) -> bool:
        """Whether the plots show a sample of the non-front rows rather than all of them."""
        return not self.detail.all()

    def negative_metrics(self) -> dict[str, int]:
        """Metric columns holding negative values where none can be (every metric of
        `dse.columns` except dB values), with the number of such rows."""
        out = {}
        for table in (self.results, self.details if self.details is not None else {}):
            for column in table:
                unit = metric_unit(column)
                if unit is not None and unit not in ("dB", "bool"):
                    n = int((pd.to_numeric(table[column], errors="coerce") < 0).sum())
                    if n:
                        out[column] = n
        return out

    def roles(self) -> dict[int, list[str]]:
        """Row -> its distinctions ('knee', 'best <column>'), for the selected front designs."""
        out: dict[int, list[str]] = {}
        if self.knee is not None:
            out[self.knee] = ["knee"]
        for col, row in self.best.items():
            out.setdefault(row, []).append(f"best {col}")
        return out


def _feasible(results: pd.DataFrame, config: dict) -> np.ndarray:
    """The table's `feasible` column, or else the config's constraints applied to it."""
    if "feasible" in results:
        return results["feasible"].fillna(False).astype(bool).to_numpy()
    return feasible(results, constraints_of(config.get("constraints") or []))


def _front(results: pd.DataFrame, objectives: tuple[Objective, ...],
           feasible: np.ndarray) -> np.ndarray:
    """The table's `on_front` column as `dse run` wrote it, or else the non-dominated feasible
    rows."""
    if "on_front" in results:
        return results["on_front"].fillna(False).astype(bool).to_numpy() & feasible
    front = np.zeros(len(results), dtype=bool)
    front[np.flatnonzero(feasible)] = non_dominated(matrix(results[feasible], objectives))
    return front


def _shuffled(front: np.ndarray, best: list[int]) -> np.ndarray:
    """The first SAMPLE_MAX of the rows other than the front and the bests, in a seeded random
    order: a random ordered sample of all rows with those rows dropped (no permutation of
    every row, which took 1.2 s at 10^7 rows)."""
    always = front.copy()
    always[best] = True
    size = min(len(front), SAMPLE_MAX + int(always.sum()))
    candidates = np.random.default_rng(SAMPLE_SEED).choice(len(front), size, replace=False)
    return candidates[~always[candidates]][:SAMPLE_MAX]


def analyse(results: pd.DataFrame, config: dict, run_info: dict | None = None,
            detail_columns: Sequence[str] = ()) -> Sweep:  # fmt: skip
    """The Pareto analysis of a results table for its config's objectives. `detail_columns`:
    columns of the table not in `results` but read later for the drawn rows (`details`)."""
    specs = config.get("objectives") or []
    if not specs:
        raise UserError("the config has no objectives: nothing to draw a Pareto front of")
    objectives = objectives_of(specs)
    if not results.index.equals(pd.RangeIndex(len(results))):
        results = results.reset_index(drop=True)
    if "point" not in results and "point" not in detail_columns:  # a table from elsewhere
        results = results.copy()
        results.insert(0, "point", np.arange(len(results)))
    matrix(results.head(0), objectives)  # names an unknown objective column
    feasible = _feasible(results, config)
    front = _front(results, objectives, feasible)
    rows = np.flatnonzero(front)
    best = {}
    for o in objectives:
        v = o.sign * results[o.column].to_numpy(dtype=float)
        ok = feasible & np.isfinite(v)
        if ok.any():
            best[o.column] = int(np.argmin(np.where(ok, v, np.inf)))
    return Sweep(
        results=results,
        config=config,
        run_info=dict(run_info or {}),
        objectives=objectives,
        variables=tuple(v for v in config.get("space") or {}
                        if v in results or v in detail_columns),
        feasible=feasible,
        front=front,
        knee=int(rows[knee(matrix(results.iloc[rows], objectives))]) if rows.size else None,
        best=best,
        shuffled=_shuffled(front, list(best.values())),
    )
