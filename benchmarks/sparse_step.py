"""A training step of a large lookup table: dense gradient + Adam against a sparse gradient
(`sparse=True`) + `optim.SparseAdam`, which moves only the rows the batch touched.

    OMP_NUM_THREADS=1 python benchmarks/sparse_step.py [--steps 12]

Two shapes:
- "embedding": `nn.Embedding(200_000, 64)` looked up by a batch of 32 x 128 ids (a token
  embedding of an LM-sized vocabulary);
- "essay wide": `sparse_linear` over EssayNet's n-gram weights at the size of the bundled
  model of 20,000 + 20,000 n-grams (1,761,418 rows x 3 outputs), 64 essays with 600 n-grams
  each, each entry copied to its category's and prompt's rows as EssayNet does (synthetic rows
  drawn at random).
Each step is forward, backward, gradient clipping and the optimiser's step. The contenders
alternate step by step; the minimum over the steps and the ratio are printed (the two-core
machine is shared: minima are the comparable figure).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import dlpy.functional as F
from dlpy import Tensor, optim
from dlpy.ops.sparse import SparseRows


def embedding_case(rng):
    rows, dim = 200_000, 64
    weight = rng.standard_normal((rows, dim)).astype(np.float32) * 0.1

    def batch():
        return rng.integers(0, rows, size=(32, 128)), \
            rng.standard_normal((32, 128, dim)).astype(np.float32)

    def loss(w, data, sparse):
        ids, target = data
        diff = F.embedding(ids, w, sparse=sparse) - Tensor(target)
        return F.sum(diff * diff)

    return weight, batch, loss


def essay_case(rng):
    ngrams, copies, rows = 40_000, 55, 1_761_418
    weight = np.zeros((rows, 3), dtype=np.float32)

    def batch():
        entries = []
        for _ in range(64):
            shared = np.sort(rng.choice(ngrams, 600, replace=False))
            # the category's and the prompt's copies of the same n-grams, among the copy rows
            group = rng.integers(0, copies, size=2)
            copy_rows = ngrams + (group[:, None] * 600 * 50 + shared[None, :]) % (rows - ngrams)
            columns = np.concatenate([shared, copy_rows.ravel()])
            entries.append((columns, rng.random(columns.size).astype(np.float32)))
        return SparseRows.from_rows(entries, rows), \
            rng.standard_normal((64, 3)).astype(np.float32)

    def loss(w, data, sparse):
        x, target = data
        diff = F.sparse_linear(x, w, sparse=sparse) - Tensor(target)
        return F.sum(diff * diff)

    return weight, batch, loss


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=12)
    args = parser.parse_args(argv)
    for name, make in (("embedding", embedding_case), ("essay wide", essay_case)):
        rng = np.random.default_rng(0)
        start, make_batch, loss_of = make(rng)
        batches = [make_batch() for _ in range(args.steps)]
        contenders = {}
        for label, sparse, cls in (("dense gradient + Adam", False, optim.Adam),
                                   ("sparse gradient + SparseAdam", True, optim.SparseAdam)):
            w = Tensor(start.copy(), requires_grad=True)
            contenders[label] = (w, cls([w], lr=1e-3), sparse)
        times = {label: [] for label in contenders}
        for data in batches:
            for label, (w, opt, sparse) in contenders.items():
                begin = time.perf_counter()
                opt.zero_grad()
                loss_of(w, data, sparse).backward()
                optim.clip_grad_norm([w], 1.0)
                opt.step()
                times[label].append(time.perf_counter() - begin)
        print(f"{name}: {start.shape[0]:,} rows x {start.shape[1]}, {args.steps} steps")
        best = {label: min(t) * 1e3 for label, t in times.items()}
        for label, ms in best.items():
            print(f"  {label:30s} {ms:8.1f} ms per step (minimum)")
        dense_ms, sparse_ms = best.values()
        print(f"  dense / sparse: {dense_ms / sparse_ms:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
