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
    "Adadelta": ("Adadelta", {"lr": 1.0}),
    "Muon": ("Muon", {"lr": 0.02}),  # matrices only, no foreach: its two matrices
}
MATRICES_ONLY = {"Muon"}  # optimisers that take 2-d parameters and have no foreach switch


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
        matrices = name in MATRICES_ONLY
        used = [(v, g) for v, g in zip(values, grads) if not matrices or v.ndim == 2]
        ours = [nn.Parameter(v.copy()) for v, _ in used]
        theirs = [torch.nn.Parameter(torch.from_numpy(v.copy())) for v, _ in used]
        fast = [torch.nn.Parameter(torch.from_numpy(v.copy())) for v, _ in used]
        flags = ({}, {}) if matrices else ({"foreach": False}, {"foreach": True})
        contenders = {
            "dlpy": (getattr(optim, name)(ours, **settings), ours, False),
            "torch": (getattr(torch.optim, name)(theirs, **settings, **flags[0]), theirs, True),
        }
        if not matrices:
            contenders["foreach"] = (getattr(torch.optim, name)(fast, **settings, **flags[1]),
                                     fast, True)
        best = {key: float("inf") for key in contenders}
        for _ in range(args.steps):
            for key, (opt, params, is_torch) in contenders.items():
                for p, (_, g) in zip(params, used):
                    p.grad = torch.from_numpy(g) if is_torch else g
                start = time.perf_counter()
                opt.step()
                best[key] = min(best[key], time.perf_counter() - start)
        foreach = f"{best['foreach'] * 1e3:14.2f}" if "foreach" in best else f"{'-':>14s}"
        print(f"{label:18s} {best['dlpy'] * 1e3:8.2f} {best['torch'] * 1e3:8.2f} "
              f"{foreach} {best['dlpy'] / best['torch']:12.2f}x")


if __name__ == "__main__":
    main()
