"""HTML reports: front and best designs, offline embedding, escaping, large sweeps, CLI."""

from __future__ import annotations

import base64
import copy
import json
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from plotly.offline import get_plotlyjs
from report_data import QUICKSTART_CONFIG, results_table

from dse.cli import main
from dse.errors import UserError
from dse.pareto import Objective, front
from reports import build_report, write_report
from reports.formats_panel import block_max, density, known_format, scaled_levels
from reports.labels import text
from reports.read import read_sweep, wanted
from reports.sweep import DETAIL_ROWS, PARALLEL_ROWS, analyse
from reports.tables import best_table

RUN_INFO = {"config_hash": "0123456789abcdef", "elapsed_s": 2.5, "points_evaluated": 1620,
            "space_size": 1620, "method": "grid", "started": "2025-01-01T00:00:00+00:00"}
BLOCK = re.compile(r'<script type="application/json" id="([^"]+)">(.*?)</script>', re.S)


def blocks(html: str) -> dict[str, object]:
    """Every JSON block of a report, decoded, by id."""
    return {k: json.loads(v) for k, v in BLOCK.findall(html)}


def array(values: object) -> np.ndarray:
    """A plotly JSON array: a list, or a typed array {dtype, bdata}."""
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])
    return np.asarray(values)


@pytest.fixture(scope="module")
def quick() -> tuple[pd.DataFrame, dict]:
    return results_table(QUICKSTART_CONFIG), copy.deepcopy(QUICKSTART_CONFIG)


@pytest.fixture(scope="module")
def quick_html(quick) -> str:
    return build_report(*quick, RUN_INFO)


@pytest.fixture(scope="module")
def bare_cdn_html(quick) -> str:
    """Without run metadata, plotly.js from the CDN."""
    return build_report(*quick, None, plotly_js="cdn")


def dominated_brute_force(f: np.ndarray) -> np.ndarray:
    """Row i is dominated when some row is <= everywhere and < somewhere (minimisation)."""
    le = (f[None, :, :] <= f[:, None, :]).all(axis=2)
    lt = (f[None, :, :] < f[:, None, :]).any(axis=2)
    return (le & lt).any(axis=1)


def test_front_table_holds_exactly_the_non_dominated_feasible_rows(quick, quick_html):
    df, cfg = quick
    data = blocks(quick_html)["front-data"]
    shown = {row[data["columns"].index("point")] for row in data["rows"]}
    objectives = [Objective(o["column"], o["sense"]) for o in cfg["objectives"]]
    feasible = df[df["feasible"]]
    assert shown == set(front(feasible, objectives)["point"])
    f = feasible[[o.column for o in objectives]].to_numpy()
    assert shown == set(feasible["point"][~dominated_brute_force(f)])
    assert len(data["rows"]) == len(shown)  # no duplicates
    assert quick_html.count('<tr data-row="') >= len(shown)
    table = quick_html[quick_html.index('id="front-table"'):]
    assert table[: table.index("</table>")].count("<tr data-row=") == len(shown)


def test_best_design_per_objective_is_the_feasible_extreme(quick):
    df, cfg = quick
    cfg = copy.deepcopy(cfg)
    cfg["objectives"].append({"column": "tokens_per_s", "sense": "max"})
    s = analyse(df, cfg)
    feasible = df[df["feasible"]]
    for o in cfg["objectives"]:
        best = df[o["column"]].iloc[s.best[o["column"]]]
        extreme = feasible[o["column"]].max() if o["sense"] == "max" else feasible[
            o["column"]].min()
        assert best == extreme
        assert s.feasible[s.best[o["column"]]]
    assert s.front[s.knee]
    table = best_table(s)
    for o in cfg["objectives"]:
        extreme = feasible[o["column"]].agg("max" if o["sense"] == "max" else "min")
        assert f">{text(extreme)}<" in table


def test_summary_states_run_metadata_and_degrades_without_it(quick_html, bare_cdn_html):
    assert "0123456789abcdef" in quick_html and "2.5 s" in quick_html
    assert "1,620 points over 6 variables" in quick_html
    assert "<dd>not recorded</dd>" in bare_cdn_html and "SHA-256 of config.yaml" in bare_cdn_html


