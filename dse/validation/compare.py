"""The engine's predicted errors beside measured ones, on a real encoder.

Per format: every linear weight (out, in) is quantized along `in` (its GEMM's reduction axis)
and, with `acts`, every linear input (tokens, in) along `in` too, in the same format. Measured
per-tensor NMSE = ||Q(W) - W||^2 / ||W||^2, exactly. Predicted: `dse profile` statistics of the
unquantized tensor (the Student-t fits, groups = rows) through `error_for_stats`, the analytic
model. Model error predicted the way sweeps aggregate (`dse.evaluation`): the mean over the
linear GEMMs of nmse_w + nmse_a + nmse_w nmse_a, each GEMM once (the attention-score GEMMs
are not quantized here). Measured end to end, over the sentences: relative output MSE of the
mean-pooled embeddings, sum ||e_q - e||^2 / sum ||e||^2 (before the L2 normalisation), and the
mean of 1 - cos(e_q, e).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.resources import files

import numpy as np
from scipy import stats as scistats

from dse.error import gemm_nmse
from dse.error.profile import errors_for_stats, fit_level, profile_array
from dse.errors import ModelLimitError, UserError
from dse.formats import parse
from dse.formats.format import ChoiceFormat, Format
from dse.validation.bert import Encoder, normalize
from dse.validation.checkpoint import Checkpoint


def bundled_sentences() -> list[str]:
    """The bundled English sentences (package data: dse/validation/sentences.json)."""
    return json.loads(files("dse.validation").joinpath("sentences.json").read_text())["sentences"]


def nmse(q: np.ndarray, x: np.ndarray) -> float:
    """||q - x||^2 / ||x||^2."""
    return float(np.sum((q - x) ** 2) / np.sum(x * x))


@dataclass
class Reference:
    """The unquantized run: inputs, pooled outputs and `dse profile` statistics of the linear
    weights (and, when `acts`, of each linear's input over the real tokens)."""

    ckpt: Checkpoint
    ids: np.ndarray
    mask: np.ndarray
    pooled: np.ndarray
    weight_stats: dict[str, dict]
    act_stats: dict[str, dict] | None


def reference(
    ckpt: Checkpoint, sentences: list[str], max_length: int = 128, acts: bool = False
) -> Reference:
    """Tokenize, run the float64 encoder once and profile what the formats will quantize."""
    positions = int(ckpt.config.get("max_position_embeddings", max_length))
    if max_length > positions:
        raise UserError(
            f"--max-length {max_length} exceeds the model's max_position_embeddings ({positions})"
        )
    ids, mask = ckpt.tokenizer.batch(sentences, max_length)
    inputs: dict[str, np.ndarray] = {}

    def record(name: str, x: np.ndarray) -> np.ndarray:
        inputs[name] = x
        return x

    pooled = Encoder(ckpt)(ids, mask, record)
    wstats = {n: profile_array(ckpt.weights[f"{n}.weight"], "float64") for n in ckpt.linears}
    astats = {n: profile_array(inputs[n], "float64") for n in ckpt.linears} if acts else None
    return Reference(ckpt, ids, mask, pooled, wstats, astats)


@dataclass
class FormatResult:
    """One format's predicted and measured errors; per-tensor arrays follow `ckpt.linears`."""

    format: str
    bits_per_element: float
    pred_w: np.ndarray
    meas_w: np.ndarray
    pred_a: np.ndarray
    meas_a: np.ndarray
    pred_model: float
    rel_mse: float
    one_minus_cos: float
    notes: list[str]

    @property
    def weight_rel_error(self) -> np.ndarray:
        """|predicted / measured - 1| of each weight tensor's NMSE."""
        return np.abs(self.pred_w / self.meas_w - 1.0)

    @property
    def act_rel_error(self) -> np.ndarray:
        """|predicted / measured - 1| of each linear input's NMSE (NaN where the model has no
        prediction: a note says why)."""
        return np.abs(self.pred_a / self.meas_a - 1.0)

    def summary(self) -> dict:
        """The table row: medians of the predicted and measured NMSE and the 90th percentile
        of the relative errors, each over the tensors with a prediction (a note says why one
        has none); the predicted model error needs every tensor (NaN otherwise)."""
        row = {"format": self.format, "bits_per_element": self.bits_per_element}
        sides = [("weight", self.pred_w, self.meas_w, self.weight_rel_error)]
        if np.any(self.meas_a):  # with --acts
            sides.append(("act", self.pred_a, self.meas_a, self.act_rel_error))
        for kind, pred, meas, rel in sides:
            have = ~np.isnan(pred)
            row[f"pred_{kind}_nmse"] = _percentile(pred[have], 50)  # the median
            row[f"meas_{kind}_nmse"] = _percentile(meas[have], 50)
            row[f"{kind}_p90_rel_err"] = _percentile(rel[have], 90)
        return {**row, "pred_model_nmse": self.pred_model, "meas_rel_output_mse": self.rel_mse,
                "meas_1_minus_cos": self.one_minus_cos}  # fmt: skip


def _percentile(x: np.ndarray, q: float) -> float:
    """The q-th percentile of `x` (NaN when empty)."""
    return float(np.percentile(x, q)) if x.size else float("nan")


@dataclass(frozen=True)
class Predicted:
    """The error model's NMSE of one format per weight tensor and per linear input (zeros
    without inputs; NaN where it has none) and the notes saying why."""

    weights: np.ndarray
    inputs: np.ndarray
    notes: list[str]


def predict(ref: Reference, names: list[str]) -> dict[str, Predicted]:
    """Every format's predictions from the profiled statistics, tensor by tensor: the formats
    on one tensor in one call (`errors_for_stats`: the FP4/FP8 mixes of one candidate pair
    build its law of the block scores once); where that call fails, format by format, each
    failure a note (`_predict`)."""
    fmts = [parse(n) for n in names]
    notes: list[list[str]] = [[] for _ in names]  # per format, in the order of `names`

    def side(stats: dict[str, dict] | None, suffix: str) -> np.ndarray:  # (formats, tensors)
        if stats is None:
            return np.zeros((len(names), len(ref.ckpt.linears)))
        return np.array([_predict(fmts, stats[n], f"{n}{suffix}", notes)
                         for n in ref.ckpt.linears]).T  # fmt: skip

    w, a = side(ref.weight_stats, ""), side(ref.act_stats, " input")
    return {n: Predicted(w[i], a[i], notes[i]) for i, n in enumerate(names)}


def evaluate(ref: Reference, name: str, predicted: Predicted | None = None) -> FormatResult:
    """Quantize with format `name`, run the encoder, compare with the prediction (`predict`'s,
    computed here when not given)."""
    fmt = parse(name)
    pred = predicted or predict(ref, [name])[name]
    ckpt, linears = ref.ckpt, ref.ckpt.linears
    qw = {f"{n}.weight": fmt.quantize(ckpt.weights[f"{n}.weight"], axis=-1) for n in linears}
    meas_w = np.array([nmse(qw[f"{n}.weight"], ckpt.weights[f"{n}.weight"]) for n in linears])
    meas_a = dict.fromkeys(linears, 0.0)

    def quantize_input(n: str, x: np.ndarray) -> np.ndarray:
        q = fmt.quantize(x, axis=-1)
        meas_a[n] = nmse(q, x)
        return q

    hook = quantize_input if ref.act_stats is not None else None
    out = Encoder(ckpt, qw)(ref.ids, ref.mask, hook)
    cos = np.sum(normalize(out) * normalize(ref.pooled), axis=-1)
    return FormatResult(
        format=name,
        bits_per_element=_bits(fmt, [ckpt.weights[f"{n}.weight"] for n in linears]),
        pred_w=pred.weights,
        meas_w=meas_w,
        pred_a=pred.inputs,
        meas_a=np.array([meas_a[n] for n in linears]),
        pred_model=float(np.mean(gemm_nmse(pred.weights, pred.inputs))),
        rel_mse=nmse(out, ref.pooled),
        one_minus_cos=float(np.mean(1.0 - cos)),
        notes=list(pred.notes),
    )


def _bits(fmt: Format, weights: list[np.ndarray]) -> float:
    """Bits per element; of a choice whose shares depend on the data (a threshold mix), at
    the shares its selector takes on `weights`."""
    if not isinstance(fmt, ChoiceFormat) or fmt.fixed_bits:
        return float(fmt.bits_per_element)
    k = len(fmt.candidates)
    counts = sum(np.bincount(fmt.choose(w)[0].ravel(), minlength=k) for w in weights)
    return fmt.bits_at(np.asarray(counts) / np.sum(counts))


def _predict(fmts: list[Format], stats: dict, what: str, notes: list[list[str]]
             ) -> list[float]:  # fmt: skip
    """The analytic NMSE of each format on one tensor (`errors_for_stats`), or NaN with a note
    (in `notes`, one list per format) where the model has none for these statistics (e.g. a
    fitted nu <= 2: no variance; nu below the analytic range) or returns a non-finite value."""
    try:
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            values = [r.nmse for r in errors_for_stats(fmts, stats)]
    except (UserError, ModelLimitError) as exc:  # find which: each format alone
        if len(fmts) == 1:  # this tensor only; the others go on
            notes[0].append(f"{fmts[0].name}: {what}: no prediction: {exc}")
            return [float("nan")]
        return [_predict([f], stats, what, [n])[0] for f, n in zip(fmts, notes)]
    for fmt, value, note in zip(fmts, values, notes):
        if not np.isfinite(value):
            fit = stats[fit_level(fmt)]
            note.append(f"{fmt.name}: {what}: the error model returned {value} "
                        f"(nu = {fit['nu']:.4g})")  # fmt: skip
    return values


def spearman(results: list[FormatResult]) -> tuple[float, int]:
    """Spearman rank correlation of predicted model error and measured relative output MSE,
    over the formats with a prediction, and how many those are."""
    pairs = [(r.pred_model, r.rel_mse) for r in results if np.isfinite(r.pred_model)]
    if len(pairs) < 3:
        return float("nan"), len(pairs)
    return float(scistats.spearmanr(*zip(*pairs)).statistic), len(pairs)
