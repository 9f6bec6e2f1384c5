"""Analytic design-space exploration of LLM number formats and their accelerators.

The Python API: `dse.run(config)`, `dse.whatif(config, sets)`, `dse.query(results, ...)`
(pandas DataFrames out), `dse.execute(config)` (a run's summary,
without its table); formats in `dse.formats`, errors in `dse.error`.
"""

from importlib.metadata import PackageNotFoundError, version

from dse.errors import UserError

try:  # the one source of the version is pyproject.toml (installed metadata)
    __version__ = version("format-dse")
except PackageNotFoundError:  # a source tree on sys.path without installing it
    __version__ = "0+unknown"
__all__ = ["UserError", "__version__", "execute", "query", "run", "whatif"]


def __getattr__(name: str):
    # the run API pulls in pymoo, hardware and workload models: load it on first use only
    if name in ("run", "execute", "whatif", "query"):
        from dse import api

        return getattr(api, name)
    raise AttributeError(name)
