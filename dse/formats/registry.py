"""Format names -> format records.

Grammar (case-insensitive, spaces ignored)::

    NAME   := BASE [ "(" PARAMS ")" ] [ "/" GROUP ] [ ":" SCALE ] [ "@" CLIP ]
    PARAMS := PARAM { "," PARAM }      PARAM := key "=" value | number
    GROUP  := "g" B | "b" B            a block of B values along the axis (g128, b32)
            | R "x" C                  a 2-D tile of R rows x C columns
            | "ch"                     one scale per channel (row along the axis)
            | "t"                      one scale per tensor
    SCALE  := fp32 | fp16 | bf16 | e8m0 | e8m0ceil | e5 | ue4m3 | int8 | none
              (e8m0: the OCP MX exponent floor(log2 M) - emax; e8m0ceil: rounded up,
              ceil(log2(M / max|element|)), as production MX kernels do: mxfp8e4m3:e8m0ceil)
    CLIP   := a ratio in (0, 1]: the scale maps clip * absmax to the largest level

BASE is an element format or a preset. Elements: int<k>, int<k>-asym, e<E>m<M> (OCP
conventions; params bias, sub=0|1, nonfinite=ieee|nan|none), fp16, bf16, fp32, nf<k>,
sf<k>(nu=...), apot4, apot4+sp, e2m1-ns, e2m1-i, e2m1-b, e2m1+sr, e2m1+sp, e3m0, and
levels(v1, v2, ...) for any list (mirrored when all values are >= 0). Every element takes
round=even|away|trunc. Presets: mxfp4, mxfp6[e2m3|e3m2], mxfp8[e4m3|e5m2], mxint8, nvfp4(cal=1..8),
blockdialect(sel=min-error|two-stage, rule=nearest|ceil, tie=first|last), anda(m=1..16),
fp4fp8(p=..., high=<element>) or fp4fp8(threshold=...).

Defaults: a block format without ":SCALE" uses an FP32 scale; an element without "/GROUP" is
scaled per tensor in FP32, except fp16/bf16/fp32 which are plain casts.
Examples: int4/g128, e2m1/g32:e8m0, sf4(nu=5)/g128, nf4/g64:bf16, int4/ch@0.9, mxfp4,
nvfp4, blockdialect/b32, anda(m=6), fp4fp8(p=0.3).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import TypeVar

from dse.errors import UserError, unknown
from dse.formats.aliases import ELEMENT_ALIASES, element_alias
from dse.formats.blocking import Blocking
from dse.formats.elements import (
    NONFINITES,
    ROUNDINGS,
    Element,
    FloatElement,
    LevelElement,
    apot4,
    as_levels,
    integer,
    mirrored,
    normal_float,
    ocp_float,
    sign_magnitude,
    student_float,
    with_supernormal,
)
from dse.formats.format import ChoiceFormat, Format, ScaledFormat
from dse.formats.scales import BF16, FP16, FP32, SCALE_RULES
from dse.formats.selectors import (
    BeneficialRange,
    MinErrorRule,
    ScaleSearch,
    ScoreThreshold,
    Selector,
    TopFraction,
)

T = TypeVar("T", bound=str)
_NAME = re.compile(
    r"^(?P<base>[a-z0-9_.+\-]+?)(?:\((?P<params>[^()]*)\))?"
    r"(?:/(?P<group>[a-z0-9x]+))?(?::(?P<scale>[a-z0-9]+))?(?:@(?P<clip>[0-9.eE+\-]+))?$"
)


# --- elements ----------------------------------------------------------------------------------

#: DialectFP4 formatbook (Jang & Tambe 2025, BlockDialect, Fig./Table of dialects): magnitudes
#: in units of 0.5, dialect index 0..15.
DIALECTS_HALF_UNITS: tuple[tuple[int, ...], ...] = (
    (0, 1, 2, 3, 4, 6, 11, 15), (0, 1, 2, 3, 4, 6, 9, 15),
    (0, 1, 2, 3, 4, 6, 11, 14), (0, 1, 2, 3, 4, 6, 9, 14),
    (0, 1, 2, 3, 4, 6, 10, 13), (0, 1, 2, 3, 4, 6, 8, 13),
    (0, 1, 2, 3, 4, 6, 10, 12), (0, 1, 2, 3, 4, 6, 8, 12),
    (0, 1, 2, 3, 4, 6, 9, 11), (0, 1, 2, 3, 4, 6, 7, 11),
    (0, 1, 2, 3, 4, 6, 9, 10), (0, 1, 2, 3, 4, 6, 7, 10),
    (0, 1, 2, 3, 4, 6, 8, 9), (0, 1, 2, 3, 4, 6, 7, 9),
    (0, 1, 2, 3, 4, 6, 7, 8), (0, 1, 2, 3, 4, 5, 6, 8),
)  # fmt: skip

#: E2M1 variants from the Student-t formats study (Dotzel et al., ICML 2024, Table 1).
_E2M1_VARIANTS = {
    "e2m1-ns": (0, 0.75, 1, 1.5, 2, 3, 4, 6),  # no subnormal
    "e2m1-i": (0, 0.0625, 1, 1.5, 2, 3, 4, 6),  # Intel neural-compressor fp4
    "e2m1-b": (0, 0.0625, 2, 3, 4, 6, 8, 12),  # bitsandbytes fp4
}
#: Supernormal extensions: base, the extra positive level (Dotzel et al., ICML 2024).
_SUPERNORMAL = {"e2m1+sr": ("e2m1", 8.0), "e2m1+sp": ("e2m1", 5.0), "apot4+sp": ("apot4", 0.5)}
_CASTS = {"fp16": FP16, "bf16": BF16, "fp32": FP32}


def _num(key: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise UserError(f"parameter {key}={value!r} must be a number") from None


def _element(base: str, params: dict[str, str], values: list[float]) -> Element | None:
    """The element named `base`, or None when `base` is not an element name."""
    if base in _CASTS:
        return _CASTS[base]
    if m := re.fullmatch(r"int(\d+)(-asym)?", base):
        return integer(int(m[1]), bool(m[2]))
    if m := re.fullmatch(r"e(\d+)m(\d+)", base):
        e, mb = int(m[1]), int(m[2])
        if not (1 <= e <= 8 and 0 <= mb <= 23):
            raise UserError(f"{base}: exponent bits must be in 1..8 and mantissa bits in 0..23")
        if not {"bias", "sub", "nonfinite"} & params.keys():
            return ocp_float(e, mb)
        given = params.get("nonfinite", ocp_float(e, mb).nonfinite)
        nonfinite = _choice("nonfinite encoding", given, NONFINITES)
        bias = int(_num("bias", params.get("bias", str(2 ** (e - 1) - 1))))
        sub = params.get("sub", "1") not in ("0", "false", "no", "off")
        return FloatElement(base, e, mb, bias, sub, nonfinite)
    if m := re.fullmatch(r"nf(\d+)", base):
        return normal_float(_width(base, m[1]))
    if m := re.fullmatch(r"sf(\d+)", base):
        return student_float(_width(base, m[1]), _num("nu", params.get("nu", "5")))
    if base == "apot4":
        return apot4()
    if base in _E2M1_VARIANTS:
        return mirrored(base, _E2M1_VARIANTS[base], 4)
    if base in _SUPERNORMAL:
        root, extra = _SUPERNORMAL[base]
        root_el = apot4() if root == "apot4" else as_levels(ocp_float(2, 1))
        return with_supernormal(root_el, extra, base)
    if base == "levels":
        if len(values) < 2:
            raise UserError("levels(...) needs at least two values, e.g. levels(0, 0.5, 1)")
        n = len(values) * 2 - 1 if min(values) >= 0 else len(values) + (0.0 not in values)
        bits = max(1, (n - 1).bit_length())
        name = "levels(" + ",".join(f"{v:g}" for v in values) + ")"
        if min(values) >= 0:
            return mirrored(name, (*tuple(values), 0.0), bits)
        return LevelElement(name, tuple(sorted({*values, 0.0})), bits, "lut")
    return None


def _choice(what: str, given: str, choices: tuple[T, ...]) -> T:
    """The one of `choices` equal to `given`, or the unknown-name UserError."""
    for c in choices:
        if c == given:
            return c
    raise unknown(what, given, choices)


def _width(base: str, digits: str) -> int:
    k = int(digits)
    if not 2 <= k <= 8:
        raise UserError(f"{base}: codebook width must be 2..8 bits")
    return k


# --- presets -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Preset:
    """A named format: how to build it from its group, scale, rounding and parameters."""

    build: Callable[..., Format]
    group: str
    params: dict[str, str] = field(default_factory=dict)
    doc: str = ""


def _mx(element: Element) -> Callable[..., Format]:
    """OCP MX v1.0: block 32, E8M0 shared scale, saturating elements."""

    def build(name, blocking, scale, rounding, clip, params):
        return ScaledFormat(name, element, blocking, scale or SCALE_RULES["e8m0"], rounding, clip)

    return build


#: Most block-scale codes a calibrated NVFP4 (`nvfp4(cal=N)`) searches.
MAX_CAL = 8


def _nvfp4(name, blocking, scale, rounding, clip, params):
    """NVFP4: E2M1, block 16, UE4M3 block scale x FP32 tensor scale. `cal=N` > 1: calibrated
    scale, per block the least-error of the rounded UE4M3 code and the N - 1 codes below it
    (clipping candidates; NVIDIA's calibrated NVFP4, FGMP's sensitivity-weighted clipping)."""
    rule = scale or SCALE_RULES["ue4m3"]
    cal = _num("cal", params["cal"])
    if not (cal.is_integer() and 1 <= cal <= MAX_CAL):
        raise UserError(f"nvfp4: cal (scale codes searched) must be 1..{MAX_CAL}, got {cal:g}")
    if cal == 1:
        return ScaledFormat(name, ocp_float(2, 1), blocking, rule, rounding, clip)
    if rule.kind != "two_level" or blocking.kind != "block":
        raise UserError("nvfp4(cal=N) searches two-level block scales (ue4m3 or int8) per block")
    candidates = tuple(
        ScaledFormat(
            f"nvfp4-{k}", ocp_float(2, 1), blocking,
            replace(rule, name=f"{rule.name}-{k}", code_shift=k), rounding, clip,
        )
        for k in range(int(cal))
    )  # fmt: skip
    return ChoiceFormat(name, candidates, blocking.size, ScaleSearch())


def _blockdialect(name, blocking, scale, rounding, clip, params):
    """BlockDialect (DialectFP4): 16 dialects, shared 5-bit exponent, 4-bit dialect id."""
    if blocking.kind != "block":
        raise UserError("blockdialect needs a block size, e.g. blockdialect/b32")
    sel = params.get("sel", "min-error")
    selector: Selector
    if sel == "min-error":
        selector = MinErrorRule()
    elif sel == "two-stage":
        rule, tie = params.get("rule", "nearest"), params.get("tie", "first")
        if rule not in ("nearest", "ceil"):
            raise unknown("blockdialect rule", rule, ["nearest", "ceil"])
        if tie not in ("first", "last"):
            raise unknown("blockdialect tie", tie, ["first", "last"])
        selector = BeneficialRange(rule, tie)
    else:
        raise unknown("blockdialect selection", sel, ["min-error", "two-stage"])
    rule = scale or SCALE_RULES["e5"]
    dialects = tuple(
        ScaledFormat(
            f"dialect{i}",
            mirrored(f"dialect{i}", tuple(h / 2 for h in half), 4),
            blocking,
            rule,
            rounding,
            clip,
        )
        for i, half in enumerate(DIALECTS_HALF_UNITS)
    )
    return ChoiceFormat(name, dialects, blocking.size, selector)


def _anda(name, blocking, scale, rounding, clip, params):
    """Anda block floating point: sign + m-bit mantissa (hidden bit included) aligned to the
    group's shared 5-bit exponent, truncated; a value whose kept bits are zero becomes 0."""
    m = int(_num("m", params.get("m", "8")))
    if not 1 <= m <= 16:
        raise UserError(f"anda: mantissa length m must be in 1..16, got {m}")
    element = sign_magnitude(m + 1, 0, f"sm{m + 1}")
    return ScaledFormat(name, element, blocking, scale or SCALE_RULES["e5"], rounding, clip)


