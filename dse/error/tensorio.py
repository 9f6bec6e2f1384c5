"""Read tensors from .npy, .npz and .safetensors files (no framework needed).

safetensors layout (huggingface/safetensors, docs "Format"): an 8-byte little-endian header
length N, N bytes of JSON mapping each tensor name to {"dtype", "shape", "data_offsets":
[begin, end]} (offsets relative to the byte after the header; an optional "__metadata__" entry),
then the raw little-endian data. BF16 is decoded exactly by widening to float32 (its 16 bits are
the top half of a float32); F8_E4M3 (OCP E4M3: bias 7, no infinities, S.1111.111 is NaN) and
F8_E5M2 (IEEE-like: bias 15, infinities and NaNs in the top binade) through a table of their
256 codes (OCP 8-bit floating point specification, 2023).

An FP8 weight stored with its scales is returned dequantized, as the checkpoint's kernels use
it: `<name>_scale_inv` (HuggingFace fine-grained FP8, e.g. DeepSeek-V3: one scale per 128 x 128
block) or `<name>_scale` (compressed-tensors: per tensor, channel or group) multiplies it,
each scale spread over its block; the scale tensors themselves are not returned. An MXFP4
weight stored packed, as gpt-oss ships its experts, is returned decoded as one tensor
`<name>`: `<name>_blocks` (or the original checkpoint's `<name>.blocks`), U8 of shape
(..., groups, B) holding two E2M1 codes per byte, value 2j of a group in the low nibble of
byte j and 2j + 1 in the high one, beside `<name>_scales` (`.scales`), U8 (..., groups), each
an E8M0 power of two 2^(code - 127) (code 255 is NaN) for its group of 2B values (OCP
Microscaling Formats specification v1.0, 2023; the layout as openai/gpt-oss's checkpoint
reader decodes it, gpt_oss/torch/weights.py): shape (..., groups x 2B), in float16 when that
holds every value exactly (`FLOAT16_EXACT`).
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
    "F8_E4M3": "u1", "F8_E5M2": "u1",
}  # fmt: skip
#: Companions that scale an FP8 tensor `<name>` (see the module docstring).
SCALE_SUFFIXES = ("_scale_inv", "_scale")
#: (codes, scales) suffixes of a packed MXFP4 tensor `<name>`: HuggingFace's and the original
#: gpt-oss checkpoint's (see the module docstring).
PACKED_SUFFIXES = (("_blocks", "_scales"), (".blocks", ".scales"))


def float_table(exp_bits: int, man_bits: int, nonfinite: str) -> np.ndarray:
    """float32 value of each code of a sign-exponent-mantissa float with the given fields
    (bias 2^(exp_bits-1) - 1, the sign the top bit); `nonfinite`: "ieee" (infinities and NaNs
    fill the top binade, E5M2), "nan" (only the all-ones code is NaN, OCP E4M3) or "none"
    (every code finite, OCP E2M1)."""
    codes = np.arange(2 ** (1 + exp_bits + man_bits))
    e = (codes >> man_bits) & ((1 << exp_bits) - 1)
    m = (codes & ((1 << man_bits) - 1)) / 2.0**man_bits
    bias = 2 ** (exp_bits - 1) - 1
    value = np.where(e == 0, m * 2.0 ** (1 - bias), (1 + m) * 2.0 ** (e - bias))
    top = e == (1 << exp_bits) - 1
    if nonfinite == "ieee":
        value = np.where(top, np.where(m == 0, np.inf, np.nan), value)
    elif nonfinite == "nan":
        value = np.where(top & (m == 1 - 2.0**-man_bits), np.nan, value)
    return (np.where(codes >> (exp_bits + man_bits), -1.0, 1.0) * value).astype(np.float32)


_FLOAT8 = {"F8_E4M3": float_table(4, 3, "nan"), "F8_E5M2": float_table(5, 2, "ieee")}
_E2M1 = float_table(2, 1, "none")
#: E8M0 scale codes as float32 powers of two (2^-127 is a float32 subnormal), 255 NaN.
_E8M0 = np.append(np.ldexp(np.float32(1.0), np.arange(-127, 128)), np.float32(np.nan))
SUFFIXES = (".npy", ".npz", ".safetensors")


def bf16_to_float32(raw: np.ndarray) -> np.ndarray:
    """Exact float32 values of bf16 bit patterns given as uint16."""
    return (raw.astype(np.uint32) << 16).view(np.float32)


#: The first bytes of an .npy file (NumPy's format specification) and of a zip archive (.npz).
_NPY_MAGIC, _ZIP_MAGIC = b"\x93NUMPY", b"PK"


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
        if suffix != ".safetensors":
            with path.open("rb") as fh:
                head = fh.read(6)
            if not head.startswith((_NPY_MAGIC, _ZIP_MAGIC)):  # np.load would try a pickle
                raise UserError(
                    f"{path}: not a NumPy {suffix[1:]} file (it starts with neither the .npy "
                    "header nor a zip archive's, as np.save and np.savez write)"
                )
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
    entries: dict[str, tuple[str, list[int], int, int]] = {}
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
        entries[name] = (code, shape, begin, end)

    def decode(name: str) -> np.ndarray:
        code, shape, begin, end = entries[name]
        raw = np.empty(0, SAFETENSORS_DTYPES[code])
        if math.prod(shape) and data is not None:  # (a count without data is refused above)
            raw = np.frombuffer(data[begin:end], dtype=SAFETENSORS_DTYPES[code])
        if code in _FLOAT8:
            return _FLOAT8[code][raw].reshape(shape)
        return (bf16_to_float32(raw) if code == "BF16" else raw).reshape(shape)

    fp8 = [n for n, (code, *_) in entries.items() if code in _FLOAT8]
    scale_of = {n: n + s for n in fp8 for s in reversed(SCALE_SUFFIXES) if n + s in entries}
    packed = _packed_pairs(path, entries)
    companions = {*scale_of.values(), *(s for _, s in packed.values())}
    for name, (code, shape, _, _) in entries.items():
        if name in companions:
            continue
        if name in packed:
            stem, scales = packed[name]
            yield stem, _mxfp4(decode(name), decode(scales)), "mxfp4"
            continue
        arr = decode(name)
        if name in scale_of:
            arr = arr * _spread(path, name, decode(scale_of[name]), tuple(shape))
        yield name, arr, code.lower()


def _packed_pairs(path: Path, entries: dict) -> dict[str, tuple[str, str]]:
    """{codes tensor: (the MXFP4 tensor's name, its scales tensor)} for each U8 pair named by
    PACKED_SUFFIXES; a pair whose shapes do not fit is a UserError naming both."""
    pairs = {}
    for name, (code, shape, _, _) in entries.items():
        for blocks, scales in PACKED_SUFFIXES:
            stem = name[: -len(blocks)]
            other = entries.get(stem + scales)
            if not name.endswith(blocks) or code != "U8" or other is None or other[0] != "U8":
                continue
            if len(shape) < 2 or list(other[1]) != list(shape[:-1]):
                raise UserError(
                    f"{path}: MXFP4 codes {name!r} of shape {tuple(shape)} need scales of "
                    f"shape {tuple(shape[:-1])}, but {stem + scales!r} has {tuple(other[1])}"
                )
            pairs[name] = (stem, stem + scales)
    return pairs


#: E8M0 codes whose every E2M1 multiple is exact in float16: 0.5 x 2^-23 is float16's smallest
#: subnormal times 2 (1.5 x 2^-23 = 3 x 2^-24 still exact), 6 x 2^13 = 49152 <= 65504.
FLOAT16_EXACT = (127 - 23, 127 + 13)


def _mxfp4(codes: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """The values of packed MXFP4 codes (..., groups, B) with their E8M0 scales (..., groups):
    (..., groups x 2B), in float16 where every scale keeps them exact there (FLOAT16_EXACT;
    half the memory of float32, which holds the others)."""
    finite = scales[scales != 255]
    exact = finite.size == 0 or FLOAT16_EXACT[0] <= finite.min() <= finite.max() <= FLOAT16_EXACT[1]
    dtype = np.float16 if exact else np.float32
    values = np.empty((*codes.shape[:-1], 2 * codes.shape[-1]), dtype=dtype)
    values[..., 0::2] = _E2M1[codes & 0x0F]
    values[..., 1::2] = _E2M1[codes >> 4]
    values *= _E8M0[scales][..., None]
    return values.reshape(*codes.shape[:-2], -1)


def _block(size: int, parts: int) -> int:
    """Values per scale along an axis of `size` cut in `parts` blocks: the smallest power of two
    that gives `parts` blocks (the file does not say; 128 for DeepSeek-V3's 128 x 128 blocks,
    the group size for compressed-tensors groups), else an even cut."""
    b = 1
    while -(-size // b) > parts:
        b *= 2
    return b if -(-size // b) == parts else -(-size // parts)


def _spread(path: Path, name: str, scale: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """`scale` repeated over the blocks of a tensor of `shape` it scales (a scalar, one per
    row, or one per block of rows x columns, block sizes by `_block`; partial blocks at the
    ends)."""
    scale = np.asarray(scale, dtype=np.float32)
    if scale.size == 1 or len(shape) != 2:
        return scale.reshape(()) if scale.size == 1 else scale
    s = scale.reshape(scale.shape[0], -1) if scale.ndim != 2 else scale
    rows, cols = shape
    if s.shape[0] > rows or s.shape[1] > cols:
        raise UserError(f"{path}: the scales of {name!r} ({s.shape}) do not fit its {shape}")
    block = (_block(rows, s.shape[0]), _block(cols, s.shape[1]))
    return np.repeat(np.repeat(s, block[0], axis=0), block[1], axis=1)[:rows, :cols]
