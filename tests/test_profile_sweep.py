"""A sweep over a profiled checkpoint predicts block- and channel-scaled formats and
BlockDialect's per-block choices tensor by tensor from the profile's measured block-maximum
laws (`dse.error.profile.error_for_tensors`):
checked against the real quantizer on synthetic down-projection weights with outlier rows,
where the class medians of the t fits are far off."""

from __future__ import annotations

import numpy as np
import pytest

import dse
from dse.cli import main
from dse.error import error
from dse.errors import UserError
from dse.formats import parse

FORMATS = ["int4/g128", "int8/ch", "mxfp4"]
NAMES = [f"model.layers.{i}.mlp.down_proj.weight" for i in range(2)]


def _weights() -> dict[str, np.ndarray]:
    """Two down-projection weights (rows of 11008 = llama-2-7b's K): t(10) values, every 16th
    row with one value 30x its body's RMS; the second tensor 3x larger (energy weighting)."""
    rng = np.random.default_rng(7)
    out = {}
    for i, name in enumerate(NAMES):
        x = rng.standard_t(10.0, (48, 11008)) * 0.02 * 3.0**i
        rows = np.arange(0, 48, 16)
        x[rows, rng.integers(0, 11008, rows.size)] = 30.0 * np.sqrt(np.mean(x[rows] ** 2, 1))
        out[name] = x.astype(np.float32)
    return out


@pytest.fixture(scope="module")
def profiled(tmp_path_factory):
    from safetensors.numpy import save_file

    d = tmp_path_factory.mktemp("ckpt")
    weights = _weights()
    save_file(weights, str(d / "model.safetensors"))
    assert main(["profile", str(d / "model.safetensors"), "-o", str(d / "stats.yaml")]) == 0
    return weights, d / "stats.yaml"


def _sweep(tmp_path, profile=None, stats=None):
    workload = {"model": "llama-2-7b", "batch": 1, "tokens": 128}
    if profile:
        workload["profile"] = str(profile)
    if stats:
        workload["stats"] = stats
    cfg = {"name": "p", "workload": workload, "space": {"weight_format": FORMATS},
           "objectives": ["model_nmse"], "output": {"report": False}}  # fmt: skip
    return dse.run(cfg, output_dir=tmp_path / "out").set_index("weight_format")


def test_profiled_class_is_predicted_tensor_by_tensor(profiled, tmp_path):
    weights, path = profiled
    table = _sweep(tmp_path, profile=path)
    for name in FORMATS:
        fmt = parse(name)
        err = sum(np.sum((fmt.quantize(w.astype(np.float64), axis=-1) - w) ** 2)
                  for w in weights.values())  # fmt: skip
        energy = sum(np.sum(w.astype(np.float64) ** 2) for w in weights.values())
        assert table.loc[name, "nmse_w_down"] == pytest.approx(err / energy, rel=0.04), name
    # the class medians alone (what a profile without laws gives) are far off for INT8/ch
    median = error("int8/ch", _sweep_nu_within(path), block=11008).nmse
    assert abs(median / table.loc["int8/ch", "nmse_w_down"] - 1) > 0.2
    # classes the profile does not cover keep the default statistics
    plain = _sweep(tmp_path / "plain")
    assert (table["nmse_w_qkv"] == plain["nmse_w_qkv"]).all()


@pytest.mark.parametrize("name", ["blockdialect(sel=two-stage)", "blockdialect(sel=min-error)"])
def test_profiled_class_is_predicted_tensor_by_tensor_for_per_block_choices(profiled, tmp_path,
                                                                            name):  # fmt: skip
    """BlockDialect's selections run on the measured law too (`choice_given_max_law`); the
    sweep's value is the tensors' energy-weighted errors, near the real quantizer's."""
    from dse.error.profile import error_for_tensors

    weights, path = profiled
    cfg = {"name": "p", "workload": {"model": "llama-2-7b", "batch": 1, "tokens": 128,
                                     "profile": str(path)},
           "space": {"weight_format": [name]}, "objectives": ["model_nmse"],
           "output": {"report": False}}  # fmt: skip
    got = dse.run(cfg, output_dir=tmp_path / "out").set_index("weight_format")
    import yaml

    records = list(yaml.safe_load(path.read_text())["tensors"].values())
    assert got.loc[name, "nmse_w_down"] == pytest.approx(error_for_tensors(name, records),
                                                         rel=1e-9)  # fmt: skip
    fmt = parse(name)
    err = sum(np.sum((fmt.quantize(w.astype(np.float64), axis=-1) - w) ** 2)
              for w in weights.values())  # fmt: skip
    energy = sum(np.sum(w.astype(np.float64) ** 2) for w in weights.values())
    assert got.loc[name, "nmse_w_down"] == pytest.approx(err / energy, rel=0.04)


