"""Scale rules: how a block's absolute maximum M becomes the block's scale s = g(M).

One record, `ScaleRule`, covers every rule in the library:

* kind "none"   -- s = 1 (plain casts such as fp16 / bf16 tensors).
* kind "real"   -- s = clip * M / max|element|, rounded to the scale's own float format
                   (fp32, fp16, bf16).
* kind "pow2"   -- s = 2^(floor(log2(clip * M)) - emax_elem), a shared exponent. With
                   `clamp_on="scale"` the scale exponent itself is clamped (OCP MX E8M0:
                   [-127, 127]); with `clamp_on="max"` the exponent of the block maximum is
                   clamped (a 5-bit FP16-style shared exponent as in Anda and BlockDialect:
                   [-14, 15]). The scaled maximum lands in [2^emax, 2^(emax+1)), so it can
                   exceed the element's max normal and be clipped (MXFP4: (6, 8) -> 6).
                   With `round_up` the exponent is instead ceil(log2(clip * M / max|element|))
                   (the "RCEIL" rule of production MX kernels): the scaled maximum lands in
                   (max|element| / 2, max|element|], never clipped, one octave coarser
                   for the rest of the block when it would have fitted.
* kind "two_level" -- NVFP4's rule: s_tensor = amax_tensor / (max|element| * max(scale format))
                   in FP32, s_block = round(clip * M / max|element| / s_tensor) onto the scale
                   format (UE4M3 in NVFP4, or 8-bit integers), s = s_block * s_tensor.
                   `code_shift` k > 0 takes the scale-format code k steps below the rounded
                   one (a clipping candidate of a calibrated scale search, `nvfp4(cal=N)`);
                   still a function of M, so the analytic model covers each candidate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np

from dse.formats.elements import Element, FloatElement, LevelElement, exponent_floor

ScaleKind = Literal["none", "real", "pow2", "two_level"]

FP32 = FloatElement("fp32", 8, 23, 127, True, "ieee")
FP16 = FloatElement("fp16", 5, 10, 15, True, "ieee")
BF16 = FloatElement("bf16", 8, 7, 127, True, "ieee")
#: NVFP4 block scale: E4M3 used unsigned (NVIDIA, "Introducing NVFP4", 2025).
UE4M3 = FloatElement("ue4m3", 4, 3, 7, True, "nan", signed=False)
#: OCP MX v1.0 shared scale: unsigned biased exponent, no zero, 0xFF = NaN.
E8M0 = FloatElement("e8m0", 8, 0, 127, False, "nan", signed=False, has_zero=False)
UINT8 = LevelElement("uint8", tuple(float(k) for k in range(256)), 8, "int")


@dataclass(frozen=True)
class ScaleRule:
    """How block maxima become scales, and what a scale costs to store."""

    name: str
    kind: ScaleKind
    bits: int  # stored bits per block
    format: Element | None = None  # values the scale is rounded to ("real", "two_level")
    exp_min: int = -127  # "pow2" exponent range (inclusive)
    exp_max: int = 127
    clamp_on: Literal["scale", "max"] = "scale"
    tensor_bits: int = 0  # stored bits per tensor (the FP32 scale of "two_level")
    code_shift: int = 0  # "two_level": block scale this many codes below the rounded one
    round_up: bool = False  # "pow2": smallest power of two with M / s <= max|element|

    @property
    def is_cast(self) -> bool:
        """s = 1 for every block: the format is a plain cast (no scale stored or applied)."""
        return self.kind == "none"

    @property
    def power_of_two(self) -> bool:
        """s is a power of two: a shared exponent (a shift in hardware)."""
        return self.kind == "pow2"

    @property
    def uses_tensor_amax(self) -> bool:
        """The tensor's absolute maximum sets the scales together with the block's own (the
        per-tensor FP32 scale of a two-level rule)."""
        return self.kind == "two_level"

    def continuous(self, fine_bits: int) -> bool:
        """s = g(M) may be treated as proportional to M: a real scale rounded to a float
        format of at least `fine_bits` mantissa bits (relative steps <= 2^-(fine_bits + 1))."""
        return (
            self.kind == "real"
            and isinstance(self.format, FloatElement)
            and self.format.man_bits >= fine_bits
        )

    @property
    def scale_invariant(self) -> bool:
        """g(cM) = c g(M) for every c > 0, the tensor maximum scaled alike: two-level rules
        (up to the FP32 rounding of the tensor scale) and FP32 scales (exact up to 2^-24)."""
        return self.uses_tensor_amax or self.continuous(FP32.man_bits)

    def element_key(self, element: Element) -> float:
        """What `block_scale` reads of `element`: its emax for power-of-two scales, its
        largest magnitude otherwise (rules with equal keys give equal scales)."""
        return element.emax if self.power_of_two and not self.round_up else element.max_abs

    def _scale_format(self) -> Element:
        """The format a "real" or "two_level" scale is rounded to."""
        if self.format is None:
            raise AssertionError(f"scale rule {self.name} ({self.kind}) has no scale format")
        return self.format

    def tensor_scale(self, element: Element, tensor_amax: np.ndarray | float) -> np.ndarray:
        """Per-tensor FP32 scale of a two-level rule (1 for single-level rules)."""
        if not self.uses_tensor_amax:
            return np.ones_like(np.asarray(tensor_amax, dtype=np.float64))
        denom = element.max_abs * self._scale_format().max_abs
        return FP32.round(np.asarray(tensor_amax, dtype=np.float64) / denom)

    def jumps(
        self, element: Element, clip: float, lo: float, hi: float, tensor_amax: np.ndarray
    ) -> np.ndarray:
        """Block maxima M where s = g(M) jumps, covering [lo, hi] (M, `lo`, `hi` and the column
        `tensor_amax` in data units): powers of two / clip for power-of-two scales, the scale
        format's rounding midpoints times max|element| / clip (times the tensor scale) for
        rounded scales, none for a cast. One row, or one per tensor maximum (two-level)."""
        if self.power_of_two:
            # every k with 2^k in [lo, hi] * clip (/ max|element| when rounding up), padded by
            # one octave each side
            top = element.max_abs if self.round_up else 1.0
            k = np.arange(math.floor(math.log2(lo * clip / top)) - 1,
                          math.ceil(math.log2(hi * clip / top)) + 2)  # fmt: skip
            return np.ldexp(top, k)[None, :] / clip
        if self.is_cast:
            return np.empty((1, 0))
        unit: float | np.ndarray = element.max_abs / clip
        if self.uses_tensor_amax:
            unit = unit * self.tensor_scale(element, tensor_amax * clip)
        return rounding_midpoints(self._scale_format())[None, :] * unit

    def block_scale(
        self,
        amax: np.ndarray,
        element: Element,
        clip: float = 1.0,
        tensor_amax: np.ndarray | float | None = None,
    ) -> np.ndarray:
        """Scale s for block maxima `amax` (any shape, broadcasts with `tensor_amax`).

        A block whose maximum is 0, or whose scale rounds to 0, gets s = 0: it quantizes to
        zeros. `tensor_amax` is needed by two-level rules only (defaults to max(amax)).
        """
        m = np.asarray(amax, dtype=np.float64)
        if clip != 1.0:
            m = m * clip
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if self.is_cast:
                s = np.ones_like(m)
            elif self.kind == "real":
                s = self._scale_format().round(m / element.max_abs)
            elif self.power_of_two and self.round_up:
                r = np.where(m > 0, m, 1.0) / element.max_abs
                e = exponent_floor(r)
                x = np.clip(e + (r > np.ldexp(1.0, e)), self.exp_min, self.exp_max)
                s = np.ldexp(1.0, x)
            elif self.power_of_two:
                e = exponent_floor(np.where(m > 0, m, 1.0))
                if self.clamp_on == "max":
                    x = np.clip(e, self.exp_min, self.exp_max) - element.emax
                else:
                    x = np.clip(e - element.emax, self.exp_min, self.exp_max)
                s = np.ldexp(1.0, x)
            else:
                t_amax = np.max(m) if tensor_amax is None else tensor_amax * clip
                st = self.tensor_scale(element, t_amax)
                # st = 0 (an all-zero tensor) gives s = (saturated code) x 0 = 0 below
                s = self._shifted(self._scale_format().round(m / (element.max_abs * st))) * st
        return np.where(m > 0, s, 0.0)

    def _shifted(self, sb: np.ndarray) -> np.ndarray:
        """Block scales `code_shift` codes below `sb` (already on the scale format), never
        below the smallest positive code; zero stays zero."""
        if not self.code_shift:
            return sb
        v = self._scale_format().values
        i = np.clip(np.searchsorted(v, sb) - self.code_shift, 1, v.size - 1)
        return np.where(sb > 0, v[i], 0.0)


@lru_cache(maxsize=64)
def rounding_midpoints(scale_format: Element) -> np.ndarray:
    """The positive midpoints between consecutive values of a scale format (where a rounded
    scale jumps), cached per format record (read only)."""
    v = scale_format.values
    mid = 0.5 * (v[1:] + v[:-1])
    return mid[mid > 0]


NONE = ScaleRule("none", "none", 0)

#: Scale formats by name: the token after ':' in a format name.
SCALE_RULES: dict[str, ScaleRule] = {
    "none": NONE,
    "fp32": ScaleRule("fp32", "real", 32, FP32),
    "fp16": ScaleRule("fp16", "real", 16, FP16),
    "bf16": ScaleRule("bf16", "real", 16, BF16),
    # OCP MX v1.0: X = 2^(floor(log2 max|V|) - emax_elem), E8M0 range 2^-127..2^127.
    "e8m0": ScaleRule("e8m0", "pow2", 8, E8M0, -127, 127, "scale"),
    # The same E8M0 scale rounded up: exponent = ceil(log2(M / max|element|)), as NVIDIA's
    # TransformerEngine MXFP8 recipe computes it (docs/features/low_precision_training/mxfp8:
    # "exponent = float_to_e8m0(amax / max_norm)", rounded up so that no element saturates).
    "e8m0ceil": ScaleRule("e8m0ceil", "pow2", 8, E8M0, -127, 127, "scale", round_up=True),
    # 5-bit shared exponent = FP16 exponent of the block maximum, normal range -14..15
    # (Anda, Fang et al. HPCA 2025; BlockDialect, Jang & Tambe 2025, stores the same 5 bits).
    "e5": ScaleRule("e5", "pow2", 5, None, -14, 15, "max"),
    # NVFP4: UE4M3 block scale times an FP32 per-tensor scale.
    "ue4m3": ScaleRule("ue4m3", "two_level", 8, UE4M3, tensor_bits=32),
    # 8-bit unsigned integer block scale times an FP32 per-tensor scale (our definition:
    # levels 0..255; the per-tensor scale maps the largest block scale to 255).
    "int8": ScaleRule("int8", "two_level", 8, UINT8, tensor_bits=32),
}
