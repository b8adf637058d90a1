"""What a logging call costs: dlpy.utils.tensorboard.SummaryWriter against
torch.utils.tensorboard.SummaryWriter, per add_scalar and per add_histogram (1,000 values, the
default 'tensorflow' bins), the events queued for the writer thread as both do.

    OMP_NUM_THREADS=1 python benchmarks/tensorboard_writer.py [--calls 1000] [--runs 10]

Needs tensorboardX (dlpy[tensorboard]), and torch with tensorboard for torch's side. The two
alternate run by run; each keeps its fastest.
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np
from timing import best_of

from dlpy.utils.tensorboard import SummaryWriter


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000, help="logging calls a run")
    parser.add_argument("--runs", type=int, default=10, help="runs; the best is kept")
    args = parser.parse_args(argv)
    import torch
    from torch.utils.tensorboard import SummaryWriter as TorchWriter

    values = np.random.default_rng(0).standard_normal(1000)
    with tempfile.TemporaryDirectory() as tmp:
        ours, theirs = SummaryWriter(f"{tmp}/dlpy"), TorchWriter(f"{tmp}/torch")
        torch_values = torch.from_numpy(values)

        def scalars(writer):
            return lambda: [writer.add_scalar("loss", 0.5, step) for step in range(args.calls)]

        def histograms(writer, data):
            calls = max(1, args.calls // 10)
            return lambda: [writer.add_histogram("w", data, step) for step in range(calls)]

        rows = [("add_scalar", args.calls, *best_of(args.runs, scalars(ours), scalars(theirs))),
                ("add_histogram", max(1, args.calls // 10),
                 *best_of(args.runs, histograms(ours, values), histograms(theirs, torch_values)))]
        ours.close()
        theirs.close()
    print(f"best of {args.runs} runs")
    print(f"{'':15}{'dlpy':>12}{'torch':>12}{'dlpy/torch':>12}")
    for label, calls, mine, reference in rows:
        print(f"{label:15}{mine / calls * 1e6:9.1f} us{reference / calls * 1e6:9.1f} us"
              f"{mine / reference:11.2f}x")


if __name__ == "__main__":
    main()
