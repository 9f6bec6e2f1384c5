"""Reports in headless Chromium: the quickstart report loads without JavaScript errors, draws
every plot with its traces, sorts and exports its front table, and screenshots to a non-blank
image; a report full of markup in user strings shows them as text and runs none of it.

Skipped, with the reason in the warnings summary, where no Chromium is installed (`.ci/run`
installs Debian's chromium package when it can).
"""

from __future__ import annotations

import copy
import html
import json
import re
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from report_data import QUICKSTART_CONFIG, results_table

import dse
from dse.config import load
from reports import build_report
from reports.screenshot import BROWSERS, find_chromium, run_headless

QUICKSTART = Path(__file__).resolve().parents[1] / "configs" / "quickstart.yaml"

# Injected at the top of <head>: records errors, console errors and alerts; after load, hovers
# a front point, sorts the front table by `point` both ways, captures the CSV download, and
# writes a JSON summary into <pre id="probe-result"> for --dump-dom. Everything after load is
# synchronous (the CSV is taken from the Blob constructor, not read back from the blob), so the
# summary never waits on the browser process while virtual time runs out; a failure of the
# probe itself is recorded as a "probe: ..." error and the summary is still written.
PROBE = """<script>
window.__errors = [];
window.addEventListener("error", (e) => __errors.push("error: " + (e.message || e.type)), true);
window.addEventListener("unhandledrejection", (e) => __errors.push("rejection: " + e.reason));
const __consoleError = console.error.bind(console);
console.error = (...a) => { __errors.push("console.error: " + a.join(" ")); __consoleError(...a); };
window.alert = (m) => __errors.push("alert: " + m);
window.addEventListener("load", () => setTimeout(() => {
  const out = { errors: __errors };
  try {
  out.plots = Array.from(document.querySelectorAll(".plotly-graph-div")).map((d) => ({
    id: d.id, traces: d.data ? d.data.length : 0, drawn: !!d.querySelector(".main-svg"),
    types: d.data ? Array.from(new Set(d.data.map((t) => t.type))) : [] }));
  const scatter = document.getElementById("scatter-0");
  const front = scatter.data.findIndex((t) => String(t.meta).startsWith("hover:front"));
  Plotly.Fx.hover(scatter, [{ curveNumber: front, pointNumber: 0 }]);
  out.hover = Array.from(scatter.querySelectorAll(".hovertext")).map((e) => e.textContent);
  // the first activation format's legend entry hides, then shows, that format's points
  const entry = scatter.data.findIndex((t) => t.meta === "toggle:symbol:0");
  const ofSymbol = () => scatter.data.filter((t) => String(t.meta).endsWith("|symbol:0"));
  const others = () => scatter.data.filter((t) => /[|]symbol:[1-9]/.test(String(t.meta)));
  out.symbolTraces = ofSymbol().length;
  if (entry >= 0) {
    scatter.emit("plotly_legendclick", { data: scatter.data, curveNumber: entry });
    out.hidden = ofSymbol().map((t) => t.visible);
    out.othersWhileHidden = others().map((t) => t.visible === undefined || t.visible === true);
    out.entryWhileHidden = scatter.data[entry].visible;
    scatter.emit("plotly_legendclick", { data: scatter.data, curveNumber: entry });
    out.shownAgain = ofSymbol().map((t) => t.visible);
  }
  const table = document.getElementById("front-table");
  const col = Array.from(table.tHead.rows[0].cells).findIndex((c) => c.textContent === "point");
  const points = () => Array.from(table.tBodies[0].rows, (r) => Number(r.cells[col].textContent));
  table.tHead.rows[0].cells[col].click();
  out.ascending = points();
  table.tHead.rows[0].cells[col].click();
  out.descending = points();
  const NativeBlob = window.Blob;
  out.csv = null;
  window.Blob = function (parts, options) {
    out.csv = parts.join("");
    return new NativeBlob(parts, options);
  };
  URL.createObjectURL = () => "blob:probe";
  HTMLAnchorElement.prototype.click = function () { out.download = this.download; };
  document.getElementById("front-csv").click();
  out.h1 = document.querySelector("h1").textContent;
  out.title = document.title;
  out.cells = Array.from(table.querySelectorAll("td")).map((td) => td.textContent);
  out.svgText = Array.from(document.querySelectorAll("svg text")).map((t) => t.textContent);
  out.boldTspans = document.querySelectorAll('svg tspan[style*="bold"]').length;
  out.markup = document.querySelectorAll("header *:not(h1,p,nav,a), main img, main b, "
                                         + "main iframe").length;
  out.scripts = document.querySelectorAll('script:not([type="application/json"])').length;
  } catch (e) {
    __errors.push("probe: " + e.name + ": " + e.message);
  }
  const pre = document.createElement("pre");
  pre.id = "probe-result";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
}, 1000));
</script>"""