def _fp4fp8(name, blocking, scale, rounding, clip, params):
    """FP4/FP8 mix (FGMP): per block of 16, NVFP4 (low) or FP8 (high, per-tensor FP32 scale)."""
    if blocking.kind != "block":
        raise UserError("fp4fp8 needs a block size, e.g. fp4fp8(p=0.3)/g16")
    high_el = _element(params.get("high", "e4m3"), {}, [])
    if high_el is None:
        raise UserError(f"fp4fp8: unknown high-precision element {params.get('high')!r}")
    low = ScaledFormat("nvfp4", ocp_float(2, 1), blocking, SCALE_RULES["ue4m3"], rounding, clip)
    high = ScaledFormat(high_el.name, high_el, Blocking("tensor"), SCALE_RULES["fp32"])
    selector: Selector
    if "threshold" in params:
        selector = ScoreThreshold(_num("threshold", params["threshold"]))
    else:
        selector = TopFraction(_num("p", params.get("p", "0.3")))
    return ChoiceFormat(name, (low, high), blocking.size, selector)


PRESETS: dict[str, _Preset] = {
    "mxfp4": _Preset(_mx(ocp_float(2, 1)), "g32", doc="OCP MXFP4: E2M1 x E8M0 per 32"),
    "mxfp6e2m3": _Preset(_mx(ocp_float(2, 3)), "g32", doc="OCP MXFP6 E2M3"),
    "mxfp6e3m2": _Preset(_mx(ocp_float(3, 2)), "g32", doc="OCP MXFP6 E3M2"),
    "mxfp8e4m3": _Preset(_mx(ocp_float(4, 3)), "g32", doc="OCP MXFP8 E4M3"),
    "mxfp8e5m2": _Preset(_mx(ocp_float(5, 2)), "g32", doc="OCP MXFP8 E5M2"),
    # MX INT8: sign-magnitude with 6 fraction bits, max 127/64 (OCP MX v1.0, section 5.3.2).
    "mxint8": _Preset(_mx(sign_magnitude(8, 6, "int8mx")), "g32", doc="OCP MXINT8"),
    "nvfp4": _Preset(
        _nvfp4, "g16", {"cal": "1"}, "NVIDIA NVFP4: E2M1, UE4M3 per 16, FP32 per tensor"
    ),
    "blockdialect": _Preset(_blockdialect, "g32", {"sel": "min-error"}, "DialectFP4 blocks"),
    "anda": _Preset(_anda, "g64", {"m": "8"}, "Anda block FP: 5-bit exponent per 64"),
    "fp4fp8": _Preset(_fp4fp8, "g16", {"p": "0.3"}, "FGMP: NVFP4 or FP8 per block of 16"),
}
_ALIASES = {"mxfp6": "mxfp6e2m3", "mxfp8": "mxfp8e4m3"}
_ANDA_TRUNC = {"anda"}  # presets whose elements truncate by definition

