"""The cost of views that get torch's strides (a new axis on a non-contiguous tensor, squeeze,
views of empty tensors): dlpy beside PyTorch, and beside another copy of dlpy's source
(``--baseline``, timed in a child process), the contenders alternating round by round, each
keeping its fastest round (CPU time of the timing thread: steadier on shared cores).
Prints microseconds per call.

    .venv/bin/python benchmarks/view_strides.py [--baseline /path/to/old/src] [--rounds 7]
"""

from __future__ import annotations

import argparse
import sys
import time

from timing import ChildTimer

# (name, setup, statement): the statement is timed, the setup run once
CASES = [
    ("x.t().unsqueeze(2)", "x = lib.arange(24.0).reshape(4, 6)", "x.t().unsqueeze(2)"),
    ("x[:, ::2].unsqueeze(2)", "x = lib.arange(24.0).reshape(4, 6)", "x[:, ::2].unsqueeze(2)"),
    ("y.unsqueeze(2)  (y = x.t())", "y = lib.arange(24.0).reshape(4, 6).t()",
     "y.unsqueeze(2)"),
    ("y.unsqueeze(2)  (y = x[:, ::2])", "y = lib.arange(24.0).reshape(4, 6)[:, ::2]",
     "y.unsqueeze(2)"),
    ("y[..., None]  (y = x.t())", "y = lib.arange(24.0).reshape(4, 6).t()", "y[..., None]"),
    ("y[:, None]  (y = x[:, ::2])", "y = lib.arange(24.0).reshape(4, 6)[:, ::2]", "y[:, None]"),
    ("y.unsqueeze(1)  (y = x.t())", "y = lib.arange(24.0).reshape(4, 6).t()",
     "y.unsqueeze(1)"),
    ("y[:, :1].unsqueeze(1)  (y = x)", "y = lib.arange(24.0).reshape(4, 6)",
     "y[:, :1].unsqueeze(1)"),
    ("x.unsqueeze(2)  (contiguous)", "x = lib.arange(24.0).reshape(4, 6)", "x.unsqueeze(2)"),
    ("x[None]  (contiguous)", "x = lib.arange(24.0).reshape(4, 6)", "x[None]"),
    ("x.t()  (contiguous)", "x = lib.arange(24.0).reshape(4, 6)", "x.t()"),
    ("x[1:, ::2]  (contiguous)", "x = lib.arange(24.0).reshape(4, 6)", "x[1:, ::2]"),
    ("e.t()  (e = empty(2, 0, 3))", "e = lib.empty(2, 0, 3)", "e.transpose(0, 2)"),
    ("e[:, :, 1:]  (e = empty(2, 0, 3))", "e = lib.empty(2, 0, 3)", "e[:, :, 1:]"),
    ("e.unsqueeze(3)  (e = empty(2, 0, 3))", "e = lib.empty(2, 0, 3)", "e.unsqueeze(3)"),
]

# a child's loop: "NAME SETUP STATEMENT NUMBER" in (JSON), the best seconds per call out
_CHILD = """
import json, sys, time
sys.path.insert(0, {src!r})
import dlpy as lib
spaces = {{}}
for line in sys.stdin:
    name, setup, statement, number = json.loads(line)
    if name not in spaces:
        spaces[name] = {{"lib": lib}}
        exec(setup, spaces[name])
    code = compile(statement, name, "eval")
    scope = spaces[name]
    start = time.thread_time()
    for _ in range(number):
        eval(code, scope)
    print(json.dumps((time.thread_time() - start) / number), flush=True)
"""


def timer(lib, setup: str, statement: str):
    """A function timing ``statement`` ``number`` times over ``lib``; seconds per call."""
    scope = {"lib": lib}
    exec(setup, scope)
    code = compile(statement, statement, "eval")

    def measure(number: int) -> float:
        start = time.thread_time()
        for _ in range(number):
            eval(code, scope)
        return (time.thread_time() - start) / number

    return measure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", help="another dlpy source folder to time beside")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--number", type=int, default=2000)
    args = parser.parse_args()
    import torch

    import dlpy

    child = None if args.baseline is None else ChildTimer(
        sys.executable, _CHILD.format(src=args.baseline), "--baseline", "dlpy's dependencies")
    header = f"{'':40}{'dlpy us':>9}" + (f"{'base us':>9}" if child else "") + \
        f"{'torch us':>10}{'dlpy/torch':>12}"
    print(header)
    for name, setup, statement in CASES:
        ours, theirs = timer(dlpy, setup, statement), timer(torch, setup, statement)
        best = [float("inf")] * 3
        for _ in range(args.rounds):
            best[0] = min(best[0], ours(args.number))
            if child:
                best[1] = min(best[1], child.ask(name, setup, statement, args.number))
            best[2] = min(best[2], theirs(args.number))
        row = f"{name:40}{best[0] * 1e6:9.2f}" + (f"{best[1] * 1e6:9.2f}" if child else "")
        print(row + f"{best[2] * 1e6:10.2f}{best[0] / best[2]:12.2f}")
    if child:
        child.close()


if __name__ == "__main__":
    main()
