"""`dse hw export`: the costs of a hardware description in Accelergy, Timeloop and ZigZag
layouts, carrying this library's numbers and naming the same components everywhere."""

from __future__ import annotations

import re

import pytest
import yaml

from dse.cli import main
from dse.commands.hw import EXPORT_FILES
from hwmodels.export import (
    DRAM_WORD_BITS,
    accelergy_tables,
    timeloop_architecture,
    zigzag_hardware,
)
from hwmodels.memory import sram_pj_per_bit
from hwmodels.presets import load


def _paths(node: dict, prefix: str = "") -> set[str]:
    """Component paths of a Timeloop v0.3 architecture tree."""
    here = f"{prefix}{node['name']}"
    out = {f"{here}.{c['name']}" for c in node.get("local", [])}
    for child in node.get("subtree", []):
        out |= _paths(child, here + ".")
    return out


@pytest.mark.parametrize("preset", ["edge-16nm", "datacenter-7nm"])
def test_tables_carry_the_library_costs_and_name_the_architecture(preset):
    spec = load(preset)
    (ert,), (art,) = (d.values() for d in accelergy_tables(spec))
    energy = {t["name"]: {a["name"]: a["energy"] for a in t["actions"]} for t in ert["tables"]}
    area = {t["name"]: t["area"] for t in art["tables"]}
    unit = spec.unit(at_node=True)
    mac = next(n for n in energy if ".mac" in n)
    assert energy[mac]["mac_random"] == unit.energy_pj
    found = re.search(r"\.mac\[0\.\.(\d+)\]$", mac)
    lanes = int(found[1]) + 1 if found else 1
    assert lanes == unit.lanes and area[mac] * lanes == pytest.approx(unit.area_um2)
    tech = spec.tech()
    cap = spec.weight_buffer_kib * 1024
    want = float(sram_pj_per_bit(cap, tech["sram_energy_factor"], tech)) * spec.bits("weight")
    assert energy["system.chip.weight_buffer"]["read"] == pytest.approx(want, rel=1e-12)
    assert energy["system.DRAM"]["read"] == spec.dram_energy() * DRAM_WORD_BITS
    # the buffers' areas are those `dse hw show` reports, in um^2
    from dse.commands.hw import show_report

    shown = {b["buffer"]: b["area_mm2"] for b in show_report(spec)["buffers"]}
    assert area["system.chip.weight_buffer"] == pytest.approx(shown["weight"] * 1e6)
    arch = timeloop_architecture(spec)["architecture"]
    assert arch["version"] == 0.3
    assert set(energy) == set(area) == _paths(arch["subtree"][0])


def test_zigzag_file_has_the_memories_and_array_of_the_design():
    spec = load("edge-16nm")
    z = zigzag_hardware(spec)
    assert set(z) == {"name", "memories", "operational_array"}
    mem = z["memories"]
    assert mem["weight_buffer"]["size"] == spec.weight_buffer_kib * 1024 * 8
    assert mem["weight_buffer"]["operands"] == ["I2"] and mem["act_buffer"]["operands"] == ["I1"]
    for m in mem.values():  # keys every ZigZag memory has, one port entry per operand
        assert {"size", "r_bw", "w_bw", "r_cost", "w_cost", "area", "r_port", "w_port",
                "rw_port", "latency", "operands", "ports", "served_dimensions"} <= set(m)
        assert len(m["ports"]) == len(m["operands"])
        assert m["r_cost"] / m["r_bw"] > 0
    unit = spec.unit(at_node=True)
    array = z["operational_array"]
    assert array["sizes"] == [spec.rows, spec.cols, unit.lanes]
    assert array["unit_energy"] == unit.energy_pj
    assert mem["dram"]["r_bw"] == round(spec.bandwidth() * 8 / spec.freq_ghz)


def test_cli_writes_the_four_files(tmp_path, capsys):
    assert main(["hw", "export", "edge-16nm", "-o", str(tmp_path)]) == 0
    docs = {name: yaml.safe_load((tmp_path / name).read_text()) for name in EXPORT_FILES}
    assert [next(iter(d)) for d in docs.values()][:3] == ["ERT", "ART", "architecture"]
    assert docs["zigzag_hardware.yaml"]["name"] == "edge-16nm"
    assert main(["hw", "export", "no-such-chip", "-o", str(tmp_path / "x")]) == 2
    assert "no-such-chip" in capsys.readouterr().err
