"""The final results files of a sweep, written from its stored chunks without holding the table.

`write_results` reads the chunks of a `ResultStore` twice, a group of overlapping chunks at a
time (chunks whose point ranges overlap, so that duplicated points meet; a grid's chunks are
each their own group): first the objective and constraint columns, to count feasible rows and
keep a `RunningFront` and per-column bests; then every column, to mark `feasible` and
`on_front` (membership in the final front's point ids) and append the group, in point order, to
`results.parquet` (a `ParquetWriter`) and, when asked or small enough, `results.csv`.

Peak memory is one group of chunks plus the front, independent of the number of points. The
rows written equal `dse.api.mark(store.load(), cfg)`: duplicated points keep their first row
(chunk files in name order, rows in file order), rows are in point order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from dse.files import write_atomic
from dse.pareto import Objective, RunningFront, matrix
from dse.progress import Progress
from dse.spec import Constraint, usable
from dse.store import POINT, ResultStore, parquet_options

#: Rows up to which `output.csv: auto` writes results.csv (about 1 GB of CSV for the
#: Llama-2-70B benchmark grid: 1,061 MB at 10^6 points, measured before this module).
CSV_AUTO_MAX_ROWS = 1_000_000


@dataclass
class Written:
    """What `write_results` wrote and found: counts, the front's rows, per-objective bests
    (the best value over feasible rows, NaN when none) and, per constraint column, the best
    value reached over all rows (for the no-feasible-design message)."""

    parquet: Path
    csv: Path | None
    rows: int = 0
    feasible: int = 0
    front: pd.DataFrame = field(default_factory=pd.DataFrame)
    bests: dict[str, float] = field(default_factory=dict)
    closest: dict[str, float] = field(default_factory=dict)


def _groups(store: ResultStore) -> tuple[list[list[tuple[int, Path]]], int]:
    """Chunk files (with their name-order rank) in groups of overlapping point ranges, the
    groups in point order, and the number of stored rows (duplicates included); damaged
    chunks are moved aside by the store's reader."""
    spans, stored = [], 0
    for rank, path in enumerate(store._chunk_files()):
        t = store._read(path, [POINT])
        if t is not None and t.num_rows:
            pts = t[POINT].to_numpy()
            stored += len(pts)
            spans.append((int(pts.min()), int(pts.max()), rank, path))
    spans.sort()
    groups: list[list[tuple[int, Path]]] = []
    high = None
    for lo, hi, rank, path in spans:
        if high is None or lo > high:
            groups.append([])
            high = hi
        high = max(high, hi)
        groups[-1].append((rank, path))
    return groups, stored


def _tables(store: ResultStore, groups, columns: list[str] | None) -> Iterator[pa.Table]:
    """Each group's rows as one Arrow table, duplicates dropped (keep-first in chunk-name
    order), point order; a group that is one sorted chunk is passed through untouched."""
    for group in groups:
        tables = [store._read(path, columns) for _, path in sorted(group)]
        tables = [t for t in tables if t is not None]
        if not tables:
            continue
        table = pa.concat_tables(tables, promote_options="default")
        points = table[POINT].to_numpy()
        order = np.argsort(points, kind="stable")
        first = np.ones(len(order), dtype=bool)
        first[1:] = points[order[1:]] != points[order[:-1]]
        keep = order[first]
        if len(keep) != len(points) or (keep != np.arange(len(points))).any():
            table = table.take(keep)
        yield table


def _prefetched(items: Iterator[pa.Table]) -> Iterator[pa.Table]:
    """`items`, the next one read on another thread while the caller works on the current one
    (Parquet reads release the GIL, so reading overlaps encoding the file being written)."""
    with ThreadPoolExecutor(1) as pool:
        ahead = pool.submit(next, items, None)
        while (item := ahead.result()) is not None:
            ahead = pool.submit(next, items, None)
            yield item


def _scan_columns(objectives: Sequence[Objective], constraints) -> list[str]:
    """The columns deciding feasibility and the front."""
    return list(dict.fromkeys([POINT] + [o.column for o in objectives]
                              + [c.column for c in constraints]))  # fmt: skip


