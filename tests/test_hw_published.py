"""hwmodels against published numbers: Horowitz's 45 nm table and BlockDialect's Table 5 MACs."""

from __future__ import annotations

import itertools

import pytest

from hwmodels.calibration import TABLE5, TABLE5_FIT, fit_table5_k, horowitz, table5


def test_horowitz_table_within_20_percent_and_anchors_exact():
    rows = [r for r in horowitz() if "DRAM" not in r["operation"]]  # a range: tested below
    assert len(rows) == 21
    for r in rows:
        tol = 1e-9 if r["anchor"] else 0.20
        assert abs(r["error"]) <= tol, r


def test_dram_model_inside_published_range():
    low, high = (r["model"] for r in horowitz() if r["operation"].startswith("64-bit DRAM"))
    assert low == high and 1300 <= low <= 2600


def test_table5_macs_within_25_percent_area_and_power():
    rows = table5()
    assert {r["mac"] for r in rows} == set(TABLE5)
    assert {r["mac"] for r in rows if r["role"] != "held out"} == set(TABLE5_FIT)
    for r in rows:
        assert abs(r["area_error"]) <= 0.25, r
        assert abs(r["power_error"]) <= 0.25, r


def test_table5_published_order_where_areas_differ_by_more_than_5_percent():
    rows = table5()
    for a, b in itertools.combinations(rows, 2):
        if abs(a["area_published"] / b["area_published"] - 1) > 0.05:
            published = a["area_published"] < b["area_published"]
            assert (a["area_model"] < b["area_model"]) == published, (a["mac"], b["mac"])


def test_table5_fit_is_a_small_accumulator():
    assert fit_table5_k() in (8, 16, 32, 64)


@pytest.mark.parametrize("fp6", ["e2m3", "e3m2"])
def test_fp6_variant_is_a_parameter(fp6):
    row = next(r for r in table5(fp6) if r["mac"] == "FP6")
    assert row["format"] == fp6 and row["area_model"] > 0
