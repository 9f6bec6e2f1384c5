"""Technology constants (45 nm reference) and their scaling to other nodes and supply voltages.

Every constant is a `Constant` with its unit and source. `technology(node_nm, vdd, overrides)`
returns a frozen `Technology`: the 45 nm constants (which the arithmetic fits read), the logic
area and energy factors of the node, and the node's own SRAM and leakage inputs. Any value can
be replaced through `overrides` (a plain dict, e.g. from a config file); an overridden value's
source becomes "override".

Node scaling (Stillmaker & Baas, "Scaling equations for the accurate prediction of CMOS device
performance from 180 nm to 7 nm", Integration 58 (2017) 74-81):
* logic area factor relative to 45 nm, published for 32/20/16/14/10/7 nm;
* logic energy proportional to a*Vdd^2 + b*Vdd + c with per-node coefficients, so the energy
  factor of (node, Vdd) is P_node(Vdd) / P_45(0.9 V): 0.9 V is the voltage of the 45 nm table.
Nodes the paper does not give (28, 22, 12 nm) are interpolated log-linearly in the node size
between their published neighbours (for energy: of P at the requested Vdd); 5 nm is
extrapolated from 10 and 7 nm the same way. `node_note(node)` says which.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from numbers import Real

import numpy as np
from numpy.typing import ArrayLike

from dse.errors import Number, UserError, unknown


@dataclass(frozen=True)
class Constant:
    """One sourced value."""

    value: float
    unit: str
    source: str


HOROWITZ = (
    "Horowitz, ISSCC 2014 'Computing's energy problem', 45 nm, 0.9 V (as reproduced in "
    "Gholami et al., arXiv 2103.13630, Fig. 15)"
)
NANGATE = "NanGate 45 nm Open Cell Library (liberty file, typical corner), cell area"
SB2017 = "Stillmaker & Baas, Integration 58 (2017) 74-81"

#: The 45 nm constants. Arithmetic fits read the operation points; memory reads the SRAM ones.
REFERENCE_45NM: dict[str, Constant] = {
    "int_add_8_pj": Constant(0.03, "pJ", HOROWITZ),
    "int_add_16_pj": Constant(0.05, "pJ", HOROWITZ),
    "int_add_32_pj": Constant(0.1, "pJ", HOROWITZ),
    "int_add_8_um2": Constant(36.0, "um^2", HOROWITZ),
    "int_add_16_um2": Constant(67.0, "um^2", HOROWITZ),
    "int_add_32_um2": Constant(137.0, "um^2", HOROWITZ),
    "int_mul_8_pj": Constant(0.2, "pJ", HOROWITZ),
    "int_mul_32_pj": Constant(3.1, "pJ", HOROWITZ),
    "int_mul_8_um2": Constant(282.0, "um^2", HOROWITZ),
    "int_mul_32_um2": Constant(3495.0, "um^2", HOROWITZ),
    "fp_add_16_pj": Constant(0.4, "pJ", HOROWITZ),
    "fp_add_32_pj": Constant(0.9, "pJ", HOROWITZ),
    "fp_add_16_um2": Constant(1360.0, "um^2", HOROWITZ),
    "fp_add_32_um2": Constant(4184.0, "um^2", HOROWITZ),
    "fp_mul_16_pj": Constant(1.1, "pJ", HOROWITZ),
    "fp_mul_32_pj": Constant(3.7, "pJ", HOROWITZ),
    "fp_mul_16_um2": Constant(1640.0, "um^2", HOROWITZ),
    "fp_mul_32_um2": Constant(7700.0, "um^2", HOROWITZ),
    "sram_8kb_read64_pj": Constant(10.0, "pJ", HOROWITZ),
    "sram_32kb_read64_pj": Constant(20.0, "pJ", HOROWITZ),
    "sram_1mb_read64_pj": Constant(100.0, "pJ", HOROWITZ),
    "dram_read64_low_pj": Constant(1300.0, "pJ", HOROWITZ + "; DDR3-era DRAM, low end"),
    "dram_read64_high_pj": Constant(2600.0, "pJ", HOROWITZ + "; DDR3-era DRAM, high end"),
    "nand2_um2": Constant(0.798, "um^2", NANGATE + " NAND2_X1 (the gate equivalent)"),
    "xor2_um2": Constant(1.596, "um^2", NANGATE + " XOR2_X1"),
    "mux2_um2": Constant(1.862, "um^2", NANGATE + " MUX2_X1"),
    "dff_um2": Constant(4.522, "um^2", NANGATE + " DFF_X1"),
    "sram_bitcell_um2": Constant(
        0.346, "um^2", "Intel 45 nm 6T SRAM cell (IEDM 2007), as commonly tabulated; second-hand"
    ),
}

#: Stillmaker & Baas 2017: logic area factor relative to 45 nm.
SB_AREA: dict[int, float] = {45: 1.0, 32: 0.46, 20: 0.21, 16: 0.19, 14: 0.17, 10: 0.10, 7: 0.059}
#: Stillmaker & Baas 2017: energy ~ a Vdd^2 + b Vdd + c per node.
SB_ENERGY: dict[int, tuple[float, float, float]] = {
    45: (1.103, -0.362, 0.2767),
    32: (0.9559, -0.7823, 0.471),
    20: (0.373, -0.1582, 0.04104),
    16: (0.2958, -0.1241, 0.03024),
    14: (0.2363, -0.09675, 0.02239),
    10: (0.2068, -0.09311, 0.02375),
    7: (0.1776, -0.09097, 0.02447),
}
REFERENCE_VDD = 0.9  # V: the voltage of the 45 nm table (Horowitz 2014)

#: Default supply voltage per node (V). 45 nm is the table's 0.9 V; 7 nm at 0.7 V follows the
#: reference notes; the others are assumed typical nominal values (a parameter: pass `vdd`).
DEFAULT_VDD: dict[int, float] = {
    45: 0.9, 32: 0.9, 28: 0.9, 22: 0.8, 20: 0.8, 16: 0.8, 14: 0.8, 12: 0.8, 10: 0.75,
    7: 0.7, 5: 0.65,
}  # fmt: skip
NODES: tuple[int, ...] = tuple(sorted(DEFAULT_VDD, reverse=True))
VDD_RANGE = (0.5, 1.2)

#: High-density 6T SRAM bitcell area per node (um^2): published process announcements
#: (IEDM/ISSCC), as commonly tabulated; second-hand. 12 nm reuses the 16 nm cell (12 nm
#: processes are optical shrinks of 16 nm FinFET): an assumption.
SRAM_BITCELL_UM2: dict[int, float] = {
    45: 0.346, 32: 0.171, 28: 0.127, 22: 0.092, 20: 0.081, 16: 0.074, 14: 0.0588, 12: 0.074,
    10: 0.0312, 7: 0.027, 5: 0.021,
}  # fmt: skip

#: Node-independent defaults that are assumptions, not measurements (all overridable).
ASSUMED: dict[str, Constant] = {
    "sram_array_efficiency": Constant(
        0.7, "", "assumed: bitcell array share of an SRAM macro (public estimators use 0.6-0.8)"
    ),
    "leakage_mw_per_mm2": Constant(
        10.0, "mW/mm^2", "assumed: static power per mm^2 of logic and SRAM at any node"
    ),
}


def node_note(node_nm: int) -> str:
    """How the node's logic factors were obtained."""
    if node_nm in SB_AREA:
        return f"{node_nm} nm: published ({SB2017})"
    if node_nm < min(SB_AREA):
        return f"{node_nm} nm: EXTRAPOLATED log-linearly from 10 and 7 nm ({SB2017} gives none)"
    return f"{node_nm} nm: INTERPOLATED log-linearly between neighbours ({SB2017} gives none)"


