"""A sweep as one frozen, typed record: `SweepSpec` (what `dse.config.resolve` validates).

The sections mirror the sweep file (workload, hardware, space, objectives, constraints,
search, output); every default is filled in and every value has been checked once, so the
API, the evaluation, the strategies and the reports read attributes instead of re-parsing a
dict. Mappings inside are read-only views. `to_dict()` gives back the resolved plain dict (the
form hashed into `run.json` and written to `config.yaml`), `from_dict` reads it.

What a spec derives from its sections is derived once per spec and kept: the base hardware
(`base_hardware`, `base`) and the design space (`grid`). Objectives and constraints are parsed
here only (`objectives_of`, `constraints_of`), and `feasible` is the one test of constraints.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from dse.hardware import base_hardware
from dse.pareto import Objective, matrix
from dse.space import Space
from hwmodels.presets import HardwareSpec

if TYPE_CHECKING:
    import pandas as pd

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _frozen(value: Any) -> Any:
    """A read-only deep view of plain YAML data (mappings -> MappingProxyType, lists kept)."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_frozen(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    """The plain dict/list form of `_frozen` data."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class WorkloadSpec:
    """The model and the inference step evaluated (`workloads`): a preset id or config.json
    path, decode or prefill, batch, tokens (context for decode, sequence for prefill)."""

    model: str
    phase: str = "decode"
    batch: int = 1
    tokens: int = 2048
    fused_qkv: bool = False
    stats: Mapping[str, Any] | None = None
    profile: str | None = None
    sensitivity: Mapping[str, float] | None = None


@dataclass(frozen=True)
class Constraint:
    """Bounds on a result column; None is unbounded on that side."""

    column: str
    min: float | None = None
    max: float | None = None

    def met(self, values: np.ndarray) -> np.ndarray:
        """Which of `values` lie within the bounds (NaN never does)."""
        ok = np.ones(np.shape(values), dtype=bool)
        if self.min is not None:
            ok &= values >= self.min
        if self.max is not None:
            ok &= values <= self.max
        return ok


def objectives_of(items: Iterable[str | Mapping[str, Any]]) -> tuple[Objective, ...]:
    """Objectives as a sweep file writes them: a column name (minimised) or {column, sense}."""
    return tuple(
        Objective(o, "min") if isinstance(o, str) else Objective(o["column"], o.get("sense", "min"))
        for o in items
    )


def constraints_of(items: Iterable[Mapping[str, Any]]) -> tuple[Constraint, ...]:
    """Constraints as a sweep file writes them: {column, min and/or max}."""
    return tuple(Constraint(c["column"], c.get("min"), c.get("max")) for c in items)


def feasible(table: pd.DataFrame, constraints: Sequence[Constraint]) -> np.ndarray:
    """Rows of `table` meeting every constraint (a value that is not a number meets none)."""
    import pandas as pd  # on first use: pandas loads pyarrow (import dse.config stays light)

    ok = np.ones(len(table), dtype=bool)
    for c in constraints:
        ok &= c.met(pd.to_numeric(table[c.column], errors="coerce").to_numpy(dtype=float))
    return ok


def usable(
    table: pd.DataFrame, objectives: Sequence[Objective], constraints: Sequence[Constraint]
) -> np.ndarray:
    """Rows meeting the constraints with every objective finite (the `feasible` column)."""
    return feasible(table, constraints) & np.isfinite(matrix(table, objectives)).all(axis=1)


def _bounds(c: Constraint) -> dict[str, Any]:
    pairs = (("column", c.column), ("min", c.min), ("max", c.max))
    return {k: v for k, v in pairs if v is not None}


@dataclass(frozen=True)
class SearchSpec:
    """The search strategy and its settings (`dse.optimize.strategies`)."""

    method: str = "grid"
    options: Mapping[str, Any] | None = None
    population: int = 64
    generations: int = 40
    seed: int = 0
    chunk: int = 50_000
    max_points: int | None = None
    executor: str = "inprocess"
    scheduler: str | None = None


