"""Reliability: every bad input or fault gets one clear line and exit status 2, and no run ever
loses, locks or corrupts results already computed.

Each case asserts the exit status, one line on stderr naming the offending key or path, no
traceback, and that the files already in the output directory are byte-identical afterwards.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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


# --- 3. every bad input gets one clear line and exit 2 -----------------------------------------


# --- 4. random sweep files ---------------------------------------------------------------------
