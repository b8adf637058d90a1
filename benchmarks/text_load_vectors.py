"""Time `dlpy.text.load_vectors` on a generated fastText-style .vec file.

    python benchmarks/text_load_vectors.py [--rows 1000000] [--dim 100] [--path /tmp/bench.vec]

The file (header, Korean-like words, values with 4-6 significant digits, trailing space as
fastText writes) is generated once and reused; it is never written into the repository.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

import numpy as np

from dlpy.text import load_vectors


def generate(path: Path, rows: int, dim: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    distinct = 10_000  # format 10k distinct rows once and reuse them: writing stays fast
    values = rng.standard_normal((distinct, dim)).astype(np.float32) * 0.1
    fmt = " ".join(["%.4g"] * dim)
    texts = [fmt % tuple(row) for row in values.tolist()]
    syllables = [chr(0xAC00 + i) for i in rng.choice(11172, 400, replace=False)]
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(f"{rows} {dim}\n")
        for i in range(rows):
            word = syllables[i % 400] + syllables[(i // 400) % 400] + str(i // 160_000)
            f.write(f"{word} {texts[i % distinct]} \n")
    os.replace(tmp, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--path", default="/tmp/dlpy-bench-1m.vec")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    path = Path(args.path)
    if not path.exists():
        start = time.perf_counter()
        generate(path, args.rows, args.dim)
        print(f"generated {path} in {time.perf_counter() - start:.1f} s")
    size_mb = path.stat().st_size / 1e6
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        wv = load_vectors(path)
        times.append(time.perf_counter() - start)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    print(f"{path}: {size_mb:.0f} MB, {len(wv)} words x {wv.dim} dims, skipped {wv.skipped}")
    print(f"load_vectors: best {min(times):.2f} s of {args.repeat} "
          f"({len(wv) / min(times) / 1e3:.0f}k rows/s); matrix {wv.vectors.nbytes / 1e6:.0f} MB, "
          f"peak RSS {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
