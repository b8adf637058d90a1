"""nn.LSTM / nn.GRU / nn.RNN against PyTorch, per time step: forward + backward, and the forward
alone without a graph (dlpy.no_grad, torch.no_grad), at three sizes.

    OMP_NUM_THREADS=1 python benchmarks/rnn_speed.py [--runs 7] [--old OLD/src/dlpy/ops]
        [--kinds LSTM,GRU] [--sizes small,medium,large] [--dtype float32] [--clock cpu]

Sizes (input -> hidden, batch, steps): small 32 -> 64, batch 8, L = 100; medium 128 -> 256,
batch 32, L = 50; large 512 -> 512, batch 64, L = 50. Contenders alternate run by run and each
keeps its fastest run (benchmarks/timing.best_of):
- "dlpy": dlpy.nn.LSTM / GRU / RNN, each direction's sequence one fused op (dlpy.ops.rnn);
- "old": with --old, the same layer with the fused ops of an older ``ops/rnn.py``
  (``git archive HEAD src | tar -x -C /tmp/old``, then ``--old /tmp/old/src/dlpy/ops``) swapped
  in, to time a change to the op against the op before it;
- "torch": torch.nn.LSTM / GRU / RNN on one thread (torch.set_num_threads(1)).
loss = sum(output^2); input (L, N, input) ~ N(0, 1). ``--clock cpu`` (the default) times the
calling thread's CPU time (time.thread_time): steadier on loaded shared cores, and fair with
torch on one thread (its work runs in the calling thread); ``--clock wall`` the wall clock.
Needs torch (`pip install torch==2.13.0`, the CPU build), for the reference only.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import numpy as np
import timing  # noqa: E402 - benchmarks/timing.py, beside this script

from dlpy import Tensor, nn, no_grad
from dlpy.ops import rnn as rnn_ops

SIZES = {"small": (32, 64, 8, 100), "medium": (128, 256, 32, 50), "large": (512, 512, 64, 50)}
OPS = ("lstm_sequence", "gru_sequence", "rnn_sequence")  # the functions --old swaps in


def load_old(folder: str):
    """An older ops/rnn.py as a module of its own."""
    spec = importlib.util.spec_from_file_location("old_rnn", Path(folder) / "rnn.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def swapped(run, old):
    """run() with ops.rnn's sequence functions (and so their op classes) replaced by old's
    while it runs."""
    def swapped_run():
        saved = {name: getattr(rnn_ops, name) for name in OPS}
        for name in OPS:
            setattr(rnn_ops, name, getattr(old, name))
        try:
            return run()
        finally:
            for name, cls in saved.items():
                setattr(rnn_ops, name, cls)
    return swapped_run


def contenders(kind: str, size, dtype, torch, old):
    """{name: (forward + backward, forward alone)}, each returning the output as an array."""
    input_size, hidden, batch, length = size
    rng = np.random.default_rng(0)
    layer = getattr(nn, kind)(input_size, hidden, rng=rng, dtype=dtype)
    x = rng.standard_normal((length, batch, input_size)).astype(dtype)

    def train():
        layer.zero_grad()
        xt = Tensor(x, requires_grad=True)
        output, _ = layer(xt)
        (output * output).sum().backward()
        return xt.grad.data if isinstance(xt.grad, Tensor) else xt.grad

    def forward():
        with no_grad():
            return layer(Tensor(x))[0].data

    runs = {"dlpy": (train, forward)}
    if old is not None:
        runs["old"] = (swapped(train, old), swapped(forward, old))
    theirs = getattr(torch.nn, kind)(input_size, hidden).to(getattr(torch, np.dtype(dtype).name))
    with torch.no_grad():
        for name, p in theirs.named_parameters():
            p.copy_(torch.from_numpy(getattr(layer, name).data))

    def torch_train():
        theirs.zero_grad()
        xt = torch.tensor(x, requires_grad=True)
        output, _ = theirs(xt)
        (output * output).sum().backward()
        return xt.grad.numpy()

    def torch_forward():
        with torch.no_grad():
            return theirs(torch.from_numpy(x))[0].numpy()

    runs["torch"] = (torch_train, torch_forward)
    return runs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--old", help="an older dlpy's src/dlpy/ops folder: its rnn.py's ops")
    parser.add_argument("--kinds", default="LSTM,GRU", help="comma-separated: LSTM, GRU, RNN")
    parser.add_argument("--sizes", default="small,medium,large",
                        help="comma-separated: " + ", ".join(SIZES))
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="cpu")
    args = parser.parse_args(argv)
    clock = time.perf_counter if args.clock == "wall" else time.thread_time
    import torch

    torch.set_num_threads(1)
    old = load_old(args.old) if args.old else None
    names = ["dlpy"] + (["old"] if old else []) + ["torch"]
    ratios = ["dlpy/torch"] + (["dlpy/old"] if old else [])
    print(f"{'':22s}" + "".join(f"{n + ' us':>10s}" for n in names)
          + "".join(f"{r:>11s}" for r in ratios) + "   (per step, minimum of the runs)")
    tolerance = 1e-3 if args.dtype == "float32" else 1e-9
    for kind in args.kinds.split(","):
        for size_name in args.sizes.split(","):
            size = SIZES[size_name]
            runs = contenders(kind, size, np.dtype(args.dtype), torch, old)
            for mode, index in (("fwd+bwd", 0), ("fwd", 1)):
                expected = runs["torch"][index]()
                for name in names[:-1]:
                    np.testing.assert_allclose(runs[name][index](), expected, rtol=tolerance,
                                               atol=tolerance)
                best = timing.best_of(args.runs, *(runs[n][index] for n in names), clock=clock)
                per_step = dict(zip(names, (t * 1e6 / size[3] for t in best)))
                line = f"{kind:4s} {size_name:7s} {mode:8s} " + "".join(
                    f"{per_step[n]:10.1f}" for n in names)
                line += f"{per_step['dlpy'] / per_step['torch']:10.2f}x"
                if old:
                    line += f"{per_step['dlpy'] / per_step['old']:10.2f}x"
                print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
