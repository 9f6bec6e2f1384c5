"""A HuggingFace `config.json`'s `quantization_config` as this library's format names.

`formats_from_hf(config)` returns the (weight format, activation format) a checkpoint was
quantized to, for the quantization methods below (the keys are those of the transformers
`*Config` classes and of compressed-tensors' `QuantizationArgs`):

* ``compressed-tensors``: the first config group's `weights` / `input_activations` arguments
  (num_bits, type int|float, strategy tensor|channel|group|block|token|tensor_group,
  group_size, block_structure, symmetric, scale_dtype); no activation arguments = 16 bits;
* ``fp8`` (transformers' FineGrainedFP8Config, e.g. DeepSeek-V3): E4M3 weights in
  `weight_block_size` tiles, dynamic activations in groups of the block's column count;
* ``mxfp4`` (e.g. gpt-oss): MXFP4 weights, 16-bit activations;
* ``gptq`` / ``awq``: `bits`-bit integer weights in groups of `group_size` (-1: one scale per
  channel), asymmetric unless `sym` is true (GPTQ) / `zero_point` is false (AWQ);
* ``bitsandbytes``: 4-bit NF4 (`bnb_4bit_quant_type: nf4`) or FP4 weights in blocks of 64
  (bitsandbytes' block size; its FP4 is taken as OCP E2M1, an approximation), or 8-bit
  LLM.int8 weights as per-channel INT8 (its fp16 outlier columns are not modelled, an
  approximation).

"16 bits" is bf16. Anything else is a UserError naming what is supported.
`unquantized_modules(config)` lists the module-name patterns the config leaves in 16 bits:
`modules_to_not_convert` (mxfp4, fp8, awq; e.g. gpt-oss keeps its attention, router,
embeddings and lm_head in BF16), compressed-tensors' `ignore` (names, or "re:" regular
expressions) and bitsandbytes' `llm_int8_skip_modules`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dse.errors import UserError, unknown

SIXTEEN = "bf16"
#: bitsandbytes' 4-bit quantization block (bitsandbytes, functional.quantize_4bit blocksize=64).
BNB_BLOCK = 64


def _int_name(bits: int, symmetric: bool) -> str:
    return f"int{bits}" + ("" if symmetric else "-asym")


def _ct_args(args: Mapping[str, Any] | None, where: str) -> str:
    """One compressed-tensors `QuantizationArgs` as a format name."""
    if not args:
        return SIXTEEN
    bits, kind = int(args.get("num_bits", 8)), str(args.get("type", "int"))
    strategy = str(args.get("strategy", "tensor"))
    group = args.get("group_size")
    scale_dtype = str(args.get("scale_dtype") or "")
    if kind == "float" and bits == 4 and strategy == "tensor_group" and group == 16:
        return "nvfp4"
    if kind == "float" and strategy == "group" and group == 32 and "uint8" in scale_dtype:
        return {4: "mxfp4", 8: "mxfp8e4m3"}.get(bits) or _unsupported(where, args)
    if kind == "float":
        element = {8: "e4m3", 4: "e2m1"}.get(bits) or _unsupported(where, args)
    elif kind == "int":
        element = _int_name(bits, bool(args.get("symmetric", True)))
    else:
        raise unknown(f"{where}.type", kind, ("int", "float"))
    if strategy == "tensor":
        return element
    if strategy in ("channel", "token"):
        return f"{element}/ch"
    if strategy == "group" and group:
        return f"{element}/g{int(group)}"
    if strategy == "block" and args.get("block_structure"):
        rows, cols = (int(v) for v in args["block_structure"])
        return f"{element}/{rows}x{cols}"
    return _unsupported(where, args)


def _unsupported(where: str, args: Mapping[str, Any]) -> str:
    raise UserError(f"{where}: no format of this library matches {dict(args)}")


def _compressed_tensors(q: Mapping[str, Any]) -> tuple[str, str]:
    groups = q.get("config_groups") or {}
    if not groups:
        raise UserError("quantization_config.config_groups: empty; nothing to import")
    name, group = next(iter(groups.items()))
    where = f"quantization_config.config_groups.{name}"
    return (_ct_args(group.get("weights"), f"{where}.weights"),
            _ct_args(group.get("input_activations"), f"{where}.input_activations"))  # fmt: skip


def _fp8(q: Mapping[str, Any]) -> tuple[str, str]:
    block = q.get("weight_block_size")
    if not block:
        return "e4m3/ch", "e4m3/ch"
    rows, cols = (int(v) for v in block)
    return f"e4m3/{rows}x{cols}", f"e4m3/g{cols}"


def _int_weights(q: Mapping[str, Any], symmetric: bool) -> tuple[str, str]:
    bits, group = int(q.get("bits", 4)), int(q.get("group_size", 128))
    element = _int_name(bits, symmetric)
    return (f"{element}/ch" if group == -1 else f"{element}/g{group}"), SIXTEEN


def _bitsandbytes(q: Mapping[str, Any]) -> tuple[str, str]:
    if q.get("load_in_4bit"):
        kind = str(q.get("bnb_4bit_quant_type", "fp4"))
        element = {"nf4": "nf4", "fp4": "e2m1"}.get(kind)
        if element is None:
            raise unknown("quantization_config.bnb_4bit_quant_type", kind, ("nf4", "fp4"))
        return f"{element}/g{BNB_BLOCK}", SIXTEEN
    if q.get("load_in_8bit"):
        return "int8/ch", SIXTEEN
    raise UserError("quantization_config: bitsandbytes without load_in_4bit or load_in_8bit")


_METHODS = {
    "compressed-tensors": _compressed_tensors,
    "fp8": _fp8,
    "mxfp4": lambda q: ("mxfp4", SIXTEEN),
    "gptq": lambda q: _int_weights(q, bool(q.get("sym", True))),
    "awq": lambda q: _int_weights(q, not q.get("zero_point", True)),
    "bitsandbytes": _bitsandbytes,
}


#: Where each method lists the modules it leaves in 16 bits.
_SKIP_KEYS = ("modules_to_not_convert", "ignore", "llm_int8_skip_modules")


def unquantized_modules(config: Mapping[str, Any] | str | Path) -> list[str]:
    """The module-name patterns a HuggingFace config's `quantization_config` leaves in 16 bits
    (module docstring), as written there."""
    q = _quantization_config(config)
    return [str(p) for key in _SKIP_KEYS for p in (q.get(key) or ())]


def formats_from_hf(config: Mapping[str, Any] | str | Path) -> tuple[str, str]:
    """(weight format, activation format) of a HuggingFace config (a dict or a config.json
    path) from its `quantization_config`."""
    q = _quantization_config(config)
    method = str(q.get("quant_method", ""))
    if method not in _METHODS:
        raise unknown("quantization_config.quant_method", method, _METHODS)
    return _METHODS[method](q)


def _quantization_config(config: Mapping[str, Any] | str | Path) -> Mapping[str, Any]:
    if not isinstance(config, Mapping):
        path = Path(config)
        try:
            config = json.loads(path.read_text())
        except OSError as exc:
            raise UserError(f"cannot read {str(path)!r}: {exc.strerror}") from None
        except ValueError as exc:
            raise UserError(f"{str(path)!r} is not JSON: {exc}") from None
    if not isinstance(config, Mapping):
        raise UserError("a HuggingFace config is a JSON object")
    q = config.get("quantization_config")
    if not isinstance(q, Mapping):
        raise UserError("the config has no quantization_config: the model is not quantized "
                        "(its weights are in their 16-bit dtype)")  # fmt: skip
    return q
