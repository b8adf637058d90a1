"""What dlpy.profiler costs per op: op_overhead.py's chain of adds, forward + backward, with
no profile active and inside one.

    OMP_NUM_THREADS=1 python benchmarks/profiler_overhead.py [--ops 1000] [--runs 20]

The two alternate run by run; each keeps its fastest. Outside a profile the engine runs its
own functions (the profile puts them back when it ends: checked here), so the first line is
op_overhead.py's forward + backward.
"""

from __future__ import annotations

import argparse
import importlib

from op_overhead import dlpy_chain
from timing import best_of

from dlpy.profiler import profile
from dlpy.tensor import Op

engine = importlib.import_module("dlpy.tensor")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=1000, help="adds in the chain")
    parser.add_argument("--runs", type=int, default=20, help="runs; the best is kept")
    args = parser.parse_args(argv)
    _, step = dlpy_chain(args.ops)
    engine_functions = (Op.__call__, engine._checked_grads)

    def profiled():
        with profile():
            step()

    plain, inside = best_of(args.runs, step, profiled)
    if (Op.__call__, engine._checked_grads) != engine_functions:
        raise RuntimeError("profiler_overhead: the profile left the engine's functions swapped")
    print(f"forward + backward of a chain of {args.ops} adds (shape (4,) float32), best of "
          f"{args.runs}")
    for label, seconds in [("no profile", plain), ("inside a profile", inside)]:
        print(f"{label:18}{seconds / args.ops * 1e6:8.2f} us/op{seconds / plain:8.2f}x")
    print(f"profiling adds {(inside - plain) / args.ops * 1e6:.2f} us per op (its forward and "
          "its backward)")


if __name__ == "__main__":
    main()
