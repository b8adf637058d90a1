"""Forward + backward of F.grid_sample and F.ctc_loss (T 100, N 16, C 30, S 20) against
PyTorch on one thread.

    OMP_NUM_THREADS=1 python benchmarks/grid_ctc_speed.py [--runs 7]

dlpy and torch alternate run by run; the minimum of the runs and the ratio are printed.
grid_sample: an affine grid a little rotated and zoomed out (some points fall outside), float32,
gradients for the input and the grid, loss = sum(y * weights); (8, 16, 64, 64) in each mode
(bilinear with zeros padding, nearest, bicubic with border padding, bilinear with reflection
and align_corners), 3-D (2, 8, 16, 32, 32) trilinear, and an image (1, 3, 224, 224) forward
only, without gradients (as the vision transforms run it). ctc_loss: log_softmax of random
logits (float32), padded targets of lengths 10..20, input lengths 80..100, mean reduction, the
gradient for the logits. Needs torch (`pip install torch==2.13.0`, the CPU build), for the
reference only.
"""

from __future__ import annotations

import argparse

import numpy as np
from timing import best_of

from dlpy import Tensor
from dlpy import functional as F

GRID_CASES = [  # (label, input shape, mode, padding_mode, align_corners, gradients)
    ("grid_sample (8,16,64,64)", (8, 16, 64, 64), "bilinear", "zeros", False, True),
    ("  nearest", (8, 16, 64, 64), "nearest", "zeros", False, True),
    ("  bicubic border", (8, 16, 64, 64), "bicubic", "border", False, True),
    ("  bilinear reflection ac", (8, 16, 64, 64), "bilinear", "reflection", True, True),
    ("  3-d (2,8,16,32,32)", (2, 8, 16, 32, 32), "bilinear", "zeros", False, True),
    ("  (1,3,224,224) no grad", (1, 3, 224, 224), "bilinear", "zeros", False, False),
]


def grid_case(torch, rng, shape, mode, padding_mode, align_corners, gradients):
    x = rng.standard_normal(shape).astype(np.float32)
    angle, k = 0.3, len(shape) - 2
    theta = np.eye(k, k + 1)
    theta[:2, :2] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    theta[:2, k] = [0.1, -0.05]
    theta = np.tile(theta * 1.2, (shape[0], 1, 1)).astype(np.float32)
    grid = F.affine_grid(Tensor(theta), shape, align_corners).data
    weights = rng.standard_normal(shape).astype(np.float32)
    settings = dict(mode=mode, padding_mode=padding_mode, align_corners=align_corners)

    def ours():
        xt, gt = Tensor(x, requires_grad=gradients), Tensor(grid, requires_grad=gradients)
        y = F.grid_sample(xt, gt, **settings)
        if not gradients:
            return (y.data,)
        (y * weights).sum().backward()
        return xt.grad, gt.grad

    def theirs():
        xt = torch.tensor(x, requires_grad=gradients)
        gt = torch.tensor(grid, requires_grad=gradients)
        if not gradients:
            with torch.no_grad():
                return (torch.nn.functional.grid_sample(xt, gt, **settings).numpy(),)
        y = torch.nn.functional.grid_sample(xt, gt, **settings)
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
        F.ctc_loss(F.log_softmax(xt, dim=-1), targets, input_lengths,
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
    cases = [(label, lambda rng, c=case: grid_case(torch, rng, *c))
             for label, *case in GRID_CASES]
    cases.append(("ctc_loss T100 N16 C30 S20", lambda rng: ctc_case(torch, rng)))
    for name, case in cases:
        ours, theirs = case(np.random.default_rng(0))
        for mine, reference in zip(ours(), theirs()):
            np.testing.assert_allclose(mine, reference, rtol=1e-3, atol=2e-3)
        best = dict(zip(("dlpy", "torch"), (t * 1e3 for t in best_of(args.runs, ours, theirs))))
        print(f"{name:28s} {best['dlpy']:9.2f} {best['torch']:9.2f} "
              f"{best['dlpy'] / best['torch']:10.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
