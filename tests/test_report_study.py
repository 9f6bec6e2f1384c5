"""The report's Study section: the global-threshold and greedy-mantissa strategies' figures
drawn from their traces and the results, and the `figures:` section of a sweep file
(validated by `dse.config`, computed by the engine)."""

from __future__ import annotations

import copy
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import dse
from dse.cli import main
from dse.config import FIGURE_KINDS, resolve
from dse.error import nmse
from dse.errors import UserError
from reports import study
from reports.read import read_sweep
from reports.study import study_figures

ROOT = Path(__file__).resolve().parents[1]


def _config(name: str) -> dict:
    return yaml.safe_load((ROOT / "configs" / f"{name}.yaml").read_text())


def _figure_ids(html: str) -> list[str]:
    return re.findall(r'<div class="plotly-graph-div" id="([^"]+)"', html)


def test_the_config_and_the_report_know_the_same_figure_kinds():
    assert set(FIGURE_KINDS) == set(study.FIGURE_KINDS)


@pytest.fixture(scope="module")
def mix(tmp_path_factory):
    cfg = _config("fp4-fp8-mix")
    cfg["search"]["options"].update(fractions=[0, 0.5, 1])
    out = tmp_path_factory.mktemp("mix") / "mix"
    table = dse.run(cfg, output_dir=out, report=True)
    return table.reset_index(drop=True), out


def test_global_threshold_curves_are_the_results_at_the_traced_points(mix):
    table, out = mix
    s = read_sweep(out)
    assert "global-threshold" in s.traces
    (fig_id, fig, caption), = study_figures(s)
    assert fig_id == "study-policies" and "uniform policy" in caption
    runs = json.loads((out / "global-threshold.json").read_text())["runs"]
    by_point = table.set_index("point")
    for trace in fig.data:
        column = s.objectives[int((trace.xaxis or "x")[1:] or 1) - 1].column
        if trace.name.startswith("all "):
            fmt = trace.name[4:]
            point = next(r["point"] for r in runs if r.get("format") == fmt)
            assert list(trace.y) == pytest.approx([by_point.loc[point, column]] * 2)
            continue
        policy = trace.name.split()[0]
        mine = sorted((r["fraction"], r["point"]) for r in runs if r["policy"] == policy)
        assert list(trace.x) == [f for f, _ in mine] == [0, 0.5, 1]
        assert list(trace.y) == pytest.approx([by_point.loc[p, column] for _, p in mine])
    html = (out / "report.html").read_text()
    assert _figure_ids(html)[0] == "study-policies"


def test_greedy_mantissa_figure_draws_every_evaluated_tuple(tmp_path):
    cfg = _config("anda")
    out = tmp_path / "anda"
    dse.run(cfg, output_dir=out, report=False)
    s = read_sweep(out)
    (_, fig, _), = study_figures(s)
    trace = json.loads((out / "greedy-mantissa.json").read_text())
    searches = trace["searches"]
    points = [t for t in fig.data if t.name and t.name.startswith("tolerance")]
    assert [t.name for t in points] == [f"tolerance {x['tolerance']:g}" for x in searches]
    for t, search in zip(points, searches):
        assert list(t.y) == [e["error"] for e in search["trace"]]
        assert list(t.marker.symbol) == ["circle" if e["within"] else "x"
                                         for e in search["trace"]]
        assert all((e["error"] <= search["limit"]) == e["within"] for e in search["trace"])
    limits = sorted(shape.y0 for shape in fig.layout.shapes)
    assert limits == pytest.approx(sorted(x["limit"] for x in searches))


def test_error_vs_nu_figure_divides_by_the_reference_at_each_nu(tmp_path):
    cfg = _config("student-t-formats")
    spec = cfg["figures"][0]
    out = tmp_path / "st"
    dse.run(cfg, output_dir=out, report=True)
    (fig_id, fig, _), = study_figures(read_sweep(out))
    assert fig_id == "study-figure-0"
    nus = [float(v) for v in spec["nu"]]
    assert math.isinf(nus[-1])
    for trace, name in zip(fig.data, spec["formats"]):
        assert trace.name == name
        want = [nmse(name, v) / nmse(spec["relative_to"], v) for v in nus]
        assert list(trace.y) == pytest.approx(want, rel=1e-12)
        assert trace.x[-1] == 100.0  # the normal, drawn at 100 and labelled infinity
    assert fig.layout.xaxis.ticktext[-1] == "\u221e"
    # SF4 tuned to nu = 3 beats NF4 on t(3) weights and loses on normal ones (the study)
    sf3 = next(t for t in fig.data if t.name == "sf4(nu=3)/g128")
    assert sf3.y[0] < 1 < sf3.y[-1]
    assert "study-figure-0" in _figure_ids((out / "report.html").read_text())


@pytest.mark.parametrize("entry, message", [
    ({"kind": "error-vs-bits", "formats": ["nf4"], "nu": [3, 5]},
     r"figures\[0\]\.kind.*error-vs-nu"),
    ({"kind": "error-vs-nu", "formats": ["bogus4"], "nu": [3, 5]},
     r"figures\[0\]\.formats\[0\].*bogus4"),
    ({"kind": "error-vs-nu", "formats": ["nf4"], "nu": [1.5, 5]}, r"figures\[0\]\.nu\[0\]"),
    ({"kind": "error-vs-nu", "formats": ["nf4"], "nu": [3, 5], "colour": "red"},
     r"figures\[0\].*colour"),
    ({"kind": "error-vs-nu", "nu": [3, 5]}, r"figures\[0\].*formats"),
])
def test_bad_figure_entries_name_the_key_and_the_valid_choices(entry, message, tmp_path,
                                                               capsys):
    cfg = _config("student-t-formats")
    cfg["figures"] = [entry]
    with pytest.raises(UserError, match=message):
        resolve(cfg)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and re.search(message, err)


def test_figures_round_trip_through_the_resolved_spec_and_leave_results_alone(tmp_path):
    cfg = _config("student-t-formats")
    spec = resolve(cfg)
    assert resolve(spec.to_dict()).to_dict() == spec.to_dict()
    assert spec.to_dict()["figures"][0]["relative_to"] == "nf4/g128"
    bare = copy.deepcopy(cfg)
    del bare["figures"]
    assert "figures" not in resolve(bare).to_dict()  # no key added to older configs' hash
    a = dse.run(cfg, output_dir=tmp_path / "a", report=False)
    b = dse.run(bare, output_dir=tmp_path / "b", report=False)
    pd.testing.assert_frame_equal(a, b)
    assert np.isfinite(a["model_nmse"]).all()
