"""Profiling: t fits of synthetic tensors, the two-level fit on scale mixtures, file readers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import yaml

from dse.cli import main
from dse.error import error
from dse.error.profile import error_for_stats, fit_t, profile_array
from dse.error.tensorio import read_tensors
from dse.errors import UserError
from dse.formats import parse


def test_fit_recovers_nu_and_sigma():
    x = np.random.default_rng(0).standard_t(4.0, 400_000) * 0.02
    f = fit_t(x)
    assert f.nu == pytest.approx(4.0, rel=0.1)
    assert f.sigma == pytest.approx(0.02, rel=0.05)
    assert f.ks < 0.005 < f.ks_normal


def test_fit_of_a_normal_reports_large_nu_and_subsamples():
    x = np.random.default_rng(1).standard_normal(300_000) * 3
    f = fit_t(x, max_values=100_000)
    assert f.n_values == 100_000
    assert f.nu > 50 and f.sigma == pytest.approx(3, rel=0.03)


@pytest.fixture(scope="module")
def mixture():
    """Rows of different scales (log2 sd 0.5) with t(6) values inside."""
    rng = np.random.default_rng(2)
    scales = 2.0 ** rng.normal(0.0, 0.5, 256)
    return rng.standard_t(6.0, (256, 4096)) * scales[:, None]


@pytest.fixture(scope="module")
def mixture_stats(mixture):
    return profile_array(mixture, "float64")


def test_within_group_fit_recovers_the_shape_of_a_scale_mixture(mixture_stats):
    st = mixture_stats
    assert st["within_group"]["nu"] == pytest.approx(6.0, rel=0.1)
    assert st["pooled"]["nu"] < 4.5  # the mixture looks heavier-tailed pooled
    assert st["within_group"]["scale_spread_log2"] == pytest.approx(0.5, rel=0.15)


@pytest.mark.parametrize("name", ["int4/g128", "nf4/g64", "sf4/g128", "mxfp4"])
def test_profiled_error_matches_the_real_quantizer(mixture, mixture_stats, name):
    st = mixture_stats
    fmt = parse(name)
    q = fmt.quantize(mixture)
    empirical = np.sum((mixture - q) ** 2) / np.sum(mixture**2)
    r = error_for_stats(fmt, st)
    assert r.fit == "within_group"
    assert r.nmse == pytest.approx(empirical, rel=0.04)
    pooled = error(fmt, st["pooled"]["nu"]).nmse
    assert abs(pooled / empirical - 1) > 0.15  # the pooled fit alone would be far off


def test_per_tensor_formats_use_the_pooled_fit(mixture_stats):
    assert error_for_stats("e4m3", mixture_stats).fit == "pooled"


def test_readers_npy_npz_safetensors(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    ml = pytest.importorskip("ml_dtypes")
    rng = np.random.default_rng(3)
    a = rng.standard_normal((8, 16)).astype(np.float32)
    np.save(tmp_path / "a.npy", a)
    np.savez(tmp_path / "b.npz", w=a, v=a[0])
    bf = a.astype(ml.bfloat16)
    st.save_file({"x": a.astype(np.float16), "y": bf.view(np.uint16)}, tmp_path / "c.safetensors")
    # rewrite y's dtype code as BF16 (the numpy API cannot write bfloat16 itself)
    raw = (tmp_path / "c.safetensors").read_bytes()
    n = int.from_bytes(raw[:8], "little")
    head = json.loads(raw[8 : 8 + n])
    head["y"]["dtype"] = "BF16"
    text = json.dumps(head, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    (tmp_path / "c.safetensors").write_bytes(len(text).to_bytes(8, "little") + text + raw[8 + n :])
    got = {
        name: (arr, dt)
        for p in ("a.npy", "b.npz", "c.safetensors")
        for name, arr, dt in read_tensors(tmp_path / p)
    }
    assert np.array_equal(got["a"][0], a) and got["w"][0].shape == (8, 16)
    assert np.array_equal(got["x"][0], a.astype(np.float16)) and got["x"][1] == "f16"
    assert np.array_equal(got["y"][0], bf.astype(np.float32)) and got["y"][1] == "bf16"


def test_corrupt_and_unsupported_files_are_named(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\xff" * 20)
    with pytest.raises(UserError, match=r"bad\.safetensors"):
        list(read_tensors(bad))
    (tmp_path / "w.txt").write_text("1 2 3")
    with pytest.raises(UserError, match="unsupported file type"):
        list(read_tensors(tmp_path / "w.txt"))
    # defect: numpy's own message for a file without its header spoke of pickled data and
    # allow_pickle, which is no way forward
    for name in ("text.npy", "text.npz"):
        (tmp_path / name).write_text("hello")
        with pytest.raises(UserError) as err:
            list(read_tensors(tmp_path / name))
        assert f"{name}: not a NumPy {name[-3:]} file" in str(err.value)
        assert "pickle" not in str(err.value)


def test_an_unreadable_file_is_named(tmp_path, monkeypatch):
    """A file the user may not read (as root, permissions do not bite: injected) is one
    clear error naming it, not an OSError's traceback."""
    from pathlib import Path

    np.save(tmp_path / "w.npy", np.ones(4))
    monkeypatch.setattr(Path, "open", lambda *a, **k: (_ for _ in ()).throw(
        PermissionError("Permission denied")))  # fmt: skip
    with pytest.raises(UserError, match=r"w\.npy: cannot read as npy: Permission denied"):
        list(read_tensors(tmp_path / "w.npy"))


