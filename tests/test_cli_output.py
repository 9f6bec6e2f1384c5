"""What the CLI prints: the front table of `dse run` (ties merged, truncation said), its JSON
(with the front), and `dse query`'s default columns."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dse.cli import main
from dse.commands import print_json
from dse.commands.run import front_table
from dse.pareto import Objective

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "configs" / "quickstart.yaml"


def _strict(text: str):
    """JSON as the standard has it (NaN / Infinity refused)."""
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON {c}"))


@pytest.fixture(scope="module")
def run_json(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "qs"
    return out


def test_front_table_merges_ties_sorts_by_the_first_objective_and_counts_the_rest():
    objectives = [Objective("tokens_per_s", "max"), Objective("area_mm2")]
    front = pd.DataFrame({
        "rows": [8, 16, 8, 16, 32, 4, 64],
        "cols": [16, 8, 8, 8, 8, 4, 64],
        "tokens_per_s": [10.0, 10.0, 5.0, 5.0, 5.0, 1.0, 20.0],
        "area_mm2": [2.0, 2.0, 1.0, 1.0, 1.0, 0.5, 9.0],
    })  # fmt: skip
    shown, more = front_table(front, ["rows", "cols"], objectives, limit=3)
    assert shown["tokens_per_s"].tolist() == [20.0, 10.0, 5.0]  # max first
    assert shown["designs"].tolist() == [1, 2, 3]
    assert shown[["rows", "cols"]].values.tolist() == [[64, 64], [8, 16], [8, 8]]  # first design
    assert more == 1
    everything, none_left = front_table(front, ["rows", "cols"], objectives, limit=10)
    assert none_left == 0 and everything["designs"].sum() == len(front)


def test_print_json_writes_standard_json(capsys):
    print_json({"a": np.float64("nan"), "b": [np.inf, np.int64(3)], "c": -np.inf,
                "d": np.array([1.5, np.nan])})  # fmt: skip
    assert _strict(capsys.readouterr().out) == {"a": None, "b": ["inf", 3], "c": "-inf",
                                                 "d": [1.5, None]}  # fmt: skip


def test_run_lists_distinct_front_points_and_says_how_many_more(run_json, capsys):
    assert main(["run", str(QUICKSTART), "-o", str(run_json), "--no-report", "--json"]) == 0
    summary = _strict(capsys.readouterr().out)
    table = pd.read_parquet(run_json / "results.parquet")
    on_front = table[table["on_front"]]
    assert summary["front_size"] == len(on_front) == len(summary["front"])
    assert {r["point"] for r in summary["front"]} == set(on_front["point"])
    first = summary["front"][0]
    assert set(first) == {"point", "weight_format", "act_format", "rows", "cols",
                          "bandwidth_gbs", "model_nmse", "energy_per_token_uj", "area_mm2"}

    assert main(["run", str(QUICKSTART), "-o", str(run_json), "--no-report"]) == 0
    text = capsys.readouterr().out
    vectors = on_front[["model_nmse", "energy_per_token_uj", "area_mm2"]].drop_duplicates()
    lines = text.splitlines()
    header = next(i for i, ln in enumerate(lines) if "weight_format" in ln)
    end = next(i for i, ln in enumerate(lines) if ln.startswith("..."))
    listed = lines[header + 1 : end]
    assert len(listed) == min(15, len(vectors))
    assert f"... {len(vectors) - 15:,} more distinct front points" in text
    assert "(designs: how many front designs share" in text


def test_query_shows_the_key_columns_unless_asked_for_all(run_json, capsys):
    if not (run_json / "results.parquet").exists():
        main(["run", str(QUICKSTART), "-o", str(run_json), "--no-report", "--quiet"])
        capsys.readouterr()
    assert main(["query", str(run_json), "--top", "2", "--sort=-tokens_per_s", "--json"]) == 0
    rows = _strict(capsys.readouterr().out)
    assert list(rows[0]) == ["point", "weight_format", "act_format", "rows", "cols",
                             "bandwidth_gbs", "model_nmse", "energy_per_token_uj", "area_mm2",
                             "tokens_per_s", "feasible", "on_front"]  # fmt: skip
    assert main(["query", str(run_json), "--top", "2", "--columns", "all", "--json"]) == 0
    everything = _strict(capsys.readouterr().out)
    assert len(everything[0]) == len(pd.read_parquet(run_json / "results.parquet").columns)
