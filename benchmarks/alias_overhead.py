"""The cost of torch's numpy keyword aliases (dlpy/numpy_aliases.py) on a plain call: each
installed function beside what it replaced (its ``__wrapped__``), in one process.

    PYTHONPATH=src OMP_NUM_THREADS=1 .venv/bin/python benchmarks/alias_overhead.py \
        [--calls 20000] [--repeats 15]

Small float32 tensors, so the time is the call's Python overhead. The contenders alternate
within each repeat (a busy machine slows them alike); prints the best microseconds per call of
each and the ratio installed/original (1.00: the aliases cost nothing on that call).

    ... alias_overhead.py --only 0 --which installed --calls 2000
runs just that loop (case 0, x.add(y)), once: for a load-independent count of instructions
under valgrind's callgrind (run it with --calls 0 and N: the difference over N is per call).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import dlpy
from dlpy import functional as F
from dlpy.tensor import Tensor


def cases():
    """(label, installed call, original call) for each measured call."""
    x = dlpy.tensor(np.ones((4, 4), dtype=np.float32))
    y = dlpy.tensor(np.ones((4, 4), dtype=np.float32))
    w = dlpy.tensor(np.ones((3, 4), dtype=np.float32))
    b = dlpy.tensor(np.ones(3, dtype=np.float32))
    add, exp, linear = Tensor.add, dlpy.exp, F.linear
    sum_, tensor_sum = dlpy.sum, Tensor.sum
    add0, exp0, linear0, sum0 = (f.__wrapped__ for f in (add, exp, linear, sum_))
    return [
        ("x.add(y)", lambda: add(x, y), lambda: add0(x, y)),
        ("torch.exp(x)", lambda: exp(x), lambda: exp0(x)),
        ("F.linear(x, w, b)", lambda: linear(x, w, b), lambda: linear0(x, w, b)),
        ("torch.sum(x, 0)", lambda: sum_(x, 0), lambda: sum0(x, 0)),
        ("torch.sum(x, dim=0)", lambda: sum_(x, dim=0), lambda: sum0(x, dim=0)),
        # Tensor.sum takes axis itself: never wrapped, the same function twice (the noise)
        ("x.sum(axis=0)", lambda: tensor_sum(x, axis=0),
         lambda: getattr(tensor_sum, "__wrapped__", tensor_sum)(x, axis=0)),
        ("torch.sum(x, axis=0)", lambda: sum_(x, axis=0), None),
        ("x.add(x2=y)", lambda: add(x, x2=y), None),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000, help="calls per timing")
    parser.add_argument("--repeats", type=int, default=15, help="timings; the best is kept")
    parser.add_argument("--only", type=int, help="run only this case's loop, once")
    parser.add_argument("--which", choices=["installed", "original"], default="installed")
    args = parser.parse_args(argv)
    measured = cases()
    if args.only is not None:
        call = measured[args.only][1 if args.which == "installed" else 2]
        for _ in range(args.calls):
            call()
        return
    best = {label: [float("inf"), float("inf")] for label, _, _ in measured}
    for _ in range(args.repeats):
        for label, installed, original in measured:
            for i, call in enumerate((installed, original)):
                if call is None:
                    continue
                start = time.perf_counter()
                for _ in range(args.calls):
                    call()
                best[label][i] = min(best[label][i], (time.perf_counter() - start) / args.calls)
    print(f"plain calls: installed function vs its __wrapped__, best of {args.repeats} x "
          f"{args.calls} calls")
    print(f"{'':24}{'installed us':>14}{'original us':>13}{'ratio':>8}")
    for label, (ours, theirs) in best.items():
        line = f"{label:24}{ours * 1e6:14.3f}"
        if theirs != float("inf"):
            line += f"{theirs * 1e6:13.3f}{ours / theirs:8.3f}"
        print(line)


if __name__ == "__main__":
    main()
