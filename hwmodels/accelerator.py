"""Accelerator roofline: latency, energy and area of P design points on G GEMMs, vectorised.

`evaluate(design, gemms)` broadcasts over (points x GEMMs) with numpy, no Python loop per
point. GEMM convention (as in `workloads.gemms`): Y[M, N] = A[M, K] @ W[K, N], `count` times
with distinct operands; A is the activation, W the weight (or KV cache).

Mapping. The array has `rows` x `cols` PEs; a PE computes one output Y[m, n], `lanes` products
of the K dimension per group of `planes` cycles (planes = 1 except in bit-serial PEs, where it
is the activation's magnitude bit planes). Rows take M and columns take N; when M < rows the
spare rows are folded onto columns (r = min(rows, M) rows, cols * floor(rows / r) columns), so
a decode GEMM with M = 1 still uses the whole array. Compute cycles per GEMM =
ceil(M / r) * ceil(N / c) * ceil(K / lanes) * planes.

Reuse model (DRAM traffic per GEMM instance). Every GEMM reads its operands from DRAM at
least once (nothing stays on chip between GEMMs) and writes its output once (partial sums
stay in the PEs: K is never split). One operand is kept on chip in tiles of full K:
* weight-stationary order: tiles of Nt = floor(weight buffer / (K w_bits)) weight columns;
  each weight is read once, the activations are re-read once per weight tile unless all of A
  fits in the activation buffer;
* activation-stationary order: tiles of Mt = floor(activation buffer / (K a_bits)) rows of A;
  each activation is read once, the weights are re-read once per activation tile unless all
  of W fits in the weight buffer.
The cheaper order is taken per GEMM and point (Nt, Mt >= 1: a buffer smaller than one row
under-estimates traffic). Latency = max(compute time, DRAM time) per GEMM (double buffering
overlaps them completely), summed over GEMMs x count.

On-chip traffic: each activation element is read from its buffer once per column pass
(ceil(N / c) times, broadcast along a row), each weight once per row pass (ceil(M / r)), each
output written once; every DRAM bit is also written into its buffer once. Operands are decoded
at the array edge once per buffer read (codebook formats). SRAM energy per bit comes from each
buffer's capacity (`hwmodels.memory`); DRAM energy = bits x pJ/bit.

Energy = compute (MACs x energy per MAC + edge decoding) + SRAM + DRAM + static, where static
= leakage power density (a `Technology` constant, assumed) x total area x latency.
Area = PEs + buffers + other; decoders count with the PEs; other = `other_fraction` x (PEs +
buffers) for control, interconnect and I/O (assumed 10 % by default).
Unit costs enter at 45 nm and 0.9 V and are scaled by the node and Vdd of each point.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike

from dse.errors import UserError
from hwmodels.memory import sram_area_um2, sram_pj_per_bit
from hwmodels.technology import (
    NODES,
    REFERENCE,
    SRAM_BITCELL_UM2,
    Technology,
    node_factors,
    node_index,
)
from hwmodels.units import UnitCosts

_BITCELL = np.array([SRAM_BITCELL_UM2[n] for n in NODES])


@dataclass(frozen=True)
class Design:
    """Design points as arrays: each field a scalar, shape (P,), or (P, G) for values that
    differ per GEMM (operand bits and unit costs when formats differ per layer).

    Units: pe_area_um2, decoder areas (per array edge lane group) in um^2 at 45 nm;
    mac_energy_pj (per MAC) and decode energies (per decoded element) in pJ at 45 nm and 0.9 V;
    bits per element moved; buffers in bytes; bandwidth in GB/s; frequency in GHz."""

    rows: ArrayLike
    cols: ArrayLike
    lanes: ArrayLike
    freq_ghz: ArrayLike
    pe_area_um2: ArrayLike
    mac_energy_pj: ArrayLike
    w_bits: ArrayLike
    a_bits: ArrayLike
    o_bits: ArrayLike
    weight_buffer_bytes: ArrayLike
    act_buffer_bytes: ArrayLike
    out_buffer_bytes: ArrayLike
    bandwidth_gbs: ArrayLike
    dram_pj_per_bit: ArrayLike
    node_nm: ArrayLike = 45
    vdd: ArrayLike = np.nan  # NaN: the node's default
    planes: ArrayLike = 1
    decode_w_pj: ArrayLike = 0.0
    decode_a_pj: ArrayLike = 0.0
    decode_w_area_um2: ArrayLike = 0.0
    decode_a_area_um2: ArrayLike = 0.0
    other_fraction: ArrayLike = 0.1

    def size(self) -> int:
        """Number of design points P (1 when every field is a scalar)."""
        sizes = {
            np.shape(getattr(self, f.name))[0]
            for f in fields(self)
            if np.ndim(getattr(self, f.name))
        }
        if len(sizes) > 1:
            raise UserError(f"design arrays disagree on the number of points: {sorted(sizes)}")
        return sizes.pop() if sizes else 1


class GemmShapes(Protocol):
    """G GEMMs as int arrays of length G (`workloads.GemmArrays` is one)."""

    m: np.ndarray
    n: np.ndarray
    k: np.ndarray
    count: np.ndarray


def design_from(
    unit: UnitCosts, *, rows: ArrayLike, cols: ArrayLike, freq_ghz: ArrayLike,
    w_bits: ArrayLike, a_bits: ArrayLike, o_bits: ArrayLike,
    weight_buffer_kib: float | np.ndarray, act_buffer_kib: float | np.ndarray,
    out_buffer_kib: float | np.ndarray, bandwidth_gbs: ArrayLike,
    dram_pj_per_bit: ArrayLike, node_nm: ArrayLike, vdd: ArrayLike, other_fraction: ArrayLike,
) -> Design:
    """The `Design` of a unit's costs and the hardware around it (buffers in KiB); used for
    one `HardwareSpec` and for the evaluator's arrays of points alike."""
    return Design(
        rows=rows, cols=cols, lanes=unit.lanes, planes=unit.planes, freq_ghz=freq_ghz,
        pe_area_um2=unit.pe_area_um2, mac_energy_pj=unit.mac_energy_pj, w_bits=w_bits,
        a_bits=a_bits, o_bits=o_bits, weight_buffer_bytes=weight_buffer_kib * 1024,
        act_buffer_bytes=act_buffer_kib * 1024, out_buffer_bytes=out_buffer_kib * 1024,
        bandwidth_gbs=bandwidth_gbs, dram_pj_per_bit=dram_pj_per_bit, node_nm=node_nm,
        vdd=vdd, decode_w_pj=unit.decode_w_pj, decode_a_pj=unit.decode_a_pj,
        decode_w_area_um2=unit.decode_w_area_um2, decode_a_area_um2=unit.decode_a_area_um2,
        other_fraction=other_fraction,
    )  # fmt: skip