#: Element names for suggestions and listings (patterns shown by example).
ELEMENT_NAMES = (
    "int4", "int4-asym", "int8", "e2m1", "e2m3", "e3m2", "e4m3", "e5m2", "e3m0", "fp16",
    "bf16", "fp32", "nf4", "sf4", "apot4", "apot4+sp", "e2m1-ns", "e2m1-i", "e2m1-b",
    "e2m1+sr", "e2m1+sp", "levels",
)  # fmt: skip


# --- parsing -------------------------------------------------------------------------------------


def _blocking(token: str) -> Blocking:
    if token == "t":
        return Blocking("tensor")
    if token == "ch":
        return Blocking("channel")
    if m := re.fullmatch(r"[gb](\d+)", token):
        return Blocking("block", int(m[1]))
    if m := re.fullmatch(r"(\d+)x(\d+)", token):
        return Blocking("tile", tile=(int(m[1]), int(m[2])))
    raise UserError(
        f"unknown group {token!r}; valid: g<B> or b<B> (block of B), <R>x<C> (tile), ch, t"
    )


def _params(text: str | None) -> tuple[dict[str, str], list[float]]:
    kw: dict[str, str] = {}
    pos: list[float] = []
    for item in filter(None, (text or "").split(",")):
        if "=" in item:
            k, v = item.split("=", 1)
            kw[k] = v
        else:
            pos.append(_num("value", item))
    return kw, pos


