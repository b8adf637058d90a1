"""What __torch_function__ dispatch (dlpy/overrides.py) adds to a call on plain Tensors.

    .venv/bin/python benchmarks/overrides_overhead.py [--calls 1000] [--repeats 15]

Dispatch is swapped in when the first overriding subclass or mode appears; this times an
operator, a method and a dlpy.functional function on float32 tensors of shape (4,) with the
plain callables and with the dispatching ones, alternating, best of several runs, in ns a call.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import dlpy
import dlpy.functional as F  # noqa: N812
from dlpy import overrides


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000, help="calls a run")
    parser.add_argument("--repeats", type=int, default=15, help="runs; the best is kept")
    args = parser.parse_args(argv)
    x = dlpy.Tensor(np.ones(4, dtype=np.float32))
    c = dlpy.Tensor(np.ones(4, dtype=np.float32))
    calls = args.calls
    cases = {"x + c": lambda: [x + c for _ in range(calls)],
             "x.add(c)": lambda: [x.add(c) for _ in range(calls)],
             "F.relu(x)": lambda: [F.relu(x) for _ in range(calls)]}
    best: dict[tuple[str, str], float] = {}
    for _ in range(args.repeats):
        for state, switch in (("plain", overrides._uninstall), ("dispatching", overrides._install)):
            switch()
            for name, run in cases.items():
                start = time.perf_counter()
                run()
                seconds = (time.perf_counter() - start) / calls
                best[state, name] = min(best.get((state, name), seconds), seconds)
    overrides._uninstall()
    print(f"ns a call, best of {args.repeats} runs of {calls}")
    print(f"{'':12}{'plain':>8}{'dispatching':>13}{'added':>8}")
    for name in cases:
        plain, dispatching = best["plain", name], best["dispatching", name]
        print(f"{name:12}{plain * 1e9:8.0f}{dispatching * 1e9:13.0f}"
              f"{(dispatching - plain) * 1e9:8.0f}")


if __name__ == "__main__":
    main()
