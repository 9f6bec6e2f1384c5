"""Searches over a design space: the exhaustive grid and pymoo's NSGA-II / NSGA-III.

Problem, algorithm and termination stay separate as in pymoo: `SweepProblem` wraps the space,
an evaluator and the objectives/constraints; `evolutionary_search` picks the algorithm and a
generation budget. Every search runs on the same discrete grid (categorical lists as given,
ranges at their `n` grid points), so a design point has one index everywhere: results are
cached and resumed by it, and an evolutionary front can be compared with the exhaustive one.

An evaluator is a callable: a DataFrame of design points (with the `point` column) in, the same
rows with metric columns out, evaluated together (vectorised), never one process per point.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from pymoo.algorithms.moo.nsga3 import ReferenceDirectionSurvival
from pymoo.core.mixed import MixedVariableGA
from pymoo.core.problem import Problem
from pymoo.core.variable import Choice, Integer
from pymoo.operators.survival.rank_and_crowding import RankAndCrowding
from pymoo.optimize import minimize
from pymoo.util.ref_dirs import get_reference_directions

from dse.pareto import Objective, RunningFront, matrix
from dse.progress import Progress
from dse.schema import Node
from dse.space import Space
from dse.spec import Constraint, SearchSpec, SweepSpec
from dse.store import POINT, ResultStore

if TYPE_CHECKING:
    from dse.evaluation import EvalContext, Evaluator

#: Objective value pymoo sees for a design whose metric is undefined (NaN): worse than any.
_WORST = 1e300


def violations(df: pd.DataFrame, constraints: Sequence[Constraint]) -> np.ndarray:
    """pymoo inequality constraints g <= 0, each scaled by its bound's magnitude."""
    cols = []
    for c in constraints:
        col = df[c.column].to_numpy(dtype=float)
        for bound, sign in ((c.min, -1.0), (c.max, 1.0)):
            if bound is not None:
                scale = max(abs(bound), 1e-30)
                cols.append(np.nan_to_num(sign * (col - bound) / scale, nan=_WORST))
    return np.column_stack(cols) if cols else np.zeros((len(df), 0))


def grid_search(
    space: Space,
    evaluate: Evaluator,
    store: ResultStore,
    chunk: int,
    progress: Progress,
) -> None:
    """Evaluate every grid point not yet in `store`, chunk by chunk in this process, storing
    as it goes (`dse.distributed.run_grid` does the same on several processes or Dask)."""
    done = store.done()
    progress.resumed(len(done))
    pending = (space.points(idx) for idx in space.chunks(chunk, skip=done))
    for rows in map(evaluate, pending):
        store.append(rows)
        progress.update(len(rows))


class _Cache:
    """Evaluated rows by point index: the store's rows, then what this run adds."""

    def __init__(self, space: Space, evaluate: Evaluator, store: ResultStore, progress):
        self.space, self.evaluate, self.store, self.progress = space, evaluate, store, progress
        self.rows = store.load()
        if not self.rows.empty:
            self.rows = self.rows.set_index(POINT, drop=False)

    def get(self, index: np.ndarray) -> pd.DataFrame:
        index = np.asarray(index, dtype=np.int64)
        known = self.rows.index if not self.rows.empty else pd.Index([])
        new = np.unique(index[~np.isin(index, known)])
        if new.size:
            rows = self.evaluate(self.space.points(new))
            self.store.append(rows)
            self.progress.update(len(rows))
            rows = rows.set_index(POINT, drop=False)
            self.rows = rows if self.rows.empty else pd.concat([self.rows, rows])
        return self.rows.loc[index]


class SweepProblem(Problem):
    """The sweep as a pymoo problem over per-variable grid indices (whole population per
    call): categorical variables are pymoo `Choice`s, ranges ordered `Integer` indices."""

    def __init__(
        self,
        space: Space,
        cache: _Cache,
        objectives: Sequence[Objective],
        constraints: Sequence[Constraint],
    ):
        variables = {}
        for v in space.variables:
            if v.is_range:
                variables[v.name] = Integer(bounds=(0, v.size - 1))
            else:
                variables[v.name] = Choice(options=list(range(v.size)))
        n_g = sum((c.min is not None) + (c.max is not None) for c in constraints)
        super().__init__(vars=variables, n_obj=len(objectives), n_ieq_constr=n_g)
        self.space, self.cache = space, cache
        self.objectives, self.constraints = objectives, constraints

    def _evaluate(self, X, out, *args, **kwargs):
        digits = pd.DataFrame(list(X))[self.space.names].to_numpy(dtype=np.int64)
        rows = self.cache.get(self.space.index_of(digits))
        f = matrix(rows, self.objectives)
        out["F"] = np.nan_to_num(f, nan=_WORST, posinf=_WORST)
        if self.constraints:
            out["G"] = violations(rows, self.constraints)


