"""1 rank against N ranks on this machine: step time, the communication share, the efficiency.

    python benchmarks/distributed_speed.py --model mlp [--ranks 1 2] [--steps 300]
    python benchmarks/distributed_speed.py --model lm [--batch-size 8] [--steps 6]
    python benchmarks/distributed_speed.py --debug-overhead [--calls 3000] [--rounds 5]

Runs ``mpirun -n N`` of itself for each N (one BLAS thread per rank). Each rank trains with a
fixed local batch (weak scaling: N ranks process N times the examples per step) on random data:
``mlp`` is the MNIST MLP 784-128-10 with batch 50; ``lm`` is dlpy's masked language model
(d_model 256, 4 layers, seq 128, 16,000 pieces). The ranks start each step together (a
barrier); per step it times the forward and backward less the time inside MPI's calls
(compute), the time inside them (allreduce: the bucketed gradient averaging that backward does,
sending and waiting, the wait for a slower rank included) and the optimiser step; medians over
the steps after the first. By default the buckets are sent as backward fills them and the
last gradient waits for them (overlap); ``--no-overlap`` sends them all after backward, one
blocking allreduce each: the difference in step time is what the overlap saves.
Efficiency = examples/s with N ranks / (N x examples/s with 1 rank); (cpu) is
the same ratio from the CPU seconds of a step, what the wall-clock figure would be on cores that
nothing else uses (MPICH polls while it waits, so a rank's waiting counts as CPU too).

``--debug-overhead``: on 2 ranks, the time of one ``dist.all_reduce`` of 8 float64 values with
the cross-rank argument check (debug level INFO, the default) and without it (OFF),
alternating the two in rounds; minimum over the rounds of the mean per call.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def build(kind: str, batch_size: int, rng: np.random.Generator):
    """(model, a function batch -> loss, a function that makes one local batch)."""
    from dlpy import functional as F

    if kind == "mlp":
        from dlpy.data.mnist_train import MLP, to_input

        model = MLP(rng=np.random.default_rng(0))

        def make_batch():
            return (rng.integers(0, 256, (batch_size, 28, 28), dtype=np.uint8),
                    rng.integers(0, 10, batch_size))

        def loss_of(model, batch):
            images, labels = batch
            return F.cross_entropy(model(to_input(images, "mlp")), labels)

        return model, loss_of, make_batch
    from dlpy.lm.model import LMConfig, MaskedLM, mask_tokens

    config = LMConfig()
    model = MaskedLM(config, rng=np.random.default_rng(0))

    def make_batch():
        return rng.integers(5, config.vocab_size, (batch_size, config.max_len))

    def loss_of(model, ids):
        inputs, positions, labels = mask_tokens(ids, rng, config.vocab_size)
        return F.cross_entropy(model(inputs, positions), labels)

    return model, loss_of, make_batch


def ring_allreduce_seconds(nbytes: float, machines: int, gbps: float, latency_s: float) -> float:
    """The ring allreduce model: each machine sends and receives 2 (N - 1) / N of the buffer,
    in 2 (N - 1) messages, over a link of ``gbps`` gigabits per second."""
    if machines == 1:
        return 0.0
    share = 2 * (machines - 1) / machines
    return share * nbytes / (gbps * 1e9 / 8) + 2 * (machines - 1) * latency_s


def predict(compute_s: float, nbytes: float, gbps: float, latency_s: float) -> None:
    """Print the predicted step time and speed-up (weak scaling: N machines, N times the
    examples per step, the allreduce after the backward, not overlapped with it).
    ``compute_s``: one machine's step without communication (forward, backward, update)."""
    print(f"predicted over {gbps:g} Gb/s (ring allreduce, {1e6 * latency_s:g} us a message, "
          f"{nbytes / 1e6:.1f} MB of gradients, no overlap with backward):")
    print(f"{'compute/step':>13} {'machines':>8} {'allreduce ms':>12} {'step ms':>9} "
          f"{'speed-up':>8} {'efficiency':>10}")
    for label, compute in ((f"{1e3 * compute_s:.0f} ms", compute_s),
                           (f"/8: {1e3 * compute_s / 8:.0f} ms", compute_s / 8)):
        for machines in (2, 8, 32):
            comm = ring_allreduce_seconds(nbytes, machines, gbps, latency_s)
            speedup = machines * compute / (compute + comm)
            print(f"{label:>13} {machines:8d} {1e3 * comm:12.1f} {1e3 * (compute + comm):9.0f} "
                  f"{speedup:8.1f} {speedup / machines:10.0%}")