def _sweep_nu_within(path) -> float:
    from workloads import load_profile_stats

    return load_profile_stats(path).overrides["weight"]["down"]["nu_within"]


def test_stats_stated_in_the_sweep_win_over_the_profile_tensors(profiled, tmp_path):
    _, path = profiled
    table = _sweep(tmp_path, profile=path, stats={"weight": {"down": {"nu_within": 5.0}}})
    want = error("int4/g128", 5.0, tensor_size=11008 * 4096).nmse
    # (the sweep's batched quadrature and a single value agree to ~1e-8)
    assert table.loc["int4/g128", "nmse_w_down"] == pytest.approx(want, rel=1e-6)
    per_tensor = _sweep(tmp_path / "t", profile=path).loc["int4/g128", "nmse_w_down"]
    assert abs(per_tensor / want - 1) > 0.05


def test_a_json_profile_reads_back_with_normal_fits(tmp_path, capsys):
    """Defect: `dse profile --json` writes a normal fit's nu = inf as "inf" (JSON has no
    infinity), and a sweep given that output as its profile stopped with "pooled.nu must be a
    number, got 'inf'". `-o FILE.json` writes the same JSON, and a .json profile is read as
    JSON (large mixture-of-experts profiles load far faster than from YAML)."""
    import json

    import yaml

    from workloads import load_profile_stats

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "w.npz", **{f"model.layers.{i}.mlp.down_proj.weight":
                                    rng.standard_normal((64, 2048)) for i in range(2)})  # fmt: skip
    assert main(["profile", str(tmp_path / "w.npz"), "--json"]) == 0
    printed = capsys.readouterr().out
    assert '"nu": "inf"' in printed
    (tmp_path / "printed.json").write_text(printed)
    assert main(["profile", str(tmp_path / "w.npz"), "-o", str(tmp_path / "p.json")]) == 0
    assert json.loads((tmp_path / "p.json").read_text()) == json.loads(printed)
    assert main(["profile", str(tmp_path / "w.npz"), "-o", str(tmp_path / "p.yaml")]) == 0
    from_yaml = load_profile_stats(tmp_path / "p.yaml")
    records = yaml.safe_load((tmp_path / "p.yaml").read_text())["tensors"].values()
    assert float("inf") in [r[level]["nu"] for r in records for level in ("pooled", "within_group")]
    def fits(profile):  # the aggregates without their source (which names the file)
        return {k: {c: {f: v for f, v in e.items() if f != "source"} for c, e in by.items()}
                for k, by in profile.overrides.items()}  # fmt: skip

    for name in ("printed.json", "p.json"):
        got = load_profile_stats(tmp_path / name)
        assert fits(got) == fits(from_yaml) and got.tensors == from_yaml.tensors
    (tmp_path / "bad.json").write_text('{"tensors": {"a": 1,}}')
    with pytest.raises(UserError, match=r"bad\.json: not valid JSON at line 1"):
        load_profile_stats(tmp_path / "bad.json")


