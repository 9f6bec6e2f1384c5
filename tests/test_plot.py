"""`dse.plot`: the report's figures for notebooks, from a directory or a table + config."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml
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
    front = [t for t in fig.data if str(t.meta).startswith("hover:front")]
    s = analyse(df, cfg)
    x, y = (np.concatenate([getattr(t, a) for t in front]) for a in "xy")
    hover = [row for t in front for row in t.customdata]
    assert len(x) == s.front.sum() == len(hover)
    by_point = df.set_index(df["point"].astype(str))
    points = [h[0] for h in hover]  # the point, first
    assert sorted(map(int, points)) == sorted(df["point"].to_numpy()[s.front])
    assert np.allclose(x, by_point.loc[points, objectives[2]], rtol=1e-6)
    assert np.allclose(y, by_point.loc[points, objectives[0]], rtol=1e-6)
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
    assert any(str(t.meta).startswith("hover:front") for t in fig.data)


def test_error_vs_bits_format_map_and_study_figures(quick, tmp_path):
    df, cfg = quick
    bits = dse.plot.error_vs_bits(df, cfg)
    assert {t.name for t in bits.data} >= {"mxfp4", "nvfp4"}
    assert dse.plot.format_map(df, cfg) is None  # one weight format for every class
    assert dse.plot.study(df, cfg) == []  # grid search, no figures: section
    study_cfg = yaml.safe_load((ROOT / "configs" / "student-t-formats.yaml").read_text())
    out = tmp_path / "st"
    dse.run(study_cfg, output_dir=out, report=False)
    (fig,) = dse.plot.study(out)
    assert [t.name for t in fig.data] == study_cfg["figures"][0]["formats"]
