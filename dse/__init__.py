"""Analytic design-space exploration of LLM number formats and their accelerators."""

from dse.errors import UserError

__version__ = "0.1.0"
__all__ = ["UserError", "__version__"]
