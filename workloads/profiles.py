"""Per-class statistics from `dse profile` output, in the override schema of `stats`.

The profiler writes YAML (or the same as JSON) of the shape

    tensors:
      model.layers.0.self_attn.q_proj.weight:
        n_values: 1048576
        pooled: {nu: 5.1, sigma: 0.021, ks: 0.004, ks_normal: 0.03}
        within_group: {nu: 7.0, sigma: 1.0, group: row, scale_spread_log2: 0.35}

A tensor name maps to (operand, class) by HuggingFace module names: the component before
the last names the module (q_proj, k_proj, v_proj, qkv_proj, query_key_value, wq, wk, wv ->
qkv; o_proj, out_proj, dense, wo -> o; gate_proj, up_proj, gate_up_proj, fc1, dense_h_to_4h,
w1, w3 -> gate_up; down_proj, fc2, dense_4h_to_h, w2 -> down; lm_head -> lm_head; w1/w2/w3 and
wq..wo as in Mixtral's experts and Meta's original checkpoints), with its parents where they
tell modules of one name apart (BERT's family: self.query, self.key, self.value -> qkv;
attention.output.dense -> o; intermediate.dense -> gate_up; any other output.dense -> down;
T5's DenseReluDense.wi, .wi_0, .wi_1 -> gate_up and DenseReluDense.wo -> down; gpt-oss's
original attn.qkv -> qkv, attn.out -> o, unembedding -> lm_head; BERT's pooler.dense, a task
head, has none; nor have a multimodal checkpoint's vision encoder and projector,
`_VISION`), and the last component the operand (a mixture's experts stacked in one
tensor, `experts.gate_up_proj` / `experts.down_proj` as gpt-oss stores them in transformers'
layout and `mlp.mlp1_weight` / `mlp.mlp2_weight` in its original one, are weights of their
class):
`weight` -> weight, `input` -> the module's input activation, `output` of q_proj / wq /
self.query -> the queries (activation of attn_score), of k_proj / v_proj (wk / wv,
self.key / self.value) -> the keys / values
(kv_cache of attn_score / attn_context), of DeepSeek's kv_a_layernorm -> the cached latent
(kv_cache of both). Every other name is returned in `unmatched`, not dropped silently.

Aggregation per (operand, class): nu, nu_within and scale_spread_log2 are medians over the
tensors (robust to a few odd layers); sigma is the RMS of the tensors' sigmas weighted by
their `n_values`, i.e. the scale of all the values pooled. When every tensor of a class
carries the measured block-maximum laws of `dse profile`, the records themselves are kept
(`ProfileStats.tensors`): a sweep then predicts a block- or channel-scaled format's error,
and a per-block choice's where the law carries it, on that class tensor by tensor
(`dse.error.profile.error_for_tensors`) instead of from the medians.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import math
import re
from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dse.errors import UserError, load_yaml, read_text

_MODULE_CLASS: dict[str, str | None] = {
    "q_proj": "qkv", "k_proj": "qkv", "v_proj": "qkv", "qkv_proj": "qkv",
    "query_key_value": "qkv", "wq": "qkv", "wk": "qkv", "wv": "qkv",
    # DeepSeek's latent attention: the down- and up-projections of queries, keys and values
    "q_a_proj": "qkv", "q_b_proj": "qkv", "kv_a_proj_with_mqa": "qkv", "kv_b_proj": "qkv",
    "indexer.wk": None,  # DeepSeek-V3.2's indexer: it only selects tokens (not Meta's wk)
    "o_proj": "o", "out_proj": "o", "dense": "o", "wo": "o",
    "gate_proj": "gate_up", "up_proj": "gate_up", "gate_up_proj": "gate_up", "fc1": "gate_up",
    "dense_h_to_4h": "gate_up",
    "w1": "gate_up", "w3": "gate_up",  # Mixtral's experts and Meta's checkpoints: gate, up
    "down_proj": "down", "fc2": "down", "dense_4h_to_h": "down", "w2": "down",
    "lm_head": "lm_head",
    # BERT's family (BERT, RoBERTa, ViT): modules named by their parents too
    "self.query": "qkv", "self.key": "qkv", "self.value": "qkv",
    "attention.output.dense": "o", "intermediate.dense": "gate_up", "output.dense": "down",
    # T5's feed-forward (wi, or gated wi_0 / wi_1, then wo): not the attention's wo
    "DenseReluDense.wi": "gate_up", "DenseReluDense.wi_0": "gate_up",
    "DenseReluDense.wi_1": "gate_up", "DenseReluDense.wo": "down",
    "pooler.dense": None,  # BERT's [CLS] pooler: a task head, not one of the layers' GEMMs
    # gpt-oss's original checkpoint (openai/gpt-oss, gpt_oss/torch/model.py)
    "attn.qkv": "qkv", "attn.out": "o", "unembedding": "lm_head",
}
#: Components naming a multimodal checkpoint's vision encoder or projector (transformers'
#: Gemma 3, LLaVA, Qwen2-VL): their linear layers are no GEMM of the language model.
_VISION = frozenset({"vision_tower", "vision_model", "visual", "multi_modal_projector"})
#: Every expert's weights in one tensor, named by module and parameter (no `.weight`): the
#: transformers layout of gpt-oss and its original checkpoint's.
_STACKED = {"experts.gate_up_proj": "gate_up", "experts.down_proj": "down",
            "mlp.mlp1_weight": "gate_up", "mlp.mlp2_weight": "down"}  # fmt: skip
_QUERIES = ("activation", "attn_score")
_KEYS = ("kv_cache", "attn_score")
_VALUES = ("kv_cache", "attn_context")
#: The operands a module's output is, by module name.
_OUTPUTS = {
    "q_proj": (_QUERIES,), "wq": (_QUERIES,), "self.query": (_QUERIES,),
    "k_proj": (_KEYS,), "wk": (_KEYS,), "self.key": (_KEYS,),
    "v_proj": (_VALUES,), "wv": (_VALUES,), "self.value": (_VALUES,),
    # DeepSeek's latent attention caches the normalised latent, which decode reads as the keys
    # of attn_score and the values of attn_context (`workloads.gemms`); the 64-element rotary
    # key beside it in the cache (kv_a_proj_with_mqa's output, rotated) is taken as alike
    "kv_a_layernorm": (_KEYS, _VALUES),
}


@dataclass(frozen=True)
class ProfileStats:
    """`overrides`: {operand: {class: fields}} for `stats.apply_overrides`; `unmatched`: the
    tensor names that map to no GEMM operand (embeddings, norms, biases, unknown modules);
    `tensors`: {(operand, class): the records of its tensors that carry measured block-maximum
    laws (`dse.error.empirical_max`), checked}, for per-tensor predictions."""

    overrides: dict
    unmatched: tuple[str, ...]
    tensors: dict = dataclasses.field(default_factory=dict)


def classify_tensor(name: str) -> tuple[str, str] | None:
    """(operand, tensor class) of a HuggingFace tensor name, or None when it has none (the
    first, for a tensor that is more than one operand: `tensor_classes`)."""
    return next(iter(tensor_classes(name)), None)


def tensor_classes(name: str) -> tuple[tuple[str, str], ...]:
    """Every (operand, tensor class) a HuggingFace tensor name is (DeepSeek's cached latent is
    the KV cache of both attention GEMMs); () when it is none."""
    parts = name.split(".")
    if len(parts) < 2 or not _VISION.isdisjoint(parts):
        return ()
    operand = parts[-1]
    if ".".join(parts[-2:]) in _STACKED:
        return (("weight", _STACKED[".".join(parts[-2:])]),)
    # the module by its longest known name with parents (attention.output.dense before dense)
    module = next((m for m in (".".join(parts[-1 - k:-1]) for k in (3, 2, 1))
                   if m in _MODULE_CLASS), parts[-2])  # fmt: skip
    cls = _MODULE_CLASS.get(module)
    if cls is not None and operand in ("weight", "input"):
        return ((("weight" if operand == "weight" else "activation"), cls),)
    if operand == "output":
        return _OUTPUTS.get(module, ())
    return ()


#: A HuggingFace module of each linear class, and of a mixture's stacked experts (gpt-oss):
#: what `classes_of_modules` matches patterns against.
_CLASS_MODULES = {
    "qkv": ("model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.k_proj",
            "model.layers.0.self_attn.v_proj"),
    "o": ("model.layers.0.self_attn.o_proj",),
    "gate_up": ("model.layers.0.mlp.gate_proj", "model.layers.0.mlp.up_proj",
                "model.layers.0.mlp.experts.gate_up_proj"),
    "down": ("model.layers.0.mlp.down_proj", "model.layers.0.mlp.experts.down_proj"),
    "lm_head": ("lm_head",),
}  # fmt: skip


def classes_of_modules(patterns: list[str]) -> list[str]:
    """The linear classes (in CLASSES order) some module of which `patterns` name: a pattern
    "re:<expression>" matches a module name from its start (compressed-tensors), any other is
    a glob matching the name or a run of its components (transformers' skip lists name a
    module, e.g. "lm_head", or a parent, e.g. "model.layers.*.self_attn")."""

    def named(pattern: str, module: str) -> bool:
        if pattern.startswith("re:"):
            return re.match(pattern[3:], module) is not None
        parts = module.split(".")
        return any(fnmatch.fnmatchcase(".".join(parts[i:j]), pattern)
                   for i in range(len(parts)) for j in range(i + 1, len(parts) + 1))  # fmt: skip

    return [cls for cls, modules in _CLASS_MODULES.items()
            if any(named(p, m) for p in patterns for m in modules)]  # fmt: skip


def load_profile_stats(path: str | Path,
                       stated: Mapping[tuple[str, str], Collection[str]] | None = None,
                       ) -> ProfileStats:  # fmt: skip
    """Aggregate a `dse profile` file (YAML, or JSON if it ends in .json) per (operand,
    class); see the module doc.
    `stated`: the fields a sweep states itself per (operand, class), left out of the
    aggregates. A class whose median nu or nu_within is <= 2 (a t without variance: no NMSE)
    is a UserError naming its tensors, unless the sweep states that field."""
    tensors = _read_tensors(Path(path))
    groups: dict[tuple[str, str], list[tuple[str, Mapping]]] = defaultdict(list)
    unmatched = []
    for name, entry in tensors.items():
        keys = tensor_classes(str(name))
        if not keys:
            unmatched.append(str(name))
        for key in keys:
            groups[key].append((str(name), entry))
    if not groups:
        example = f" (its tensors are named like {unmatched[0]!r})" if unmatched else ""
        raise UserError(
            f"profile {str(path)!r} matches no GEMM operand of the model{example}: expected "
            "HuggingFace module names such as model.layers.0.self_attn.q_proj.weight or "
            "model.layers.0.mlp.down_proj.input"
        )
    overrides: dict[str, dict] = defaultdict(dict)
    laws: dict[tuple[str, str], tuple[Mapping, ...]] = {}
    for (operand, cls), entries in sorted(groups.items()):
        own = set((stated or {}).get((operand, cls), ()))
        aggregate = {k: v for k, v in _aggregate(entries, f"dse profile {path}").items()
                     if k not in own}  # fmt: skip
        _check_variance(aggregate, entries, f"{operand}.{cls}", path)
        overrides[operand][cls] = aggregate
        with_laws = [e for name, e in entries if _has_laws(e, name)]
        if len(with_laws) == len(entries):  # all or nothing: a class is one population
            laws[(operand, cls)] = tuple(with_laws)
    return ProfileStats(dict(overrides), tuple(unmatched), laws)


def _has_laws(entry: Mapping, name: str) -> bool:
    """Whether a tensor record carries measured block-maximum laws (profiles written before
    them do not); a malformed one is a UserError naming the tensor and the key."""
    within = entry.get("within_group")
    if not isinstance(within, Mapping) or "block_max" not in within:
        return False
    where = f"profile tensor {name!r}: within_group"
    shape = entry.get("shape")
    if not (isinstance(shape, list) and shape and all(isinstance(d, int) for d in shape)):
        raise UserError(f"profile tensor {name!r}: shape must be a list of integers, got {shape!r}")
    _as_float(within.get("amax"), f"{name}: within_group.amax")
    if "amax" in entry:  # profiles since 2026.12.05: the tensor's maximum in data units
        _as_float(entry["amax"], f"{name}: amax")
    _number(entry, ("pooled", "nu"), name)
    _number(entry, ("within_group", "nu"), name)
    laws = within["block_max"]
    if not isinstance(laws, Mapping) or not laws:
        raise UserError(f"{where}.block_max must map block sizes to laws, got {laws!r}")
    for block, law in laws.items():
        _pairs(law, ("m", "weight"), f"{where}.block_max.{block}")
        if isinstance(law, Mapping) and "body" in law:  # profiles since 2026.12.04
            _pairs(law, ("m", "body"), f"{where}.block_max.{block}")
        if isinstance(law, Mapping) and "offsets" in law:
            _offsets(law, f"{where}.block_max.{block}")
        for key in ("blocks", "scale_log2"):  # profiles since 2026.12.05 (with scale_dev)
            if isinstance(law, Mapping) and (key in law or "scale_dev" in law):
                _pairs(law, ("m", key), f"{where}.block_max.{block}")
        if isinstance(law, Mapping) and min(law.get("blocks", [0])) < 0:
            raise UserError(f"{where}.block_max.{block}.blocks must not be negative, "
                            f"got {law['blocks']!r}")  # fmt: skip
        if isinstance(law, Mapping) and "scale_dev" in law:
            _scale_parts(law, f"{where}.block_max.{block}")
    if within.get("scale_offsets") is not None:
        _pairs(within["scale_offsets"], ("offset", "weight"), f"{where}.scale_offsets")
    return True


def _offsets(law: Mapping, where: str, key: str = "offsets") -> None:
    """Numbers per group of strata: a list of non-empty lists of numbers (`key`; the offsets
    in [0, 1], any for "scale_dev") and one index into it per stratum (`offset_of`, as long
    as `m`)."""
    groups, of = law.get(key), law.get("offset_of")
    lo, hi = (0.0, 1.0) if key == "offsets" else (-math.inf, math.inf)
    ok = (
        isinstance(groups, list) and len(groups) > 0
        and all(isinstance(g, list) and g and all(_is_number(v) and lo <= v <= hi for v in g)
                for g in groups)
        and isinstance(of, list) and len(of) == len(law["m"])
        and all(_is_number(i) and isinstance(i, int) and 0 <= i < len(groups) for i in of)
    )  # fmt: skip
    if not ok:
        what = "lists of numbers in [0, 1]" if key == "offsets" else "lists of numbers"
        raise UserError(f"{where} must hold {key} ({what}) and offset_of (one index into them "
                        f"per stratum), got {key}={groups!r}, offset_of={of!r}")  # fmt: skip


def _scale_parts(law: Mapping, where: str) -> None:
    """A law's parts of the scales' deviations: numbers per group ("scale_dev", as
    `_offsets`) and as many non-negative shares ("scale_dev_weight")."""
    _offsets(law, where, "scale_dev")
    _offsets(law, where, "scale_dev_weight")
    dev, share = law["scale_dev"], law["scale_dev_weight"]
    if len(dev) != len(share) or any(len(a) != len(b) or min(b) < 0 for a, b in zip(dev, share)):
        raise UserError(f"{where}.scale_dev_weight must give a share (>= 0) for each part "
                        f"of scale_dev, got scale_dev={dev!r}, "
                        f"scale_dev_weight={share!r}")  # fmt: skip


def _is_number(v: object) -> bool:
    """A YAML number (int or float, not a boolean)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _pairs(law: object, keys: tuple[str, str], where: str) -> None:
    """A law: two equally long, non-empty lists of numbers under `keys`."""
    ok = isinstance(law, Mapping) and all(isinstance(law.get(k), list) for k in keys)
    if ok and isinstance(law, Mapping):
        a, b = (law[k] for k in keys)
        ok = len(a) == len(b) > 0 and all(_is_number(v) for v in [*a, *b])
    if not ok:
        raise UserError(f"{where} must hold equally long lists of numbers {keys[0]} and "
                        f"{keys[1]}, got {law!r}")  # fmt: skip


