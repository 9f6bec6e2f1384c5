"""Arithmetic units as functions of bit widths: area (um^2) and energy per operation (pJ) at
45 nm, 0.9 V. `Cost.scaled(tech)` moves a cost to another node and supply voltage.

The models are fits whose parameters are computed from the cited points (`Technology`
constants, so an override of a point moves its fit); no point is looked up:
* integer adder: a*w + b, least squares on relative error over Horowitz's 8/16/32-bit adds;
* integer multiplier (n x m): c*(n*m)^p through Horowitz's 8- and 32-bit multiplies (exact at
  both anchors; Horowitz's own remark: energy close to 3.1 fJ x bits^2);
* standard cells (NanGate 45 nm areas): NAND2 is the gate equivalent (GE); the energy of one GE
  per operation is derived from the adder fit as (adder pJ per bit) / (adder GE per bit);
  shifters, muxes, XORs, registers and decoders are counted in cells and priced that way;
* floating-point multiplier (E exponent, M mantissa bits) = mantissa multiplier (M+1)x(M+1) +
  exponent adder (E+1 bits) + normalisation; floating-point adder = alignment shifter +
  significand adder (M+4 bits: hidden, guard, round, sticky) + exponent subtractor (E bits) +
  normalisation. "Normalisation" is c*(M+1)^p per unit, fitted exactly to the remainder of
  Horowitz's FP16 and FP32 points after the other parts: it absorbs leading-zero counting,
  rounding and exception logic, so FP16 and FP32 are anchors (exact), other widths are the fit.
* lookup-table decoder with i inputs and o outputs: o * 2^i / i gates (Lupanov's bound for a
  synthesised i-input Boolean function, an estimate, not a measured point).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from hwmodels.technology import REFERENCE, Technology


@dataclass(frozen=True)
class Cost:
    """Area (um^2) and energy per operation (pJ)."""

    area_um2: float = 0.0
    energy_pj: float = 0.0

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.area_um2 + other.area_um2, self.energy_pj + other.energy_pj)

    def __mul__(self, k: float) -> Cost:
        return Cost(self.area_um2 * k, self.energy_pj * k)

    __rmul__ = __mul__

    def per(self, n: float) -> Cost:
        """Energy shared by n operations (area unchanged): an amortised cost."""
        return Cost(self.area_um2, self.energy_pj / n)

    def scaled(self, tech: Technology) -> Cost:
        """This 45 nm cost at `tech`'s node and supply voltage."""
        return Cost(self.area_um2 * tech.area_factor, self.energy_pj * tech.energy_factor)


ZERO = Cost()


@dataclass(frozen=True)
class Fits:
    """Fitted parameters: (area, energy) pairs, each derived from the technology's points."""

    adder: tuple[tuple[float, float], tuple[float, float]]  # (a, b) of a*w + b
    multiplier: tuple[tuple[float, float], tuple[float, float]]  # (c, p) of c*(n m)^p
    ge: tuple[float, float]  # (um^2, pJ) per gate equivalent
    fp_mul_norm: tuple[tuple[float, float], tuple[float, float]]  # (c, p) of c*(M+1)^p
    fp_add_norm: tuple[tuple[float, float], tuple[float, float]]
    mux2_um2: float  # the cell the shifters are built from

    def describe(self) -> dict[str, str]:
        (aa, ab), (ea, eb) = self.adder
        (ma, mp), (mea, mep) = self.multiplier
        return {
            "int adder": f"area {aa:.3f}*w + {ab:.3f} um^2, energy {ea * 1e3:.3f}*w + "
            f"{eb * 1e3:.3f} fJ (least squares on 8/16/32-bit points)",
            "int multiplier": f"area {ma:.3f}*(n*m)^{mp:.3f} um^2, energy {mea * 1e3:.3f}*"
            f"(n*m)^{mep:.3f} fJ (through the 8- and 32-bit points)",
            "gate equivalent": f"{self.ge[0]:.3f} um^2, {self.ge[1] * 1e3:.4f} fJ per operation",
            "fp multiplier normalisation": _pow_text(self.fp_mul_norm),
            "fp adder normalisation": _pow_text(self.fp_add_norm),
        }


def _pow_text(fit) -> str:
    (ca, pa), (ce, pe) = fit
    return (
        f"area {ca:.3f}*(M+1)^{pa:.3f} um^2, energy {ce * 1e3:.4f}*(M+1)^{pe:.3f} fJ "
        "(through the FP16 and FP32 remainders)"
    )


def _power_law(x: tuple[float, float], y: tuple[float, float]) -> tuple[float, float]:
    """(c, p) with c*x^p through two points."""
    p = math.log(y[1] / y[0]) / math.log(x[1] / x[0])
    return y[0] / x[0] ** p, p


