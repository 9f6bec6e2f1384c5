"""The forward pass of a BERT encoder with mean pooling, in float64 numpy.

Hugging Face BertModel (post-LayerNorm, Devlin et al. 2019): embeddings = LayerNorm(word +
position + token type 0); each layer: multi-head self-attention with an additive padding mask,
output dense + residual + LayerNorm, intermediate dense + exact erf GELU, output dense + residual
+ LayerNorm. Sentence embedding = mean of the last hidden states over the real tokens
(sentence-transformers Pooling, pooling_mode_mean_tokens); `normalize` gives the L2-normalised
vector (its Normalize module).

Every linear layer's input passes through `hook(name, x)` first, x of shape (tokens, in) with
the real tokens only: it can record activations or return them quantized.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import special

from dse.validation.checkpoint import Checkpoint

Hook = Callable[[str, np.ndarray], np.ndarray]


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def _gelu(x: np.ndarray) -> np.ndarray:
    """Exact GELU, x Phi(x) (config hidden_act 'gelu')."""
    return x * special.ndtr(x)


class Encoder:
    """`Encoder(ckpt, weights)(ids, mask)` -> pooled embeddings (batch, hidden). `weights`
    overrides tensors of the checkpoint by name (e.g. quantized linear weights)."""

    def __init__(self, ckpt: Checkpoint, weights: dict[str, np.ndarray] | None = None):
        self.cfg = ckpt.config
        self.w = {**ckpt.weights, **(weights or {})}
        self.eps = float(self.cfg["layer_norm_eps"])

    def _ln(self, x: np.ndarray, prefix: str) -> np.ndarray:
        return _layer_norm(x, self.w[f"{prefix}.weight"], self.w[f"{prefix}.bias"], self.eps)

    def _linear(self, x: np.ndarray, keep: np.ndarray, name: str, hook: Hook | None) -> np.ndarray:
        """x (batch, seq, in) -> (batch, seq, out); padding positions stay zero."""
        rows = x[keep]
        if hook is not None:
            rows = hook(name, rows)
        out = np.zeros((*x.shape[:2], self.w[f"{name}.weight"].shape[0]))
        out[keep] = rows @ self.w[f"{name}.weight"].T + self.w[f"{name}.bias"]
        return out

    def _attention(self, h: np.ndarray, keep: np.ndarray, p: str, hook: Hook | None):
        b, s, d = h.shape
        heads = int(self.cfg["num_attention_heads"])
        q, k, v = (
            self._linear(h, keep, f"{p}.attention.self.{n}", hook)
            .reshape(b, s, heads, d // heads)
            .transpose(0, 2, 1, 3)
            for n in ("query", "key", "value")
        )
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d // heads)
        scores = np.where(keep[:, None, None, :], scores, -np.inf)
        scores -= scores.max(axis=-1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(axis=-1, keepdims=True)
        ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(b, s, d)
        return self._linear(ctx, keep, f"{p}.attention.output.dense", hook)

    def __call__(self, ids: np.ndarray, mask: np.ndarray, hook: Hook | None = None) -> np.ndarray:
        """Mean-pooled last hidden states (batch, hidden) of token ids and mask (batch, seq)."""
        keep = mask.astype(bool)
        pos = np.arange(ids.shape[1])
        h = self._ln(
            self.w["embeddings.word_embeddings.weight"][ids]
            + self.w["embeddings.position_embeddings.weight"][pos][None]
            + self.w["embeddings.token_type_embeddings.weight"][0],
            "embeddings.LayerNorm",
        )
        for i in range(int(self.cfg["num_hidden_layers"])):
            p = f"encoder.layer.{i}"
            h = self._ln(h + self._attention(h, keep, p, hook), f"{p}.attention.output.LayerNorm")
            inter = _gelu(self._linear(h, keep, f"{p}.intermediate.dense", hook))
            h = self._ln(h + self._linear(inter, keep, f"{p}.output.dense", hook),
                         f"{p}.output.LayerNorm")  # fmt: skip
        m = keep[..., None]
        return (h * m).sum(axis=1) / m.sum(axis=1)


def normalize(emb: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (sentence-transformers Normalize)."""
    return emb / np.linalg.norm(emb, axis=-1, keepdims=True)