def _fmt_params(params: dict[str, str]) -> str:
    return "(" + ",".join(f"{k}={v}" for k, v in params.items()) + ")" if params else ""


def _split(name: str) -> re.Match[str]:
    """The grammar's parts of `name` (see the module docstring)."""
    if not isinstance(name, str):
        raise UserError(f"a format name must be a string, got {name!r}")
    m = _NAME.match(re.sub(r"\s+", "", name.lower()))
    if not m:
        raise UserError(
            f"malformed format name {name!r}; expected e.g. int4/g128, "
            "e2m1/g32:e8m0, sf4(nu=5)/g128, mxfp4, nvfp4, anda(m=6)"
        )
    return m


def _preset_params(preset: _Preset, kw: dict[str, str]) -> dict[str, str]:
    """A preset's parameters: its defaults overridden by `kw` (a threshold replaces p)."""
    params = {**preset.params, **kw}
    if "threshold" in kw:
        params.pop("p", None)
    return params


@lru_cache(maxsize=4096)
def parse(name: str) -> Format:
    """The format called `name` (see the module docstring for the grammar)."""
    m = _split(name)
    base, kw = element_alias(_ALIASES.get(m["base"], m["base"]))
    given, pos = _params(m["params"])
    kw.update(given)
    rounding = _choice("rounding", kw.pop("round", "trunc" if base in _ANDA_TRUNC else "even"),
                       ROUNDINGS)
    clip = _num("clip", m["clip"]) if m["clip"] else 1.0
    if not 0 < clip <= 1:
        raise UserError(f"clip ratio in {name!r} must be in (0, 1], got {clip:g}")
    scale = None
    if m["scale"]:
        if m["scale"] not in SCALE_RULES:
            raise unknown("scale format", m["scale"], SCALE_RULES)
        scale = SCALE_RULES[m["scale"]]

    preset = PRESETS.get(base)
    if preset is not None:
        unknown_keys = set(kw) - set(preset.params) - {"rule", "tie", "high", "threshold"}
        if unknown_keys:
            raise unknown(f"parameter of {base}", sorted(unknown_keys)[0], preset.params)
        params = _preset_params(preset, kw)
        group = m["group"] or preset.group
        canonical = _canonical(
            base + _fmt_params(kw),
            m["group"],
            m["scale"],
            clip,
            rounding,
            "trunc" if base in _ANDA_TRUNC else "even",
        )
        return preset.build(canonical, _blocking(group), scale, rounding, clip, params)

    element = _element(base, kw, pos)
    if element is None:
        raise unknown("format", m["base"], [*ELEMENT_NAMES, *PRESETS, *_ALIASES, *ELEMENT_ALIASES])
    extra = set(kw) - {"nu", "bias", "sub", "nonfinite"}
    if extra:
        raise UserError(
            f"unknown parameter {sorted(extra)[0]!r} in {name!r}; valid: nu (sf<k>), "
            "bias/sub/nonfinite (e<E>m<M>), round (any)"
        )
    if m["group"]:
        blocking = _blocking(m["group"])
        scale = scale or SCALE_RULES["fp32"]
    else:
        blocking = Blocking("tensor")
        scale = scale or SCALE_RULES["none" if base in _CASTS else "fp32"]
    label = base + _fmt_params(kw) if isinstance(element, FloatElement) and kw else element.name
    canonical = _canonical(label, m["group"], m["scale"], clip, rounding, "even")
    return ScaledFormat(canonical, element, blocking, scale, rounding, clip)


