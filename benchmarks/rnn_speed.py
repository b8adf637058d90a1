"""Forward + backward, and forward alone, of nn.LSTM / nn.GRU (32 -> 64, batch 8) against
PyTorch, per time step.

    OMP_NUM_THREADS=1 python benchmarks/rnn_speed.py [--runs 7] [--before /tmp/rnn_before.py]
        [--clock cpu]

Contenders, alternating run by run, the minimum of the runs printed:
- "layer": dlpy.nn.LSTM / GRU, each direction's sequence one fused op (dlpy.ops.rnn);
- "cells": the same layer run as one fused cell op a step (lstm_cell / gru_cell + stack), the
  other design;
- "before": a copy of an older src/dlpy/nn/rnn.py given with --before (the layer composed of
  ~15 small ops a step), skipped without it;
- "torch": torch.nn.LSTM / GRU on one thread (torch.set_num_threads(1)).
loss = sum(output^2); input (L, 8, 32) float32. The last columns time the forward alone (no
graph: dlpy.no_grad, torch.no_grad) of the layer and of torch. ``--clock cpu`` times the
calling thread's CPU time (time.thread_time) instead of the wall clock: steadier on loaded
shared cores, and fair with torch on one thread (its work runs in the calling thread). Needs
torch (`pip install torch==2.13.0`, the CPU build), for the reference only.
"""

from __future__ import annotations

import argparse
import importlib.util
import time

import numpy as np

from dlpy import Tensor, nn, no_grad
from dlpy import functional as F
from dlpy.ops import rnn as rnn_ops

INPUT, HIDDEN, BATCH = 32, 64, 8


def load_before(path: str):
    spec = importlib.util.spec_from_file_location("rnn_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_layer(layer, x):
    layer.zero_grad()
    xt = Tensor(x, requires_grad=True)
    output, _ = layer(xt)
    (output * output).sum().backward()
    return xt.grad


def run_cells(layer, kind: str, x):
    """The layer as one fused cell op a step."""
    layer.zero_grad()
    xt = Tensor(x, requires_grad=True)
    x_proj = F.linear(xt, layer.weight_ih_l0, layer.bias_ih_l0)
    h = Tensor(np.zeros((BATCH, HIDDEN), np.float32))
    c = h
    hs = []
    for x_t in F.unbind(x_proj, 0):
        if kind == "LSTM":
            h, c = rnn_ops.lstm_cell(x_t, h, c, layer.weight_hh_l0, layer.bias_hh_l0)
        else:
            h = rnn_ops.gru_cell(x_t, h, layer.weight_hh_l0, layer.bias_hh_l0)
        hs.append(h)
    output = F.stack(hs, 0)
    (output * output).sum().backward()
    return xt.grad


def contenders(kind: str, length: int, torch, before):
    rng = np.random.default_rng(0)
    layer = getattr(nn, kind)(INPUT, HIDDEN, rng=rng)
    x = rng.standard_normal((length, BATCH, INPUT)).astype(np.float32)
    runs = {"layer": lambda: run_layer(layer, x), "cells": lambda: run_cells(layer, kind, x)}
    if before is not None:
        old = getattr(before, kind)(INPUT, HIDDEN, rng=np.random.default_rng(0))
        old.load_state_dict(layer.state_dict())
        runs["before"] = lambda: run_layer(old, x)
    theirs = getattr(torch.nn, kind)(INPUT, HIDDEN)
    with torch.no_grad():
        for name, p in theirs.named_parameters():
            p.copy_(torch.from_numpy(getattr(layer, name).data))

    def run_torch():
        theirs.zero_grad()
        xt = torch.tensor(x, requires_grad=True)
        output, _ = theirs(xt)
        (output * output).sum().backward()
        return xt.grad.numpy()

    runs["torch"] = run_torch

    def forward():
        with no_grad():
            layer(Tensor(x))

    def torch_forward():
        with torch.no_grad():
            theirs(torch.from_numpy(x))

    return runs, (forward, torch_forward)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--before", help="a copy of an older dlpy/nn/rnn.py to compare")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = parser.parse_args(argv)
    clock = time.perf_counter if args.clock == "wall" else time.thread_time
    import torch

    torch.set_num_threads(1)
    before = load_before(args.before) if args.before else None
    names = ["layer", "cells"] + (["before"] if before else []) + ["torch"]
    print(f"{'kind':5s} {'L':>4s} " + " ".join(f"{n + ' ms/step':>15s}" for n in names)
          + " " + " ".join(f"{n + '/torch':>13s}" for n in names[:-1])
          + f" {'fwd ms/step':>12s} {'torch fwd':>10s} {'fwd/torch':>10s}")
    for kind in ("LSTM", "GRU"):
        for length in (32, 128, 512):
            runs, forwards = contenders(kind, length, torch, before)
            expected = runs["torch"]()
            for name in names[:-1]:
                np.testing.assert_allclose(runs[name](), expected, rtol=1e-3, atol=1e-4)
            runs.update(zip(("fwd", "torch fwd"), forwards))
            times: dict[str, list[float]] = {name: [] for name in runs}
            for _ in range(args.runs):
                for name, run in runs.items():
                    begin = clock()
                    run()
                    times[name].append(clock() - begin)
            best = {name: min(times[name]) * 1e3 / length for name in runs}
            mine, theirs = best["fwd"], best["torch fwd"]
            print(f"{kind:5s} {length:4d} " + " ".join(f"{best[n]:15.4f}" for n in names) + " "
                  + " ".join(f"{best[n] / best['torch']:12.2f}x" for n in names[:-1])
                  + f" {mine:12.4f} {theirs:10.4f} {mine / theirs:9.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
