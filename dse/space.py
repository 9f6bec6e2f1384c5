"""Design variables and the space they span.

A space entry in a sweep file is either a list (a categorical variable: format names, node
names, or any fixed set of numbers) or a range `{range: [lo, hi], log: bool, integer: bool,
n: points}`. Ranges are continuous for the evolutionary searches; the grid uses `n` points
(linear or log spaced, rounded for integers).

The grid is a mixed-radix enumeration: design point i has per-variable indices
`np.unravel_index(i, sizes)`, so chunks of consecutive indices stream without materialising the
space and a point's index identifies it across runs (the results table's `point` column).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from dse.errors import UserError

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Variable:
    """One design variable: a categorical list of values or a numeric range."""

    name: str
    values: tuple[Any, ...] = ()  # categorical (also the grid of a range)
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False

    @property
    def is_range(self) -> bool:
        return self.low is not None

    @property
    def size(self) -> int:
        return len(self.values)

    def column(self, index: np.ndarray) -> np.ndarray:
        """Values of the grid indices `index` (vectorised)."""
        vals = np.asarray(self.values, dtype=object if self.is_categorical_text else None)
        return vals[index]

    @property
    def is_categorical_text(self) -> bool:
        return any(isinstance(v, str) for v in self.values)


def variable(name: str, spec: Any) -> Variable:
    """A Variable from a (validated) space entry."""
    if isinstance(spec, list):
        for i, v in enumerate(spec):
            if v in spec[:i]:  # 8 and 8.0 are the same design
                raise UserError(f"space.{name}[{i}]: {v!r} is repeated in {spec!r}")
        return Variable(name, tuple(spec))
    lo, hi = spec["range"]
    if not lo < hi:
        raise UserError(f"space.{name}.range: need low < high, got [{lo}, {hi}]")
    log, integer, n = spec.get("log", False), spec.get("integer", False), spec.get("n", 5)
    if integer and max(abs(lo), abs(hi)) > 2**53:  # beyond, float64 grids skip integers
        raise UserError(f"space.{name}.range: an integer range must lie within +-2^53, "
                        f"got [{lo}, {hi}]")
    if log and lo <= 0:
        raise UserError(f"space.{name}.range: a log range needs low > 0, got {lo}")
    grid = np.geomspace(lo, hi, n) if log else np.linspace(lo, hi, n)
    if integer:
        grid = np.unique(np.round(grid).astype(np.int64))
        values = tuple(int(v) for v in grid)
    else:
        values = tuple(float(v) for v in grid)
    return Variable(name, values, float(lo), float(hi), log, integer)


@dataclass(frozen=True)
class Space:
    variables: tuple[Variable, ...]

    @classmethod
    def from_config(cls, space: Mapping[str, Any]) -> Space:
        if not space:
            raise UserError("space: is empty; give at least one design variable")
        return cls(tuple(variable(k, v) for k, v in space.items()))

    @property
    def names(self) -> list[str]:
        return [v.name for v in self.variables]

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(v.size for v in self.variables)

    @property
    def size(self) -> int:
        """Number of grid points (Python int: no overflow for large spaces)."""
        n = 1
        for s in self.sizes:
            n *= s
        return n

    def points(self, index: np.ndarray) -> pd.DataFrame:
        """Design values of grid points `index` (one row each, plus the `point` column)."""
        index = np.asarray(index, dtype=np.int64)
        digits = np.unravel_index(index, self.sizes) if index.size else [index] * len(self.sizes)
        cols = {"point": index}
        for var, d in zip(self.variables, digits):
            cols[var.name] = var.column(d)
        import pandas as pd  # on first use: pandas loads pyarrow (import dse.config stays light)

        return pd.DataFrame(cols)

    def chunks(
        self, chunk: int, skip: np.ndarray | set[int] | frozenset = frozenset()
    ) -> Iterator[np.ndarray]:
        """Consecutive grid indices in chunks of at most `chunk`, leaving out `skip` (point
        indices; each chunk compares with only the skipped indices in its range)."""
        if isinstance(skip, (set, frozenset)):
            skip = np.fromiter(skip, dtype=np.int64, count=len(skip))
        skip = np.unique(np.asarray(skip, dtype=np.int64))
        for start in range(0, self.size, chunk):
            end = min(start + chunk, self.size)
            idx = np.arange(start, end, dtype=np.int64)
            lo, hi = np.searchsorted(skip, [start, end])
            if hi > lo:
                idx = idx[~np.isin(idx, skip[lo:hi])]
            if idx.size:
                yield idx

    def index_of(self, digits: np.ndarray) -> np.ndarray:
        """Grid indices of per-variable index rows `digits` (shape (n, variables))."""
        return np.ravel_multi_index(tuple(np.asarray(digits).T), self.sizes)
