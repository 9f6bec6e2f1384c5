"""Pareto filtering and hypervolume against brute force and closed forms; the query language
(including refusal of code); the resumable store."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dse.errors import UserError
from dse.filters import query, where
from dse.pareto import Objective, front, hypervolume, knee, non_dominated
from dse.store import ResultStore, config_hash


def brute_force_front(f: np.ndarray) -> np.ndarray:
    """Rows no other row dominates, by the definition over every pair (i, j): j dominates i
    when f[j] <= f[i] everywhere and f[j] < f[i] somewhere."""
    le = (f[None, :, :] <= f[:, None, :]).all(axis=2)  # [i, j]: f[j] <= f[i]
    lt = (f[None, :, :] < f[:, None, :]).any(axis=2)
    return ~(le & lt).any(axis=1)


def test_non_dominated_matches_brute_force():
    rng = np.random.default_rng(0)
    for k in (1, 2, 3, 4, 5):
        for decimals in (1, 2, 6):  # coarse rounding makes ties and duplicates
            f = rng.random((300, k)).round(decimals)
            np.testing.assert_array_equal(non_dominated(f), brute_force_front(f))


def brute_force_finite_front(f: np.ndarray) -> np.ndarray:
    """Brute force over the rows with every objective finite (the others are never on it)."""
    finite = np.all(np.isfinite(f), axis=1)
    mask = np.zeros(len(f), dtype=bool)
    mask[finite] = brute_force_front(f[finite])
    return mask


@pytest.mark.parametrize(
    "f",
    [
        np.zeros((0, 2)),
        np.array([[1.0, 2.0]]),
        np.ones((7, 3)),  # all identical: every row kept
        np.array([[1.0, 2.0], [1.0, 2.0], [0.5, 3.0], [2.0, 2.0], [1.0, 2.5]]),  # weak ties
        np.array([[np.nan, 0.0], [1.0, 1.0], [0.0, np.nan], [2.0, 0.5]]),  # NaN rows
        np.array([[-np.inf, 0.0], [1.0, 1.0], [np.inf, -1.0], [0.0, 2.0]]),  # inf rows
        np.full((3, 2), np.nan),
        np.array([[3.0, 1.0, 2.0], [1.0, 3.0, 2.0], [2.0, 2.0, 1.0], [3.0, 3.0, 3.0]]),
    ],
)
def test_non_dominated_on_degenerate_inputs(f):
    np.testing.assert_array_equal(non_dominated(f), brute_force_finite_front(f))


def test_front_honours_maximisation():
    df = pd.DataFrame({"err": [1.0, 2.0, 3.0, 2.0], "tput": [1.0, 5.0, 9.0, 4.0]})
    got = front(df, [Objective("err", "min"), Objective("tput", "max")])
    assert list(got.index) == [0, 1, 2]


def test_hypervolume_closed_form():
    # one point at the ideal corner of the normalised box: HV = 1.1^2 with reference 1.1
    f = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 0.0]])
    assert hypervolume(f) == pytest.approx(1.1**2)
    # two corner points: union of two 1.1 x 0.1 rectangles and the 1 x 1 overlap region
    g = np.array([[0.0, 1.0], [1.0, 0.0]])
    assert hypervolume(g) == pytest.approx(1.1 * 0.1 * 2 - 0.1 * 0.1)
    # a dominated point adds nothing
    assert hypervolume(np.vstack([g, [[1.0, 1.0]]])) == pytest.approx(hypervolume(g))


def test_knee_of_a_convex_front():
    t = np.linspace(0, 1, 101)
    f = np.column_stack([t, (1 - np.sqrt(t)) ** 2])
    i = knee(f)
    assert 0.2 < t[i] < 0.3  # the point nearest the ideal corner is t = 1/4


DF = pd.DataFrame(
    {"nmse": [0.001, 0.02, 0.005], "area_mm2": [6.0, 2.0, 4.0], "fmt": ["a", "b", "c"]}
)


def test_where_language():
    assert list(where(DF, "nmse < 0.01 and area_mm2 < 5")["fmt"]) == ["c"]
    assert list(where(DF, "not (nmse < 0.01) or fmt == 'a'")["fmt"]) == ["a", "b"]
    assert list(where(DF, "nmse * 1000 <= 5")["fmt"]) == ["a", "c"]
    assert list(query(DF, sort="-area_mm2", top=2)["fmt"]) == ["a", "c"]


@pytest.mark.parametrize(
    "attack",
    [
        "__import__('os').system('echo pwned')",
        "nmse.__class__",
        "[x for x in ()]",
        "(lambda: 1)()",
        "nmse[0] > 1",
        "open('/etc/passwd')",
    ],
)
def test_where_refuses_code(attack):
    with pytest.raises(UserError):
        where(DF, attack)


def test_where_unknown_column_suggests():
    with pytest.raises(UserError, match="did you mean 'nmse'"):
        where(DF, "nmsee < 1")


def test_store_resumes_and_refuses_other_inputs(tmp_path):
    key = {"space": [["a", [1]]], "workload": {"model": "m", "batch": 1}}
    with ResultStore(tmp_path, {"name": "x"}, key) as s:
        s.append(pd.DataFrame({"point": [2, 3], "v": [0.1, 1 / 3]}))
        s.append(pd.DataFrame({"point": [0, 1], "v": [np.pi, 2.0]}))
    same = {"workload": {"batch": 1, "model": "m"}, "space": [["a", [1]]]}  # other key order
    with ResultStore(tmp_path, {"name": "y", "objectives": ["v"]}, same) as again:
        assert again.done().tolist() == [0, 1, 2, 3]
        table = again.load()
        assert list(table["point"]) == [0, 1, 2, 3]
        assert table["v"].tolist() == [np.pi, 2.0, 0.1, 1 / 3]  # floats round-trip exactly
        assert again.hash == config_hash(key)
    other = {"space": [["a", [1, 2]]], "workload": {"model": "m", "batch": 4}}
    with pytest.raises(UserError, match=r"space.a, workload.batch changed; run with --fresh"):
        ResultStore(tmp_path, {}, other)
    # the order of space variables fixes point indices, so it is part of the identity
    assert config_hash({"space": {"x": [1], "y": [2]}}) != config_hash(
        {"space": {"y": [2], "x": [1]}}
    )


def test_store_fresh_moves_the_old_results_aside(tmp_path):
    out = tmp_path / "out"
    with ResultStore(out, {}, {"k": 1}) as s:
        s.append(pd.DataFrame({"point": [0], "v": [1.0]}))
    with ResultStore(out, {}, {"k": 2}, fresh=True) as s:
        assert s.done().tolist() == []
    (aside,) = tmp_path.glob("out.old-*")
    with ResultStore(aside, {}, {"k": 1}) as s:
        assert s.load()["v"].tolist() == [1.0]


def test_running_front_over_chunks_equals_the_front_of_the_whole():
    from dse.pareto import RunningFront

    rng = np.random.default_rng(3)
    for k in (2, 3, 4):
        f = rng.random((2000, k)).round(2)  # ties and duplicates across chunks
        f[rng.random(2000) < 0.05, rng.integers(k)] = np.nan
        ok = rng.random(2000) < 0.8
        whole = np.zeros(2000, dtype=bool)
        whole[ok] = non_dominated(f[ok])
        ids = rng.permutation(2000)  # any point order
        halves = [RunningFront(k), RunningFront(k)]
        for n, lo in enumerate(range(0, 2000, 137)):
            sel = ids[lo : lo + 137]
            halves[n % 2].update(sel, f[sel], ok[sel])
        merged = halves[0]
        merged.merge(halves[1])
        assert sorted(merged.ids) == sorted(np.flatnonzero(whole))
        assert merged.evaluated == 2000
        assert merged.feasible == int((ok & np.isfinite(f).all(axis=1)).sum())
        finite_ok = ok & np.isfinite(f).all(axis=1)
        np.testing.assert_array_equal(merged.best(), f[finite_ok].min(axis=0))


def test_a_word_of_the_column_names_suggests_the_table_s_own_columns_first():
    """`--sort energy` means the headline column the table lists first, not the per-class
    breakdown columns closest in spelling (energy_uj_o)."""
    table = pd.DataFrame(columns=["point", "energy_per_token_uj", "energy_dram_uj",
                                  "latency_per_token_ms", "energy_uj_o", "energy_uj_qkv"])
    with pytest.raises(UserError, match=r"did you mean 'energy_per_token_uj' or "
                                        r"'energy_dram_uj' or 'energy_uj_o'\?\); valid"):
        query(table, sort="energy")
    with pytest.raises(UserError, match=r"did you mean 'latency_per_token_ms'\?"):
        query(table, sort="latency")