def test_degrades_without_optional_columns_or_feasible_designs(quick):
    df, cfg = quick
    sparse = df.drop(columns=[c for c in df if c.startswith(("energy_", "area_", "compute_"))
                              and c not in ("energy_per_token_uj", "area_mm2")])
    sparse = sparse.drop(columns=["feasible", "point"])  # constraints applied from the config
    html = build_report(sparse, cfg, plotly_js="cdn")
    assert html.count("not in the results table") == 4  # energy, area, latency, by class
    s = analyse(sparse, cfg)
    assert (s.feasible == df["feasible"].to_numpy()).all()
    assert (s.results["point"] == np.arange(len(df))).all()
    none = build_report(df.assign(feasible=False, area_pe_mm2=-1.0), cfg, plotly_js="cdn")
    assert f"Impossible values in the results: negative area_pe_mm2 ({len(df):,} rows)" in none
    assert "No feasible design: nothing to break down." in none
    assert "the front is empty" in none and blocks(none)["front-data"]["rows"] == []


def test_impossible_values_are_flagged(quick, bare_cdn_html):
    df, cfg = quick
    assert "Impossible values" not in bare_cdn_html
    bad = df.assign(nmse_w_qkv=-df["nmse_w_qkv"], model_sqnr_db=-1.0)  # negative dB is possible
    assert analyse(bad, cfg).negative_metrics() == {"nmse_w_qkv": len(df)}


def test_default_report_is_offline_with_one_plotly_copy(quick, quick_html, bare_cdn_html):
    assert quick_html.count(get_plotlyjs()) == 1
    page = quick_html.replace(get_plotlyjs(), "")  # the library's own strings aside
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert not re.search(r"<(link|img|iframe)\b", page, re.I)
    cdn = bare_cdn_html
    assert len(re.findall(r'<script[^>]+src="https://cdn\.plot\.ly/', cdn)) == 1
    assert get_plotlyjs()[:2000] not in cdn
    with pytest.raises(UserError, match="plotly_js"):
        build_report(*quick, plotly_js="inline")


def test_every_plot_has_its_figure_and_hover_shows_the_whole_design(quick, quick_html):
    df, cfg = quick
    data = blocks(quick_html)
    ids = re.findall(r'<div class="plotly-graph-div" id="([^"]+)"', quick_html)
    assert ids == ["scatter-0", "scatter-1", "scatter-2", "scatter-3d", "parallel",
                   "error-vs-bits", "formats-weight", "formats-act", "breakdown", "per-class"]
    assert all(data[f"{i}-json"]["data"] for i in ids)
    trace = next(t for t in data["scatter-0-json"]["data"]
                 if t.get("meta", "").startswith("hover:front"))
    for column in ["point", *cfg["space"], *(o["column"] for o in cfg["objectives"])]:
        assert f"{column}: %{{customdata[" in trace["hovertemplate"]
    hover = data["hover-data"]
    assert len(hover["front"]) == analyse(df, cfg).front.sum()
    assert sum(len(v) for v in hover.values()) == np.isfinite(
        df[[o["column"] for o in cfg["objectives"]]].to_numpy()).all(axis=1).sum()
    assert all(t["type"] == "scatter" for t in data["scatter-0-json"]["data"])


def test_user_strings_are_escaped(quick):
    df, cfg = quick
    df, cfg = df.copy(), copy.deepcopy(cfg)
    evil_format = "nvfp4<b>x</b>"
    cfg["name"] = "<script>alert(1)</script>"
    cfg["description"] = '<img src=x onerror="alert(2)">'
    cfg["hardware"]["preset"] = "</script><script>alert(3)</script>"
    cfg["space"]["weight_format"].append(evil_format)
    df.loc[df["weight_format"] == "nvfp4", "weight_format"] = evil_format
    html = build_report(df, cfg, RUN_INFO, plotly_js="cdn")
    for raw in ("<script>alert", "<b>x</b>", "<img", "</script><script>alert"):
        assert raw not in html
    assert "<h1>&lt;script&gt;alert(1)&lt;/script&gt;</h1>" in html
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in html
    tags = re.findall(r"<script[^>]*>", html)
    assert tags.count("<script>") == 1  # report.js; the rest are JSON blocks and plotly's src
    assert all('type="application/json"' in t or 'src="https://cdn.plot.ly/' in t
               for t in tags if t != "<script>")
    for block in BLOCK.findall(html):
        assert "<" not in block[1]
    data = blocks(html)
    front_formats = {r[data["front-data"]["columns"].index("weight_format")]
                     for r in data["front-data"]["rows"]}
    assert evil_format in front_formats  # raw in the CSV data, escaped in the HTML table
    assert "nvfp4&lt;b&gt;x&lt;/b&gt;" in json.dumps(data["hover-data"])
    assert "nvfp4&lt;b&gt;x&lt;/b&gt; (not drawn)" in json.dumps(data["formats-weight-json"])


