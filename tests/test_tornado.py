"""The what-if tornado: its bars are the what-if changes, largest on top, coloured by sense."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import dse
from dse.cli import main
from reports.labels import title
from reports.tornado import BETTER, NEUTRAL, WORSE, tornado

QUICKSTART = Path(__file__).resolve().parents[1] / "configs" / "quickstart.yaml"


@pytest.fixture(scope="module")
def result():
    return dse.whatif(QUICKSTART, ["hardware.node_nm=5nm"])


def test_bars_are_the_changes_sorted_and_coloured_by_sense(result):
    fig = tornado(result["metrics"], result["objectives"])
    bar = fig.data[0]
    change = result["metrics"]["change_%"].astype(float)
    change = change[np.isfinite(change)]
    assert len(bar.x) == len(change)
    by_title = {title(c): v for c, v in change.items()}
    assert [by_title[y] for y in bar.y] == pytest.approx(list(bar.x))
    assert list(np.abs(bar.x)) == sorted(np.abs(bar.x))  # drawn bottom-up: largest on top
    colours = dict(zip(bar.y, bar.marker.color))
    energy = title("energy_per_token_uj")
    assert result["objectives"]["energy_per_token_uj"] == "min" and by_title[energy] < 0
    assert colours[energy] == BETTER  # 5 nm lowers the energy of the same design
    assert colours[title("weight_memory_gb")] == NEUTRAL  # no change, not an objective
    flipped = tornado(result["metrics"], {"energy_per_token_uj": "max"})
    assert dict(zip(flipped.data[0].y, flipped.data[0].marker.color))[energy] == WORSE


def test_cli_writes_the_page(tmp_path, capsys):
    page = tmp_path / "w.html"
    assert main(["whatif", str(QUICKSTART), "--set", "hardware.node_nm=5nm",
                 "--html", str(page)]) == 0  # fmt: skip
    html = page.read_text()
    fig = json.loads(re.search(r'id="tornado-json">(.*?)</script>', html, re.S)[1])
    assert fig["data"][0]["type"] == "bar" and "hardware.node_nm=5nm" in html
    assert "front:" in capsys.readouterr().out
