"""Stage 4: MAC unit costs per (weight format, activation format, style, lanes)."""

from __future__ import annotations

from dataclasses import astuple

import numpy as np
import pandas as pd

from dse.errors import ModelLimitError
from hwmodels.technology import Technology
from hwmodels.units import UnitCosts, mac_unit

#: The costs of a pair the unit style cannot run: the point is infeasible.
INFEASIBLE = UnitCosts(*(np.nan,) * 8)


class UnitStage:
    """`UnitCosts` of a format pair on a unit, as a tuple of its fields, cached for the run."""

    def __init__(self, tech: Technology):
        self.tech = tech
        self._cache: dict[tuple, tuple[float, ...]] = {}

    def __call__(self, w: str, a: str, style: str, lanes: object, k: int) -> tuple[float, ...]:
        key = (w, a, style, lanes, k)
        if key not in self._cache:
            try:
                n = None if pd.isna(lanes) else int(lanes)
                costs = mac_unit(w, a, style, n, k, self.tech).costs()
            except ModelLimitError:
                costs = INFEASIBLE
            self._cache[key] = astuple(costs)
        return self._cache[key]
