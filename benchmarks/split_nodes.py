"""Split, chunk and unbind, forward + backward, against PyTorch: their pieces share one node
(dlpy.ops.multi_output), which adds one op a call to the pieces' own slices.

    OMP_NUM_THREADS=1 python benchmarks/split_nodes.py [--runs 9]

Each case takes the pieces of a leaf x, a weighted sum of every piece, and backward: small
(x of (4, 8), the per-op overhead) and large ((64, 4096) float32: the slices' arithmetic),
and an LSTM-style gate chunk of (32, 4 * 256) into 4, 100 times in a row before one backward.
dlpy and PyTorch alternate run by run (timing.best_of, this thread's CPU time); the minimum of
the runs is printed with the ratio. Needs torch (`pip install torch==2.13.0`, the CPU build),
for the reference only; both run on one thread.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from timing import best_of

import dlpy


def case(library, shape, pieces, repeat: int):
    """A function running ``repeat`` times pieces(x) and their weighted sum, then backward."""
    rng = np.random.default_rng(0)
    x = library.tensor(rng.standard_normal(shape).astype(np.float32), requires_grad=True)

    def run():
        x.grad = None
        total = 0
        for _ in range(repeat):
            for i, piece in enumerate(pieces(x)):
                total = total + (piece * float(i + 1)).sum()
        total.backward()
        return x.grad

    return run


CASES = [
    ("split(2) of (4, 8), x1", (4, 8), lambda x: x.split(2), 1),
    ("unbind(0) of (4, 8), x1", (4, 8), lambda x: x.unbind(0), 1),
    ("chunk(4, 1) of (32, 1024), x100", (32, 1024), lambda x: x.chunk(4, 1), 100),
    ("split(512, 1) of (64, 4096), x1", (64, 4096), lambda x: x.split(512, 1), 1),
    ("unbind(0) of (64, 4096), x1", (64, 4096), lambda x: x.unbind(0), 1),
]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    width = max(len(name) for name, *_ in CASES) + 2
    print(f"{'':{width}}{'dlpy ms':>10}{'torch ms':>10}{'dlpy/torch':>12}")
    for name, shape, pieces, repeat in CASES:
        ours, theirs = case(dlpy, shape, pieces, repeat), case(torch, shape, pieces, repeat)
        np.testing.assert_allclose(np.asarray(ours().data), theirs().numpy(), rtol=1e-5)
        mine, reference = best_of(args.runs, ours, theirs, clock=time.thread_time)
        print(f"{name:{width}}{mine * 1e3:10.3f}{reference * 1e3:10.3f}"
              f"{mine / reference:12.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
