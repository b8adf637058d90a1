"""How well do the human raters agree, and how close is the scorer to them? Per prompt and pooled.

    python benchmarks/essay_agreement.py [--data DIR] [--cv cv.json]

For every prompt: the pairwise Pearson r of the three raters' totals, one rater against the mean
of the other two (the issue's "human" row: r, and QWK on rounded scores, averaged over the three
raters), and, with `--cv` (the JSON of `dlpy essay cv ... --json cv.json`, run on the same
essays), the scorer's cross-validated r against the three-rater mean. The rater columns need the
AI Hub JSON essays (`essay_scoreT`); without `../shared/data` the script says so and stops.
"""

from __future__ import annotations

import argparse
import json
import sys
from itertools import combinations
from pathlib import Path

import numpy as np

from dlpy.essay.data import read_essays
from dlpy.essay.metrics import pearson, quadratic_weighted_kappa

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "essays" / \
    "aihub-writing-dev"


def agreement(raters: np.ndarray) -> dict:
    """raters: (n, 3) totals -> pairwise r, and one rater vs the mean of the others."""
    pairs = [pearson(raters[:, a], raters[:, b]) for a, b in combinations(range(3), 2)]
    one_vs_rest_r, one_vs_rest_qwk = [], []
    for k in range(3):
        rest = np.delete(raters, k, axis=1).mean(axis=1)
        one_vs_rest_r.append(pearson(raters[:, k], rest))
        one_vs_rest_qwk.append(quadratic_weighted_kappa(np.round(raters[:, k]), np.round(rest)))
    return {"pairwise": pairs, "one_vs_rest_r": float(np.mean(one_vs_rest_r)),
            "one_vs_rest_qwk": float(np.mean(one_vs_rest_qwk))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--cv", help="the JSON written by `dlpy essay cv --json`")
    args = parser.parse_args(argv)
    if not Path(args.data).exists():
        print(f"{args.data}: not found; this benchmark needs the AI Hub essays (../shared/data)")
        return 1
    records = [r for r in read_essays(args.data) if len(r.rater_scores) == 3]
    raters = np.array([r.rater_scores for r in records], dtype=np.float64)
    mean = np.array([r.score for r in records])
    titles = np.array([r.title for r in records])
    predictions = None
    if args.cv:
        cv = json.loads(Path(args.cv).read_text(encoding="utf-8"))
        predictions = np.asarray(cv["predictions"], dtype=np.float64)
        if predictions.size != len(records):
            print(f"{args.cv}: {predictions.size} predictions for {len(records)} essays; run the "
                  "CV on the same data")
            return 1
    header = (f"{'prompt':28s} {'n':>5s}  {'rater pairs r':18s} {'one vs rest r':>13s} "
              f"{'QWK':>5s}" + (f" {'scorer r':>9s}" if predictions is not None else ""))
    print(header)
    groups = [(name, titles == name) for name in sorted(set(titles.tolist()))]
    groups.append(("all (pooled)", np.ones(len(records), dtype=bool)))
    for name, mask in groups:
        a = agreement(raters[mask])
        line = (f"{name:28s} {int(mask.sum()):5d}  "
                f"{' '.join(f'{p:.2f}' for p in a['pairwise']):18s} "
                f"{a['one_vs_rest_r']:13.3f} {a['one_vs_rest_qwk']:5.3f}")
        if predictions is not None:
            line += f" {pearson(predictions[mask], mean[mask]):9.3f}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
