"""The lattice law of a block's score sum (`dse.error.score_sum`) against closed forms:
a two-point score (binomial sums) and a uniform one (Irwin-Hall sums)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from dse.error.score_sum import ScoreSums


def test_two_point_scores_sum_to_a_binomial():
    sums = ScoreSums(np.array([[0.0, 1.0]]), np.array([[0.7, 0.3]]), block=11)
    y = np.array([[-0.5, 0.5, 2.5, 4.5, 9.5, 10.5]])
    np.testing.assert_allclose(sums.exceed(y, 10)[0], stats.binom.sf(y[0], 10, 0.3), atol=1e-12)
    np.testing.assert_allclose(sums.exceed(y, 9)[0], stats.binom.sf(y[0], 9, 0.3), atol=1e-12)


def _irwin_hall_cdf(x: float, n: int) -> float:
    terms = ((-1) ** k * math.comb(n, k) * (x - k) ** n for k in range(int(x) + 1))
    return sum(terms) / math.factorial(n)


@pytest.mark.parametrize("block", [16, 64])
def test_uniform_scores_sum_to_irwin_hall(block):
    """Uniform(0, 1) one-value scores (Gauss-Legendre points of [0, 1], as blocksums gives)."""
    gx, gw = np.polynomial.legendre.leggauss(64)
    edges = np.linspace(0.0, 1.0, 33)
    x = (edges[:-1, None] + np.diff(edges)[:, None] * 0.5 * (gx + 1)).ravel()
    w = (np.diff(edges)[:, None] * 0.5 * gw).ravel()
    sums = ScoreSums(x[None, :], w[None, :], block)
    k = block - 1
    for q in (0.1, 0.5, 0.9):
        y = k / 2 + stats.norm.ppf(q) * math.sqrt(k / 12)
        if k <= 20:
            want = 1.0 - _irwin_hall_cdf(y, k)
        else:
            want = stats.norm.sf(y, k / 2, math.sqrt(k / 12))
        tol = 2e-4 if k <= 20 else 5e-3  # beyond 20 terms: the normal is the reference
        assert sums.exceed(np.array([[y]]), k)[0, 0] == pytest.approx(want, abs=tol)


def test_per_node_rows_are_independent():
    a = ScoreSums(np.array([[0.0, 1.0], [0.0, 2.0]]), np.array([[0.5, 0.5], [0.9, 0.1]]), 5)
    b = ScoreSums(np.array([[0.0, 2.0]]), np.array([[0.9, 0.1]]), 5)
    y = np.array([[1.5, 3.5], [1.5, 3.5]])  # between atoms (an atom counts half at its centre)
    assert a.exceed(y, 4)[1] == pytest.approx(b.exceed(y[1:], 4)[0], abs=1e-12)
    assert a.exceed(y, 4)[0, 0] == pytest.approx(stats.binom.sf(1, 4, 0.5), abs=1e-12)


def test_a_one_value_quantity_over_the_sums_above_a_level_two_point():
    """E[d(X) 1{t(X) + V_{B-2} > y}] with t(X) in {0, 1} (probabilities 0.7, 0.3) and d 2.0 or
    -0.5 there: 0.7 d(0) P(V > y) + 0.3 d(1) P(V > y - 1), V binomial(B - 2, 0.3)."""
    d = np.array([[2.0, -0.5]])
    sums = ScoreSums(np.array([[0.0, 1.0]]), np.array([[0.7, 0.3]]), 11, d)
    y = np.array([[-0.5, 0.5, 2.5, 4.5, 9.5, 10.5]])
    want = 0.7 * 2.0 * stats.binom.sf(y[0], 9, 0.3) - 0.3 * 0.5 * stats.binom.sf(y[0] - 1, 9, 0.3)
    np.testing.assert_allclose(sums.exceed(y, "value")[0], want, atol=1e-12)


def test_a_one_value_quantity_over_the_sums_above_a_level_uniform():
    """d(x) = x with uniform scores on [0, 1]: E[X 1{X + IH_{B-2} > y}] by quadrature of the
    Irwin-Hall law, B = 12."""
    from scipy import integrate

    gx, gw = np.polynomial.legendre.leggauss(64)
    edges = np.linspace(0.0, 1.0, 33)
    x = (edges[:-1, None] + np.diff(edges)[:, None] * 0.5 * (gx + 1)).ravel()
    w = (np.diff(edges)[:, None] * 0.5 * gw).ravel()
    sums = ScoreSums(x[None, :], w[None, :], 12, x[None, :])
    for y in (3.0, 5.5, 8.0):
        want = integrate.quad(lambda u, y=y: u * (1.0 - _irwin_hall_cdf(y - u, 10)), 0.0, 1.0)[0]
        assert sums.exceed(np.array([[y]]), "value")[0, 0] == pytest.approx(want, abs=2e-4)


def test_levels_beyond_the_lattice_see_all_or_nothing():
    """Below every sum: P(V > y) = 1 and the one-value quantity's whole mean; beyond the
    lattice (up to +inf): 0; just under the largest sum (10 ones): its own mass, 0.3^10."""
    d = np.array([[2.0, -0.5]])
    sums = ScoreSums(np.array([[0.0, 1.0]]), np.array([[0.7, 0.3]]), 11, d)
    y = np.array([[-np.inf, -1e12, 9.5, 1e12, np.inf]])
    np.testing.assert_allclose(sums.exceed(y, 10)[0], [1.0, 1.0, 0.3**10, 0.0, 0.0], atol=1e-15)
    mean = 0.7 * 2.0 - 0.3 * 0.5
    np.testing.assert_allclose(sums.exceed(y[:, [0, 1, 3, 4]], "value")[0],
                               [mean, mean, 0.0, 0.0], atol=1e-15)  # fmt: skip
