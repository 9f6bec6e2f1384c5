"""Names other tools give to the formats of this library, as data.

* Element aliases stand for the BASE of a format name (see `dse.formats.registry`), so the rest
  of the grammar applies to them: ``float8_e4m3fn`` is ``e4m3``, ``fp4_e2m1/g32:e8m0`` is MXFP4.
  They come from ml_dtypes / PyTorch dtypes and from microxcaling's element names (its
  `ElemFormat`; there an element is always used inside an MX block of 32 with an E8M0 scale,
  which is the preset ``mxfp4`` etc. here, or ``<element>/g32:e8m0``).
* Schemes are llm-compressor / compressed-tensors preset schemes: a pair of formats, one for
  the weights and one for the activations (``W4A16``, ``W8A8``, ``FP8_DYNAMIC``, ``NVFP4``,
  ...), chosen in a sweep with the `scheme` design variable.

An alias only renames: results always carry the library's canonical names.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from dse.errors import UserError, unknown

#: Element aliases: name -> (base, default parameters). ml_dtypes 0.5+ / PyTorch dtypes
#: (ml_dtypes README "Supported types"; the fnuz types have no infinities and use the
#: negative-zero code for NaN, so every other code is finite: nonfinite=none, with the bias
#: of their definitions: E4M3FNUZ 8, E5M2FNUZ 16, E4M3B11FNUZ 11; float8_e4m3 and
#: float8_e3m4 are IEEE-like, with infinities) and microxcaling's `ElemFormat` names
#: (microsoft/microxcaling, mx/formats.py: fp8_e4m3, fp8_e5m2, fp6_e3m2, fp6_e2m3, fp4_e2m1,
#: fp4, int8, int4, int2; OCP MX v1.0 element definitions).
ELEMENT_ALIASES: MappingProxyType[str, tuple[str, dict[str, str]]] = MappingProxyType({
    "float8_e4m3fn": ("e4m3", {}),
    "float8_e5m2": ("e5m2", {}),
    "float8_e4m3fnuz": ("e4m3", {"bias": "8", "nonfinite": "none"}),
    "float8_e5m2fnuz": ("e5m2", {"bias": "16", "nonfinite": "none"}),
    "float8_e4m3b11fnuz": ("e4m3", {"bias": "11", "nonfinite": "none"}),
    "float8_e4m3": ("e4m3", {"nonfinite": "ieee"}),
    "float8_e3m4": ("e3m4", {"nonfinite": "ieee"}),
    "float6_e3m2fn": ("e3m2", {}),
    "float6_e2m3fn": ("e2m3", {}),
    "float4_e2m1fn": ("e2m1", {}),
    "bfloat16": ("bf16", {}),
    "float16": ("fp16", {}),
    "float32": ("fp32", {}),
    "fp8_e4m3": ("e4m3", {}),
    "fp8_e5m2": ("e5m2", {}),
    "fp6_e3m2": ("e3m2", {}),
    "fp6_e2m3": ("e2m3", {}),
    "fp4_e2m1": ("e2m1", {}),
    "fp4": ("e2m1", {}),
})  # fmt: skip

#: Names of other tools that are not element formats here, with what to write instead.
NOT_ELEMENTS = MappingProxyType({
    "float8_e8m0fnu": "E8M0 is a scale format here: write it after ':' (e2m1/g32:e8m0)",
})  # fmt: skip


@dataclass(frozen=True)
class Scheme:
    """A weight format and an activation format named together."""

    weights: str
    activations: str
    doc: str


#: compressed-tensors preset schemes (vllm-project/compressed-tensors,
#: src/compressed_tensors/quantization/quant_scheme.py, PRESET_SCHEMES): INT weights with
#: group_size 128 are int<k>/g128 (FP32 scales); CHANNEL weights and dynamic TOKEN activations
#: are one scale per row (/ch); TENSOR_GROUP FP4 with FP8 E4M3 scales over 16 is NVFP4; GROUP
#: FP4/FP8 over 32 with uint8 (E8M0) scales is MX; "A16" activations stay in 16 bits (bf16).
#: Not listed: the *_46 variants (a "four over six" scale observer this library does not model).
SCHEMES: MappingProxyType[str, Scheme] = MappingProxyType({
    "UNQUANTIZED": Scheme("bf16", "bf16", "no quantization"),
    "W8A16": Scheme("int8/g128", "bf16", "INT8 weights, groups of 128"),
    "W4A16": Scheme("int4/g128", "bf16", "INT4 weights, groups of 128"),
    "W4A16_ASYM": Scheme("int4-asym/g128", "bf16", "asymmetric INT4 weights, groups of 128"),
    "W8A8": Scheme("int8/ch", "int8/ch", "INT8 per-channel weights, dynamic per-token INT8 "
                   "activations"),
    "INT8": Scheme("int8/ch", "int8/ch", "as W8A8"),
    "W4A8": Scheme("int4/g128", "int8/ch", "INT4 weights (groups of 128), per-token INT8 "
                   "activations"),
    "W4AFP8": Scheme("int4/g128", "e4m3/ch", "INT4 weights (groups of 128), per-token FP8 "
                     "activations"),
    "FP8": Scheme("e4m3", "e4m3", "FP8 E4M3 per tensor, static activation scale"),
    "FP8_DYNAMIC": Scheme("e4m3/ch", "e4m3/ch", "FP8 per-channel weights, dynamic per-token "
                          "FP8 activations"),
    "FP8_BLOCK": Scheme("e4m3/128x128", "e4m3/g128", "FP8 weights in 128x128 blocks, "
                        "activations in groups of 128 (DeepSeek-V3 style)"),
    "NVFP4A16": Scheme("nvfp4", "bf16", "NVFP4 weights"),
    "NVFP4": Scheme("nvfp4", "nvfp4", "NVFP4 weights and activations"),
    "MXFP4A16": Scheme("mxfp4", "bf16", "MXFP4 weights"),
    "MXFP4": Scheme("mxfp4", "mxfp4", "MXFP4 weights and activations"),
    "MXFP8A16": Scheme("mxfp8e4m3", "bf16", "MXFP8 weights"),
    "MXFP8": Scheme("mxfp8e4m3", "mxfp8e4m3", "MXFP8 weights and activations"),
})  # fmt: skip


def element_alias(base: str) -> tuple[str, dict[str, str]]:
    """(base, default parameters) for a base token, aliases resolved."""
    if base in NOT_ELEMENTS:
        raise UserError(f"{base!r}: {NOT_ELEMENTS[base]}")
    name, params = ELEMENT_ALIASES.get(base, (base, {}))
    return name, dict(params)


def scheme(name: str) -> Scheme:
    """The compressed-tensors preset scheme `name` (case-insensitive)."""
    key = str(name).upper()
    if key not in SCHEMES:
        raise unknown("quantization scheme", name, SCHEMES)
    return SCHEMES[key]