def find_mpirun() -> str:
    """The mpirun beside this Python (the mpich wheel's), else one on PATH."""
    mpirun = Path(sys.executable).parent / "mpirun"
    found = str(mpirun) if mpirun.exists() else shutil.which("mpirun")
    if found is None:
        raise SystemExit("no mpirun (pip install 'dlpy[distributed]')")
    return found


def run_workers(script: str, ranks: int, arguments: list[str]) -> dict:
    """``script --worker arguments`` on ``ranks`` MPI ranks (1 BLAS thread each, dlpy from
    src/): the JSON of the last line it prints."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE.parent / "src"),
                                                      env.get("PYTHONPATH")]))
    command = [find_mpirun(), "-n", str(ranks), sys.executable, script, "--worker", *arguments]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def debug_overhead_worker(args: argparse.Namespace) -> None:
    from dlpy import distributed as dist

    dist.init(required=True)
    t = np.ones(8)
    best = {"INFO": float("inf"), "OFF": float("inf")}
    for _ in range(args.rounds):
        for level in best:  # alternated, so both see the same load
            dist.set_debug_level(level)
            dist.barrier()
            start = time.perf_counter()
            for _ in range(args.calls):
                dist.all_reduce(t)
            best[level] = min(best[level], (time.perf_counter() - start) / args.calls)
    worst = dist.gather_object(best)
    if dist.is_main():
        print(json.dumps({level: max(b[level] for b in worst) for level in best}))


def worker(args: argparse.Namespace) -> None:
    from dlpy import distributed, optim
    from dlpy.data.mnist_train import set_blas_threads
    from dlpy.distributed.ddp import make_buckets

    set_blas_threads(1)
    distributed.init(required=True)
    rng = distributed.rank_rng(1)
    net, loss_of, make_batch = build(args.model, args.batch_size, rng)
    model = distributed.DistributedDataParallel(net, bucket_mb=args.bucket_mb,
                                                overlap=not args.no_overlap)
    opt = optim.AdamW(model.parameters(), lr=1e-4) if args.model == "lm" else \
        optim.SGD(model.parameters(), lr=0.01)
    comm = distributed.comm()
    rows = []
    for _ in range(args.steps + 1):
        batch = make_batch()
        if comm is not None:
            comm.Barrier()  # every rank starts the step together
        cpu0, t0 = time.process_time(), time.perf_counter()
        in_mpi = model.comm_seconds
        loss = loss_of(model, batch)
        opt.zero_grad()
        loss.backward()  # averages the gradients (bucket by bucket, or all at the end)
        in_mpi = model.comm_seconds - in_mpi  # inside MPI's calls: waiting and sending
        cpu1, t1 = time.process_time(), time.perf_counter()
        opt.step()
        t4, cpu4 = time.perf_counter(), time.process_time()
        rows.append((t1 - t0 - in_mpi, in_mpi, t4 - t1, t4 - t0, cpu1 - cpu0, cpu4 - cpu0))
    medians = np.median(np.array(rows[1:]), axis=0).tolist()
    gathered = distributed.gather_object(medians)
    if distributed.is_main():
        worst = np.max(np.array(gathered), axis=0).tolist()  # the slowest rank's medians
        grad_mb = sum(p.data.nbytes for p in net.parameters()) / 2**20
        bucket_bytes = int(args.bucket_mb * 2**20)
        print(json.dumps({"world": distributed.world_size(), "compute": worst[0],
                          "comm": worst[1], "update": worst[2],
                          "step": worst[3], "compute_cpu": worst[4], "step_cpu": worst[5],
                          "grad_mb": grad_mb,
                          "buckets": len(make_buckets(net.parameters(), bucket_bytes)),
                          "params": net.num_parameters()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=["mlp", "lm"], default="mlp")
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=None, help="default: mlp 300, lm 6")
    parser.add_argument("--batch-size", type=int, default=None, help="default: mlp 50, lm 8")
    parser.add_argument("--bucket-mb", type=float, default=25.0, help="default 25")
    parser.add_argument("--no-overlap", action="store_true",
                        help="average after backward instead of bucket by bucket during it")
    parser.add_argument("--predict", action="store_true",
                        help="also predict the speed-up on 2, 8, 32 machines from the first "
                             "row's compute time and the gradient size")
    parser.add_argument("--gbps", type=float, default=10.0, help="network, default 10 Gb/s")
    parser.add_argument("--latency-us", type=float, default=50.0,
                        help="per message, default 50 us (TCP on Ethernet)")
    parser.add_argument("--debug-overhead", action="store_true",
                        help="time all_reduce with and without the argument check instead")
    parser.add_argument("--calls", type=int, default=3000, help="per round, default 3000")
    parser.add_argument("--rounds", type=int, default=5, help="default 5")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.debug_overhead:
        if args.worker:
            debug_overhead_worker(args)
            return
        print(f"all_reduce of 8 float64 on 2 ranks, {args.calls} calls x {args.rounds} rounds, "
              f"load average {os.getloadavg()[0]:.1f}")
        r = run_workers(__file__, 2, ["--debug-overhead", "--calls", str(args.calls),
                                      "--rounds", str(args.rounds)])
        print(f"debug level INFO (checked): {1e6 * r['INFO']:7.2f} us a call")
        print(f"debug level OFF:            {1e6 * r['OFF']:7.2f} us a call")
        print(f"saved: {1e6 * (r['INFO'] - r['OFF']):.2f} us a call "
              f"({r['INFO'] / r['OFF']:.2f}x)")
        return
    args.steps = args.steps or (300 if args.model == "mlp" else 6)
    args.batch_size = args.batch_size or (50 if args.model == "mlp" else 8)
    if args.worker:
        worker(args)
        return
    find_mpirun()  # no mpirun: say so before the first line
    print(f"{args.model}: local batch {args.batch_size}, {args.steps} steps (+1 warm-up), "
          f"{args.bucket_mb:g} MB buckets, {'no overlap' if args.no_overlap else 'overlap'}, "
          f"1 BLAS thread per rank, load average {os.getloadavg()[0]:.1f} at the start")
    results = [run_workers(__file__, n, ["--model", args.model, "--steps", str(args.steps),
                                         "--batch-size", str(args.batch_size),
                                         "--bucket-mb", str(args.bucket_mb)]
                           + (["--no-overlap"] if args.no_overlap else []))
               for n in args.ranks]
    first = results[0]
    print(f"{first['params']:,} parameters = {first['grad_mb']:.1f} MB of float32 gradients "
          f"in {first['buckets']} bucket(s)")
    print(f"{'ranks':>5} {'step ms':>9} {'compute':>9} {'(cpu)':>8} {'allreduce':>9} "
          f"{'update':>7} {'comm %':>7} {'examples/s':>11} {'efficiency':>10} {'(cpu)':>6}")
    base = base_cpu = None
    for r in results:
        throughput = r["world"] * args.batch_size / r["step"]
        base = base or throughput / r["world"]
        base_cpu = base_cpu or r["step_cpu"]
        print(f"{r['world']:>5} {1e3 * r['step']:9.2f} {1e3 * r['compute']:9.2f} "
              f"{1e3 * r['compute_cpu']:8.2f} {1e3 * r['comm']:9.2f} "
              f"{1e3 * r['update']:7.2f} {100 * r['comm'] / r['step']:6.1f}% "
              f"{throughput:11.1f} {throughput / (r['world'] * base):9.0%} "
              f"{base_cpu / r['step_cpu']:6.0%}")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    if args.predict:
        # measured: one rank's CPU seconds of forward + backward (what a dedicated core takes)
        # plus the optimiser step: one machine's step without communication
        predict(first["compute_cpu"] + first["update"], first["grad_mb"] * 2**20, args.gbps,
                1e-6 * args.latency_us)


if __name__ == "__main__":
    main()
