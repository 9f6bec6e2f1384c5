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

import moocore
import numpy as np
import pandas as pd
from pymoo.indicators.hv import HV

from dse.errors import unknown

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
    return float(HV(ref_point=np.full(f.shape[1], HV_REFERENCE))(z))


def knee(f: np.ndarray) -> int:
    """Index of the knee of a front: the point nearest the ideal point after normalising each
    objective to [0, 1] over the front (a simple, stated choice among knee definitions)."""
    ideal, nadir = bounds(f)
    return int(np.argmin(np.linalg.norm(normalise(f, ideal, nadir), axis=1)))
