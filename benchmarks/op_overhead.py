"""Per-op Python overhead: a chain of small adds on tiny tensors, dlpy beside PyTorch.

    .venv/bin/python benchmarks/op_overhead.py [--ops 1000] [--repeats 20] [--dispatch-class]

Every op works on a float32 tensor of shape (4,), so the time is the framework's bookkeeping
(building the op, recording the graph, walking it backward), not arithmetic. Prints microseconds
per op, best of several runs, and the dlpy/torch ratio when torch is installed.
--dispatch-class adds a third contender: dlpy's chain while a ``__torch_dispatch__`` Tensor
subclass is defined (as a library defines one at import: PyG's Index), made before and collected
after each of its runs, and its ratio to the plain chain (the engine's hot path should not pay
for a class whose instances it is not given).
"""

from __future__ import annotations

import argparse
import gc
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


def _dispatch_class() -> type:
    """A ``__torch_dispatch__`` subclass that passes every op through."""
    class Passing(dlpy.Tensor):
        @classmethod
        def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
            return func(*args, **(kwargs or {}))

    return Passing


def measure(ops: int, repeats: int, dispatch_class: bool = False) -> dict[str, list[float]]:
    """Best seconds per op for each (framework, pass); the runs are interleaved so that a busy
    machine slows both frameworks alike."""
    runs = {"dlpy": dlpy_chain(ops), "torch": torch_chain(ops)}
    if dispatch_class:
        runs["dlpy, dispatch class"] = runs["dlpy"]
    runs = {name: fns for name, fns in runs.items() if fns is not None}
    best = {name: [float("inf"), float("inf")] for name in runs}
    for _ in range(repeats):
        for name, fns in runs.items():
            alive = _dispatch_class() if name == "dlpy, dispatch class" else None
            for i, fn in enumerate(fns):
                start = time.perf_counter()
                fn()
                best[name][i] = min(best[name][i], (time.perf_counter() - start) / ops)
            del alive
            gc.collect()
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=1000, help="adds in the chain")
    parser.add_argument("--repeats", type=int, default=20, help="runs; the best is kept")
    parser.add_argument("--dispatch-class", action="store_true",
                        help="also time dlpy while a __torch_dispatch__ subclass is defined")
    args = parser.parse_args(argv)

    best = measure(args.ops, args.repeats, args.dispatch_class)
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
    if args.dispatch_class:
        alive = best["dlpy, dispatch class"]
        for i, label in enumerate(["forward", "forward+backward"]):
            print(f"{label:18}{alive[i] * 1e6:12.2f} us/op with a __torch_dispatch__ class "
                  f"defined: {alive[i] / ours[i]:.2f}x the plain chain")


if __name__ == "__main__":
    main()