@pytest.fixture(scope="module")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        reason = (f"no Chromium browser ({', '.join(BROWSERS)}) on PATH: the browser test of "
                  "the HTML report is skipped (.ci/run installs Debian's chromium when root)")
        warnings.warn(reason, stacklevel=1)
        pytest.skip(reason)
    return path


def probe(report: str, directory: Path, *args: str) -> dict:
    """Load `report` (HTML text) with the probe injected; the probe's summary."""
    page = directory / "probed.html"
    page.write_text(report.replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
    # The probe's own failures come back as errors in its summary; no summary at all means the
    # browser dumped no finished page (a crash or stall of Chromium itself), tried once more.
    for _ in range(2):
        done = run_headless(page, "--dump-dom", *args)
        found = re.search(r'<pre id="probe-result">(.*?)</pre>', done.stdout, re.S)
        if found:
            break
    assert found, (f"no probe result (chromium exit {done.returncode}, a DOM of "
                   f"{len(done.stdout)} characters): {done.stderr[-3000:]}")
    return json.loads(html.unescape(found.group(1)))


def png_pixels(path: Path) -> np.ndarray:
    """(height, width, channels) of an 8-bit RGB/RGBA, non-interlaced PNG (stdlib + numpy)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, chunks = 8, []
    while pos < len(data):
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + size]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        pos += 12 + size
    assert depth == 8 and colour in (2, 6) and interlace == 0, "unsupported PNG variant"
    bpp = 3 if colour == 2 else 4
    raw = np.frombuffer(zlib.decompress(b"".join(chunks)), np.uint8).reshape(height, -1)
    rows, prev = [], np.zeros(width * bpp, np.uint8)
    for line in raw:
        kind, line = line[0], line[1:]
        if kind == 0:
            cur = line.copy()
        elif kind == 1:  # Sub: running sum per channel, modulo 256
            cur = np.cumsum(line.reshape(width, bpp), axis=0, dtype=np.uint8).ravel()
        elif kind == 2:  # Up
            cur = line + prev
        else:  # Average (3) and Paeth (4) depend on the byte just decoded
            cur = _sequential(line, prev, bpp, paeth=kind == 4)
        rows.append(cur)
        prev = cur
    return np.array(rows).reshape(height, width, bpp)


def _sequential(line: np.ndarray, prev: np.ndarray, bpp: int, paeth: bool) -> np.ndarray:
    cur, up = bytearray(line.tobytes()), prev.tolist()
    for i in range(len(cur)):
        a = cur[i - bpp] if i >= bpp else 0
        b = up[i]
        if paeth:
            c = up[i - bpp] if i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
        else:
            pred = (a + b) >> 1
        cur[i] = (cur[i] + pred) & 0xFF
    return np.frombuffer(bytes(cur), np.uint8)


def test_quickstart_report_in_chromium(chromium, tmp_path):
    out = tmp_path / "quickstart"
    dse.run(QUICKSTART, output_dir=out, report=True)
    report = (out / "report.html").read_text()
    config = load(QUICKSTART)
    shot = tmp_path / "shot.png"
    result = probe(report, tmp_path, f"--screenshot={shot}", "--window-size=1400,2000")

    assert result["errors"] == []
    expected = re.findall(r'<div class="plotly-graph-div" id="([^"]+)"', report)
    assert [p["id"] for p in result["plots"]] == expected
    figures = {k[:-5]: json.loads(v) for k, v in re.findall(
        r'<script type="application/json" id="([^"]+-json)">(.*?)</script>', report, re.S)}
    for plot in result["plots"]:
        assert plot["drawn"], plot
        assert plot["traces"] == len(figures[plot["id"]]["data"]) > 0, plot
    assert "parcoords" in result["plots"][expected.index("parallel")]["types"]

    # the activation format legend hides and shows its points, and only those
    assert result["symbolTraces"] > 0
    assert result["hidden"] == [False] * result["symbolTraces"]
    assert result["othersWhileHidden"] and all(result["othersWhileHidden"])
    assert result["entryWhileHidden"] == "legendonly"
    assert result["shownAgain"] == [True] * result["symbolTraces"]

    hover = "\n".join(result["hover"])
    for column in [*config.space, "model_nmse", "energy_per_token_uj", "area_mm2"]:
        assert f"{column}:" in hover

    assert result["ascending"] == sorted(result["ascending"])
    assert result["descending"] == sorted(result["ascending"], reverse=True)
    csv = result["csv"].splitlines()
    assert csv[0].split(",")[:2] == ["role", "point"]
    assert len(csv) - 1 == len(result["ascending"]) > 0
    assert result["download"] == "quickstart-front.csv"

    pixels = png_pixels(shot)
    assert pixels.shape[:2] == (2000, 1400)
    flat = pixels[..., :3].reshape(-1, 3)
    colours, counts = np.unique(flat, axis=0, return_counts=True)
    assert len(colours) > 200, "screenshot has almost no colours: blank?"
    assert 1 - counts.max() / len(flat) > 0.05, "screenshot is almost one colour: blank?"
    plots_area = pixels[700:1300, :, :3].reshape(-1, 3)  # the first row of Pareto scatters
    assert (np.abs(plots_area.astype(int) - [31, 95, 191]).sum(axis=1) < 60).sum() > 50, \
        "no front-blue pixels where the scatters are"


def test_markup_in_user_strings_shows_as_text(chromium, tmp_path):
    config = copy.deepcopy(QUICKSTART_CONFIG)
    evil = "nvfp4<b>x</b>"
    config["name"] = "<script>alert(1)</script>"
    config["description"] = '<img src=x onerror="alert(2)">'
    config["space"].update(weight_format=["nvfp4"], pe_cols=[32])
    config["objectives"] = config["objectives"][:2]
    table = results_table(config)
    config["space"]["weight_format"] = [evil]
    table["weight_format"] = evil
    result = probe(build_report(table, config), tmp_path)

    assert result["errors"] == []  # no alert ran
    assert result["h1"] == "<script>alert(1)</script>"
    assert result["title"].startswith("<script>alert(1)</script>")
    assert result["markup"] == 0
    assert result["scripts"] == 3  # this probe, plotly.js and the report's own script
    assert evil in result["cells"]
    assert any(evil in t for t in result["svgText"])  # axis ticks of the formats panel
    assert result["boldTspans"] == 0
    assert f"weight_format: {evil}" in "\n".join(result["hover"])
    assert evil in result["csv"]


def test_a_study_report_draws_its_study_and_format_map_figures(chromium, tmp_path):
    """The FP4/FP8 mix study (three fractions): its Study figure from the strategy's trace and
    the per-class format map load and draw without errors; one figure screenshots alone."""
    import yaml

    from reports.screenshot import figure_screenshot

    cfg = yaml.safe_load((QUICKSTART.parent / "fp4-fp8-mix.yaml").read_text())
    cfg["search"]["options"]["fractions"] = [0, 0.5, 1]
    out = tmp_path / "mix"
    dse.run(cfg, output_dir=out, report=True)
    report = (out / "report.html").read_text()
    result = probe(report, tmp_path)
    assert result["errors"] == []
    drawn = {p["id"]: p for p in result["plots"]}
    for plot in ("study-policies", "format-map", "error-vs-bits", "scatter-0"):
        assert drawn[plot]["drawn"] and drawn[plot]["traces"] > 0, plot
    assert "heatmap" in drawn["format-map"]["types"]

    png = figure_screenshot(out / "report.html", "study-policies", tmp_path / "p.png", 900, 400)
    pixels = png_pixels(png)
    assert pixels.shape[:2] == (400, 900)
    assert len(np.unique(pixels[..., :3].reshape(-1, 3), axis=0)) > 50, "blank figure?"
    with pytest.raises(ValueError, match=r"no figure 'nope'.*study-policies"):
        figure_screenshot(out / "report.html", "nope", tmp_path / "n.png")


def test_the_probe_reports_its_own_failure(chromium, tmp_path):
    """A page on which the probe's script fails (here: no scatter plot at all) still yields a
    summary naming the failure, so a broken report reads as its error, not as a missing
    result."""
    page = '<!DOCTYPE html><html lang="en"><head><title>t</title></head><body></body></html>'
    result = probe(page, tmp_path)
    assert any(e.startswith("probe: TypeError") for e in result["errors"]), result["errors"]
