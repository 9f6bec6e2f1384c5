"""Fits `dse.accuracy.CALIBRATION` to the published perplexities and measures it on models
held out of the fit: `python -m dse.calibration` prints the parameters and the held-out
statistics.

Each published row's x is the engine's own `model_nmse` of the row's formats on the row's
model (its preset's prefill GEMMs, 2048 tokens, default tensor statistics). The fit is an
ordinary least-squares line in log space, ln(d / x) = ln a - b ln(P / 7e9), over the
WikiText-2 rows of unrotated models whose perplexity rose by at most `DOMAIN_PCT` percent.
Held out: each model in turn (leave-one-model-out), fitted on the other models' rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from dse.accuracy import BAND_COVERAGE, DOMAIN_PCT, Calibration, published_rows
from dse.config import resolve
from dse.evaluation import Evaluator


def engine_nmse(rows: Sequence[dict[str, Any]], tokens: int = 2048) -> np.ndarray:
    """The engine's model_nmse of each row's (weights, acts) on its preset."""
    out = np.empty(len(rows))
    for preset in {r["preset"] for r in rows}:
        idx = [i for i, r in enumerate(rows) if r["preset"] == preset]
        spec = resolve({
            "name": "calibration", "workload": {"model": preset, "phase": "prefill",
                                                "batch": 1, "tokens": tokens},
            "space": {"weight_format": ["fp16"]}, "objectives": ["model_nmse"],
        })  # fmt: skip
        points = pd.DataFrame({
            "point": range(len(idx)),
            "weight_format": [rows[i]["weights"] for i in idx],
            "act_format": [rows[i]["acts"] for i in idx],
        })  # fmt: skip
        out[idx] = Evaluator(spec)(points)["model_nmse"].to_numpy()
    return out


def fit_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows the calibration is fitted on (and held out from)."""
    limit = np.log1p(DOMAIN_PCT / 100)
    return [
        r for r in rows
        if r["dataset"] == "wikitext2" and not r["rotated"]
        and 0 < np.log(r["ppl"] / r["baseline"]) <= limit
    ]  # fmt: skip


def fit(x: np.ndarray, params: np.ndarray, d: np.ndarray) -> tuple[float, float]:
    """(a, b) of d = a (params / 7e9)^-b x by least squares on logs."""
    design = np.column_stack([np.ones_like(x), -np.log(params / 7e9)])
    coef, *_ = np.linalg.lstsq(design, np.log(d / x), rcond=None)
    return float(np.exp(coef[0])), float(coef[1])


def held_out(
    rows: Sequence[dict[str, Any]], x: np.ndarray, models: Sequence[str] | None = None
) -> pd.DataFrame:
    """Predictions for rows of models left out of the fit: of each model in turn, fitted on
    the other models' rows (leave-one-model-out), or of `models` together, fitted on the
    rest. Columns model, observed and predicted d."""
    names = np.array([r["model"] for r in rows])
    params = np.array([r["params_b"] * 1e9 for r in rows])
    d = np.array([np.log(r["ppl"] / r["baseline"]) for r in rows])
    groups = [[m] for m in np.unique(names)] if models is None else [list(models)]
    tables = []
    for group in groups:
        test = np.isin(names, group)
        a, b = fit(x[~test], params[~test], d[~test])
        pred = Calibration(a, b, 1.0).log_ratio(x[test], params[test])
        tables.append(pd.DataFrame({"model": names[test], "observed": d[test], "predicted": pred}))
    return pd.concat(tables, ignore_index=True)


def band_factor(table: pd.DataFrame, coverage: float = BAND_COVERAGE) -> float:
    """The factor F such that d / F .. d * F holds `coverage` of the held-out rows."""
    return float(np.exp(np.quantile(np.abs(np.log(table.predicted / table.observed)), coverage)))


def summary(table: pd.DataFrame, band: float) -> dict[str, float]:
    """Held-out errors in ppl percent points, rank correlation and band coverage."""
    obs, pred = 100 * np.expm1(table.observed), 100 * np.expm1(table.predicted)
    err = np.abs(pred - obs)
    ratio = table.predicted / table.observed
    return {
        "rows": len(table),
        "median_abs_err_pct": float(np.median(err)),
        "max_abs_err_pct": float(np.max(err)),
        "spearman": float(spearmanr(pred, obs).statistic),
        "within_band": float(np.mean((ratio >= 1 / band) & (ratio <= band))),
    }


def calibrate() -> tuple[Calibration, pd.DataFrame, dict[str, float]]:
    """(calibration fitted on every fit row, held-out table, held-out summary)."""
    rows = fit_rows(published_rows())
    x = engine_nmse(rows)
    table = held_out(rows, x)
    band = band_factor(table)
    params = np.array([r["params_b"] * 1e9 for r in rows])
    d = np.array([np.log(r["ppl"] / r["baseline"]) for r in rows])
    a, b = fit(x, params, d)
    return Calibration(a, b, band), table, summary(table, band)


#: The fixed split reported beside leave-one-model-out: Llama-2 held out of a fit on LLaMA-1
#: and OPT.
LLAMA_2 = ("llama-2-7b", "llama-2-13b", "llama-2-70b")

if __name__ == "__main__":
    cal, table, stats = calibrate()
    print(cal)
    print("leave-one-model-out:", stats)
    rows = fit_rows(published_rows())
    print("Llama-2 held out:", summary(held_out(rows, engine_nmse(rows), LLAMA_2), cal.band))
