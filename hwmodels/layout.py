"""Storage layouts: bits stored and bits moved per tensor.

* "packed": elements packed densely, block scales (and per-block flags) in their own dense
  stream, per-tensor scales once. Stored = moved = the format's exact storage bits.
* "block": each block is one record [scale | flag | B elements], padded to a whole number of
  memory words of `word_bits` (0: no padding). Padding is reported.
* "bitplane": each block stores its elements' bits as planes of B bits (bit i of every element
  in one plane) plus its scale and flag; a reader that needs only `planes` planes reads those
  (sign plane included), the scale and the flag (Anda: 1 + m planes for mantissa length m).

A per-block choice (BlockDialect, the FP4/FP8 mix) is costed at its expected candidate
fractions, with its flag bits per block.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dse.errors import UserError, unknown
from dse.formats import ChoiceFormat, ScaledFormat
from dse.formats.format import Format

LAYOUTS: tuple[str, ...] = ("packed", "block", "bitplane")


@dataclass(frozen=True)
class TensorBits:
    """Bits of one tensor: stored, moved by a reader, and padding among the stored bits."""

    stored: float
    moved: float
    padding: float
    elements: int

    @property
    def stored_per_element(self) -> float:
        return self.stored / self.elements

    @property
    def moved_per_element(self) -> float:
        return self.moved / self.elements


def _parts(fmt: Format) -> list[tuple[float, ScaledFormat]]:
    if isinstance(fmt, ChoiceFormat):
        return [(f, c) for f, c in zip(fmt.fractions, fmt.candidates) if f > 0]
    return [(1.0, fmt)]


def tensor_bits(
    fmt: Format,
    shape: tuple[int, ...],
    layout: str = "packed",
    word_bits: int = 0,
    planes: int | None = None,
    axis: int = -1,
) -> TensorBits:
    """Bits stored and moved for a tensor of `shape` in `fmt` under `layout` (see module doc).
    `planes`: magnitude-plus-sign planes a bit-plane reader needs (default: all)."""
    if layout not in LAYOUTS:
        raise unknown("storage layout", layout, LAYOUTS)
    n = math.prod(shape)
    if layout == "packed":
        total = float(fmt.storage_bits(shape, axis))
        return TensorBits(total, total, 0.0, n)
    block = fmt.block_size
    if block is None:
        raise UserError(f"layout {layout!r} needs a block format; {fmt.name} has no blocks")
    groups = -(-shape[axis] // block) * (n // shape[axis])
    flag = fmt.flag_bits if isinstance(fmt, ChoiceFormat) else 0
    stored = moved = padding = 0.0
    for frac, c in _parts(fmt):
        scale_bits = c.scale.bits * (block // c.block_size if c.block_size else 0)
        el = c.element.bits
        if layout == "block":
            record = block * el + scale_bits + flag
            padded = -(-record // word_bits) * word_bits if word_bits else record
            stored += frac * groups * padded
            moved += frac * groups * padded
            padding += frac * groups * (padded - record)
        else:
            need = el if planes is None else planes
            if not 1 <= need <= el:
                raise UserError(f"planes must be in 1..{el} for {c.name}, got {need}")
            stored += frac * groups * (block * el + scale_bits + flag)
            moved += frac * groups * (block * need + scale_bits + flag)
        stored += c.bits_per_tensor  # once per tensor for every candidate in use
        moved += c.bits_per_tensor
    return TensorBits(stored, moved, padding, n)
