"""The GEMM operands, one table: each operand kind and, per tensor class, the space variable
that picks its format, its key in the statistics tables and its results column prefix.

Every GEMM is Y[M, N] = A[M, K] @ B[K, N] (`workloads.gemms`): A is the activation of every
class; B is the weight of the linear classes and the KV cache of the attention classes. The
sweep names an operand's format with `<prefix>_format` (every class), `<prefix>_format_<class>`
(one class, where listed) and the modifiers `<prefix>_block`, `<prefix>_scale`, `<prefix>_clip`; the
statistics tables (`workloads.stats`) key it by `stats_key`; the results table's NMSE columns
are `<nmse>_<class>` (`dse.columns`).
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass

from workloads.gemms import ATTENTION_CLASSES, CLASSES, LINEAR_CLASSES

#: Format modifiers a sweep may set per operand (`<prefix>_<modifier>`), in the format grammar.
MODIFIERS = ("block", "scale", "clip")


@dataclass(frozen=True)
class Operand:
    """One operand kind (see the module docstring)."""

    prefix: str  # of the space variables
    title: str  # for reports
    stats_key: str  # key in the statistics tables
    classes: tuple[str, ...]  # tensor classes where it is a GEMM operand
    side: str  # "a" or "b" of Y = A @ B
    nmse: str  # prefix of its per-class NMSE column
    hardware_key: str  # `HardwareSpec` field giving its format when the space has none
    class_variables: tuple[str, ...] = ()  # classes with a `<prefix>_format_<class>` variable
    fallback: str | None = None  # operand whose format it takes when the space names none
    scheme_side: str | None = None  # its `Scheme` field ("weights", "activations") if any

    @property
    def variable(self) -> str:
        """The space variable choosing its format for every class."""
        return f"{self.prefix}_format"

    def class_variable(self, tensor_class: str) -> str:
        """The space variable choosing its format for one class."""
        return f"{self.prefix}_format_{tensor_class}"

    def format_variable(self, tensor_class: str, variables: Container[str]) -> str | None:
        """Of `variables`, the one that sets its format in `tensor_class` (the class's own
        variable first), if any."""
        for name in (self.class_variable(tensor_class), self.variable):
            if name in variables:
                return name
        return None

    def modifier(self, name: str) -> str:
        """The space variable of one of its MODIFIERS."""
        return f"{self.prefix}_{name}"


WEIGHT = Operand("weight", "Weights", "weight", LINEAR_CLASSES, "b", "nmse_w", "weight_format",
                 LINEAR_CLASSES, scheme_side="weights")  # fmt: skip
ACT = Operand("act", "Activations", "activation", CLASSES, "a", "nmse_a", "activation_format",
              LINEAR_CLASSES, scheme_side="activations")  # fmt: skip
#: The KV cache is in the activation format unless the space says; its per-class variables
#: give the K cache (`kv_format_attn_score`: B of Q K^T) and the V cache
#: (`kv_format_attn_context`: B of P V) formats of their own.
KV = Operand("kv", "KV cache", "kv_cache", ATTENTION_CLASSES, "b", "nmse_w", "activation_format",
             ATTENTION_CLASSES, fallback="act")  # fmt: skip
OPERANDS = (WEIGHT, ACT, KV)
BY_PREFIX = {o.prefix: o for o in OPERANDS}


#: The space variable naming a weight format and an activation format at once: a
#: compressed-tensors preset scheme (`dse.formats.aliases.SCHEMES`). An operand's own format
#: variables take precedence over it.
SCHEME = "scheme"


def operands_of(tensor_class: str) -> tuple[Operand, Operand]:
    """(A operand, B operand) of a GEMM of `tensor_class`."""
    return ACT, (WEIGHT if tensor_class in LINEAR_CLASSES else KV)


def format_variables() -> list[str]:
    """Every space variable that chooses or modifies a format."""
    return (
        [SCHEME]
        + [o.variable for o in OPERANDS]
        + [o.class_variable(c) for o in OPERANDS for c in o.class_variables]
        + [o.modifier(m) for o in OPERANDS for m in MODIFIERS]
    )
