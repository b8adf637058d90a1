"""nn.MultiheadAttention forward + backward with and without need_weights, dlpy beside PyTorch,
run alternately, best of several runs.

    .venv/bin/python benchmarks/mha_weights.py [--steps 20] [--repeats 5]

With ``need_weights=True`` while recording, dlpy's weights carry a gradient as torch's do: the
scores, softmax and P v are separate ops (torch's need_weights path); without, one fused
attention op. The loss reads the output and the weights (``need_weights=True``), so the
weights' gradient path is timed too. Checks that the inputs' gradients agree, prints
milliseconds per step and the dlpy/torch ratio.
"""

from __future__ import annotations

import argparse

import numpy as np
from timing import print_against_torch

import dlpy


def programs(lib, steps: int) -> dict:
    """name -> a function running ``steps`` forward + backward passes and returning the input's
    gradient."""
    rng = np.random.default_rng(0)
    batch, seq, d, heads = 8, 32, 64, 4
    attention = lib.nn.MultiheadAttention(d, heads, batch_first=True)
    with lib.no_grad():
        for p in attention.parameters():
            p.copy_(lib.tensor(rng.uniform(-0.1, 0.1, tuple(p.shape)).astype(np.float32)))
    x = lib.tensor(rng.standard_normal((batch, seq, d)).astype(np.float32), requires_grad=True)

    def run(need_weights: bool):
        def program():
            for _ in range(steps):
                x.grad = None
                out, weights = attention(x, x, x, need_weights=need_weights)
                loss = out.sum() if weights is None else out.sum() + (weights * weights).sum()
                loss.backward()
            return np.asarray(x.grad)
        return program

    return {"need_weights=False": run(False), "need_weights=True": run(True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    ours, theirs = programs(dlpy, args.steps), programs(torch, args.steps)

    def check(mine, reference):  # the same gradient of the input
        np.testing.assert_allclose(mine, reference, rtol=1e-3, atol=1e-5)

    print(f"MultiheadAttention(64, 4), (8, 32, 64), {args.steps} forward + backward steps, best "
          f"of {args.repeats} alternating runs")
    print_against_torch([(name, lambda name=name: (ours[name], theirs[name])) for name in ours],
                        args.repeats, check, 20)


if __name__ == "__main__":
    main()
