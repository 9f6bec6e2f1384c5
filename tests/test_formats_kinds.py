"""Kind-specific behaviour lives on the records that own the kind: scale rules, groupings,
selectors and the format records answer the questions the error and cost models ask."""

import numpy as np
import pytest

from dse.errors import UserError
from dse.formats import SCALE_RULES, Blocking, parse

# --- scale rules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "cast", "pow2", "amax", "invariant"),
    [
        ("none", True, False, False, False),
        ("fp32", False, False, False, True),  # exact up to 2^-24
        ("bf16", False, False, False, False),  # rounded to 8 significant bits
        ("e8m0", False, True, False, False),
        ("e5", False, True, False, False),
        ("ue4m3", False, False, True, True),  # through tensor_amax / sigma only
        ("int8", False, False, True, True),
    ],
)
def test_scale_rule_facts(rule, cast, pow2, amax, invariant):
    r = SCALE_RULES[rule]
    assert (r.is_cast, r.power_of_two, r.uses_tensor_amax, r.scale_invariant) == (
        cast,
        pow2,
        amax,
        invariant,
    )


def test_scale_invariance_is_what_block_scale_does():
    """g(cM) = c g(M) for c off the powers of two exactly where the rule says so."""
    el = parse("e2m1").element
    m = np.array([0.3, 1.7, 5.0, 11.0])
    for name, r in SCALE_RULES.items():
        c = 1.37
        scaled = r.block_scale(c * m, el, tensor_amax=c * 20.0)
        same = np.allclose(scaled, c * r.block_scale(m, el, tensor_amax=20.0), rtol=1e-6)
        assert same == r.scale_invariant, name


def test_continuous_threshold_counts_mantissa_bits():
    assert SCALE_RULES["bf16"].continuous(7) and not SCALE_RULES["bf16"].continuous(8)
    assert SCALE_RULES["fp16"].continuous(10) and not SCALE_RULES["fp16"].continuous(11)
    assert not SCALE_RULES["e8m0"].continuous(0)  # power-of-two scales are never continuous
    assert not SCALE_RULES["ue4m3"].continuous(0)  # nor two-level ones


@pytest.mark.parametrize("rule", ["e8m0", "e5", "fp16", "ue4m3", "int8"])
def test_jumps_are_where_the_scale_changes(rule):
    """Between consecutive jumps the scale is constant, and it changes across each jump that
    lies inside the range."""
    r, el, clip, amax = SCALE_RULES[rule], parse("e2m1").element, 0.9, np.array([[40.0]])
    j = r.jumps(el, clip, 0.05, 30.0, amax)[0]
    j = j[(j > 0.05) & (j < 30.0)]
    assert j.size > 3
    edges = np.concatenate([[0.05], j, [30.0]])
    inside = np.sqrt(edges[:-1] * edges[1:])
    lo, hi = edges[:-1] * (1 + 1e-9), edges[1:] * (1 - 1e-9)
    s = [r.block_scale(x, el, clip, tensor_amax=40.0) for x in (lo, inside, hi)]
    assert np.array_equal(s[0], s[1]) and np.array_equal(s[1], s[2])
    assert np.all(np.diff(s[1]) > 0)


def test_element_key_is_what_block_scale_reads():
    """Two elements with equal keys get equal scales: emax for power-of-two rules, the
    largest magnitude otherwise."""
    e2m1, e2m1_sr = parse("e2m1").element, parse("e2m1+sr").element  # max 6 vs 8, emax 2 vs 3
    m = np.array([0.7, 3.0, 7.0, 9.0])
    for r in SCALE_RULES.values():
        same_key = r.element_key(e2m1) == r.element_key(e2m1_sr)
        same = np.array_equal(r.block_scale(m, e2m1), r.block_scale(m, e2m1_sr))
        assert same_key == same or r.is_cast, r.name


# --- groupings ----------------------------------------------------------------------------------


def test_blocking_facts():
    t, ch, b, tile = Blocking("tensor"), Blocking("channel"), Blocking("block", 32), Blocking(
        "tile", tile=(4, 8)
    )
    assert [x.per_tensor for x in (t, ch, b, tile)] == [True, False, False, False]
    assert [x.per_channel for x in (t, ch, b, tile)] == [False, True, False, False]
    assert [x.two_dimensional for x in (t, ch, b, tile)] == [False, False, False, True]
    assert [x.group_values(100, 5000) for x in (t, ch, b, tile)] == [5000, 100, 32, 32]
    assert b.is_block_of(32) and not b.is_block_of(16) and not t.is_block_of(32)
    assert b.resized(16) == Blocking("block", 16)
    assert (t.resized(16), ch.resized(16), tile.resized(16)) == (t, ch, tile)


# --- format records and selectors ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "uses", "invariant"),
    [
        ("int4/g128", False, True),
        ("int4/g128:bf16", False, False),
        ("mxfp4", False, False),
        ("nvfp4", True, True),
        ("int8/t", False, True),  # the group is the tensor: its maximum is the group's own
        ("fp16", False, False),
        ("blockdialect/b32", False, False),
        ("fp4fp8(p=0.3)", True, True),  # NVFP4 and a per-tensor FP8 candidate
        ("nvfp4(cal=4)", True, True),
    ],
)
def test_format_uses_tensor_amax(name, uses, invariant):
    fmt = parse(name)
    assert fmt.uses_tensor_amax == uses
    assert fmt.scale_invariant == invariant
    assert fmt.parts == getattr(fmt, "candidates", (fmt,))


def test_selector_flags():
    assert parse("nvfp4(cal=4)").selector.in_scale and parse("nvfp4(cal=4)").flag_bits == 0
    assert parse("fp4fp8(p=0.3)").selector.ranks_tensor
    for name in ("blockdialect/b32", "blockdialect(sel=two-stage)/b32", "fp4fp8(threshold=1)"):
        sel = parse(name).selector
        assert not sel.in_scale and not sel.ranks_tensor, name


# --- the registry's parameters (what greedy-mantissa reads instead of matching names) -----------


def test_parameters_name_the_family_and_its_filled_in_parameters():
    from dse.formats import parameters

    assert parameters("anda(m=6)/g32") == ("anda", {"m": "6"})
    assert parameters("ANDA (m=3, round=even)") == ("anda", {"m": "3"})
    assert parameters("anda") == ("anda", {"m": "8"})  # the preset's default
    assert parameters("mxfp6") == ("mxfp6e2m3", {})  # aliases resolved
    assert parameters("fp4fp8(threshold=2)") == ("fp4fp8", {"threshold": "2"})  # replaces p
    assert parameters("sf4(nu=3)/g128") == ("sf4", {"nu": "3"})
    with pytest.raises(UserError, match="unknown format"):
        parameters("anda2(m=6)")
