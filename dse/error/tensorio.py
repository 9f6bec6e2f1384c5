"""Read tensors from .npy, .npz and .safetensors files (no framework needed).

safetensors layout (huggingface/safetensors, docs "Format"): an 8-byte little-endian header
length N, N bytes of JSON mapping each tensor name to {"dtype", "shape", "data_offsets":
[begin, end]} (offsets relative to the byte after the header; an optional "__metadata__" entry),
then the raw little-endian data. BF16 is decoded exactly by widening to float32 (its 16 bits are
the top half of a float32).
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from dse.errors import UserError

#: safetensors dtype codes -> numpy little-endian dtypes ("BF16" is decoded separately).
SAFETENSORS_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2",
    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
    "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?",
}  # fmt: skip
SUFFIXES = (".npy", ".npz", ".safetensors")


def bf16_to_float32(raw: np.ndarray) -> np.ndarray:
    """Exact float32 values of bf16 bit patterns given as uint16."""
    return (raw.astype(np.uint32) << 16).view(np.float32)


def read_tensors(path: str | Path) -> Iterator[tuple[str, np.ndarray, str]]:
    """(name, values, dtype name) for every tensor in `path`; UserError naming the file when it
    is unreadable, corrupt or of an unsupported type."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise UserError(
            f"{path}: unsupported file type {suffix or '(none)'!r}; valid: {', '.join(SUFFIXES)}"
        )
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        if suffix == ".safetensors":
            yield from _safetensors(path)
        elif suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
            yield path.stem, arr, str(arr.dtype)
        else:
            with np.load(path, allow_pickle=False) as z:
                for key in z.files:
                    arr = z[key]
                    yield key, arr, str(arr.dtype)
    except UserError:
        raise
    except (ValueError, OSError, EOFError, KeyError) as exc:
        raise UserError(f"{path}: cannot read as {suffix[1:]}: {exc}") from None


def _safetensors(path: Path) -> Iterator[tuple[str, np.ndarray, str]]:
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise UserError(f"{path}: not a safetensors file (shorter than its 8-byte header)")
        (n,) = struct.unpack("<Q", head)
        if n > size - 8:
            raise UserError(f"{path}: corrupt safetensors header length {n} (file has {size} B)")
        try:
            header = json.loads(fh.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserError(f"{path}: corrupt safetensors header: {exc}") from None
    if not isinstance(header, dict):
        raise UserError(f"{path}: corrupt safetensors header (not a JSON object)")
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n) if size > 8 + n else None
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            code, shape = info["dtype"], [int(d) for d in info["shape"]]
            begin, end = (int(o) for o in info["data_offsets"])
        except (TypeError, KeyError, ValueError):
            raise UserError(f"{path}: corrupt safetensors entry for {name!r}") from None
        if code not in SAFETENSORS_DTYPES:
            raise UserError(
                f"{path}: tensor {name!r} has unsupported dtype {code}; valid: "
                + ", ".join(SAFETENSORS_DTYPES)
            )
        dt = np.dtype(SAFETENSORS_DTYPES[code])
        count = math.prod(shape)
        if (
            end - begin != count * dt.itemsize
            or begin < 0
            or end > size - 8 - n
            or (count and data is None)
        ):
            raise UserError(
                f"{path}: tensor {name!r}: data offsets {begin}..{end} do not match "
                f"its shape {shape} and dtype {code} within the file"
            )
        raw = np.empty(0, dt)
        if count and data is not None:  # (a count without data is refused above)
            raw = np.frombuffer(data[begin:end], dtype=dt)
        arr = bf16_to_float32(raw) if code == "BF16" else raw
        yield name, arr.reshape(shape), code.lower()
