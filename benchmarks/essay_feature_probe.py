"""Cheap probes of text representations for the essay scorer: a ridge over blocks of TF-IDF
features on the folds of `dlpy essay cv`, each arm beside the same base.

    OMP_NUM_THREADS=1 python benchmarks/essay_feature_probe.py \
        --data ../shared/data/essays/aihub-train --arms base,tags,tags_half,char14,char13_wide

The base is close to EssayNet's wide part: character 1-3-gram TF-IDF (60,000), morpheme
1-2-gram TF-IDF (60,000, scaled by 0.5), the standardised text statistics and a prompt
indicator. Arms add or swap one block:
- tags:        + part-of-speech tag 1-3-grams (Kiwi's tags alone, a topic-free syntax signal)
- tags_half:   the same block scaled by 0.5
- words:       + eojeol (space-separated word) 1-2-grams, scaled by 0.5
- char14:      character 1-4-grams, 120,000 kept, instead of 1-3-grams
- char14_60k:  character 1-4-grams, 60,000 kept
- char13_wide: character 1-3-grams, 120,000 kept (is a 4-gram gain only more columns?)
Prints pooled r, r within collection batches and RMSE per arm. A probe, not a model: an arm
worth having is then measured in EssayNet itself (`dlpy essay cv`, two seeds). scikit-learn
is a benchmark-only dependency. Needs ../shared/data and the analysis cache (`dlpy essay
preprocess`), else Kiwi analyses the corpus first (minutes).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from dlpy.essay.cv import (
    collection_batches,
    duplicate_groups,
    grouped_folds,
    merge_groups,
    stratified_folds,
)
from dlpy.essay.data import read_essays
from dlpy.essay.features import docs_from_records
from dlpy.essay.metrics import pearson, rmse, within_group_pearson

ARMS = ("base", "tags", "tags_half", "words", "char14", "char14_60k", "char13_wide")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--arms", default="base,tags,tags_half,char14,char13_wide")
    parser.add_argument("--folds-by", choices=("essay", "batch"), default="essay")
    parser.add_argument("--alpha", type=float, default=3.0, help="ridge penalty")
    args = parser.parse_args(argv)
    arms = args.arms.split(",")
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        parser.error(f"unknown arms {unknown}; known: {', '.join(ARMS)}")
    from scipy.sparse import csr_matrix, hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import Ridge

    start = time.perf_counter()
    docs = docs_from_records(read_essays(args.data, skip_bad=True), show_progress=False,
                             count_spaces=False)
    y = np.array([d.score for d in docs])
    prompts = [d.prompt for d in docs]
    batches = collection_batches([d.id for d in docs], prompts)
    if args.folds_by == "essay":
        fold_of = stratified_folds(prompts, 5, 0)
    else:
        fold_of = grouped_folds(prompts, merge_groups(batches, duplicate_groups(docs)), 5, 0)
    texts = [d.text for d in docs]
    morphemes = [" ".join(m.replace(" ", "_") for m in d.morphemes) for d in docs]
    tags = [" ".join(tag for sentence in d.sentences for _, tag in sentence) for d in docs]
    stats = np.array([d.statistics() for d in docs], dtype=np.float64)
    stats = np.clip((stats - stats.mean(0)) / (stats.std(0) + 1e-6), -5, 5)
    prompt_ids = {p: i for i, p in enumerate(sorted(set(prompts)))}
    indicator = csr_matrix((np.ones(len(docs)), (np.arange(len(docs)),
                                                 [prompt_ids[p] for p in prompts])))
    del docs
    print(f"{len(y)} essays, folds by {args.folds_by} ({time.perf_counter() - start:.0f} s)",
          flush=True)

    def block(strings, **options):
        return TfidfVectorizer(sublinear_tf=True, min_df=2, dtype=np.float32,
                               **options).fit_transform(strings)

    def chars(orders, kept):
        return block(texts, analyzer="char", ngram_range=orders, max_features=kept)

    words = dict(analyzer="word", token_pattern=r"\S+")
    morpheme_block = block(morphemes, ngram_range=(1, 2), max_features=60000, **words) * 0.5
    fixed = [morpheme_block, csr_matrix(stats), indicator]
    base_chars = chars((1, 3), 60000) if {"base", "tags", "tags_half", "words"} & set(arms) \
        else None
    for arm in arms:
        if arm == "base":
            blocks = [base_chars]
        elif arm in ("tags", "tags_half"):
            tag_block = block(tags, ngram_range=(1, 3), lowercase=False, **words)
            blocks = [base_chars, tag_block * (0.5 if arm == "tags_half" else 1.0)]
        elif arm == "words":
            blocks = [base_chars, block(texts, ngram_range=(1, 2), max_features=60000,
                                        **words) * 0.5]
        elif arm == "char14":
            blocks = [chars((1, 4), 120000)]
        elif arm == "char14_60k":
            blocks = [chars((1, 4), 60000)]
        else:  # char13_wide
            blocks = [chars((1, 3), 120000)]
        x = hstack(blocks + fixed).tocsr()
        prediction = np.zeros(len(y))
        for k in range(5):
            train, test = fold_of != k, fold_of == k
            prediction[test] = Ridge(alpha=args.alpha).fit(x[train], y[train]).predict(x[test])
        print(f"{arm:12s} r {pearson(prediction, y):.4f}  within "
              f"{within_group_pearson(prediction, y, batches):.4f}  RMSE "
              f"{rmse(prediction, y):.3f}  ({x.shape[1]} columns, "
              f"{time.perf_counter() - start:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
