"""Reading and analysing the whole AI Hub essay corpus: read time, first analysis (essays/s with N
worker processes) and the load from the cache.

    python benchmarks/essay_corpus.py                          # ../shared/data/essays/aihub-train
    python benchmarks/essay_corpus.py --cold --sample 2000     # first analysis into a fresh cache

Without --cold it uses the normal cache (~/.cache/dlpy): the first run fills it, the second
measures the cached load. --cold analyses into a temporary cache (deleted after), so it always
measures a first analysis; --sample N takes every k-th essay to keep that short. Needs the
shared data (never part of the repository); says so and exits when it is absent.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "essays" / "aihub-train"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DEFAULT))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cold", action="store_true", help="analyse into a fresh cache")
    parser.add_argument("--sample", type=int, default=0, help="analyse N essays spread evenly")
    parser.add_argument("--category", action="append", dest="categories")
    args = parser.parse_args()
    if not Path(args.data).exists():
        print(f"{args.data}: not found; this benchmark needs the shared AI Hub essays")
        return 0

    from dlpy.essay.data import analyze_essays, read_essays

    load = os.getloadavg()[0]
    start = time.perf_counter()
    records = read_essays(args.data, categories=args.categories, skip_bad=True)
    read_seconds = time.perf_counter() - start
    print(f"read: {records.summary()}")
    print(f"  {read_seconds:.1f} s ({len(records) / read_seconds:.0f} essays/s)")
    if args.sample:
        step = max(len(records) // args.sample, 1)
        records = records[::step][:args.sample]
    cache_dir = tempfile.mkdtemp(prefix="dlpy-cold-") if args.cold else None
    try:
        cpu_start = _cpu_seconds()
        start = time.perf_counter()
        analysed = analyze_essays(records, "kiwi", workers=args.workers, cache_dir=cache_dir,
                                  skip_bad=True, show_progress=sys.stderr.isatty())
        seconds = time.perf_counter() - start
        cpu = _cpu_seconds() - cpu_start
    finally:
        if cache_dir:
            shutil.rmtree(cache_dir, ignore_errors=True)
    report = analysed.report
    print(f"analysis ({'fresh cache' if args.cold else 'the cache'}): {report}")
    print(f"  {len(analysed)} essays in {seconds:.1f} s; load average {load:.1f} at the start, "
          f"{os.getloadavg()[0]:.1f} at the end, {os.cpu_count()} cores")
    if report.analysed:
        print(f"  first analysis: {report.per_second:.1f} essays/s with {report.workers} "
              f"worker(s) -> {38626 / report.per_second / 60:.1f} min for 38,626 essays")
        # the machine is shared: CPU time says what the same work takes on idle cores
        per_essay = cpu / len(analysed)
        print(f"  CPU time {cpu:.1f} s ({per_essay * 1000:.0f} ms per essay, this process and "
              f"its workers) -> 38,626 essays on {args.workers} idle cores: "
              f"{38626 * per_essay / args.workers / 60:.1f} min")
    else:
        print(f"  CPU time {cpu:.1f} s")
    if analysed.skipped:
        print(f"  skipped: {analysed.skipped}")
    return 0


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (the workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


if __name__ == "__main__":
    sys.exit(main())
