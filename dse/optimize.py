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

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from pymoo.algorithms.moo.nsga3 import ReferenceDirectionSurvival
from pymoo.core.mixed import MixedVariableGA
from pymoo.core.problem import Problem
from pymoo.core.variable import Choice, Integer
from pymoo.operators.survival.rank_and_crowding import RankAndCrowding
from pymoo.optimize import minimize
from pymoo.util.ref_dirs import get_reference_directions

from dse.pareto import Objective, matrix
from dse.progress import Progress
from dse.space import Space
from dse.store import POINT, ResultStore

Evaluator = Callable[[pd.DataFrame], pd.DataFrame]

#: Objective value pymoo sees for a design whose metric is undefined (NaN): worse than any.
_WORST = 1e300


def feasible(df: pd.DataFrame, constraints: Sequence[dict]) -> np.ndarray:
    """Rows meeting every constraint (min <= column <= max)."""
    ok = np.ones(len(df), dtype=bool)
    for c in constraints:
        col = df[c["column"]].to_numpy(dtype=float)
        if "min" in c:
            ok &= col >= c["min"]
        if "max" in c:
            ok &= col <= c["max"]
    return ok


def violations(df: pd.DataFrame, constraints: Sequence[dict]) -> np.ndarray:
    """pymoo inequality constraints g <= 0, each scaled by its bound's magnitude."""
    cols = []
    for c in constraints:
        col = df[c["column"]].to_numpy(dtype=float)
        for key, sign in (("min", -1.0), ("max", 1.0)):
            if key in c:
                scale = max(abs(c[key]), 1e-30)
                cols.append(np.nan_to_num(sign * (col - c[key]) / scale, nan=_WORST))
    return np.column_stack(cols) if cols else np.zeros((len(df), 0))


def grid_search(
    space: Space,
    evaluate: Evaluator,
    store: ResultStore,
    chunk: int,
    progress: Progress,
    submit: Callable[[Evaluator, list[pd.DataFrame]], object] | None = None,
) -> None:
    """Evaluate every grid point not yet in `store`, chunk by chunk, storing as it goes.

    `submit(evaluate, chunks)`, when given (a Dask executor), yields evaluated chunks in any
    order; otherwise chunks are evaluated in this process."""
    done = store.done()
    progress.update(len(done))
    pending = (space.points(idx) for idx in space.chunks(chunk, skip=done))
    results = submit(evaluate, pending) if submit else map(evaluate, pending)
    for rows in results:
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

    def __init__(self, space: Space, cache: _Cache, objectives, constraints):
        variables = {}
        for v in space.variables:
            if v.is_range:
                variables[v.name] = Integer(bounds=(0, v.size - 1))
            else:
                variables[v.name] = Choice(options=list(range(v.size)))
        n_g = sum(("min" in c) + ("max" in c) for c in constraints)
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


def evolutionary_search(
    space: Space,
    evaluate: Evaluator,
    store: ResultStore,
    objectives: Sequence[Objective],
    constraints: Sequence[dict],
    method: str,
    population: int,
    generations: int,
    seed: int,
    progress: Progress,
) -> None:
    """NSGA-II (rank and crowding) or NSGA-III (reference directions) with pymoo's mixed
    variable operators; deterministic for a given seed. Evaluations are cached by point."""
    cache = _Cache(space, evaluate, store, progress)
    problem = SweepProblem(space, cache, list(objectives), list(constraints))
    if method == "nsga3":
        ref = get_reference_directions("energy", len(objectives), population, seed=seed)
        survival = ReferenceDirectionSurvival(ref)
    else:
        survival = RankAndCrowding()
    algorithm = MixedVariableGA(pop_size=population, survival=survival)
    minimize(problem, algorithm, ("n_gen", generations), seed=seed, verbose=False)
