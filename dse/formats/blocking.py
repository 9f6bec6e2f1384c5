"""Which values share a scale: per tensor, per channel (row), per block of B, per 2-D tile."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from dse.errors import UserError

Restore = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Blocking:
    """The grouping of a tensor's values into scale groups.

    `kind`: "tensor" (one group), "channel" (one group per row along the quantization axis),
    "block" (`size` consecutive values along the axis) or "tile" (`tile` = rows x cols over the
    axis before the quantization axis and the quantization axis itself).
    A trailing partial block or tile is padded with zeros -- which change no block maximum and
    quantize to zero -- and cropped again, so any shape is accepted.
    """

    kind: Literal["tensor", "channel", "block", "tile"]
    size: int = 0
    tile: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        if self.kind == "block" and self.size < 1:
            raise UserError(f"block size must be >= 1, got {self.size}")
        if self.kind == "tile" and min(self.tile) < 1:
            raise UserError(f"tile sides must be >= 1, got {self.tile}")

    @property
    def per_tensor(self) -> bool:
        """One group: the scale is set by the tensor's absolute maximum."""
        return self.kind == "tensor"

    @property
    def per_channel(self) -> bool:
        """One group per row along the axis: the group size is the row length."""
        return self.kind == "channel"

    @property
    def two_dimensional(self) -> bool:
        """Groups span two axes (tiles), not a run along the quantization axis."""
        return self.kind == "tile"

    def is_block_of(self, size: int) -> bool:
        """Groups are blocks of exactly `size` consecutive values along the axis."""
        return self.kind == "block" and self.size == size

    def resized(self, size: int) -> Blocking:
        """The same grouping with blocks of `size` values (groupings that are not blocks are
        set by the tensor's shape or are tiles: unchanged)."""
        return Blocking("block", size) if self.kind == "block" else self

    def group_values(self, row: int | None, tensor: int | None) -> int | None:
        """Values per scale group in a tensor of `tensor` values with rows of `row` values
        along the axis: the block or tile size, the row (per channel) or the tensor."""
        if self.kind == "channel":
            return row
        if self.kind == "tensor":
            return tensor
        return self.group_size

    @property
    def group_size(self) -> int | None:
        """Values per scale, or None when it depends on the tensor's shape."""
        if self.kind == "block":
            return self.size
        if self.kind == "tile":
            return self.tile[0] * self.tile[1]
        return None

    @property
    def label(self) -> str:
        """The token used in format names: g32, 16x16, ch, t."""
        return {"tensor": "t", "channel": "ch"}.get(self.kind) or (
            f"g{self.size}" if self.kind == "block" else f"{self.tile[0]}x{self.tile[1]}"
        )

    def groups(self, shape: tuple[int, ...], axis: int = -1) -> int:
        """Number of scale groups for a tensor of `shape`."""
        shape = tuple(shape)
        n = int(np.prod(shape)) if shape else 1
        if self.kind == "tensor":
            return 1
        k = shape[axis]
        rows = n // k if k else 0
        if self.kind == "channel":
            return rows
        if self.kind == "block":
            return rows * -(-k // self.size)
        if len(shape) < 2:
            raise UserError("tile scaling needs a tensor of at least 2 dimensions")
        r = np.moveaxis(np.empty(shape, dtype=np.bool_), axis, -1).shape[-2]
        return (rows // r) * -(-r // self.tile[0]) * -(-k // self.tile[1])

    def split(self, x: np.ndarray, axis: int = -1) -> tuple[np.ndarray, Restore]:
        """Reshape `x` into (groups, values per group) and return the inverse."""
        xm = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
        shape = xm.shape

        def back(y: np.ndarray) -> np.ndarray:
            return np.moveaxis(y.reshape(shape), -1, axis)

        if self.kind == "tensor":
            return xm.reshape(1, -1), back
        if xm.ndim == 0:
            xm = xm.reshape(1)
        k = xm.shape[-1]
        if self.kind == "channel":
            return xm.reshape(-1, k), back
        if self.kind == "block":
            b = self.size
            pad = -k % b
            xp = np.pad(xm, [(0, 0)] * (xm.ndim - 1) + [(0, pad)]) if pad else xm

            def unblock(y: np.ndarray) -> np.ndarray:
                return back(y.reshape(*xp.shape)[..., :k])

            return xp.reshape(-1, b), unblock
        if xm.ndim < 2:
            raise UserError("tile scaling needs a tensor of at least 2 dimensions")
        (tr, tc), r = self.tile, xm.shape[-2]
        pads = [(0, 0)] * (xm.ndim - 2) + [(0, -r % tr), (0, -k % tc)]
        xp = np.pad(xm, pads)
        lead, rp, kp = xp.shape[:-2], xp.shape[-2], xp.shape[-1]
        tiles = xp.reshape(*lead, rp // tr, tr, kp // tc, tc).swapaxes(-3, -2)

        def untile(y: np.ndarray) -> np.ndarray:
            y = y.reshape(tiles.shape).swapaxes(-3, -2).reshape(xp.shape)
            return back(y[..., :r, :k])

        return tiles.reshape(-1, tr * tc), untile
