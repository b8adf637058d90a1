"""Allreduce time per megabyte on this machine: the measured half of docs/distributed.md's model.

    mpirun -n 2 python benchmarks/allreduce.py [--max-mb 64] [--repeats 20]

Times an in-place float32 ``Allreduce`` (sum) of buffers from 4 KB to ``--max-mb`` the way
DistributedDataParallel calls it, takes the median over repeats (the slowest rank's time, after
a barrier), and fits t = latency + size x time-per-MB over the sizes of 1 MB and up. Prints one
line per size, the fit, and the bus bandwidth 2 (N - 1) / N x size / t of the ring model.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def measure(comm, MPI, nbytes: int, repeats: int) -> tuple[float, float]:
    """(median, minimum) seconds of one in-place Allreduce of nbytes (the slowest rank's)."""
    buffer = np.ones(nbytes // 4, dtype=np.float32)
    comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)  # warm up (connections, pages)
    times = []
    for _ in range(repeats):
        comm.Barrier()
        start = time.perf_counter()
        comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)
        elapsed = np.array([time.perf_counter() - start])
        comm.Allreduce(MPI.IN_PLACE, elapsed, op=MPI.MAX)
        times.append(float(elapsed[0]))
    return float(np.median(times)), float(np.min(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-mb", type=float, default=64.0)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rank, world = comm.Get_rank(), comm.Get_size()
    sizes = [4096 * 4 ** k for k in range(12) if 4096 * 4 ** k <= args.max_mb * 2**20]
    sizes += [int(mb * 2**20) for mb in (1, 2, 3, 8, 25) if mb <= args.max_mb]
    sizes = sorted(set(sizes))
    results = [(nbytes, measure(comm, MPI, nbytes, args.repeats)) for nbytes in sizes]
    if rank != 0:
        return
    library = MPI.Get_library_version().splitlines()[0].strip()
    print(f"in-place float32 Allreduce (sum), {world} ranks on one machine, {library}; "
          f"median of {args.repeats} (and the fastest); load average {os.getloadavg()[0]:.1f}")
    print(f"{'size':>10} {'ms':>9} {'ms/MB':>8} {'bus GB/s':>9} {'min ms/MB':>10}")
    for nbytes, (seconds, fastest) in results:
        mb = nbytes / 2**20
        bus = 2 * (world - 1) / world * nbytes / seconds / 1e9 if world > 1 else float("nan")
        print(f"{mb:9.3f}M {1e3 * seconds:9.3f} {1e3 * seconds / mb:8.3f} {bus:9.2f} "
              f"{1e3 * fastest / mb:10.3f}")
    large = [(n / 2**20, s) for n, (s, _) in results if n >= 2**20]
    if len(large) >= 2:
        slope, intercept = np.polyfit([m for m, _ in large], [s for _, s in large], 1)
        print(f"fit over >= 1 MB: t = {1e3 * intercept:.3f} ms + {1e3 * slope:.3f} ms/MB x size "
              f"({world} ranks)")
    nbytes, (seconds, fastest) = results[0]
    print(f"latency (a {nbytes // 1024} KB allreduce): median {1e6 * seconds:.1f} us, fastest "
          f"{1e6 * fastest:.1f} us")


if __name__ == "__main__":
    main()
