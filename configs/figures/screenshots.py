"""The images of README.md and configs/README.md, taken from the reports themselves.

    python configs/figures/screenshots.py

Runs the quickstart and the four study sweeps with their reports into out/studies/ (git-ignored)
and screenshots, in headless Chromium (`reports.screenshot`), the top of the quickstart report
and one figure of each study's report into this folder. Run it on purpose, when a report's
look or a study's result changes: it rewrites tracked PNGs, and nothing else does.
"""

from __future__ import annotations

from pathlib import Path

import yaml

import dse
from reports.screenshot import figure_screenshot, screenshot

HERE = Path(__file__).resolve().parent
OUT = HERE.parents[1] / "out" / "studies"
#: (sweep, figure id in its report or None for the page's top, png name, width, height)
SHOTS = (
    ("quickstart", None, "quickstart-report", 1400, 1700),
    ("student-t-formats", "study-figure-0", "student-t-formats", 1100, 460),
    ("fp4-fp8-mix", "study-policies", "fp4-fp8-mix", 1200, 440),
    ("anda", "study-search", "anda", 1000, 460),
    ("blockdialect", "error-vs-bits", "blockdialect", 1200, 460),
)


def main() -> None:
    for name, figure, png, width, height in SHOTS:
        cfg = yaml.safe_load((HERE.parent / f"{name}.yaml").read_text())
        out = OUT / name
        dse.run(cfg, output_dir=out, report=True, quiet=True, fresh=True)  # no stale rows
        target = HERE / f"{png}.png"
        if figure is None:
            print(screenshot(out / "report.html", target, width, height))
        else:
            print(figure_screenshot(out / "report.html", figure, target, width, height))


if __name__ == "__main__":
    main()
