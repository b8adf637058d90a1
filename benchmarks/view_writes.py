"""Writes through views while recording (CopySlices, views re-made from their base), dlpy beside
PyTorch on the same programs, run alternately, best of several runs.

    .venv/bin/python benchmarks/view_writes.py [--steps 200] [--repeats 5]

- ``rnn_setitem``: a recurrent loop that stores each state with ``hs[t] = h`` and reads the
  previous one back as ``hs[t - 1]`` (in an op that does not save it: torch refuses a matmul
  of it), then backward; the views of hs stay alive in the graph, so every write re-makes
  them.
- ``rnn_copy_``: the same with ``hs[t].copy_(h)`` (an in-place op on a view).
- ``assemble``: an output put together step by step through a view of a view,
  ``out.transpose(0, 1)[t].copy_(y_t)``.
- ``view_chain``: the per-op cost of view ops (transpose, reshape, slice) on tiny tensors,
  which now note their base.
Prints milliseconds and the dlpy/torch ratio.
"""

from __future__ import annotations

import argparse

import numpy as np
from timing import print_against_torch

import dlpy


def programs(lib, steps: int) -> dict:
    """name -> a function running that program once and returning weight's gradient."""
    rng = np.random.default_rng(0)
    hidden, batch = 64, 8
    weight = lib.tensor(rng.standard_normal((hidden, hidden)).astype(np.float32) * 0.1,
                        requires_grad=True)
    inputs = lib.tensor(rng.standard_normal((steps, batch, hidden)).astype(np.float32))

    def gradient(loss):
        weight.grad = None
        loss.backward()
        return np.asarray(weight.grad)

    def rnn_setitem():
        hs = lib.zeros(steps + 1, batch, hidden)
        for t in range(1, steps + 1):
            hs[t] = lib.tanh(hs[t - 1] * 0.5 + inputs[t - 1] @ weight)
        return gradient((hs ** 2).sum())

    def rnn_copy_():
        hs = lib.zeros(steps + 1, batch, hidden)
        for t in range(1, steps + 1):
            hs[t].copy_(lib.tanh(hs[t - 1] * 0.5 + inputs[t - 1] @ weight))
        return gradient((hs ** 2).sum())

    def assemble():
        out = lib.empty(batch, steps, hidden)
        for t in range(steps):
            out.transpose(0, 1)[t].copy_(lib.tanh(inputs[t] @ weight))
        return gradient((out.softmax(-1) * out).sum())

    def view_chain():
        y = lib.ones(4, 6) * weight[0, 0]
        for _ in range(steps * 5):
            y = y.t().reshape(4, 6)[:, :6]
        return gradient(y.sum())

    return {"rnn_setitem": rnn_setitem, "rnn_copy_": rnn_copy_, "assemble": assemble,
            "view_chain": view_chain}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import torch

    ours, theirs = programs(dlpy, args.steps), programs(torch, args.steps)

    def check(mine, reference):  # the same gradient
        np.testing.assert_allclose(mine, reference, rtol=1e-3, atol=1e-4)

    print(f"writes through views, {args.steps} steps, best of {args.repeats} alternating runs")
    print_against_torch([(name, lambda name=name: (ours[name], theirs[name])) for name in ours],
                        args.repeats, check, 14)


if __name__ == "__main__":
    main()
