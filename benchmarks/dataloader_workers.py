"""DataLoader worker processes: when do they pay off?

    OMP_NUM_THREADS=1 python benchmarks/dataloader_workers.py [--runs 3] [--items 2000]

1. A dataset whose ``__getitem__`` does ~1 ms of numpy work (an "augmentation": noise, a
   flip, sorting, a blur; the repetitions are calibrated to 1 ms here in the main process),
   2,000 items, batch 32: one epoch with num_workers 0, 1 and 2, alternating run by run; the
   minimum of the runs and its ratio to num_workers=0 (workers start anew every epoch, as they
   do without persistent_workers, so their start is included).
2. A trivial dataset (TensorDataset of 20,000 x 32 float32 and int64 labels, batch 32): the
   time per batch with 0 workers and with 2 persistent workers (steady state: the second
   epoch of the same loader), and the time to the first batch of a fresh 2-worker loader.
3. Per start method (fork, forkserver, spawn; alternating run by run): the time to the first
   batch of a fresh 2-worker loader of the trivial dataset (the workers' start), and an epoch
   of the ~1 ms items with 2 workers. The forkserver's own start (once per program) is the
   first run's extra time, shown apart; the minima leave it out.
"""

from __future__ import annotations

import argparse
import multiprocessing
import time

import numpy as np

from dlpy.data import DataLoader, Dataset, TensorDataset


def augment(image: np.ndarray, rng: np.random.Generator, reps: int) -> np.ndarray:
    out = image
    for _ in range(reps):
        out = out + rng.normal(0.0, 0.01, out.shape).astype(np.float32)
        out = out[:, ::-1] if rng.random() < 0.5 else out
        out = np.sort(out, axis=1)
        out = (out + np.roll(out, 1, axis=0) + np.roll(out, -1, axis=0)) / 3
    return out.astype(np.float32)


class Augmented(Dataset):
    """Item i: a 32 x 32 image through `reps` rounds of `augment`, and a label."""

    def __init__(self, n: int, reps: int):
        self.n, self.reps = n, reps
        self.images = np.random.default_rng(0).random((n, 32, 32), dtype=np.float32)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        return augment(self.images[i], np.random.default_rng(i), self.reps), i % 10


def calibrate(target_s: float = 1e-3) -> tuple[int, float]:
    """Repetitions of `augment` that take about target_s, and the time one item then takes."""
    image, rng = np.zeros((32, 32), np.float32), np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(200):
        augment(image, rng, 1)
    one = (time.perf_counter() - start) / 200
    reps = max(1, round(target_s / one))
    start = time.perf_counter()
    for _ in range(100):
        augment(image, rng, reps)
    return reps, (time.perf_counter() - start) / 100


def epoch_s(loader) -> float:
    start = time.perf_counter()
    for _ in loader:
        pass
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()

    reps, item_s = calibrate()
    dataset = Augmented(args.items, reps)
    print(f"1. ~1 ms items: {reps} augment rounds = {item_s * 1e3:.2f} ms an item, "
          f"{args.items} items, batch {args.batch}, minimum of {args.runs} alternating runs")
    times: dict[int, list[float]] = {0: [], 1: [], 2: []}
    for _ in range(args.runs):
        for workers in times:
            times[workers].append(epoch_s(DataLoader(dataset, args.batch,
                                                     num_workers=workers)))
    base = min(times[0])
    for workers, runs in times.items():
        print(f"   num_workers={workers}: {min(runs):7.3f} s an epoch  "
              f"{base / min(runs):5.2f}x num_workers=0's speed")

    rng = np.random.default_rng(0)
    trivial = TensorDataset(rng.random((20_000, 32), dtype=np.float32),
                            rng.integers(0, 10, 20_000))
    single = DataLoader(trivial, args.batch)
    workers = DataLoader(trivial, args.batch, num_workers=2, persistent_workers=True)
    epoch_s(workers)  # start the workers
    per_batch: dict[str, list[float]] = {"0 workers": [], "2 workers": [], "first batch": []}
    for _ in range(args.runs):
        per_batch["0 workers"].append(epoch_s(single) / len(single))
        per_batch["2 workers"].append(epoch_s(workers) / len(workers))
        start = time.perf_counter()
        next(iter(DataLoader(trivial, args.batch, num_workers=2)))
        per_batch["first batch"].append(time.perf_counter() - start)
    zero, two = min(per_batch["0 workers"]), min(per_batch["2 workers"])
    print(f"2. trivial items (TensorDataset 20,000 x 32 float32, batch {args.batch}), minimum of "
          f"{args.runs} alternating runs:")
    print(f"   num_workers=0: {zero * 1e6:7.1f} us a batch")
    print(f"   num_workers=2: {two * 1e6:7.1f} us a batch (persistent, steady state), "
          f"{two / zero:5.1f}x; overhead {(two - zero) * 1e6:.0f} us a batch")
    print(f"   start of 2 workers to the first batch: {min(per_batch['first batch']) * 1e3:.1f} ms")

    methods = [m for m in ("fork", "forkserver", "spawn")
               if m in multiprocessing.get_all_start_methods()]
    first: dict[str, list[float]] = {m: [] for m in methods}
    epochs: dict[str, list[float]] = {m: [] for m in methods}
    for _ in range(args.runs):
        for method in methods:
            start = time.perf_counter()
            next(iter(DataLoader(trivial, args.batch, num_workers=2,
                                 multiprocessing_context=method)))
            first[method].append(time.perf_counter() - start)
            epochs[method].append(epoch_s(DataLoader(dataset, args.batch, num_workers=2,
                                                     multiprocessing_context=method)))
    print(f"3. start methods, 2 workers, minimum of {args.runs} alternating runs "
          f"(num_workers=0: {base:.3f} s an epoch of the ~1 ms items):")
    print(f"   {'method':<12}{'first batch':>14}{'~1 ms items epoch':>20}{'vs fork':>10}")
    fork_epoch = min(epochs["fork"]) if "fork" in epochs else None
    for method in methods:
        ratio = f"{min(epochs[method]) / fork_epoch:9.2f}x" if fork_epoch else ""
        print(f"   {method:<12}{min(first[method]) * 1e3:11.1f} ms{min(epochs[method]):18.3f} s"
              f"{ratio}")
    if "forkserver" in first:
        extra = first["forkserver"][0] - min(first["forkserver"])
        print(f"   (the forkserver's own start, once per program: +{extra * 1e3:.0f} ms on the "
              "first run)")


if __name__ == "__main__":
    main()
