"""Scalar element formats: the values one stored element can take, and rounding onto them.

Two records describe every element format in the library:

* `FloatElement` -- any ExMy floating point format given by its bit fields (exponent and
  mantissa widths, bias, subnormals, non-finite encodings, signedness), in the spirit of
  Graphcore's `gfloat` `FormatInfo`. Rounding is arithmetic (no table), so fp32 works too.
* `LevelElement` -- any finite, sorted set of levels: integers, lookup codebooks (NF4, SF4,
  APoT4, E2M1 variants, user lists) and supernormal extensions. Rounding is a binary search.

Both expose the same small interface (`round`, `max_abs`, `emax`, `values`, `bits`), so every
algorithm above them (scaling, error, cost) is generic.

Rounding modes: "even" (nearest, ties to the even code -- IEEE round-to-nearest-even for floats,
`np.rint` for integers), "away" (nearest, ties away from zero) and "trunc" (toward zero).
Saturation: with `saturate=True` (what every block format does, e.g. OCP MX) values beyond the
largest level clamp to it; otherwise they become inf where the format encodes inf, else NaN.
NaN inputs stay NaN (a format with no NaN code cannot store them; we do not invent a value).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np

from dse.errors import UserError

Rounding = Literal["even", "away", "trunc"]
ROUNDINGS: tuple[Rounding, ...] = ("even", "away", "trunc")
Nonfinite = Literal["ieee", "nan", "none"]
NONFINITES: tuple[Nonfinite, ...] = ("ieee", "nan", "none")


def _check_rounding(mode: str) -> None:
    if mode not in ROUNDINGS:
        raise UserError(f"unknown rounding mode {mode!r}; valid choices: {', '.join(ROUNDINGS)}")


def exponent_floor(a: np.ndarray) -> np.ndarray:
    """floor(log2 a) for a > 0, exact (via frexp, no floating-point log)."""
    _, e = np.frexp(a)
    return e.astype(np.int64) - 1


@dataclass(frozen=True)
class FloatElement:
    """A binary floating point format ExMy.

    value(e, m) = 2^(e - bias) * (1 + m / 2^M) for exponent code e >= 1, and
    2^(1 - bias) * (m / 2^M) for e = 0 when `subnormals` (else e = 0 holds only zero).
    `nonfinite`: "ieee" reserves the top exponent code for inf/NaN (E5M2, fp16); "nan" reserves
    only the all-ones code for NaN (E4M3 `fn`, E8M0); "none" makes every code finite (E2M1,
    E2M3, E3M2). `has_zero=False` (E8M0) makes code 0 the smallest normal number.
    """

    name: str
    exp_bits: int
    man_bits: int
    bias: int
    subnormals: bool = True
    nonfinite: Nonfinite = "none"
    signed: bool = True
    has_zero: bool = True

    kind = "float"

    @property
    def bits(self) -> int:
        return self.exp_bits + self.man_bits + int(self.signed)

    @cached_property
    def max_abs(self) -> float:
        """Largest finite magnitude."""
        top = 2**self.exp_bits - 1
        mans = 2**self.man_bits - 1
        if self.nonfinite == "ieee":
            top -= 1
        elif self.nonfinite == "nan":
            mans -= 1  # the all-ones code is NaN
            if mans < 0:
                top, mans = top - 1, 2**self.man_bits - 1
        return math.ldexp(1.0 + mans / 2**self.man_bits, top - self.bias)

    @property
    def min_normal(self) -> float:
        return math.ldexp(1.0, (1 if self.subnormals or self.has_zero else 0) - self.bias)

    @cached_property
    def _min_quantum_exp(self) -> int:
        """log2 of the value spacing in the smallest normal binade."""
        return math.frexp(self.min_normal)[1] - 1 - self.man_bits

    @property
    def min_value(self) -> float:
        """Smallest value (0, or for a format with no zero its smallest normal; unsigned
        formats clamp negative inputs to it)."""
        return 0.0 if self.has_zero else self.min_normal

    @property
    def has_inf(self) -> bool:
        return self.nonfinite == "ieee"

    @property
    def emax(self) -> int:
        """Exponent of the largest normal number (OCP MX `emax_elem`)."""
        return math.floor(math.log2(self.max_abs))

    @cached_property
    def values(self) -> np.ndarray:
        """All finite values, sorted (only for formats of at most 16 bits)."""
        if self.bits > 16:
            raise UserError(f"{self.name} has too many values to list ({self.bits} bits)")
        e = np.arange(2**self.exp_bits)[:, None]
        m = np.arange(2**self.man_bits)[None, :]
        frac = m / 2**self.man_bits
        if self.subnormals:
            mag = np.where(e == 0, np.ldexp(frac, 1 - self.bias), np.ldexp(1 + frac, e - self.bias))
        else:
            mag = np.ldexp(1 + frac, e - self.bias)
            if self.has_zero:
                mag = np.where(e == 0, np.where(m == 0, 0.0, np.nan), mag)
        mag = mag.ravel()
        mag = mag[np.isfinite(mag) & (mag <= self.max_abs)]
        vals = np.concatenate([mag, -mag]) if self.signed else mag
        return np.unique(vals) + 0.0  # one zero, printed as +0

    @cached_property
    def _native(self) -> type[np.floating] | None:
        """The numpy type with exactly this format's bit fields and semantics (IEEE binary16
        or binary32), whose cast is the same round-to-nearest-even, or None."""
        if not (self.signed and self.has_zero):
            return None
        fields = (self.exp_bits, self.man_bits, self.bias, self.subnormals, self.nonfinite)
        native: dict[tuple, type[np.floating]] = {
            (5, 10, 15, True, "ieee"): np.float16,
            (8, 23, 127, True, "ieee"): np.float32,
        }
        return native.get(fields)

    def round(self, x: np.ndarray, mode: Rounding = "even", saturate: bool = True) -> np.ndarray:
        """Round real values onto the format (vectorised, exact in float64): numpy's cast
        where it is the same rounding (`_native`, faster), else `round_arithmetic`."""
        _check_rounding(mode)
        x = np.asarray(x, dtype=np.float64)
        if mode != "even" or self._native is None:
            return self.round_arithmetic(x, mode, saturate)
        if saturate:  # clamped first, the cast cannot overflow (max_abs is a value)
            big = self.max_abs
            return np.minimum(np.maximum(x, -big), big).astype(self._native).astype(np.float64)
        with np.errstate(over="ignore"):
            return x.astype(self._native).astype(np.float64)

    def round_arithmetic(
        self, x: np.ndarray, mode: Rounding = "even", saturate: bool = True
    ) -> np.ndarray:
        """`round` by arithmetic on the bit fields (any format, any mode)."""
        x = np.asarray(x, dtype=np.float64)
        a = np.abs(x)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            # the quantum is 2^(floor(log2 a) - M), from frexp, and at least the quantum of the
            # smallest normal binade (the subnormals' spacing; without subnormals values below
            # it are handled apart). 0, inf and NaN give any exponent: they round to themselves
            # below; NaN propagates through every step
            e = np.maximum(np.frexp(a)[1] - (1 + self.man_bits), self._min_quantum_exp)
            quantum = np.ldexp(1.0, e)  # the spacing of the format's values around a
            r = a / quantum
            if mode == "even":
                r = np.rint(r)
            elif mode == "away":
                r = np.floor(r + 0.5)
            else:
                r = np.floor(r)
            y = r * quantum
        if not self.subnormals:
            # below the smallest normal only zero (or, with no zero, the smallest normal) exists
            tiny = self.min_normal
            y = np.where(a < tiny, self._round_below_normal(a, tiny, mode), y)
        if not self.signed:  # negative inputs go to the smallest value; NaN stays NaN
            return np.maximum(np.copysign(self._overflow(y, saturate), x), self.min_value)
        return np.copysign(self._overflow(y, saturate), x)

    def _round_below_normal(self, a: np.ndarray, tiny: float, mode: str) -> np.ndarray:
        if not self.has_zero:
            return np.full_like(a, tiny)
        up = a >= tiny / 2 if mode == "away" else a > tiny / 2
        return np.where(up & (mode != "trunc"), tiny, 0.0)

    def _overflow(self, y: np.ndarray, saturate: bool) -> np.ndarray:
        big = self.max_abs
        if saturate:  # a > big rounds to y >= big (big is on the grid): one minimum clamps
            return np.minimum(y, big)
        over = np.inf if self.has_inf else np.nan
        return np.where(y > big, over, y)


@dataclass(frozen=True)
class LevelElement:
    """A format given by its finite set of levels (sorted ascending, containing 0).

    `kind` is "int" for integer grids (a plain integer datapath) and "lut" for codebooks that
    need a lookup-table decoder. `supernormal` lists levels added by reusing a redundant code
    (the negative zero of E2M1/APoT4), which the hardware model charges extra logic for.
    Ties under "even" rounding go to the level whose distance in codes from zero is even.
    """

    name: str
    levels: tuple[float, ...]
    bits: int
    kind: Literal["int", "lut"] = "lut"
    supernormal: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        lv = np.asarray(self.levels, dtype=np.float64)
        if lv.size < 2 or np.any(np.diff(lv) <= 0) or not np.all(np.isfinite(lv)):
            raise UserError(f"{self.name}: levels must be at least two finite, increasing values")
        if 0.0 not in self.levels:
            raise UserError(f"{self.name}: levels must contain 0")
        if lv.size > 2**self.bits:
            raise UserError(f"{self.name}: {lv.size} levels do not fit in {self.bits} bits")

    @cached_property
    def values(self) -> np.ndarray:
        return np.asarray(self.levels, dtype=np.float64)

    @cached_property
    def max_abs(self) -> float:
        return float(np.max(np.abs(self.values)))

    @property
    def emax(self) -> int:
        return math.floor(math.log2(self.max_abs))

    @property
    def signed(self) -> bool:
        return bool(self.values[0] < 0)

    @property
    def has_inf(self) -> bool:
        return False

    @cached_property
    def _parity(self) -> np.ndarray:
        zero = int(np.searchsorted(self.values, 0.0))
        return (np.abs(np.arange(self.values.size) - zero) % 2).astype(bool)

    def round(self, x: np.ndarray, mode: Rounding = "even", saturate: bool = True) -> np.ndarray:
        """Round real values onto the levels. Out-of-range values clamp to the end levels
        (`saturate` is accepted for interface symmetry: a level set has no inf/NaN code)."""
        _check_rounding(mode)
        x = np.asarray(x, dtype=np.float64)
        v = self.values
        i = np.clip(np.searchsorted(v, x, side="left"), 1, v.size - 1)
        lo, hi = v[i - 1], v[i]
        with np.errstate(invalid="ignore"):
            if mode == "trunc":
                take_hi = np.where(x >= 0, x >= hi, x > lo)
            else:
                d_lo, d_hi = x - lo, hi - x
                if mode == "even":
                    tie_hi = ~self._parity[i]
                else:  # away from zero
                    tie_hi = np.abs(hi) > np.abs(lo)
                take_hi = (d_hi < d_lo) | ((d_hi == d_lo) & tie_hi)
        y = np.where(take_hi, hi, lo)
        y = np.clip(y, v[0], v[-1])
        if mode == "trunc":  # below the smallest/above the largest level: nearest end level
            y = np.where(x < v[0], v[0], np.where(x > v[-1], v[-1], y))
        return np.where(np.isnan(x), np.nan, y)


Element = FloatElement | LevelElement


# --- constructions ---------------------------------------------------------------------------


def ocp_float(exp_bits: int, man_bits: int) -> FloatElement:
    """ExMy with the OCP / `ml_dtypes` conventions: bias 2^(E-1)-1, subnormals; E5M2 (and any
    format of 8+ exponent-and-mantissa bits with E >= 5) is IEEE-like, E4M3 is `fn` (NaN only),
    the 4- and 6-bit formats and others have no non-finite codes (OCP MX v1.0, section 5.3)."""
    bias = 2 ** (exp_bits - 1) - 1
    if exp_bits == 4 and man_bits == 3:
        nonfinite: Nonfinite = "nan"
    elif exp_bits >= 5 and exp_bits + man_bits >= 7:
        nonfinite = "ieee"
    else:
        nonfinite = "none"
    return FloatElement(f"e{exp_bits}m{man_bits}", exp_bits, man_bits, bias, True, nonfinite)


def integer(bits: int, asymmetric: bool = False) -> LevelElement:
    """INT-k: -(2^(k-1)-1)..2^(k-1)-1, or with `asymmetric` the two's complement -2^(k-1)..."""
    if not 2 <= bits <= 16:
        raise UserError(f"integer width must be in 2..16 bits, got {bits}")
    top = 2 ** (bits - 1) - 1
    lo = -top - 1 if asymmetric else -top
    name = f"int{bits}" + ("-asym" if asymmetric else "")
    return LevelElement(name, tuple(float(k) for k in range(lo, top + 1)), bits, "int")