@dataclass(frozen=True)
class OutputSpec:
    """Where results go: the directory, whether to write report.html, and results.csv (True,
    False, "auto", or None when the file did not say: auto)."""

    dir: str
    report: bool = True
    csv: bool | str | None = None


@dataclass(frozen=True)
class SweepSpec:
    """A whole resolved sweep. `hardware` is the sweep file's `hardware:` section as given
    (a preset name and fixed keys); `space` maps design variables to a list of values or a
    `{range: [lo, hi, step]}` mapping, in the file's order (the order fixes point indices)."""

    name: str
    workload: WorkloadSpec
    objectives: tuple[Objective, ...]
    output: OutputSpec
    description: str | None = None
    hardware: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    space: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    constraints: tuple[Constraint, ...] = ()
    search: SearchSpec = field(default_factory=SearchSpec)
    figures: tuple[Mapping[str, Any], ...] = ()  # the report's `figures:` entries

    @classmethod
    def from_dict(cls, cfg: Mapping[str, Any]) -> SweepSpec:
        """From a resolved config dict (defaults filled in, as `dse.config.resolve` makes)."""
        w = dict(cfg["workload"])
        return cls(
            name=cfg["name"],
            description=cfg.get("description"),
            workload=WorkloadSpec(**{k: _frozen(v) for k, v in w.items()}),
            hardware=_frozen(cfg.get("hardware") or {}),
            space=_frozen(cfg["space"]),
            objectives=objectives_of(cfg["objectives"]),
            constraints=constraints_of(cfg.get("constraints") or ()),
            search=SearchSpec(**{k: _frozen(v) for k, v in cfg["search"].items()}),
            output=OutputSpec(**cfg["output"]),
            figures=tuple(_frozen(f) for f in cfg.get("figures") or ()),
        )

    @cached_property
    def _hardware(self) -> tuple[Mapping[str, Any], HardwareSpec]:
        merged, spec = base_hardware(self.hardware)
        return MappingProxyType(merged), spec

    @property
    def base_hardware(self) -> Mapping[str, Any]:
        """The hardware preset's values overlaid with the `hardware:` section's own (validated
        once per spec)."""
        return self._hardware[0]

    @property
    def base(self) -> HardwareSpec:
        """`base_hardware` as the hardware model's record."""
        return self._hardware[1]

    @cached_property
    def grid(self) -> Space:
        """The design space (every variable's grid values, in the file's order)."""
        return Space.from_config(self.space)

    def with_output_dir(self, directory: str) -> SweepSpec:
        """The same sweep writing to another directory."""
        return replace(self, output=replace(self.output, dir=str(directory)))

    def to_dict(self) -> dict[str, Any]:
        """The resolved plain dict (keys as in the sweep file; unset optional keys omitted)."""
        w = self.workload
        workload = {"model": w.model, "phase": w.phase, "batch": w.batch, "tokens": w.tokens,
                    "fused_qkv": w.fused_qkv}  # fmt: skip
        for key in ("stats", "profile", "sensitivity"):
            if getattr(w, key) is not None:
                workload[key] = _plain(getattr(w, key))
        s = self.search
        search = {k: getattr(s, k) for k in ("method", "population", "generations", "seed",
                                             "chunk", "executor")}  # fmt: skip
        for key in ("options", "max_points", "scheduler"):
            if getattr(s, key) is not None:
                search[key] = _plain(getattr(s, key))
        output: dict[str, Any] = {"dir": self.output.dir, "report": self.output.report}
        if self.output.csv is not None:
            output["csv"] = self.output.csv
        out: dict[str, Any] = {"name": self.name}
        if self.description is not None:
            out["description"] = self.description
        out.update(
            workload=workload,
            hardware=_plain(self.hardware),
            space=_plain(self.space),
            objectives=[{"column": o.column, "sense": o.sense} for o in self.objectives],
            constraints=[_bounds(c) for c in self.constraints],
            search=search,
            output=output,
        )
        if self.figures:
            out["figures"] = [_plain(f) for f in self.figures]
        return out
