"""Headless Chromium for reports: find a browser, load a report, take a screenshot.

    python -m reports.screenshot REPORT.html OUT.png [--size 1400x2000]

WebGL runs on SwiftShader (software), so the WebGL plots render without a GPU.
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("html")
    ap.add_argument("png")
    ap.add_argument("--size", default="1400x2000", help="WIDTHxHEIGHT in pixels")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    print(screenshot(args.html, args.png, width, height))


if __name__ == "__main__":
    main()
