"""ZeroRedundancyOptimizer against plain DistributedDataParallel + Adam on N ranks: optimiser
state per rank, the update time and the whole step time.

    python benchmarks/zero_speed.py --model lm [--ranks 2] [--rounds 5]
    python benchmarks/zero_speed.py --model mlp [--rounds 50]

Runs ``mpirun -n N`` of itself (one BLAS thread per rank). Each rank builds two copies of the
model, one with DDP + Adam, one with DDP + ZeroRedundancyOptimizer(Adam), and times, alternating
round by round (benchmarks/timing.py), the update alone (optimizer.step(): ZeRO's includes the
broadcast of the updated parameters; 4 x rounds) and a whole step (forward, backward, gradient
allreduce, update) on the same batch; the minimum over rounds, the slowest rank's. It also times
dlpy.distributed.all_reduce on 8 floats against mpi4py's Allreduce (the argument check's cost).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from distributed_speed import build  # noqa: E402
from timing import best_of  # noqa: E402


def worker(args: argparse.Namespace) -> None:
    from dlpy import distributed, optim
    from dlpy.data.mnist_train import set_blas_threads
    from dlpy.distributed import DistributedDataParallel, ZeroRedundancyOptimizer

    set_blas_threads(1)
    distributed.init_process_group("mpi")
    contenders = {}
    for kind in ("ddp_adam", "zero_adam"):
        rng = distributed.rank_rng(1)  # the same batches for both
        net, loss_of, make_batch = build(args.model, args.batch_size, rng)
        model = DistributedDataParallel(net)
        opt = optim.Adam(model.parameters(), lr=1e-4) if kind == "ddp_adam" else \
            ZeroRedundancyOptimizer(model.parameters(), optim.Adam, lr=1e-4)
        contenders[kind] = (model, opt, loss_of, make_batch())

    def step(kind):
        model, opt, loss_of, batch = contenders[kind]
        loss = loss_of(model, batch)
        opt.zero_grad()
        loss.backward()
        model.average_gradients()
        opt.step()

    for kind in contenders:  # the first step makes the state
        step(kind)
    steps = best_of(args.rounds, lambda: step("ddp_adam"), lambda: step("zero_adam"))
    updates = best_of(4 * args.rounds, contenders["ddp_adam"][1].step,
                      contenders["zero_adam"][1].step)
    state = [sum(v.nbytes for s in contenders["ddp_adam"][1].state for v in s.values()),
             contenders["zero_adam"][1].state_bytes()]
    comm, small = distributed.comm(), np.ones(8)
    from mpi4py import MPI

    collective = best_of(args.rounds * 200,
                         lambda: distributed.all_reduce(small),
                         lambda: comm.Allreduce(MPI.IN_PLACE, small, op=MPI.SUM))
    gathered = distributed.gather_object({"steps": steps, "updates": updates, "state": state,
                                          "collective": collective})
    if gathered is not None:
        params = sum(p.data.size for p in contenders["ddp_adam"][0].parameters())
        print(json.dumps({"world": len(gathered), "params": params,
                          "steps": np.max([g["steps"] for g in gathered], axis=0).tolist(),
                          "updates": np.max([g["updates"] for g in gathered], axis=0).tolist(),
                          "collective": np.max([g["collective"] for g in gathered],
                                               axis=0).tolist(),
                          "state": [g["state"] for g in gathered]}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=["mlp", "lm"], default="mlp")
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=None, help="default: mlp 50, lm 5")
    parser.add_argument("--batch-size", type=int, default=None, help="default: mlp 50, lm 8")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.rounds = args.rounds or (50 if args.model == "mlp" else 5)
    args.batch_size = args.batch_size or (50 if args.model == "mlp" else 8)
    if args.worker:
        worker(args)
        return
    from distributed_speed import run_workers

    print(f"{args.model}: {args.ranks} ranks, local batch {args.batch_size}, {args.rounds} "
          f"rounds, load average {os.getloadavg()[0]:.1f} at the start")
    r = run_workers(__file__, args.ranks, ["--model", args.model, "--rounds", str(args.rounds),
                                           "--batch-size", str(args.batch_size)])
    plain_state = r["state"][0][0]
    print(f"{r['params']:,} parameters; Adam state per rank: DDP + Adam "
          f"{plain_state / 2**20:.2f} MB, ZeRO " + ", ".join(
              f"rank {k} {s[1] / 2**20:.2f} MB ({s[1] / plain_state:.0%})"
              for k, s in enumerate(r["state"])))
    for label, (plain, zero) in (("update (optimizer.step)", r["updates"]),
                                 ("whole step", r["steps"])):
        print(f"{label:>24}: DDP + Adam {1e3 * plain:8.2f} ms, ZeRO {1e3 * zero:8.2f} ms, "
              f"ZeRO / plain {zero / plain:.2f}")
    checked, raw = r["collective"]
    print(f"all_reduce of 8 floats: dlpy.distributed {1e6 * checked:.1f} us, mpi4py Allreduce "
          f"{1e6 * raw:.1f} us (the argument check: +{1e6 * (checked - raw):.1f} us)")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
