"""The per-call cost of making small tensors (dlpy/creation.py, dlpy/random_streams.py): the
random draws of torch's streams, arange, linspace and a layer's default initialisation, dlpy
against torch itself, where a test suite or a script making many tiny tensors spends its time.

    PYTHONPATH=src OMP_NUM_THREADS=1 .venv/bin/python benchmarks/small_creation.py [--repeats 7]

The two contenders alternate within each repeat (a busy machine slows them alike); each
measures ``--number`` calls, and the best microseconds a call of each are printed with the
ratio dlpy/torch.
"""

from __future__ import annotations

import argparse
import time

import dlpy
from dlpy import nn


def cases():
    """(label, dlpy call, torch call) for each measured call."""
    import torch

    return [
        ("randn(3, 4)", lambda: dlpy.randn(3, 4), lambda: torch.randn(3, 4)),
        ("rand(5)", lambda: dlpy.rand(5), lambda: torch.rand(5)),
        ("randint(0, 10, (4,))", lambda: dlpy.randint(0, 10, (4,)),
         lambda: torch.randint(0, 10, (4,))),
        ("arange(6.)", lambda: dlpy.arange(6.0), lambda: torch.arange(6.0)),
        ("arange(0, 1, 0.1)", lambda: dlpy.arange(0, 1, 0.1), lambda: torch.arange(0, 1, 0.1)),
        ("linspace(0, 1, 5)", lambda: dlpy.linspace(0, 1, 5), lambda: torch.linspace(0, 1, 5)),
        ("nn.Linear(4, 4)", lambda: nn.Linear(4, 4), lambda: torch.nn.Linear(4, 4)),
        ("nn.Conv2d(3, 8, 3)", lambda: nn.Conv2d(3, 8, 3), lambda: torch.nn.Conv2d(3, 8, 3)),
    ]


def best_us(function, number: int, times: dict, key) -> None:
    start = time.perf_counter()
    for _ in range(number):
        function()
    elapsed = (time.perf_counter() - start) / number * 1e6
    times[key] = min(times.get(key, float("inf")), elapsed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--number", type=int, default=500, help="calls timed together")
    args = parser.parse_args()
    dlpy.manual_seed(0)
    print(f"{'call':24s} {'dlpy us':>9s} {'torch us':>9s} {'dlpy/torch':>11s}")
    for label, dlpy_call, torch_call in cases():
        times: dict = {}
        for _ in range(args.repeats):
            for key, function in (("dlpy", dlpy_call), ("torch", torch_call)):
                best_us(function, args.number, times, key)
        print(f"{label:24s} {times['dlpy']:9.1f} {times['torch']:9.1f} "
              f"{times['dlpy'] / times['torch']:11.1f}")


if __name__ == "__main__":
    main()
