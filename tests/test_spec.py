"""The typed sweep spec (`dse.spec.SweepSpec`): what `dse.config.resolve` returns, validated
once and read by the API, the strategies and the reports."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import dse
import dse.hardware
from dse.api import mark
from dse.config import load, resolve, resume_key
from dse.errors import UserError
from dse.spec import Constraint, SweepSpec, feasible
from dse.store import config_hash
from reports.sweep import analyse

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
SMALL = {
    "name": "small",
    "workload": {"model": "llama-2-7b", "batch": 2, "tokens": 64},
    "hardware": {"preset": "edge-16nm"},
    "space": {"weight_format": ["int4/g128", "e2m1/g32"], "rows": [8, 16]},
    "objectives": ["model_nmse", {"column": "tokens_per_s", "sense": "max"}],
    "constraints": [{"column": "area_mm2", "max": 1e9}],
    "output": {"report": False},
}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_bundled_sweep_resolves_to_a_spec_that_round_trips(path):
    spec = load(path)
    assert isinstance(spec, SweepSpec)
    again = resolve(spec.to_dict())
    assert again.to_dict() == spec.to_dict()
    assert config_hash(again.to_dict()) == config_hash(spec.to_dict())
    assert resume_key(again) == resume_key(spec)
    assert [o.column for o in spec.objectives] == [
        o if isinstance(o, str) else o["column"] for o in load_raw(path)["objectives"]
    ]


def load_raw(path: Path) -> dict:
    import yaml

    return yaml.safe_load(path.read_text())


def test_a_spec_cannot_be_changed_in_place():
    spec = resolve(SMALL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.space["rows"] = [4]  # type: ignore[index]
    with pytest.raises(TypeError):
        spec.base_hardware["rows"] = 4  # type: ignore[index]
    moved = spec.with_output_dir("elsewhere")
    assert moved.output.dir == "elsewhere" and spec.output.dir == "out/small"


def test_the_hardware_preset_is_read_and_validated_once_per_run(tmp_path, monkeypatch):
    """Before the spec, a run loaded the preset and built its HardwareSpec three times
    (config validation, the resume key, the evaluation context)."""
    calls = []
    real = dse.hardware.load
    monkeypatch.setattr(dse.hardware, "load", lambda name: calls.append(name) or real(name))
    dse.execute({**SMALL, "output": {"dir": str(tmp_path / "out"), "report": False}})
    assert calls == ["edge-16nm"]


def test_the_design_space_is_checked_when_the_sweep_is_resolved():
    with pytest.raises(UserError, match=r"space\.rows\[1\]: 8 is repeated"):
        resolve({**SMALL, "space": {"rows": [8, 8]}})
    with pytest.raises(UserError, match=r"space\.vdd\.range: need low < high"):
        resolve({**SMALL, "space": {"vdd": {"range": [0.9, 0.7]}}})


def test_constraints_are_tested_one_way_by_the_run_and_the_report():
    spec = resolve({**SMALL, "constraints": [{"column": "area_mm2", "min": 1.0, "max": 3.0},
                                             {"column": "tokens_per_s", "min": 10}]})  # fmt: skip
    rng = np.random.default_rng(0)
    table = pd.DataFrame({
        "point": np.arange(200),
        "model_nmse": rng.uniform(0, 1, 200),
        "tokens_per_s": rng.uniform(0, 20, 200),
        "area_mm2": rng.uniform(0, 4, 200),
    })  # fmt: skip
    table.loc[::17, "area_mm2"] = np.nan
    want = ((table["area_mm2"] >= 1) & (table["area_mm2"] <= 3) & (table["tokens_per_s"] >= 10))
    assert (feasible(table, spec.constraints) == want.to_numpy()).all()
    marked = mark(table, spec)
    assert (marked["feasible"] == want).all()
    s = analyse(table, spec.to_dict())  # no feasible/on_front columns: the report derives them
    assert (s.feasible == want.to_numpy()).all()
    assert (s.front == marked["on_front"].to_numpy()).all()


def test_a_constraint_bound_is_inclusive_and_nan_never_meets_it():
    c = Constraint("x", min=1.0, max=2.0)
    assert c.met(np.array([0.5, 1.0, 1.5, 2.0, 2.5, np.nan])).tolist() == [
        False, True, True, True, False, False
    ]  # fmt: skip
