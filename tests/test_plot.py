"""`dse.plot`: the report's figures for notebooks, from a directory or a table + config."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
from report_data import QUICKSTART_CONFIG, results_table

import dse.plot
from dse.errors import UserError
from reports.sweep import analyse

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def quick():
    return results_table(QUICKSTART_CONFIG), copy.deepcopy(QUICKSTART_CONFIG)


def test_front_plots_the_chosen_pair_with_hover_filled(quick):
    df, cfg = quick
    objectives = [o["column"] for o in cfg["objectives"]]
    fig = dse.plot.front(df, cfg, x=objectives[2], y=objectives[0])
    front = next(t for t in fig.data if t.meta == "hover:front")
    s = analyse(df, cfg)
    assert len(front.x) == s.front.sum() == len(front.customdata)
    rows = np.flatnonzero(s.front)
    assert np.allclose(front.x, df[objectives[2]].to_numpy()[rows], rtol=1e-6)
    assert np.allclose(front.y, df[objectives[0]].to_numpy()[rows], rtol=1e-6)
    assert str(df["point"].iloc[rows[0]]) == front.customdata[0][0]  # the point, first
    with pytest.raises(UserError, match=r"x='rows' is not an objective.*objectives: model_nmse"):
        dse.plot.front(df, cfg, x="rows")
    with pytest.raises(UserError, match="needs its config"):
        dse.plot.front(df)


def test_the_other_figures_and_a_results_directory(quick, tmp_path):
    df, cfg = quick
    assert dse.plot.parallel(df, cfg).data[0].type == "parcoords"
    assert dse.plot.breakdown(df, cfg).data and dse.plot.per_class(df, cfg).data
    out = tmp_path / "qs"
    dse.run(ROOT / "configs" / "quickstart.yaml", output_dir=out, report=False)
    fig = dse.plot.front(out)
    assert any(t.meta == "hover:front" for t in fig.data)
