"""`dse hw show|mac|calibration`: JSON output parses, bad input exits 2 with one message."""

from __future__ import annotations

import json

import pytest

from dse.cli import main


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_show_preset_json(capsys):
    out = _json(capsys, ["hw", "show", "anda-16nm", "--json"])
    assert out["hardware"]["rows"] == 16 and out["unit"]["style"] == "bit_serial"
    assert {b["buffer"] for b in out["buffers"]} == {"weight", "activation", "output"}
    assert [g["bound"] for g in out["example_gemms"]] == ["memory", "compute"]
    assert out["accelerator"]["area_mm2"] > 0
    assert all(row["source"] for row in out["technology"])


def test_show_path_text_and_list(capsys, tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        "node_nm: 28\nfreq_ghz: 0.8\nrows: 8\ncols: 8\nweight_format: int4/g128\n"
        "activation_format: int8\nweight_buffer_kib: 256\nact_buffer_kib: 128\n"
        "out_buffer_kib: 32\noff_chip: lpddr4\n"
    )
    assert main(["hw", "show", str(path)]) == 0
    text = capsys.readouterr().out
    assert "INTERPOLATED" in text and "example GEMMs" in text
    assert "anda-16nm" in str(_json(capsys, ["hw", "show", "--json"])["presets"])


def test_mac_json(capsys):
    out = _json(capsys, ["hw", "mac", "nvfp4", "e4m3", "--node", "7", "--json"])
    assert out["node_nm"] == 7 and out["area_um2"] > 0
    assert out["area_um2"] == pytest.approx(sum(r["area_um2"] for r in out["breakdown"]))
    main(["hw", "mac", "blockdialect/b32", "int8", "--style", "scalar"])
    assert "weight decoder" in capsys.readouterr().out


def test_calibration_json(capsys):
    out = _json(capsys, ["hw", "calibration", "--json"])
    assert len(out["table5_macs"]) == 5 and out["horowitz_45nm"]


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["hw", "show", "no-such-preset"], "anda-16nm"),
        (["hw", "show", "missing.yaml"], "no such file"),
        (["hw", "mac", "nvfp5", "e4m3"], "nvfp4"),
        (["hw", "mac", "nvfp4", "e4m3", "--style", "systolic"], "bit_serial"),
        (["hw", "mac", "nvfp4", "e4m3", "--node", "3"], "technology node"),
    ],
)
def test_bad_input_exits_2(capsys, argv, needle):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