def _scan(store, groups, objectives, constraints, progress: Progress) -> tuple[RunningFront, dict]:
    """The front over feasible rows, and per constraint column the best value reached."""
    cols = _scan_columns(objectives, constraints)
    running = RunningFront(len(objectives))
    closest: dict[str, float] = {}
    for df in (t.to_pandas() for t in _tables(store, groups, cols)):
        running.update(
            df[POINT].to_numpy(), matrix(df, objectives), usable(df, objectives, constraints)
        )
        for c in constraints:
            col = df[c.column]
            best = col.max() if c.min is not None else col.min()
            old = closest.get(c.column, np.nan)
            pick = np.fmax if c.min is not None else np.fmin
            closest[c.column] = float(pick(old, best))
        progress.update(len(df))
    return running, closest


def write_results(
    store: ResultStore,
    objectives: Sequence[Objective],
    constraints: Sequence[Constraint],
    csv: bool | str = "auto",
    progress: Callable[[str, int], Progress] | None = None,
    front: RunningFront | None = None,
) -> Written:
    """Write `results.parquet` (and `results.csv` when `csv` is True, or "auto" and the table
    has at most `CSV_AUTO_MAX_ROWS` rows) from the store's chunks; see the module docstring.
    `progress(label, total)` makes the progress bar of each phase. `front`: the running front
    of every stored row, when the search already has it (a fresh grid on worker processes);
    the first pass is then skipped unless no row is feasible (the message then needs the
    constraint columns' best values)."""
    progress = progress or (lambda label, total: Progress(total, label, quiet=True))
    groups, stored = _groups(store)
    if front is not None and front.evaluated == stored and (front.feasible or not constraints):
        running, closest = front, {}
    else:
        bar = progress("rows scanned for the front", stored)
        running, closest = _scan(store, groups, objectives, constraints, bar)
        bar.close()
    rows = running.evaluated
    want_csv = csv is True or (csv == "auto" and rows <= CSV_AUTO_MAX_ROWS)
    out = Written(store.layout.results, store.layout.csv if want_csv else None,
                  rows, running.feasible, closest=closest)  # fmt: skip
    out.bests = {o.column: o.sign * float(b) for o, b in zip(objectives, running.best())}
    front_ids = np.sort(running.ids)
    scan_cols = _scan_columns(objectives, constraints)
    fronts: list[pd.DataFrame] = []

    def tables() -> Iterator[pa.Table]:
        bar = progress("rows written", rows)
        for table in _prefetched(_tables(store, groups, None)):
            df = table.select(scan_cols).to_pandas()
            on_front = np.isin(df[POINT].to_numpy(), front_ids)
            table = table.append_column("feasible", pa.array(usable(df, objectives, constraints)))
            table = table.append_column("on_front", pa.array(on_front))
            fronts.append(table.filter(on_front).to_pandas())
            yield table
            bar.update(table.num_rows)
        bar.close()

    def write(parquet: Path, csv_path: Path | None) -> None:
        writer = csv_writer = None
        try:
            for table in tables():
                if writer is None:
                    writer = pq.ParquetWriter(parquet, table.schema,
                                              **parquet_options(table.schema))
                    if csv_path is not None:
                        csv_writer = pa_csv.CSVWriter(csv_path, table.schema)
                table = table.cast(writer.schema)
                writer.write_table(table)
                if csv_writer is not None:
                    csv_writer.write_table(table)
        finally:
            for w in (writer, csv_writer):
                if w is not None:
                    w.close()
        if writer is None:  # no rows: the files of an empty table
            empty = pa.table({})
            pq.write_table(empty, parquet)
            if csv_path is not None:
                pa_csv.write_csv(empty, csv_path)

    if out.csv is None:
        store.layout.csv.unlink(missing_ok=True)  # a stale table must not be read
        write_atomic(out.parquet, lambda p: write(p, None))
    else:
        write_atomic(out.csv, lambda c: write_atomic(out.parquet, lambda p: write(p, c)))
    out.front = pd.concat(fronts, ignore_index=True) if fronts else pd.DataFrame()
    return out