def test_large_sweeps_use_webgl_and_a_stated_sample():
    cfg = copy.deepcopy(QUICKSTART_CONFIG)
    cfg["space"].update(pe_rows=[8, 16, 24, 32, 48, 64], pe_cols=[8, 16, 24, 32, 48, 64],
                        sram_kb=[128, 256, 384, 512, 768, 1024, 1536, 2048],
                        act_format=["fp16", "e4m3", "mxfp8e4m3", "mxfp6e2m3"],
                        dram_bandwidth_gbs=[25.6, 51.2, 102.4, 204.8])
    df = results_table(cfg)
    assert len(df) > DETAIL_ROWS
    html = build_report(df, cfg, plotly_js="cdn")
    data = blocks(html)
    s = analyse(df, cfg)
    for k in range(3):
        traces = data[f"scatter-{k}-json"]["data"]
        assert {t["type"] for t in traces} == {"scattergl", "heatmap"}
        other = next(t for t in traces if t["name"].startswith("not sampled"))
        assert other["type"] == "heatmap"
    hover = data["hover-data"]
    assert sum(len(v) for v in hover.values()) <= DETAIL_ROWS
    assert len(hover["front"]) == s.front.sum()
    assert f"random sample (seed 0) of the other rows, {DETAIL_ROWS:,} rows" in html
    drawable = np.isfinite(df[[o["column"] for o in cfg["objectives"]]].to_numpy()).all(axis=1)
    assert f"remaining {(~s.detail & drawable).sum():,} rows as a density" in html
    lines = array(data["parallel-json"]["data"][0]["dimensions"][0]["values"])
    assert len(lines) == (s.sample(PARALLEL_ROWS) & drawable).sum() <= PARALLEL_ROWS
    assert (s.sample(PARALLEL_ROWS) <= s.detail).all() and (s.front <= s.detail).all()


def test_formats_panel_scales_levels_to_the_median_block_max(quick, quick_html):
    dist = density(6.8)
    for name, block in (("int4/g128", 128), ("nvfp4", 16), ("blockdialect/b32", 32)):
        levels = scaled_levels(known_format(name), dist)
        assert np.abs(levels).max() == pytest.approx(block_max(dist, block))
    assert scaled_levels(known_format("fp16"), dist) is None
    assert known_format("nvfp4<b>") is None
    m = block_max(dist, 128)  # P(max |X| of 128 values <= m) = 1/2
    assert (2 * dist.cdf(m) - 1) ** 128 == pytest.approx(0.5)
    df, _ = quick
    nvfp4 = df.loc[df["weight_format"] == "nvfp4", "nmse_w_qkv"].median()
    table = quick_html[quick_html.index("<h3>Weights</h3>"):quick_html.index("<h3>Activations")]
    assert f">{text(nvfp4)}<" in table


@pytest.fixture
def results_dir(tmp_path, quick):
    df, cfg = quick
    df.iloc[::8].to_csv(tmp_path / "results.csv", index=False)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    (tmp_path / "run.json").write_text(json.dumps(RUN_INFO))
    return tmp_path


def test_write_report_reads_a_results_directory(results_dir):
    path = write_report(results_dir, plotly_js="cdn")
    assert path == results_dir / "report.html"
    html = path.read_text()
    assert "0123456789abcdef" in html and "quickstart" in html


def test_a_corrupt_run_json_is_left_out_with_a_warning(results_dir, capsys):
    (results_dir / "run.json").write_text('{"config_hash": "feedfacecafe')  # cut short
    html = write_report(results_dir, plotly_js="cdn").read_text()
    err = capsys.readouterr().err
    assert "run.json is unreadable (JSONDecodeError)" in err and "feedfacecafe" not in html
    (results_dir / "run.json").write_text("[1, 2]")
    write_report(results_dir, plotly_js="cdn")
    assert "run.json is not a JSON object" in capsys.readouterr().err
    (results_dir / "run.json").unlink()
    write_report(results_dir, plotly_js="cdn")
    assert capsys.readouterr().err == ""  # missing: optional, no warning


def test_cli_report_exit_codes(results_dir, tmp_path, capsys):
    out = tmp_path / "sub" / "r.html"
    assert main(["report", str(results_dir), "-o", str(out), "--cdn"]) == 0
    assert out.exists() and "cdn.plot.ly" in out.read_text()
    assert str(out) in capsys.readouterr().out
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "no such results directory" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["report", str(empty)]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["report"])
    assert exc.value.code == 2


