"""Hardware cost models: technology constants and node scaling, arithmetic units, MAC and
dot-product units per format pair, memories, storage layouts and an accelerator roofline.

Depends on `dse.formats` and `dse.errors` only. Units: um^2, pJ, ns, bytes, GB/s, GHz.

    technology(node_nm, vdd, overrides)        -> Technology   (hwmodels.technology)
    mac_unit(weight, activation, style, ...)   -> MacUnit      (hwmodels.units)
    tensor_bits(fmt, shape, layout, ...)       -> TensorBits   (hwmodels.layout)
    evaluate(Design, gemms, tech)              -> Evaluation   (hwmodels.accelerator)
    load(preset_or_path) / spec_from_dict(d)   -> HardwareSpec (hwmodels.presets)

The hardware presets are package data in `hwmodels/data/presets/` (read with importlib.resources).
"""

from hwmodels.accelerator import Design, Evaluation, design_from, evaluate
from hwmodels.arithmetic import Cost
from hwmodels.layout import TensorBits, tensor_bits
from hwmodels.memory import OFF_CHIP, off_chip
from hwmodels.presets import HardwareSpec, load, spec_from_dict
from hwmodels.technology import Technology, technology
from hwmodels.units import MacUnit, UnitCosts, mac_unit

__all__ = [
    "OFF_CHIP",
    "Cost",
    "Design",
    "Evaluation",
    "HardwareSpec",
    "MacUnit",
    "Technology",
    "TensorBits",
    "UnitCosts",
    "design_from",
    "evaluate",
    "load",
    "mac_unit",
    "off_chip",
    "spec_from_dict",
    "technology",
    "tensor_bits",
]
