"""`dse workload list` (the presets) and `dse workload show MODEL` (GEMMs, totals, statistics)."""

from __future__ import annotations

import argparse
import math
import sys

import pandas as pd

from dse.commands import add_json_option, examples, help_of

_DEFAULT_TOKENS = 2048  # default sequence length / context: a stated choice, not a standard
_BF16 = ("bf16", 16.0)  # default format of every operand: bfloat16, 16 bits per element
_SOURCE_WIDTH = 60  # characters of each statistics source shown in text mode (full in --json)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "workload",
        help="list model presets, or show a model's GEMMs, totals and tensor statistics",
        description="Transformer workloads as GEMM lists. `dse workload list` lists the "
        "presets; `dse workload show MODEL` prints the GEMMs of one prefill or decode step "
        "of a preset (e.g. llama-2-7b) or of a HuggingFace config.json, with MACs, bytes at "
        "the chosen formats, totals and the Student-t statistics of each tensor class.",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    p.set_defaults(func=help_of(p))

    ls = actions.add_parser(
        "list",
        help="list the model presets",
        description="List the model presets with their sizes.",
        **examples("dse workload list"),
    )
    add_json_option(ls)
    ls.set_defaults(func=run_list)

    show = actions.add_parser(
        "show",
        help="show the GEMMs and totals of one step of a model",
        description="Print the GEMMs of one step (Y[M,N] = A[M,K] @ B[K,N], `count` times), "
        "their MACs and input bytes at the chosen formats, the totals, and the tensor "
        "statistics by class.",
        **examples(
            "dse workload show llama-2-7b",
            "dse workload show llama-3-8b --phase prefill --batch 1 --seq 4096 "
            "--weight-format nvfp4 --act-format mxfp8",
        ),
    )
    show.add_argument(
        "model", help="preset id (see `dse workload list`) or path to a HuggingFace config.json"
    )
    show.add_argument(
        "--phase",
        default="decode",
        metavar="{prefill,decode}",
        help="prefill (batch x seq prompt tokens) or decode (one token per "
        "sequence with --context tokens cached); default decode",
    )
    show.add_argument("--batch", type=int, default=1, help="sequences in the step (default 1)")
    show.add_argument(
        "--seq",
        "--context",
        dest="tokens",
        type=int,
        default=_DEFAULT_TOKENS,
        metavar="N",
        help="prefill: prompt length L; decode: tokens already in "
        f"the KV cache (default {_DEFAULT_TOKENS})",
    )
    for operand, what in (
        ("weight", "weights"),
        ("act", "activations"),
        ("kv", "the KV cache (default: as activations)"),
    ):
        group = show.add_mutually_exclusive_group()
        group.add_argument(
            f"--{operand}-format",
            metavar="NAME",
            help=f"number format of {what}, e.g. nvfp4, mxfp4, int4/g128, bf16",
        )
        group.add_argument(
            f"--{operand}-bits",
            type=float,
            metavar="BITS",
            help=f"bits per element of {what} (scales included)",
        )
    show.add_argument(
        "--fused-qkv", action="store_true", help="one fused qkv GEMM instead of q, k and v"
    )
    show.add_argument(
        "--profile",
        metavar="FILE",
        help="`dse profile` YAML whose per-class fits replace the default statistics",
    )
    add_json_option(show)
    show.set_defaults(func=run_show)


def run_list(args: argparse.Namespace) -> int:
    from workloads import load_preset, parameter_count, preset_config, preset_names

    rows = []
    for name in preset_names():
        spec = load_preset(name)
        rows.append(
            {
                "name": name,
                "checkpoint": preset_config(name).get("_name_or_path", ""),
                "params": parameter_count(spec),
                "active": parameter_count(spec, active=True),
                "experts": f"{spec.experts_per_token}/{spec.experts}" if spec.moe else "-",
                "layers": spec.layers,
                "hidden": spec.hidden,
                "heads": spec.heads,
                "kv_heads": spec.kv_heads,
                "head_dim": spec.head_dim,
                "intermediate": spec.intermediate,
                "vocab": spec.vocab,
                "max_positions": spec.max_positions,
                "mlp": "gated" if spec.gated_mlp else "plain",
                "tied": spec.tied_embeddings,
            }
        )
    if args.json:
        from dse.commands import print_json

        print_json(rows)
        return 0
    table = pd.DataFrame(rows)
    for column in ("params", "active"):
        table[column] = [_short(p) for p in table[column]]
    print(table.drop(columns="checkpoint").to_string(index=False))
    return 0