def _neighbours(node_nm: int) -> tuple[int, int, float]:
    """(lower, upper, t): the published nodes to blend and the log-node weight of `upper`."""
    known = sorted(SB_AREA, reverse=True)  # 45 ... 7
    if node_nm in SB_AREA:
        return node_nm, node_nm, 0.0
    if node_nm < known[-1]:
        big, small = known[-2], known[-1]
    else:
        big = min(n for n in known if n > node_nm)
        small = max(n for n in known if n < node_nm)
    t = math.log(big / node_nm) / math.log(big / small)
    return big, small, t


def parse_node(value: int | str, where: str = "node_nm") -> int:
    """A technology node in nm from 28, '28nm' or '28 nm' (any case and spacing): the one
    parser of the CLI, hardware files and sweep files. An unknown node is a UserError naming
    `where` (the option or YAML path), the value and the modelled nodes."""
    number: object = value
    if isinstance(value, str):
        text = value.strip().lower().removesuffix("nm").strip()
        number = int(text) if text.isdigit() else None
    node = None
    if isinstance(number, Real) and not isinstance(number, bool) and float(number).is_integer():
        node = int(float(number))  # a whole number (checked just above)
    if node not in DEFAULT_VDD:
        raise UserError(f"{where}: {unknown('technology node (nm)', value, map(str, NODES))}")
    return node


