"""Hardware descriptions: a validated record, built from a plain dict or a preset YAML file.

`spec_from_dict(d)` is the configuration interface (the DSE config layer passes a dict);
`load(name_or_path)` reads one of the presets shipped in the package (`hwmodels/data/presets/`,
read with `importlib.resources`) or a YAML file. Keys:

    name, description, node_nm (28, '28nm' or '28 nm'), vdd (V, default: the node's), freq_ghz,
    rows, cols, style (scalar | dot | bit_serial), lanes, weight_format, activation_format,
    output_format (default: the activation format), layout (packed | block | bitplane),
    word_bits, weight_buffer_kib, act_buffer_kib, out_buffer_kib,
    off_chip (hbm2 | hbm3 | ddr3 | lpddr4 | lpddr5), bandwidth_gbs, dram_pj_per_bit
    (default: the off-chip preset's), other_fraction, k (reduction length for unit sizing),
    technology (a dict of `hwmodels.technology` constant overrides), energy_table (path of an
    external per-action energy table imported as overrides: `hwmodels.energy_table`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from importlib.resources import files
from pathlib import Path

from dse.errors import Number, UserError, load_yaml, stems, unknown
from dse.formats import parse
from hwmodels.accelerator import Design, design_from
from hwmodels.energy_table import read_energy_table
from hwmodels.layout import LAYOUTS, tensor_bits
from hwmodels.memory import off_chip
from hwmodels.technology import Technology, parse_node, technology
from hwmodels.units import STYLES, MacUnit, mac_unit

#: The shipped presets, package data (a `Traversable`: works from a wheel or a zip too).
PRESETS = files("hwmodels") / "data" / "presets"
_SHAPE = (4096, 4096)  # tensor shape used to turn a format's storage into bits per element


@dataclass(frozen=True)
class HardwareSpec:
    """One accelerator (see the module docstring for the keys and units)."""

    name: str
    node_nm: int
    freq_ghz: float
    rows: int
    cols: int
    weight_format: str
    activation_format: str
    weight_buffer_kib: float
    act_buffer_kib: float
    out_buffer_kib: float
    off_chip: str
    description: str = ""
    vdd: float | None = None
    style: str = "dot"
    lanes: int | None = None
    output_format: str | None = None
    layout: str = "packed"
    word_bits: int = 0
    bandwidth_gbs: float | None = None
    dram_pj_per_bit: float | None = None
    other_fraction: float = 0.1
    k: int = 4096
    technology: Mapping[str, float] = field(default_factory=dict)
    energy_table: str | None = None

    def _overrides(self) -> tuple[dict[str, float], dict[str, str]]:
        """Constant overrides: the energy table's, then `technology`'s (which win), and the
        imported ones' sources."""
        if self.energy_table is None:
            return dict(self.technology), {}
        values, sources = read_energy_table(self.energy_table)
        return {**values, **self.technology}, {k: s for k, s in sources.items()
                                               if k not in self.technology}

    def tech(self) -> Technology:
        """The technology at this spec's node and Vdd, with its overrides."""
        return technology(self.node_nm, self.vdd, *self._overrides())

    def reference_tech(self) -> Technology:
        """45 nm constants with this spec's overrides (unit costs before node scaling)."""
        values, sources = self._overrides()
        keep = {k: v for k, v in values.items() if "factor" not in k}
        return technology(45, None, keep, sources)

    def unit(self, at_node: bool = False) -> MacUnit:
        """The PE's unit, at 45 nm and 0.9 V (or at this spec's node and Vdd)."""
        tech = self.tech() if at_node else self.reference_tech()
        return mac_unit(
            parse(self.weight_format), parse(self.activation_format), self.style, self.lanes,
            self.k, tech,
        )  # fmt: skip

    def planes(self) -> int:
        """Cycles per lane group: the activation's magnitude bit planes when bit-serial."""
        return self.unit().costs().planes

    def bits(self, which: str) -> float:
        """Bits moved per element of the weight, activation or output tensors."""
        name = {"weight": self.weight_format, "activation": self.activation_format}.get(
            which, self.output_format or self.activation_format
        )
        fmt = parse(name)
        layout = self.layout if fmt.block_size else "packed"
        return tensor_bits(fmt, _SHAPE, layout, self.word_bits).moved_per_element

    def bandwidth(self) -> float:
        return self.bandwidth_gbs or off_chip(self.off_chip).bandwidth_gbs

    def dram_energy(self) -> float:
        return self.dram_pj_per_bit or off_chip(self.off_chip).pj_per_bit

    def design(self) -> Design:
        """This spec as a one-point `Design` for `hwmodels.accelerator.evaluate`."""
        return design_from(
            self.unit().costs(), rows=self.rows, cols=self.cols, freq_ghz=self.freq_ghz,
            w_bits=self.bits("weight"), a_bits=self.bits("activation"),
            o_bits=self.bits("output"), weight_buffer_kib=self.weight_buffer_kib,
            act_buffer_kib=self.act_buffer_kib, out_buffer_kib=self.out_buffer_kib,
            bandwidth_gbs=self.bandwidth(), dram_pj_per_bit=self.dram_energy(),
            node_nm=self.node_nm, vdd=self.tech().vdd, other_fraction=self.other_fraction,
        )  # fmt: skip

    def as_dict(self) -> dict:
        out = asdict(self)
        out["technology"] = dict(self.technology)
        return out


