"""The design space: variables from config entries and the mixed-radix grid enumeration."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from dse.errors import UserError
from dse.space import Space, variable


def test_ranges_make_grids():
    assert variable("x", {"range": [1, 16], "log": True, "integer": True, "n": 5}).values == (
        1, 2, 4, 8, 16,
    )  # fmt: skip
    v = variable("bw", {"range": [100.0, 200.0], "n": 3})
    assert v.values == (100.0, 150.0, 200.0) and v.is_range
    with pytest.raises(UserError, match="low < high"):
        variable("x", {"range": [5, 1]})
    with pytest.raises(UserError, match="log range needs low > 0"):
        variable("x", {"range": [0, 1], "log": True})
    with pytest.raises(UserError, match="repeated"):
        variable("f", ["nvfp4", "nvfp4"])


def test_grid_enumerates_the_cartesian_product_in_order():
    space = Space.from_config({"a": ["x", "y", "z"], "b": [1, 2], "c": {"range": [0, 1], "n": 4}})
    assert space.size == 24
    table = space.points(np.arange(space.size))
    expected = list(itertools.product(["x", "y", "z"], [1, 2], [0, 1 / 3, 2 / 3, 1]))
    assert list(zip(table["a"], table["b"])) == [e[:2] for e in expected]
    np.testing.assert_allclose(table["c"], [e[2] for e in expected])
    assert list(table["point"]) == list(range(24))
    digits = np.column_stack(np.unravel_index(np.arange(24), space.sizes))
    np.testing.assert_array_equal(space.index_of(digits), np.arange(24))


def test_chunks_stream_and_skip():
    space = Space.from_config({"a": list(range(10)), "b": list(range(7))})
    chunks = list(space.chunks(16, skip={0, 5, 69}))
    flat = np.concatenate(chunks)
    assert sorted(flat) == sorted(set(range(70)) - {0, 5, 69})
    assert max(len(c) for c in chunks) <= 16


def test_empty_space_is_refused():
    with pytest.raises(UserError, match="empty"):
        Space.from_config({})
