"""A hardware description's costs in the input formats of Accelergy, Timeloop and ZigZag, so a
design found here can be refined there.

The numbers are this library's, at the spec's node and supply: the PE's MAC unit (energy per
MAC in pJ, area in um^2), each SRAM buffer (energy per element of its operand's format read or
written, from the per-bit energy of its capacity; area), and the off-chip memory (energy per
64-bit access; bandwidth). The layouts follow:

* Accelergy energy and area reference tables (ERT / ART, `version: 0.4`: `tables` of
  `name`, `actions` with `name`, `arguments`, `energy`, resp. `area`; Accelergy-Project/
  accelergy documentation), one table per component of the Timeloop architecture below, named
  by its path (`system.chip.weight_buffer`, `system.chip.PE[0..N-1].mac[0..L-1]`: one
  multiply-accumulator per lane of the PE's unit, energy per MAC, a lane's share of the area);
* a Timeloop architecture in the `version: 0.3` tree form (`subtree` / `local`, components
  with `class` and `attributes`; Timeloop's and timeloop-accelergy-exercises' examples):
  DRAM, the three buffers, and rows x cols PEs of one MAC unit each;
* a ZigZag hardware file (KULeuven-MICAS/zigzag, zigzag/inputs/hardware/*.yaml: `memories`
  with size and bandwidths in bits, cost per access of the bandwidth in pJ, ports, operands
  I1 (activations), I2 (weights), O and served dimensions; `operational_array` with the unit's
  energy and area and the dimensions D1 = rows, D2 = cols, D3 = lanes).

What the tools model differently (their mapping search, buffer organisation, leakage) is
theirs: the export carries the costs, not this library's roofline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hwmodels.memory import sram_area_um2, sram_pj_per_bit
from hwmodels.technology import SRAM_BITCELL_UM2

if TYPE_CHECKING:
    from hwmodels.presets import HardwareSpec

#: Bits per off-chip access in the exported tables (a 64-bit DRAM channel word; the library's
#: DRAM cost is per bit, so this only sets the unit of the action).
DRAM_WORD_BITS = 64
#: Version strings of the exported formats.
ACCELERGY_VERSION, TIMELOOP_VERSION = "0.4", 0.3
_OPERAND = {"weight": "I2", "activation": "I1", "output": "O"}


@dataclass(frozen=True)
class Buffer:
    """One on-chip buffer: its operand, capacity (bytes), element bits, energy per bit (pJ)
    and area (um^2)."""

    name: str
    operand: str
    capacity_bytes: float
    element_bits: float
    pj_per_bit: float
    area_um2: float


def buffers(spec: HardwareSpec) -> list[Buffer]:
    """The weight, activation and output buffers of `spec` with their costs at its node."""
    tech = spec.tech()
    out = []
    for operand, kib in (("weight", spec.weight_buffer_kib), ("activation", spec.act_buffer_kib),
                         ("output", spec.out_buffer_kib)):  # fmt: skip
        cap = kib * 1024
        out.append(Buffer(
            f"{'act' if operand == 'activation' else operand}_buffer", operand, cap,
            spec.bits(operand), float(sram_pj_per_bit(cap, tech["sram_energy_factor"], tech)),
            float(sram_area_um2(cap, SRAM_BITCELL_UM2[spec.node_nm], tech)),
        ))  # fmt: skip
    return out


def _pe(spec: HardwareSpec) -> str:
    return f"PE[0..{spec.rows * spec.cols - 1}]"


def _mac(lanes: int) -> str:
    """One multiply-accumulator per lane of the PE's unit."""
    return f"mac[0..{lanes - 1}]" if lanes > 1 else "mac"


def accelergy_tables(spec: HardwareSpec) -> tuple[dict, dict]:
    """(ERT, ART) of `spec`: energy (pJ) per action and area (um^2) per component."""
    unit = spec.unit(at_node=True)
    mac = f"system.chip.{_pe(spec)}.{_mac(unit.lanes)}"
    ert: list[dict[str, Any]] = [{"name": mac, "actions": [
        {"name": "mac_random", "arguments": None, "energy": unit.energy_pj},
        {"name": "idle", "arguments": None, "energy": 0.0},
    ]}]  # fmt: skip
    art: list[dict[str, Any]] = [{"name": mac, "area": unit.area_um2 / unit.lanes}]
    for b in buffers(spec):
        per_element = b.pj_per_bit * b.element_bits
        ert.append({"name": f"system.chip.{b.name}", "actions": [
            {"name": "read", "arguments": None, "energy": per_element},
            {"name": "write", "arguments": None, "energy": per_element},
            {"name": "idle", "arguments": None, "energy": 0.0},
        ]})  # fmt: skip
        art.append({"name": f"system.chip.{b.name}", "area": b.area_um2})
    dram = spec.dram_energy() * DRAM_WORD_BITS
    ert.append({"name": "system.DRAM", "actions": [
        {"name": "read", "arguments": None, "energy": dram},
        {"name": "write", "arguments": None, "energy": dram},
        {"name": "idle", "arguments": None, "energy": 0.0},
    ]})  # fmt: skip
    art.append({"name": "system.DRAM", "area": 0.0})
    return ({"ERT": {"version": ACCELERGY_VERSION, "tables": ert}},
            {"ART": {"version": ACCELERGY_VERSION, "tables": art}})  # fmt: skip


