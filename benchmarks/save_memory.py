"""Extra memory while saving: the peak that ``dlpy.save`` and ``dcp.save`` (one process)
allocate beyond the state dict itself (tracemalloc, which sees numpy's and Python's
allocations), against the size of its largest tensor.

    python benchmarks/save_memory.py [--mb 20]
"""

from __future__ import annotations

import argparse
import os
import tempfile

import numpy as np
from timing import peak_traced

import dlpy
from dlpy.distributed import checkpoint as dcp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=20.0, help="the largest tensor's size")
    args = parser.parse_args()
    rows = int(args.mb * 1e6 / 4 / 1000)
    big = np.random.default_rng(0).normal(size=(rows, 1000)).astype(np.float32)
    state = {"w": dlpy.Tensor(big), "b": dlpy.Tensor(np.ones(10, np.float32))}
    folder = tempfile.mkdtemp(prefix="save_memory")
    runs = {
        "dlpy.save": lambda: dlpy.save(state, os.path.join(folder, "model.pt")),
        "dcp.save": lambda: dcp.save({"model": state}, no_dist=True,
                                     checkpoint_id=os.path.join(folder, "checkpoint")),
    }
    print(f"largest tensor: {big.nbytes / 1e6:.1f} MB")
    for name, save in runs.items():
        extra = peak_traced(save)
        print(f"{name:10s} peak extra {extra / 1e6:6.1f} MB = {extra / big.nbytes:.2f}x the "
              "largest tensor")


if __name__ == "__main__":
    main()
