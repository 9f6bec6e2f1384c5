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

#: HardwareSpec fields that are not design variables (text, nested tables, formats).
_NOT_VARIABLES = {
    "name", "description", "technology", "weight_format", "activation_format", "output_format",
}  # fmt: skip
#: Used when the sweep gives no preset: the illustrative edge design (`dse hw show edge-16nm`).
DEFAULT_PRESET = "edge-16nm"

HARDWARE_VARIABLES: tuple[str, ...] = tuple(
    f.name for f in fields(HardwareSpec) if f.name not in _NOT_VARIABLES
)


def normalise(key: str, value: Any) -> Any:
    """Accept technology nodes written as "5nm" or "5 nm" as well as 5."""
    if key == "node_nm" and isinstance(value, str):
        text = value.strip().lower().removesuffix("nm").strip()
        try:
            return int(text)
        except ValueError:
            raise UserError(f"node_nm: expected a node such as 7 or '7nm', got {value!r}") from None
    return value


def normalise_config(cfg: dict) -> None:
    """Normalise node values in the `hardware:` section and in `space.node_nm` (in place)."""
    hw = cfg.get("hardware") or {}
    if "node_nm" in hw:
        hw["node_nm"] = normalise("node_nm", hw["node_nm"])
    node = (cfg.get("space") or {}).get("node_nm")
    if isinstance(node, list):
        cfg["space"]["node_nm"] = [normalise("node_nm", v) for v in node]


def base_hardware(section: Mapping[str, Any]) -> dict:
    """The preset's keys overlaid with the section's own (validated)."""
    section = dict(section or {})
    preset = section.pop("preset", DEFAULT_PRESET)
    if not isinstance(preset, str):
        raise UserError(f"hardware.preset: expected a preset name, got {preset!r}")
    merged = {**load(preset).as_dict(), **section}
    spec_from_dict(merged, "hardware")
    return merged


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