def timeloop_architecture(spec: HardwareSpec) -> dict:
    """`spec` as a Timeloop architecture tree (DRAM, buffers, PEs with one MAC each)."""
    word = max(spec.bits("weight"), spec.bits("activation"))
    lanes = spec.unit(at_node=True).lanes
    local = [{
        "name": b.name, "class": "SRAM",
        "attributes": {"depth": int(b.capacity_bytes * 8 // DRAM_WORD_BITS),
                       "width": DRAM_WORD_BITS, "datawidth": b.element_bits,
                       "technology": f"{spec.node_nm}nm"},
    } for b in buffers(spec)]  # fmt: skip
    pe = {"name": _pe(spec), "local": [{
        "name": _mac(lanes), "class": "intmac",
        "attributes": {"datawidth": word, "meshX": spec.cols,
                       "technology": f"{spec.node_nm}nm"},
    }]}  # fmt: skip
    chip = {"name": "chip", "attributes": {"technology": f"{spec.node_nm}nm"},
            "local": local, "subtree": [pe]}  # fmt: skip
    dram = {"name": "DRAM", "class": "DRAM",
            "attributes": {"width": DRAM_WORD_BITS, "datawidth": word,
                           "bandwidth_gbs": spec.bandwidth()}}  # fmt: skip
    return {"architecture": {"version": TIMELOOP_VERSION, "subtree": [
        {"name": "system", "local": [dram], "subtree": [chip]}]}}  # fmt: skip


def _ports(operands: list[str]) -> list[dict]:
    """ZigZag port wiring: inputs flow from higher to lower (fh -> tl), outputs both ways."""
    out = []
    for op in operands:
        if op == "O":
            out.append({"fh": "rw_port_1", "tl": "rw_port_1", "fl": "rw_port_1",
                        "th": "rw_port_1"})  # fmt: skip
        else:
            out.append({"fh": "rw_port_1", "tl": "rw_port_1"})
    return out


def zigzag_hardware(spec: HardwareSpec) -> dict:
    """`spec` as a ZigZag hardware description (sizes and bandwidths in bits; costs in pJ per
    access of the bandwidth)."""
    unit = spec.unit(at_node=True)
    lanes = unit.lanes
    per_cycle = {"weight": spec.cols * lanes, "activation": spec.rows * lanes,
                 "output": spec.rows * spec.cols}  # elements the array takes per cycle
    memories: dict[str, dict] = {}
    for b in buffers(spec):
        bw = round(per_cycle[b.operand] * b.element_bits)
        operands = [_OPERAND[b.operand]]
        memories[b.name] = {
            "size": int(b.capacity_bytes * 8), "r_bw": bw, "w_bw": bw,
            "r_cost": b.pj_per_bit * bw, "w_cost": b.pj_per_bit * bw, "area": b.area_um2,
            "r_port": 0, "w_port": 0, "rw_port": 1, "latency": 1,
            "auto_cost_extraction": False, "operands": operands, "ports": _ports(operands),
            "served_dimensions": ["D1", "D2", "D3"],
        }  # fmt: skip
    dram_bw = round(spec.bandwidth() * 8 / spec.freq_ghz)  # bits per cycle
    operands = ["I1", "I2", "O"]
    memories["dram"] = {
        "size": 10**12, "r_bw": dram_bw, "w_bw": dram_bw,
        "r_cost": spec.dram_energy() * dram_bw, "w_cost": spec.dram_energy() * dram_bw,
        "area": 0, "r_port": 0, "w_port": 0, "rw_port": 1, "latency": 1,
        "operands": operands, "ports": _ports(operands), "served_dimensions": ["D1", "D2", "D3"],
    }  # fmt: skip
    return {
        "name": spec.name,
        "memories": memories,
        "operational_array": {
            "input_precision": [spec.bits("activation"), spec.bits("weight")],
            "unit_energy": unit.energy_pj,  # per MAC
            "unit_area": unit.area_um2 / lanes,  # one lane's share of the unit
            "dimensions": ["D1", "D2", "D3"],
            "sizes": [spec.rows, spec.cols, lanes],
        },
    }
