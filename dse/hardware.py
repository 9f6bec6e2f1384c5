"""The sweep file's `hardware:` section and the hardware design variables of `space:`.

`hardware:` names a preset (`preset: edge-16nm`, see `dse hw show`) and/or sets any key of
`hwmodels.presets.HardwareSpec` (rows, cols, freq_ghz, node_nm, vdd, buffers, off_chip,
bandwidth_gbs, ...). Every such key except the descriptive ones and the formats (which the
format variables set) may also vary in `space:`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from dse.errors import UserError
from hwmodels.presets import HardwareSpec, load, spec_from_dict
from hwmodels.technology import parse_node

#: HardwareSpec fields that are not design variables (text, nested tables, formats).
_NOT_VARIABLES = {
    "name", "description", "technology", "energy_table", "weight_format", "activation_format",
    "output_format",
}  # fmt: skip
#: Used when the sweep gives no preset: the illustrative edge design (`dse hw show edge-16nm`).
DEFAULT_PRESET = "edge-16nm"

HARDWARE_VARIABLES: tuple[str, ...] = tuple(
    f.name for f in fields(HardwareSpec) if f.name not in _NOT_VARIABLES
)


def normalise_config(cfg: dict) -> None:
    """Technology nodes written 5, '5nm' or '5 nm' in the `hardware:` section and in
    `space.node_nm` as numbers (in place; `hwmodels.technology.parse_node`)."""
    hw = cfg.get("hardware") or {}
    if "node_nm" in hw:
        hw["node_nm"] = parse_node(hw["node_nm"], "hardware.node_nm")
    node = (cfg.get("space") or {}).get("node_nm")
    if isinstance(node, list):
        cfg["space"]["node_nm"] = [parse_node(v, f"space.node_nm[{i}]") for i, v in enumerate(node)]


def base_hardware(section: Mapping[str, Any]) -> tuple[dict, HardwareSpec]:
    """The preset's keys overlaid with the section's own, and the hardware record they make
    (validating them)."""
    section = dict(section or {})
    preset = section.pop("preset", DEFAULT_PRESET)
    if not isinstance(preset, str):
        raise UserError(f"hardware.preset: expected a preset name, got {preset!r}")
    merged = {**load(preset).as_dict(), **section}
    return merged, spec_from_dict(merged, "hardware")


def check_values(base: Mapping[str, Any], name: str, entry: Any, path: str) -> None:
    """Check every value a space variable can take against the hardware model."""
    values = entry if isinstance(entry, list) else list(entry["range"])
    for i, v in enumerate(values):
        where = f"{path}[{i}]" if isinstance(entry, list) else f"{path}.range[{i}]"
        try:
            spec_from_dict({**base, name: v}, "hardware")
        except UserError as exc:
            msg = str(exc).replace(f"hardware.{name}", where)
            raise UserError(msg if where in msg else f"{where}: {msg}") from None
