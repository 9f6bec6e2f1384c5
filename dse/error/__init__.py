"""Quantization error of number formats on Student-t distributed tensors.

* `nmse(fmt, nu, method="analytic" | "montecarlo", ...)` -- NMSE (a float, or a
  (mean, standard error) pair by Monte Carlo), vectorised over nu and block;
* `nmse_table(formats, nus, blocks)` -- analytic NMSE of many formats x nu x blocks in one
  vectorised pass per format;
* `error(...)` -- the same as an `ErrorResult` record (value, SQNR, exact or bound, fit level);
* `gemm_nmse(nmse_w, nmse_a)` -- output NMSE of a GEMM from its operands' errors;
* `fit_t`, `profile_array`, `error_for_stats` -- profiling real tensors (`dse.error.profile`).

Modules: `student` (distribution, partial moments), `codebook` (exact error of a level set),
`blockmax` (block-maximum order statistics and quadrature), `analytic` (scaled formats),
`choice` (per-block choices), `montecarlo` (the sampling twin), `api` (this interface),
`profile` and `tensorio` (fitting and reading tensors).
"""

from dse.error.api import (
    DEFAULT_ROW,
    DEFAULT_TENSOR_SIZE,
    ErrorResult,
    error,
    gemm_nmse,
    nmse,
    nmse_table,
    optimal_clip,
    sqnr_db,
)

__all__ = [
    "DEFAULT_ROW",
    "DEFAULT_TENSOR_SIZE",
    "ErrorResult",
    "error",
    "gemm_nmse",
    "nmse",
    "nmse_table",
    "optimal_clip",
    "sqnr_db",
]
