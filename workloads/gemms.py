"""The GEMMs of one prefill or decode step of a ModelSpec, as records and as numpy arrays.

Convention: every GEMM is Y[M, N] = A[M, K] @ B[K, N], repeated `count` times with distinct
operands. A is always an activation (the layer input, the queries, or the attention
probabilities); B is a weight (linear layers), or the keys/values (attention): a freshly
computed activation in prefill, the KV cache in decode.

Counting rules (the same in both phases):
- Linear layers (q, k, v or fused qkv, o, gate, up, down) have M = tokens in the step
  (batch * L in prefill, batch in decode) and count = layers; the weight is B.
- lm_head has M = batch: only the last position's logits are needed to pick the next token
  (as serving engines such as vLLM compute them), count = 1.
- Attention GEMMs run per (sequence, KV head, layer): count = batch * kv_heads * layers, with
  the `group` = heads / kv_heads query heads of a KV head stacked along M, as grouped-query
  kernels do. So K and V are counted once per KV head while MACs are counted once per query
  head. Scores: (group * q) x d_head @ d_head x S; context: (group * q) x S @ S x d_head,
  with q query tokens per sequence (L in prefill, 1 in decode) and S attended tokens.
- Prefill counts the full L x L score matrix (dense kernels compute it; the causal half would
  be about half the attention MACs); decode attends to S = context + 1 tokens (the cached
  ones and the new one). A sliding window caps S at the window size W (Mistral); where only
  some layers have it (gpt-oss), their attention GEMMs are entries of their own, under the
  same names (a name's entries share its layers by the query rows they process,
  `layer_shares`). In prefill with L > W, a windowed layer's attention runs as chunks of W
  queries, each chunk against W keys (count times the chunks; the last chunk holds the
  remaining queries): each query sees W keys, as a sliding-window kernel computes, and the
  keys and values of all L tokens are read once, as an approximation (a chunk's queries
  reach back into the previous chunk's keys, which a kernel keeps or reads again; where W
  does not divide L the last chunk reads W keys for fewer queries). The chunks' A is part of
  the layer's whole queries or probabilities (`Gemm.a_rows`), as the error model sees them.
  Chunked attention (Llama 4, `ModelSpec.chunked`) splits prefill alike, each chunk against
  its own keys (the last, of R < W queries, against R); in decode a query sees the C mod W + 1
  tokens of its chunk.
- Multi-head latent attention (DeepSeek-V2/V3, `ModelSpec.kv_lora_rank`), in the form each
  phase runs with fewer MACs, as DeepSeek's inference code (DeepSeek-V3.2-Exp
  inference/model.py, `MLA.forward`: "MHA prefill", "MQA decode") and serving engines run it:
  q_a, kv_a (fused: qkv_a) down-project the layer input to the query latent and to the
  key/value latent with the shared rotary key; q_b up-projects the queries. Prefill: kv_b
  up-projects every token's latent to per-head keys (head_dim) and values (v_head_dim), and
  attention is multi-head with those sizes. Decode: the cache holds latents; k_up takes each
  head's non-rotary query into the latent (count = layers x heads, the key half of kv_b),
  attention is multi-query with one key head of kv_lora_rank + rope_head_dim and one value
  head of kv_lora_rank (the same cached latent, read by both GEMMs as every operand is), and
  v_up takes each head's latent output to its value head (the value half of kv_b). These
  GEMMs' weights are kv_b's, so they are of class qkv, as `dse profile` classes kv_b_proj;
  as an approximation their inputs (queries, latent outputs) take the qkv class's
  activation statistics and the cached latents the KV cache's (no published fits of them).
- DeepSeek sparse attention (`ModelSpec.index_topk`, DeepSeek-V3.2): the lightning indexer
  projects index_q from the query latent, index_k and index_weights from the layer input,
  and index_score scores every token in context (index_heads x q rows, index_head_dim deep,
  against the cached index keys, count = batch x layers; in prefill the full L x L, as for
  dense attention); attention then sees index_topk tokens per query, counted as a window of
  that size (the same MACs; in prefill every token's latent read once, scattered selections
  read in one pass as an approximation). The indexer only selects: its GEMMs weigh nothing
  in the model's error (`Gemm.selects`).
- A mixture of experts' leading dense layers (`ModelSpec.dense_layers`) run gate, up and
  down with count = those layers; the experts and the shared MLP run on the rest. Each name
  spans its own layers (`Gemm.layers`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial

import numpy as np

from dse.errors import UserError, unknown
from workloads.spec import ModelSpec

CLASSES = ("qkv", "o", "gate_up", "down", "lm_head", "attn_score", "attn_context")
LINEAR_CLASSES = CLASSES[:5]
ATTENTION_CLASSES = CLASSES[5:]
ROLES = ("weight", "activation", "kv_cache")
PHASES = ("prefill", "decode")

#: Upper bounds of the batch and of the sequence length / context: far beyond deployed values
#: (the longest published context windows are ~1e7 tokens, 2025) and small enough that every
#: GEMM dimension and count (batch x tokens x model dimensions) stays exact in int64.
MAX_BATCH = 2**20
MAX_TOKENS = 2**27


@dataclass(frozen=True)
class Gemm:
    """Y[m, n] = A[m, k] @ B[k, n], `count` times; roles name what A and B are (see ROLES).
    `stored`: weight matrices of this shape held in memory, when more than run (the experts
    of a mixture a step does not touch); None = `count`. `a_rows`: rows of the tensor A is a
    part of, when more than m (a windowed layer's query chunks are parts of all its queries:
    a per-tensor scale's extent, `a_elements`); None = m. `layers`: the model layers its name
    spans, when not all (a mixture's leading dense MLPs and its expert layers, DeepSeek's
    first_k_dense_replace); None = every layer. `selects`: its output only selects what
    attention sees (a sparse attention's indexer), so it carries no weight in the model's
    error (`layer_shares`)."""

    name: str
    tensor_class: str
    m: int
    n: int
    k: int
    count: int
    b_role: str
    a_role: str = "activation"
    stored: int | None = None
    a_rows: int | None = None
    layers: int | None = None
    selects: bool = False

    @property
    def macs(self) -> int:
        """Multiply-accumulates of all `count` instances."""
        return self.m * self.n * self.k * self.count

    @property
    def a_shape(self) -> tuple[int, int]:
        """(rows, columns) of the tensor A is (a part of): what a per-tensor scale of A spans."""
        return self.a_rows or self.m, self.k

    @property
    def a_elements(self) -> int:
        """Elements of `a_shape`."""
        rows, cols = self.a_shape
        return rows * cols


@dataclass(frozen=True)
class GemmArrays:
    """A GEMM list as int64 columns of length G, for costs that broadcast over design points.

    `tensor_class` indexes CLASSES and `b_role` indexes ROLES.
    """

    m: np.ndarray
    n: np.ndarray
    k: np.ndarray
    count: np.ndarray
    tensor_class: np.ndarray
    b_role: np.ndarray

    @property
    def macs(self) -> np.ndarray:
        return self.m * self.n * self.k * self.count


def prefill_gemms(spec: ModelSpec, batch: int, seq: int, *,
                  fused_qkv: bool = False) -> list[Gemm]:
    """GEMMs of a prefill step: `batch` prompts of `seq` tokens each."""
    _check_count("batch", batch, 1, MAX_BATCH)
    _check_count("sequence length", seq, 1, MAX_TOKENS)
    return _step(spec, batch, queries=seq, context=seq, spans=spec.window_spans(seq),
                 kv_role="activation", fused_qkv=fused_qkv)


def decode_gemms(spec: ModelSpec, batch: int, context: int, *,
                 fused_qkv: bool = False) -> list[Gemm]:
    """GEMMs of a decode step: one new token for each of `batch` sequences whose KV cache
    already holds `context` tokens."""
    _check_count("batch", batch, 1, MAX_BATCH)
    _check_count("context", context, 0, MAX_TOKENS)
    return _step(spec, batch, queries=1, context=context + 1,
                 spans=spec.attention_spans(context + 1),
                 kv_role="kv_cache", fused_qkv=fused_qkv)


def phase_gemms(spec: ModelSpec, phase: str, batch: int, tokens: int, *,
                fused_qkv: bool = False) -> list[Gemm]:
    """`prefill_gemms` (tokens = sequence length) or `decode_gemms` (tokens = context)."""
    if phase not in PHASES:
        raise unknown("phase", phase, PHASES)
    build = prefill_gemms if phase == "prefill" else decode_gemms
    return build(spec, batch, tokens, fused_qkv=fused_qkv)


def gemm_arrays(gemms: Sequence[Gemm]) -> GemmArrays:
    """The GEMM list as numpy columns (see GemmArrays)."""
    def column(values) -> np.ndarray:
        return np.fromiter(values, dtype=np.int64, count=len(gemms))

    return GemmArrays(
        m=column(g.m for g in gemms),
        n=column(g.n for g in gemms),
        k=column(g.k for g in gemms),
        count=column(g.count for g in gemms),
        tensor_class=column(CLASSES.index(g.tensor_class) for g in gemms),
        b_role=column(ROLES.index(g.b_role) for g in gemms),
    )


def _step(spec: ModelSpec, batch: int, queries: int, context: int,
          spans: list[tuple[int, int]], kv_role: str, fused_qkv: bool) -> list[Gemm]:
    h, n = spec.hidden, spec.layers
    tokens = batch * queries

    def linear(name: str, cls: str, k: int, out: int, m: int = tokens, count: int = n,
               layers: int | None = None) -> Gemm:  # fmt: skip
        return Gemm(name, cls, m=m, n=out, k=k, count=count, b_role="weight", layers=layers)

    absorbed = spec.latent and kv_role == "kv_cache"
    gemms = _projections(spec, linear, fused_qkv, absorbed)
    if spec.index_topk:
        gemms += _indexer(spec, linear, batch, queries, context, kv_role)
    if absorbed:  # attention over the cached latent: one key/value head for all query heads
        kv_heads, group = 1, spec.heads
        d_key, d_value = spec.kv_lora_rank + spec.rope_head_dim, spec.kv_lora_rank
    else:
        kv_heads, group, d_key, d_value = spec.kv_heads, spec.group, spec.head_dim, spec.value_dim
    heads, whole = batch * kv_heads, group * queries
    chunks = [(group * q, k, heads * layers * c, None if q == queries else whole)
              for layers, keys in spans for q, c, k in _chunks(queries, keys, spec.chunked)]
    gemms += [Gemm("attn_score", "attn_score", m=rows, n=keys, k=d_key, count=count,
                   b_role=kv_role, a_rows=of) for rows, keys, count, of in chunks]  # fmt: skip
    gemms += [Gemm("attn_context", "attn_context", m=rows, n=d_value, k=keys, count=count,
                   b_role=kv_role, a_rows=of) for rows, keys, count, of in chunks]  # fmt: skip
    if absorbed:  # each head's latent output through its value up-projection
        gemms.append(linear("v_up", "qkv", spec.kv_lora_rank, spec.value_dim,
                            count=n * spec.heads))  # fmt: skip
    gemms.append(linear("o", "o", spec.heads * spec.value_dim, h))
    if not spec.moe:
        return [*gemms, *_mlp(linear, "", h, spec.intermediate, spec.gated_mlp),
                _lm_head(linear, spec, batch)]  # fmt: skip
    some = spec.moe_layers if spec.dense_layers else None  # the name's layers, if not all
    if spec.dense_layers:
        dense = partial(linear, count=spec.dense_layers, layers=spec.dense_layers)
        gemms += _mlp(dense, "", h, spec.intermediate, spec.gated_mlp)
    gemms += _experts(spec, tokens, some)
    if spec.shared_intermediate:
        shared = partial(linear, count=spec.moe_layers, layers=some)
        gemms += _mlp(shared, "shared_", h, spec.shared_intermediate, gated=True)
    return [*gemms, _lm_head(linear, spec, batch)]


def _indexer(spec: ModelSpec, linear, batch: int, queries: int, context: int,
             kv_role: str) -> list[Gemm]:
    """A sparse attention's lightning indexer (module docstring): its query, key and head-weight
    projections and its scores of all `context` tokens, none of them weighing in the error."""
    ih, idim = spec.index_heads, spec.index_head_dim
    projections = [linear("index_q", "qkv", spec.q_lora_rank or spec.hidden, ih * idim),
                   linear("index_k", "qkv", spec.hidden, idim),
                   linear("index_weights", "qkv", spec.hidden, ih)]  # fmt: skip
    score = Gemm("index_score", "attn_score", m=ih * queries, n=context, k=idim,
                 count=batch * spec.layers, b_role=kv_role)  # fmt: skip
    return [replace(g, selects=True) for g in (*projections, score)]


def _lm_head(linear, spec: ModelSpec, batch: int) -> Gemm:
    return linear("lm_head", "lm_head", spec.hidden, spec.vocab, m=batch, count=1)


def _projections(spec: ModelSpec, linear, fused: bool, absorbed: bool) -> list[Gemm]:
    """The query, key and value projections (module docstring): q, k, v or fused qkv; for
    latent attention the down-projections (q_a or q, and kv_a; fused: qkv_a) and q_b, then
    kv_b up-projecting keys and values, or, absorbed, k_up taking each head's queries into
    the latent."""
    h, d, heads = spec.hidden, spec.head_dim, spec.heads
    if not spec.latent:
        q_out, kv_out = heads * d, spec.kv_heads * d
        if fused:
            return [linear("qkv", "qkv", h, q_out + 2 * kv_out)]
        return [linear("q", "qkv", h, q_out), linear("k", "qkv", h, kv_out),
                linear("v", "qkv", h, kv_out)]  # fmt: skip
    r_q, r_kv, rope = spec.q_lora_rank, spec.kv_lora_rank, spec.rope_head_dim
    first = r_q or heads * d  # the query latent, or the queries themselves
    if fused:
        gemms = [linear("qkv_a", "qkv", h, first + r_kv + rope)]
    else:
        gemms = [linear("q_a" if r_q else "q", "qkv", h, first),
                 linear("kv_a", "qkv", h, r_kv + rope)]  # fmt: skip
    if r_q:
        gemms.append(linear("q_b", "qkv", r_q, heads * d))
    if absorbed:
        gemms.append(linear("k_up", "qkv", d - rope, r_kv, count=spec.layers * heads))
    else:
        gemms.append(linear("kv_b", "qkv", r_kv, heads * (d - rope + spec.value_dim)))
    return gemms


def _chunks(queries: int, keys: int, chunked: bool) -> list[tuple[int, int, int]]:
    """(queries per chunk, chunks, keys each sees): all queries in one chunk while they see
    every key, else chunks of `keys` queries against `keys` keys and one of the rest, against
    `keys` keys (a sliding window) or the rest's own (`chunked`; module docstring)."""
    if queries <= keys:
        return [(queries, 1, keys)]
    whole, rest = divmod(queries, keys)
    return [(keys, whole, keys)] + ([(rest, 1, rest if chunked else keys)] if rest else [])


def layer_shares(gemms: Sequence[Gemm], layers: int) -> np.ndarray:
    """The layers each GEMM stands for: lm_head one, every other name the layers it spans
    (`Gemm.layers`, else `layers`), shared among its entries by the rows they process
    (count x M: a mixture's expert groups by their tokens, a windowed layer's attention
    chunks by their queries, so that windowed and full layers' entries each count their own
    layers); an indexer's (`Gemm.selects`) none."""
    rows: dict[str, int] = {}
    for g in gemms:
        rows[g.name] = rows.get(g.name, 0) + g.count * g.m
    spans = [0 if g.selects else 1 if g.tensor_class == "lm_head" else g.layers or layers
             for g in gemms]  # fmt: skip
    return np.array([span * g.count * g.m / rows[g.name] for span, g in zip(spans, gemms)])


def _mlp(linear, prefix: str, hidden: int, width: int, gated: bool) -> list[Gemm]:
    """gate (if gated), up and down of an MLP of `width`."""
    gate = [linear(f"{prefix}gate", "gate_up", hidden, width)] if gated else []
    return [*gate, linear(f"{prefix}up", "gate_up", hidden, width),
            linear(f"{prefix}down", "down", width, hidden)]  # fmt: skip


def experts_touched(experts: int, per_token: int, tokens: int) -> float:
    """Expected number of distinct experts of one layer that `tokens` tokens use, each token
    choosing `per_token` of `experts`: E (1 - (1 - k/E)^T). An approximation: routing taken as
    uniform and independent across tokens (each expert is missed by one token with
    probability 1 - k/E); real routers are skewed, which touches fewer experts."""
    return experts * (1.0 - (1.0 - per_token / experts) ** tokens)


def _experts(spec: ModelSpec, tokens: int, some: int | None) -> list[Gemm]:
    """The routed experts of a step as GEMMs: per layer, the experts touched
    (`experts_touched`, rounded) share the tokens x experts_per_token assignments as evenly as
    they divide (r experts take one more token than the rest: MACs exact); every expert's
    weights are stored (`Gemm.stored`, on the last group). The router (hidden x experts per
    token, under 0.1 % of the MACs) is left out of the GEMMs, counted in the parameters.
    `some`: the layers the experts span when not all (`Gemm.layers`)."""
    e, h, w, layers = spec.experts, spec.hidden, spec.expert_intermediate, spec.moe_layers
    used = max(1, min(e, round(experts_touched(e, spec.experts_per_token, tokens))))
    share, more = divmod(tokens * spec.experts_per_token, used)
    groups = [(m, n) for m, n in ((share + 1, more), (share, used - more)) if m and n]
    out = []
    for part, cls, k, n in (("gate", "gate_up", h, w), ("up", "gate_up", h, w),
                            ("down", "down", w, h)):  # fmt: skip
        for i, (m, experts) in enumerate(groups):
            last = i == len(groups) - 1
            out.append(Gemm(f"expert_{part}", cls, m=m, n=n, k=k, count=layers * experts,
                            b_role="weight", stored=layers * (e - used + experts) if last
                            else None, layers=some))  # fmt: skip
    return out


def _check_count(what: str, value: object, minimum: int, maximum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        bound = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise UserError(f"{what} must be {bound}, got {value!r}")
    if value > maximum:
        raise UserError(f"{what}: {value} is out of range ({minimum} .. {maximum})")
