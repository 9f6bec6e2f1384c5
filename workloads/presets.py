"""Preset models: HuggingFace config.json files shipped in `workloads/presets/` (package data,
read with `importlib.resources`).

Each preset file holds the fields of the released checkpoint's `config.json`
(`_name_or_path` names the checkpoint); the preset id is the file name without `.json`.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from pathlib import Path

from dse.errors import stems, unknown
from workloads.hf import load_hf_config, spec_from_hf_config
from workloads.spec import ModelSpec

#: The shipped presets (a `Traversable`: works from a wheel or a zip too).
PRESETS = files("workloads") / "presets"


def preset_names() -> list[str]:
    """Ids of the shipped presets, sorted (e.g. 'llama-2-7b', 'opt-1.3b', 'tiny')."""
    return stems(PRESETS, ".json")


def preset_config(name: str) -> dict:
    """The HuggingFace config fields of a preset (case-insensitive id)."""
    key = name.strip().lower()
    if key not in preset_names():
        raise unknown("model", name, preset_names())
    return json.loads((PRESETS / f"{key}.json").read_text())


@cache
def load_preset(name: str) -> ModelSpec:
    """The ModelSpec of a preset (case-insensitive id); unknown ids list close matches."""
    return spec_from_hf_config(preset_config(name), name.strip().lower())


def load_model(model: str | Path) -> ModelSpec:
    """A preset id, or a path to a HuggingFace `config.json` (or a directory holding one)."""
    path = Path(model)
    if path.suffix == ".json" or path.is_dir() or path.exists():
        return load_hf_config(path)
    return load_preset(str(model))
