"""Headless Chromium for reports: find a browser, load a report, take a screenshot of the
page's top or of one of its figures.

    python -m reports.screenshot REPORT.html OUT.png [--size 1400x2000] [--figure ID]

WebGL runs on SwiftShader (software), so the WebGL plots render without a GPU.
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--mute-audio",
)


def find_chromium() -> str | None:
    """Path of a Chromium-family browser on PATH, or None."""
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


def run_headless(html_path: str | Path, *args: str, budget_ms: int = 10_000,
                 timeout: float = 90) -> subprocess.CompletedProcess:
    """Load a local HTML file in headless Chromium with extra `args` (e.g. --dump-dom), in a
    throwaway profile, letting scripts run for `budget_ms` of virtual time."""
    browser = find_chromium()
    if browser is None:
        raise FileNotFoundError("no Chromium browser found (tried " + ", ".join(BROWSERS) + ")")
    with tempfile.TemporaryDirectory(prefix="dse-chromium-") as profile:
        cmd = [browser, *FLAGS, f"--user-data-dir={profile}",
               f"--virtual-time-budget={budget_ms}", *args, Path(html_path).resolve().as_uri()]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def screenshot(html_path: str | Path, png_path: str | Path, width: int = 1400,
               height: int = 2000) -> Path:
    """A PNG of the top `width` x `height` pixels of the rendered report."""
    png = Path(png_path).resolve()
    png.unlink(missing_ok=True)
    done = run_headless(html_path, f"--screenshot={png}", f"--window-size={width},{height}")
    if not png.exists():
        raise RuntimeError(f"chromium wrote no screenshot (exit {done.returncode}): "
                           + done.stderr[-2000:])
    return png


def figure_screenshot(report: str | Path, figure_id: str, png_path: str | Path,
                      width: int = 1200, height: int = 480) -> Path:
    """A PNG of one figure of a report (its id: the plot's div id, e.g. `scatter-0`,
    `study-policies`), drawn alone at `width` x `height` pixels without its hover data."""
    from plotly.io import from_json

    text = Path(report).read_text(encoding="utf-8")
    found = re.search(rf'<script type="application/json" id="{re.escape(figure_id)}-json">'
                      r"(.*?)</script>", text, re.S)
    if found is None:
        ids = re.findall(r'<div class="plotly-graph-div" id="([^"]+)"', text)
        raise ValueError(f"no figure {figure_id!r} in {report}; its figures: {', '.join(ids)}")
    # the page escapes <, > and & in JSON as \u003c-style sequences: plain JSON already
    fig = from_json(found.group(1), skip_invalid=True)
    fig.update_layout(width=width, height=height)
    with tempfile.TemporaryDirectory(prefix="dse-figure-") as tmp:
        page = Path(tmp) / f"{html.escape(figure_id)}.html"
        fig.write_html(page, include_plotlyjs=True, full_html=True,
                       config={"staticPlot": True})
        return screenshot(page, png_path, width, height)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("html")
    ap.add_argument("png")
    ap.add_argument("--size", default=None, help="WIDTHxHEIGHT in pixels (default 1400x2000, "
                    "1200x480 with --figure)")
    ap.add_argument("--figure", help="the id of one figure to draw alone (e.g. scatter-0)")
    args = ap.parse_args()
    size = args.size or ("1200x480" if args.figure else "1400x2000")
    width, height = (int(v) for v in size.split("x"))
    if args.figure:
        print(figure_screenshot(args.html, args.figure, args.png, width, height))
    else:
        print(screenshot(args.html, args.png, width, height))


if __name__ == "__main__":
    main()
