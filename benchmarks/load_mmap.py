"""``load(mmap=True)`` against reading: the time to load a checkpoint, the memory the load
allocates (tracemalloc: numpy's and Python's allocations; a mapping's pages are the page
cache's) and the time to load it and then read one row of its biggest tensor (what a program
that uses part of a checkpoint pays). dlpy and torch (when installed) alternate, the minimum of
``--repeat`` runs each, with the ratio to torch's.

    python benchmarks/load_mmap.py [--mb 256] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
from timing import peak_traced

import dlpy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=256.0, help="the checkpoint's size")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rows = max(1, int(args.mb * 2**20 / 4 / 4096 / 4))
    rng = np.random.default_rng(0)
    state = {f"layer{i}.weight": dlpy.Tensor(rng.normal(size=(rows, 4096)).astype(np.float32))
             for i in range(4)}
    folder = tempfile.mkdtemp(prefix="load_mmap")
    path = os.path.join(folder, "model.pt")
    dlpy.save(state, path)
    print(f"checkpoint: {os.path.getsize(path) / 2**20:.0f} MiB, 4 tensors of ({rows}, 4096)")
    loaders = {"dlpy read": lambda: dlpy.load(path),
               "dlpy mmap": lambda: dlpy.load(path, mmap=True)}
    try:
        import torch

        loaders.update({"torch read": lambda: torch.load(path),
                        "torch mmap": lambda: torch.load(path, mmap=True)})
    except ImportError:
        print("(torch not installed: dlpy only)")
    times = {name: [] for name in loaders}
    row_times = {name: [] for name in loaders}
    for _ in range(args.repeat):
        for name, load in loaders.items():
            start = time.perf_counter()
            loaded = load()
            times[name].append(time.perf_counter() - start)
            row = float(loaded["layer3.weight"][rows // 2].sum())
            row_times[name].append(time.perf_counter() - start)
            del loaded, row
    print(f"{'':11s} {'load ms':>9s} {'+ one row':>9s} {'traced MiB':>11s}")
    for name, load in loaders.items():
        traced = peak_traced(load) / 2**20
        ratio = ""
        other = name.replace("dlpy", "torch")
        if name.startswith("dlpy") and other in times:
            ratio = f"  {min(times[name]) / min(times[other]):.2f}x torch's"
        print(f"{name:11s} {min(times[name]) * 1e3:9.1f} {min(row_times[name]) * 1e3:9.1f} "
              f"{traced:11.1f}{ratio}")


if __name__ == "__main__":
    main()
