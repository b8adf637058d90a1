"""The timing loop the benchmarks share: contenders alternate round by round (the cores are
shared, so a slow spell hits every contender alike) and each keeps its fastest round."""

from __future__ import annotations

import time


def best_of(runs: int, *functions, clock=time.perf_counter) -> list[float]:
    """The minimum time in seconds of each function over ``runs`` rounds, the functions
    alternating. ``clock=time.thread_time`` counts this thread's CPU time instead of wall time:
    steadier when other processes load the cores (for single-threaded contenders)."""
    times = [float("inf")] * len(functions)
    for _ in range(runs):
        for i, function in enumerate(functions):
            start = clock()
            function()
            times[i] = min(times[i], clock() - start)
    return times


def print_against_torch(cases, runs: int, check, width: int) -> None:
    """A table of dlpy's and torch's best times in ms and their ratio: for each (name, make) of
    cases, ``ours, theirs = make()``, check(ours(), theirs()) (the same results), then best_of
    with the two alternating."""
    print(f"{'':{width}}{'dlpy ms':>10}{'torch ms':>10}{'dlpy/torch':>12}")
    for name, make in cases:
        ours, theirs = make()
        check(ours(), theirs())
        mine, reference = best_of(runs, ours, theirs)
        print(f"{name:{width}}{mine * 1e3:10.2f}{reference * 1e3:10.2f}{mine / reference:12.2f}")
