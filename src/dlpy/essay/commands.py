"""`dlpy essay ...`: preprocess, train, cv, evaluate, score, prompts. Thin: parse arguments, call
dlpy.essay functions, print."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from dlpy.cli import print_json

BUNDLED_MODEL = Path(__file__).parent / "bundled" / "model.npz"


def register(subparsers) -> None:
    parser = subparsers.add_parser("essay", help="the Korean essay scorer (AI Hub essays)")
    sub = parser.add_subparsers(dest="essay_command", metavar="ESSAY_COMMAND")
    sub.required = True

    p = sub.add_parser("preprocess", help="analyse a corpus and fill the on-disk cache")
    _data_arguments(p)
    p.add_argument("--no-spacing-features", dest="spacing_features", action="store_false",
                   help="do not count spacing errors (a quarter of the analysis time); for "
                   "models trained with --no-spacing-features")
    p.set_defaults(func=cmd_preprocess)

    p = sub.add_parser("train", help="train a model on scored essays")
    _data_arguments(p)
    p.add_argument("--out", required=True, help="folder for model.npz, checkpoint.npz, "
                   "metrics.json, curves.png")
    _train_arguments(p)
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.npz")
    p.add_argument("--force", action="store_true",
                   help="overwrite the model OUT already holds")
    p.add_argument("--float16", action="store_true", help="store the weights as float16")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("cv", help="k-fold cross-validation on unseen collection batches")
    _data_arguments(p)
    _train_arguments(p)
    p.add_argument("--folds", type=int, default=5, help="number of folds")
    p.add_argument("--fold-seed", type=int, default=0,
                   help="seeds the assignment of essays to folds")
    p.add_argument("--folds-by", choices=("batch", "essay"), default="batch",
                   help="batch: every collection batch (a run of consecutive essay ids within "
                   "a prompt) and every duplicate text stays in one fold (the score of essays "
                   "from batches never seen); essay: folds by essay, stratified by prompt")
    p.add_argument("--by-batch", action="store_const", const="batch", dest="folds_by",
                   help=argparse.SUPPRESS)  # the old spelling of the default
    p.add_argument("--batch-gap", type=int, default=50, metavar="N",
                   help="an id jump of more than N starts a new batch")
    p.add_argument("--json", metavar="FILE", nargs="?", const="-",
                   help="the full result as JSON: on stdout (the report goes to stderr), or "
                   "written to FILE")
    p.add_argument("--distributed", action="store_true",
                   help="under mpirun -n N: fold i runs on rank i %% N, rank 0 gathers, prints "
                   "and writes (docs/distributed.md)")
    p.set_defaults(func=cmd_cv)

    p = sub.add_parser("evaluate", help="RMSE, Pearson r, QWK and per-prompt r of a model")
    _data_arguments(p)
    _model_argument(p)
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON line last")
    p.add_argument("--predictions", metavar="FILE.jsonl",
                   help="write one JSON line per essay: id, category, prompt, score (the "
                   "raters' mean), prediction, criteria")
    p.add_argument("--batch-gap", type=int, default=50, metavar="N",
                   help="an id jump of more than N starts a new collection batch")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("score", help="score essays (text files in UTF-8, UTF-16 with a BOM or "
                       "CP949/EUC-KR; - for stdin)")
    _model_argument(p)
    p.add_argument("files", nargs="+", metavar="FILE")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--prompt", help="the prompt's title, as `dlpy essay prompts` lists it")
    group.add_argument("--prompt-id", type=int, help="the prompt's number in `dlpy essay prompts`")
    p.add_argument("--json", action="store_true", help="one JSON object per essay")
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("prompts", help="the prompts the model was trained on, by category "
                       "(or those of --data, with essay counts)")
    _model_argument(p)
    p.add_argument("--data", nargs="+", help="list the prompts of these essays instead")
    p.add_argument("--category", action="append", dest="categories",
                   help="with --data: only this category (repeatable)")
    p.add_argument("--skip-bad", action="store_true", help="with --data: skip malformed files")
    p.set_defaults(func=cmd_prompts)

    from dlpy.text.commands import add_oov_arguments

    p = sub.add_parser("oov", help="how the essays' tokens resolve in a vector file")
    p.add_argument("file", help=".vec or .bin")
    p.add_argument("--data", required=True, nargs="+", help="essays: folders, .zip or files")
    add_oov_arguments(p)
    p.set_defaults(func=cmd_oov)

    from dlpy.essay import serve_cli  # serve, explain

    serve_cli.register(sub)


def _data_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, nargs="+",
                   help="AI Hub essay JSON: folders, files or .zip (or the preprocessed format)")
    p.add_argument("--analyzer", default="kiwi", choices=("kiwi", "kkma"))
    p.add_argument("--category", action="append", dest="categories",
                   help="keep only this category (repeatable), e.g. 글짓기")
    p.add_argument("--skip-bad", action="store_true", help="skip malformed files, report them")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="processes that analyse the essays not yet in the cache (default: one "
                   "per core)")
    p.add_argument("--no-progress", action="store_true", dest="quiet", help="no progress bars")
    p.add_argument("--quiet", action="store_true", help=argparse.SUPPRESS)  # the old spelling


def _train_arguments(p: argparse.ArgumentParser) -> None:
    from dlpy.essay.config import add_config_arguments

    add_config_arguments(p)
    p.add_argument("--arch", dest="family", choices=("essaynet", "seed"),
                   help=argparse.SUPPRESS)  # the old name of --family
    p.add_argument("--vectors", help="a .vec file (e.g. the Kiwi vectors of "
                   "`dlpy text export-kiwi-vectors`) to initialise the morpheme embeddings")
    p.add_argument("--vectors-limit", type=int, default=None)


def _model_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="a model folder or .npz (default: the bundled model)")


def _config(args):
    from dlpy.essay.config import config_from_args

    return config_from_args(args)


def _docs(args, count_spaces: bool | None = None):
    from dlpy.essay.data import read_essays
    from dlpy.essay.features import docs_from_records

    records = read_essays(args.data if len(args.data) > 1 else args.data[0],
                          categories=args.categories, skip_bad=args.skip_bad)
    if not records:
        raise ValueError(f"no essays found in {' '.join(args.data)}")
    if not args.quiet:
        print(records.summary(), file=sys.stderr)  # per category, duplicates, skipped
    if count_spaces is None:  # train and cv: what the model to be trained needs
        count_spaces = _config(args).spacing_features if hasattr(args, "family") else True
    docs = docs_from_records(records, args.analyzer, show_progress=not args.quiet,
                             workers=getattr(args, "workers", None), skip_bad=args.skip_bad,
                             count_spaces=count_spaces)
    # training needs the morphemes only for the deep part; the rest is dropped (memory)
    keep = _config(args).d_model > 0 if hasattr(args, "family") else True
    for doc in docs:
        doc.release(keep_morphemes=keep)
    return docs


def _vectors(args):
    if not getattr(args, "vectors", None):
        return None
    from dlpy.text import load_vectors

    return load_vectors(args.vectors, limit=args.vectors_limit)


def _load(args):
    from dlpy.essay.scorer import load_scorer

    return load_scorer(args.model if args.model else BUNDLED_MODEL)


def cmd_preprocess(args) -> int:
    from dlpy.essay.data import preprocess

    print(preprocess(args.data if len(args.data) > 1 else args.data[0], args.analyzer,
                     categories=args.categories, skip_bad=args.skip_bad, workers=args.workers,
                     show_progress=not args.quiet, count_spaces=args.spacing_features))
    return 0


def cmd_train(args) -> int:
    import numpy as np

    from dlpy.essay.train import train

    model_file = Path(args.out) / "model.npz"
    if model_file.exists() and not (args.force or args.resume):
        raise ValueError(f"{model_file} already exists: --force overwrites it, --resume "
                         "continues its training, or choose another --out")
    docs = _docs(args)
    config = _config(args)
    start = time.perf_counter()
    # the validation split (early stopping, calibration) holds out whole collection batches and
    # duplicate texts, as the CV folds do
    from dlpy.essay.cv import duplicate_groups, merge_groups

    batches = _batches(docs, 50)
    groups = None if batches is None else merge_groups(batches, duplicate_groups(docs))
    scorer = train(docs, config, args.out, vectors=_vectors(args), resume=args.resume,
                   groups=groups,
                   show_progress=not args.quiet,
                   save_dtype=np.float16 if args.float16 else np.float32)
    metrics = scorer.info["validation_metrics"]
    print(f"trained {config.family} on {len(docs)} essays in {time.perf_counter() - start:.1f} s "
          f"({scorer.info['seconds_per_epoch']:.1f} s per epoch), best epoch "
          f"{scorer.info['best_epoch']}; validation: RMSE {metrics['rmse']:.3f}, "
          f"r {metrics['pearson']:.3f}, QWK {metrics['qwk']:.3f}")
    print(f"wrote {Path(args.out) / 'model.npz'}")
    return 0


def _batches(docs, gap: int):
    from dlpy.essay.cv import collection_batches

    try:
        return collection_batches([d.id for d in docs], [d.prompt for d in docs], gap)
    except ValueError:
        return None  # ids without numbers: no batches to report on


def cmd_cv(args) -> int:
    if args.distributed:
        return _cv_distributed(args)
    from dlpy.distributed import refuse_undistributed

    refuse_undistributed()  # N copies under mpirun would each run every fold
    return _cv(args, _docs(args))


def _cv_distributed(args) -> int:
    """`dlpy essay cv --distributed`: the folds spread over the ranks (distributed.map_gather);
    rank 0 reads the essays first (it fills the analysis cache the others then read), and only
    rank 0 prints and writes."""
    from dlpy import distributed

    distributed.init(required=True)
    if not distributed.is_main():
        args.quiet = True  # no summary, progress bars or fold logs from the other ranks
    with distributed.main_first():
        docs = _docs(args)

    def map_fn(run_fold, folds):
        with distributed.abort_on_error():  # a fold failing on one rank ends every rank
            return distributed.map_gather(run_fold, folds)

    return _cv(args, docs, map_fn=map_fn,
               log=print if distributed.is_main() else lambda line: None)


def _cv(args, docs, map_fn=map, log=print) -> int:
    from dlpy.essay.cv import cross_validate, duplicate_groups, format_report, merge_groups
    from dlpy.io import atomic_write_bytes

    config = _config(args)
    batches = _batches(docs, args.batch_gap)
    groups = None
    if args.folds_by == "batch":
        if batches is None:
            raise ValueError("--folds-by batch needs numbered essay ids (AI Hub's ESSAY_123); "
                             "use --folds-by essay")
        groups = merge_groups(batches, duplicate_groups(docs))
    result = cross_validate(docs, config, args.folds, vectors=_vectors(args), seed=args.fold_seed,
                            show_progress=not args.quiet, groups=groups, batches=batches,
                            map_fn=map_fn, log=log)
    if result is None:  # a rank other than 0 of a distributed run: rank 0 reports
        return 0
    result["folds_by"] = (f"collection batch (gap {args.batch_gap}) and duplicate text"
                          if groups is not None else "essay")
    print(f"{args.folds}-fold CV ({config.family}, {len(docs)} essays, folds by "
          f"{result['folds_by']}): RMSE {result['rmse']:.3f}, r {result['pearson']:.3f}, QWK "
          f"{result['qwk']:.3f} (calibrated), {result['seconds_per_epoch']:.1f} s per epoch, "
          f"{result['seconds']:.0f} s in all")
    print("\n".join(format_report(result)))
    if args.json == "-":
        print_json(result)
    elif args.json:
        atomic_write_bytes(args.json, json.dumps(result, indent=1, ensure_ascii=False)
                           .encode("utf-8"))
    return 0


def cmd_evaluate(args) -> int:
    import numpy as np

    from dlpy.essay.cv import format_report, full_report
    from dlpy.essay.scorer import text_sha256
    from dlpy.io import atomic_write_bytes

    scorer = _load(args)
    docs = _docs(args, count_spaces=scorer.config.spacing_features)
    if any(d.score is None for d in docs):
        raise ValueError("evaluate: every essay needs a score")
    scores, criteria = scorer.predict(docs)
    bad = ~np.isfinite(scores)
    if bad.any():
        raise ValueError(f"evaluate: the model gave no finite score for {int(bad.sum())} "
                         f"essay(s), e.g. {docs[int(np.argmax(bad))].id}")
    trained = set(scorer.info.get("training_sha256", []))
    overlap = sum(text_sha256(d.text) in trained for d in docs)
    if overlap:
        print(f"warning: {overlap} of {len(docs)} essays were in the model's training data; "
              "their figures are not a test", file=sys.stderr)
    metrics = full_report(scores, docs, _batches(docs, args.batch_gap),
                          scorer.calibration(scores))
    metrics["qwk_rounded"] = metrics.get("qwk_rounded")
    metrics["training_overlap"] = overlap
    print(f"{metrics['n']} essays: RMSE {metrics['rmse']:.3f}, r {metrics['pearson']:.3f}, "
          f"QWK {metrics['qwk']:.3f} (calibrated; {metrics['qwk_rounded']:.3f} rounded)")
    print("\n".join(format_report(metrics)))
    if args.predictions:
        lines = []
        for i, d in enumerate(docs):
            row = {"id": d.id, "category": d.category or None, "prompt": d.prompt,
                   "score": round(float(d.score), 4),
                   "prediction": round(float(scores[i]), 4),
                   "criteria": None if criteria is None else
                   {name: round(float(v) * 3, 4) for name, v in
                    zip(("organisation", "content", "expression"), criteria[i])}}
            lines.append(json.dumps(row, ensure_ascii=False))
        atomic_write_bytes(args.predictions, ("\n".join(lines) + "\n").encode("utf-8"))
        print(f"wrote {len(lines)} predictions to {args.predictions}")
    if args.json:
        print_json(metrics)
    return 0


def _read_text(name: str) -> str:
    from dlpy.essay.serve_cli import read_essay_file

    return read_essay_file(name)


def _prompt(scorer, args) -> str:
    prompts = scorer.prompts
    if args.prompt_id is not None:
        if not 0 <= args.prompt_id < len(prompts):
            raise ValueError(f"--prompt-id must lie in [0, {len(prompts) - 1}], got "
                             f"{args.prompt_id} (see `dlpy essay prompts`)")
        return prompts[args.prompt_id]
    if args.prompt is not None:
        if args.prompt not in prompts:
            print(f"note: prompt {args.prompt!r} is not one the model was trained on; "
                  "scoring with the shared weights only", file=sys.stderr)
        return args.prompt
    return ""


def cmd_score(args) -> int:
    from dlpy.essay.serve_cli import score_files

    return score_files(args, _prompt, format_result)


def score_doc(scorer, doc) -> dict:
    """The score of one Doc as a dict: score (0-30, None when the model gave no finite number),
    integer (calibrated), criteria (0-3), warnings."""
    start = time.perf_counter()
    result = scorer.score(doc).to_dict()
    result["milliseconds"] = round((time.perf_counter() - start) * 1000, 1)
    return result


def format_result(name: str, result: dict) -> str:
    if result["score"] is None:
        return f"{name}: no score ({'; '.join(result['warnings'])})"
    lines = [f"{name}: {result['score']:.1f} / 30 (calibrated integer {result['integer']})"]
    for criterion, value in (result.get("criteria") or {}).items():
        lines.append(f"  {criterion:<13s}{value:.2f} / 3")
    lines += [f"  note: {w}" for w in result.get("warnings", [])]
    return "\n".join(lines)


def cmd_prompts(args) -> int:
    if args.data:  # the prompts of a corpus, with their essay counts
        from dlpy.essay.data import prompt_table, read_essays

        records = read_essays(args.data if len(args.data) > 1 else args.data[0],
                              categories=args.categories, skip_bad=args.skip_bad)
        print(prompt_table(records))
        return 0
    scorer = _load(args)
    number = {p: i for i, p in enumerate(scorer.prompts)}
    for category, prompts in scorer.prompts_by_category().items():
        print(f"{category or '(no category)'}:")
        for prompt in prompts:
            print(f"  {number[prompt]}: {prompt}")
    return 0


def cmd_oov(args) -> int:
    from dlpy.essay.data import analyze_essays, read_essays
    from dlpy.text.commands import print_oov

    records = read_essays(args.data if len(args.data) > 1 else args.data[0], skip_bad=True)
    analysed = analyze_essays(records, args.analyzer, cache_dir=args.cache_dir, skip_bad=True,
                              show_progress=not args.no_progress)
    return print_oov(args, [a.sentences for a in analysed], f"{len(analysed)} essays")
