"""Probe of models of BlockDialect's minimum-error selection given the block maximum M
(run: python tests/benchmarks/probe_dialect_min.py NU BLOCK [BLOCKS_PER_NODE]).

At every quadrature node of `choice.dialect_min_error` (4 sigma offsets; M = m), a Monte
Carlo of the real minimum (the B - 1 other values drawn from the t law truncated to [-m, m])
is the reference for E[min_k S_k | M], integrated over M with the nodes' weights; against it
the script prints the relative gap of (1) the normal law of the 16 block errors with Clark's
minimum and (2) the normal law conditioned on the count N of other values in the region where
the dialects' errors differ, exact for N <= 2 (the figures in `dse.error.min_choice`'s
docstring).
"""

from __future__ import annotations

import sys

import numpy as np
from scipy.stats import binom

from dse.error import choice
from dse.error.api import _setting
from dse.error.blocksums import BlockSums
from dse.error.codebook import codebook_of_levels
from dse.formats import parse


def setup(nu: float, block: int):
    """The record, setting, nodes and one `blocksums.Term` per dialect."""
    fmt, st = _setting(parse(f"blockdialect/g{block}"), nu, block, None, None, 4096)
    union = sorted({float(v) for c in fmt.candidates for v in c.element.values})
    marks = codebook_of_levels(tuple(union), fmt.candidates[0].rounding).thresholds
    nodes, sigma = choice._offset_nodes(fmt, st, 64, marks)  # the model's own nodes
    return st, nodes, [choice._term(c, nodes, sigma, st) for c in fmt.candidates]


def reference(st, nodes, terms, blocks: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Monte Carlo E[min_k S_k | M = m] and its standard error at every node."""
    rng, b = np.random.default_rng(seed), nodes.block - 1
    mean, se = np.empty(nodes.m.size), np.empty(nodes.m.size)
    for j, (m, q) in enumerate(zip(nodes.m, nodes.q)):
        mag = st.dist.isf(rng.uniform(2 * q, 1.0, (blocks, b)) / 2)
        x = np.hstack([mag * rng.choice([-1.0, 1.0], (blocks, b)), np.full((blocks, 1), m)])
        s = np.stack([((x - t.s[j] * t.cb.quantize(x / t.s[j])) ** 2).sum(-1) for t in terms])
        best = s.min(axis=0)
        mean[j], se[j] = best.mean(), best.std() / np.sqrt(blocks)
    return mean, se


def conditioned(bs: BlockSums, top: np.ndarray) -> np.ndarray:
    """Normal law given the count N in the differing region, exact for N <= 2 (Clark beyond)."""
    n = bs.values.shape[1]
    per = (bs.mean - top) / bs.b
    vals = bs.values - bs.one_mean[:, :, None] + per[:, :, None]
    out = np.empty(n)
    for j in range(n):
        v, w, e = vals[:, j], bs.w[j], top[:, j]
        h = np.ptp(v, axis=0) > 1e-12 * np.abs(v).max()
        p_h = w[h].sum()
        rest = w[~h] @ v[0, ~h] / max(1.0 - p_h, 1e-300)
        counts = np.arange(bs.b + 1)
        val = np.full(bs.b + 1, e.min())
        if p_h > 0:
            g, wh = v[:, h], w[h] / p_h
            mu = g @ wh
            cov = ((g - mu[:, None]) * wh) @ (g - mu[:, None]).T
            val[1] = wh @ (e[:, None] + g).min(axis=0)
            if bs.b >= 2:
                val[2] = wh @ (e[:, None, None] + g[:, :, None] + g[:, None, :]).min(axis=0) @ wh
            big = counts[3:]
            val[3:] = choice.clark_min(e[:, None] + mu[:, None] * big, cov[:, :, None] * big)
        out[j] = binom.pmf(counts, bs.b, min(p_h, 1.0)) @ (val + (bs.b - counts) * rest)
    return out


def main(nu: float, block: int, blocks: int = 2000) -> None:
    st, nodes, terms = setup(nu, block)
    bs = BlockSums(terms, nodes, st.dist)
    top = np.stack([t(np.stack([nodes.m, -nodes.m], axis=1)).mean(axis=1) for t in terms])
    ref, se = reference(st, nodes, terms, blocks)
    w = nodes.weight
    truth = w @ ref
    rse = 100 * np.sqrt(w**2 @ se**2) / truth
    print(f"nu={nu} B={block}: E[min] / B = {truth / block:.6g} (SE {rse:.2f} %)")
    for name, v in (
        ("normal, Clark", choice.clark_min(bs.mean, bs.cov())),
        ("given N, exact N <= 2", conditioned(bs, top)),
    ):
        print(f"  {name:24s} {100 * (w @ v / truth - 1):+.2f} %")


if __name__ == "__main__":
    main(float(sys.argv[1]), int(sys.argv[2]), *map(int, sys.argv[3:]))