@dataclass(frozen=True)
class Evaluation:
    """Results: per point (P,) totals and per (point, GEMM) (P, G) details.

    Units: ns, pJ, mm^2, bytes. `latency_ns` and the energies include each GEMM's count."""

    latency_ns: np.ndarray
    energy_pj: np.ndarray
    energy_compute_pj: np.ndarray
    energy_sram_pj: np.ndarray
    energy_dram_pj: np.ndarray
    energy_static_pj: np.ndarray
    area_mm2: np.ndarray
    area_pe_mm2: np.ndarray
    area_buffer_mm2: np.ndarray
    area_other_mm2: np.ndarray
    dram_bytes: np.ndarray
    macs: np.ndarray
    peak_macs_per_ns: np.ndarray
    gemm_compute_ns: np.ndarray
    gemm_memory_ns: np.ndarray
    gemm_latency_ns: np.ndarray
    gemm_dram_bytes: np.ndarray
    gemm_weight_dram_bytes: np.ndarray
    gemm_memory_bound: np.ndarray
    gemm_energy_pj: np.ndarray

    def totals(self) -> dict[str, np.ndarray]:
        """The per-point columns, by name."""
        return {
            f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("gemm_")
        }


def _col(x: ArrayLike) -> np.ndarray:
    """A design field as a (P, 1) or (P, G) float array (scalars as (1, 1))."""
    a = np.asarray(x, dtype=np.float64)
    return a.reshape(-1, 1) if a.ndim <= 1 else a