def _linear_rel(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(a, b) of a*x + b minimising the squared relative error."""
    a = np.stack([x, np.ones_like(x)], axis=1) / y[:, None]
    coef = np.linalg.lstsq(a, np.ones_like(y), rcond=None)[0]
    return float(coef[0]), float(coef[1])


@lru_cache(maxsize=64)
def fits(tech: Technology = REFERENCE) -> Fits:
    """The fitted parameters from `tech`'s 45 nm points (cached per set of constants)."""
    t = tech
    w = np.array([8.0, 16.0, 32.0])
    adder = (
        _linear_rel(w, np.array([t[f"int_add_{b}_um2"] for b in (8, 16, 32)])),
        _linear_rel(w, np.array([t[f"int_add_{b}_pj"] for b in (8, 16, 32)])),
    )
    mult = (
        _power_law((64, 1024), (t["int_mul_8_um2"], t["int_mul_32_um2"])),
        _power_law((64, 1024), (t["int_mul_8_pj"], t["int_mul_32_pj"])),
    )
    ge_area = t["nand2_um2"]
    ge = (ge_area, adder[1][0] / (adder[0][0] / ge_area))
    partial = Fits(adder, mult, ge, ((0, 0), (0, 0)), ((0, 0), (0, 0)), t["mux2_um2"])

    def remainder(kind: str, e: int, m: int, q: int) -> Cost:
        measured = Cost(t[f"fp_{kind}_{q}_um2"], t[f"fp_{kind}_{q}_pj"])
        return measured + (-1.0) * _fp_parts(partial, kind, e, m)

    fitted = []
    for kind in ("mul", "add"):
        r16, r32 = remainder(kind, 5, 10, 16), remainder(kind, 8, 23, 32)
        fitted.append(
            (
                _power_law((11, 24), (r16.area_um2, r32.area_um2)),
                _power_law((11, 24), (r16.energy_pj, r32.energy_pj)),
            )
        )
    return Fits(adder, mult, ge, fitted[0], fitted[1], t["mux2_um2"])


def _eval(fit, x: float, form: str) -> Cost:
    (a0, a1), (e0, e1) = fit
    if form == "linear":
        return Cost(a0 * x + a1, e0 * x + e1)
    return Cost(a0 * x**a1, e0 * x**e1)


def _cells(f: Fits, area_um2: float) -> Cost:
    """Standard cells of total `area_um2`, priced at the GE energy."""
    return Cost(area_um2, area_um2 / f.ge[0] * f.ge[1])


def gates(n: float, tech: Technology = REFERENCE) -> Cost:
    """n NAND2 gate equivalents."""
    f = fits(tech)
    return _cells(f, n * f.ge[0])


def xor_gates(n: float, tech: Technology = REFERENCE) -> Cost:
    """n XOR2 cells (sign logic, conditional negation)."""
    return _cells(fits(tech), n * tech["xor2_um2"])


def mux(width: float, inputs: int = 2, tech: Technology = REFERENCE) -> Cost:
    """A `inputs`:1 multiplexer of `width` bits built from MUX2 cells."""
    return _cells(fits(tech), width * max(inputs - 1, 0) * tech["mux2_um2"])


def register(bits: float, tech: Technology = REFERENCE) -> Cost:
    """`bits` flip-flops; energy per clock cycle (GE energy x the flip-flop's GE count)."""
    return _cells(fits(tech), bits * tech["dff_um2"])


def int_adder(width: float, tech: Technology = REFERENCE) -> Cost:
    """A `width`-bit integer adder."""
    if width <= 0:
        return ZERO
    return _eval(fits(tech).adder, width, "linear")


def int_multiplier(n: float, m: float, tech: Technology = REFERENCE) -> Cost:
    """An n x m-bit integer multiplier (n or m = 1: an AND row, priced by the same fit)."""
    if n <= 0 or m <= 0:
        return ZERO
    return _eval(fits(tech).multiplier, n * m, "power")


def barrel_shifter(width: float, positions: float, tech: Technology = REFERENCE) -> Cost:
    """A logarithmic shifter: `width` bits x ceil(log2 positions) stages of MUX2."""
    if positions <= 1 or width <= 0:
        return ZERO
    return mux(width * math.ceil(math.log2(positions)), 2, tech)


def lut_decoder(in_bits: int, out_bits: int, tech: Technology = REFERENCE) -> Cost:
    """A lookup table of 2^in_bits entries of `out_bits` as logic: out * 2^in / in gates
    (Lupanov's asymptotic circuit size for an arbitrary in-input function; an estimate)."""
    if in_bits <= 0 or out_bits <= 0:
        return ZERO
    return gates(out_bits * 2**in_bits / max(in_bits, 1), tech)


def _fp_parts(f: Fits, kind: str, e: int, m: int) -> Cost:
    """The structural parts of an FP unit, without normalisation."""
    if kind == "mul":
        return _eval(f.multiplier, (m + 1) ** 2, "power") + _eval(f.adder, e + 1, "linear")
    w = m + 4
    shifter = _cells(f, w * math.ceil(math.log2(w)) * f.mux2_um2)
    return shifter + _eval(f.adder, w, "linear") + _eval(f.adder, e, "linear")


def fp_multiplier(exp_bits: int, man_bits: int, tech: Technology = REFERENCE) -> Cost:
    """Floating-point multiplier: mantissa multiplier + exponent adder + normalisation."""
    f = fits(tech)
    return _fp_parts(f, "mul", exp_bits, man_bits) + _eval(f.fp_mul_norm, man_bits + 1, "power")


def fp_adder(exp_bits: int, man_bits: int, tech: Technology = REFERENCE) -> Cost:
    """Floating-point adder: alignment shifter + significand adder + normalisation."""
    f = fits(tech)
    return _fp_parts(f, "add", exp_bits, man_bits) + _eval(f.fp_add_norm, man_bits + 1, "power")


def adder_tree(inputs: int, width: int, tech: Technology = REFERENCE) -> Cost:
    """A binary tree summing `inputs` values of `width` bits losslessly (widths grow by one bit
    a level); energy is per tree evaluation."""
    total, n, w = ZERO, int(inputs), int(width)
    while n > 1:
        total = total + (n // 2) * int_adder(w, tech)
        n, w = n - n // 2, w + 1
    return total


def sum_bits(term_bits: int, terms: float) -> int:
    """Width of a lossless sum of `terms` signed values of `term_bits` bits (sign included)."""
    return int(term_bits + math.ceil(math.log2(max(terms, 1))))