def test_stored_on_front_is_drawn_as_stored_not_recomputed(quick):
    df, cfg = quick
    objectives = [Objective(o["column"], o["sense"]) for o in cfg["objectives"]]
    feasible = df[df["feasible"]]
    true_front = set(front(feasible, objectives)["point"])
    dominated = sorted(set(feasible["point"]) - true_front)[:3]
    dropped = sorted(true_front)[0]
    stored = (set(true_front) | set(dominated)) - {dropped}
    marked = df.assign(on_front=df["point"].isin(stored))
    s = analyse(marked, cfg)
    assert set(s.results["point"][s.front]) == stored
    data = blocks(build_report(marked, cfg, plotly_js="cdn"))
    shown = {r[data["front-data"]["columns"].index("point")] for r in data["front-data"]["rows"]}
    assert shown == stored
    assert len(data["hover-data"]["front"]) == len(stored)
    assert set(analyse(df, cfg).results["point"][analyse(df, cfg).front]) == true_front


def padded(df: pd.DataFrame, rows: int, seed: int = 1) -> pd.DataFrame:
    """`df` with `on_front` marked, plus dominated copies of its rows (objectives and metrics
    scaled up by 1 to 3) up to `rows` rows."""
    s = analyse(df, QUICKSTART_CONFIG)
    base = df.assign(on_front=s.front)
    copies = base.iloc[np.arange(rows - len(df)) % len(df)].copy()
    factor = 1 + 2 * np.random.default_rng(seed).random(len(copies))
    for column in ("model_nmse", "energy_per_token_uj", "area_mm2"):
        copies[column] *= factor
    out = pd.concat([base, copies.assign(on_front=False)], ignore_index=True)
    out["point"] = np.arange(len(out))
    return out


def test_report_size_does_not_grow_beyond_the_sample_and_every_front_row_is_drawn(quick):
    df, cfg = quick
    sizes = {}
    for rows in (50_000, 500_000):
        table = padded(df, rows)
        html = build_report(table, cfg, plotly_js="cdn")
        sizes[rows] = len(html.encode())
        data = blocks(html)
        n_front = int(table["on_front"].sum())
        for k in range(3):
            traces = data[f"scatter-{k}-json"]["data"]
            assert sum(len(array(t["x"])) for t in traces
                       if t.get("meta", "").startswith("hover:front")) == n_front
            heat = next(t for t in traces if t["type"] == "heatmap")
            counts = 10.0 ** array(heat["z"])
            drawable = np.isfinite(table[[o["column"] for o in cfg["objectives"]]]).all(axis=1)
            outside = drawable.sum() - sum(len(array(t["x"])) for t in traces
                                           if t.get("meta", "").startswith("hover:"))
            assert np.nansum(counts) == pytest.approx(outside, rel=1e-3)
        assert len(data["hover-data"]["front"]) == n_front
    assert sizes[500_000] == pytest.approx(sizes[50_000], rel=0.03)
    assert sizes[500_000] < 8e6


def test_parquet_report_reads_only_its_columns_and_matches_the_in_memory_one(quick, tmp_path):
    df, cfg = quick
    table = padded(df, 30_000).assign(unused_metric=1.0)
    outside = int(np.flatnonzero(~analyse(table, cfg).detail)[0])
    table.loc[outside, "area_pe_mm2"] = -1.0  # not in the detail rows: found by its statistics
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False),
                   tmp_path / "results.parquet", row_group_size=7_000)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    s = read_sweep(tmp_path)
    assert s.sampled and not s.detail[outside]
    every, detail, selected = wanted(cfg, list(table.columns))
    assert list(s.results.columns) == [*every, "area_pe_mm2"]
    assert "on_front" in every and "unused_metric" not in every + detail + selected
    assert s.details["energy_uj_qkv"].dropna().index.tolist() == sorted(s.roles())
    assert "nmse_w_qkv" in detail and "nmse_w_qkv" not in s.results
    # the point and the design variables are read for the drawn rows only (the costly columns)
    assert {"point", *cfg["space"]} <= set(detail) and not {"point", *cfg["space"]} & set(
        s.results.columns)
    assert s.variables == tuple(cfg["space"])
    assert (s.details.index == np.flatnonzero(s.detail)).all()
    assert all(s.detail[row] for row in s.best.values())  # a best design may be off the front
    assert s.negative_metrics() == {"area_pe_mm2": 1}
    assert (s.values("model_sqnr_db", s.details.index)
            == table["model_sqnr_db"].to_numpy()[s.detail]).all()
    from_file = write_report(tmp_path, plotly_js="cdn").read_text()
    assert from_file == build_report(table.drop(columns="unused_metric"), cfg, plotly_js="cdn")


