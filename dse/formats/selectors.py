"""Per-block selection rules of a `ChoiceFormat`.

A selector sees the blocks `xb` (groups, B), every candidate's quantization of them `qb`
(candidates, groups, B), optional per-value weights `wb` and the format, and returns the chosen
candidate index per block.

* `MinErrorRule`        -- the candidate with the least (weighted) squared error (BlockDialect's
                       offline choice for weights; ties to the lowest index).
* `BeneficialRange` -- BlockDialect's two-stage online choice (Jang & Tambe 2025): stage 1 takes
                       the group of candidates whose largest level is nearest the scaled block
                       maximum; stage 2 counts the block's scaled magnitudes inside each
                       candidate's "beneficial range" (the interval around each level that only
                       it has within the group, bounded by the midpoints to its neighbours) and
                       takes the larger count.
* `TopFraction`     -- the FP4/FP8 mix (Hooper et al. 2025, FGMP): a block's score is
                       sum_i w_i (Q_0(x_i) - Q_1(x_i))^2; the fraction `p` of blocks with the
                       largest scores take candidate 1 (the high-precision one).
* `ScoreThreshold`  -- the same score with a fixed threshold (one global threshold can then be
                       shared across tensors).
* `ScaleSearch`     -- a calibrated block scale: candidates that differ only in their block
                       scale, the one with the least (weighted) squared error per block. The
                       chosen scale is what the block stores (`in_scale`): no flag bits. With
                       per-value Fisher weights this is FGMP's sensitivity-weighted clipping
                       (Hooper et al. 2025). Analytic model (unweighted): `dse.error.choice`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal, Protocol

import numpy as np

from dse.errors import UserError

if TYPE_CHECKING:
    from dse.formats.format import ChoiceFormat


class Selector(Protocol):
    @property
    def label(self) -> str: ...

    @property
    def in_scale(self) -> bool:
        """The choice is the stored block scale itself: no flag bits (`ScaleSearch`)."""

    @property
    def ranks_tensor(self) -> bool:
        """A block's choice depends on the other blocks of the tensor (`TopFraction`)."""

    @property
    def absolute_score(self) -> bool:
        """A block's score is compared with a level common to the whole tensor (a quantile
        of all blocks' scores, or a fixed threshold), so blocks of larger scale win more
        often (`TopFraction`, `ScoreThreshold`)."""

    def choose(self, xb, qb, wb, fmt: ChoiceFormat) -> np.ndarray: ...

    def fractions(self, n: int) -> tuple[float, ...] | None: ...


class _Rule:
    """What a selector is, besides its choice: the defaults of `Selector`'s flags."""

    in_scale: ClassVar[bool] = False
    ranks_tensor: ClassVar[bool] = False
    absolute_score: ClassVar[bool] = False


def _weighted_sq(a: np.ndarray, b: np.ndarray, wb: np.ndarray | None) -> np.ndarray:
    d2 = (a - b) ** 2
    return np.nansum(d2 if wb is None else d2 * wb, axis=-1)


@dataclass(frozen=True)
class MinErrorRule(_Rule):
    label: str = "min-error"

    def choose(self, xb, qb, wb, fmt) -> np.ndarray:
        return np.argmin(_weighted_sq(qb, xb[None], wb), axis=0)

    def fractions(self, n: int) -> None:
        return None


