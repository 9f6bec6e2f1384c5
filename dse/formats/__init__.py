"""Number formats as data: element formats, scale rules, groupings and per-block choices.

`parse(name)` turns a name such as ``int4/g128``, ``mxfp4`` or ``sf4(nu=5)/g128`` into a
format record; every record has ``.name``, ``.bits_per_element`` and ``.quantize(x, axis=-1)``.
"""

from dse.formats.blocking import Blocking
from dse.formats.elements import Element, FloatElement, LevelElement
from dse.formats.format import ChoiceFormat, Format, ScaledFormat
from dse.formats.registry import CATALOGUE, PRESETS, parameters, parse, with_options
from dse.formats.scales import SCALE_RULES, ScaleRule

__all__ = [
    "CATALOGUE",
    "PRESETS",
    "SCALE_RULES",
    "Blocking",
    "ChoiceFormat",
    "Element",
    "FloatElement",
    "Format",
    "LevelElement",
    "ScaleRule",
    "ScaledFormat",
    "parameters",
    "parse",
    "with_options",
]