def evaluate(design: Design, gemms: GemmShapes, tech: Technology = REFERENCE) -> Evaluation:
    """Latency, energy and area of every design point on every GEMM (see the module doc)."""
    d = {f.name: _col(getattr(design, f.name)) for f in fields(design)}
    m, n, k, cnt = (
        np.asarray(getattr(gemms, a), dtype=np.float64)[None, :] for a in ("m", "n", "k", "count")
    )
    if np.any(d["rows"] < 1) or np.any(d["cols"] < 1) or np.any(d["lanes"] < 1):
        raise UserError("rows, cols and lanes must be >= 1")
    if np.any(d["freq_ghz"] <= 0) or np.any(d["bandwidth_gbs"] <= 0):
        raise UserError("freq_ghz and bandwidth_gbs must be positive")
    node = d["node_nm"].astype(np.int64)
    area_f, energy_f, _ = node_factors(node, d["vdd"])

    # compute time: rows take M, spare rows fold onto columns
    rows, cols = d["rows"], d["cols"]
    r = np.minimum(rows, m)
    c = cols * np.floor(rows / r)
    row_pass, col_pass = np.ceil(m / r), np.ceil(n / c)
    cycles = row_pass * col_pass * np.ceil(k / d["lanes"]) * d["planes"]
    compute_ns = cycles / d["freq_ghz"]

    # DRAM traffic: the cheaper of weight- and activation-stationary orders
    wb, ab, ob = k * n * d["w_bits"], m * k * d["a_bits"], m * n * d["o_bits"]
    wbuf, abuf = d["weight_buffer_bytes"] * 8, d["act_buffer_bytes"] * 8
    w_tiles = np.ceil(n / np.maximum(1.0, np.floor(wbuf / (k * d["w_bits"]))))
    a_tiles = np.ceil(m / np.maximum(1.0, np.floor(abuf / (k * d["a_bits"]))))
    a_reads = np.where(ab <= abuf, 1.0, w_tiles)
    w_reads = np.where(wb <= wbuf, 1.0, a_tiles)
    ws_bits, as_bits = wb + ab * a_reads, ab + wb * w_reads
    weight_first = ws_bits <= as_bits
    w_dram = np.where(weight_first, wb, wb * w_reads)
    a_dram = np.where(weight_first, ab * a_reads, ab)
    dram_bits = w_dram + a_dram + ob
    memory_ns = dram_bits / 8.0 / d["bandwidth_gbs"]
    gemm_ns = np.maximum(compute_ns, memory_ns) * cnt

    # energy (pJ), per GEMM x count
    macs = m * n * k * cnt
    a_sram, w_sram = m * k * col_pass, k * n * row_pass  # element reads from the buffers
    e_compute = (
        macs * d["mac_energy_pj"] + cnt * (a_sram * d["decode_a_pj"] + w_sram * d["decode_w_pj"])
    ) * energy_f
    # SRAM energy scales with the node like logic, times the technology's SRAM/logic ratio
    sram_f = energy_f * tech["sram_energy_factor"] / tech["energy_factor"]
    e_sram = cnt * (
        (a_sram * d["a_bits"] + a_dram) * sram_pj_per_bit(d["act_buffer_bytes"], sram_f, tech)
        + (w_sram * d["w_bits"] + w_dram) * sram_pj_per_bit(d["weight_buffer_bytes"], sram_f, tech)
        + 2 * ob * sram_pj_per_bit(d["out_buffer_bytes"], sram_f, tech)
    )
    e_dram = cnt * dram_bits * d["dram_pj_per_bit"]

    # area (um^2)
    pe = (
        rows * cols * d["pe_area_um2"]
        + cols * d["decode_w_area_um2"]
        + rows * d["decode_a_area_um2"]
    ) * area_f
    pe = pe.max(axis=1)  # a unit serving several per-layer formats is sized for the largest
    bitcell = _BITCELL[node_index(node[:, 0])]
    buffers = sram_area_um2(
        d["weight_buffer_bytes"][:, 0] + d["act_buffer_bytes"][:, 0] + d["out_buffer_bytes"][:, 0],
        bitcell,
        tech,
    )
    other = d["other_fraction"][:, 0] * (pe + buffers)
    area = pe + buffers + other
    latency = gemm_ns.sum(axis=1)
    static = tech["leakage_mw_per_mm2"] * area * 1e-6 * latency  # mW x ns = pJ
    peak = rows[:, 0] * cols[:, 0] * (d["lanes"] / d["planes"]).max(axis=1) * d["freq_ghz"][:, 0]
    e_c, e_s, e_d = e_compute.sum(axis=1), e_sram.sum(axis=1), e_dram.sum(axis=1)
    shape = (design.size(),)
    return Evaluation(
        latency_ns=np.broadcast_to(latency, shape),
        energy_pj=np.broadcast_to(e_c + e_s + e_d + static, shape),
        energy_compute_pj=np.broadcast_to(e_c, shape),
        energy_sram_pj=np.broadcast_to(e_s, shape),
        energy_dram_pj=np.broadcast_to(e_d, shape),
        energy_static_pj=np.broadcast_to(static, shape),
        area_mm2=np.broadcast_to(area * 1e-6, shape),
        area_pe_mm2=np.broadcast_to(pe * 1e-6, shape),
        area_buffer_mm2=np.broadcast_to(buffers * 1e-6, shape),
        area_other_mm2=np.broadcast_to(other * 1e-6, shape),
        dram_bytes=np.broadcast_to((dram_bits * cnt).sum(axis=1) / 8, shape),
        macs=np.broadcast_to(macs.sum(axis=1), shape),
        peak_macs_per_ns=np.broadcast_to(peak, shape),
        gemm_compute_ns=compute_ns * cnt,
        gemm_memory_ns=memory_ns * cnt,
        gemm_latency_ns=gemm_ns,
        gemm_dram_bytes=dram_bits * cnt / 8,
        gemm_weight_dram_bytes=w_dram * cnt / 8,
        gemm_memory_bound=memory_ns > compute_ns,
        # static energy shared among GEMMs in proportion to their latency
        gemm_energy_pj=e_compute + e_sram + e_dram
        + tech["leakage_mw_per_mm2"] * area[:, None] * 1e-6 * gemm_ns,
    )
