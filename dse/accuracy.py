"""The accuracy axis: a predicted relative perplexity change, with an uncertainty band, from
the engine's model error.

Model (an empirical approximation, fitted by `python -m dse.calibration` to the published
round-to-nearest results of `workloads/published_ppl.yaml`):

    d = ln(ppl_quantized / ppl_baseline) = A * (P / 7e9)^(-B) * x

with x the model's output NMSE (`model_nmse`: GEMM output NMSEs averaged with the workload's
per-class sensitivity weights s_c, so d grows with every class's error in proportion to s_c)
and P the model's parameter count (B > 0: smaller models are more fragile). The band is
d / F .. d * F, with F the factor that covers 80 % of the leave-one-model-out residuals of the
fit. Perplexity changes are reported in percent: 100 * (exp(d) - 1).

Validity: fitted on weight-only RTN rows whose published perplexity rose by at most
`DOMAIN_PCT` percent; beyond that the published results collapse in ways the NMSE does not
predict (outlier channels), so a prediction above it is an extrapolation. Of the 66 published
rows beyond it (2- and 3-bit per-channel, OPT-66B at 4 bits...), the calibration predicts more
than 50 % for 70 %. Activation errors enter through x with the same coefficient: the only
published weight-activation RTN results found (QuaRot Table 3) are of Hadamard-rotated models
and were not fitted; with the default statistics the axis predicts +0.56 % / +0.59 % for their
W8A8 rows (published +0.55 % / +0.30 %, Llama-2-7B / 70B) and +97 % / +82 % for W4A4
(published +53 % / +25 %).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import numpy as np
import yaml

#: The published perplexities (package data of `workloads`).
PUBLISHED = ("workloads", "published_ppl.yaml")
#: Rows of the fit: perplexity rise at most this many percent (chosen, not fitted).
DOMAIN_PCT = 50.0
#: Share of held-out residuals the band covers (chosen, not fitted: an 80 % band, as the
#: ppl_change_pct_lo/_hi column meanings in `dse.columns` state).
BAND_COVERAGE = 0.8


@dataclass(frozen=True)
class Calibration:
    """d = a * (params / 7e9)^(-b) * nmse; band factor `band` (>= 1) on d."""

    a: float
    b: float
    band: float

    def log_ratio(self, nmse, params) -> np.ndarray:
        """Predicted ln(ppl / baseline) (nmse: 1, params: parameter count)."""
        scale = self.a * (np.asarray(params, dtype=np.float64) / 7e9) ** (-self.b)
        return scale * np.asarray(nmse, dtype=np.float64)


#: Fitted by `python -m dse.calibration` on the 49 in-domain WikiText-2 rows (OmniQuant Tables 1
#: and A20, AWQ Table 4, the GPTQ-for-LLaMa README; 14 models, 0.125B-70B); the band from its
#: leave-one-model-out residuals (held out: median error 1.6 ppl percent points, max 21.8,
#: Spearman 0.85). A free exponent on x (a third parameter, fitted 0.93) did worse held out
#: (median 1.9, Spearman 0.82). `tests/test_accuracy.py` refits and checks these digits.
CALIBRATION = Calibration(a=2.0675, b=0.14784, band=1.5922)


def ppl_change_pct(nmse, params, cal: Calibration = CALIBRATION) -> dict[str, np.ndarray]:
    """Columns `ppl_change_pct` and its band `_lo` / `_hi` (percent) of model NMSEs `nmse` of a
    model of `params` parameters."""
    d = cal.log_ratio(nmse, params)
    return {
        "ppl_change_pct": 100 * np.expm1(d),
        "ppl_change_pct_lo": 100 * np.expm1(d / cal.band),
        "ppl_change_pct_hi": 100 * np.expm1(d * cal.band),
    }


def published_rows() -> list[dict[str, Any]]:
    """The published perplexities as flat rows: model, params_b, preset, weights, acts,
    dataset, context, ppl, baseline, rotated, paper, arxiv, table."""
    package, name = PUBLISHED
    data = yaml.safe_load(files(package).joinpath(name).read_text())
    rows = []
    for t in data["tables"]:
        for model, weights, acts, ppl in t["rows"]:
            rows.append({
                "model": model, **data["models"][model], "weights": weights, "acts": acts,
                "dataset": t["dataset"], "context": t["context"], "ppl": float(ppl),
                "baseline": float(t["baseline"][model]), "rotated": bool(t.get("rotated")),
                **t["source"],
            })  # fmt: skip
    return rows