@dataclass
class SearchContext:
    """Everything a search strategy gets: the sweep (its space, objectives, constraints and
    `search:` section, whose `options` hold strategy-specific settings), the evaluator, where
    results go and the progress bar. `traces` collects the files a strategy writes
    (`dse.strategies._common.write_trace`)."""

    spec: SweepSpec
    evaluate: Evaluator
    store: ResultStore
    progress: Progress
    executor: Callable | None = None  # grid chunks on other processes (`dse.distributed`)
    traces: list[Path] = field(default_factory=list)

    @property
    def space(self) -> Space:
        return self.spec.grid

    @property
    def objectives(self) -> tuple[Objective, ...]:
        return self.spec.objectives

    @property
    def constraints(self) -> tuple[Constraint, ...]:
        return self.spec.constraints

    @property
    def search(self) -> SearchSpec:
        return self.spec.search

    @property
    def context(self) -> EvalContext:
        """The evaluation context: the workload's GEMMs, tensor statistics, error weights."""
        return self.evaluate.context

    def cache(self) -> _Cache:
        """Evaluate by point index, reusing stored rows (resume) and never evaluating twice."""
        return _Cache(self.space, self.evaluate, self.store, self.progress)


@dataclass(frozen=True)
class SearchResult:
    """What a search did, as pymoo's `minimize` returns a `Result`: the method, how many
    points it evaluated in this run (resumed rows not counted) and the trace files it wrote."""

    method: str
    evaluated: int
    traces: tuple[Path, ...] = ()
    front: RunningFront | None = None  # of every stored point, when the search saw them all


@dataclass(frozen=True)
class Strategy:
    """A search strategy: `run(ctx)` evaluates the points it chooses through `ctx` and
    returns a `SearchResult`; `budget(search, space)` is the number of evaluations to expect
    (for the progress bar)."""

    name: str
    search: Callable[[SearchContext], RunningFront | None]
    budget: Callable[[SearchSpec, Space], int]
    doc: str = ""
    options: Node | None = None  # schema of `search.options`, checked with the config

    def run(self, ctx: SearchContext) -> SearchResult:
        """Search through `ctx`; the result counts what the progress bar counted."""
        before = ctx.progress.done
        front = self.search(ctx)
        return SearchResult(self.name, ctx.progress.done - before, tuple(ctx.traces), front)


#: Search strategies by the name used in `search.method`; modules in `dse.strategies` add
#: theirs with `register`.
STRATEGIES: dict[str, Strategy] = {}


def register(
    name: str,
    budget: Callable[[SearchSpec, Space], int],
    doc: str = "",
    options: Node | None = None,
):
    """Decorator registering a search strategy under `name` (with the schema of its
    `search.options`, validated before any work)."""

    def wrap(fn: Callable[[SearchContext], RunningFront | None]
             ) -> Callable[[SearchContext], RunningFront | None]:  # fmt: skip
        STRATEGIES[name] = Strategy(name, fn, budget, doc, options)
        return fn

    return wrap


def _whole_grid(search: SearchSpec, space: Space) -> int:
    return space.size


def _generations(search: SearchSpec, space: Space) -> int:
    return min(space.size, search.population * (search.generations + 1))


@register("grid", _whole_grid, "every grid point, streamed in chunks (in process or on Dask)")
def _grid(ctx: SearchContext) -> RunningFront | None:
    if ctx.executor is not None:
        from dse.distributed import run_grid

        return run_grid(ctx, ctx.executor)
    grid_search(ctx.space, ctx.evaluate, ctx.store, ctx.search.chunk, ctx.progress)
    return None


def _evolutionary(ctx: SearchContext, survival) -> None:
    """pymoo's mixed-variable GA with the given survival; deterministic for a given seed."""
    s = ctx.search
    problem = SweepProblem(ctx.space, ctx.cache(), ctx.objectives, ctx.constraints)
    algorithm = MixedVariableGA(pop_size=s.population, survival=survival)
    minimize(problem, algorithm, ("n_gen", s.generations), seed=s.seed, verbose=False)


@register("nsga2", _generations, "NSGA-II: non-dominated rank and crowding distance")
def _nsga2(ctx: SearchContext) -> None:
    _evolutionary(ctx, RankAndCrowding())


@register("nsga3", _generations, "NSGA-III: reference directions (Riesz energy)")
def _nsga3(ctx: SearchContext) -> None:
    s = ctx.search
    ref = get_reference_directions("energy", len(ctx.objectives), s.population, seed=s.seed)
    _evolutionary(ctx, ReferenceDirectionSurvival(ref))


def strategies() -> dict[str, Strategy]:
    """Every registered strategy, including those of the `dse.strategies` modules."""
    import dse.strategies

    for info in pkgutil.iter_modules(dse.strategies.__path__):
        importlib.import_module(f"dse.strategies.{info.name}")
    return STRATEGIES