def _poly(node: int, vdd: np.ndarray) -> np.ndarray:
    a, b, c = SB_ENERGY[node]
    return a * vdd**2 + b * vdd + c


def logic_area_factor(node_nm: int) -> float:
    """Logic area at `node_nm` relative to 45 nm (Stillmaker & Baas; see `node_note`)."""
    big, small, t = _neighbours(parse_node(node_nm))
    return math.exp((1 - t) * math.log(SB_AREA[big]) + t * math.log(SB_AREA[small]))


def logic_energy_factor(node_nm: int, vdd: float | None = None) -> float:
    """Logic energy at (`node_nm`, `vdd`) relative to 45 nm at 0.9 V."""
    return float(node_factors(np.array([node_nm]), None if vdd is None else np.array([vdd]))[1][0])


@lru_cache(maxsize=1)
def _node_tables() -> tuple[np.ndarray, ...]:
    """Per supported node: index arrays of the blended published nodes and weights."""
    known = sorted(SB_ENERGY)
    coef = np.array([SB_ENERGY[n] for n in known])
    rows = [_neighbours(n) for n in NODES]
    lo = np.array([known.index(r[0]) for r in rows])
    hi = np.array([known.index(r[1]) for r in rows])
    t = np.array([r[2] for r in rows])
    area = np.array([logic_area_factor(n) for n in NODES])
    vdd0 = np.array([DEFAULT_VDD[n] for n in NODES])
    return np.array(NODES), coef, lo, hi, t, area, vdd0


def node_index(node_nm: ArrayLike) -> np.ndarray:
    """Index into NODES of each requested node (vectorised; UserError for unknown nodes)."""
    nodes = np.asarray(node_nm)
    table = np.array(NODES)
    idx = np.argmax(table[None, :] == nodes.reshape(-1, 1), axis=1).reshape(nodes.shape)
    bad = table[idx] != nodes
    if np.any(bad):
        raise unknown("technology node (nm)", nodes[bad].flat[0], [str(n) for n in NODES])
    return idx


