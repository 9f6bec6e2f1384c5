"""Pareto views coloured by weight format and shaped by activation format (`reports.keys`):
each trace's points really are of the format its legend names, every drawn row is in exactly
one trace, per-class formats key as their common format or "mixed", and sweeps with one
format keep the plain colours."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from report_data import QUICKSTART_CONFIG, results_table

import dse.plot
from reports.figures import groups, scatter_2d, scatter_3d
from reports.keys import MIXED, SYMBOLS, keys
from reports.report import render
from reports.sweep import analyse


@pytest.fixture(scope="module")
def quick():
    return results_table(QUICKSTART_CONFIG), copy.deepcopy(QUICKSTART_CONFIG)


def _data_traces(fig):
    return [t for t in fig.data if str(t.meta).startswith("hover:")]


def test_every_point_is_drawn_in_its_weight_colour_and_activation_symbol(quick):
    df, cfg = quick
    fig = dse.plot.front(df, cfg)
    s = analyse(df, cfg)
    g = groups(s)
    by_point = df.assign(on_front=s.front).set_index(df["point"].astype(str))
    legend = {t.legendgroup: t for t in fig.data if not str(t.meta).startswith("hover:")
              and str(t.legendgroup).startswith("colour:")}
    symbols = {t.meta.split(":")[-1]: t for t in fig.data
               if str(t.meta).startswith("toggle:symbol:")}
    # one legend entry per weight format present in the drawn rows, one per activation format
    drawn = np.concatenate([g[n] for n in ("front", "dominated")])
    assert sorted(t.name for t in legend.values()) == sorted(df.iloc[drawn]["weight_format"]
                                                             .unique())
    assert sorted(t.name for t in symbols.values()) == sorted(df.iloc[drawn]["act_format"].unique())
    assert len({t.marker.color for t in legend.values()}) == len(legend)
    assert len({t.marker.symbol for t in symbols.values()}) == len(symbols)
    counted = 0
    for t in _data_traces(fig):
        points = [h[0] for h in t.customdata]
        rows = by_point.loc[points]
        if t.meta.startswith("hover:infeasible"):
            assert not rows["feasible"].any()
            counted += len(points)
            continue
        assert not t.showlegend
        weight = legend[t.legendgroup]
        assert set(rows["weight_format"]) == {weight.name} and t.marker.color == weight.marker.color
        code = t.meta.split("|symbol:")[1]
        assert set(rows["act_format"]) == {symbols[code].name}
        assert t.marker.symbol == symbols[code].marker.symbol
        assert rows["on_front"].all() if "front" in t.meta else not rows["on_front"].any()
        assert np.allclose(t.x, rows[cfg["objectives"][0]["column"]], rtol=1e-6)
        counted += len(points)
    assert counted == sum(len(r) for r in g.values())


def test_front_points_on_the_pairs_staircase_are_labelled_by_their_formats(quick):
    df, cfg = quick
    s = analyse(df, cfg)
    fig = scatter_2d(s, groups(s), 0, 1)
    text = next(t for t in fig.data if t.mode == "text")
    stair = next(t for t in fig.data if t.name == "front of this pair")
    assert len(text.text) == len(stair.x) and text.text[0]
    lookup = df.set_index(["model_nmse", "energy_per_token_uj"])
    for x, y, label in zip(text.x, text.y, text.text):
        if label:
            row = lookup.loc[(x, y)]
            row = row.iloc[0] if isinstance(row, pd.DataFrame) else row
            assert label == f"{row['weight_format']} \u00b7 {row['act_format']}"


def test_3d_view_uses_only_symbols_plotly_draws_in_3d(quick):
    df, cfg = quick
    s = analyse(df, cfg)
    fig = scatter_3d(s, groups(s))
    allowed = {"circle", "circle-open", "cross", "diamond", "diamond-open", "square",
               "square-open", "x"}  # plotly's scatter3d marker symbols
    assert {t.marker.symbol for t in fig.data if t.marker.symbol} <= allowed
    assert any(str(t.meta).startswith("toggle:symbol:") for t in fig.data)


def _synthetic(formats: dict[str, list[str]]) -> tuple[pd.DataFrame, dict]:
    n = len(next(iter(formats.values())))
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"point": np.arange(n), **formats,
                       "model_nmse": rng.random(n), "energy_per_token_uj": rng.random(n)})
    cfg = {"space": {k: sorted(set(v)) for k, v in formats.items()},
           "objectives": [{"column": "model_nmse", "sense": "min"},
                          {"column": "energy_per_token_uj", "sense": "min"}]}
    return df, cfg


def test_per_class_formats_key_as_the_common_format_or_mixed():
    qkv = ["nf4", "nf4", "int4", "int4", "nf4"]
    o = ["nf4", "int4", "int4", "nf4", "nf4"]
    df, cfg = _synthetic({"weight_format_qkv": qkv, "weight_format_o": o,
                          "act_format": ["e4m3"] * 5})
    colour, symbol = keys(analyse(df, cfg))
    assert symbol is None  # one activation format: no symbol key
    assert colour.title == "Weight format" and colour.names[-1] == MIXED
    got = [colour.names[c] for c in colour.codes]
    assert got == ["nf4", MIXED, "int4", MIXED, "nf4"]


def test_a_sweep_with_one_format_or_too_many_keeps_the_plain_colours(quick):
    df, cfg = _synthetic({"weight_format": ["nf4"] * 4, "pe_rows": [8, 16, 32, 64]})
    s = analyse(df, cfg)
    assert keys(s) == (None, None)
    fig = scatter_2d(s, groups(s), 0, 1)
    assert not any(str(t.legendgroup).startswith("colour:") for t in fig.data)
    assert "Blue: the Pareto front" in render(s, plotly_js="cdn")
    many = [f"f{k}" for k in range(len(SYMBOLS) + 1)]
    df, cfg = _synthetic({"weight_format": ["nf4", "int4"] * (len(many) // 2 + 1),
                          "act_format": many + many[:1]})
    colour, symbol = keys(analyse(df, cfg))
    assert colour is not None and symbol is None


def test_error_vs_bits_plots_each_formats_median_nmse_at_its_storage_bits(quick):
    df, cfg = quick
    from reports.formats_panel import error_vs_bits

    fig = error_vs_bits(analyse(df, cfg))
    drawn = {(t.xaxis, name): (x, y) for t in fig.data
             for name, x, y in zip(t.text, t.x, t.y)}
    # published storage: MXFP4 one 8-bit scale per 32 (OCP MX v1.0), NVFP4 one FP8 scale
    # per 16 (NVIDIA), int4/g128 one FP32 scale per 128 (the grammar's default scale), E4M3
    # per tensor
    bits = {("x", "mxfp4"): 4.25, ("x", "nvfp4"): 4.5, ("x", "int4/g128"): 4.25,
            ("x2", "e4m3"): 8.0, ("x2", "mxfp8e4m3"): 8.25}
    for where, b in bits.items():
        assert drawn[where][0] == pytest.approx(b)
    linear = ("qkv", "o", "gate_up", "down", "lm_head")
    for fmt in df["weight_format"].unique():
        rows = df[df["weight_format"] == fmt]
        want = np.median([rows[f"nmse_w_{c}"].median() for c in linear])
        assert drawn[("x", fmt)][1] == pytest.approx(want, rel=1e-12)
    acts = {name for axis, name in drawn if axis == "x2"}
    assert acts == set(df["act_format"]) - {"fp16"}  # the 16-bit reference left out
    lines = {t.name for t in fig.data}
    assert "blockdialect(sel=min-error)" in lines and "mxfp4" in lines


def test_format_map_shows_each_front_designs_per_class_formats_at_their_bits(quick):
    from dse.formats import parse
    from reports.figures import MAP_ROWS, format_map

    assert format_map(analyse(*quick)) is None  # one format for every class: no map
    rng = np.random.default_rng(5)
    n = 400
    choice = [f"fp4fp8(p={p:g})" for p in (0, 0.25, 0.5, 1)] + ["e4m3"]
    formats = {f"weight_format_{c}": list(rng.choice(choice, n)) for c in ("qkv", "o", "down")}
    df, cfg = _synthetic(formats)
    df["energy_per_token_uj"] = 1 - df["model_nmse"]  # every design on the front
    s = analyse(df, cfg)
    fig = format_map(s)
    heat = fig.data[0]
    assert list(heat.x) == ["qkv", "o", "down"]
    assert s.front.sum() == n and MAP_ROWS <= len(heat.y) <= MAP_ROWS + len(s.roles())
    for label, names, bits in zip(heat.y, heat.text, heat.z):
        row = df[df["point"] == int(label.split()[0][1:])].iloc[0]
        assert list(names) == [row[f"weight_format_{c}"] for c in heat.x]
        assert list(bits) == pytest.approx([parse(f).bits_per_element for f in names])
    shown = {int(lab.split()[0][1:]) for lab in heat.y}
    assert {int(df["point"].iloc[r]) for r in s.roles()} <= shown
    assert shown <= set(df["point"][s.front])
    nmse = df.set_index("model_nmse").loc[sorted(df["model_nmse"][s.front])]
    assert [int(lab.split()[0][1:]) for lab in heat.y] == [
        p for p in nmse["point"] if p in shown]  # ordered by the first objective