@dataclass(frozen=True)
class BeneficialRange(_Rule):
    """`group_rule`: "nearest" (group max nearest the scaled block max; ties to the larger)
    or "ceil" (smallest group max not below it). `tie`: which of two equal counts wins."""

    group_rule: Literal["nearest", "ceil"] = "nearest"
    tie: Literal["first", "last"] = "first"
    label: str = "two-stage"

    def ranges(self, fmt: ChoiceFormat) -> list[list[tuple[float, float]]]:
        """Per candidate, the scaled-magnitude intervals [lo, hi) that favour it."""
        mags = [c.element.values[c.element.values >= 0] for c in fmt.candidates]
        tops = [m.max() for m in mags]
        out = []
        for i, m in enumerate(mags):
            others = [set(mags[j]) for j in range(len(mags)) if j != i and tops[j] == tops[i]]
            shared = set.union(*others) if others else set()
            spans = []
            for j, level in enumerate(m):
                if level not in shared and 0 < j < len(m) - 1:
                    spans.append(((m[j - 1] + level) / 2, (level + m[j + 1]) / 2))
            out.append(spans)
        return out

    def choose(self, xb, qb, wb, fmt) -> np.ndarray:
        first = fmt.candidates[0]
        a = np.where(np.isfinite(xb), np.abs(xb), 0.0)
        amax = a.max(axis=-1)
        s = first.block_scales(amax)
        with np.errstate(divide="ignore", invalid="ignore"):
            m = np.where(s > 0, amax / s, 0.0)
            v = np.where(s[:, None] > 0, a / s[:, None], 0.0)
        tops = np.array([c.element.max_abs for c in fmt.candidates])
        groups = np.unique(tops)
        if self.group_rule == "nearest":
            d = np.abs(m[:, None] - groups[None, :])
            best = d.min(axis=1, keepdims=True)
            g = groups.size - 1 - np.argmax((d == best)[:, ::-1], axis=1)  # ties -> larger
        else:
            g = np.minimum(np.searchsorted(groups, m, side="left"), groups.size - 1)
        target = groups[g]
        counts = np.full((len(fmt.candidates), xb.shape[0]), -1.0)
        for i, spans in enumerate(self.ranges(fmt)):
            c = sum(((v >= lo) & (v < hi)).sum(axis=-1) for lo, hi in spans) if spans else 0
            counts[i] = np.where(tops[i] == target, c, -1.0)
        if self.tie == "first":
            return np.argmax(counts, axis=0)
        return counts.shape[0] - 1 - np.argmax(counts[::-1], axis=0)

    def fractions(self, n: int) -> None:
        return None


def _mix_score(xb, qb, wb) -> np.ndarray:
    if qb.shape[0] != 2:
        raise UserError("a score-based mix needs exactly two candidates (low, high)")
    return _weighted_sq(qb[0], qb[1], wb)


@dataclass(frozen=True)
class TopFraction(_Rule):
    p: float

    ranks_tensor: ClassVar[bool] = True  # the top fraction p of the tensor's blocks
    absolute_score: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if not 0.0 <= self.p <= 1.0:
            raise UserError(f"fraction of high-precision blocks p must be in [0, 1], got {self.p}")

    @property
    def label(self) -> str:
        return f"top-fraction(p={self.p:g})"

    def choose(self, xb, qb, wb, fmt) -> np.ndarray:
        score = _mix_score(xb, qb, wb)
        k = round(self.p * score.size)
        choice = np.zeros(score.size, dtype=np.int64)
        choice[np.argsort(-score, kind="stable")[:k]] = 1
        return choice

    def fractions(self, n: int) -> tuple[float, float]:
        return (1.0 - self.p, self.p)


@dataclass(frozen=True)
class ScoreThreshold(_Rule):
    threshold: float

    absolute_score: ClassVar[bool] = True  # a fixed threshold in data units

    def __post_init__(self) -> None:
        if not self.threshold >= 0.0:  # scores are sums of squares; also rejects NaN
            raise UserError(f"score threshold must be a number >= 0, got {self.threshold}")

    @property
    def label(self) -> str:
        return f"threshold({self.threshold:g})"

    def choose(self, xb, qb, wb, fmt) -> np.ndarray:
        return (_mix_score(xb, qb, wb) > self.threshold).astype(np.int64)

    def fractions(self, n: int) -> None:
        return None


@dataclass(frozen=True)
class ScaleSearch(_Rule):
    label: str = "scale-search"

    in_scale: ClassVar[bool] = True  # the choice is the stored block scale itself

    def choose(self, xb, qb, wb, fmt) -> np.ndarray:
        return np.argmin(_weighted_sq(qb, xb[None], wb), axis=0)

    def fractions(self, n: int) -> None:
        return None
