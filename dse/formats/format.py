"""Formats: an element format, a grouping and a scale rule -- or a per-block choice of those.

* `ScaledFormat` covers INT/FP/codebook formats at any granularity, OCP MX (E8M0 scales),
  NVFP4 (two-level UE4M3 scales) and block floating point (Anda: a sign-magnitude integer
  element, a 5-bit shared exponent, truncation).
* `ChoiceFormat` picks one of several candidate formats per block, with a flag of
  ceil(log2 n) bits per block: BlockDialect (16 dialect codebooks, one shared exponent) and the
  FP4/FP8 block mix (NVFP4 or FP8 per block of 16) are two instances of it.

Non-finite inputs: NaN stays NaN; +-inf saturates to the block's largest level (plain casts
with no scale, such as fp16, overflow to inf as an IEEE cast does); neither affects its block's
scale. A block of zeros has scale 0 and quantizes to zeros.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dse.errors import UserError
from dse.formats.blocking import Blocking, Restore
from dse.formats.elements import Element, Rounding
from dse.formats.scales import ScaleRule
from dse.formats.selectors import Selector

#: Why a choice whose candidates differ in width and whose shares are the data's has no bits
#: per element before it runs (`ChoiceFormat.fixed_bits`).
DATA_SHARES = ("its candidates differ in width and the share each takes depends on the data, "
               "so its bits per element are unknown without data")  # fmt: skip


@dataclass(frozen=True)
class ScaledFormat:
    """Elements of one format, grouped, each group sharing one scale."""

    name: str
    element: Element
    blocking: Blocking
    scale: ScaleRule
    rounding: Rounding = "even"
    clip: float = 1.0

    def __post_init__(self) -> None:
        if not 0 < self.clip <= 1e6:
            raise UserError(f"{self.name}: clip ratio must be positive, got {self.clip}")

    @property
    def block_size(self) -> int | None:
        """Values per scale (None for per-channel/per-tensor: set by the tensor's shape)."""
        return self.blocking.group_size

    @property
    def parts(self) -> tuple[ScaledFormat, ...]:
        """The scaled formats a block may take: this one."""
        return (self,)

    @property
    def uses_tensor_amax(self) -> bool:
        """A fixed tensor maximum sets scales besides each group's own maximum."""
        return self.scale.uses_tensor_amax

    @property
    def uses_scale_spread(self) -> bool:
        """The spread of block scales across a tensor moves the NMSE: never for one scaled
        format (each block's error is relative to its own scale)."""
        return False

    @property
    def scale_invariant(self) -> bool:
        """Quantizing c x gives c times the result of x, for every c > 0 (see
        `ScaleRule.scale_invariant`)."""
        return self.scale.scale_invariant

    @property
    def bits_per_element(self) -> float:
        """Element bits plus block-scale bits per element. Per-channel and per-tensor scales,
        and the per-tensor scale of two-level rules, depend on the tensor's shape and are left
        out here; `storage_bits` counts them exactly."""
        b = self.block_size
        return self.element.bits + (self.scale.bits / b if b else 0.0)

    @property
    def bits_per_tensor(self) -> int:
        """Scale bits stored once per tensor (two-level FP32 scale, or a per-tensor scale)."""
        own = self.scale.bits if self.blocking.per_tensor else 0
        return own + self.scale.tensor_bits

    def storage_bits(self, shape: tuple[int, ...], axis: int = -1) -> int:
        """Exact bits to store a tensor of `shape`: elements, scales and per-tensor scale."""
        n = int(np.prod(shape))
        groups = 0 if self.blocking.per_tensor else self.blocking.groups(shape, axis)
        return n * self.element.bits + groups * self.scale.bits + self.bits_per_tensor

    def block_scales(self, amax: np.ndarray, tensor_amax=None) -> np.ndarray:
        """The scale s = g(M) of blocks with absolute maxima `amax` (vectorised)."""
        return self.scale.block_scale(amax, self.element, self.clip, tensor_amax)

    def quantize_groups(self, xb: np.ndarray, tensor_amax=None) -> np.ndarray:
        """Quantize values already split into groups, shape (groups, values per group)."""
        finite = np.isfinite(xb)
        amax = np.max(np.where(finite, np.abs(xb), 0.0), axis=-1, keepdims=True)
        if tensor_amax is None and self.uses_tensor_amax:
            tensor_amax = np.max(amax) if amax.size else 0.0
        s = self.block_scales(amax, tensor_amax)
        with np.errstate(divide="ignore", invalid="ignore"):
            v = np.where(s > 0, xb / np.where(s > 0, s, 1.0), 0.0)
        q = self.element.round(v, self.rounding, saturate=not self.scale.is_cast) * s
        return np.where(np.isnan(xb), np.nan, q)

    def quantize(self, x: np.ndarray, axis: int = -1) -> np.ndarray:
        """Exact quantize-dequantize of `x` along `axis` (same shape, float64)."""
        xb, restore = self.blocking.split(x, axis)
        return restore(self.quantize_groups(xb))

    def describe(self) -> dict:
        """The record's facts, for tables and JSON."""
        return {
            "name": self.name,
            "element": self.element.name,
            "element_bits": self.element.bits,
            "block": self.blocking.label,
            "scale": self.scale.name,
            "bits_per_element": self.bits_per_element,
            "bits_per_tensor": self.bits_per_tensor,
            "selector": "",
        }


def _join(names) -> str:
    """'a/b' for a few distinct names, 'first..last (n)' for many."""
    names = list(dict.fromkeys(names))
    return "/".join(names) if len(names) <= 3 else f"{names[0]}..{names[-1]} ({len(names)})"


@dataclass(frozen=True)
class ChoiceFormat:
    """Per block of `block_size` values, one of `candidates` chosen by `selector`.

    Each block stores a flag of ceil(log2 len(candidates)) bits naming its choice. Candidates
    are evaluated on the whole tensor with their own scaling (so an NVFP4 candidate keeps its
    per-tensor scale), then the selector picks per block.
    """

    name: str
    candidates: tuple[ScaledFormat, ...]
    block_size: int
    selector: Selector

    def __post_init__(self) -> None:
        if len(self.candidates) < 2:
            raise UserError(f"{self.name}: a per-block choice needs at least two candidates")
        for c in self.candidates:
            if c.block_size is not None and self.block_size % c.block_size:
                raise UserError(
                    f"{self.name}: choice block {self.block_size} is not a multiple of "
                    f"candidate {c.name}'s block {c.block_size}"
                )

    @property
    def blocking(self) -> Blocking:
        return Blocking("block", self.block_size)

    @property
    def parts(self) -> tuple[ScaledFormat, ...]:
        """The scaled formats a block may take: the candidates."""
        return self.candidates

    @property
    def uses_tensor_amax(self) -> bool:
        """A fixed tensor maximum sets some candidate's scales: two-level rules, and
        per-tensor candidates (whose group is the tensor, not the choice's block)."""
        return any(c.uses_tensor_amax or c.blocking.per_tensor for c in self.candidates)

    @property
    def uses_scale_spread(self) -> bool:
        """The spread of block scales across a tensor moves the NMSE: the selector compares
        block scores with a tensor-wide level (`Selector.absolute_score`)."""
        return self.selector.absolute_score

    @property
    def scale_invariant(self) -> bool:
        """Every candidate is scale-invariant (`ScaledFormat.scale_invariant`)."""
        return all(c.scale_invariant for c in self.candidates)

    @property
    def flag_bits(self) -> int:
        """Bits per block naming the choice; none when the selector's choice is the stored
        block scale itself (a calibrated scale search)."""
        if self.selector.in_scale:
            return 0
        return math.ceil(math.log2(len(self.candidates)))

    @property
    def fixed_bits(self) -> bool:
        """Whether the bits are known without data: the selector fixes each candidate's share
        of the blocks, or the candidates cost the same bits."""
        fixed = self.selector.fractions(len(self.candidates)) is not None
        return fixed or len({c.bits_per_element for c in self.candidates}) == 1

    @property
    def fractions(self) -> tuple[float, ...]:
        """Expected share of blocks per candidate, where the selector fixes it; else shares
        are data-dependent and the candidates must cost the same bits (`fixed_bits`)."""
        fixed = self.selector.fractions(len(self.candidates))
        if fixed is not None:
            return fixed
        if not self.fixed_bits:
            raise UserError(f"{self.name}: {DATA_SHARES}; give it a fixed share (e.g. "
                            "fp4fp8(p=0.3))")  # fmt: skip
        return (1.0,) + (0.0,) * (len(self.candidates) - 1)

    def bits_at(self, shares) -> float:
        """Bits per element when the candidates take these shares of the blocks."""
        mix = sum(f * c.bits_per_element for f, c in zip(shares, self.candidates))
        return float(mix + self.flag_bits / self.block_size)

    @property
    def bits_per_element(self) -> float:
        return self.bits_at(self.fractions)

    @property
    def bits_per_tensor(self) -> int:
        """The per-tensor scales of the candidates in use (`fractions`; every candidate of a
        choice whose widths differ and whose shares are the data's)."""
        shares = self.fractions if self.fixed_bits else (1.0,) * len(self.candidates)
        return sum(c.bits_per_tensor for f, c in zip(shares, self.candidates) if f > 0)

    @property
    def element(self) -> Element:
        """The first candidate's element (the low-precision one, for a mix)."""
        return self.candidates[0].element

    def storage_bits(self, shape: tuple[int, ...], axis: int = -1) -> float:
        """Bits to store a tensor of `shape` at the expected candidate fractions."""
        groups = self.blocking.groups(shape, axis)
        parts = [f * c.storage_bits(shape, axis) for f, c in zip(self.fractions, self.candidates)]
        return sum(parts) + groups * self.flag_bits

    def choose(
        self, x: np.ndarray, axis: int = -1, weights: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, Restore]:
        """(choice per block, candidates' quantized blocks (n, groups, B), restore)."""
        xb, restore = self.blocking.split(x, axis)
        qb = np.stack([self.blocking.split(c.quantize(x, axis), axis)[0] for c in self.candidates])
        wb = (
            None
            if weights is None
            else self.blocking.split(np.broadcast_to(weights, np.shape(x)), axis)[0]
        )
        return self.selector.choose(xb, qb, wb, self), qb, restore

    def quantize(
        self, x: np.ndarray, axis: int = -1, weights: np.ndarray | None = None
    ) -> np.ndarray:
        """Exact quantize-dequantize; `weights` are per-value sensitivities (e.g. Fisher g^2)
        used by score- and error-based selectors."""
        choice, qb, restore = self.choose(x, axis, weights)
        y = np.take_along_axis(qb, choice[None, :, None], axis=0)[0]
        return restore(y)

    def describe(self) -> dict:
        return {
            "name": self.name,
            "element": _join(c.element.name for c in self.candidates),
            "element_bits": max(c.element.bits for c in self.candidates),
            "block": f"g{self.block_size}",
            "scale": _join(c.scale.name for c in self.candidates),
            "bits_per_element": self.bits_per_element if self.fixed_bits else None,  # data's
            "bits_per_tensor": self.bits_per_tensor,
            "selector": self.selector.label,
        }


Format = ScaledFormat | ChoiceFormat
