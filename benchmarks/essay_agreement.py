"""How well do the human raters agree, and how close is the scorer to them? Per prompt and pooled.

    python benchmarks/essay_agreement.py [--data DIR] [--cv cv.json [cv_by_batch.json ...]]

All five categories by default (aihub-train): per prompt, then per category.

For every prompt: the pairwise Pearson r of the three raters' totals, one rater against the mean
of the other two (the issue's "human" row: r, and QWK on rounded scores, averaged over the three
raters), and, with `--cv` (the JSON of `dlpy essay cv ... --json cv.json`, run on the same
essays), the scorer's cross-validated r against the three-rater mean. The rater columns need the
AI Hub JSON essays (`essay_scoreT`); without `../shared/data` the script says so and stops.

A second table looks at collection batches (runs of consecutive essay ids within a prompt,
`dlpy.essay.cv.collection_batches`): how much of the score variance lies between batches, how
well the mean score of the 10 essays with the nearest ids predicts an essay's score (metadata,
never a model input: it measures the batch effect, not the text), and the raters' and the
scorer's r inside batches (`within_group_pearson`).
"""

from __future__ import annotations

import argparse
import json
import sys
from itertools import combinations
from pathlib import Path

import numpy as np

from dlpy.essay.cv import collection_batches, essay_number
from dlpy.essay.data import read_essays
from dlpy.essay.metrics import pearson, quadratic_weighted_kappa, within_group_pearson

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "essays" / \
    "aihub-train"  # all five categories; aihub-writing-dev is the 글짓기 part


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


def id_neighbours(numbers: np.ndarray, scores: np.ndarray, k: int = 10) -> np.ndarray:
    """For each essay, the mean score of the k other essays whose ids are nearest to its own."""
    out = np.zeros(len(scores))
    for i in range(len(scores)):
        distance = np.abs(numbers - numbers[i]).astype(np.float64)
        distance[i] = np.inf
        out[i] = scores[np.argsort(distance, kind="stable")[:k]].mean()
    return out


def row(name: str, mask: np.ndarray, cells: list[str]) -> str:
    return f"{name:28s} {int(mask.sum()):5d} " + " ".join(cells)


def prompt_groups(titles: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """(name, mask) for every prompt, then ("all (pooled)", all essays)."""
    groups = [(name, titles == name) for name in sorted(set(titles.tolist()))]
    return groups + [("all (pooled)", np.ones(len(titles), dtype=bool))]


def batch_table(records, raters, mean, titles, runs, gap: int) -> None:
    batches = collection_batches([r.id for r in records], titles, gap)
    numbers = np.array([essay_number(r.id) for r in records])
    header = (f"{'prompt':28s} {'n':>5s} {'batches':>7s} {'between-batch var':>17s} "
              f"{'id-neighbours r':>15s} {'raters within r':>15s}"
              + "".join(f" {name + ' within r':>22s}" for name, _ in runs))
    print(f"\ncollection batches (an id jump of more than {gap} starts a new batch)")
    print(header)
    groups = prompt_groups(titles)
    neighbours = np.zeros(len(records))
    for _, mask in groups[:-1]:
        neighbours[mask] = id_neighbours(numbers[mask], mean[mask])
    centred = mean - np.array([mean[titles == t].mean() for t in titles])  # within prompt
    for name, mask in groups:
        b = batches[mask]
        batch_mean = (np.bincount(b, centred[mask]) / np.maximum(np.bincount(b), 1))[b]
        within_raters = np.mean([within_group_pearson(
            raters[mask, k], np.delete(raters[mask], k, axis=1).mean(axis=1), b)
            for k in range(3)])
        print(row(name, mask, [f"{len(set(b.tolist())):7d}",
                               f"{np.var(batch_mean) / np.var(centred[mask]):17.2f}",
                               f"{pearson(neighbours[mask], mean[mask]):15.3f}",
                               f"{within_raters:15.3f}"]
                  + [f"{within_group_pearson(p[mask], mean[mask], b):22.3f}" for _, p in runs]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--cv", nargs="+", default=[], metavar="FILE",
                        help="JSON written by `dlpy essay cv --json` (one column each)")
    parser.add_argument("--batch-gap", type=int, default=50)
    args = parser.parse_args(argv)
    if not Path(args.data).exists():
        print(f"{args.data}: not found; this benchmark needs the AI Hub essays (../shared/data)")
        return 1
    records = [r for r in read_essays(args.data, skip_bad=True) if len(r.rater_scores) == 3]
    raters = np.array([r.rater_scores for r in records], dtype=np.float64)
    mean = np.array([r.score for r in records])
    titles = np.array([r.title for r in records])
    runs = []
    for path in args.cv:
        cv = json.loads(Path(path).read_text(encoding="utf-8"))
        predictions = np.asarray(cv["predictions"], dtype=np.float64)
        if predictions.size != len(records):
            print(f"{path}: {predictions.size} predictions for {len(records)} essays; run the "
                  "CV on the same data")
            return 1
        folds_by = cv.get("folds_by", "essay")
        runs.append(("batch folds" if folds_by.startswith("collection batch") else "essay folds",
                     predictions))
    header = (f"{'prompt':28s} {'n':>5s}  {'rater pairs r':18s} {'one vs rest r':>13s} "
              f"{'QWK':>5s}" + "".join(f" {name + ' r':>15s}" for name, _ in runs))
    print(header)
    groups = prompt_groups(titles)
    for name, mask in groups:
        a = agreement(raters[mask])
        pairs = " ".join(f"{p:.2f}" for p in a["pairwise"])
        print(row(name, mask, [f" {pairs:18s}", f"{a['one_vs_rest_r']:13.3f}",
                               f"{a['one_vs_rest_qwk']:5.3f}"]
                  + [f"{pearson(p[mask], mean[mask]):15.3f}" for _, p in runs]))
    categories = np.array([r.category for r in records])
    for name in sorted(set(categories.tolist())):  # the same columns per category
        mask = categories == name
        a = agreement(raters[mask])
        pairs = " ".join(f"{p:.2f}" for p in a["pairwise"])
        print(row(f"[{name}]", mask, [f" {pairs:18s}", f"{a['one_vs_rest_r']:13.3f}",
                                      f"{a['one_vs_rest_qwk']:5.3f}"]
                  + [f"{pearson(p[mask], mean[mask]):15.3f}" for _, p in runs]))
    batch_table(records, raters, mean, titles, runs, args.batch_gap)
    return 0


if __name__ == "__main__":
    sys.exit(main())
