"""Pareto fronts, hypervolume and knee points of a results table.

Objectives are (column, sense) pairs; maximised columns are negated so everything minimises.
Hypervolume is computed by pymoo on objectives normalised to [0, 1] by the bounds of a stated
reference set (by default the table itself): f' = (f - ideal) / (nadir - ideal), with the
reference point 1.1 in every normalised objective. Fronts compared with each other (what-if,
optimizer vs exhaustive) must share the same bounds: pass them explicitly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dse.errors import unknown

if TYPE_CHECKING:
    import pandas as pd

#: Reference point of the normalised hypervolume (every objective), a common choice (e.g.
#: Ishibuchi et al., "How to specify a reference point in hypervolume calculation", 2018,
#: recommend slightly beyond the nadir).
HV_REFERENCE = 1.1


@dataclass(frozen=True)
class Objective:
    column: str
    sense: str = "min"  # "min" or "max"

    @property
    def sign(self) -> float:
        return -1.0 if self.sense == "max" else 1.0


def matrix(df: pd.DataFrame, objectives: Sequence[Objective]) -> np.ndarray:
    """(rows, objectives) array, every objective to be minimised."""
    for o in objectives:
        if o.column not in df.columns:
            raise unknown("objective column", o.column, df.columns)
    return np.column_stack([o.sign * df[o.column].to_numpy(dtype=float) for o in objectives])


def non_dominated(f: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated rows of `f` (minimisation). Duplicates of a
    non-dominated row are all kept; a row with a NaN or infinite objective is never on the
    front and dominates nothing.

    moocore's dimension-sweep filter (O(n log n) for up to 3 objectives; Kung, Luccio and
    Preparata 1975), which returns only the first front instead of ranking every front."""
    f = np.asarray(f, dtype=float)
    mask = np.zeros(len(f), dtype=bool)
    finite = np.flatnonzero(np.all(np.isfinite(f), axis=1))
    if finite.size:
        import moocore  # imported on first use (it loads pyarrow)

        mask[finite] = moocore.is_nondominated(f[finite], keep_weakly=True)
    return mask


def front(df: pd.DataFrame, objectives: Sequence[Objective]) -> pd.DataFrame:
    """The non-dominated rows of `df` for `objectives`."""
    return df[non_dominated(matrix(df, objectives))]


def bounds(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ideal, nadir) of a set of objective vectors (finite rows only)."""
    f = f[np.all(np.isfinite(f), axis=1)]
    return f.min(axis=0), f.max(axis=0)


def normalise(f: np.ndarray, ideal: np.ndarray, nadir: np.ndarray) -> np.ndarray:
    span = np.where(nadir > ideal, nadir - ideal, 1.0)
    return (f - ideal) / span


def hypervolume(
    f: np.ndarray, ideal: np.ndarray | None = None, nadir: np.ndarray | None = None
) -> float:
    """Normalised hypervolume of the points `f` (minimisation), reference point 1.1^k.

    With no bounds given the points' own ideal and nadir are used."""
    f = f[np.all(np.isfinite(f), axis=1)]
    if not len(f):
        return 0.0
    if ideal is None or nadir is None:
        ideal, nadir = bounds(f)
    z = normalise(f, ideal, nadir)
    z = z[np.all(z < HV_REFERENCE, axis=1)]
    if not len(z):
        return 0.0
    from pymoo.indicators.hv import HV  # pymoo on first use

    return float(HV(ref_point=np.full(f.shape[1], HV_REFERENCE))(z))


def knee(f: np.ndarray) -> int:
    """Index of the knee of a front: the point nearest the ideal point after normalising each
    objective to [0, 1] over the front (a simple, stated choice among knee definitions)."""
    ideal, nadir = bounds(f)
    return int(np.argmin(np.linalg.norm(normalise(f, ideal, nadir), axis=1)))


class RunningFront:
    """The non-dominated set of a stream of result chunks, with the counts a summary needs.

    `update(ids, f, ok)` takes a chunk's point ids, its objective matrix (minimisation) and its
    feasibility mask; rows that are infeasible or have a non-finite objective never enter. The
    state is the current front only (ids and objective vectors), so memory is bounded by the
    front's size, not by the number of points. The final front equals `non_dominated` over all
    feasible finite rows at once, duplicates of a front vector included: a row dominated by a
    later row is dropped when that row arrives, and dominance is transitive.
    """

    def __init__(self, n_objectives: int):
        self.ids = np.zeros(0, dtype=np.int64)
        self.f = np.zeros((0, n_objectives))
        self.evaluated = 0
        self.feasible = 0

    def update(self, ids: np.ndarray, f: np.ndarray, ok: np.ndarray) -> None:
        ids, f = np.asarray(ids, dtype=np.int64), np.asarray(f, dtype=float)
        ok = np.asarray(ok, dtype=bool) & np.all(np.isfinite(f), axis=1)
        self.evaluated += len(ids)
        self.feasible += int(ok.sum())
        if not ok.any():
            return
        cand_ids = np.concatenate([self.ids, ids[ok]])
        cand_f = np.vstack([self.f, f[ok]])
        keep = non_dominated(cand_f)
        self.ids, self.f = cand_ids[keep], cand_f[keep]

    def merge(self, other: RunningFront) -> None:
        """Fold another stream's front and counts into this one (map-reduce)."""
        evaluated, feasible = self.evaluated + other.evaluated, self.feasible + other.feasible
        self.update(other.ids, other.f, np.ones(len(other.ids), dtype=bool))
        self.evaluated, self.feasible = evaluated, feasible

    def best(self) -> np.ndarray:
        """Per objective, the least value over the feasible rows seen (every objective's best
        is attained on the front), NaN before any feasible row."""
        return self.f.min(axis=0) if len(self.f) else np.full(self.f.shape[1], np.nan)
