"""Reliability: every bad input or fault gets one clear line and exit status 2, and no run ever
loses, locks or corrupts results already computed.

Each case asserts the exit status, one line on stderr naming the offending key or path, no
traceback, and that the files already in the output directory are byte-identical afterwards.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from dse.cli import main

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "configs" / "quickstart.yaml"


def cli(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of `dse ARGS` run in this process (an exception other than
    the CLI's own handling propagates and fails the test: that is the traceback a user sees)."""
    capsys.readouterr()
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def cli_process(
    *args: str, cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """`dse ARGS` in a separate Python process (for concurrency and whole-process faults)."""
    return subprocess.run(
        [sys.executable, "-m", "dse.cli", *map(str, args)],
        cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def assert_clear_error(status: int, err: str, *names: str) -> None:
    """Exit 2, one line on stderr that starts with 'dse: error:' and names every one of `names`,
    and no traceback."""
    assert status == 2, err
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("dse: error:"), err
    for name in names:
        assert name in lines[0], (name, err)


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file below `directory` (relative path -> bytes)."""
    if not directory.exists():
        return {}
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


# --- 1. a fresh machine ------------------------------------------------------------------------


def test_api_functions_survive_importing_the_api(tmp_path: Path) -> None:
    """`dse.query` (and `dse.run`, `dse.whatif`) stay the API functions after the API module is
    imported: no submodule of `dse` may carry their names (importing it would replace the
    function on the package). A fresh interpreter, as a user's script would be."""
    import dse

    results = tmp_path / "results.csv"
    results.write_text("weight_format,model_nmse\nint4,0.02\nnvfp4,0.008\n")
    script = (
        "import sys, dse\n"
        "a = dse.query(sys.argv[1], where='model_nmse < 0.01')\n"
        "b = dse.query(sys.argv[1], where='model_nmse < 0.01')\n"
        "assert list(a['weight_format']) == list(b['weight_format']) == ['nvfp4']\n"
        "assert callable(dse.run) and callable(dse.whatif), (dse.run, dse.whatif)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(results)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    names = {p.stem for p in Path(dse.__file__).parent.iterdir()}
    assert not names & set(dse.__all__) - {"UserError", "__version__"}, names



@pytest.mark.parametrize("node", ["28", "28nm", "28 nm", " 28NM "])
def test_every_node_spelling_is_accepted_everywhere(
    capsys: pytest.CaptureFixture, tmp_path: Path, node: str
) -> None:
    """One node parser for the CLI, hardware files and sweep files: 28, '28nm', '28 nm'."""
    import json

    import yaml

    from dse.config import resolve
    from hwmodels.presets import PRESETS

    status, out, err = cli(capsys, "hw", "mac", "e2m1", "e4m3", "--node", node)
    assert status == 0, err
    assert "28 nm:" in out, out
    hw = tmp_path / "hw.yaml"
    preset = yaml.safe_load((PRESETS / "edge-16nm.yaml").read_text())
    hw.write_text(yaml.safe_dump({**preset, "node_nm": node}))
    status, out, err = cli(capsys, "hw", "show", hw, "--json")
    assert status == 0, err
    assert json.loads(out)["hardware"]["node_nm"] == 28
    sweep = yaml.safe_load(QUICKSTART.read_text())
    sweep["hardware"]["node_nm"] = node
    sweep["space"]["node_nm"] = [node, "7nm"]
    assert resolve(sweep)["space"]["node_nm"] == [28, 7]


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (("hw", "mac", "e2m1", "e4m3", "--node", "3nm"), ("--node", "'3nm'", "28")),
        (("hw", "mac", "e2m1", "e4m3", "--node", "seven"), ("--node", "'seven'", "28")),
    ],
)
def test_a_bad_node_names_the_option_and_the_nodes(
    capsys: pytest.CaptureFixture, args: tuple[str, ...], names: tuple[str, ...]
) -> None:
    assert_clear_error(*cli(capsys, *args)[::2], *names)


def test_a_bad_node_in_a_sweep_names_its_yaml_path() -> None:
    import yaml

    from dse.config import resolve
    from dse.errors import UserError

    sweep = yaml.safe_load(QUICKSTART.read_text())
    sweep["space"]["node_nm"] = [16, "3 nm"]
    with pytest.raises(UserError, match=r"space\.node_nm\[1\].*'3 nm'.*28"):
        resolve(sweep)
    sweep["space"].pop("node_nm")
    sweep["hardware"]["node_nm"] = "16nmx"
    with pytest.raises(UserError, match=r"hardware\.node_nm.*'16nmx'.*28"):
        resolve(sweep)

# --- 2. never lose or corrupt work -------------------------------------------------------------

# A sweep of 4 x 3 x 3 = 36 points in chunks of 5 (several chunk files), no report.
SWEEP = {
    "name": "rel",
    "workload": {"model": "llama-2-7b", "phase": "decode", "batch": 4, "tokens": 512},
    "hardware": {"preset": "edge-16nm"},
    "space": {
        "weight_format": ["int4/g128", "mxfp4", "e4m3", "bf16"],
        "act_format": ["e4m3", "bf16", "mxfp8e4m3"],
        "rows": [8, 16, 32],
    },
    "objectives": ["model_nmse", "energy_per_token_uj", "area_mm2"],
    "search": {"chunk": 5},
    "output": {"report": False},
}


def sweep_file(tmp_path: Path, out: Path, file: str = "sweep.yaml", **changes) -> Path:
    cfg = yaml.safe_load(yaml.safe_dump(SWEEP))
    for key, value in changes.items():
        cfg[key] = value
    cfg["output"] = {**SWEEP["output"], **cfg["output"], "dir": str(out)}
    path = tmp_path / file
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def results(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "results.parquet")


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> pd.DataFrame:
    """The results table of one clean, uninterrupted run."""
    tmp = tmp_path_factory.mktemp("reference")
    assert main(["run", str(sweep_file(tmp, tmp / "out")), "--quiet"]) == 0
    return results(tmp / "out")


def no_temporary_files(out: Path) -> bool:
    return not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


def test_a_second_concurrent_run_is_refused_and_the_first_completes(tmp_path):
    # a grid big enough to take a few seconds, evaluated in many small chunks
    space = {"weight_format": ["int4/g128", "mxfp4", "nvfp4", "e4m3", "bf16"],
             "act_format": ["e4m3", "bf16"], "rows": [4, 8, 16, 32, 64],
             "cols": [4, 8, 16, 32], "bandwidth_gbs": {"range": [20, 500], "n": 40}}  # fmt: skip
    out = tmp_path / "out"
    path = sweep_file(tmp_path, out, space=space, search={"chunk": 20})  # ~15 s, 400 chunks
    first = subprocess.Popen(
        [sys.executable, "-m", "dse.cli", "run", str(path), "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not list((out / "chunks").glob("part-*.parquet")):  # the first holds the lock
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    seconds = [
        subprocess.Popen([sys.executable, "-m", "dse.cli", "run", str(path), "--quiet"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]  # fmt: skip
    refused = [(*proc.communicate(timeout=120), proc.returncode) for proc in seconds]
    assert first.poll() is None  # the premise: both were refused while the first still ran
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    for _, err2, status in refused:
        assert_clear_error(status, err2, str(out), "in use by another dse run")
    table = results(out)
    assert len(table) == 5 * 2 * 5 * 4 * 40 and table["point"].is_unique
    for chunk in (out / "chunks").glob("*.parquet"):
        pq.read_table(chunk)  # every chunk whole
    assert no_temporary_files(out)


def test_a_damaged_chunk_is_skipped_reported_and_evaluated_again(tmp_path, capsys, reference):
    out = tmp_path / "out"
    path = sweep_file(tmp_path, out)
    assert main(["run", str(path), "--quiet"]) == 0
    chunks = sorted((out / "chunks").glob("part-*.parquet"))
    assert len(chunks) == 8
    chunks[3].write_bytes(chunks[3].read_bytes()[:100])  # a torn write from elsewhere
    status, _, err = cli(capsys, "run", path, "--quiet")
    assert status == 0
    assert "dse: warning: skipped the damaged chunk" in err and chunks[3].name in err
    assert (out / "chunks" / "damaged" / chunks[3].name).exists()
    pd.testing.assert_frame_equal(results(out), reference)
    status, _, err = cli(capsys, "run", path, "--quiet")  # and no warning once repaired
    assert status == 0 and "warning" not in err


@pytest.mark.parametrize(
    "change",
    [
        {"constraints": [{"column": "area_mm2", "max": 3}]},
        {"objectives": ["model_nmse", {"column": "tokens_per_s", "sense": "max"}]},
        {"output": {"report": True}},
        {"name": "renamed", "description": "same rows, other words"},
    ],
    ids=["constraints", "objectives", "report", "name"],
)
def test_settings_that_do_not_change_rows_resume_without_evaluating(tmp_path, capsys, change):
    out = tmp_path / "out"
    assert main(["run", str(sweep_file(tmp_path, out)), "--quiet"]) == 0
    chunks = {p.name: p.read_bytes() for p in (out / "chunks").glob("*.parquet")}
    changed = sweep_file(tmp_path, out, "changed.yaml", **change)
    status, _, err = cli(capsys, "run", changed, "--quiet")
    assert status == 0, err
    # nothing evaluated again: the same chunk files, byte for byte, and no new one
    assert {p.name: p.read_bytes() for p in (out / "chunks").glob("*.parquet")} == chunks
    assert len(results(out)) == 36


def test_a_moved_output_directory_resumes(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", str(sweep_file(tmp_path, out)), "--quiet"]) == 0
    moved = tmp_path / "elsewhere"
    out.rename(moved)
    (moved / "results.parquet").unlink()
    status, _, err = cli(capsys, "run", sweep_file(tmp_path, moved, "moved.yaml"), "--quiet")
    assert status == 0, err
    assert len(results(moved)) == 36 and len(list((moved / "chunks").glob("*.parquet"))) == 8


def test_changed_inputs_name_the_keys_and_fresh_moves_the_results_aside(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", str(sweep_file(tmp_path, out)), "--quiet"]) == 0
    before = snapshot(out)
    space = {**SWEEP["space"], "rows": [8, 16]}
    other = sweep_file(tmp_path, out, "other.yaml", space=space,
                       workload={**SWEEP["workload"], "batch": 8})  # fmt: skip
    status, _, err = cli(capsys, "run", other, "--quiet")
    assert_clear_error(status, err, str(out), "space", "workload.batch", "--fresh")
    assert snapshot(out) == before
    status, _, err = cli(capsys, "run", other, "--quiet", "--fresh")
    assert status == 0, err
    assert "moved the previous results" in err
    (aside,) = tmp_path.glob("out.old-*")
    assert snapshot(aside) == before
    assert len(results(out)) == 4 * 3 * 2


@pytest.mark.parametrize("kind", ["a file", "under a file"])
def test_output_directory_that_is_a_file(tmp_path, capsys, kind):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory\n")
    out = blocker if kind == "a file" else blocker / "sub"
    status, _, err = cli(capsys, "run", sweep_file(tmp_path, out), "--quiet")
    assert_clear_error(status, err, str(blocker))
    assert blocker.read_text() == "not a directory\n"


@contextmanager
def mounted_tmpfs(path: Path, options: str):
    """A tmpfs mounted at `path` (root only), or a skip naming why not."""
    path.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if proc.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip()}); the injected "
                    "variant of this fault runs instead")  # fmt: skip
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_disk_full_for_real_keeps_every_file_whole_and_resumes(tmp_path, capsys, reference):
    with mounted_tmpfs(tmp_path / "disk", "size=2m") as disk:
        out = disk / "out"
        filler = disk / "filler"
        status, _, err = cli(capsys, "run", sweep_file(tmp_path, out), "--quiet")
        assert status == 0, err
        (out / "results.csv").unlink()
        (out / "results.parquet").unlink()
        shutil.rmtree(out / "chunks")
        # leave about 80 kB: a chunk (about 30 kB) or two fit, the rest of the run does not
        free = shutil.disk_usage(disk).free
        filler.write_bytes(b"\0" * max(0, free - 80_000))
        status, _, err = cli(capsys, "run", sweep_file(tmp_path, out), "--quiet")
        assert_clear_error(status, err, str(out), "no space left on device")
        assert no_temporary_files(out)
        for chunk in (out / "chunks").glob("*.parquet"):
            pq.read_table(chunk)  # what was written is whole
        filler.unlink()
        status, _, err = cli(capsys, "run", sweep_file(tmp_path, out), "--quiet")
        assert status == 0 and "warning" not in err, err
        pd.testing.assert_frame_equal(results(out), reference)


def test_disk_full_at_the_report_keeps_the_old_report(tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    path = sweep_file(tmp_path, out, output={"report": True})
    assert main(["run", str(path), "--quiet"]) == 0
    report = (out / "report.html").read_bytes()
    real_replace = os.replace

    def full_disk(src, dst, *args, **kwargs):  # the write of report.html fails at the end
        if Path(dst).name == "report.html":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", full_disk)
    status, _, err = cli(capsys, "report", out)
    assert_clear_error(status, err, str(out / "report.html"), "no space left on device")
    assert (out / "report.html").read_bytes() == report
    assert no_temporary_files(out)


def test_read_only_output_directory(tmp_path, capsys):
    with mounted_tmpfs(tmp_path / "ro", "ro,size=64k") as ro:
        status, _, err = cli(capsys, "run", sweep_file(tmp_path, ro / "out"), "--quiet")
        assert_clear_error(status, err, str(ro / "out"), "read-only file system")


def test_unwritable_output_directory_injected(tmp_path, capsys, monkeypatch):
    # the same fault without a mount (root ignores permission bits): creating files fails
    def denied(*args, **kwargs):
        raise OSError(errno.EACCES, os.strerror(errno.EACCES))

    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(tempfile, "mkstemp", denied)
    status, _, err = cli(capsys, "run", sweep_file(tmp_path, out), "--quiet")
    assert_clear_error(status, err, str(out), "permission denied")


@pytest.fixture
def weights(tmp_path) -> Path:
    path = tmp_path / "w.npz"
    rng = np.random.default_rng(0)
    np.savez(path, **{"model.layers.0.mlp.down_proj.weight": rng.standard_t(5, (64, 64)),
                      "model.layers.0.self_attn.q_proj.weight": rng.standard_t(5, (64, 64))})
    return path


def test_a_failed_profile_never_replaces_a_good_one(tmp_path, capsys, weights):
    stats = tmp_path / "stats.yaml"
    assert cli(capsys, "profile", weights, "-o", stats)[0] == 0
    good = stats.read_bytes()
    # every tensor fails: --group 128 on rows of 64 values
    status, _, err = cli(capsys, "profile", weights, "--group", "128", "-o", stats)
    assert_clear_error(status, err, "no tensor could be profiled")
    assert stats.read_bytes() == good
    # some tensors fail: the partial result is not written over the complete one
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"not a tensor")
    status, _, err = cli(capsys, "profile", weights, bad, "-o", stats)
    assert status == 2 and "is kept" in err.splitlines()[-1]
    assert stats.read_bytes() == good
    # and with no file yet, a profile with no fitted tensor writes nothing
    fresh = tmp_path / "fresh.yaml"
    status, _, err = cli(capsys, "profile", weights, "--group", "128", "-o", fresh)
    assert status == 2 and not fresh.exists()


def test_a_profile_that_matches_no_gemm_is_refused(tmp_path, capsys):
    stats = tmp_path / "stats.yaml"
    stats.write_text(yaml.safe_dump({"tensors": {"encoder.embeddings.word.weight": {
        "n_values": 100, "pooled": {"nu": 5.0, "sigma": 1.0}}}}))  # fmt: skip
    out = tmp_path / "out"
    path = sweep_file(tmp_path, out, workload={**SWEEP["workload"], "profile": str(stats)})
    status, _, err = cli(capsys, "run", path, "--quiet")
    assert_clear_error(status, err, str(stats), "matches no GEMM")
    empty = tmp_path / "empty.yaml"
    empty.write_text("tensors: {}\n")
    path = sweep_file(tmp_path, out, workload={**SWEEP["workload"], "profile": str(empty)})
    status, _, err = cli(capsys, "run", path, "--quiet")
    assert_clear_error(status, err, str(empty), "matches no GEMM")



# --- 3. every bad input gets one clear line and exit 2 -----------------------------------------


# --- 4. random sweep files ---------------------------------------------------------------------
