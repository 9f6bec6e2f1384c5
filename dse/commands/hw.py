"""`dse hw show [PRESET|PATH]`, `dse hw mac WFMT AFMT` and `dse hw calibration`: hardware cost
breakdowns of a hardware description, of one MAC/dot unit, and the published-point checks."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from dse.commands import add_json_option, examples, help_of

#: Example GEMMs shown by `dse hw show` (Y[M,N] = A[M,K] @ W[K,N]): a Llama-2-7B-sized
#: projection in decode (M = 1) and in a 2048-token prefill.
EXAMPLE_GEMMS = {"decode 1x4096x4096": (1, 4096, 4096, 1),
                 "prefill 2048x4096x4096": (2048, 4096, 4096, 1)}  # fmt: skip


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "hw",
        help="hardware cost breakdowns: an accelerator, one MAC unit, calibration",
        description="Hardware cost models. `dse hw show PRESET|PATH` prints the unit, memory "
        "and accelerator breakdowns of a hardware description (a preset shipped with the "
        "package, listed by `dse hw show`, or a YAML file in the same keys); `dse hw mac WFMT "
        "AFMT` prints one unit's area and energy breakdown; `dse hw calibration` compares the "
        "models with the published 45 nm points.",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    p.set_defaults(func=help_of(p))

    show = actions.add_parser(
        "show",
        help="unit, memory and accelerator breakdowns of a hardware description",
        description="Print the unit, memory, accelerator and technology breakdowns of a "
        "hardware preset or YAML file, with the roofline of two example GEMMs. Without an "
        "argument, list the presets.",
        **examples("dse hw show", "dse hw show edge-16nm", "dse hw show datacenter-7nm --json"),
    )
    show.add_argument("hardware", nargs="?", help="preset name or path to a YAML file")
    add_json_option(show)
    show.set_defaults(func=run_show)

    mac = actions.add_parser(
        "mac",
        help="area and energy breakdown of one MAC / dot-product unit",
        description="Area (um^2), energy per MAC (pJ) and MACs per cycle of the unit "
        "computing WFMT x AFMT products, with its breakdown.",
        **examples(
            "dse hw mac nvfp4 mxfp8e4m3",
            'dse hw mac int4/g128 "anda(m=6)" --style bit_serial --lanes 64 --node 28nm',
            "dse hw mac blockdialect/b32 e4m3 --lanes 32 --node 7",
        ),
    )
    mac.add_argument("weight", help="weight format, e.g. nvfp4, int4/g128, blockdialect/b32")
    mac.add_argument("activation", help="activation format, e.g. e4m3, anda(m=6), mxfp8")
    mac.add_argument("--style", default="dot", help="scalar, dot or bit_serial (default dot)")
    mac.add_argument("--lanes", type=int, help="MACs per cycle of a dot unit (default: block)")
    mac.add_argument("--k", type=int, default=4096, help="reduction length (default 4096)")
    mac.add_argument("--node", default="45", help=
                     "technology node: 28, 28nm or '28 nm' (default 45)")
    mac.add_argument("--vdd", type=float, help="supply voltage in V (default: the node's)")
    add_json_option(mac)
    mac.set_defaults(func=run_mac)

    export = actions.add_parser(
        "export",
        help="a hardware description as Accelergy tables, a Timeloop and a ZigZag architecture",
        description="Write the costs of a hardware preset or YAML file for other tools: "
        "Accelergy energy/area reference tables (accelergy_ert.yaml, accelergy_art.yaml), a "
        "Timeloop architecture (timeloop_arch.yaml) and a ZigZag hardware file "
        "(zigzag_hardware.yaml), into DIR.",
        **examples("dse hw export edge-16nm -o out/edge-16nm-export"),
    )
    export.add_argument("hardware", help="preset name or path to a YAML file")
    export.add_argument("-o", "--output", required=True, metavar="DIR", help="output directory")
    export.set_defaults(func=run_export)

    cal = actions.add_parser(
        "calibration",
        help="the models against the published 45 nm points",
        description="Horowitz's 45 nm table and BlockDialect's Table 5 MACs: published vs "
        "model, with the error and whether a point anchors a fit.",
        **examples("dse hw calibration"),
    )
    add_json_option(cal)
    cal.set_defaults(func=run_calibration)


def _table(rows: list[dict]) -> str:
    return pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.4g}")


def unit_report(unit) -> dict:
    return unit.as_dict()


def show_report(spec) -> dict:
    """Everything `dse hw show` prints, as one dict."""
    from hwmodels.accelerator import evaluate
    from hwmodels.export import buffers as buffer_costs
    from hwmodels.memory import off_chip
    from hwmodels.technology import node_note
    from workloads import Gemm, gemm_arrays

    tech = spec.tech()
    unit = spec.unit(at_node=True)
    design = spec.design()
    buffers = [{"buffer": b.operand, "kib": b.capacity_bytes / 1024, "pj_per_bit": b.pj_per_bit,
                "area_mm2": b.area_um2 * 1e-6} for b in buffer_costs(spec)]  # fmt: skip
    mem = off_chip(spec.off_chip)
    gemms = gemm_arrays(
        [Gemm(n, "qkv", *shape, b_role="weight") for n, shape in EXAMPLE_GEMMS.items()]
    )
    ev = evaluate(design, gemms, spec.reference_tech())
    roofline = []
    for i, label in enumerate(EXAMPLE_GEMMS):
        roofline.append(
            {
                "gemm": label,
                "compute_us": float(ev.gemm_compute_ns[0, i]) / 1e3,
                "memory_us": float(ev.gemm_memory_ns[0, i]) / 1e3,
                "bound": "memory" if ev.gemm_memory_bound[0, i] else "compute",
                "dram_mb": float(ev.gemm_dram_bytes[0, i]) / 1e6,
            }
        )
    totals = {k: float(v[0]) for k, v in ev.totals().items()}
    return {
        "hardware": spec.as_dict(),
        "node": node_note(spec.node_nm),
        "vdd": tech.vdd,
        "area_factor": tech.area_factor,
        "energy_factor": tech.energy_factor,
        "unit": unit.as_dict(),
        "bits_per_element": {r: spec.bits(r) for r in ("weight", "activation", "output")},
        "buffers": buffers,
        "off_chip": {
            "name": mem.name,
            "pj_per_bit": spec.dram_energy(),
            "bandwidth_gbs": spec.bandwidth(),
            "source": mem.source,
        },
        "accelerator": {
            "area_mm2": totals["area_mm2"],
            "area_pe_mm2": totals["area_pe_mm2"],
            "area_buffer_mm2": totals["area_buffer_mm2"],
            "area_other_mm2": totals["area_other_mm2"],
            "peak_tmacs": totals["peak_macs_per_ns"] / 1e3,
            "machine_balance_macs_per_byte": totals["peak_macs_per_ns"] / spec.bandwidth(),
            "static_mw": tech["leakage_mw_per_mm2"] * totals["area_mm2"],
        },
        "example_gemms": roofline,
        "example_energy_uj": {
            (
                k.removeprefix("energy_").removesuffix("_pj") if k != "energy_pj" else "total"
            ): totals[k] / 1e6
            for k in totals
            if k.startswith("energy_")
        },
        "technology": tech.table(),
    }


def _print_unit(u: dict) -> None:
    print(
        f"unit: {u['weight']} x {u['activation']}, {u['style']}, {u['lanes']} lanes, "
        f"{u['node_nm']} nm: {u['area_um2']:.1f} um^2, {u['energy_pj_per_mac']:.4f} pJ/MAC, "
        f"{u['macs_per_cycle']:.3g} MACs/cycle"
    )
    print(_table(u["breakdown"]))
    for note in u["notes"]:
        print(f"  note: {note}")


def run_show(args: argparse.Namespace) -> int:
    from dse.commands import print_json
    from hwmodels.presets import load, preset_names

    if not args.hardware:
        names = preset_names()
        if args.json:
            print_json({"presets": names})
        else:
            print("hardware presets (dse hw show NAME):", ", ".join(names))
        return 0
    report = show_report(load(args.hardware))
    if args.json:
        print_json(report)
        return 0
    hw = report["hardware"]
    print(f"{hw['name']}: {hw['description']}")
    print(f"  {report['node']}; Vdd {report['vdd']:g} V; area x{report['area_factor']:.3g}, "
          f"energy x{report['energy_factor']:.3g} vs 45 nm at 0.9 V")  # fmt: skip
    print(f"  {hw['rows']}x{hw['cols']} PEs at {hw['freq_ghz']:g} GHz")
    for row in report["technology"]:  # constants replaced by the spec (the rest: --json)
        if row["source"] == "override" or row["source"].startswith("imported from"):
            print(f"  constant {row['name']} = {row['value']:.6g} ({row['source']})")
    _print_unit(report["unit"])
    bits = report["bits_per_element"]
    print("bits moved per element: " + ", ".join(f"{k} {v:.4g}" for k, v in bits.items()))
    print("memory:")
    print(_table(report["buffers"]))
    oc = report["off_chip"]
    print(f"  off-chip {oc['name']}: {oc['pj_per_bit']:.3g} pJ/bit, {oc['bandwidth_gbs']:g} "
          f"GB/s ({oc['source']})")  # fmt: skip
    acc = report["accelerator"]
    print("accelerator: " + ", ".join(f"{k} {v:.4g}" for k, v in acc.items()))
    print("example GEMMs (latency = max(compute, memory)):")
    print(_table(report["example_gemms"]))
    print("example energy (uJ): " + ", ".join(
        f"{k} {v:.4g}" for k, v in report["example_energy_uj"].items()))  # fmt: skip
    return 0


#: Files `dse hw export` writes, by what they hold.
EXPORT_FILES = {"accelergy_ert.yaml": "ERT", "accelergy_art.yaml": "ART",
                "timeloop_arch.yaml": "architecture", "zigzag_hardware.yaml": "zigzag"}  # fmt: skip


def run_export(args: argparse.Namespace) -> int:
    import yaml

    from dse.files import write_atomic
    from hwmodels.export import accelergy_tables, timeloop_architecture, zigzag_hardware
    from hwmodels.presets import load

    spec = load(args.hardware)
    ert, art = accelergy_tables(spec)
    docs = dict(zip(EXPORT_FILES, (ert, art, timeloop_architecture(spec), zigzag_hardware(spec))))
    out = Path(args.output)
    for name, doc in docs.items():
        write_atomic(out / name, yaml.safe_dump(doc, sort_keys=False))
    print(f"{spec.name}: wrote {', '.join(docs)} to {out}")
    return 0


def run_mac(args: argparse.Namespace) -> int:
    from dse.commands import print_json
    from dse.errors import UserError
    from hwmodels.technology import parse_node, technology
    from hwmodels.units import mac_unit

    if args.k < 1 or (args.lanes is not None and args.lanes < 1):
        raise UserError("--k and --lanes must be >= 1")
    if args.vdd is not None and args.vdd != args.vdd:
        raise UserError("--vdd: expected a supply voltage in V, got nan")
    unit = mac_unit(args.weight, args.activation, args.style, args.lanes, args.k,
                    technology(parse_node(args.node, "--node"), args.vdd))  # fmt: skip
    if args.json:
        print_json(unit.as_dict())
    else:
        _print_unit(unit.as_dict())
    return 0


def run_calibration(args: argparse.Namespace) -> int:
    from dse.commands import print_json
    from hwmodels.calibration import TABLE5_SOURCE, horowitz, table5

    report = {"horowitz_45nm": horowitz(), "table5_macs": table5(), "table5_source": TABLE5_SOURCE}
    if args.json:
        print_json(report)
        return 0
    print("Horowitz 45 nm table (anchor: the fit passes through the point)")
    print(_table(report["horowitz_45nm"]))
    print(f"\nMAC units, {TABLE5_SOURCE}")
    print(_table(report["table5_macs"]))
    return 0
