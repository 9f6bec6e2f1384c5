"""Published points the models are checked against, and how the models come out on them.

* The 45 nm operation table (Horowitz, ISSCC 2014): which points anchor a fit (reproduced
  exactly) and which the fits predict.
* The 45 nm MAC units of BlockDialect's Table 5 (Jang & Tambe 2025; NanGate 45 nm, 0.5 GHz;
  second-hand): one parameter is fitted, the reduction length `k` the published MACs'
  accumulators were sized for, on the INT4 and INT8 areas (least squares in log over powers of
  two); FP4, DialectFP4 and FP6 are held out, and every power figure is held out. Energies are
  evaluated at 1.1 V, the NanGate library's typical-corner supply (the table's 0.9 V energies
  scaled by Stillmaker-Baas). The MACs are scalar units; their "core" group (products and
  accumulation) is compared: per-tensor scaling and edge decoders are outside a MAC.
  FP6 is taken as E2M3 (the table does not say which FP6); `table5(fp6="e3m2")` shows the other.
"""

from __future__ import annotations

import math

from hwmodels import arithmetic as ar
from hwmodels.memory import OFF_CHIP, sram_pj_per_bit
from hwmodels.technology import REFERENCE, Technology, technology
from hwmodels.units import mac_unit

TABLE5_SOURCE = "BlockDialect (Jang & Tambe 2025), Table 5: NanGate 45 nm, 0.5 GHz; second-hand"
TABLE5_FREQ_GHZ = 0.5
TABLE5_VDD = 1.1  # V: NanGate 45 nm typical corner (assumed to be the synthesis corner)
#: name -> (format, area um^2, power uW)
TABLE5: dict[str, tuple[str, float, float]] = {
    "INT4": ("int4", 207.0, 104.0),
    "FP4": ("e2m1", 247.0, 129.0),
    "DialectFP4": ("blockdialect/b32", 248.0, 135.0),
    "FP6": ("e2m3", 382.0, 214.0),
    "INT8": ("int8", 554.0, 331.0),
}
TABLE5_FIT = ("INT4", "INT8")


def _table5_unit(fmt: str, k: int):
    return mac_unit(fmt, fmt, "scalar", k=k, tech=technology(45, TABLE5_VDD)).group("core")


def fit_table5_k(names: tuple[str, ...] = TABLE5_FIT) -> int:
    """The accumulation length (a power of two) that best fits the areas of `names`."""

    def err(k: int) -> float:
        return sum(
            math.log(_table5_unit(TABLE5[n][0], k).area_um2 / TABLE5[n][1]) ** 2 for n in names
        )

    return min((2**i for i in range(2, 13)), key=err)


def table5(fp6: str = "e2m3") -> list[dict]:
    """Published vs model for every Table 5 MAC (area um^2, power uW at 0.5 GHz)."""
    k = fit_table5_k()
    rows = []
    for name, (fmt, area, power) in TABLE5.items():
        fmt = fp6 if name == "FP6" else fmt
        core = _table5_unit(fmt, k)
        model_power = core.energy_pj * TABLE5_FREQ_GHZ * 1e3  # pJ x GHz = mW -> uW
        rows.append(
            {
                "mac": name,
                "format": fmt,
                "role": "fit (area)" if name in TABLE5_FIT else "held out",
                "k": k,
                "area_published": area,
                "area_model": core.area_um2,
                "area_error": core.area_um2 / area - 1,
                "power_published": power,
                "power_model": model_power,
                "power_error": model_power / power - 1,
            }
        )
    return rows


def horowitz(tech: Technology = REFERENCE) -> list[dict]:
    """Published vs model for the 45 nm table; `anchor` marks points a fit passes through."""
    rows = []

    def row(op: str, model: float, key: str, anchor: bool) -> None:
        pub = tech[key]
        rows.append(
            {"operation": op, "quantity": "pJ" if key.endswith("pj") else "um^2",
             "published": pub, "model": model, "error": model / pub - 1, "anchor": anchor}
        )  # fmt: skip

    for b in (8, 16, 32):
        c = ar.int_adder(b, tech)
        row(f"{b}-bit int add", c.energy_pj, f"int_add_{b}_pj", False)
        row(f"{b}-bit int add", c.area_um2, f"int_add_{b}_um2", False)
    for b in (8, 32):
        c = ar.int_multiplier(b, b, tech)
        row(f"{b}-bit int multiply", c.energy_pj, f"int_mul_{b}_pj", True)
        row(f"{b}-bit int multiply", c.area_um2, f"int_mul_{b}_um2", True)
    for q, (e, m) in ((16, (5, 10)), (32, (8, 23))):
        for op, fn in (("add", ar.fp_adder), ("mul", ar.fp_multiplier)):
            c = fn(e, m, tech)
            label = f"{q}-bit FP {'add' if op == 'add' else 'multiply'}"
            row(label, c.energy_pj, f"fp_{op}_{q}_pj", True)
            row(label, c.area_um2, f"fp_{op}_{q}_um2", True)
    for label, cap, key in (
        ("64-bit read, 8 KB SRAM", 8 * 1024, "sram_8kb_read64_pj"),
        ("64-bit read, 32 KB SRAM", 32 * 1024, "sram_32kb_read64_pj"),
        ("64-bit read, 1 MB SRAM", 1024 * 1024, "sram_1mb_read64_pj"),
    ):
        row(label, float(sram_pj_per_bit(cap, 1.0, tech)) * 64, key, False)
    # the ddr3 preset is the midpoint of Horowitz's 1300-2600 pJ range: within it by design
    dram = OFF_CHIP["ddr3"].pj_per_bit * 64
    for key in ("dram_read64_low_pj", "dram_read64_high_pj"):
        row("64-bit DRAM read (range end)", dram, key, False)
    return rows