def _read_tensors(path: Path) -> Mapping:
    data = _read_json(path) if path.suffix.lower() == ".json" else load_yaml(path, "profile")
    tensors = data.get("tensors") if isinstance(data, Mapping) else None
    if not isinstance(tensors, Mapping):
        raise UserError(f"{path}: expected a `tensors:` mapping of tensor name -> fit")
    return tensors


def _read_json(path: Path) -> object:
    """A profile written as JSON (`dse profile -o FILE.json` or `--json`), whose infinities
    (a normal fit's nu) are the strings "inf" / "-inf" (JSON has none)."""
    try:
        return json.loads(read_text(path, "profile"), object_hook=_infinities)
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno}: "
                        f"{exc.msg}") from None


def _infinities(obj: dict) -> dict:
    return {k: float(v) if isinstance(v, str) and v in ("inf", "-inf") else v
            for k, v in obj.items()}  # fmt: skip


def _aggregate(entries: list[tuple[str, Mapping]], origin: str) -> dict:
    n = np.array([_number(e, ("n_values",), name) for name, e in entries])
    nu = np.array([_number(e, ("pooled", "nu"), name) for name, e in entries])
    sigma = np.array([_number(e, ("pooled", "sigma"), name) for name, e in entries])
    out = {
        "nu": float(np.median(nu)),
        "sigma": float(np.sqrt(np.sum(n * sigma**2) / np.sum(n))),
        "source": f"{origin}: {len(entries)} tensor(s); median nu, "
                  "n_values-weighted RMS sigma",
    }
    for field, key in (("nu_within", "nu"), ("scale_spread_log2", "scale_spread_log2")):
        values = [e["within_group"][key] for _, e in entries
                  if isinstance(e.get("within_group"), Mapping)
                  and e["within_group"].get(key) is not None]
        if values:
            out[field] = float(np.median([_as_float(v, f"within_group.{key}") for v in values]))
    return out


