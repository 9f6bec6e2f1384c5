"""An external per-action energy (and area) table, imported as overrides of the technology
constants (`hwmodels.technology`), e.g. a characterisation of one's own cell library.

A hardware description names it with `energy_table: PATH` (in a sweep's `hardware:` section
or a hardware YAML file; a relative path is read from the working directory). The file is a
CSV with the columns `name,value,unit[,source]`, or YAML: a list of such rows or a mapping
`name: {value, unit, source}`. `name` is a technology constant (`dse hw show` lists them, e.g.
`int_mul_8_pj`, `fp_add_16_pj`, `sram_32kb_read64_pj`, `dram_read64_low_pj`, `nand2_um2`);
values are converted to the constant's own unit (energy: fJ, pJ, nJ; area: nm^2, um^2, mm^2).
Each imported constant's source reads "imported from <file>: <row source>". A `technology:`
override of the same constant in the description wins over the table.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

from dse.errors import Number, UserError, load_yaml, unknown
from hwmodels.technology import ASSUMED, REFERENCE_45NM

#: Unit conversions to the constants' units (exact SI prefixes).
_TO = {
    "pJ": {"fJ": 1e-3, "pJ": 1.0, "nJ": 1e3},
    "um^2": {"nm^2": 1e-6, "um^2": 1.0, "mm^2": 1e6},
}
_POSITIVE = Number(0, open_min=True)
#: Every technology constant a table may set.
_KNOWN = {**REFERENCE_45NM, **ASSUMED}


def _units(name: str) -> dict[str, float]:
    """Accepted units of constant `name` and their factors to its own unit."""
    own = _KNOWN[name].unit
    return _TO.get(own, {own: 1.0})


def _rows(path: Path) -> list[dict]:
    """The table's rows as dicts (CSV by suffix .csv, YAML otherwise)."""
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    data = load_yaml(path, "energy table")
    if isinstance(data, dict):
        return [{"name": k, **(v if isinstance(v, dict) else {"value": v})}
                for k, v in data.items()]
    if isinstance(data, list) and all(isinstance(r, dict) for r in data):
        return data
    raise UserError(f"{path}: an energy table is a CSV (name,value,unit,source) or a YAML list "
                    "or mapping of constants with value and unit")


@lru_cache(maxsize=32)
def _read(path: Path, mtime: float) -> tuple[tuple[str, float, str], ...]:
    out = []
    for i, row in enumerate(_rows(path), start=1):
        where = f"{path}, row {i}"
        name = str(row.get("name") or "").strip()
        if name not in _KNOWN:
            raise unknown(f"{where}: technology constant", name, _KNOWN)
        units = _units(name)
        unit = str(row.get("unit") or "").strip()
        if unit not in units:
            raise unknown(f"{where} ({name}): unit", unit, units)
        value = _POSITIVE.check(_number(row.get("value"), where), f"{where} ({name}): value")
        source = str(row.get("source") or "no source given").strip()
        out.append((name, float(value) * units[unit], f"imported from {path.name}: {source}"))
    return tuple(out)


def _number(value: object, where: str) -> object:
    """CSV cells are text: numbers are read from it (other values are checked as they are)."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise UserError(f"{where}: value {value!r} is not a number") from None
    return value


def read_energy_table(path: str | Path) -> tuple[dict[str, float], dict[str, str]]:
    """(constant -> value in its own unit, constant -> source) of the table at `path`
    (cached while the file is unchanged)."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"energy_table: no such file {str(path)!r}")
    rows = _read(p.resolve(), p.stat().st_mtime)
    return {n: v for n, v, _ in rows}, {n: s for n, _, s in rows}
