"""Cross-validation and the final (bundled) training on a whole corpus with one load.

    OMP_NUM_THREADS=1 python benchmarks/essay_full_run.py \
        --data ../shared/data/essays/aihub-train --cv-json cv.json --out runs/bundled \
        [--epochs 6 --patience 2 ...]     # any `dlpy essay train` setting

Does what `dlpy essay cv --data D --json cv.json` and `dlpy essay train --data D --out OUT
--float16` do, but reads and featurises the 38.6k essays once (the slow part on two cores) and
then forks: the child trains the final model (checkpointed every epoch: rerun with --resume),
the parent runs the batch-grouped CV (folds by collection batch and duplicate text). Either can
be skipped (--no-cv, --no-train).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from dlpy.essay.config import add_config_arguments, config_from_args
from dlpy.essay.cv import (
    collection_batches,
    cross_validate,
    duplicate_groups,
    format_report,
    merge_groups,
)
from dlpy.essay.data import read_essays
from dlpy.essay.features import docs_from_records
from dlpy.essay.train import train
from dlpy.io import atomic_write_bytes


def log_to(prefix: str):
    def log(message: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {prefix}{message}", flush=True)
    return log


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--cv-json", help="write the CV result here")
    parser.add_argument("--out", help="folder of the final model")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--fold-seed", type=int, default=0)
    parser.add_argument("--batch-gap", type=int, default=50)
    parser.add_argument("--no-cv", action="store_true")
    parser.add_argument("--no-train", action="store_true")
    parser.add_argument("--resume", action="store_true")
    add_config_arguments(parser)
    args = parser.parse_args(argv)
    config = config_from_args(args)
    log = log_to("")
    start = time.perf_counter()
    records = read_essays(args.data, skip_bad=True)
    log(f"read {len(records)} essays ({time.perf_counter() - start:.0f} s)")
    docs = docs_from_records(records, "kiwi", show_progress=False)
    del records
    for doc in docs:
        doc.release(keep_morphemes=config.d_model > 0)
    log(f"analysed and featurised {len(docs)} essays ({time.perf_counter() - start:.0f} s)")
    forked = not args.no_train and not args.no_cv
    child = os.fork() if forked else 0
    if child == 0 and not args.no_train:
        train_log = log_to("[final] ")
        batches = collection_batches([d.id for d in docs], [d.prompt for d in docs],
                                     args.batch_gap)
        scorer = train(docs, config, args.out, resume=args.resume, show_progress=False,
                       log=train_log, save_dtype=np.float16,
                       groups=merge_groups(batches, duplicate_groups(docs)))
        metrics = scorer.info["validation_metrics"]
        train_log(f"done: best epoch {scorer.info['best_epoch']}, validation RMSE "
                  f"{metrics['rmse']:.3f}, r {metrics['pearson']:.3f}; "
                  f"{scorer.info['seconds_per_epoch']:.0f} s per epoch; "
                  f"{os.path.getsize(Path(args.out) / 'model.npz') / 1e6:.1f} MB")
        if forked:
            os._exit(0)
        return 0
    batches = collection_batches([d.id for d in docs], [d.prompt for d in docs], args.batch_gap)
    groups = merge_groups(batches, duplicate_groups(docs))
    result = cross_validate(docs, config, args.folds, seed=args.fold_seed, show_progress=False,
                            log=log_to("[cv] "), groups=groups, batches=batches)
    result["folds_by"] = f"collection batch (gap {args.batch_gap}) and duplicate text"
    print(f"{args.folds}-fold CV ({config.family}, {len(docs)} essays): RMSE "
          f"{result['rmse']:.3f}, r {result['pearson']:.3f}, QWK {result['qwk']:.3f}, "
          f"{result['seconds_per_epoch']:.0f} s per epoch")
    print("\n".join(format_report(result)), flush=True)
    if args.cv_json:
        atomic_write_bytes(args.cv_json, json.dumps(result, indent=1, ensure_ascii=False)
                           .encode("utf-8"))
    if child:
        os.waitpid(child, 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
