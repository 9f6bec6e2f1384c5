"""The standard Student-t distribution t(nu) (nu = inf: the standard normal) and its exact
partial moments, the building blocks of every analytic error in `dse.error`.

Partial moments of the standard t with density f and cdf F, valid for nu > 2 (each
follows by differentiating the right-hand side):

    integral f dx       = F(x)
    integral x f dx     = -(nu + x^2) f(x) / (nu - 1)
    integral x^2 f dx   = (nu F(x) - x (nu + x^2) f(x)) / (nu - 2)

and for the normal: Phi(x), -phi(x), Phi(x) - x phi(x). We evaluate them in *tail form*,
the upper-tail moments int_x^inf y^k f dy for x >= 0 (`Student.upper_moments`; the lower tail
follows by symmetry), so that intervals far in a tail keep full relative precision (a cell of
a cast to fp16 at x = 1e4 has probability ~1e-12; a difference of cdfs near 1 would lose it).
Distribution functions come from scipy.special (stdtr, stdtrit, ndtr, ndtri, gammaln).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from scipy import special

from dse.errors import UserError

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def check_nu(nu: Any) -> float:
    """nu as a float, or a UserError when the t has no variance (nu <= 2) or nu is not a number."""
    try:
        v = float(nu)
    except (TypeError, ValueError):
        raise UserError(f"degrees of freedom nu must be a number > 2 or inf, got {nu!r}") from None
    if not v > 2:  # also rejects NaN
        raise UserError(
            f"degrees of freedom nu must be > 2 (a Student-t with nu <= 2 has no variance, so "
            f"its NMSE is undefined), got {nu!r}"
        )
    return v


@dataclass(frozen=True)
class Student:
    """Standard Student-t with `nu` degrees of freedom (nu > 2; `math.inf` = standard normal).

    `nu` may also be an array of per-element values (vectorised evaluation over nu): it then
    broadcasts along the leading axes of every argument (x of shape nu.shape + (...)). Such
    an instance is not hashable. Formulas are written in 1/nu, which is 0 for the normal."""

    nu: float | np.ndarray
    scalar: bool = field(init=False, repr=False, compare=False)  # one nu (no eq/hash role)

    def __post_init__(self) -> None:
        scalar = np.ndim(self.nu) == 0
        object.__setattr__(self, "scalar", scalar)
        if scalar:
            check_nu(self.nu)
        elif not np.all(np.asarray(self.nu) > 2):
            raise UserError("degrees of freedom nu must all be > 2 or inf")

    @property
    def normal(self):
        return np.isinf(self.nu)

    def lead(self, v, x):
        """`v` (a scalar or an array of nu's shape) shaped to broadcast against `x`."""
        if not isinstance(v, np.ndarray) or v.ndim == 0:
            return v
        return np.reshape(v, np.shape(v) + (1,) * (np.ndim(x) - np.ndim(v)))

    @cached_property
    def inv_nu(self):
        if self.scalar:  # a python float: scalar arithmetic without numpy calls
            return 1.0 / float(self.nu)
        return 1.0 / np.asarray(self.nu, dtype=np.float64)

    def take(self, index) -> Student:
        """The distribution of elements `index` of an array of nu, its per-nu constants
        carried over (itself for a scalar nu)."""
        if self.scalar:
            return self
        out = Student(np.asarray(self.nu)[index])
        for name in ("inv_nu", "_log_norm"):  # cached properties
            out.__dict__[name] = getattr(self, name)[index]
        out.__dict__["upper_at_zero"] = self.upper_at_zero[:, index]
        return out

    @property
    def variance(self):
        """Var T = nu / (nu - 2) (1 for the normal)."""
        return 1.0 / (1.0 - 2.0 * self.inv_nu)

    @cached_property
    def _log_norm(self):
        if self.scalar:  # math's scalar functions: a fifth of the time
            nu = 3.0 if math.isinf(self.nu) else float(self.nu)  # the normal does not use it
            return math.lgamma((nu + 1) / 2) - math.lgamma(nu / 2) - 0.5 * math.log(nu * math.pi)
        v = np.where(self.normal, 3.0, self.nu)
        return special.gammaln((v + 1) / 2) - special.gammaln(v / 2) - 0.5 * np.log(v * np.pi)

    @cached_property
    def _normal_count(self) -> int:
        """How many of the nu are inf (python int: picks the pdf's formula without array ops)."""
        return int(self.inv_nu == 0) if self.scalar else int(np.count_nonzero(self.normal))

    def pdf(self, x: np.ndarray) -> np.ndarray:
        return self._density(x, 0)

    def _density(self, x: np.ndarray, k: int) -> np.ndarray:
        """f(x) (1 + x^2 / nu)^k: the density (k = 0) or, for k = 1, the factor of the first
        two upper moments (1 for the normal: its factor tends to 1)."""
        x = np.asarray(x, dtype=np.float64)
        if self._normal_count == (1 if self.scalar else np.size(self.nu)):
            return np.exp(-0.5 * x * x) * _INV_SQRT_2PI
        nu, iv = self.lead(self.nu, x), self.lead(self.inv_nu, x)
        with np.errstate(over="ignore", invalid="ignore"):
            t = np.exp(self.lead(self._log_norm, x) - (0.5 * (nu + 1) - k) * np.log1p(x * x * iv))
        if self._normal_count == 0:
            return t
        return np.where(iv == 0, np.exp(-0.5 * x * x) * _INV_SQRT_2PI, t)

    def cdf(self, x: np.ndarray) -> np.ndarray:
        return special.stdtr(self.lead(self.nu, x), x)  # stdtr(inf, x) is the normal cdf

    def sf(self, x: np.ndarray) -> np.ndarray:
        """Upper tail P(T > x), accurate far in the tail."""
        return self.cdf(-np.asarray(x, dtype=np.float64))

    def isf(self, q: float | np.ndarray) -> np.ndarray:
        """x with P(T > x) = q, q in [0, 1/2] for the tail (accurate for q down to ~1e-100).

        Where `special.stdtrit` fails far in a heavy tail (q below ~1e-300 with nu near 2, it
        returns an infinite or wrongly signed value) the power-law tail P(T > x) ~ f(0)-like
        constant c nu^((nu - 1) / 2) x^-nu / 1 is inverted instead: its relative error is
        O(nu / x^2), below 1e-100 at those x; q = 0 gives +inf."""
        q = np.asarray(q, dtype=np.float64)
        nu = self.lead(self.nu, q)
        x = -special.stdtrit(nu, q)
        failed = (q < 0.5) & ~(x > 0) & np.isfinite(nu)
        if failed.any():
            with np.errstate(divide="ignore"):
                log_x = (self.lead(self._log_norm, q) + 0.5 * (nu - 1) * np.log(nu)
                         - np.log(q)) / nu  # fmt: skip
            x = np.where(failed, np.exp(log_x), x)
        return x

    def ppf(self, p: np.ndarray) -> np.ndarray:
        return self.isf(1.0 - np.asarray(p, dtype=np.float64))

    def upper_moments(self, x: np.ndarray, sf: np.ndarray | None = None) -> np.ndarray:
        """(int_x^inf f, int_x^inf y f, int_x^inf y^2 f), shape (3, ...), for x >= 0 (x = inf
        gives zeros). `sf` = P(T > x) when the caller already has it. With iv = 1/nu:
        u1 = (1 + x^2 iv) / (1 - iv) f, u2 = u0 / (1 - 2 iv) + x (1 + x^2 iv) / (1 - 2 iv) f."""
        x = np.asarray(x, dtype=np.float64)
        out = np.empty((3, *x.shape))
        out[0] = self.sf(x) if sf is None else sf
        iv = self.lead(self.inv_nu, x)
        g = self._density(x, 1)  # 0 at x = inf
        out[1] = g / (1.0 - iv)
        infinite = x == np.inf
        if infinite.any():  # x g = inf * 0 there; x^k f -> 0 as x -> inf for nu > 2
            x = np.where(infinite, 0.0, x)
        out[2] = (out[0] + x * g) / (1.0 - 2.0 * iv)
        return out

    @cached_property
    def upper_at_zero(self) -> np.ndarray:
        """`upper_moments` at 0 in closed form, shape (3, *nu.shape): (1/2, f(0) / (1 - iv),
        Var T / 2), f(0) = exp(log normaliser) (1 / sqrt(2 pi) for the normal)."""
        iv = self.inv_nu
        if self.scalar:
            f = _INV_SQRT_2PI if iv == 0 else math.exp(self._log_norm)
            return np.array([0.5, f / (1.0 - iv), 0.5 / (1.0 - 2.0 * iv)])
        f0 = np.where(self.normal, _INV_SQRT_2PI, np.exp(self._log_norm))
        out = np.empty((3, *f0.shape))
        out[0], out[1], out[2] = 0.5, f0 / (1.0 - iv), 0.5 * self.variance
        return out
