"""Shared by the workload tests: the layers each GEMM name of a step stands for."""

from __future__ import annotations

from collections.abc import Sequence

from workloads import layer_shares
from workloads.gemms import Gemm


def layers_by_name(gemms: Sequence[Gemm], layers: int) -> dict[str, float]:
    """`layer_shares` summed over each name's entries (a name spans the layers it runs on)."""
    spans: dict[str, float] = {}
    for g, share in zip(gemms, layer_shares(gemms, layers)):
        spans[g.name] = spans.get(g.name, 0.0) + share
    return spans