@pytest.mark.parametrize("field", [("pooled", "nu"), ("within_group", "nu")])
def test_a_profiled_class_without_variance_names_the_profile_and_can_be_stated(
        profiled, tmp_path, capsys, field):  # fmt: skip
    """Defect: a profile whose tensors of a class fit nu <= 2 (heavy-tailed activations, or
    weights whose blocks span many octaves) stopped the sweep with "stats weight.down.nu must
    be a number > 2", though the sweep states no stats, and stating them for the class did not
    help (the profile was checked first). Now the message names the profile, the class and
    its tensors with their nu, and the sweep's own statistics for the class replace it."""
    import yaml

    _, path = profiled
    doc = yaml.safe_load(path.read_text())
    for name in NAMES:
        doc["tensors"][name][field[0]][field[1]] = 1.5
    bad = tmp_path / "heavy.yaml"
    bad.write_text(yaml.safe_dump(doc))
    cfg = tmp_path / "sweep.yaml"
    sweep = {"name": "p", "workload": {"model": "llama-2-7b", "profile": str(bad)},
             "space": {"weight_format": ["int4/g128"]}, "objectives": ["model_nmse"],
             "output": {"report": False, "dir": str(tmp_path / "o")}}  # fmt: skip
    cfg.write_text(yaml.safe_dump(sweep))
    assert main(["run", str(cfg), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"profile {str(bad)!r}" in err and "weight.down" in err and NAMES[0] in err
    assert "1.5" in err and "workload.stats.weight.down" in err and "stats weight" not in err
    sweep["workload"]["stats"] = {"weight": {"down": {"nu": 6.0, "nu_within": 6.0}}}
    cfg.write_text(yaml.safe_dump(sweep))
    assert main(["run", str(cfg), "--quiet"]) == 0
    sweep["workload"]["stats"] = {"weight": {"all": {"nu": 6.0, "nu_within": 6.0}}}
    sweep["output"]["dir"] = str(tmp_path / "all")
    cfg.write_text(yaml.safe_dump(sweep))
    assert main(["run", str(cfg), "--quiet"]) == 0


@pytest.mark.parametrize(("key", "value"), [("m", "big"), ("body", [1.0]),
                                            ("offset_of", [0]), ("offsets", [[1.5]]),
                                            ("blocks", [0.5]), ("blocks", -1.0),
                                            ("scale_dev", [[0.1], "wide"]),
                                            ("scale_dev_weight", [[-1.0]]),
                                            ("scale_log2", None)])  # fmt: skip
def test_a_malformed_law_names_the_tensor_and_key(profiled, tmp_path, capsys, key, value):
    import yaml

    _, path = profiled
    doc = yaml.safe_load(path.read_text())
    law = doc["tensors"][NAMES[0]]["within_group"]["block_max"]["128"]
    law[key] = [value] * len(law["m"]) if value == -1.0 else value  # -1: right length, negative
    if value is None:  # left out beside the other keys it comes with
        del law[key]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text(yaml.safe_dump({
        "name": "p", "workload": {"model": "llama-2-7b", "profile": str(bad)},
        "space": {"weight_format": ["int4/g128"]}, "objectives": ["model_nmse"],
        "output": {"report": False, "dir": str(tmp_path / "o")}}))  # fmt: skip
    assert main(["run", str(cfg), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert NAMES[0] in err and "block_max.128" in err and key in err and "Traceback" not in err


def test_a_sweep_over_mixes_builds_each_tensors_score_law_once(profiled, tmp_path, monkeypatch):
    """The FP4/FP8 mixes of a sweep (one candidate pair, several p) share each profiled
    tensor's law of the block scores (`choice.MixModel`): one lattice per tensor, and the same
    values as each mix alone; so does a threshold mix evaluated with them."""
    import yaml

    from dse.error import choice
    from dse.error.profile import error_for_tensors, errors_for_tensors

    _, path = profiled
    mixes = ["fp4fp8(p=0.1)", "fp4fp8(p=0.3)", "mxfp4", "fp4fp8(p=0.6)"]
    records = list(yaml.safe_load(path.read_text())["tensors"].values())
    alone = {name: error_for_tensors(name, records) for name in [*mixes, "fp4fp8(threshold=1e-4)"]}
    built = []
    real = choice.ScoreSums
    monkeypatch.setattr(choice, "ScoreSums", lambda *a, **k: built.append(1) or real(*a, **k))
    cfg = {"name": "p", "workload": {"model": "llama-2-7b", "batch": 1, "tokens": 128,
                                     "profile": str(path)},
           "space": {"weight_format_down": mixes}, "objectives": ["model_nmse"],
           "output": {"report": False}}  # fmt: skip
    got = dse.run(cfg, output_dir=tmp_path / "out").set_index("weight_format_down")
    assert len(built) == len(NAMES)  # once per tensor, not once per tensor and mix
    for name in mixes:
        assert alone[name] is not None
        assert got.loc[name, "nmse_w_down"] == alone[name], name
    low, high = (got.loc[f"fp4fp8(p={p})", "nmse_w_down"] for p in (0.1, 0.6))
    assert low > got.loc["fp4fp8(p=0.3)", "nmse_w_down"] > high
    built.clear()
    names = ["fp4fp8(threshold=1e-4)", "fp4fp8(p=0.3)", "int4/g128"]
    assert errors_for_tensors(names, records) == [alone[names[0]], alone[names[1]],
                                                  error_for_tensors(names[2], records)]
    assert len(built) == len(NAMES)
