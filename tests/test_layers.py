"""Layers import one way: the base library (`dse.formats`, `dse.error`, `dse.errors`) imports
only itself; `hwmodels` and `workloads` import the base layer and themselves, never the
application (the rest of `dse`, `reports`); no import cycle between those packages.

The source check reads every file with `ast` (nothing is imported), so it sees imports inside
functions and under `if TYPE_CHECKING:` too; the subprocess check imports the packages and
lists what got loaded.
"""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BASE = ("dse.formats", "dse.error", "dse.errors")
#: Each lower package, with the packages it may import (third-party libraries aside).
LAYERS = {
    "dse.formats": BASE,
    "dse.error": BASE,
    "dse.errors": BASE,
    "hwmodels": (*BASE, "hwmodels", "workloads"),
    "workloads": (*BASE, "workloads", "hwmodels"),
}
#: Top-level names that are this project's (anything else is a third-party library).
PROJECT = ("dse", "hwmodels", "workloads", "reports")
#: Heavy libraries only the application needs.
HEAVY = ("pymoo", "pyarrow", "plotly")


def _within(module: str, packages) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _files(layer: str) -> list[Path]:
    path = ROOT / layer.replace(".", "/")
    return sorted(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]


def _module_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in the file: `from a import b` names `a.b` (b may be a
    submodule), relative imports resolved."""
    package = _module_of(path) if path.name == "__init__.py" else _module_of(path).rpartition(
        "."
    )[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            out += [(node.lineno, f"{base}.{a.name}") for a in node.names]
    return sorted(out)


def violations() -> list[str]:
    """One line per import of a project module outside what its layer may import."""
    out = []
    for layer, packages in LAYERS.items():
        for path in _files(layer):
            for line, target in imports(path):
                if target.split(".")[0] in PROJECT and not _within(target, packages):
                    out.append(
                        f"{path.relative_to(ROOT)}:{line} imports {target}: {layer} may import "
                        f"only {', '.join(dict.fromkeys(packages))} (and third-party libraries)"
                    )
    return out


def test_lower_layers_import_no_application_module():
    found = violations()
    assert not found, "layering broken:\n" + "\n".join(found)


def test_no_cycle_between_hwmodels_and_workloads():
    """Either may use the other, but not both ways."""
    uses = {
        (a, b)
        for a, b in (("hwmodels", "workloads"), ("workloads", "hwmodels"))
        for path in _files(a)
        for _, target in imports(path)
        if _within(target, (b,))
    }
    assert len(uses) < 2, "hwmodels and workloads import each other"


def test_the_check_sees_function_level_and_relative_imports(tmp_path, monkeypatch):
    """The checker itself: an application import inside a function, a relative import that
    climbs out of the base layer and `from dse import <lazy API>` are reported; base and
    third-party imports are not."""
    pkg = tmp_path / "dse" / "formats"
    pkg.mkdir(parents=True)
    (tmp_path / "dse" / "errors.py").write_text("")
    (pkg / "bad.py").write_text(
        "import numpy as np\n"
        "from dse.errors import UserError\n"
        "from dse.formats.scales import ScaleRule\n"
        "def f():\n"
        "    from dse.config import resolve\n"
        "from .. import api\n"
        "from dse import run\n"
    )
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    monkeypatch.setitem(globals(), "LAYERS", {"dse.formats": BASE})
    found = violations()
    assert [v.split(" imports ")[1].split(":")[0] for v in found] == [
        "dse.config.resolve",
        "dse.api",
        "dse.run",
    ]
    assert found[0].startswith("dse/formats/bad.py:5 imports dse.config.resolve: dse.formats ")


def test_importing_the_lower_layers_loads_no_application_module():
    code = (
        "import json, sys\n"
        "import hwmodels, workloads, dse.formats, dse.error\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    loaded = json.loads(run.stdout)
    lower = tuple(LAYERS)
    app = [
        m
        for m in loaded
        if (_within(m, ("dse", "reports")) and m != "dse" and not _within(m, lower))
        or _within(m, HEAVY)
    ]
    assert not app, f"importing the lower layers loaded {app}"
    assert "dse.formats" in loaded and "hwmodels" in loaded  # the check ran for real


@pytest.mark.parametrize("layer", list(LAYERS))
def test_every_layer_has_sources(layer):
    """A renamed package would make the source check vacuous."""
    assert _files(layer) and all(p.exists() for p in _files(layer))


def test_commands_do_not_import_the_cli_back():
    """`dse.cli` discovers `dse.commands`; the commands never import `dse.cli` (one way)."""
    found = [
        f"{path.relative_to(ROOT)}:{line} imports {target}"
        for path in _files("dse.commands")
        for line, target in imports(path)
        if _within(target, ("dse.cli",))
    ]
    assert not found, found


def test_the_version_is_the_installed_metadata():
    """One source for the version: pyproject.toml, read back through the installed metadata."""
    import re

    import dse

    pyproject = (ROOT / "pyproject.toml").read_text()
    declared = re.search(r'^version = "([^"]+)"', pyproject, flags=re.M).group(1)
    assert dse.__version__ == declared
    assert f'"{declared}"' not in (ROOT / "dse/__init__.py").read_text()


def test_importing_the_config_module_does_no_application_work():
    """`import dse.config` builds nothing: the schema (which needs the strategies, pymoo and
    the evaluator) is made on first use."""
    code = (
        "import sys, dse.config\n"
        "heavy = ('pymoo', 'pyarrow', 'plotly', 'dse.evaluation.evaluator', 'dse.optimize')\n"
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import dse.config loaded {out.stdout.strip()}"


def test_only_the_store_names_the_output_files():
    """The output directory's layout is known by `dse.store.Layout` alone."""
    names = {"results.parquet", "results.csv", "config.yaml", "run.json", "report.html",
             "chunks", "resume-key.json", ".lock"}  # fmt: skip
    found = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}"
        for package in ("dse", "reports")
        for path in _files(package)
        if path != ROOT / "dse" / "store.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and node.value in names
    ]
    assert not found, found
