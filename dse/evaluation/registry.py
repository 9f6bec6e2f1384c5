"""The metric registry: every result column, its unit and meaning, and how it is computed.

`@metric(name, unit, meaning)` registers a function of the evaluated stages (`Stages`) giving
one column; `per_class=True` registers a prefix whose column `<prefix>_<class>` is given per
tensor class of the workload (the function then also receives the class's GEMM indices).
`cost=True` marks a column that is undefined when the unit style cannot run the point's format
pair (the infeasible-point policy: such columns are NaN, error and storage columns stand).

Columns come out in registration order; consecutive per-class prefixes form one block written
class by class (nmse_w_qkv, nmse_a_qkv, nmse_out_qkv, nmse_w_o, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Metric:
    """One registered column (or per-class prefix)."""

    name: str
    unit: str
    meaning: str
    compute: Callable[..., Any]
    per_class: bool = False
    cost: bool = True


REGISTRY: dict[str, Metric] = {}


def metric(name: str, unit: str, meaning: str, *, per_class: bool = False,
           cost: bool = True) -> Callable[[Callable], Callable]:  # fmt: skip
    """Register the decorated function as the column `name` (see the module docstring)."""

    def register(fn: Callable) -> Callable:
        if name in REGISTRY:
            raise ValueError(f"metric {name!r} registered twice")
        REGISTRY[name] = Metric(name, unit, meaning, fn, per_class, cost)
        return fn

    return register


def blocks() -> Iterator[list[Metric]]:
    """The registry in output order: single metrics, and runs of per-class prefixes."""
    run: list[Metric] = []
    for m in REGISTRY.values():
        if m.per_class:
            run.append(m)
            continue
        if run:
            yield run
            run = []
        yield [m]
    if run:
        yield run


def columns(classes: Sequence[str]) -> list[tuple[str, Metric, str | None]]:
    """(column, metric, class or None) in output order, for a workload with `classes`."""
    out: list[tuple[str, Metric, str | None]] = []
    for block in blocks():
        if not block[0].per_class:
            out.append((block[0].name, block[0], None))
            continue
        out += [(f"{m.name}_{c}", m, c) for c in classes for m in block]
    return out
