"""Memories: on-chip SRAM and register files, off-chip DRAM/HBM/LPDDR presets.

SRAM access energy per bit (pJ) at 45 nm is c * (capacity / 8 KiB)^p / 64, with c and p fitted
(least squares in log space) to Horowitz's 64-bit reads of 8 KB, 32 KB and 1 MB SRAMs, and
linear in the access width (so constant per bit), the CACTI-style form used by public
estimators (second-hand). Their rule of thumb p = 0.78 (`CACTI_EXPONENT`) does not fit
Horowitz's points: it would put the 1 MB read at 4.4x the published 100 pJ, so the exponent is
fitted (about 0.47) unless the caller passes one. Writes cost what reads cost (assumed). At
other nodes the energy is multiplied by the node's SRAM energy factor (a `Technology` input,
by default assumed to follow logic energy). SRAM area = bits x the node's 6T bitcell area /
array efficiency (an assumed 0.7). Vectorised over capacities and factors.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike

from dse.errors import unknown
from hwmodels import arithmetic as ar
from hwmodels.technology import REFERENCE, Technology

CACTI_EXPONENT = 0.78  # capacity exponent of the public-estimator rule (second-hand)
_REF_CAPACITY = 8 * 1024  # bytes: the smallest Horowitz SRAM point


@lru_cache(maxsize=64)
def sram_fit(tech: Technology = REFERENCE) -> tuple[float, float]:
    """(c, p): 64-bit read energy = c * (capacity / 8 KiB)^p pJ, fitted to Horowitz's points."""
    caps = np.log(np.array([8 * 1024, 32 * 1024, 1024 * 1024]) / _REF_CAPACITY)
    e = np.log(
        [tech["sram_8kb_read64_pj"], tech["sram_32kb_read64_pj"], tech["sram_1mb_read64_pj"]]
    )
    p, logc = np.polyfit(caps, e, 1)
    return float(np.exp(logc)), float(p)


def sram_pj_per_bit(
    capacity_bytes: ArrayLike,
    energy_factor: ArrayLike = 1.0,
    tech: Technology = REFERENCE,
    exponent: float | None = None,
) -> np.ndarray:
    """Read (or write) energy per bit (pJ) of SRAMs of `capacity_bytes`, times the node's SRAM
    energy factor. `exponent` replaces the fitted capacity exponent (e.g. CACTI_EXPONENT)."""
    c, p = sram_fit(tech)
    if exponent is not None:
        p = exponent
    cap = np.maximum(np.asarray(capacity_bytes, dtype=np.float64), 1.0)
    return c * (cap / _REF_CAPACITY) ** p / 64.0 * np.asarray(energy_factor)


def sram_area_um2(
    capacity_bytes: ArrayLike, bitcell_um2: ArrayLike, tech: Technology = REFERENCE
) -> np.ndarray:
    """Macro area (um^2): bits x bitcell area / array efficiency."""
    bits = np.asarray(capacity_bytes, dtype=np.float64) * 8
    return bits * np.asarray(bitcell_um2) / tech["sram_array_efficiency"]


def register_file(bits: int, tech: Technology = REFERENCE) -> ar.Cost:
    """A flip-flop register file of `bits` at 45 nm: area (um^2) and energy per bit accessed
    (pJ), priced as flip-flops (NanGate DFF area, GE energy): small operand and output staging
    buffers inside the array."""
    per_bit = ar.register(1, tech)
    return ar.Cost(per_bit.area_um2 * bits, per_bit.energy_pj)


@dataclass(frozen=True)
class OffChip:
    """An off-chip memory: energy per bit (pJ) and peak bandwidth (GB/s) with sources."""

    name: str
    pj_per_bit: float
    bandwidth_gbs: float
    source: str


OFF_CHIP: dict[str, OffChip] = {
    m.name: m
    for m in (
        OffChip("hbm2", 3.9, 256.0, "Anda evaluation (Fang et al., HPCA 2025): HBM2 model"),
        OffChip(
            "ddr3",
            1950 / 64,
            12.8,
            "energy: Horowitz ISSCC 2014 64-bit DRAM read, 1300-2600 pJ, midpoint per bit; "
            "bandwidth: one 64-bit DDR3-1600 channel (1600 MT/s x 8 B)",
        ),
        OffChip(
            "hbm3",
            3.9,
            819.2,
            "bandwidth: one stack at 6.4 Gb/s per pin x 1024 pins (JEDEC HBM3 data rate); "
            "energy ASSUMED equal to the HBM2 figure (no source collected)",
        ),
        OffChip(
            "lpddr5",
            5.0,
            51.2,
            "bandwidth: 64-bit LPDDR5-6400 (6400 MT/s x 8 B); energy ASSUMED (no source "
            "collected; override it)",
        ),
        OffChip(
            "lpddr4",
            6.0,
            34.1,
            "bandwidth: 64-bit LPDDR4-4266 (4266 MT/s x 8 B); energy ASSUMED (no source "
            "collected; override it)",
        ),
    )
}


def off_chip(name: str) -> OffChip:
    """The off-chip memory preset called `name`."""
    if name not in OFF_CHIP:
        raise unknown("off-chip memory", name, OFF_CHIP)
    return OFF_CHIP[name]
