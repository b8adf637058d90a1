"""The timing loop the benchmarks share: contenders alternate round by round (the cores are
shared, so a slow spell hits every contender alike) and each keeps its fastest round."""

from __future__ import annotations

import json
import sys
import time
import tracemalloc


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


def peak_traced(function) -> int:
    """The peak memory in bytes that ``function()`` allocates (tracemalloc: numpy's and
    Python's allocations; a file mapping's pages are not counted)."""
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


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


def min_of_alternating(runs: int, *measures) -> list[float]:
    """The minimum of what each of ``measures`` returns (a time it took itself, e.g. in a child
    process) over ``runs`` rounds, the measures alternating."""
    best = [float("inf")] * len(measures)
    for _ in range(runs):
        for i, measure in enumerate(measures):
            best[i] = min(best[i], measure())
    return best


class ChildTimer:
    """A Python process of another environment (``python -c code``) that times work sent to
    it: one JSON line in, one JSON line out (``ask``), for a contender that is not installed
    in dlpy's environment (torchaudio)."""

    def __init__(self, python: str, code: str, owner: str, needs: str):
        import subprocess

        self.owner, self.needs = owner, needs
        try:
            self.process = subprocess.Popen([python, "-c", code], stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, text=True)
        except OSError as err:
            sys.exit(f"{owner}: cannot start {python} ({err}); pass --python with {needs}")

    def ask(self, *message):
        self.process.stdin.write(json.dumps(list(message)) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            sys.exit(f"{self.owner}: the child process ended (is {self.needs} installed there?)")
        return json.loads(line)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()
