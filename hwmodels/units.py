"""MAC and dot-product units for any (weight format, activation format) pair of the library.

`mac_unit(weight, activation, style, lanes, k, tech)` returns a `MacUnit`: area (um^2), energy
per MAC (pJ), MACs per cycle and a breakdown. It is generic over format records: each format
becomes one or more *candidates* (an `ElementInput`, how its element enters the datapath, and a
`ScaleOp`, what its scale costs); nothing dispatches on a format's name.

Element datapath (per lane):
* elements on an integer grid (INT-k, sign-magnitude MX INT8 and Anda mantissas, and codebooks
  whose levels are integer multiples of one step -- E2M1 variants, APoT4, BlockDialect's half
  units) are integers; "int" grids multiply in two's complement, codebooks ("lut") go through
  a lookup-table decoder to sign + magnitude. Codebooks with no small integer grid (NF4, SF4)
  decode to `lut_bits`-bit integers: an approximation of their levels, stated in the notes;
* floats multiply significands (hidden bit included), add exponents, and shift the exact
  product into a fixed-point accumulator when its lossless width fits `FIXED_LIMIT` bits;
  otherwise (fp16, bf16, e5m2 products) the product is normalised and accumulated in FP32;
* supernormal codes (E2M1+SR/SP, APoT4+SP) add a code detector and a mux per extra level;
* a per-block choice (BlockDialect, the FP4/FP8 mix) adds its flag bits to the decoder's
  inputs when its candidates share a datapath, else builds one datapath per distinct pair
  (area summed, energy weighted by the expected block fractions, idle datapaths gated).

Accumulation and scales: products are summed exactly within a scale block (a scalar
accumulator, or an adder tree over the lanes of a dot unit); once per block the two block
scales are combined (exponent add for power-of-two scales, a small multiply for UE4M3/INT8/
float scales), applied to the block sum, and the result accumulated across blocks (fixed point
when lossless within `FIXED_LIMIT` bits, else FP32). Per-channel, per-tensor and the per-tensor
half of two-level scales cost one FP32 multiply per output: energy amortised over the reduction
length `k`; its area belongs to the accelerator's output path, not to the unit.

Styles: "scalar" (one MAC per cycle), "dot" (`lanes` MACs per cycle, adder tree) and
"bit_serial" (Anda-style: the activation's magnitude bit planes one per cycle across `lanes`
lanes, so MACs per cycle = lanes / planes and energy per MAC grows linearly with the planes).
Costs are computed at 45 nm from the fitted arithmetic and scaled to `tech`'s node and Vdd.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from dse.errors import ModelLimitError, UserError, unknown
from dse.formats import ChoiceFormat, FloatElement, LevelElement, ScaledFormat, parse
from dse.formats.elements import Element
from dse.formats.format import Format
from dse.formats.scales import ScaleRule
from hwmodels import arithmetic as ar
from hwmodels.arithmetic import ZERO, Cost
from hwmodels.technology import REFERENCE, Technology

Style = Literal["scalar", "dot", "bit_serial"]
STYLES: tuple[str, ...] = ("scalar", "dot", "bit_serial")
FIXED_LIMIT = 64  # bits: widest lossless fixed-point accumulator we build (else FP32)
GRID_LIMIT = 12  # bits: widest integer grid a codebook may decode to exactly
FP32_EXP, FP32_MAN = 8, 23


@dataclass(frozen=True, order=True)
class ElementInput:
    """An element format as the datapath sees it.

    width: multiplier input bits (two's complement for "int" grids, magnitude or significand
    with hidden bit for sign-magnitude ones); span: bits of the largest magnitude as an integer
    multiple of the smallest step (the fixed-point width without sign); exp_positions: distinct
    exponent shifts (1 for integers); decode_in: lookup-table inputs (0: no decoder)."""

    width: int
    sign_magnitude: bool
    exp_bits: int
    exp_positions: int
    span: int
    decode_in: int
    supernormal: int
    stored_bits: int
    approximate: bool = False  # the levels were rounded to an integer grid for the datapath


@dataclass(frozen=True, order=True)
class ScaleOp:
    """What a format's scale costs. block: values per block scale, None when the scale is per
    channel or per tensor (applied per output); sig_bits: scale significand bits (1 for a power
    of two); exp_positions: exponent range; per_output: FP32 multiplies per output."""

    block: int | None
    sig_bits: int
    exp_bits: int
    exp_positions: int
    per_output: int


@dataclass(frozen=True)
class Candidate:
    fraction: float
    operand: ElementInput
    scale: ScaleOp


@dataclass(frozen=True)
class UnitCosts:
    """A MAC unit's costs as the accelerator roofline reads them (`hwmodels.accelerator.Design`):
    scalars for one unit, or arrays of any shape for many (NaN: a pair the style cannot run).

    pe_area_um2 and decoder areas (all lanes) in um^2, energies in pJ (per MAC, per decoded
    element), at the unit's technology; lanes: products per group of `planes` cycles
    (planes = lanes / MACs per cycle: the activation's bit planes in bit-serial units, else 1).
    """

    pe_area_um2: Any
    mac_energy_pj: Any
    lanes: Any
    planes: Any
    decode_w_pj: Any
    decode_a_pj: Any
    decode_w_area_um2: Any
    decode_a_area_um2: Any


@dataclass(frozen=True)
class MacUnit:
    """One unit: area (um^2), energy per MAC (pJ), MACs per cycle; breakdown rows are
    (group, part, area um^2, energy pJ per MAC) with group "core" (element products and their
    accumulation), "scale" (block-scale handling, per-output scaling) or "decode" (codebook
    decoders and supernormal logic, one per lane; energy per decoded element).

    `area_um2` and `energy_pj` are the standalone unit's totals, every group included. In an
    array the decoders sit at the array edge (a decoded operand is broadcast to the PEs that
    reuse it), so `pe` (core + scale) is the per-PE cost and `decoder(role)` the per-lane
    edge cost (see `hwmodels.accelerator`)."""

    weight: str
    activation: str
    style: str
    lanes: int
    node_nm: int
    area_um2: float
    energy_pj: float
    macs_per_cycle: float
    breakdown: tuple[tuple[str, str, float, float], ...]
    notes: tuple[str, ...]

    def group(self, name: str) -> Cost:
        """Area and energy per MAC of one breakdown group ("core" or "scale")."""
        rows = [r for r in self.breakdown if r[0] == name]
        return Cost(sum(r[2] for r in rows), sum(r[3] for r in rows))

    @property
    def pe(self) -> Cost:
        """Per-PE area and energy per MAC without the edge decoders."""
        return self.group("core") + self.group("scale")

    def decoder(self, role: str) -> Cost:
        """Decoder area of all lanes and energy per decoded element of "weight" or
        "activation" operands."""
        rows = [r for r in self.breakdown if r[0] == "decode" and r[1].startswith(role)]
        return Cost(sum(r[2] for r in rows), sum(r[3] for r in rows))

    def costs(self) -> UnitCosts:
        """What the accelerator roofline reads of this unit (see `UnitCosts`)."""
        dw, da = self.decoder("weight"), self.decoder("activation")
        planes = max(1, round(self.lanes / self.macs_per_cycle))
        return UnitCosts(
            self.pe.area_um2, self.pe.energy_pj, self.lanes, planes,
            dw.energy_pj, da.energy_pj, dw.area_um2, da.area_um2,
        )  # fmt: skip

    def as_dict(self) -> dict:
        return {
            "weight": self.weight,
            "activation": self.activation,
            "style": self.style,
            "lanes": self.lanes,
            "node_nm": self.node_nm,
            "area_um2": self.area_um2,
            "energy_pj_per_mac": self.energy_pj,
            "macs_per_cycle": self.macs_per_cycle,
            "breakdown": [
                {"group": g, "part": p, "area_um2": a, "energy_pj_per_mac": e}
                for g, p, a, e in self.breakdown
            ],
            "notes": list(self.notes),
        }


# --- formats -> candidates -------------------------------------------------------------------


def _bits(x: float) -> int:
    """Bits to hold the non-negative integer x."""
    return max(1, math.ceil(math.log2(x + 1) - 1e-12))


def _grid(levels: Iterable[float]) -> float | None:
    """The step q of the smallest integer grid holding every level (levels/q integers with
    max/q < 2^GRID_LIMIT), or None when there is none (irrational codebooks such as NF4)."""
    mags = sorted({abs(v) for v in levels if v != 0})
    if not mags:
        return None
    for k in range(1, 2**GRID_LIMIT):
        q = mags[0] / k
        if mags[-1] / q >= 2**GRID_LIMIT:
            return None
        if all(abs(v / q - round(v / q)) < 1e-6 for v in mags):
            return q
    return None


@lru_cache(maxsize=1024)
def element_operand(element: Element, flag_bits: int = 0, lut_bits: int = 8) -> ElementInput:
    """How `element` enters a multiplier (see `ElementInput`); `flag_bits` of a per-block choice
    join a codebook decoder's inputs."""
    if isinstance(element, FloatElement):
        step = math.ldexp(1.0, 1 - element.bias - element.man_bits)
        if not element.subnormals:
            step = element.min_normal * 2.0**-element.man_bits
        codes = 2**element.exp_bits - (1 if element.subnormals and element.has_zero else 0)
        return ElementInput(
            element.man_bits + 1,
            element.signed,
            element.exp_bits,
            max(codes, 1),
            _bits(element.max_abs / step),
            0,
            0,
            element.bits,
        )
    assert isinstance(element, LevelElement)
    q = _grid(element.levels)
    levels = set(element.levels)
    symmetric = all(-v in levels for v in levels)
    sn = len(element.supernormal)
    if q is None:  # decode to lut_bits-bit integers approximating the levels
        return ElementInput(lut_bits, False, 0, 1, lut_bits - 1, element.bits + flag_bits, sn,
                       element.bits, True)  # fmt: skip
    lo, hi = min(element.levels) / q, max(element.levels) / q
    span = _bits(max(-lo, hi))
    if element.kind == "int":  # two's complement width of the range [lo, hi]
        width = _bits(max(-lo - 1, hi)) + (1 if lo < 0 else 0)
        return ElementInput(width, False, 0, 1, span, 0, sn, element.bits)
    decode_in = element.bits - (1 if symmetric and element.signed else 0) + flag_bits
    return ElementInput(span, element.signed, 0, 1, span, decode_in, sn, element.bits)


def scale_op(rule: ScaleRule, block: int | None) -> ScaleOp:
    """What `rule` costs with `block` values per scale (None: per channel or per tensor)."""
    if rule.is_cast:
        return ScaleOp(None, 1, 0, 1, 0)
    if rule.power_of_two:
        positions = rule.exp_max - rule.exp_min + 1
        op = ScaleOp(block, 1, max(rule.bits, 1), positions, 0)
    else:
        fmt = element_operand(rule.format)
        op = ScaleOp(block, fmt.width, fmt.exp_bits, fmt.exp_positions, 0)
    if block is None:  # applied once per output, as an FP32 multiply
        return ScaleOp(None, 1, 0, 1, 1)
    return ScaleOp(op.block, op.sig_bits, op.exp_bits, op.exp_positions,
                   1 if rule.uses_tensor_amax else 0)  # fmt: skip


@lru_cache(maxsize=1024)
def candidates(fmt: Format, lut_bits: int = 8) -> tuple[Candidate, ...]:
    """The datapath candidates of a format with their expected block fractions."""
    if isinstance(fmt, ScaledFormat):
        return (Candidate(1.0, element_operand(fmt.element, 0, lut_bits),
                          scale_op(fmt.scale, fmt.block_size)),)  # fmt: skip
    assert isinstance(fmt, ChoiceFormat)
    out = []
    for f, c in zip(fmt.fractions, fmt.candidates):
        op = element_operand(c.element, fmt.flag_bits, lut_bits)
        out.append(Candidate(f, op, scale_op(c.scale, c.block_size)))
    return tuple(out)


def _merge(cands: tuple[Candidate, ...]) -> tuple[Candidate, ...]:
    """Candidates that share a datapath (same operand and scale) merged, fractions summed;
    when they differ only in their decoded levels, one shared decoder serves them all."""
    merged: dict[tuple[ElementInput, ScaleOp], float] = {}
    for c in cands:
        merged[(c.operand, c.scale)] = merged.get((c.operand, c.scale), 0.0) + c.fraction
    return tuple(Candidate(f, op, sc) for (op, sc), f in merged.items())


# --- one datapath ------------------------------------------------------------------------------


class _Parts:
    """Breakdown rows being collected: (group, part) -> Cost (area, energy per MAC)."""

    def __init__(self, tech: Technology) -> None:
        self.tech = tech
        self.rows: dict[tuple[str, str], Cost] = {}

    def add(self, group: str, part: str, unit: Cost, count: float = 1, per_mac: float = 1):
        """`count` instances of `unit`, each used `per_mac` times per MAC."""
        if unit == ZERO:
            return
        cost = Cost(unit.area_um2 * count, unit.energy_pj * per_mac)
        self.rows[(group, part)] = self.rows.get((group, part), ZERO) + cost


def _operand_logic(p: _Parts, op: ElementInput, role: str, lanes: int, per_mac: float) -> None:
    t = p.tech
    out_bits = op.width + (1 if op.sign_magnitude else 0)
    p.add("decode", f"{role} decoder", ar.lut_decoder(op.decode_in, out_bits, t), lanes, per_mac)
    detect = ar.gates(op.stored_bits, t) + ar.mux(op.width, 2, t)
    p.add("decode", f"{role} supernormal", detect * op.supernormal, lanes, per_mac)


def _fixed_ok(w: ElementInput, a: ElementInput, terms: float) -> bool:
    return ar.sum_bits(w.span + a.span + 1, terms) <= FIXED_LIMIT


def _datapath(w: Candidate, a: Candidate, style: str, lanes: int, k: int, p: _Parts) -> float:
    """Add one (weight, activation) datapath's parts to `p`; return MACs per cycle."""
    t = p.tech
    wo, ao = w.operand, a.operand
    serial = style == "bit_serial"
    n = lanes if style != "scalar" else 1
    planes = ao.span if serial else 1  # bit planes of the activation's magnitude
    blocks = [s.block for s in (w.scale, a.scale) if s.block]
    blen = min(blocks) if blocks else None
    group_terms = blen or k
    fixed = _fixed_ok(wo, ao, k)
    prod = wo.span + ao.span + 1  # exact product, sign included

    p.add("core", "operand registers", ar.register(wo.stored_bits, t), n, 1)
    p.add("core", "operand registers", ar.register(1 if serial else ao.stored_bits, t), n,
          planes)  # fmt: skip
    _operand_logic(p, wo, "weight", n, 1)
    _operand_logic(p, ao, "activation", n, 1)
    sm = wo.sign_magnitude or ao.sign_magnitude
    if not fixed:  # normalised floating-point products, FP32 accumulation
        e = max(wo.exp_bits, ao.exp_bits)
        p.add("core", "fp multiplier", ar.fp_multiplier(e, max(wo.width, ao.width) - 1, t), n)
        # one FP32 add per product: the accumulator (scalar) or the tree of n-1 adders plus
        # the accumulator (dot), n per n products
        p.add("core", "fp32 accumulate", ar.fp_adder(FP32_EXP, FP32_MAN, t), n, 1)
        p.add("core", "accumulator register", ar.register(32, t), 1, 1 / n)
    else:
        mult_w = 1 if serial else ao.width
        p.add("core", "multiplier", ar.int_multiplier(wo.width, mult_w, t), n, planes)
        if wo.sign_magnitude and ao.sign_magnitude:
            p.add("core", "sign", ar.xor_gates(1, t), n, 1)
        if sm:  # conditional negation of the (partial) product into two's complement
            neg_w = wo.width + 1 if serial else prod
            p.add("core", "sign", ar.xor_gates(neg_w, t), n, planes)
        if wo.exp_bits and ao.exp_bits:
            p.add("core", "exponent add", ar.int_adder(max(wo.exp_bits, ao.exp_bits) + 1, t), n)
        positions = wo.exp_positions + ao.exp_positions - 1
        p.add("core", "alignment shifter", ar.barrel_shifter(prod, positions, t), n, planes)
        psum = ar.sum_bits(prod, group_terms)
        if style == "scalar":
            p.add("core", "accumulator", ar.int_adder(psum, t) + ar.register(psum, t))
        else:
            tree_in = (wo.width + 1) if serial else prod
            p.add("core", "adder tree", ar.adder_tree(n, tree_in, t), 1, planes / n)
            acc = ar.int_adder(psum, t) + ar.register(psum, t)
            if serial or not blen or n < blen:  # the tree output accumulates over cycles
                p.add("core", "accumulator", acc, 1, planes / n)
    if blen:
        _block_scales(p, w.scale, a.scale, blen, ar.sum_bits(prod, blen), k, n, fixed)
    outputs = w.scale.per_output + a.scale.per_output
    p.add("scale", "per-output fp32 scale", ar.fp_multiplier(FP32_EXP, FP32_MAN, t), 0,
          outputs / k)  # fmt: skip
    return n / planes


def _block_scales(
    p: _Parts, ws: ScaleOp, as_: ScaleOp, blen: int, psum: int, k: int, n: int, fixed: bool
) -> None:
    """Once per block: combine the block scales, apply them to the block sum, accumulate."""
    t = p.tech
    units = max(1, n // blen)  # scale paths a dot unit needs per cycle
    per = 1 / blen
    both = ws.block and as_.block
    sig = (ws.sig_bits if ws.block else 1) * (as_.sig_bits if as_.block else 1)
    sig_bits = (ws.sig_bits if ws.block else 0) + (as_.sig_bits if as_.block else 0)
    if both and ws.sig_bits > 1 and as_.sig_bits > 1:
        p.add("scale", "scale multiply", ar.int_multiplier(ws.sig_bits, as_.sig_bits, t),
              units, per)  # fmt: skip
    if both and ws.exp_bits and as_.exp_bits:
        p.add("scale", "scale exponent add",
              ar.int_adder(max(ws.exp_bits, as_.exp_bits) + 1, t), units, per)  # fmt: skip
    if sig > 1:
        p.add("scale", "apply scale", ar.int_multiplier(psum, sig_bits, t), units, per)
    positions = (ws.exp_positions if ws.block else 1) + (as_.exp_positions if as_.block else 1)
    acc_bits = ar.sum_bits(psum + max(sig_bits, 1) + positions - 1, k / blen)
    if not fixed or acc_bits > FIXED_LIMIT:
        p.add("scale", "fp32 block accumulate", ar.fp_adder(FP32_EXP, FP32_MAN, t), units, per)
        p.add("scale", "block accumulator register", ar.register(32, t), units, per)
        return
    width = psum + max(sig_bits, 1)
    p.add("scale", "block alignment", ar.barrel_shifter(width, positions - 1, t), units, per)
    acc = ar.int_adder(acc_bits, t) + ar.register(acc_bits, t)
    p.add("scale", "block accumulator", acc, units, per)


# --- the unit ----------------------------------------------------------------------------------


def _as_format(fmt: Format | str) -> Format:
    return parse(fmt) if isinstance(fmt, str) else fmt


def _default_lanes(w: Format, a: Format, style: str) -> int:
    if style == "scalar":
        return 1
    blocks = [f.block_size for f in (w, a) if f.block_size]
    return max(blocks) if blocks else 32


@lru_cache(maxsize=4096)
def mac_unit(
    weight: Format | str,
    activation: Format | str,
    style: Style = "dot",
    lanes: int | None = None,
    k: int = 4096,
    tech: Technology = REFERENCE,
    lut_bits: int = 8,
) -> MacUnit:
    """The unit computing weight x activation products (see the module docstring).

    lanes: MACs per cycle of a "dot" unit and lanes of a "bit_serial" one (default: the larger
    block size of the two formats, else 32); k: reduction length, which sizes the lossless
    accumulators and amortises per-output scaling; lut_bits: decode width of codebooks with no
    small integer grid."""
    if style not in STYLES:
        raise unknown("unit style", style, STYLES)
    w, a = _as_format(weight), _as_format(activation)
    n = lanes if lanes is not None else _default_lanes(w, a, style)
    if style == "scalar":
        n = 1
    if n < 1 or k < 1:
        raise UserError(f"lanes and k must be >= 1, got lanes={n}, k={k}")
    wc, ac = _merge(candidates(w, lut_bits)), _merge(candidates(a, lut_bits))
    if style == "bit_serial" and any(c.operand.exp_bits for c in ac):
        raise ModelLimitError(
            f"a bit-serial unit streams the activation's integer bit planes; {a.name} has "
            "floating-point elements: use an integer-grid or block-FP activation such as "
            "anda(m=6), int8 or mxint8, or style scalar/dot"
        )
    pairs: dict[tuple, float] = {}
    for x in wc:
        for y in ac:
            key = (x, y)
            pairs[key] = pairs.get(key, 0.0) + x.fraction * y.fraction
    rows: dict[tuple[str, str], Cost] = {}
    rate = math.inf
    many = len(pairs) > 1
    for (x, y), frac in pairs.items():
        parts = _Parts(tech)
        r = _datapath(x, y, style, n, k, parts)
        rate = min(rate, r)
        tag = f" [{_label(x.operand)} x {_label(y.operand)}]" if many else ""
        for (g, part), c in parts.rows.items():
            c = Cost(c.area_um2, c.energy_pj * frac)
            rows[(g, part + tag)] = rows.get((g, part + tag), ZERO) + c
    if many:  # per lane, a mux selects the active datapath's product
        width = max(x.operand.span + y.operand.span + 1 for x, y in pairs)
        select = ar.mux(width, len(pairs), tech)
        rows[("core", "datapath select")] = Cost(select.area_um2 * n, select.energy_pj)
    scaled = {key: c.scaled(tech) for key, c in rows.items()}
    breakdown = tuple((g, part, c.area_um2, c.energy_pj) for (g, part), c in scaled.items())
    notes = _notes(w, a, wc + ac, style, n, k, lut_bits)
    return MacUnit(
        getattr(w, "name", str(weight)),
        getattr(a, "name", str(activation)),
        style,
        n,
        tech.node_nm,
        sum(r[2] for r in breakdown),
        sum(r[3] for r in breakdown),
        rate,
        breakdown,
        notes,
    )


def _label(op: ElementInput) -> str:
    kind = f"e{op.exp_bits}m{op.width - 1}" if op.exp_bits else f"i{op.width}"
    return kind + ("+lut" if op.decode_in else "")


def _notes(w, a, cands, style, n, k, lut_bits) -> tuple[str, ...]:
    notes = []
    if any(c.operand.approximate for c in cands):
        notes.append(
            f"a codebook with no small integer grid is decoded to {lut_bits}-bit integers "
            "(an approximation of its levels)"
        )
    if isinstance(w, ChoiceFormat) or isinstance(a, ChoiceFormat):
        notes.append("per-block choice: one datapath per distinct pair, energy weighted by the "
                     "expected block fractions")  # fmt: skip
    if any(c.scale.per_output for c in cands):
        notes.append(f"per-output FP32 scaling amortised over k={k}; its area is the "
                     "accelerator's output path")  # fmt: skip
    if style == "bit_serial":
        notes.append("bit-serial: one activation magnitude bit plane per cycle across "
                     f"{n} lanes")  # fmt: skip
    return tuple(notes)