def test_profile_command_writes_yaml_and_continues_after_a_bad_file(tmp_path, capsys):
    rng = np.random.default_rng(4)
    np.save(tmp_path / "w.npy", rng.standard_t(5.0, (64, 512)) * 0.01)
    (tmp_path / "bad.npy").write_bytes(b"not numpy")
    out = tmp_path / "stats.yaml"
    status = main(["profile", str(tmp_path / "bad.npy"), str(tmp_path / "w.npy"), "-o", str(out)])
    assert status == 2
    assert "bad.npy" in capsys.readouterr().err
    doc = yaml.safe_load(out.read_text())
    rec = doc["tensors"]["w"]
    assert rec["shape"] == [64, 512] and rec["n_values"] == 64 * 512
    assert set(rec["pooled"]) >= {"nu", "sigma", "ks", "ks_normal"}
    assert set(rec["within_group"]) >= {"nu", "sigma", "group", "scale_spread_log2", "ks"}
    assert main(["profile", str(tmp_path / "w.npy"), "--json"]) == 0
    assert "tensors" in json.loads(capsys.readouterr().out)


def test_error_command(capsys):
    assert main(["error", "nvfp4", "--nu", "5", "inf", "--mc", "20000", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["nu"] for r in rows] == [5.0, math.inf] or rows[1]["nu"] in ("inf", math.inf)
    assert all(abs(r["z"]) < 4 for r in rows)
    assert main(["error", "int4/g128", "--nu", "2"]) == 2
    assert "nu must be > 2" in capsys.readouterr().err


def _safetensors_file(path, tensors: dict) -> None:
    """A .safetensors file written by hand: {name: (dtype code, uint8/any array)}."""
    import json

    header, blobs, offset = {}, [], 0
    for name, (code, arr) in tensors.items():
        data = np.ascontiguousarray(arr).tobytes()
        header[name] = {"dtype": code, "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(data)]}  # fmt: skip
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text + b"".join(blobs))


def test_fp8_safetensors_are_read_dequantized_with_their_scales(tmp_path):
    """FP8 codes decoded as ml_dtypes decodes them; HF fine-grained (128 x 128 block
    `weight_scale_inv`) and compressed-tensors (per-channel `weight_scale`) scales applied;
    the scale tensors themselves are not profiled."""
    import ml_dtypes

    from dse.error.tensorio import read_tensors

    rng = np.random.default_rng(0)
    values = rng.standard_t(5, size=(200, 300)).astype(np.float32)
    e4m3 = values.astype(ml_dtypes.float8_e4m3fn)
    e5m2 = values.astype(ml_dtypes.float8_e5m2)
    blocks = rng.uniform(0.5, 2, size=(2, 3)).astype(np.float32)  # ceil(200/128) x ceil(300/128)
    rows = rng.uniform(0.5, 2, size=(200, 1)).astype(np.float32)
    _safetensors_file(tmp_path / "m.safetensors", {
        "a.weight": ("F8_E4M3", e4m3.view(np.uint8)),
        "a.weight_scale_inv": ("F32", blocks),
        "b.weight": ("F8_E4M3", e4m3.view(np.uint8)),
        "b.weight_scale": ("F32", rows),
        "c.weight": ("F8_E5M2", e5m2.view(np.uint8)),
    })  # fmt: skip
    got = {name: (arr, code) for name, arr, code in read_tensors(tmp_path / "m.safetensors")}
    assert sorted(got) == ["a.weight", "b.weight", "c.weight"]
    spread = np.repeat(np.repeat(blocks, 128, axis=0), 128, axis=1)[:200, :300]
    assert np.array_equal(got["a.weight"][0], e4m3.astype(np.float32) * spread)
    assert np.array_equal(got["b.weight"][0], e4m3.astype(np.float32) * rows)
    assert np.array_equal(got["c.weight"][0], e5m2.astype(np.float32))
    assert got["a.weight"][1] == "f8_e4m3" and got["c.weight"][1] == "f8_e5m2"


def _mxfp4_packed(rng, shape: tuple[int, ...], groups: int):
    """Random MXFP4 codes packed as gpt-oss stores them: (blocks U8 (*shape, groups, 16), scales
    U8 (*shape, groups)) and the values they stand for, decoded with ml_dtypes' E2M1 (code
    2j in the low nibble of byte j, 2j + 1 in the high one; E8M0 scale 2^(code - 127))."""
    import ml_dtypes

    codes = rng.integers(0, 16, size=(*shape, groups, 32), dtype=np.uint8)
    scales = rng.integers(110, 140, size=(*shape, groups), dtype=np.uint8)
    blocks = codes[..., 0::2] | (codes[..., 1::2] << 4)
    e2m1 = codes.view(ml_dtypes.float4_e2m1fn).astype(np.float32)
    values = np.ldexp(e2m1, scales[..., None].astype(np.int32) - 127)
    return blocks, scales, values.reshape(*shape, groups * 32)


def test_mxfp4_packed_safetensors_are_read_dequantized(tmp_path):
    """Defect: gpt-oss stores its experts as MXFP4, `<name>_blocks` (two E2M1 codes per byte)
    beside `<name>_scales` (E8M0), both U8; they were profiled as two tensors of integers,
    meaningless statistics without a word. They are one tensor `<name>`, decoded (the original
    checkpoint's `<name>.blocks` / `<name>.scales` too); its experts then inform the sweep's
    gate_up and down classes."""
    from workloads.profiles import classify_tensor

    rng = np.random.default_rng(4)
    gate_up, gate_up_s, want_gu = _mxfp4_packed(rng, (2, 12), 3)  # 2 experts, 12 rows, K = 96
    down, down_s, want_d = _mxfp4_packed(rng, (2, 6), 2)
    mlp1, mlp1_s, want_m = _mxfp4_packed(rng, (4,), 2)
    stem = "model.layers.0.mlp.experts."
    _safetensors_file(tmp_path / "m.safetensors", {
        stem + "gate_up_proj_blocks": ("U8", gate_up),
        stem + "gate_up_proj_scales": ("U8", gate_up_s),
        stem + "down_proj_blocks": ("U8", down), stem + "down_proj_scales": ("U8", down_s),
        "block.0.mlp.mlp1_weight.blocks": ("U8", mlp1),
        "block.0.mlp.mlp1_weight.scales": ("U8", mlp1_s),
        "other_blocks": ("U8", np.arange(6, dtype=np.uint8)),  # no scales beside it: integers
    })  # fmt: skip
    got = {name: (arr, code) for name, arr, code in read_tensors(tmp_path / "m.safetensors")}
    assert sorted(got) == ["block.0.mlp.mlp1_weight", stem + "down_proj", stem + "gate_up_proj",
                           "other_blocks"]  # fmt: skip
    for name, want in [(stem + "gate_up_proj", want_gu), (stem + "down_proj", want_d),
                       ("block.0.mlp.mlp1_weight", want_m)]:  # fmt: skip
        arr, code = got[name]
        assert code == "mxfp4" and arr.shape == want.shape
        np.testing.assert_array_equal(arr, want)
    assert got["other_blocks"][1] == "u8"
    assert classify_tensor(stem + "gate_up_proj") == ("weight", "gate_up")
    assert classify_tensor(stem + "down_proj") == ("weight", "down")
    phi3 = "model.layers.0.mlp.gate_up_proj.weight"  # Phi-3's fused gate and up
    assert classify_tensor(phi3) == ("weight", "gate_up")
    assert main(["profile", str(tmp_path / "m.safetensors"), "-o", str(tmp_path / "p.yaml")]) == 0
    profiled = yaml.safe_load((tmp_path / "p.yaml").read_text())["tensors"]
    assert profiled[stem + "gate_up_proj"]["dtype"] == "mxfp4"
    assert profiled[stem + "gate_up_proj"]["shape"] == [2, 12, 96]
    assert profiled[stem + "gate_up_proj"]["amax"] == np.abs(want_gu).max()


def test_mxfp4_blocks_whose_scales_do_not_fit_are_refused(tmp_path):
    blocks, scales, _ = _mxfp4_packed(np.random.default_rng(0), (4,), 2)
    _safetensors_file(tmp_path / "m.safetensors", {"w_blocks": ("U8", blocks),
                                                   "w_scales": ("U8", scales[:, :1])})
    with pytest.raises(UserError, match=r"'w_blocks' .*\(4, 2, 16\).* 'w_scales' .*\(4, 1\)"):
        list(read_tensors(tmp_path / "m.safetensors"))
    scales[1, 1] = 255  # E8M0's NaN: the group's 32 values (still held in float16)
    _safetensors_file(tmp_path / "n.safetensors", {"w_blocks": ("U8", blocks),
                                                   "w_scales": ("U8", scales)})
    [(_, arr, _)] = read_tensors(tmp_path / "n.safetensors")
    assert np.isnan(arr).sum() == 32 and np.isnan(arr[1, 32:]).all()


@pytest.mark.parametrize(("low", "high", "dtype"), [(104, 140, np.float16), (103, 130, np.float32),
                                                    (110, 141, np.float32)])  # fmt: skip
def test_mxfp4_values_are_held_in_float16_where_it_is_exact(tmp_path, low, high, dtype):
    """Half the memory of float32 for a packed tensor whose scales keep every value exact in
    float16 (E8M0 codes 104..140: subnormals down to 0.5 x 2^-23, 6 x 2^13 below 65504);
    float32 otherwise. The values are the same either way."""
    import ml_dtypes

    blocks, scales, _ = _mxfp4_packed(np.random.default_rng(1), (8,), 4)
    scales[0, :2] = (low, high)
    codes = np.empty((*blocks.shape[:-1], 32), dtype=np.uint8)
    codes[..., 0::2], codes[..., 1::2] = blocks & 0x0F, blocks >> 4
    e2m1 = codes.view(ml_dtypes.float4_e2m1fn).astype(np.float64)
    want = np.ldexp(e2m1, scales[..., None].astype(np.int32) - 127).reshape(8, -1)
    _safetensors_file(tmp_path / "m.safetensors", {"w_blocks": ("U8", blocks),
                                                   "w_scales": ("U8", scales)})
    [(_, arr, _)] = read_tensors(tmp_path / "m.safetensors")
    assert arr.dtype == dtype
    np.testing.assert_array_equal(arr.astype(np.float64), want)


@pytest.mark.parametrize("group", ["row", 32])
def test_slices_give_the_same_profile(monkeypatch, group):
    """`profile_array` works through the tensor a slice of groups at a time (its memory no
    longer a few float64 copies of the whole): the record is the same with any slice size, up
    to the summation order of the tensor's RMS."""
    import dse.error.profile as prof

    rng = np.random.default_rng(9)
    x = (rng.standard_t(4, (300, 256)) * 2.0 ** rng.normal(0, 0.5, (300, 1))).astype(np.float32)
    x[::17] = 0.0  # groups without a scale
    x[::25, 3] *= 40.0
    whole = profile_array(x, "float32", group, max_values=20_000)  # one slice: 76,800 values
    monkeypatch.setattr(prof, "SLICE_VALUES", 1000)
    sliced = profile_array(x, "float32", group, max_values=20_000)
    assert sliced.pop("rms") == pytest.approx(whole.pop("rms"), rel=1e-14)
    assert sliced == whole


@pytest.mark.parametrize(("row", "sizes"), [(768, [16, 32, 64, 128, 256, 768]), (48, [16, 48]),
                                           (5, [5]), (1, [1])])
def test_block_stats_of_every_size_from_the_smallest(row, sizes):
    """Each size's block maxima and bodies (mean square of the other values), derived from
    the size before, against each size's blocks computed directly: maxima equal, bodies to
    rounding."""
    from dse.error.profile import _block_stats

    unit = np.abs(np.random.default_rng(8).standard_t(4.0, (6, row)))
    n = [unit.size // b for b in sizes]
    tops = [np.empty(k) for k in n]
    bodies = [np.empty(k) if b > 1 else None for b, k in zip(sizes, n)]
    _block_stats(unit, sizes, tops, bodies)
    for b, top, body in zip(sizes, tops, bodies):
        blocks = unit.reshape(-1, b)
        np.testing.assert_array_equal(top, blocks.max(axis=1))
        if b > 1:
            want = (np.sum(blocks**2, axis=1) - blocks.max(axis=1) ** 2) / (b - 1)
            np.testing.assert_allclose(body, want, rtol=1e-12)


def test_subsample_by_index_draws_what_the_finite_values_draw():
    """The identity `subsample` relies on for large all-finite arrays: indexing the array by
    `sample_indices` gives what the path through a float64 copy of the finite values gives."""
    from dse.error.profile import sample_indices, subsample

    x = np.random.default_rng(2).standard_normal(50_000).astype(np.float32)
    want = x.astype(np.float64)[sample_indices(x.size, 1000, seed=5)]
    np.testing.assert_array_equal(subsample(x, 1000, seed=5), want)
    x[7] = np.nan  # not all finite: the finite values, then the same draw
    got = subsample(x, 1000, seed=5)
    finite = x[np.isfinite(x)].astype(np.float64)
    np.testing.assert_array_equal(got, finite[sample_indices(finite.size, 1000, seed=5)])


@pytest.mark.parametrize(("n", "k"), [(40, 8), (200, 10), (12, 12)])
def test_sample_indices_draw_every_subset_alike(n, k):
    """k distinct indices of range(n), each index in k/n of the draws (chi-square, 2,000
    seeds), in random order (the first pick is uniform too): either way of drawing (a
    permutation for small n, distinct draws with replacement beyond)."""
    from scipy import stats

    from dse.error.profile import sample_indices

    seeds = 2000
    picks = np.array([sample_indices(n, k, seed=s) for s in range(seeds)])
    assert all(np.unique(row).size == k for row in picks) and picks.min() >= 0
    assert picks.max() < n
    if k == n:
        return
    counts = np.bincount(picks.ravel(), minlength=n)
    assert stats.chisquare(counts).pvalue > 1e-3
    firsts = np.bincount(picks[:, 0], minlength=n)
    assert stats.chisquare(firsts).pvalue > 1e-3


def test_sample_indices_need_memory_for_the_sample_only():
    """Defect: numpy's choice without replacement made an int64 index of every value up to 50
    sample sizes (8 bytes per value: 360 MB for a 4096 x 11008 weight), the largest part of
    `dse profile`'s peak on such tensors. A million indices of 45 M now take O(sample)."""
    import tracemalloc

    from dse.error.profile import sample_indices

    tracemalloc.start()
    try:
        got = sample_indices(45_088_768, 1_000_000, seed=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got.size == np.unique(got).size == 1_000_000
    assert peak < 64e6, peak  # an index of every value: 360 MB


def test_the_maximum_of_an_int8_tensor_sees_minus_128():
    """Defect: |x| was taken in the tensor's own dtype, where |-128| overflows an int8 to -128:
    a tensor whose largest magnitude is -128 reported a smaller maximum."""
    x = np.tile(np.array([-128, 5, -3, 7, 1, -2, 4, 6, 2, -1, 3, 9], dtype=np.int8), (4, 4))
    assert profile_array(x, "int8")["amax"] == 128.0
