"""The timing loop the benchmarks share: contenders alternate round by round (the cores are
shared, so a slow spell hits every contender alike) and each keeps its fastest round."""

from __future__ import annotations

import time


def best_of(runs: int, *functions) -> list[float]:
    """The minimum time in seconds of each function over ``runs`` rounds, the functions
    alternating."""
    times = [float("inf")] * len(functions)
    for _ in range(runs):
        for i, function in enumerate(functions):
            start = time.perf_counter()
            function()
            times[i] = min(times[i], time.perf_counter() - start)
    return times
