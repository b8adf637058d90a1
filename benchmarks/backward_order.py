"""What a reverse pass spends on its order: torch's engine order (``_schedule``: each edge
counted, then a ready queue of the newest node) beside a depth-first reverse topological order
(``_topological_order``, the order dlpy's engine ran before it followed torch's), on graphs of
small ops, and that cost against the whole forward and backward of the same graph.

    .venv/bin/python benchmarks/backward_order.py [--repeats 7]

Three graphs on tiny tensors (so the time is bookkeeping, not arithmetic): a chain of 150 ops,
a tree of 256 ops (64 leaves, each squared and sined, then multiplied pairwise down to one),
and a 3-layer MLP's cross-entropy loss. Prints microseconds (best of several runs, the two
orders alternating), the ratio of the two orders, and the extra time as a share of one forward
and backward of the graph.
"""

from __future__ import annotations

import argparse
import importlib
import time

import numpy as np

import dlpy

engine = importlib.import_module("dlpy.tensor")


def _chain():
    rng = np.random.default_rng(0)
    x = dlpy.tensor(rng.standard_normal((8, 8)), requires_grad=True)
    w = dlpy.tensor(rng.standard_normal((8, 8)), requires_grad=True)

    def build():
        h = x
        for _ in range(50):
            h = (h * w).tanh() + 1
        return h.sum()
    return build


def _tree():
    rng = np.random.default_rng(0)
    leaves = [dlpy.tensor(rng.standard_normal(4), requires_grad=True) for _ in range(64)]

    def build():
        parts = [(leaf * leaf).sin() for leaf in leaves]
        while len(parts) > 1:
            parts = [a * b for a, b in zip(parts[::2], parts[1::2])]
        return parts[0].sum()
    return build


def _mlp():
    rng = np.random.default_rng(0)
    net = dlpy.nn.Sequential(dlpy.nn.Linear(32, 64), dlpy.nn.ReLU(), dlpy.nn.Linear(64, 64),
                             dlpy.nn.ReLU(), dlpy.nn.Linear(64, 10))
    x = dlpy.tensor(rng.standard_normal((16, 32)).astype(np.float32))
    y = dlpy.tensor(rng.integers(0, 10, 16))
    return lambda: dlpy.functional.cross_entropy(net(x), y)


def _best(call, number: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            call()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(f"{'graph':6} {'ops':>4} {'dfs µs':>8} {'torch µs':>9} {'ratio':>6} "
          f"{'fwd+bwd µs':>11} {'extra':>6}")
    for name, make in (("chain", _chain), ("tree", _tree), ("mlp", _mlp)):
        build = make()
        root = build()
        ops = len(engine._schedule([root]))
        dfs, ours = float("inf"), float("inf")
        for _ in range(args.repeats):  # (alternating: the machine's load moves)
            dfs = min(dfs, _best(lambda r=root: engine._topological_order([r]), 200, 1))
            ours = min(ours, _best(lambda r=root: engine._schedule([r]), 200, 1))
        step = _best(lambda b=build: b().backward(), 20, args.repeats)
        print(f"{name:6} {ops:4d} {dfs * 1e6:8.1f} {ours * 1e6:9.1f} {ours / dfs:6.2f} "
              f"{step * 1e6:11.0f} {(ours - dfs) / step:6.1%}")


if __name__ == "__main__":
    main()
