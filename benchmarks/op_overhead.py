"""Per-op Python overhead: a chain of small adds on tiny tensors, dlpy beside PyTorch.

    .venv/bin/python benchmarks/op_overhead.py [--ops 1000] [--repeats 20]

Every op works on a float32 tensor of shape (4,), so the time is the framework's bookkeeping
(building the op, recording the graph, walking it backward), not arithmetic. Prints microseconds
per op, best of several runs, and the dlpy/torch ratio when torch is installed.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import dlpy


def dlpy_chain(ops: int):
    x = dlpy.Tensor(np.ones(4, dtype=np.float32), requires_grad=True)
    c = dlpy.Tensor(np.ones(4, dtype=np.float32))

    def forward():
        y = x
        for _ in range(ops):
            y = y + c
        return y

    return forward, lambda: forward().sum().backward()


def torch_chain(ops: int):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    x = torch.ones(4, requires_grad=True)
    c = torch.ones(4)

    def forward():
        y = x
        for _ in range(ops):
            y = y + c
        return y

    return forward, lambda: forward().sum().backward()


def measure(ops: int, repeats: int) -> dict[str, list[float]]:
    """Best seconds per op for each (framework, pass); the runs are interleaved so that a busy
    machine slows both frameworks alike."""
    runs = {"dlpy": dlpy_chain(ops), "torch": torch_chain(ops)}
    runs = {name: fns for name, fns in runs.items() if fns is not None}
    best = {name: [float("inf"), float("inf")] for name in runs}
    for _ in range(repeats):
        for name, fns in runs.items():
            for i, fn in enumerate(fns):
                start = time.perf_counter()
                fn()
                best[name][i] = min(best[name][i], (time.perf_counter() - start) / ops)
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=1000, help="adds in the chain")
    parser.add_argument("--repeats", type=int, default=20, help="runs; the best is kept")
    args = parser.parse_args(argv)

    best = measure(args.ops, args.repeats)
    ours, theirs = best["dlpy"], best.get("torch")
    print(f"per-op overhead: a chain of {args.ops} adds on float32 tensors of shape (4,), "
          f"best of {args.repeats}")
    print(f"{'':18}{'dlpy us/op':>12}{'torch us/op':>13}{'dlpy/torch':>12}")
    for i, label in enumerate(["forward", "forward+backward"]):
        line = f"{label:18}{ours[i] * 1e6:12.2f}"
        if theirs is not None:
            line += f"{theirs[i] * 1e6:13.2f}{ours[i] / theirs[i]:12.2f}"
        else:
            line += f"{'(no torch)':>13}"
        print(line)


if __name__ == "__main__":
    main()
