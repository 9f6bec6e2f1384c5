"""Every example in README.md, configs/README.md and every `dse ... --help` runs, as written.

Commands are taken from the documents themselves (console blocks: `$ dse ...` lines; inline
code spans of `dse` commands with arguments) and from the "examples:" section that ends each
subcommand's help. They run in the `dse` command line of this process, in one temporary working
directory holding a copy of configs/ (so outputs such as out/quickstart land there, and the
examples run in document order: the README's query and report read its run's output).
The few departures from "as written" are explicit below (`SUBSTITUTE`, `FIXTURES`).
"""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
from importlib.metadata import metadata
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from dse.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
DOCS = {"README.md": ROOT / "README.md", "configs/README.md": ROOT / "configs" / "README.md"}

#: Commands that are patterns rather than examples, mapped to what the test runs instead (None:
#: nothing, because every instance of the pattern is itself an example in the same document).
SUBSTITUTE: dict[str, str | None] = {
    "dse hw show NAME": "dse hw show edge-16nm",
    "dse run configs/<file>": None,
    # the study sweeps run without their HTML report here (the quickstart's covers the report;
    # tests/test_studies.py checks their findings), which saves about 15 s
    **{
        f"dse run configs/{s}.yaml": f"dse run configs/{s}.yaml --no-report"
        for s in ("student-t-formats", "fp4-fp8-mix", "anda", "blockdialect")
    },
}


def _model_safetensors(path: Path) -> None:
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    save_file(
        {
            "layers.0.q_proj.weight": rng.standard_t(6, size=(64, 128)).astype(np.float32),
            "layers.0.down_proj.weight": rng.standard_t(5, size=(128, 64)).astype(np.float32),
        },
        str(path),
    )


def _weights_npz(path: Path) -> None:
    np.savez(path, w=np.random.default_rng(1).standard_t(5, size=(32, 256)))


#: Input files the examples name that are not in the repository: small stand-ins written into
#: the working directory under the examples' own names (tiny tensors, Student-t values).
FIXTURES = {"model.safetensors": _model_safetensors, "weights.npz": _weights_npz}


def console_examples(text: str) -> list[tuple[str, list[str]]]:
    """(command, the output lines shown after it) for each `$ dse` / `dse` line of the
    console and bash blocks."""
    out: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```(?:console|bash)\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            command = line.removeprefix("$ ").strip()
            if command.startswith("dse "):
                out.append((command, []))
            elif out and not line.startswith("$") and command not in ("", "..."):
                out[-1][1].append(line)
    return out


def inline_examples(text: str) -> list[str]:
    """`dse` commands with arguments in inline code spans (a bare `dse profile` is a mention)."""
    spans = re.findall(r"(?<!`)`(dse [^`\n]+)`(?!`)", text)
    return [s for s in spans if len(shlex.split(s)) > 2]


def _parsers(parser: argparse.ArgumentParser):
    """`parser` and all its subcommands' parsers, depth first."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def help_examples() -> list[str]:
    """The lines of the "examples:" section of every (sub)command's help."""
    out = []
    for parser in _parsers(build_parser()):
        text = parser.format_help()
        if "\nexamples:\n" in text:
            out += [ln.strip() for ln in text.split("\nexamples:\n", 1)[1].splitlines()]
    return [ln for ln in out if ln]


def doc_examples() -> list[tuple[str, str, list[str]]]:
    """(document, command, shown output) in document order, substitutions applied."""
    out = []
    for name, path in DOCS.items():
        text = path.read_text()
        found = console_examples(text) + [(c, []) for c in inline_examples(text)]
        for command, shown in found:
            command = SUBSTITUTE.get(command, command)
            if command is not None:
                out.append((name, command, shown))
    return out


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working directory with a copy of configs/ and the fixtures, outside the repository."""
    work = tmp_path_factory.mktemp("docs")
    shutil.copytree(ROOT / "configs", work / "configs", ignore=shutil.ignore_patterns("*.png"))
    for name, write in FIXTURES.items():
        write(work / name)
    return work


def run(command: str, capsys: pytest.CaptureFixture) -> str:
    capsys.readouterr()
    args = shlex.split(command, comments=True)
    assert args[0] == "dse", command
    status = main(args[1:])
    out, err = capsys.readouterr()
    assert status == 0, (command, err[-2000:])
    for flag, value in pairwise(args):
        if flag in ("-o", "--output") and value != "-":
            assert Path(value).exists(), (command, value)  # the output the example names
    return out


def test_the_documents_have_examples() -> None:
    """The parsers find what they are meant to (a parser bug must not pass vacuously)."""
    readme = [c for d, c, _ in doc_examples() if d == "README.md"]
    assert readme[0] == "dse run configs/quickstart.yaml" and len(readme) >= 10, readme
    assert any("blockdialect" in c for d, c, _ in doc_examples() if d == "configs/README.md")
    assert len(help_examples()) >= 20


@pytest.mark.parametrize("name", DOCS)
def test_document_examples_run(
    name: str, workdir: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each example exits 0; the output a document shows below a command is in its output
    (whitespace aside)."""
    monkeypatch.chdir(workdir)
    for doc, command, shown in doc_examples():
        if doc != name:
            continue
        out = run(command, capsys)
        lines = {" ".join(ln.split()) for ln in out.splitlines()}
        for line in shown:
            assert " ".join(line.split()) in lines, (command, line, out[-3000:])


