"""End to end: sweeps from YAML through evaluation, search, the results store and the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import dse
from dse.cli import main
from dse.config import json_schema, load, resolve
from dse.pareto import matrix

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "configs" / "quickstart.yaml"

SMALL = {
    "name": "small",
    "workload": {"model": "llama-2-7b", "phase": "decode", "batch": 4, "tokens": 512},
    "hardware": {"preset": "edge-16nm"},
    "space": {
        "weight_format": ["int4/g128", "mxfp4", "e4m3", "bf16"],
        "act_format": ["e4m3", "bf16"],
        "rows": [8, 16, 32],
        "cols": [8, 32],
        "bandwidth_gbs": {"range": [50, 200], "log": True, "n": 3},
    },
    "objectives": ["model_nmse", {"column": "energy_per_token_uj", "sense": "min"}, "area_mm2"],
    "output": {"report": False},
}


def small(tmp_path: Path, **changes) -> dict:
    cfg = yaml.safe_load(yaml.safe_dump(SMALL))
    cfg["output"]["dir"] = str(tmp_path / "out")
    for key, value in changes.items():
        cfg[key] = value
    return cfg


def dominated_by_any(f: np.ndarray, g: np.ndarray) -> np.ndarray:
    """For each row of f, whether some row of g dominates it (brute force)."""
    le = (g[None, :, :] <= f[:, None, :]).all(axis=2)
    lt = (g[None, :, :] < f[:, None, :]).any(axis=2)
    return (le & lt).any(axis=1)


def test_quickstart_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "qs"
    assert main(["run", str(QUICKSTART), "-o", str(out), "--no-report", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    table = pd.read_csv(out / "results.csv")
    assert summary["points_evaluated"] == len(table) == 7 * 3 * 3 * 3 * 2
    objectives = load(QUICKSTART).objectives
    ok = table[table["feasible"]]
    assert (ok["tokens_per_s"] >= 60).all()
    assert (table.loc[~table["feasible"], "tokens_per_s"] < 60).all()
    assert 0 < len(ok) < len(table)
    front = ok[ok["on_front"]]
    f_front, f_all = matrix(front, objectives), matrix(ok, objectives)
    assert not dominated_by_any(f_front, f_all).any()  # the front is non-dominated
    rest = ok[~ok["on_front"]]
    assert dominated_by_any(matrix(rest, objectives), f_front).all()  # and complete
    for o in objectives:  # it holds the grid's optimum of each single objective
        assert front[o.column].min() == ok[o.column].min()
    run_info = json.loads((out / "run.json").read_text())
    assert run_info["points_evaluated"] == len(table)


def test_results_are_physically_sensible(tmp_path):
    table = dse.run(small(tmp_path))
    int4 = table[(table.weight_format == "int4/g128") & (table.act_format == "bf16")]
    bf16 = table[(table.weight_format == "bf16") & (table.act_format == "bf16")]
    # 4.25-bit weights hold 4.25/16 of the bf16 footprint
    assert int4.weight_memory_gb.iloc[0] / bf16.weight_memory_gb.iloc[0] == pytest.approx(
        4.25 / 16, rel=1e-3
    )
    # decode is memory bound: more bandwidth, less latency
    for _, grp in table.groupby(["weight_format", "act_format", "rows", "cols"]):
        lat = grp.sort_values("bandwidth_gbs").latency_per_token_ms.to_numpy()
        assert np.all(np.diff(lat) < 0)
    assert (table.compute_bound_fraction == 0).all()
    # bigger arrays cost area; error does not depend on the hardware
    assert table.groupby("rows").area_mm2.mean().is_monotonic_increasing
    assert table.groupby(["weight_format", "act_format"]).model_nmse.nunique().max() == 1
    parts = table[["energy_compute_uj", "energy_sram_uj", "energy_dram_uj", "energy_static_uj"]]
    np.testing.assert_allclose(parts.sum(axis=1), table.energy_per_token_uj, rtol=1e-9)


def _typo_in_workload(cfg):
    cfg["workload"]["modle"] = cfg["workload"].pop("model")


BAD = [
    (_typo_in_workload, "workload.modle: unknown key 'modle' (did you mean 'model'?)"),
    (lambda c: c["space"].update(weight_format=["int4/g128", "nvfp44"]),
     "space.weight_format[1]: unknown format 'nvfp44'"),
    (lambda c: c["space"].update(bandwidth_gbs=[100, -5]), "space.bandwidth_gbs[1]"),
    (lambda c: c.update(space={}), "space: is empty"),
    (lambda c: c.update(space={"rowz": [8]}),
     "space.rowz: unknown design variable (did you mean 'rows'?)"),
    (lambda c: c.update(objectives=["energy_per_tokn_uj"]), "did you mean 'energy_per_token_uj'"),
    (lambda c: c.update(constraints=[{"column": "area_mm2", "min": 5, "max": 1}]), "unsatisfiable"),
    (lambda c: c.update(search={"method": "nsga4"}),
     "search.method: 'nsga4' is not valid (did you mean 'nsga3'"),
    (lambda c: c.update(hardware={"preset": "edge-61nm"}), "unknown hardware preset 'edge-61nm'"),
    (lambda c: c.update(search={"method": "grid", "options": {"x": 1}}),
     "search.options: method 'grid' takes no options"),
    (lambda c: c.update(search={"method": "greedy-mantissa", "options": {"tolerence": 0.01}}),
     "search.options.tolerence: unknown key 'tolerence' (did you mean 'tolerance'"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "fragment"), BAD)
def test_bad_configs_exit_2_with_one_message(tmp_path, capsys, change, fragment):
    cfg = small(tmp_path)
    change(cfg)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err and err.count("\n") == 1
    assert not (tmp_path / "out" / "chunks").exists()  # validated before any work


def test_unsatisfiable_constraints_keep_results(tmp_path, capsys):
    cfg = small(tmp_path, constraints=[{"column": "area_mm2", "max": 1e-6}])
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["run", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "no design meets the constraints area_mm2 <= 1e-06" in err
    assert len(pd.read_csv(tmp_path / "out" / "results.csv")) == 144  # nothing lost


def test_published_schema_is_in_step_with_the_validator():
    jsonschema = pytest.importorskip("jsonschema")
    published = json.loads((ROOT / "configs" / "sweep.schema.json").read_text())
    regenerate = "python -m dse.config > configs/sweep.schema.json"
    assert published == json_schema(), f"regenerate with: {regenerate}"
    validator = jsonschema.Draft202012Validator(published)
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        validator.validate(yaml.safe_load(path.read_text()))
    bad = {**SMALL, "space": {"rowz": [8]}}
    assert not validator.is_valid(bad)
    with pytest.raises(dse.UserError):
        resolve(bad)


def test_resume_after_kill_loses_and_duplicates_nothing(tmp_path):
    space = {**SMALL["space"], "weight_buffer_kib": list(range(64, 64 * 41, 64)),
             "act_format": ["e4m3"], "bandwidth_gbs": [68, 136]}  # fmt: skip
    cfg = small(tmp_path, space=space, search={"chunk": 40})
    path = tmp_path / "k.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = subprocess.Popen(
        [sys.executable, "-m", "dse.cli", "run", str(path), "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    chunks = tmp_path / "out" / "chunks"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(chunks.glob("part-*.parquet"))) < 3:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stored = len(list(chunks.glob("part-*.parquet")))
    assert 3 <= stored < 4 * 3 * 2 * 40 * 2 / 40, "the run was not interrupted part way"
    resumed = dse.run(path)
    fresh = dse.run(path, output_dir=tmp_path / "fresh")
    assert resumed["point"].is_unique and len(resumed) == 4 * 3 * 2 * 40 * 2
    pd.testing.assert_frame_equal(resumed, fresh)
    a = (tmp_path / "out" / "results.csv").read_text()
    assert a == (tmp_path / "fresh" / "results.csv").read_text()


def test_nsga2_is_deterministic_and_honours_constraints(tmp_path):
    search = {"method": "nsga2", "population": 16, "generations": 6, "seed": 3}
    cons = [{"column": "area_mm2", "max": 8.0}]
    a = dse.run(small(tmp_path, search=search, constraints=cons))
    b = dse.run({**small(tmp_path, search=search, constraints=cons),
                 "output": {"dir": str(tmp_path / "b"), "report": False}})  # fmt: skip
    pd.testing.assert_frame_equal(a, b)
    assert len(a) < 144  # a search, not the grid
    front = a[a.on_front]
    assert len(front) and (front.area_mm2 <= 8.0).all()


def test_whatif_moves_latency_with_bandwidth(tmp_path):
    cfg = small(tmp_path)
    cfg["space"] = {k: v for k, v in cfg["space"].items() if k != "bandwidth_gbs"}
    cfg["hardware"] = {"preset": "edge-16nm", "bandwidth_gbs": 100}
    out = dse.whatif(cfg, ["hardware.bandwidth_gbs=200"])
    m = out["metrics"]
    assert out["same_design_after"]
    # decode is memory bound: twice the bandwidth, about half the latency
    assert m.loc["latency_per_token_ms", "after"] / m.loc["latency_per_token_ms", "before"] < 0.55
    assert m.loc["model_nmse", "change_%"] == 0
    assert out["front"]["size_before"] > 0


def test_whatif_and_query_cli(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    cfg = small(tmp_path)
    path.write_text(yaml.safe_dump(cfg))
    assert main(["whatif", str(path), "--set", "space.act_format=e4m3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["front"]["size_after"] <= out["front"]["size_before"] + 50
    assert main(["run", str(path), "--quiet"]) == 0
    capsys.readouterr()
    res = str(tmp_path / "out")
    assert main(["query", res, "--where", "model_nmse < 0.01 and area_mm2 < 5",
                 "--sort", "energy_per_token_uj", "--top", "3", "--json"]) == 0  # fmt: skip
    rows = json.loads(capsys.readouterr().out)
    assert 0 < len(rows) <= 3
    assert all(r["model_nmse"] < 0.01 and r["area_mm2"] < 5 for r in rows)
    assert [r["energy_per_token_uj"] for r in rows] == sorted(
        r["energy_per_token_uj"] for r in rows
    )
    assert main(["query", res, "--where", "__import__('os').system('touch pwned')"]) == 2
    assert not Path("pwned").exists()


def test_whatif_accepts_node_names_and_moves_area(tmp_path):
    cfg = small(tmp_path)
    out = dse.whatif(cfg, ["hardware.node_nm=7nm"])
    m = out["metrics"]
    assert m.loc["area_mm2", "after"] < 0.6 * m.loc["area_mm2", "before"]  # 16 nm -> 7 nm
    with pytest.raises(dse.UserError, match="node_nm"):
        dse.whatif(cfg, ["hardware.node_nm=seven"])


def test_progress_bar_shows_rate_and_time_left(monkeypatch):
    import io

    from dse import progress

    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(progress, "_DELAY_S", 0.0)
    monkeypatch.setattr(progress, "_EVERY_S", 0.0)
    stream = Tty()
    bar = progress.Progress(1000, stream=stream)
    bar.update(250)
    bar.close()
    text = stream.getvalue()
    assert "250/1,000 points" in text and "/s" in text and "s left" in text
    quiet = Tty()
    silent = progress.Progress(1000, stream=quiet, quiet=True)
    silent.update(500)
    silent.close()
    assert quiet.getvalue() == ""
    log = io.StringIO()  # not a terminal (a log file): plain lines, no carriage returns
    assert not progress.Progress(10, stream=log).enabled
    monkeypatch.setattr(progress, "_LOG_EVERY_S", 0.0)
    logged = progress.Progress(1000, stream=log)
    logged.update(250)
    logged.update(250)
    logged.close()
    lines = log.getvalue().splitlines()
    assert len(lines) == 3 and "\r" not in log.getvalue()
    assert lines[0].startswith("dse: 250/1,000 points") and lines[-1].startswith("dse: 500/1,000")


def test_run_set_overrides_and_unrunnable_pairs_keep_their_error(tmp_path, capsys):
    cfg = small(tmp_path)
    cfg["space"] = {"weight_format": ["int4/g128"], "act_format": ["e4m3", "anda(m=6)"]}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(cfg))
    # a bit-serial unit cannot stream floating-point (e4m3) activations: no cost, but an error
    assert main(["run", str(path), "--quiet", "--set", "hardware.style=bit_serial",
                 "--set", "workload.batch=2"]) == 0  # fmt: skip
    table = pd.read_csv(tmp_path / "out" / "results.csv")
    fp8 = table[table.act_format == "e4m3"].iloc[0]
    anda = table[table.act_format == "anda(m=6)"].iloc[0]
    assert np.isnan(fp8.energy_per_token_uj) and fp8.model_nmse > 0 and not fp8.feasible
    assert np.isfinite(anda.energy_per_token_uj) and anda.model_nmse > 0
    assert yaml.safe_load((tmp_path / "out" / "config.yaml").read_text())["workload"]["batch"] == 2


def test_a_strategy_returns_what_it_evaluated(tmp_path):
    """The search returns a `SearchResult` (as pymoo's minimize returns a Result): run.json
    counts the points evaluated in this run, so a resumed run evaluates none."""
    import json

    from dse.optimize import SearchResult, strategies

    cfg = small(tmp_path, search={"method": "nsga2", "population": 8, "generations": 2})
    first = dse.execute(cfg)
    info = json.loads((first.dir / "run.json").read_text())
    assert info["method"] == "nsga2"
    assert 0 < info["evaluated_this_run"] == first.points_evaluated
    dse.execute(cfg)
    assert json.loads((first.dir / "run.json").read_text())["evaluated_this_run"] == 0
    assert SearchResult.__dataclass_params__.frozen
    assert all(s.name == name for name, s in strategies().items())


def test_a_format_outside_the_error_model_makes_its_points_infeasible_not_the_sweep_fail(
        tmp_path, capsys):
    """A 2-D tile format has no analytic error model: its design points are infeasible with
    a one-line warning naming it; every other point is as without it."""
    cfg = small(tmp_path)
    cfg["space"]["weight_format"] = ["int4/g128", "e4m3/128x128"]
    cfg["space"]["act_format"] = ["e4m3"]
    table = dse.run(cfg, output_dir=tmp_path / "tile", report=False)
    err = capsys.readouterr().err
    assert err.count("e4m3/128x128: 2-D tile scaling has no analytic model") == 1
    assert "infeasible" in err
    tile = table["weight_format"] == "e4m3/128x128"
    assert tile.any() and (~tile).any()
    assert table.loc[tile, "model_nmse"].isna().all() and not table.loc[tile, "feasible"].any()
    assert not table.loc[tile, "on_front"].any()
    alone = dict(cfg, space={**cfg["space"], "weight_format": ["int4/g128"]})
    ref = dse.run(alone, output_dir=tmp_path / "ref", report=False)
    mine = table.loc[~tile].reset_index(drop=True)
    assert np.array_equal(mine["model_nmse"].to_numpy(), ref["model_nmse"].to_numpy())
    assert main(["error", "e4m3/128x128", "--nu", "5"]) == 2  # asked directly: a clear no
    assert "2-D tile scaling" in capsys.readouterr().err
