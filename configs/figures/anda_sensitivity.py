"""Sensitivity of the Anda headline (configs/README.md, section 3): how the engine's speed-up,
area efficiency and energy efficiency of Anda over the FP-FP baselines move when one modelling
assumption of configs/anda.yaml changes at a time.

    python configs/figures/anda_sensitivity.py [--markdown]

Each row reruns the study (greedy-mantissa, tolerances 0.1 % and 1 % of predicted perplexity)
with one change into out/studies/anda-sens-<label> and reports the ratios of
`anda_ratios.ratios` (scope chip unless the row says compute) over the GPU-like FP-FP baseline
(INT4 weights in memory, FP16 x FP16 units) and over FP16 weights throughout; JSON by default,
the README's table with --markdown. Takes about a minute on 2 shared cores.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from anda_ratios import ratios
from study_numbers import study_config

import dse

PAPER = {"speedup": 2.4, "area_efficiency": 4.0, "energy_efficiency": 3.1}  # arXiv 2411.15982
BAND = 0.25  # issue 13: each figure within 25 % of the paper's

#: (label, scope, dotted config changes): one assumption changed from the first row's.
VARIANTS: tuple[tuple[str, str, dict], ...] = (
    ("as configs/anda.yaml (whole chip, prefill 2048, Llama-2-7B)", "chip", {}),
    ("compute only: PE-array area, MAC energy", "compute", {}),
    (
        "tolerance on model_nmse (x 1.001 / 1.01) instead of perplexity",
        "chip",
        {"search__options__metric": "model_nmse", "search__options__tolerance": [0.001, 0.01]},
    ),
    ("decode, batch 1, context 2048", "chip", {"workload__phase": "decode"}),
    ("decode, batch 64", "chip", {"workload__phase": "decode", "workload__batch": 64}),
    ("prefill of 256 tokens", "chip", {"workload__tokens": 256}),
    ("HBM 64 GB/s (preset 256)", "chip", {"hardware__bandwidth_gbs": 64}),
    (
        "decode, batch 1, HBM 1024 GB/s",
        "chip",
        {"workload__phase": "decode", "hardware__bandwidth_gbs": 1024},
    ),
    ("technology 7 nm (preset 16)", "chip", {"hardware__node_nm": 7}),
    ("technology 45 nm", "chip", {"hardware__node_nm": 45}),
    ("bit-serial 32 lanes: equal peak at m = 4", "chip", {"space__lanes": [32, 8]}),
    ("bit-serial 128 lanes: equal peak at m = 16", "chip", {"space__lanes": [128, 8]}),
    (
        "bit-parallel Anda unit (dot, 8 lanes)",
        "chip",
        {"space__style": ["dot"], "space__lanes": [8]},
    ),
    ("model OPT-6.7B", "chip", {"workload__model": "opt-6.7b"}),
    ("model Llama-2-13B", "chip", {"workload__model": "llama-2-13b"}),
)


def measure() -> list[dict]:
    """One entry per variant: its label, scope, changes and ratios per tolerance."""
    rows = []
    for label, scope, changes in VARIANTS:
        tag = "-sens-" + "-".join(re.findall(r"[a-z0-9.]+", label.lower()))[:40]
        cfg = study_config("anda", tag, **changes)
        dse.run(cfg)
        rows.append({"label": label, "scope": scope, "changes": changes,
                     "ratios": ratios(Path(cfg["output"]["dir"]), cfg, scope)})  # fmt: skip
    return rows


def _cell(r: dict, base: str) -> str:
    """'speed-up / area eff. / energy eff.' with a * on figures within 25 % of the paper's."""
    out = []
    for k in PAPER:
        v = r[f"vs_{base}"][k]
        out.append(f"{v:.2f}{'*' if abs(v / PAPER[k] - 1) <= BAND else ''}")
    return " / ".join(out)


def markdown(rows: list[dict]) -> str:
    """The README table: per variant and tolerance, the tuple and ratios over both FP-FP
    baselines."""
    lines = [
        "| assumption changed | tol. | (qkv, o, up, down) | vs GPU-like FP-FP | vs FP16 x FP16 |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        for tol, r in row["ratios"].items():
            m = ", ".join(str(v) for v in r["mantissas"].values())
            label = row["label"] if tol == next(iter(row["ratios"])) else ""
            nmse = row["changes"].get("search__options__metric") == "model_nmse"
            t = f"{100 * float(tol):g} % NMSE" if nmse else f"{float(tol):g} % ppl"
            lines.append(
                f"| {label} | {t} | ({m}) | {_cell(r, 'gpu_like')} | {_cell(r, 'fp16xfp16')} |"
            )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--markdown", action="store_true", help="print the README's table")
    args = ap.parse_args()
    rows = measure()
    print(markdown(rows) if args.markdown else json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
