"""The essay CV table: a ridge baseline and the human raters on the folds `dlpy essay cv` uses,
beside the CV runs of EssayNet.

    python benchmarks/essay_baseline.py --data ../shared/data/essays/aihub-train \
        [--cv cv_wide.json cv_deep.json] [--json table.json]

Rows (all on the same essays; folds keep collection batches and duplicate texts whole, as
`dlpy essay cv --folds-by batch` does, with the same fold seed; `--folds-by essay` splits them as
`dlpy essay cv --folds-by essay` does):
- ridge: scikit-learn Ridge over character 1-3-gram TF-IDF + 7 length statistics, one model for
  all categories (scikit-learn is a benchmark-only dependency);
- one rater vs the other two: each rater's total against the mean of the other two, averaged over
  the three raters (the human ceiling on the same essays);
- each `--cv` JSON (`dlpy essay cv ... --json FILE`), matched by essay id.
Columns: pooled r, r within collection batches, RMSE, QWK (ridge and CV: calibrated to the
score histogram on the training folds / validation splits; raters: rounded), mean residual of
the essays scoring under 15, and r per category. Needs ../shared/data (says so otherwise).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

from dlpy.essay.cv import (
    BANDS,
    collection_batches,
    full_report,
    grouped_folds,
    merge_groups,
    stratified_folds,
)
from dlpy.essay.data import read_essays
from dlpy.essay.features import Doc
from dlpy.essay.metrics import Calibration

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "essays" / "aihub-train"


def length_statistics(text: str) -> list[float]:
    """7 length statistics: log chars, log words, log sentences, log paragraphs, chars per word,
    words per sentence, share of punctuation."""
    words = text.split()
    sentences = [s for s in re.split(r"[.!?]+", text) if s.strip()]
    paragraphs = [p for p in text.split("\n") if p.strip()]
    return [np.log1p(len(text)), np.log1p(len(words)), np.log1p(len(sentences)),
            np.log1p(len(paragraphs)), len(text) / max(len(words), 1),
            len(words) / max(len(sentences), 1),
            len(re.findall(r"[.,!?]", text)) / max(len(text), 1)]


def ridge_predictions(texts: list[str], scores: np.ndarray, fold_of: np.ndarray,
                      alpha: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    from scipy.sparse import csr_matrix, hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import Ridge

    stats = np.array([length_statistics(t) for t in texts])
    predictions = np.zeros(len(texts))
    calibrated = np.zeros(len(texts), dtype=np.int64)
    for k in sorted(set(fold_of.tolist())):
        test, fit = fold_of == k, fold_of != k
        vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True,
                                     min_df=2, max_features=40000)
        x_fit = vectorizer.fit_transform([t for t, m in zip(texts, fit) if m])
        x_test = vectorizer.transform([t for t, m in zip(texts, test) if m])
        mean, std = stats[fit].mean(0), stats[fit].std(0) + 1e-6
        x_fit = hstack([x_fit, csr_matrix((stats[fit] - mean) / std)]).tocsr()
        x_test = hstack([x_test, csr_matrix((stats[test] - mean) / std)]).tocsr()
        model = Ridge(alpha=alpha).fit(x_fit, scores[fit])
        predictions[test] = model.predict(x_test)
        calibration = Calibration.fit(model.predict(x_fit), scores[fit])
        calibrated[test] = calibration(predictions[test])
    return np.clip(predictions, 0, 30), calibrated


def weighted_view(predictions, scores, weights, batches) -> dict:
    """Pearson r, RMSE and r within batches with each essay counted `weights` times: the figures
    of a set with more weak essays than aihub-train (see --low-band-weight)."""
    x, y = np.asarray(predictions, np.float64), np.asarray(scores, np.float64)
    w = np.asarray(weights, np.float64) / np.sum(weights)

    def r(dx, dy):
        return float(np.sum(w * dx * dy) / np.sqrt(np.sum(w * dx * dx) * np.sum(w * dy * dy)))

    _, inverse = np.unique(np.asarray(batches), return_inverse=True)
    inverse = inverse.reshape(-1)
    batch_weight = np.bincount(inverse, w)

    def centred(v):
        return v - (np.bincount(inverse, w * v) / batch_weight)[inverse]

    return {"pearson": r(x - np.sum(w * x), y - np.sum(w * y)),
            "within_batch_pearson": r(centred(x), centred(y)),
            "rmse": float(np.sqrt(np.sum(w * (x - y) ** 2)))}


def table_row(name: str, result: dict) -> str:
    low = result["bands"].get(f"<{BANDS[0][1]:g}", {})
    per_category = " ".join(f"{c} {v['pearson']:.3f}" for c, v in result["per_category"].items())
    view = result.get("low_band_weighted")
    weighted = (f"  | <15 x{view['weight']:g}: r {view['pearson']:.3f} within "
                f"{view['within_batch_pearson']:.3f} RMSE {view['rmse']:.3f}"
                if view else "")
    return (f"{name:34s} r {result['pearson']:.3f}  within {result['within_batch_pearson']:.3f}"
            f"  RMSE {result['rmse']:.3f}  QWK {result['qwk']:.3f}  <15 residual "
            f"{low.get('mean_residual', float('nan')):+.2f} (n {low.get('n', 0)}){weighted}  | "
            f"{per_category}")


def raters_report(records, docs, batches) -> dict:
    """One rater vs the mean of the other two, each metric averaged over the three raters."""
    raters = np.array([r.rater_scores[:3] for r in records], dtype=np.float64)
    rows = []
    for k in range(3):
        rest = np.delete(raters, k, axis=1).mean(axis=1)
        # the rater plays the model, the other two's mean the truth
        truth_docs = [Doc(text=d.text, sentences=[], prompt=d.prompt, score=float(t), id=d.id,
                          category=d.category) for d, t in zip(docs, rest)]
        rows.append(full_report(raters[:, k], truth_docs, batches,
                                np.clip(np.round(raters[:, k]), 0, 30)))
    out = dict(rows[0])
    for key in ("pearson", "within_batch_pearson", "rmse", "qwk"):
        out[key] = float(np.mean([r[key] for r in rows]))
    for name in out["bands"]:
        out["bands"][name] = {"n": rows[0]["bands"][name]["n"], "mean_residual": float(
            np.mean([r["bands"][name]["mean_residual"] for r in rows]))}
    for c in out["per_category"]:
        out["per_category"][c] = {"pearson": float(np.mean([r["per_category"][c]["pearson"]
                                                            for r in rows]))}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--cv", nargs="*", default=[], metavar="CV.json")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--fold-seed", type=int, default=0)
    parser.add_argument("--batch-gap", type=int, default=50)
    parser.add_argument("--folds-by", choices=["batch", "essay"], default="batch",
                        help="batch (default): whole collection batches and duplicate texts per "
                             "fold; essay: folds stratified by prompt, as `dlpy essay cv "
                             "--folds-by essay` (the figures of a test set whose essays come from "
                             "the training essays' batches)")
    parser.add_argument("--json", help="write all rows' reports to this file")
    parser.add_argument("--no-ridge", action="store_true",
                        help="skip the ridge (minutes): only the raters and the --cv files")
    parser.add_argument("--low-band-weight", type=float, default=12.0, metavar="K",
                        help="also report r and RMSE with every essay scoring under 15 counted K "
                             "times (default 12: a set with more weak essays, where one rater vs "
                             "the other two reaches r .79; 1 turns the view off)")
    args = parser.parse_args(argv)
    if not Path(args.data).exists():
        print(f"{args.data}: not found; this benchmark needs the AI Hub essays "
              "(../shared/data/essays)")
        return 1
    start = time.perf_counter()
    records = read_essays(args.data, skip_bad=True)
    docs = [Doc(text=r.text, sentences=[], prompt=r.title, score=r.score, id=r.id,
                category=r.category) for r in records]
    prompts = [d.prompt for d in docs]
    batches = collection_batches([d.id for d in docs], prompts, args.batch_gap)
    from dlpy.essay.cv import duplicate_groups

    groups = merge_groups(batches, duplicate_groups(docs))
    fold_of = (grouped_folds(prompts, groups, args.folds, args.fold_seed)
               if args.folds_by == "batch" else stratified_folds(prompts, args.folds,
                                                                 args.fold_seed))
    scores = np.array([d.score for d in docs])
    print(f"{len(docs)} essays, {len(set(batches.tolist()))} collection batches, "
          + (f"{len(set(groups.tolist()))} fold groups" if args.folds_by == "batch"
             else "folds by essay") + f" ({time.perf_counter() - start:.0f} s)")
    reports = {}
    if not args.no_ridge:
        predictions, calibrated = ridge_predictions([d.text for d in docs], scores, fold_of)
        ridge = reports["ridge, char 1-3-grams + 7 length stats"] = full_report(
            predictions, docs, batches, calibrated)
        ridge["predictions"] = predictions.tolist()
    reports["one rater vs the other two"] = raters_report(records, docs, batches)
    index = {d.id: i for i, d in enumerate(docs)}
    for path in args.cv:
        cv = json.loads(Path(path).read_text(encoding="utf-8"))
        order = [index[i] for i in cv["ids"]]
        if sorted(order) != list(range(len(docs))):
            print(f"{path}: its essays are not these essays; skipped")
            continue
        if not np.array_equal(np.asarray(cv["fold_of"]), fold_of[order]):
            print(f"note: {path} used other folds than this table")
        cv_docs = [docs[i] for i in order]
        result = full_report(cv["predictions"], cv_docs, batches[order])
        result["qwk"] = cv["qwk"]
        result["predictions"] = np.asarray(cv["predictions"])[np.argsort(order)].tolist()
        reports[f"EssayNet {Path(path).stem}"] = result
    if args.low_band_weight != 1:
        weights = np.where(scores < BANDS[0][1], args.low_band_weight, 1.0)
        raters = np.array([r.rater_scores[:3] for r in records], dtype=np.float64)
        for name, result in reports.items():
            if name == "one rater vs the other two":
                views = [weighted_view(raters[:, k], np.delete(raters, k, axis=1).mean(axis=1),
                                       weights, batches) for k in range(3)]
                view = {key: float(np.mean([v[key] for v in views])) for key in views[0]}
            else:
                view = weighted_view(result["predictions"], scores, weights, batches)
            result["low_band_weighted"] = {"weight": args.low_band_weight, **view}
    for name, result in reports.items():
        print(table_row(name, result))
    print(f"({time.perf_counter() - start:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(reports, indent=1, ensure_ascii=False),
                                   encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
