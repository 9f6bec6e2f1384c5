"""The normalised architecture of a decoder-only transformer, and its parameter count."""

from __future__ import annotations

from dataclasses import dataclass

from dse.errors import UserError


@dataclass(frozen=True)
class ModelSpec:
    """A decoder-only transformer, as far as its GEMMs and parameters need.

    Sizes are element counts. `head_dim` may differ from hidden / heads (HF `head_dim`).
    `position_embeddings` is the number of learned position-embedding rows (0 for rotary
    models; OPT has max_position_embeddings + 2). `sliding_window` limits how many cached
    tokens a query attends to (Mistral), None for full attention; `sliding_layers` is how many
    layers it applies to (None: all; Gemma 2 and gpt-oss alternate windowed and full
    layers).
    `chunked`: the windowed layers attend within fixed chunks of `sliding_window` tokens, a
    query to the tokens of its chunk up to itself (Llama 4's chunked attention), instead of to
    the last `sliding_window` tokens.
    `attention_sinks`: a learned sink logit per head and layer (gpt-oss). `layer_norm` is True for
    LayerNorm (weight and bias per norm), False for RMSNorm (weight only); `layer_norms`: norms
    per layer (2; Gemma 2 also normalises each sublayer's output: 4). `max_positions`
    (HF max_position_embeddings) is informational: longer sequences are not refused.

    Mixture of experts (`experts` > 0): every layer's MLP is `experts` routed gated experts of
    width `expert_intermediate`, of which `experts_per_token` serve each token (a router of
    hidden x experts weights, with a bias per expert if `router_bias`, picks them), plus an
    always-active shared gated MLP of width `shared_intermediate` (0: none), with a hidden x 1
    gate if `shared_gate` (Qwen2-MoE; DeepSeek's and Llama 4's shared experts have none).
    `dense_layers` of the layers have a dense MLP of width `intermediate` instead (DeepSeek's
    first ones, first_k_dense_replace; Llama 4 Maverick's every other one); `mlp_bias` puts
    biases on the experts' gate, up and down (gpt-oss).

    Multi-head latent attention (`kv_lora_rank` > 0, DeepSeek-V2/V3): each token's keys and
    values are up-projected from one cached latent of `kv_lora_rank` elements per layer plus a
    rotary key of `rope_head_dim` shared by all heads; queries come from a latent of
    `q_lora_rank` (0: projected from the hidden state directly). `head_dim` is then the
    query/key head (its last `rope_head_dim` rotary) and `v_head_dim` the value head (0:
    head_dim); `kv_heads` equals `heads`. DeepSeek sparse attention (`index_topk` > 0,
    DeepSeek-V3.2): a lightning indexer of `index_heads` heads of `index_head_dim` (queries
    from the query latent, one key per token cached beside the latent) scores every cached
    token, and attention sees the `index_topk` best of them.
    """

    name: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    gated_mlp: bool
    tied_embeddings: bool
    layer_norm: bool
    qkv_bias: bool
    o_bias: bool
    mlp_bias: bool
    position_embeddings: int = 0
    max_positions: int | None = None
    sliding_window: int | None = None
    sliding_layers: int | None = None
    attention_sinks: bool = False
    experts: int = 0
    experts_per_token: int = 0
    expert_intermediate: int = 0
    shared_intermediate: int = 0
    router_bias: bool = False
    layer_norms: int = 2
    shared_gate: bool = True
    dense_layers: int = 0
    kv_lora_rank: int = 0
    q_lora_rank: int = 0
    rope_head_dim: int = 0
    v_head_dim: int = 0
    index_heads: int = 0
    index_head_dim: int = 0
    index_topk: int = 0
    chunked: bool = False

    def __post_init__(self) -> None:
        for key in ("hidden", "layers", "heads", "kv_heads", "head_dim", "intermediate", "vocab"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UserError(f"model {self.name!r}: {key} must be a positive integer, "
                                f"got {value!r}")
        if self.experts and not 1 <= self.experts_per_token <= self.experts:
            raise UserError(f"model {self.name!r}: experts_per_token must be in 1 .. "
                            f"{self.experts}, got {self.experts_per_token!r}")
        if self.experts and self.expert_intermediate < 1:
            raise UserError(f"model {self.name!r}: expert_intermediate must be a positive "
                            f"integer, got {self.expert_intermediate!r}")
        if self.heads % self.kv_heads:
            raise UserError(f"model {self.name!r}: {self.heads} attention heads are not a "
                            f"multiple of {self.kv_heads} key/value heads")
        window = self.sliding_window
        if window is not None and (isinstance(window, bool) or not isinstance(window, int)
                                   or window < 1):
            raise UserError(f"model {self.name!r}: sliding_window must be positive, "
                            f"got {self.sliding_window!r}")
        some = self.sliding_layers
        if some is not None and (isinstance(some, bool) or not isinstance(some, int)
                                 or not 0 <= some <= self.layers or window is None):
            raise UserError(f"model {self.name!r}: sliding_layers must be in 0 .. {self.layers} "
                            f"with a sliding_window, got {some!r}")
        bounds = {"dense_layers": self.layers - 1 if self.experts else 0,
                  "kv_lora_rank": None, "q_lora_rank": None, "v_head_dim": None,
                  "index_heads": None, "index_head_dim": None, "index_topk": None,
                  "rope_head_dim": self.head_dim - 1 if self.kv_lora_rank else 0}
        for key, top in bounds.items():
            value = getattr(self, key)
            if (isinstance(value, bool) or not isinstance(value, int) or value < 0
                    or (top is not None and value > top)):  # fmt: skip
                allowed = "a non-negative integer" if top is None else f"in 0 .. {top}"
                raise UserError(f"model {self.name!r}: {key} must be {allowed}, got {value!r}")
        sparse = (self.index_heads, self.index_head_dim, self.index_topk)
        if any(sparse) and not (all(sparse) and self.latent and window is None):
            raise UserError(f"model {self.name!r}: sparse attention needs index_heads, "
                            "index_head_dim and index_topk, latent attention and no "
                            f"sliding_window, got {sparse} and {self.kv_lora_rank!r}, {window!r}")
        if self.kv_lora_rank and self.kv_heads != self.heads:
            raise UserError(f"model {self.name!r}: latent attention has a key and value head "
                            f"per query head: kv_heads must be {self.heads}, got {self.kv_heads}")

    @property
    def moe(self) -> bool:
        """Whether the MLP is a mixture of experts."""
        return self.experts > 0

    @property
    def moe_layers(self) -> int:
        """Layers whose MLP is the mixture of experts (0 for a dense model)."""
        return self.layers - self.dense_layers if self.moe else 0

    @property
    def latent(self) -> bool:
        """Whether attention is multi-head latent attention."""
        return self.kv_lora_rank > 0

    @property
    def value_dim(self) -> int:
        """Elements of one value head (the attention output per head)."""
        return self.v_head_dim or self.head_dim

    @property
    def group(self) -> int:
        """Query heads per key/value head (1 for multi-head, > 1 for grouped-query attention)."""
        return self.heads // self.kv_heads

    def attention_spans(self, tokens: int) -> list[tuple[int, int]]:
        """(layers, tokens the newest query attends to) when `tokens` are in context: full
        layers see all of them, windowed layers at most `sliding_window` (chunked: the tokens
        of the last chunk; sparse attention: every layer at most `index_topk`); layers that
        see as many are one entry (all of them while the context fits the window)."""
        window = self.sliding_window
        if self.chunked and window is not None:
            return self._spans(tokens, (tokens - 1) % window + 1)
        return self.window_spans(tokens)

    def window_spans(self, tokens: int) -> list[tuple[int, int]]:
        """(layers, most tokens one of `tokens` queries attends to): `attention_spans`, with
        a chunked layer's whole chunk (the window a prefill's queries are split by)."""
        if self.index_topk:
            return [(self.layers, min(tokens, self.index_topk))]
        return self._spans(tokens, min(tokens, self.sliding_window or tokens))

    def _spans(self, tokens: int, windowed_sees: int) -> list[tuple[int, int]]:
        if self.sliding_window is None:
            return [(self.layers, tokens)]
        windowed = self.layers if self.sliding_layers is None else self.sliding_layers
        spans: dict[int, int] = {}  # tokens seen -> layers
        for layers, seen in ((self.layers - windowed, tokens), (windowed, windowed_sees)):
            if layers:
                spans[seen] = spans.get(seen, 0) + layers
        return [(layers, seen) for seen, layers in spans.items()]


def parameter_breakdown(spec: ModelSpec, active: bool = False) -> dict[str, int]:
    """Parameters by part: embedding, positions, attention, mlp, norms, lm_head (elements).

    Attention is q, k, v, o with their biases (latent attention: the query and key/value
    down-projections with their latents' RMSNorms, the up-projections and o); the MLP is gate
    (if gated), up and down with biases, or for a mixture of experts the router, every routed
    expert (`active`: the `experts_per_token` serving one token) and the shared MLP with its
    gate, on all but the `dense_layers`; norms are `layer_norms` per layer plus the final one
    (per-head q/k norms, a few hundred parameters, are left out). A tied lm_head shares the
    embedding matrix and adds nothing.
    """
    h = spec.hidden
    attention = _attention_parameters(spec) + spec.heads * spec.value_dim * h
    attention += h * spec.o_bias + spec.heads * spec.attention_sinks
    dense = _mlp_parameters(h, spec.intermediate, spec.gated_mlp, spec.mlp_bias)
    mlp = spec.layers * dense
    if spec.moe:
        routed = spec.experts_per_token if active else spec.experts
        shared = (_mlp_parameters(h, spec.shared_intermediate, True, False)
                  + h * spec.shared_gate) if spec.shared_intermediate else 0  # fmt: skip
        expert = _mlp_parameters(h, spec.expert_intermediate, True, spec.mlp_bias)
        router = (h + spec.router_bias) * spec.experts
        mlp = spec.dense_layers * dense + spec.moe_layers * (router + routed * expert + shared)
    per_norm = 2 * h if spec.layer_norm else h
    return {
        "embedding": spec.vocab * h,
        "positions": spec.position_embeddings * h,
        "attention": spec.layers * attention,
        "mlp": mlp,
        "norms": (spec.layer_norms * spec.layers + 1) * per_norm,
        "lm_head": 0 if spec.tied_embeddings else spec.vocab * h,
    }


def _attention_parameters(spec: ModelSpec) -> int:
    """One layer's q, k and v projections with their biases (latent attention: the
    down-projections, the latents' RMSNorm weights and the up-projections, and a sparse
    attention's indexer)."""
    h, d, heads = spec.hidden, spec.head_dim, spec.heads
    if not spec.latent:
        out = (heads + 2 * spec.kv_heads) * d
        return h * out + out * spec.qkv_bias
    r_q, r_kv, rope = spec.q_lora_rank, spec.kv_lora_rank, spec.rope_head_dim
    down = (r_q or heads * d) + r_kv + rope  # q_a (or q) and kv_a, fused or not
    up = r_q * heads * d + r_kv * heads * (d - rope + spec.value_dim)  # q_b, kv_b
    # the sparse-attention indexer: wq_b, wk, k_norm (a LayerNorm), weights_proj
    ih, idim = spec.index_heads, spec.index_head_dim
    indexer = (r_q or h) * ih * idim + h * idim + 2 * idim + h * ih
    return h * down + down * spec.qkv_bias + r_q + r_kv + up + indexer


def _mlp_parameters(hidden: int, width: int, gated: bool, bias: bool) -> int:
    """gate (if gated), up and down of an MLP of `width`, with biases if `bias`."""
    into = (2 if gated else 1) * width
    return hidden * into + width * hidden + (into + hidden) * bias


def parameter_count(spec: ModelSpec, active: bool = False) -> int:
    """Total parameters (elements), tied embeddings counted once; `active`: those one token
    uses (a mixture of experts' routed experts counted `experts_per_token` times)."""
    return sum(parameter_breakdown(spec, active).values())


def kv_cache_elements(spec: ModelSpec, batch: int, tokens: int) -> int:
    """Elements held in the K and V caches for `batch` sequences of `tokens` tokens each.

    A layer with a sliding window keeps only the last `sliding_window` tokens (rolling cache),
    a chunked layer those of the current chunk (as vLLM frees the blocks of past chunks).
    Latent attention caches each token's latent and rotary key (`kv_lora_rank` +
    `rope_head_dim` elements per layer), as DeepSeek's inference code and serving engines do,
    not the up-projected keys and values; sparse attention keeps every token, with its
    indexer key (`index_head_dim`) beside.
    """
    if spec.index_topk:
        return batch * (spec.kv_lora_rank + spec.rope_head_dim + spec.index_head_dim) * (
            spec.layers * tokens)
    kept = sum(layers * seen for layers, seen in spec.attention_spans(tokens))
    if spec.latent:
        return batch * (spec.kv_lora_rank + spec.rope_head_dim) * kept
    return 2 * batch * spec.kv_heads * spec.head_dim * kept