def test_axis_titles_are_words_with_units_and_log_axes_label_decades(quick, quick_html):
    """Scatter axes are titled from the column registry ("Energy per token [uJ]"), never the
    raw column name with its unit repeated; log axes put labels on decades only."""
    _, cfg = quick
    data = blocks(quick_html)
    titles = {"model_nmse": "Model NMSE", "energy_per_token_uj": "Energy per token [uJ]",
              "area_mm2": "Area [mm^2]", "tokens_per_s": "Tokens per second"}  # fmt: skip
    seen = set()
    for k in range(3):
        layout = data[f"scatter-{k}-json"]["layout"]
        for axis in ("xaxis", "yaxis"):
            text_ = layout[axis]["title"]["text"]
            assert "_" not in text_, text_
            seen.add(text_.split(" (")[0])
            if layout[axis].get("type") == "log":
                assert layout[axis]["dtick"] == 1
    wanted = {titles[o["column"]] for o in cfg["objectives"] if o["column"] in titles}
    assert wanted and wanted <= seen


def test_breakdowns_name_designs_and_parallel_axes_skip_constants(quick):
    """Breakdown rows are labelled by the design's values and role (not "#237 - knee"), the
    NMSE panel has an x title, and parallel coordinates spend no axis on a constant."""
    from reports.figures import parallel, selected_designs
    from reports.sweep import analyse

    df, cfg = quick
    s = analyse(df, cfg)
    designs = selected_designs(s)
    assert designs and all(not lab.startswith("#") for _, lab in designs)
    for row, lab in designs:
        design = df.iloc[row]
        assert str(design["weight_format"]) in lab and str(design["act_format"]) in lab
        assert lab.endswith(")") and ("knee" in lab or "best" in lab)
    data = blocks(build_report(df, cfg, plotly_js="cdn"))
    per_class = data["per-class-json"]["layout"]
    assert per_class["xaxis3"]["title"]["text"] == "output NMSE"
    constant = df.assign(pe_rows=16)  # one design variable takes a single value
    s = analyse(constant, cfg)
    groups = {"front": np.flatnonzero(s.front)}
    labels = [d["label"] for d in parallel(s, groups).data[0].dimensions]
    assert "pe_rows" not in labels and "pe_cols" in labels


def test_an_operand_whose_formats_cannot_be_drawn_gets_no_empty_density_panels(quick):
    """Activations only in fp16/bf16 (too many levels to draw): no figure of seven density
    panels saying "(not drawn)", a one-line note and the NMSE table instead."""
    df, cfg = quick
    cfg = copy.deepcopy(cfg)
    cfg["space"]["act_format"] = ["bf16"]
    html = build_report(df.assign(act_format="bf16"), cfg, plotly_js="cdn")
    assert 'id="formats-act"' not in html and 'id="formats-weight"' in html
    assert "No format of the activations is narrow enough to draw its levels" in html
    assert "(not drawn)" not in html


def test_formats_panel_gives_many_formats_distinct_colours_and_room():
    """With 20 weight formats no colour repeats and the panels grow with the format rows."""
    from reports.formats_panel import PALETTE, class_stats, operand_panel
    from reports.sweep import analyse
    from workloads.operands import WEIGHT

    formats = [f"int{b}/g{g}" for b in (3, 4, 5, 6, 8) for g in (32, 64, 128, 256)]
    cfg = copy.deepcopy(QUICKSTART_CONFIG)
    cfg["space"]["weight_format"] = formats
    df = results_table(QUICKSTART_CONFIG)
    df["weight_format"] = [formats[i % len(formats)] for i in range(len(df))]
    s = analyse(df, cfg)
    fig, _ = operand_panel(s, WEIGHT, class_stats(cfg))
    colours = {t.name: t.marker.color for t in fig.data if t.name in formats}
    assert len(colours) == 20 and len(set(colours.values())) == 20
    assert len(PALETTE) >= 40
    cfg8 = copy.deepcopy(cfg)
    cfg8["space"]["weight_format"] = formats[:8]
    few = analyse(df.assign(weight_format=[formats[i % 8] for i in range(len(df))]), cfg8)
    assert fig.layout.height > operand_panel(few, WEIGHT, class_stats(cfg8))[0].layout.height
