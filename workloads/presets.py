"""Preset models: HuggingFace config.json files shipped in `workloads/presets/` (package data,
read with `importlib.resources`).

Each preset file holds the fields of the released checkpoint's `config.json`
(`_name_or_path` names the checkpoint); the preset id is the file name without `.json`, and
the checkpoint's HuggingFace id names the preset too.
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
    """The HuggingFace config fields of a preset (case-insensitive id, or the HuggingFace id
    of its checkpoint)."""
    return json.loads((PRESETS / f"{_preset_id(name)}.json").read_text())


@cache
def load_preset(name: str) -> ModelSpec:
    """The ModelSpec of a preset (case-insensitive id, or the HuggingFace id of its
    checkpoint, e.g. zai-org/GLM-4.5); unknown ids list close matches."""
    return spec_from_hf_config(preset_config(name), _preset_id(name))


def _preset_id(name: str) -> str:
    key = name.strip().lower()
    if key in preset_names():
        return key
    ids = _checkpoint_ids()
    by_lower = {c.lower(): preset for c, preset in ids.items()}
    if key in by_lower:
        return by_lower[key]
    raise unknown("model", name, preset_names(), aliases=ids)


@cache
def _checkpoint_ids() -> dict[str, str]:
    """HuggingFace checkpoint id -> preset id: each preset's `_name_or_path` where it names a
    checkpoint (owner/name)."""
    ids = {}
    for name in preset_names():
        source = str(json.loads((PRESETS / f"{name}.json").read_text()).get("_name_or_path", ""))
        if "/" in source and " " not in source:
            ids[source] = name
    return ids


def load_model(model: str | Path) -> ModelSpec:
    """A preset id, or a path to a HuggingFace `config.json` (or a directory holding one)."""
    path = Path(model)
    if path.suffix == ".json" or path.is_dir() or path.exists():
        return load_hf_config(path)
    return load_preset(str(model))
