"""`dse.capture.capture_activations` on a stand-in for a PyTorch model (the hook API only; no
torch needed): what is saved, under which names, bounded, hooks removed, and readable by the
profiler."""

from __future__ import annotations

import numpy as np
import pytest

from dse.capture import capture_activations
from dse.error.tensorio import read_tensors
from dse.errors import UserError
from workloads.profiles import classify_tensor


class Handle:
    def __init__(self, hooks: list, hook) -> None:
        self.hooks, self.hook = hooks, hook

    def remove(self) -> None:
        self.hooks.remove(self.hook)


class Linear:
    """A linear layer with PyTorch's forward-hook protocol."""

    def __init__(self, rng, k: int, n: int) -> None:
        self.w, self.hooks = rng.standard_normal((k, n)), []

    def register_forward_hook(self, hook) -> Handle:
        self.hooks.append(hook)
        return Handle(self.hooks, hook)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y = x @ self.w
        for hook in list(self.hooks):
            hook(self, (x,), y)
        return y


class Block:
    """One attention + MLP block's linear layers, named as in HuggingFace Llama."""

    def __init__(self, hidden: int = 16) -> None:
        rng = np.random.default_rng(0)
        self.layers = {f"model.layers.0.self_attn.{p}": Linear(rng, hidden, hidden)
                       for p in ("q_proj", "k_proj", "v_proj", "o_proj")}  # fmt: skip
        self.layers["model.layers.0.mlp.up_proj"] = Linear(rng, hidden, 4 * hidden)
        self.layers["model.layers.0.mlp.down_proj"] = Linear(rng, 4 * hidden, hidden)
        self.layers["model.norm"] = Linear(rng, hidden, hidden)  # no GEMM operand

    def named_modules(self):
        yield "", self
        yield from self.layers.items()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        a = "model.layers.0.self_attn."
        q, k, v = (self.layers[a + p](x) for p in ("q_proj", "k_proj", "v_proj"))
        h = x + self.layers[a + "o_proj"](q + k + v)
        m = "model.layers.0.mlp."
        return self.layers["model.norm"](h + self.layers[m + "down_proj"](
            self.layers[m + "up_proj"](h)))


def test_captures_linear_inputs_and_qkv_outputs_bounded_and_readable(tmp_path):
    model = Block()
    x = np.random.default_rng(1).standard_normal((2, 50, 16))  # batch x tokens x hidden
    shapes = capture_activations(model, x, tmp_path / "acts.npz", max_rows=64)
    a = "model.layers.0.self_attn."
    assert set(shapes) == {
        *(f"{a}{p}.input" for p in ("q_proj", "k_proj", "v_proj", "o_proj")),
        *(f"{a}{p}.output" for p in ("q_proj", "k_proj", "v_proj")),
        "model.layers.0.mlp.up_proj.input", "model.layers.0.mlp.down_proj.input",
    }  # fmt: skip
    assert shapes["model.layers.0.mlp.down_proj.input"] == (64, 64)  # first 64 of 100 rows
    saved = {name: arr for name, arr, _ in read_tensors(tmp_path / "acts.npz")}
    assert np.array_equal(saved[f"{a}q_proj.input"], x.reshape(-1, 16)[:64].astype(np.float32))
    assert np.allclose(saved[f"{a}k_proj.output"],
                       (x.reshape(-1, 16)[:64] @ model.layers[a + "k_proj"].w), atol=1e-5)
    assert all(classify_tensor(n) is not None for n in saved)  # every name is profiled
    assert all(not layer.hooks for layer in model.layers.values())  # hooks removed
    from dse.cli import main
    from workloads import load_profile_stats

    assert main(["profile", str(tmp_path / "acts.npz"), "-o", str(tmp_path / "p.yaml")]) == 0
    stats = load_profile_stats(tmp_path / "p.yaml")
    assert set(stats.overrides) == {"activation", "kv_cache"} and not stats.unmatched


def test_capture_errors_are_clear(tmp_path):
    with pytest.raises(UserError, match="named_modules"):
        capture_activations(object(), np.zeros((2, 4)), tmp_path / "a.npz")
    model = Block()
    with pytest.raises(UserError, match="none of the hooked modules"):
        capture_activations(model, lambda m: None, tmp_path / "a.npz")
    assert all(not layer.hooks for layer in model.layers.values())
    assert not (tmp_path / "a.npz").exists()


class Norm(Linear):
    """An RMSNorm-like module (elementwise), with the forward-hook protocol."""

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y = x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True))
        for hook in list(self.hooks):
            hook(self, (x,), y)
        return y


def test_captures_the_latent_a_latent_attention_layer_caches(tmp_path):
    """DeepSeek's latent attention caches kv_a_layernorm's output: it is captured (and
    profiled as the KV cache); the latent down-projection's input as a qkv activation."""
    rng = np.random.default_rng(2)
    a = "model.layers.0.self_attn."
    kv_a, norm = Linear(rng, 16, 8), Norm(rng, 8, 8)

    class Latent:
        def named_modules(self):
            yield "", self
            yield a + "kv_a_proj_with_mqa", kv_a
            yield a + "kv_a_layernorm", norm

        def __call__(self, x):
            return norm(kv_a(x))

    x = rng.standard_normal((30, 16))
    shapes = capture_activations(Latent(), x, tmp_path / "acts.npz")
    assert set(shapes) == {a + "kv_a_proj_with_mqa.input", a + "kv_a_layernorm.output"}
    saved = {name: arr for name, arr, _ in read_tensors(tmp_path / "acts.npz")}
    latent = x @ kv_a.w
    expected = latent / np.sqrt(np.mean(latent * latent, axis=-1, keepdims=True))
    assert np.allclose(saved[a + "kv_a_layernorm.output"], expected, atol=1e-5)
