"""The report's roofline: every GEMM of the selected designs at the intensity and throughput
the engine's model gives it, under each design's roof."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from report_data import QUICKSTART_CONFIG, results_table

import dse
import dse.plot
from dse.config import resolve
from hwmodels.accelerator import evaluate
from hwmodels.presets import spec_from_dict
from reports import build_report
from reports.figures import selected_designs
from reports.read import read_sweep
from reports.roofline import gemm_points, roofline
from reports.sweep import analyse

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """The real quickstart sweep (the roofline re-evaluates designs from the config)."""
    out = tmp_path_factory.mktemp("rl") / "q"
    dse.run(ROOT / "configs" / "quickstart.yaml", output_dir=out, report=False)
    s = read_sweep(out)
    return s, s.frame(["point", *s.variables, "latency_per_token_ms"],
                      np.arange(len(s.results)))


def test_gemms_sit_under_their_roof_and_memory_bound_ones_on_the_slope(quick):
    s, df = quick
    designs = selected_designs(s)
    fig = roofline(s, designs)
    roofs = [t for t in fig.data if t.mode == "lines"]
    dots = [t for t in fig.data if t.meta == "roofline-gemms"]
    assert len(roofs) == len(dots) == len(designs)
    gemms, a = gemm_points(s, np.array([r for r, _ in designs]))
    for i, (dot, (row, _)) in enumerate(zip(dots, designs)):
        x, y = np.asarray(dot.x), np.asarray(dot.y)
        assert len(x) == len(gemms)
        # throughput x time = the GEMM's MACs (m n k x count), independently of the model
        macs = np.array([g.m * g.n * g.k * g.count for g in gemms], dtype=float)
        assert y * 1e3 * a["latency_ns"][i] == pytest.approx(macs, rel=1e-12)
        roof = np.minimum(a["peak_tmacs"][i], x * a["bandwidth_gbs"][i] / 1e3)
        assert np.all(y <= roof * (1 + 1e-9))
        on_slope = np.isclose(y, x * a["bandwidth_gbs"][i] / 1e3, rtol=1e-9)
        assert on_slope.any()  # decode at batch 8: weight-streaming GEMMs are memory bound
        # the decode step's latency (every sequence's token) is the sum of the GEMMs' times:
        # the results table's value
        assert a["latency_ns"][i].sum() / 1e6 == pytest.approx(
            df["latency_per_token_ms"].loc[row], rel=1e-9)


def test_the_roof_is_the_designs_peak_and_bandwidth(quick):
    """The roof against the hardware description's own path (`HardwareSpec.design()`, as
    `dse hw show` evaluates a preset), not the evaluator's stage."""
    s, df = quick
    designs = selected_designs(s)
    _, a = gemm_points(s, np.array([r for r, _ in designs]))
    spec = resolve(s.config)
    one = SimpleNamespace(m=[1], n=[4096], k=[4096], count=[1])
    for i, (row, _) in enumerate(designs):
        values = {**spec.base_hardware, **{v: df[v].loc[row].item() for v in s.variables
                                           if v in ("rows", "cols", "bandwidth_gbs")},
                  "weight_format": df["weight_format"].loc[row],
                  "activation_format": df["act_format"].loc[row]}
        hw = spec_from_dict({k: v for k, v in values.items() if k != "preset"})
        peak = evaluate(hw.design(), one, hw.reference_tech()).peak_macs_per_ns[0] / 1e3
        assert a["peak_tmacs"][i] == pytest.approx(peak, rel=1e-12)
        assert a["bandwidth_gbs"][i] == pytest.approx(hw.bandwidth(), rel=1e-12)


def test_the_report_has_the_roofline_and_tables_from_elsewhere_skip_it(quick):
    s, _ = quick
    html = (Path(s.config["output"]["dir"]) / "report.html")
    from reports import write_report

    text = write_report(html.parent, plotly_js="cdn").read_text()
    assert 'id="roofline"' in text
    assert re.search(r"Arithmetic intensity \[MAC per off-chip byte\]", text)
    df = results_table(QUICKSTART_CONFIG)  # a synthetic table: its config does not evaluate
    assert roofline(analyse(df, copy.deepcopy(QUICKSTART_CONFIG)), [(0, "x")]) is None
    assert 'id="roofline"' not in build_report(df, copy.deepcopy(QUICKSTART_CONFIG),
                                               plotly_js="cdn")


def test_plot_api_returns_the_roofline(quick):
    s, _ = quick
    fig = dse.plot.roofline(s.config["output"]["dir"])
    assert sum(t.meta == "roofline-gemms" for t in fig.data) == len(selected_designs(s))