def run_show(args: argparse.Namespace) -> int:
    from workloads import (
        apply_overrides,
        default_stats,
        gemm_table,
        load_model,
        load_profile_stats,
        phase_gemms,
        stats_table,
        workload_summary,
    )

    spec = load_model(args.model)
    weight = _bits(args.weight_format, args.weight_bits, _BF16)
    act = _bits(args.act_format, args.act_bits, _BF16)
    kv = _bits(args.kv_format, args.kv_bits, act)
    gemms = phase_gemms(spec, args.phase, args.batch, args.tokens, fused_qkv=args.fused_qkv)
    table = gemm_table(gemms, weight[1], act[1], kv[1])
    totals = workload_summary(
        spec,
        args.phase,
        args.batch,
        args.tokens,
        weight_bits=weight[1],
        act_bits=act[1],
        kv_bits=kv[1],
        fused_qkv=args.fused_qkv,
    )
    totals.update(weight_format=weight[0], act_format=act[0], kv_format=kv[0])
    stats = default_stats()
    if args.profile:
        profiled = load_profile_stats(args.profile)
        stats = apply_overrides(stats, profiled.overrides)
        if profiled.unmatched:
            print(
                f"note: {len(profiled.unmatched)} profiled tensor(s) match no GEMM operand: "
                + ", ".join(profiled.unmatched),
                file=sys.stderr,
            )
    stats_rows = stats_table(stats)
    if args.json:
        from dse.commands import print_json

        print_json(
            {
                "totals": totals,
                "gemms": table.to_dict(orient="records"),
                "stats": stats_rows.to_dict(orient="records"),
            }
        )
        return 0
    tokens = "seq" if args.phase == "prefill" else "context"
    header = {
        "model",
        "phase",
        "batch",
        tokens,
        *(f"{x}_{y}" for x in ("weight", "act", "kv") for y in ("bits", "format")),
    }
    formats = "; ".join(
        f"{what} " + (f"{name} ({bits:g} bits/element)" if name else f"{bits:g} bits/element")
        for what, (name, bits) in (("weights", weight), ("activations", act), ("KV cache", kv))
    )
    print(f"{spec.name}: {args.phase}, batch {args.batch}, {tokens} {args.tokens}; {formats}")
    if spec.sliding_window is not None:
        some = spec.sliding_layers
        which = "every layer attends" if some is None else f"{some} of {spec.layers} layers attend"
        if spec.chunked:
            print(f"chunked attention: {which} within chunks of {spec.sliding_window} tokens")
        else:
            print(f"sliding window: {which} to the last {spec.sliding_window} tokens at most")
    if spec.latent:
        print(f"latent attention: the KV cache holds {spec.kv_lora_rank + spec.rope_head_dim} "
              f"elements per token and layer (a {spec.kv_lora_rank}-element latent and a "
              f"{spec.rope_head_dim}-element rotary key); decode attends over it as one key "
              f"and value head for all {spec.heads} query heads")
    if spec.index_topk:
        print(f"sparse attention: an indexer of {spec.index_heads} heads scores every cached "
              f"token (its {spec.index_head_dim}-element key cached too); attention sees the "
              f"best {spec.index_topk}")
    if spec.dense_layers:
        print(f"mixture of experts on {spec.moe_layers} of {spec.layers} layers, a dense MLP "
              f"on the other {spec.dense_layers}")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print()
    shown = {k: v for k, v in totals.items() if k not in header}
    width = max(len(k) for k in shown)
    for key, value in shown.items():
        print(f"{key:>{width}}  {_human(value)}")
    print()
    stats_rows["source"] = [
        s if len(s) <= _SOURCE_WIDTH else s[: _SOURCE_WIDTH - 3] + "..."
        for s in stats_rows["source"]
    ]
    print(stats_rows.astype(object).where(stats_rows.notna(), "-").to_string(index=False))
    return 0


def _bits(
    name: str | None, bits: float | None, default: tuple[str, float]
) -> tuple[str | None, float]:
    """(format name or None, bits per element) from --X-format, --X-bits, or the default."""
    if bits is not None:
        return None, bits
    if name is None:
        return default
    from dse.formats import parse

    return name, float(parse(name).bits_per_element)


def _short(value: float) -> str:
    """Engineering notation with 4 significant digits, e.g. 6738415616 -> '6.738e9'."""
    exponent = 3 * math.floor(math.log10(abs(value)) / 3) if value else 0
    return f"{value / 10**exponent:.4g}e{exponent}" if exponent else f"{value:.4g}"


def _human(value: object) -> str:
    """A total as its exact value, plus the short form when large: '6738415616 (6.738e9)'."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return str(value)
    text = f"{value:.6g}" if isinstance(value, float) else str(value)
    return text if abs(value) < 1e4 else f"{text} ({_short(value)})"


__all__ = ["register", "run_list", "run_show"]
