"""Peak memory and time of forward + backward with and without activation checkpointing.

    OMP_NUM_THREADS=1 python benchmarks/checkpoint_memory.py [--runs 3]

Two models, float32:
- "mlp": 32 blocks of Linear(256, 256) + GELU + Dropout(0.1), batch 512, checkpointed with
  checkpoint_sequential(model, 8, x) (8 segments of 4 blocks; the last one is not
  checkpointed, as torch's), use_reentrant=False and True;
- "transformer": 8 TransformerEncoderLayer(256, 4 heads, 1024, dropout 0.1) over a batch of
  8 x 64 tokens, each layer in its own checkpoint(layer, x), use_reentrant=False and True.
The peak is tracemalloc's (numpy reports its arrays to it) over one forward + backward,
above what existed before (the parameters and the input; the new gradients count); the time
is the minimum of the runs without tracemalloc, plain and checkpointed alternating. The
gradients of both are checked to be equal (bit for bit).
"""

from __future__ import annotations

import argparse
import functools
import time
import tracemalloc

import numpy as np

import dlpy
from dlpy import Tensor, nn
from dlpy.utils.checkpoint import checkpoint, checkpoint_sequential


def mlp_case():
    rng = np.random.default_rng(0)
    blocks = []
    for _ in range(32):
        blocks += [nn.Linear(256, 256, rng=rng), nn.GELU(), nn.Dropout(0.1)]
    model = nn.Sequential(*blocks)
    x = rng.standard_normal((512, 256)).astype(np.float32)
    return ("mlp: 32 x (Linear(256, 256), GELU, Dropout), batch 512",
            model, x, lambda m, t: m(t), lambda m, t, r: checkpoint_sequential(
                m, 8, t, use_reentrant=r))


def transformer_case():
    dlpy.manual_seed(1)  # no rng=: dropout draws from the default generator, reseeded per run
    model = nn.ModuleList([nn.TransformerEncoderLayer(256, 4, 1024, dropout=0.1, batch_first=True)
                           for _ in range(8)])
    x = np.random.default_rng(1).standard_normal((8, 64, 256)).astype(np.float32)

    def plain(m, t):
        for layer in m:
            t = layer(t)
        return t

    def checkpointed(m, t, reentrant):
        for layer in m:
            t = checkpoint(layer, t, use_reentrant=reentrant)
        return t

    return ("transformer: 8 x TransformerEncoderLayer(256, 4, 1024), (8, 64, 256)",
            model, x, plain, checkpointed)


def step(model, x, forward, trace: bool) -> tuple[float, int, list[np.ndarray]]:
    """Seconds, peak bytes above the start (with ``trace``; tracemalloc slows Python down,
    so timed runs go without it), and the gradients of one forward + backward."""
    model.zero_grad()
    dlpy.manual_seed(0)
    if trace:
        tracemalloc.start()
    start = time.perf_counter()
    xt = Tensor(x, requires_grad=True)
    y = forward(model, xt)
    (y * y).mean().backward()
    seconds = time.perf_counter() - start
    peak = 0
    if trace:
        peak = tracemalloc.get_traced_memory()[1]  # includes the new .grad arrays
        tracemalloc.stop()
    return seconds, peak, [p.grad.numpy().copy() for p in model.parameters()] + [xt.grad.numpy()]


def _variant(checkpointed, reentrant: bool, m, t):
    return checkpointed(m, t, reentrant)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"forward + backward, float32; peak traced memory, minimum time of {args.runs} runs; "
          "ckpt: use_reentrant=False (torch's recommended, saved tensors recomputed), "
          "reent: use_reentrant=True (one op, the function recomputed under its backward)")
    print(f"{'':13s} {'plain MB':>9s} {'ckpt MB':>8s} {'ratio':>6s} {'reent MB':>9s} "
          f"{'ratio':>6s} {'plain s':>8s} {'ckpt s':>7s} {'ratio':>6s} {'reent s':>8s} "
          f"{'ratio':>6s}")
    for make in (mlp_case, transformer_case):
        title, model, x, plain, checkpointed = make()
        variants = (("plain", plain),
                    ("ckpt", functools.partial(_variant, checkpointed, False)),
                    ("reent", functools.partial(_variant, checkpointed, True)))
        times = {name: [] for name, _ in variants}
        peaks, grads = {}, {}
        for name, forward in variants:
            _, peaks[name], grads[name] = step(model, x, forward, trace=True)
        for _ in range(args.runs):  # the contenders alternate
            for name, forward in variants:
                times[name].append(step(model, x, forward, trace=False)[0])
        same = all(np.array_equal(a, b) for name in ("ckpt", "reent")
                   for a, b in zip(grads["plain"], grads[name]))
        mb = {k: v / 2**20 for k, v in peaks.items()}
        t = {k: min(v) for k, v in times.items()}
        print(f"{title.split(':')[0]:13s} {mb['plain']:9.1f} {mb['ckpt']:8.1f} "
              f"{mb['ckpt'] / mb['plain']:6.2f} {mb['reent']:9.1f} "
              f"{mb['reent'] / mb['plain']:6.2f} {t['plain']:8.3f} {t['ckpt']:7.3f} "
              f"{t['ckpt'] / t['plain']:6.2f} {t['reent']:8.3f} {t['reent'] / t['plain']:6.2f}"
              f"   ({title.split(': ')[1]}; gradients equal: {same})")


if __name__ == "__main__":
    main()
