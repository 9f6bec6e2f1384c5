"""Grid sweeps on several local processes or a Dask cluster, as map-reduce.

Each task evaluates one chunk of grid points, writes that chunk's Parquet part into the store's
`chunks/` directory itself (`dse.store.write_chunk`: the same unique names and atomic writes as
an in-process run, so an interrupted run resumes the same way) and returns only a
`ChunkSummary`: the chunk's point ids and its local `RunningFront` (the non-dominated feasible
rows' ids and objective vectors, the feasible count; per-objective bests are the front's
minima). The client folds the summaries into one `RunningFront` (`RunningFront.merge`); it never
receives a chunk's table, so its memory is bounded by the front and a window of summaries.

The chunks directory must be one the workers can write: any local pool, and a Dask cluster
whose workers share the output directory's file system.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dse.errors import UserError
from dse.evaluation import Evaluator
from dse.pareto import Objective, RunningFront, matrix
from dse.space import Space
from dse.spec import Constraint, usable
from dse.store import POINT, write_chunk

#: Chunks kept in flight per worker: one being evaluated, one queued (bounds memory).
IN_FLIGHT_PER_WORKER = 2
#: Grids smaller than this run in one process: forking a pool costs ~0.3 s (measured on the
#: 2-core test machine, 2026-12-03), which at ~6 us per point is about 50,000 points; the
#: threshold leaves a margin (an approximation).
POOL_MIN_POINTS = 200_000


@dataclass
class ChunkSummary:
    """What a task returns instead of its rows: the point ids it evaluated and stored, and
    its chunk's local front and counts."""

    points: np.ndarray
    front: RunningFront


@dataclass(frozen=True)
class ChunkJob:
    """Evaluate grid points, store them as one chunk, summarise them (picklable: sent once
    to each worker)."""

    space: Space
    evaluate: Evaluator
    chunks: Path
    objectives: Sequence[Objective]
    constraints: Sequence[Constraint]

    def __call__(self, index: np.ndarray) -> ChunkSummary:
        rows = self.evaluate(self.space.points(index))
        write_chunk(self.chunks, rows)
        ids = rows[POINT].to_numpy()
        running = RunningFront(len(self.objectives))
        running.update(ids, matrix(rows, self.objectives),
                       usable(rows, self.objectives, self.constraints))  # fmt: skip
        return ChunkSummary(ids, running)


def default_workers(points: int) -> int:
    """Local processes for a grid of `points`: up to 2 of the usable cores for grids large
    enough to pay for the pool's start, else 1 (in process)."""
    return min(len(os.sched_getaffinity(0)), 2) if points >= POOL_MIN_POINTS else 1


Submit = Callable[[np.ndarray], object]  # returns a future with .result() -> ChunkSummary


@contextmanager
def process_pool(job: ChunkJob, workers: int) -> Iterator[tuple[Submit, int]]:
    """(submit, window) on a pool of `workers` local processes."""
    with ProcessPoolExecutor(workers, initializer=_install, initargs=(job,)) as pool:
        yield (lambda index: pool.submit(_run_installed, index)), IN_FLIGHT_PER_WORKER * workers


@contextmanager
def dask_cluster(job: ChunkJob, address: str) -> Iterator[tuple[Submit, int]]:
    """(submit, window) on the Dask scheduler at `address` (`local` starts a LocalCluster of
    2 single-threaded worker processes)."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise UserError(
            "the Dask executor needs dask.distributed: pip install 'dask[distributed]'"
        ) from None
    cluster_cm = (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        if address == "local"
        else nullcontext(address)
    )
    with cluster_cm as cluster, Client(cluster) as client:
        remote = client.scatter(job, broadcast=True)
        n = max(1, len(client.scheduler_info()["workers"]))
        yield (
            (lambda index: client.submit(_run, remote, index, pure=False)),
            (IN_FLIGHT_PER_WORKER * n),
        )


def in_order(submit: Submit, tasks: Iterable[np.ndarray], window: int) -> Iterator[ChunkSummary]:
    """Results of `submit(task)` in task order, at most `window` tasks in flight."""
    queue: deque = deque()
    for task in tasks:
        queue.append(submit(task))
        if len(queue) >= window:
            yield queue.popleft().result()
    while queue:
        yield queue.popleft().result()


def run_grid(ctx, executor) -> RunningFront | None:
    """Evaluate every grid point of `ctx` (a `dse.optimize.SearchContext`) not yet stored,
    on `executor(job)` (`process_pool` or `dask_cluster`, partially applied); returns the
    merged front and counts when they cover every stored point (nothing was resumed), else
    None."""
    job = ChunkJob(ctx.space, ctx.evaluate, ctx.store.chunks, ctx.objectives, ctx.constraints)
    done = ctx.store.done()
    ctx.progress.resumed(len(done))
    merged = RunningFront(len(ctx.objectives))
    with executor(job) as (submit, window):
        for summary in in_order(submit, ctx.space.chunks(ctx.search.chunk, skip=done), window):
            merged.merge(summary.front)
            ctx.progress.update(len(summary.points))
    return None if len(done) else merged


def executor_for(scheduler: str | None, workers: int | None, points: int):
    """The executor of a grid run: Dask when `scheduler` is set, else a process pool of
    `workers` (default `default_workers(points)`), else None (in process)."""
    if scheduler:
        return lambda job: dask_cluster(job, scheduler)
    n = default_workers(points) if workers is None else workers
    if n < 1:
        raise UserError(f"workers: {n} is out of range; expected 1 or more")
    return (lambda job: process_pool(job, n)) if n > 1 else None


_JOB: ChunkJob | None = None  # the pool worker's job, set once by its initializer


def _install(job: ChunkJob) -> None:
    global _JOB
    _JOB = job


def _run_installed(index: np.ndarray) -> ChunkSummary:
    return _JOB(index)


def _run(job: ChunkJob, index: np.ndarray) -> ChunkSummary:
    return job(index)
