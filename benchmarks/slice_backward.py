"""Forward + backward of per-step slicing, against PyTorch: the cost a step should not grow with
the sequence length.

    OMP_NUM_THREADS=1 python benchmarks/slice_backward.py [--runs 5]

Two computations at three lengths L each:
- "rows": x of (L, 512) float32, loss = sum over t of sum(x[t] * w[t]) (one slice a step);
- "lstm": nn.LSTM(32, 64) over (L, 8, 32) float32, loss = sum(output^2) (dlpy slices the input
  projection once a step and its gates four times).
dlpy and PyTorch alternate run by run; the minimum of the runs is printed, and the time per step
(ms / L), which stays flat when a step's slice costs O(slice) in backward. Needs torch
(`pip install torch==2.13.0`, the CPU build), for the reference only; both run on one thread.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from dlpy import Tensor, nn


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


def lstm_case(length: int, rng):
    layer = nn.LSTM(32, 64, rng=rng)
    x = rng.standard_normal((length, 8, 32)).astype(np.float32)

    def run_dlpy():
        layer.zero_grad()
        xt = Tensor(x, requires_grad=True)
        output, _ = layer(xt)
        (output * output).sum().backward()
        return xt.grad

    def make_torch(torch):
        theirs = torch.nn.LSTM(32, 64)
        with torch.no_grad():
            for name, p in theirs.named_parameters():
                p.copy_(torch.from_numpy(getattr(layer, name).data))

        def run_torch():
            theirs.zero_grad()
            xt = torch.tensor(x, requires_grad=True)
            output, _ = theirs(xt)
            (output * output).sum().backward()
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
    for name, make, lengths in (("rows", rows_case, (64, 256, 1024)),
                                ("lstm", lstm_case, (32, 128, 512))):
        for length in lengths:
            run_dlpy, make_torch = make(length, np.random.default_rng(0))
            run_torch = make_torch(torch)
            np.testing.assert_allclose(run_dlpy(), run_torch(), rtol=1e-3, atol=1e-3)
            times: dict[str, list[float]] = {"dlpy": [], "torch": []}
            for _ in range(args.runs):
                for label, run in (("dlpy", run_dlpy), ("torch", run_torch)):
                    begin = time.perf_counter()
                    run()
                    times[label].append(time.perf_counter() - begin)
            ours, theirs = (min(times[label]) * 1e3 for label in ("dlpy", "torch"))
            print(f"{name:6s} {length:5d} {ours:9.1f} {theirs:9.1f} {ours / theirs:10.2f}x "
                  f"{ours / length:13.3f} {theirs / length:14.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
