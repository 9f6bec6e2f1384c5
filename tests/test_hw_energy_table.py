"""An external per-action energy table (`hwmodels.energy_table`) as technology overrides:
unit conversion, every constant's energy scaled through to the MAC unit and the sweep's
energy, explicit overrides winning, and bad tables refused with the row and valid choices."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest
import yaml

import dse
from dse.cli import main
from dse.errors import UserError
from hwmodels.energy_table import read_energy_table
from hwmodels.presets import load, spec_from_dict
from hwmodels.technology import ASSUMED, REFERENCE_45NM

ENERGIES = {k: c.value for k, c in REFERENCE_45NM.items() if c.unit == "pJ"}


def _csv(path, rows):
    path.write_text("name,value,unit,source\n" + "".join(f"{r}\n" for r in rows))
    return path


def test_units_are_converted_and_sources_recorded(tmp_path):
    table = _csv(tmp_path / "t.csv", ["int_mul_8_pj,400,fJ,lib A", "fp_add_16_pj,0.0009,nJ,",
                                      "nand2_um2,0.0000005,mm^2,lib A cells"])
    values, sources = read_energy_table(table)
    assert values == pytest.approx({"int_mul_8_pj": 0.4, "fp_add_16_pj": 0.9, "nand2_um2": 0.5})
    assert sources["int_mul_8_pj"] == "imported from t.csv: lib A"
    assert sources["fp_add_16_pj"] == "imported from t.csv: no source given"
    as_yaml = tmp_path / "t.yaml"
    as_yaml.write_text(yaml.safe_dump({"int_mul_8_pj": {"value": 400, "unit": "fJ"}}))
    assert read_energy_table(as_yaml)[0] == pytest.approx({"int_mul_8_pj": 0.4})
    tech = replace(load("edge-16nm"), energy_table=str(table)).reference_tech()
    assert tech["int_mul_8_pj"] == pytest.approx(0.4)
    assert tech.source("int_mul_8_pj") == "imported from t.csv: lib A"
    assert tech["int_add_8_pj"] == REFERENCE_45NM["int_add_8_pj"].value  # not in the table


def test_doubling_every_energy_doubles_the_mac_unit_energy_not_its_area(tmp_path):
    table = _csv(tmp_path / "x2.csv", [f"{k},{2 * v},pJ,doubled" for k, v in ENERGIES.items()])
    base = load("edge-16nm")
    doubled = replace(base, energy_table=str(table))
    for spec in (base, doubled):
        spec.unit()  # both build
    assert doubled.unit().energy_pj == pytest.approx(2 * base.unit().energy_pj, rel=1e-9)
    assert doubled.unit().area_um2 == pytest.approx(base.unit().area_um2, rel=1e-12)


def test_explicit_technology_overrides_win_over_the_table(tmp_path):
    table = _csv(tmp_path / "t.csv", ["int_mul_8_pj,0.4,pJ,lib"])
    spec = spec_from_dict({**load("edge-16nm").as_dict(), "energy_table": str(table),
                           "technology": {"int_mul_8_pj": 0.3}})
    tech = spec.reference_tech()
    assert tech["int_mul_8_pj"] == 0.3 and tech.source("int_mul_8_pj") == "override"


def test_a_sweep_with_a_table_moves_compute_energy_only(tmp_path):
    cfg = {"workload": {"model": "llama-2-7b", "batch": 4, "tokens": 256},
           "hardware": {"preset": "edge-16nm"},
           "space": {"weight_format": ["int4/g128"], "act_format": ["e4m3"]},
           "objectives": ["energy_per_token_uj", "model_nmse"], "output": {"report": False}}
    plain = dse.run(cfg, output_dir=tmp_path / "a").iloc[0]
    table = _csv(tmp_path / "x2.csv", [f"{k},{2 * v},pJ,doubled" for k, v in ENERGIES.items()
                                       if not k.startswith(("sram", "dram"))])
    doubled_cfg = copy.deepcopy(cfg)
    doubled_cfg["hardware"]["energy_table"] = str(table)
    doubled = dse.run(doubled_cfg, output_dir=tmp_path / "b").iloc[0]
    assert doubled["energy_compute_uj"] == pytest.approx(2 * plain["energy_compute_uj"], rel=1e-9)
    for column in ("energy_dram_uj", "energy_sram_uj", "model_nmse", "area_mm2"):
        assert doubled[column] == plain[column], column


@pytest.mark.parametrize(("rows", "message"), [
    (["int_mul_9_pj,1,pJ,"], r"row 1: technology constant 'int_mul_9_pj'.*int_mul_8_pj"),
    (["nand2_um2,1,pJ,"], r"row 1 \(nand2_um2\): unit 'pJ'.*um\^2"),
    (["int_add_8_pj,1,pJ,", "int_mul_8_pj,-1,pJ,"], r"row 2 \(int_mul_8_pj\): value"),
    (["int_mul_8_pj,lots,pJ,"], r"row 1: value 'lots' is not a number"),
])
def test_bad_tables_name_the_row_and_the_valid_choices(tmp_path, capsys, rows, message):
    table = _csv(tmp_path / "bad.csv", rows)
    with pytest.raises(UserError, match=message):
        read_energy_table(table)
    hw = tmp_path / "hw.yaml"
    hw.write_text(yaml.safe_dump({**load("edge-16nm").as_dict(), "energy_table": str(table)}))
    assert main(["hw", "show", str(hw)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "bad.csv" in err


def test_missing_file_and_the_imported_source_in_hw_show(tmp_path, capsys):
    with pytest.raises(UserError, match="no such file"):
        read_energy_table(tmp_path / "none.csv")
    table = _csv(tmp_path / "t.csv", ["leakage_mw_per_mm2,12,mW/mm^2,measured"])
    assert ASSUMED["leakage_mw_per_mm2"].unit == "mW/mm^2"
    hw = tmp_path / "hw.yaml"
    hw.write_text(yaml.safe_dump({**load("edge-16nm").as_dict(), "energy_table": str(table)}))
    assert main(["hw", "show", str(hw)]) == 0
    assert "imported from t.csv: measured" in capsys.readouterr().out
