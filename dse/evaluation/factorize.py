"""Distinct values and rows of design-point columns, as integer codes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def factorize(col: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes, distinct values) of one column, NaN/None kept as a value."""
    c, u = pd.factorize(np.asarray(col, dtype=object), use_na_sentinel=False)
    return c.astype(np.int64), np.asarray(u, dtype=object)


def factorize_rows(columns: Sequence) -> tuple[np.ndarray, list[tuple]]:
    """(code per row, distinct rows) of several aligned columns, each given as values or as
    an already factorized (codes, distinct values) pair; the codes combine in mixed radix
    (much faster than a pandas MultiIndex on object columns)."""
    codes, uniques = [], []
    for col in columns:
        c, u = col if isinstance(col, tuple) else factorize(col)
        codes.append(c)
        uniques.append(u)
    sizes = [max(1, len(u)) for u in uniques]
    combined = np.ravel_multi_index(codes, sizes) if codes else np.zeros(0, dtype=np.int64)
    distinct, inverse = np.unique(combined, return_inverse=True)
    digits = np.unravel_index(distinct, sizes)
    rows = [tuple(u[d[i]] for u, d in zip(uniques, digits)) for i in range(distinct.size)]
    return inverse.reshape(-1), rows