def _canonical(base: str, group, scale, clip: float, rounding: str, default_round: str) -> str:
    name = base
    if rounding != default_round:
        name = (
            name[:-1] + f",round={rounding})"
            if name.endswith(")")
            else name + f"(round={rounding})"
        )
    if group:
        name += f"/{_blocking(group).label}"
    if scale:
        name += f":{scale}"
    if clip != 1.0:
        name += f"@{clip:g}"
    return name


#: Names listed by `dse formats`: one of each family at its usual setting.
CATALOGUE: tuple[str, ...] = (
    "int4/g128", "int4-asym/g128", "int8/ch", "e2m1/g128", "e2m1-ns/g128", "e2m1-i/g128",
    "e2m1-b/g128", "e3m0/g128", "e2m1+sr/g128", "e2m1+sp/g128", "apot4/g128", "apot4+sp/g128",
    "nf4/g64", "sf4(nu=5)/g128", "e4m3", "e5m2", "fp16", "bf16",
    "mxfp4", "mxfp6e2m3", "mxfp6e3m2", "mxfp8e4m3", "mxfp8e5m2", "mxint8", "nvfp4",
    "blockdialect/b16", "blockdialect/b32", "blockdialect/b64", "blockdialect(sel=two-stage)/b32",
    "anda(m=4)", "anda(m=6)", "anda(m=8)", "fp4fp8(p=0.3)",
)  # fmt: skip


def parameters(name: str) -> tuple[str, dict[str, str]]:
    """(family, parameters) of a valid format name: the preset or element it is built from,
    aliases resolved, and its parameters (a preset's defaults filled in; rounding left out),
    e.g. parameters("anda(m=6)/g32") == ("anda", {"m": "6"}) and parameters("anda") ==
    ("anda", {"m": "8"})."""
    parse(name)  # a UserError for an invalid name
    m = _split(name)
    base = _ALIASES.get(m["base"], m["base"])
    kw, _ = _params(m["params"])
    kw.pop("round", None)
    preset = PRESETS.get(base)
    return base, _preset_params(preset, kw) if preset is not None else kw


def with_options(
    name: str, block: int | None = None, scale: str | None = None, clip: float | None = None
) -> str:
    """`name` with its block size, scale format or clip ratio replaced (None keeps it), e.g.
    with_options("int4/g128", block=32, scale="e8m0") == "int4/g32:e8m0"."""
    m = _split(name)
    out = m["base"] + (f"({m['params']})" if m["params"] is not None else "")
    group = f"g{block}" if block is not None else m["group"]
    out += f"/{group}" if group else ""
    scale = scale if scale is not None else m["scale"]
    out += f":{scale}" if scale else ""
    clip_text = f"{clip:g}" if clip is not None else m["clip"]
    out += f"@{clip_text}" if clip_text and float(clip_text) != 1.0 else ""
    parse(out)  # validate the combination
    return out
