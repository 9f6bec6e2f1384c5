"""Capture a model's activations into an .npz file that `dse profile` reads.

`capture_activations(model, inputs, path)` runs `model` once on `inputs` with a forward hook on
every module whose name the profiler maps to a GEMM operand (`workloads.profiles`): the input
of each linear layer (q/k/v/o_proj, gate/up/down_proj, fc1/fc2, lm_head, ...) is saved as
`<module>.input`, and the outputs of q_proj / k_proj / v_proj (the queries, keys and values the
attention GEMMs read) and of DeepSeek's kv_a_layernorm (the latent its KV cache holds) as
`<module>.output`. Each is flattened to rows of its last dimension and
at most `max_rows` rows are kept per name (the first ones seen), so the file stays small.

It works with PyTorch modules (anything with `named_modules()` and `register_forward_hook`);
PyTorch itself is not a dependency of this project: tensors are converted with `.detach()`,
`.float()`, `.cpu()` and `.numpy()` when they have them, and the forward pass runs under
`torch.no_grad()` when torch is importable.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from dse.errors import UserError
from dse.files import write_atomic
from workloads.profiles import classify_tensor

#: Rows kept per captured tensor name (a few thousand rows fit nu and sigma well; the profiler
#: subsamples beyond its own `--max-values` anyway).
MAX_ROWS = 4096


def _array(value: Any) -> np.ndarray | None:
    """A tensor-like value as a float32 numpy array of rows (None for non-tensors)."""
    for step in ("detach", "float", "cpu", "numpy"):
        if hasattr(value, step):
            value = getattr(value, step)()
    if not isinstance(value, np.ndarray) or value.ndim == 0:
        return None
    return value.astype(np.float32, copy=False).reshape(-1, value.shape[-1])


def _forward(model: Any, inputs: Any) -> None:
    try:
        import torch

        guard: contextlib.AbstractContextManager = torch.no_grad()
    except ImportError:
        guard = contextlib.nullcontext()
    with guard:
        if callable(inputs) and not hasattr(inputs, "shape"):
            inputs(model)
        elif isinstance(inputs, Mapping):
            model(**inputs)
        else:
            model(inputs)


def capture_activations(
    model: Any,
    inputs: Any,
    path: str | Path,
    max_rows: int = MAX_ROWS,
) -> dict[str, tuple[int, ...]]:
    """Run `model` on `inputs` (a tensor, a mapping of keyword arguments, or a function called
    with the model) and write the captured activations to the .npz `path`; returns each saved
    name with its shape (rows, features)."""
    if not hasattr(model, "named_modules"):
        raise UserError("capture_activations needs a module with named_modules() (PyTorch)")
    if max_rows < 1:
        raise UserError(f"max_rows must be >= 1, got {max_rows!r}")
    captured: dict[str, list[np.ndarray]] = {}

    def keep(name: str, value: Any) -> None:
        rows = _array(value)
        if rows is None:
            return
        parts = captured.setdefault(name, [])
        have = sum(len(p) for p in parts)
        if have < max_rows:
            parts.append(rows[: max_rows - have].copy())

    def hook_for(name: str, inputs_too: bool, outputs_too: bool) -> Callable:
        def hook(module: Any, args: tuple, output: Any) -> None:
            if inputs_too and args:
                keep(f"{name}.input", args[0])
            if outputs_too:
                keep(f"{name}.output", output)

        return hook

    handles = []
    try:
        for name, module in model.named_modules():
            inputs_too = classify_tensor(f"{name}.input") is not None
            outputs_too = classify_tensor(f"{name}.output") is not None
            if name and (inputs_too or outputs_too):
                handles.append(module.register_forward_hook(hook_for(name, inputs_too,
                                                                     outputs_too)))
        if not handles:
            raise UserError("no module of this model has a name the profiler knows "
                            "(q_proj, o_proj, up_proj, down_proj, fc1, lm_head, ...)")
        _forward(model, inputs)
    finally:
        for h in handles:
            h.remove()
    arrays = {name: np.concatenate(parts) for name, parts in captured.items() if parts}
    if not arrays:
        raise UserError("the forward pass called none of the hooked modules")
    def save(target: Path) -> None:
        with open(target, "wb") as fh:  # a file object: savez would append ".npz" to a name
            np.savez(fh, **arrays)

    write_atomic(Path(path), save)
    return {name: a.shape for name, a in arrays.items()}