def node_factors(
    node_nm: ArrayLike, vdd: ArrayLike | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(logic area factor, logic energy factor, Vdd) for arrays of nodes and supply voltages
    (vdd None or NaN: the node's default). Energy is relative to 45 nm at 0.9 V."""
    _, coef, lo, hi, t, area, vdd0 = _node_tables()
    i = node_index(node_nm)
    v = vdd0[i] if vdd is None else np.where(np.isnan(np.asarray(vdd, float)), vdd0[i], vdd)
    v = np.asarray(v, dtype=np.float64)
    if np.any((v < VDD_RANGE[0]) | (v > VDD_RANGE[1])):
        raise UserError(
            f"vdd must be in {VDD_RANGE[0]}..{VDD_RANGE[1]} V (the range of the Stillmaker-Baas "
            f"fits we use), got {v[(v < VDD_RANGE[0]) | (v > VDD_RANGE[1])].flat[0]:g}"
        )

    def p(j: np.ndarray) -> np.ndarray:
        a, b, c = np.moveaxis(coef[j], -1, 0)
        return a * v**2 + b * v + c

    ref = _poly(45, np.float64(REFERENCE_VDD))
    energy = np.exp((1 - t[i]) * np.log(p(lo[i])) + t[i] * np.log(p(hi[i]))) / ref
    return area[i], energy, v


@dataclass(frozen=True)
class Technology:
    """Constants at one (node, Vdd): read values with `tech["name"]`, sources with
    `tech.source("name")`. Logic costs at this node = 45 nm cost x `area_factor` (area) and x
    `energy_factor` (energy); SRAM has its own inputs (`sram_*`)."""

    node_nm: int
    vdd: float
    values: tuple[tuple[str, float], ...]
    sources: tuple[tuple[str, str], ...] = field(compare=False)

    def __getitem__(self, key: str) -> float:
        return self._values[key]

    @cached_property
    def _values(self) -> dict[str, float]:
        return dict(self.values)

    def source(self, key: str) -> str:
        return dict(self.sources)[key]

    @property
    def area_factor(self) -> float:
        return self["area_factor"]

    @property
    def energy_factor(self) -> float:
        return self["energy_factor"]

    def table(self) -> list[dict]:
        """Every constant with its value, unit-free name and source (for `dse hw show`)."""
        src = dict(self.sources)
        return [{"name": k, "value": v, "source": src[k]} for k, v in self.values]


def technology(
    node_nm: int = 45, vdd: float | None = None, overrides: Mapping[str, float] | None = None,
    sources: Mapping[str, str] | None = None,
) -> Technology:
    """The constants at `node_nm` and `vdd` (default: the node's nominal voltage), with
    `overrides` (name -> value) replacing any of them, their source "override" unless
    `sources` names one (an imported table's). Unknown names are a UserError."""
    node = parse_node(node_nm)
    area, energy, v = node_factors(np.array([node]), None if vdd is None else np.array([vdd]))
    values: dict[str, float] = {k: c.value for k, c in REFERENCE_45NM.items()}
    source: dict[str, str] = {k: f"{c.source} [{c.unit}]" for k, c in REFERENCE_45NM.items()}
    values |= {k: c.value for k, c in ASSUMED.items()}
    source |= {k: f"{c.source} [{c.unit}]" for k, c in ASSUMED.items()}
    note = node_note(node)
    values["area_factor"] = float(area[0])
    source["area_factor"] = f"logic area relative to 45 nm; {note}"
    values["energy_factor"] = float(energy[0])
    source["energy_factor"] = (
        f"logic energy relative to 45 nm at 0.9 V, at Vdd {float(v[0]):g} V; {note}"
    )
    values["sram_node_bitcell_um2"] = SRAM_BITCELL_UM2[node]
    source["sram_node_bitcell_um2"] = (
        f"6T SRAM bitcell at {node} nm: published process figures, second-hand"
        + ("; 12 nm assumed equal to 16 nm" if node == 12 else "")
    )
    values["sram_energy_factor"] = float(energy[0])
    source["sram_energy_factor"] = (
        "SRAM access energy relative to 45 nm: ASSUMED to scale like logic energy (no per-node "
        "SRAM source collected; likely optimistic at small nodes)"
    )
    values["dram_energy_factor"] = 1.0
    source["dram_energy_factor"] = "off-chip energy per bit does not scale with the logic node"
    for key, value in (overrides or {}).items():
        if key not in values:
            raise unknown("technology constant", key, values)
        values[key] = float(Number(0).check(value, f"technology constant {key}"))
        source[key] = (sources or {}).get(key, "override")
    return Technology(node, float(v[0]), tuple(values.items()), tuple(source.items()))


REFERENCE = technology(45)
"""45 nm at 0.9 V, no overrides: the node every unit cost is computed at before scaling."""