def sign_magnitude(bits: int, frac_bits: int = 0, name: str | None = None) -> LevelElement:
    """Sign + (bits-1)-bit magnitude integer, scaled by 2^-frac_bits (MX INT8: bits 8, frac 6;
    Anda block-FP mantissas: bits m+1, frac 0)."""
    top = 2 ** (bits - 1) - 1
    levels = tuple(float(k) / 2**frac_bits for k in range(-top, top + 1))
    return LevelElement(name or f"sm{bits}", levels, bits, "int")


def mirrored(name: str, magnitudes: tuple[float, ...], bits: int) -> LevelElement:
    """A sign-symmetric codebook from its non-negative magnitudes (which include 0)."""
    mags = sorted({float(m) for m in magnitudes})
    return LevelElement(name, tuple([-m for m in reversed(mags[1:])] + mags), bits, "lut")


def quantile_codebook(name: str, bits: int, ppf) -> LevelElement:
    """The bitsandbytes NF4 construction with quantile function `ppf` (Dettmers et al. 2023;
    `create_normal_map`): 2^(k-1) positive and 2^(k-1)-1 negative quantiles of
    linspace(offset, 0.5, .) and zero, normalised by the largest. offset = 1 - (1/(2n) +
    1/(2(n-1)))/2 with n = 2^k, which is bitsandbytes' 0.9677083 for k = 4 (our generalisation
    to other k). The linspace and the normalised table are float32, as in the reference code."""
    n = 2**bits
    # bitsandbytes writes the k = 4 offset as the literal 0.9677083: round to 7 decimals
    offset = np.float32(round(1 - (1 / (2 * n) + 1 / (2 * (n - 1))) / 2, 7))
    half = 2 ** (bits - 1)
    pos = ppf(np.linspace(offset, 0.5, half + 1, dtype=np.float32)[:-1].astype(np.float64))
    neg = -ppf(np.linspace(offset, 0.5, half, dtype=np.float32)[:-1].astype(np.float64))
    vals = np.sort(np.concatenate([pos, neg, [0.0]])).astype(np.float32)  # float32 table
    vals = (vals / vals.max()).astype(np.float64)
    return LevelElement(name, tuple(float(v) for v in vals), bits, "lut")