_FIELDS = {f.name: f for f in fields(HardwareSpec)}
#: Numeric keys: integers, positive numbers, and other_fraction (a share of the PE and buffer
#: area, so below 1). NaN and inf are refused (`Number`).
_INT, _POS = Number(1, integer=True), Number(0, open_min=True)
_NUMBERS = {
    "node_nm": _INT, "rows": _INT, "cols": _INT, "lanes": _INT, "k": _INT,
    "word_bits": Number(0, integer=True), "freq_ghz": _POS, "vdd": _POS, "bandwidth_gbs": _POS,
    "weight_buffer_kib": Number(0), "act_buffer_kib": Number(0), "out_buffer_kib": Number(0),
    "dram_pj_per_bit": _POS, "other_fraction": Number(0, 1, doc="share of PE + buffer area"),
}  # fmt: skip


def spec_from_dict(d: Mapping, where: str = "hardware") -> HardwareSpec:
    """A validated `HardwareSpec` from a plain dict; errors name the key and valid choices."""
    if not isinstance(d, Mapping):
        raise UserError(f"{where}: expected a mapping of hardware keys, got {type(d).__name__}")
    values: dict = {}
    for key, value in d.items():
        if key not in _FIELDS:
            raise unknown(f"{where} key", key, _FIELDS)
        if key == "node_nm":
            value = parse_node(value, f"{where}.node_nm")
        if key in _NUMBERS and value is not None:
            node = _NUMBERS[key]
            value = node.check(value, f"{where}.{key}")
            value = value if node.integer else float(value)
        values[key] = value
    missing = [
        f.name
        for f in fields(HardwareSpec)
        if f.name not in values and f.default is MISSING and f.default_factory is MISSING
    ]
    if missing:
        raise UserError(f"{where}: missing key(s) {', '.join(missing)}")
    if values.get("style", "dot") not in STYLES:
        raise unknown(f"{where}.style", values["style"], STYLES)
    if values.get("layout", "packed") not in LAYOUTS:
        raise unknown(f"{where}.layout", values["layout"], LAYOUTS)
    if not isinstance(values.get("technology", {}), Mapping):
        raise UserError(f"{where}.technology must be a mapping of constant overrides")
    if not isinstance(values.get("energy_table", ""), str | None):
        raise UserError(f"{where}.energy_table must be the path of a CSV or YAML file")
    values.setdefault("name", where)
    spec = HardwareSpec(**values)
    off_chip(spec.off_chip)
    for key in ("weight_format", "activation_format", "output_format"):
        if getattr(spec, key):
            parse(getattr(spec, key))
    spec.tech()  # node, Vdd and overrides checked here
    return spec


def preset_names() -> list[str]:
    """Names of the shipped presets (`dse hw show` lists them)."""
    return stems(PRESETS, ".yaml")


def load(name_or_path: str) -> HardwareSpec:
    """A shipped preset by name (e.g. 'edge-16nm') or a YAML file by path."""
    path = Path(name_or_path)
    if not path.suffix:
        if name_or_path not in preset_names():
            raise unknown("hardware preset", name_or_path, preset_names())
        data = load_yaml(PRESETS / f"{name_or_path}.yaml", "hardware preset")
    elif not path.exists():
        raise UserError(f"hardware description {name_or_path!r}: no such file")
    else:
        data = load_yaml(path, "hardware description")
    if isinstance(data, Mapping):
        data = {"name": path.stem, **data}
    return spec_from_dict(data, path.stem)
