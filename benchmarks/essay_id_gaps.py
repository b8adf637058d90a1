"""Where the essays missing from aihub-train lie among its essay ids.

    python benchmarks/essay_id_gaps.py [--data ../shared/data/essays/aihub-train]

AI Hub numbered the essays as it collected and scored them (`ESSAY_<id>`), and the corpus's
held-back essays (its official validation split among them) are the ids missing here. Whether
they lie inside the collection batches of the training essays or in runs of their own decides
which cross-validation protocol a held-back check resembles: `--folds-by essay` (the held-back
essays' batch-mates were trained on) or `--folds-by batch` (they were not).

Printed: the span of the ids, how many ids inside it are missing, the distribution of the gaps
between consecutive present ids beside the geometric distribution a uniformly random sample of
the span with the same missing share would give, and the share of missing ids that lie inside a
collection batch (between the first and last id of one batch) rather than between batches. Needs
../shared/data (says so otherwise).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from dlpy.essay.cv import collection_batches
from dlpy.essay.data import read_essays

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "essays" / "aihub-train"


def numeric_id(essay_id: str) -> int | None:
    match = re.search(r"(\d+)$", essay_id)
    return int(match.group(1)) if match else None


def gap_table(ids: np.ndarray, longest: int = 6) -> tuple[dict, float]:
    """Observed share of each gap between consecutive sorted ids (1 = adjacent), beside the
    geometric share expected if the missing ids of the span were a uniform random sample."""
    ids = np.unique(ids)
    gaps = np.diff(ids)
    span = int(ids[-1] - ids[0] + 1)
    missing = (span - ids.size) / span
    counts = Counter(np.minimum(gaps, longest).tolist())
    table = {}
    for g in range(1, longest + 1):
        expected = (missing ** (g - 1)) * (1 - missing) if g < longest else missing ** (g - 1)
        table[g] = (counts.get(g, 0) / gaps.size, expected)
    return table, missing


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--batch-gap", type=int, default=50)
    args = parser.parse_args(argv)
    if not Path(args.data).exists():
        print(f"{args.data}: not found; this benchmark needs the AI Hub essays "
              "(../shared/data/essays)")
        return 1
    records = read_essays(args.data, skip_bad=True)
    numbers = [numeric_id(r.id) for r in records]
    if any(n is None for n in numbers):
        print("some essay ids carry no number; this benchmark needs AI Hub's ESSAY_<id>")
        return 1
    ids = np.array(numbers, dtype=np.int64)
    prompts = [r.title for r in records]
    batches = collection_batches([r.id for r in records], prompts, args.batch_gap)
    span = int(ids.max() - ids.min() + 1)
    print(f"{ids.size} essays, ids {ids.min()}-{ids.max()} ({span} ids): "
          f"{span - np.unique(ids).size} ids of the span missing")
    table, missing = gap_table(ids)
    print(f"gaps between consecutive ids, observed vs a uniform random {missing:.1%} missing:")
    for g, (observed, expected) in table.items():
        label = f">={g}" if g == max(table) else f"{g:>3}"
        print(f"  gap {label}: {observed:.3f}  (random sample {expected:.3f})")
    absent = np.setdiff1d(np.arange(ids.min(), ids.max() + 1), ids)
    inside = np.zeros(absent.size, dtype=bool)
    for batch in np.unique(batches):
        members = ids[batches == batch]
        inside |= (absent > members.min()) & (absent < members.max())
    print(f"missing ids inside the id range of a collection batch: {int(inside.sum())} "
          f"({inside.mean():.1%}); between batches: {int((~inside).sum())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