def normal_float(bits: int = 4) -> LevelElement:
    """NFk (QLoRA's NormalFloat), from normal quantiles."""
    from scipy.special import ndtri

    return quantile_codebook(f"nf{bits}", bits, ndtri)


def student_float(bits: int = 4, nu: float = 5.0) -> LevelElement:
    """SFk(nu) (Dotzel et al., ICML 2024): the NF construction with Student-t quantiles."""
    from scipy.special import stdtrit  # the t quantile, without importing scipy.stats

    if not nu > 0:
        raise UserError(f"sf{bits}: nu must be positive, got {nu}")
    return quantile_codebook(f"sf{bits}(nu={nu:g})", bits, lambda p: stdtrit(nu, p))


def apot4() -> LevelElement:
    """APoT4 (Li et al., ICLR 2020): sums of {0, 2^-1, 2^-2, 2^-4} and {0, 2^-3}, divided by
    5/8 so the largest level is 1; mirrored (15 values, the spare code is negative zero)."""
    sums = {a + b for a in (0, 2**-1, 2**-2, 2**-4) for b in (0, 2**-3)}
    return mirrored("apot4", tuple(s / (5 / 8) for s in sums), 4)


def with_supernormal(base: LevelElement, extra: float, name: str) -> LevelElement:
    """Reuse a symmetric 4-bit codebook's redundant negative-zero code for one extra positive
    level (Dotzel et al.: E2M1+SR adds +8, E2M1+SP adds +5, APoT4+SP adds +0.5)."""
    levels = tuple(sorted({*base.levels, float(extra)}))
    return LevelElement(name, levels, base.bits, "lut", supernormal=(float(extra),))


def as_levels(fmt: FloatElement, name: str | None = None) -> LevelElement:
    """A small float format's value set as a level codebook (to extend it with supernormals)."""
    return LevelElement(name or fmt.name, tuple(float(v) for v in fmt.values), fmt.bits, "lut")
