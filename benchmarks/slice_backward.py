"""Forward + backward of per-step slicing, against PyTorch: the cost a step should not grow with
the sequence length.

    OMP_NUM_THREADS=1 python benchmarks/slice_backward.py [--runs 5]

x of (L, 512) float32, loss = sum over t of sum(x[t] * w[t]) (one slice a step), at three
lengths L. (Recurrent layers no longer slice per step: a layer's sequence is one fused op,
benchmarks/rnn_speed.py.)
dlpy and PyTorch alternate run by run; the minimum of the runs is printed, and the time per step
(ms / L), which stays flat when a step's slice costs O(slice) in backward. Needs torch
(`pip install torch==2.13.0`, the CPU build), for the reference only; both run on one thread.
"""

from __future__ import annotations

import argparse

import numpy as np
from timing import best_of

from dlpy import Tensor


def rows_case(length: int, rng):
    x = rng.standard_normal((length, 512)).astype(np.float32)
    w = rng.standard_normal((length, 512)).astype(np.float32)

    def run_dlpy():
        xt = Tensor(x, requires_grad=True)
        total = None
        for t in range(length):
            term = (xt[t] * Tensor(w[t])).sum()
            total = term if total is None else total + term
        total.backward()
        return xt.grad

    def make_torch(torch):
        wt = torch.from_numpy(w)

        def run_torch():
            xt = torch.tensor(x, requires_grad=True)
            total = None
            for t in range(length):
                term = (xt[t] * wt[t]).sum()
                total = term if total is None else total + term
            total.backward()
            return xt.grad.numpy()

        return run_torch

    return run_dlpy, make_torch


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    print(f"{'case':6s} {'L':>5s} {'dlpy ms':>9s} {'torch ms':>9s} {'dlpy/torch':>11s} "
          f"{'dlpy ms/step':>13s} {'torch ms/step':>14s}")
    for name, make, lengths in (("rows", rows_case, (64, 256, 1024)),):
        for length in lengths:
            run_dlpy, make_torch = make(length, np.random.default_rng(0))
            run_torch = make_torch(torch)
            np.testing.assert_allclose(run_dlpy(), run_torch(), rtol=1e-3, atol=1e-3)
            ours, theirs = (t * 1e3 for t in best_of(args.runs, run_dlpy, run_torch))
            print(f"{name:6s} {length:5d} {ours:9.1f} {theirs:9.1f} {ours / theirs:10.2f}x "
                  f"{ours / length:13.3f} {theirs / length:14.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
