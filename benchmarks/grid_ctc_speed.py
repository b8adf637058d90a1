"""Forward + backward of F.grid_sample (8, 16, 64, 64) bilinear and F.ctc_loss (T 100, N 16,
C 30, S 20) against PyTorch on one thread.

    OMP_NUM_THREADS=1 python benchmarks/grid_ctc_speed.py [--runs 7]

dlpy and torch alternate run by run; the minimum of the runs and the ratio are printed.
grid_sample: an affine grid a little rotated and zoomed out (some points fall outside), float32,
gradients for the input and the grid, loss = sum(y * weights). ctc_loss: log_softmax of
random logits (float32), padded targets of lengths 10..20, input lengths 80..100, mean
reduction, the gradient for the logits. Needs torch (`pip install torch==2.13.0`, the CPU
build), for the reference only.
"""

from __future__ import annotations

import argparse

import numpy as np
from timing import best_of

from dlpy import Tensor
from dlpy import functional as F


def grid_case(torch, rng):
    x = rng.standard_normal((8, 16, 64, 64)).astype(np.float32)
    angle = 0.3
    theta = np.tile(np.array([[np.cos(angle), -np.sin(angle), 0.1],
                              [np.sin(angle), np.cos(angle), -0.05]]) * 1.2, (8, 1, 1))
    grid = F.affine_grid(Tensor(theta.astype(np.float32)), (8, 16, 64, 64)).data
    weights = rng.standard_normal((8, 16, 64, 64)).astype(np.float32)

    def ours():
        xt, gt = Tensor(x, requires_grad=True), Tensor(grid, requires_grad=True)
        (F.grid_sample(xt, gt) * weights).sum().backward()
        return xt.grad, gt.grad

    def theirs():
        xt = torch.tensor(x, requires_grad=True)
        gt = torch.tensor(grid, requires_grad=True)
        y = torch.nn.functional.grid_sample(xt, gt, align_corners=False)
        (y * torch.from_numpy(weights)).sum().backward()
        return xt.grad.numpy(), gt.grad.numpy()

    return ours, theirs


def ctc_case(torch, rng):
    steps, batch, classes, longest = 100, 16, 30, 20
    logits = rng.standard_normal((steps, batch, classes)).astype(np.float32)
    targets = rng.integers(1, classes, (batch, longest))
    input_lengths = rng.integers(80, steps + 1, batch)
    target_lengths = rng.integers(10, longest + 1, batch)

    def ours():
        xt = Tensor(logits, requires_grad=True)
        F.ctc_loss(F.log_softmax(xt, axis=-1), targets, input_lengths,
                   target_lengths).backward()
        return (xt.grad,)

    def theirs():
        xt = torch.tensor(logits, requires_grad=True)
        torch.nn.functional.ctc_loss(xt.log_softmax(-1), torch.from_numpy(targets),
                                     torch.from_numpy(input_lengths),
                                     torch.from_numpy(target_lengths)).backward()
        return (xt.grad.numpy(),)

    return ours, theirs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    print(f"{'case':28s} {'dlpy ms':>9s} {'torch ms':>9s} {'dlpy/torch':>11s}")
    for name, case in (("grid_sample (8,16,64,64)", grid_case), ("ctc_loss T100 N16 C30 S20",
                                                                 ctc_case)):
        ours, theirs = case(torch, np.random.default_rng(0))
        for mine, reference in zip(ours(), theirs()):
            np.testing.assert_allclose(mine, reference, rtol=1e-3, atol=1e-3)
        best = dict(zip(("dlpy", "torch"), (t * 1e3 for t in best_of(args.runs, ours, theirs))))
        print(f"{name:28s} {best['dlpy']:9.2f} {best['torch']:9.2f} "
              f"{best['dlpy'] / best['torch']:10.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
