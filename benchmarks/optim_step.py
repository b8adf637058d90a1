"""One optimiser step of every dlpy optimiser against PyTorch's same optimiser (CPU, float32),
on parameters of the size of EssayNet's n-gram table (1.76 M x 3) and a few small ones.

    OMP_NUM_THREADS=1 python benchmarks/optim_step.py [--steps 15] [--rows 1761418]

Needs torch (`pip install torch==2.13.0`, the CPU build), for the reference only. The gradients
are fixed random arrays set before every step, so only the update is timed. dlpy and PyTorch
alternate step by step; the minimum over the steps is printed with the ratio dlpy / PyTorch
(the two-core machine is shared: minima are the comparable figure). PyTorch runs with
`foreach=False` where it has the option (one tensor at a time, as dlpy) and with its default.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from dlpy import nn, optim

CASES = {
    "SGD momentum": ("SGD", {"lr": 0.01, "momentum": 0.9}),
    "Adam": ("Adam", {"lr": 1e-3}),
    "AdamW": ("AdamW", {"lr": 1e-3, "weight_decay": 0.01}),
    "Adam amsgrad": ("Adam", {"lr": 1e-3, "amsgrad": True}),
    "RMSprop": ("RMSprop", {"lr": 1e-3}),
    "RMSprop centered": ("RMSprop", {"lr": 1e-3, "centered": True, "momentum": 0.9}),
    "Adagrad": ("Adagrad", {"lr": 1e-2}),
    "Adamax": ("Adamax", {"lr": 2e-3}),
    "NAdam": ("NAdam", {"lr": 2e-3}),
    "RAdam": ("RAdam", {"lr": 1e-3}),
    "Adafactor": ("Adafactor", {"lr": 1e-2}),
}


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--rows", type=int, default=1_761_418)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    shapes = [(args.rows, 3), (256, 256), (256,), (3,)]
    values = [rng.standard_normal(s).astype(np.float32) * 0.1 for s in shapes]
    grads = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    print(f"parameters {shapes}, {sum(v.size for v in values):,} numbers; minima of "
          f"{args.steps} alternating steps (ms)")
    print(f"{'optimiser':18s} {'dlpy':>8s} {'torch':>8s} {'torch foreach':>14s} "
          f"{'dlpy / torch':>13s}")
    for label, (name, settings) in CASES.items():
        ours = [nn.Parameter(v.copy()) for v in values]
        theirs = [torch.nn.Parameter(torch.from_numpy(v.copy())) for v in values]
        fast = [torch.nn.Parameter(torch.from_numpy(v.copy())) for v in values]
        contenders = {
            "dlpy": (getattr(optim, name)(ours, **settings), ours, False),
            "torch": (getattr(torch.optim, name)(theirs, **settings, foreach=False), theirs,
                      True),
            "foreach": (getattr(torch.optim, name)(fast, **settings, foreach=True), fast, True),
        }
        best = {key: float("inf") for key in contenders}
        for _ in range(args.steps):
            for key, (opt, params, is_torch) in contenders.items():
                for p, g in zip(params, grads):
                    p.grad = torch.from_numpy(g) if is_torch else g
                start = time.perf_counter()
                opt.step()
                best[key] = min(best[key], time.perf_counter() - start)
        print(f"{label:18s} {best['dlpy'] * 1e3:8.2f} {best['torch'] * 1e3:8.2f} "
              f"{best['foreach'] * 1e3:14.2f} {best['dlpy'] / best['torch']:12.2f}x")


if __name__ == "__main__":
    main()
