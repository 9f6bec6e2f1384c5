"""Stage 3: bits moved per element of an operand (storage format and layout included)."""

from __future__ import annotations

from dse.formats import parse
from hwmodels.layout import tensor_bits


class BitsStage:
    """Bits moved per element, cached per (format, tensor shape, layout, word bits)."""

    def __init__(self) -> None:
        self._cache: dict[tuple, float] = {}

    def __call__(self, name: str, shape: tuple[int, int], layout: str, word: int) -> float:
        key = (name, shape, layout, word)
        if key not in self._cache:
            fmt = parse(name)
            lay = layout if fmt.block_size else "packed"  # only block formats have block layouts
            self._cache[key] = tensor_bits(fmt, shape, lay, word).moved_per_element
        return self._cache[key]
