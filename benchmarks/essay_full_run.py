"""Cross-validation and the final (bundled) training on a whole corpus with one load.

    OMP_NUM_THREADS=1 python benchmarks/essay_full_run.py \
        --data ../shared/data/essays/aihub-train --cv-json cv.json --out runs/bundled \
        [--epochs 6 --patience 2 ...]     # any `dlpy essay train` setting

Does what `dlpy essay cv --data D --json cv.json` and `dlpy essay train --data D --out OUT
--float16` do (the same folds: by collection batch and duplicate text), but reads and
featurises the 38.6k essays once (the slow part on two cores) and then forks one process per
fold and one for the final model. Each fold's predictions are kept in CV.json.parts/ (a rerun
skips the folds done); the final model checkpoints every epoch (rerun with --resume). Either
part can be skipped (--no-cv, --no-train).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import time
import traceback
from pathlib import Path

import numpy as np

from dlpy.essay.config import add_config_arguments, config_from_args
from dlpy.essay.cv import (
    collection_batches,
    duplicate_groups,
    format_report,
    full_report,
    grouped_folds,
    merge_groups,
    stratified_folds,
)
from dlpy.essay.data import read_essays
from dlpy.essay.features import _NGRAM_IDS, CRITERIA, Doc
from dlpy.essay.metrics import report
from dlpy.essay.train import train
from dlpy.io import atomic_write, atomic_write_bytes


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
    parser.add_argument("--folds-by", choices=("batch", "essay"), default="batch",
                        help="CV folds (and validation splits) of whole collection batches and "
                        "duplicate texts (the default, as `dlpy essay cv`) or of single essays")
    parser.add_argument("--no-cv", action="store_true")
    parser.add_argument("--no-train", action="store_true")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--docs-cache", metavar="FILE.pickle",
                        help="keep the featurised essays here (a private run cache: pickle, "
                        "read back only by this script) so a second run skips the load")
    add_config_arguments(parser)
    args = parser.parse_args(argv)
    if not args.no_cv and not args.cv_json:
        parser.error("--cv-json is required (or --no-cv)")
    if not args.no_train and not args.out:
        parser.error("--out is required (or --no-train)")
    config = config_from_args(args)
    log = log_to("")
    start = time.perf_counter()
    if args.docs_cache and Path(args.docs_cache).exists():
        with open(args.docs_cache, "rb") as f:
            docs, interned = pickle.load(f)
        _NGRAM_IDS.update(interned)
        log(f"{len(docs)} essays from {args.docs_cache} ({time.perf_counter() - start:.0f} s)")
    else:
        records = read_essays(args.data, skip_bad=True)
        log(f"read {len(records)} essays ({time.perf_counter() - start:.0f} s)")
        docs = load_docs(records, config, log)
        del records
        if args.docs_cache:
            with atomic_write(args.docs_cache) as f:
                pickle.dump((docs, _NGRAM_IDS), f, protocol=pickle.HIGHEST_PROTOCOL)
    for doc in docs:
        doc.release(keep_morphemes=config.d_model > 0)
    log(f"analysed and featurised {len(docs)} essays ({time.perf_counter() - start:.0f} s)")
    batches = collection_batches([d.id for d in docs], [d.prompt for d in docs], args.batch_gap)
    groups = merge_groups(batches, duplicate_groups(docs))
    if args.folds_by == "batch":
        fold_of = grouped_folds([d.prompt for d in docs], groups, args.folds, args.fold_seed)
    else:
        fold_of = stratified_folds([d.prompt for d in docs], args.folds, args.fold_seed)
    fold_groups = groups if args.folds_by == "batch" else None  # the final model: always batches
    parts = Path(args.cv_json + ".parts") if args.cv_json else None
    jobs = [] if args.no_cv else [k for k in range(args.folds)
                                  if not (parts / f"fold{k}.npz").exists()]
    if not args.no_train:
        jobs.append("final")
    children = {}
    for job in jobs:  # one process per job: on shared cores, more processes get more CPU
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                run_job(job, docs, config, args, groups, fold_of, parts, fold_groups)
            except BaseException:
                traceback.print_exc()
                code = 1
            finally:
                sys.stdout.flush()
                os._exit(code)
        children[pid] = job
    for _ in children:
        pid, status = os.wait()
        log(f"{children[pid]} finished (exit status {status})")
    if args.no_cv:
        return 0
    predictions = np.zeros(len(docs))
    calibrated = np.zeros(len(docs), dtype=np.int64)
    per_fold = []
    for k in range(args.folds):
        with np.load(parts / f"fold{k}.npz") as part:
            predictions[part["index"]] = part["predictions"]
            calibrated[part["index"]] = part["calibrated"]
            per_fold.append(json.loads(str(part["info"])))
    result = full_report(predictions, docs, batches, calibrated)
    result.update({"folds": per_fold, "config": config.to_dict(),
                   "seconds_per_epoch": float(np.mean([f["seconds_per_epoch"]
                                                       for f in per_fold])),
                   "predictions": predictions.tolist(), "fold_of": fold_of.tolist(),
                   "ids": [d.id for d in docs],
                   "folds_by": (f"collection batch (gap {args.batch_gap}) and duplicate text"
                                if args.folds_by == "batch" else "essay")})
    print(f"{args.folds}-fold CV ({config.family}, {len(docs)} essays): RMSE "
          f"{result['rmse']:.3f}, r {result['pearson']:.3f}, QWK {result['qwk']:.3f}, "
          f"{result['seconds_per_epoch']:.0f} s per epoch")
    print("\n".join(format_report(result)), flush=True)
    atomic_write_bytes(args.cv_json, json.dumps(result, indent=1, ensure_ascii=False)
                       .encode("utf-8"))
    return 0


def load_docs(records, config, log) -> list[Doc]:
    """Docs through the analysis cache without waiting for its lock: a cached analysis is read,
    a missing one is made here (not written back: another run may be filling the cache). The
    spacing counts are read from their cache where present; with --no-spacing-features they
    are not needed (0 where not cached)."""
    from dlpy.text.analysis import get_analyzer
    from dlpy.text.cache import AnalysisCache
    from dlpy.text.spacing import SpacingCounter

    analyzer = get_analyzer("kiwi")
    cache = AnalysisCache.for_analyzer(analyzer)
    spacing = SpacingCounter(analyzer.kiwi)
    docs, made, counted = [], 0, 0
    for record in records:
        fields = cache.get(record.source_sha256)
        if fields is None or "essay" not in fields:
            fields = {"essay": analyzer.analyze(record.marked_text)}
            made += 1
        missing = 0
        if config.spacing_features:
            missing = spacing(record.text)
            counted += 1
        criteria = [float(record.criteria[k]) for k in CRITERIA] if record.criteria else None
        weights = getattr(record, "criterion_weights", None)
        docs.append(Doc(text=record.text, sentences=fields["essay"], prompt=record.title,
                        prompt_text=record.prompt, missing_spaces=missing,
                        score=float(record.score), criteria=criteria, id=record.id,
                        category=record.category,
                        rubric=[float(weights[k]) for k in CRITERIA] if weights else None))
        docs[-1].release(keep_morphemes=config.d_model > 0)
        if len(docs) % 5000 == 0:
            log(f"{len(docs)} essays ready ({made} analysed here)")
    log(f"{len(docs)} essays ready: {made} analysed here, {counted} spacing counts")
    return docs


def run_job(job, docs, config, args, groups, fold_of, parts, fold_groups) -> None:
    if job == "final":
        train_log = log_to("[final] ")
        scorer = train(docs, config, args.out, resume=args.resume, show_progress=False,
                       log=train_log, save_dtype=np.float16, groups=groups)
        metrics = scorer.info["validation_metrics"]
        train_log(f"done: best epoch {scorer.info['best_epoch']}, validation RMSE "
                  f"{metrics['rmse']:.3f}, r {metrics['pearson']:.3f}; "
                  f"{scorer.info['seconds_per_epoch']:.0f} s per epoch; "
                  f"{os.path.getsize(Path(args.out) / 'model.npz') / 1e6:.1f} MB")
        return
    k = job
    fold_log = log_to(f"[fold {k + 1}/{args.folds}] ")
    test_index = np.nonzero(fold_of == k)[0]
    fit_index = np.nonzero(fold_of != k)[0]
    start = time.perf_counter()
    scorer = train([docs[i] for i in fit_index], config, show_progress=False, log=fold_log,
                   groups=None if fold_groups is None else fold_groups[fit_index])
    test_docs = [docs[i] for i in test_index]
    scores, _ = scorer.predict(test_docs)
    info = report(scores, [d.score for d in test_docs], None, scorer.calibration)
    info.update(seconds=time.perf_counter() - start,
                seconds_per_epoch=scorer.info["seconds_per_epoch"])
    fold_log(f"RMSE {info['rmse']:.3f}, r {info['pearson']:.3f}, QWK {info['qwk']:.3f}")
    parts.mkdir(parents=True, exist_ok=True)
    with atomic_write(parts / f"fold{k}.npz") as f:
        np.savez(f, index=test_index, predictions=scores,
                 calibrated=scorer.calibration(scores), info=np.array(json.dumps(info)))


if __name__ == "__main__":
    sys.exit(main())
