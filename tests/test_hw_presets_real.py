"""Real-chip presets: each loads, its peak MAC rate and bandwidth equal the published figures,
and the validation table of configs/README.md matches what the engine computes now."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from dse.api import whatif
from dse.cli import main
from dse.commands.hw import show_report
from hwmodels.presets import load

ROOT = Path(__file__).resolve().parents[1]

#: Published peak dense throughput (T ops/s = 2 x T MAC/s) of the preset's precision, off-chip
#: bandwidth (GB/s) and the precision's format pair, with their sources.
PUBLISHED = {
    # NVIDIA H100 Tensor Core GPU datasheet (2023): FP8 3,958 TFLOPS with sparsity (dense half;
    # 1,978.9 in the H100 architecture whitepaper, 2022), 3.35 TB/s HBM3.
    "nvidia-h100-sxm": (1978.9, 3350.0, ("e4m3", "e4m3")),
    # NVIDIA DGX B200 datasheet (2024): 144 PFLOPS FP4 with sparsity and 64 TB/s for 8 GPUs.
    "nvidia-b200": (9000.0, 8000.0, ("nvfp4", "nvfp4")),
    # AMD Instinct MI300X data sheet (2023): FP8 2,614.9 TFLOPS dense, 5.3 TB/s HBM3.
    "amd-mi300x": (2614.9, 5300.0, ("e4m3", "e4m3")),
    # Intel Tech Tour 2024, Lunar Lake NPU deep dive: 48 TOPS INT8; Core Ultra 7 268V
    # specification (2024): 136.5 GB/s LPDDR5X-8533.
    "intel-lunar-lake-npu": (48.0, 136.5, ("int8/ch", "int8")),
}
#: The published peaks are rounded to 0.1 TFLOPS (1,978.9 of 1,978.86 at 1.83 GHz).
ROUNDING = 5e-5


def _show(capsys: pytest.CaptureFixture, name: str) -> dict:
    assert main(["hw", "show", name, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_presets_are_listed(capsys: pytest.CaptureFixture) -> None:
    assert main(["hw", "show", "--json"]) == 0
    presets = str(json.loads(capsys.readouterr().out)["presets"])
    assert all(name in presets for name in PUBLISHED)


@pytest.mark.parametrize("name", PUBLISHED)
def test_peak_and_bandwidth_equal_the_published_figures(
    name: str, capsys: pytest.CaptureFixture
) -> None:
    tops, gbs, formats = PUBLISHED[name]
    out = _show(capsys, name)
    peak = out["accelerator"]["peak_tmacs"]
    assert 2 * peak == pytest.approx(tops, rel=ROUNDING)
    assert out["off_chip"]["bandwidth_gbs"] == pytest.approx(gbs)
    assert out["accelerator"]["machine_balance_macs_per_byte"] == pytest.approx(peak * 1e3 / gbs)
    spec = load(name)
    assert (spec.weight_format, spec.activation_format) == formats
    assert spec.design().bandwidth_gbs == pytest.approx(gbs)


@pytest.mark.parametrize("name", PUBLISHED)
def test_the_file_cites_its_sources_and_states_the_approximation(name: str) -> None:
    text = (ROOT / "hwmodels" / "data" / "presets" / f"{name}.yaml").read_text()
    comments = " ".join(ln for ln in text.splitlines() if ln.startswith("#"))
    assert "APPROXIMATION" in comments
    assert "TDP" in comments or "power" in comments
    assert re.search(r"\((19|20)\d\d\)", comments), "a cited document with its year"


def _readme_preset_rows() -> dict[str, tuple[float, float]]:
    """preset -> (engine peak T MAC/s, bandwidth GB/s) from the preset table of the README."""
    rows = {}
    for line in (ROOT / "configs" / "README.md").read_text().splitlines():
        m = re.fullmatch(r"\| `([\w-]+)` \| [^|]+ \| ([\d,.]+) \| ([\d,.]+)[^|]*\|.*", line)
        if m and m[1] in PUBLISHED:
            rows[m[1]] = (float(m[2].replace(",", "")), float(m[3].replace(",", "")))
    return rows


def test_readme_preset_table_is_current() -> None:
    rows = _readme_preset_rows()
    assert set(rows) == set(PUBLISHED)
    for name, (peak, gbs) in rows.items():
        engine = show_report(load(name))
        assert peak == pytest.approx(engine["accelerator"]["peak_tmacs"], rel=1e-4)
        assert gbs == pytest.approx(engine["off_chip"]["bandwidth_gbs"])


#: The validation rows: command -> published tokens/s (sources in configs/README.md).
VALIDATION = {
    # TensorRT-LLM docs/source/performance.md, v0.6.1, H100 FP8, LLaMA 7B, batch 112, 128/2048
    "configs/validation-h100.yaml --set workload.batch=112 --set workload.tokens=1152": 6818,
    # the same table, batch 48, 2048/2048
    "configs/validation-h100.yaml --set workload.batch=48 --set workload.tokens=3072": 2740,
    # AMD ROCm performance results (July 2025): 8 x MI300X, Llama 3.1 70B FP8, batch 1,
    # 128/2048 in 17.236 s
    "configs/validation-mi300x.yaml --set workload.batch=1 --set workload.tokens=1152": 118.8,
    # the same page, batch 2 in 18.057 s
    "configs/validation-mi300x.yaml --set workload.batch=2 --set workload.tokens=1152": 226.8,
}


def _readme_rows() -> dict[str, tuple[float, float, float]]:
    """command -> (published, engine, ratio) from the validation table of configs/README.md."""
    rows = {}
    for line in (ROOT / "configs" / "README.md").read_text().splitlines():
        m = re.fullmatch(r"\|.*\| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| `dse whatif (.+)` \|", line)
        if m:
            rows[m[4]] = (float(m[1]), float(m[2]), float(m[3]))
    return rows


def test_readme_has_the_validation_rows() -> None:
    assert set(_readme_rows()) == set(VALIDATION)


@pytest.mark.parametrize("command", VALIDATION)
def test_validation_ratio_is_current(command: str) -> None:
    """The engine's tokens/s and published / engine in the README are within 1 % of what
    the engine computes now, and the published figure is the cited one."""
    published, engine, ratio = _readme_rows()[command]
    args = shlex.split(command)
    config, sets = ROOT / args[0], args[2::2]
    now = whatif(config, sets)["metrics"].loc["tokens_per_s", "after"]
    assert published == VALIDATION[command]
    assert engine == pytest.approx(now, rel=0.01)
    assert ratio == pytest.approx(published / now, rel=0.01)