def test_help_examples_run(
    workdir: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(workdir)
    if not (workdir / "out" / "quickstart" / "results.csv").exists():  # run on its own
        run("dse run configs/quickstart.yaml --no-report --quiet", capsys)
    for command in help_examples():
        run(command, capsys)


def test_every_override_quoted_in_help_is_valid() -> None:
    """PATH=VALUE overrides quoted anywhere in the help texts (e.g. in a description) resolve
    against the quickstart sweep (`hardware.dram_bandwidth_gbs=512` and `hardware.node=5nm`
    did not)."""
    import yaml

    from dse.api import apply_sets
    from dse.config import resolve

    text = " ".join(p.format_help() for p in _parsers(build_parser()))
    sets = set(re.findall(r"\b((?:hardware|space|workload|search|output)\.[\w.]+=[^\s,;)]+)", text))
    assert len(sets) >= 3, sets
    cfg = yaml.safe_load((ROOT / "configs" / "quickstart.yaml").read_text())
    for item in sorted(sets):
        resolve(apply_sets(cfg, [item]))


def test_format_names_quoted_in_help_parse() -> None:
    """The format names listed after "e.g." at the end of a help text (descriptions and
    options) are valid."""
    from dse.formats import parse

    names = set()
    for parser in _parsers(build_parser()):
        texts = [parser.description or ""] + [a.help or "" for a in parser._actions]
        for text in texts:
            listed = text.rsplit("e.g. ", 1)[-1].removesuffix(".").split(", ")
            if "format" in text and "e.g. " in text and not any(" " in n for n in listed):
                names |= set(listed)
    assert {"nvfp4", "anda(m=6)", "sf4(nu=5)/g128", "e2m1/g32:e8m0"} <= names, names
    for name in names:
        parse(name)


@pytest.mark.parametrize("name", DOCS)
def test_document_yaml_blocks_are_valid_sweeps(name: str) -> None:
    """A ```yaml block is a whole sweep file, or sections (e.g. `search:`) that complete the
    quickstart's; either passes the sweep-file validator."""
    import yaml

    from dse.config import resolve

    blocks = re.findall(r"```yaml\n(.*?)```", DOCS[name].read_text(), flags=re.S)
    assert blocks
    quickstart = yaml.safe_load((ROOT / "configs" / "quickstart.yaml").read_text())
    for block in blocks:
        resolve({**quickstart, **yaml.safe_load(block)})


@pytest.mark.parametrize("name", DOCS)
def test_document_python_snippets_run(
    name: str, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ```python blocks run; a trailing `expression  # value` comment is checked."""
    monkeypatch.chdir(workdir)
    blocks = re.findall(r"```python\n(.*?)```", DOCS[name].read_text(), flags=re.S)
    assert blocks
    for block in blocks:
        namespace: dict = {}
        exec(compile(block, f"{name} python block", "exec"), namespace)
        for path in re.findall(r"# trace: (\S+)", block):
            assert Path(path).is_file(), path
        for line in block.splitlines():
            m = re.fullmatch(r"(\S[^#=]*?)\s+#\s*([-+0-9.e]+)\b.*", line)
            if m:
                assert eval(m[1], namespace) == pytest.approx(float(m[2])), line


def test_python_api_line_of_the_readme(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """README: `dse.run(config)`, `dse.whatif(config, ["hardware.node_nm=5"])`,
    `dse.query(results_dir, where=..., sort=...)`, with config = configs/quickstart.yaml."""
    import dse

    monkeypatch.chdir(workdir)
    text = DOCS["README.md"].read_text()
    assert '`dse.whatif(config, ["hardware.node_nm=5"])`' in text
    out = dse.whatif("configs/quickstart.yaml", ["hardware.node_nm=5"])
    assert out["metrics"].loc["area_mm2", "after"] < out["metrics"].loc["area_mm2", "before"]
    results = dse.run("configs/quickstart.yaml", report=False)
    top = dse.query("out/quickstart", where="on_front", sort="energy_per_token_uj")
    assert len(top) == int(results["on_front"].sum()) > 0


def test_pip_install_lines_name_existing_extras() -> None:
    """`pip install` lines are not run (no network in tests); their extras must exist."""
    extras = set(metadata("format-dse").get_all("Provides-Extra"))
    named = set()
    for path in DOCS.values():
        for line in re.findall(r"pip install[^\n`]*", path.read_text()):
            for group in re.findall(r"\.\[([\w,-]+)\]", line):
                named |= set(group.split(","))
    assert named and named <= extras, (named, extras)


@pytest.mark.parametrize("name", DOCS)
def test_cited_files_are_in_the_repository(name: str) -> None:
    """Paths in code spans and image links exist in the repository (relative to the document
    or the repository root); outputs of runs (out/...) are not files to cite."""
    path = DOCS[name]
    text = path.read_text()
    cited = re.findall(r"`((?:\.\./)*[\w.-]+/[\w./-]*)`", text) + re.findall(r"\]\(([^)]+)\)", text)
    cited = [c for c in cited if not c.startswith("out/")]
    assert cited
    found = [[p.resolve() for p in (path.parent / c, ROOT / c) if p.exists()] for c in cited]
    missing = [c for c, f in zip(cited, found) if not any(p.is_relative_to(ROOT) for p in f)]
    assert not missing, missing