def _check_variance(aggregate: Mapping, entries: list[tuple[str, Mapping]], where: str,
                    path: str | Path) -> None:  # fmt: skip
    """A UserError when a class's median nu (pooled, or within groups) is <= 2, naming the
    profile, the class and its tensors' values, and how a sweep replaces it."""
    for field, level in (("nu", "pooled"), ("nu_within", "within_group")):
        value = aggregate.get(field)
        if value is None or value > 2:
            continue
        fits = [f"{name} {e[level]['nu']:.3g}" for name, e in entries]
        shown = ", ".join(fits[:3]) + (f" and {len(fits) - 3} more" if len(fits) > 3 else "")
        raise UserError(
            f"profile {str(path)!r}: {where}: the {level} fits' median nu is {value:.3g} "
            f"({shown}), not > 2: a t without variance has no NMSE; state "
            f"workload.stats.{where}.{field} in the sweep to predict this class from other "
            "statistics"
        )


def _number(entry: Mapping, keys: tuple[str, ...], name: str) -> float:
    value = entry
    for key in keys:
        if not isinstance(value, Mapping) or key not in value:
            raise UserError(f"profile tensor {name!r}: missing {'.'.join(keys)}")
        value = value[key]
    return _as_float(value, f"{name}: {'.'.join(keys)}")


def _as_float(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"profile {where} must be a number, got {value!r}")
    return float(value)
