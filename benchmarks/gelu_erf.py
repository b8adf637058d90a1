"""Time GELU's erf: the old per-element math.erf (np.frompyfunc) against the vectorised one.

    .venv/bin/python benchmarks/gelu_erf.py [--size 1000000] [--repeats 5]

Both run in this process on the same float64 arrays: GELU's erf argument x / sqrt(2) for
standard normal x (nearly all of it below 4, Cody's two inner ranges), and 3 * standard normal
(18% beyond 4, the masked outer range). The two alternate, repetition by repetition, so
background load hits both alike; the ratio uses the best times. Also prints the largest absolute
difference from math.erf on each array.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from dlpy.ops.activation import _erf

_math_erf = np.frompyfunc(math.erf, 1, 1)


def old_erf(x: np.ndarray) -> np.ndarray:
    """What GELU used before: math.erf element by element."""
    return np.asarray(_math_erf(x), dtype=np.float64)


def measure(x: np.ndarray, repeats: int) -> tuple[float, float, float]:
    """Best seconds of the old and the new erf on x, and the new one's max abs error."""
    best_old = best_new = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        expected = old_erf(x)
        best_old = min(best_old, time.perf_counter() - start)
        start = time.perf_counter()
        result = _erf(x)
        best_new = min(best_new, time.perf_counter() - start)
    return best_old, best_new, float(np.max(np.abs(result - expected)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="float64 elements")
    parser.add_argument("--repeats", type=int, default=5, help="runs; the best is kept")
    args = parser.parse_args(argv)

    normal = np.random.default_rng(0).standard_normal(args.size)
    inputs = {"N(0,1) / sqrt(2)": normal / math.sqrt(2.0), "3 * N(0,1)": 3.0 * normal}
    print(f"erf on {args.size:,} float64 elements, best of {args.repeats}")
    print(f"{'input':18}{'math.erf ms':>13}{'numpy ms':>10}{'speedup':>9}{'max abs error':>15}")
    for label, x in inputs.items():
        old, new, error = measure(x, args.repeats)
        print(f"{label:18}{old * 1e3:13.1f}{new * 1e3:10.1f}{old / new:8.1f}x{error:15.2e}")


if __name__ == "__main__":
    main()
