"""`dlpy essay ...`: preprocess, train, cv, evaluate, score, prompts. Thin: parse arguments, call
dlpy.essay functions, print."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

BUNDLED_MODEL = Path(__file__).parent / "bundled" / "model.npz"
SEED_LR = 0.05  # SGD on sigmoid(mean): 0.5 saturated the sigmoid at 30 points in one epoch


def register(subparsers) -> None:
    parser = subparsers.add_parser("essay", help="the Korean essay scorer (AI Hub essays)")
    sub = parser.add_subparsers(dest="essay_command", metavar="ESSAY_COMMAND")
    sub.required = True

    p = sub.add_parser("preprocess", help="analyse a corpus and fill the on-disk cache")
    _data_arguments(p)
    p.set_defaults(func=cmd_preprocess)

    p = sub.add_parser("train", help="train a model on scored essays")
    _data_arguments(p)
    p.add_argument("--out", required=True, help="folder for model.npz, checkpoint.npz, "
                   "metrics.json, curves.png")
    _train_arguments(p)
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.npz")
    p.add_argument("--float16", action="store_true", help="store the weights as float16")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("cv", help="k-fold cross-validation, folds stratified by prompt")
    _data_arguments(p)
    _train_arguments(p)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--fold-seed", type=int, default=0,
                   help="seeds the assignment of essays to folds (default 0)")
    p.add_argument("--by-batch", action="store_true",
                   help="keep each collection batch (a run of consecutive essay ids within a "
                   "prompt) in one fold: the score of essays from batches never seen")
    p.add_argument("--batch-gap", type=int, default=50, metavar="N",
                   help="an id jump of more than N starts a new batch (default 50)")
    p.add_argument("--json", metavar="FILE", help="also write the full result to FILE")
    p.set_defaults(func=cmd_cv)

    p = sub.add_parser("evaluate", help="RMSE, Pearson r, QWK and per-prompt r of a model")
    _data_arguments(p)
    _model_argument(p)
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON line last")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("score", help="score essays (UTF-8 text files, or - for stdin)")
    _model_argument(p)
    p.add_argument("files", nargs="+", metavar="FILE")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--prompt", help="the prompt's title, as `dlpy essay prompts` lists it")
    group.add_argument("--prompt-id", type=int, help="the prompt's number in `dlpy essay prompts`")
    p.add_argument("--json", action="store_true", help="one JSON object per essay")
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("prompts", help="the prompts the model was trained on")
    _model_argument(p)
    p.set_defaults(func=cmd_prompts)

    from dlpy.essay import serve_cli  # serve, explain

    serve_cli.register(sub)


def _data_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, nargs="+",
                   help="AI Hub essay JSON: folders, files or .zip (or the preprocessed format)")
    p.add_argument("--analyzer", default="kiwi", choices=("kiwi", "kkma"))
    p.add_argument("--category", action="append", dest="categories",
                   help="keep only this category (repeatable), e.g. 글짓기")
    p.add_argument("--skip-bad", action="store_true", help="skip malformed files, report them")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _train_arguments(p: argparse.ArgumentParser) -> None:
    from dlpy.essay.train import TrainConfig

    defaults = TrainConfig()
    p.add_argument("--arch", choices=("essaynet", "seed"), default=defaults.arch)
    p.add_argument("--vectors", help="a .vec file (e.g. the Kiwi vectors of "
                   "`dlpy text export-kiwi-vectors`) to initialise the morpheme embeddings")
    p.add_argument("--vectors-limit", type=int, default=None)
    for name in ("epochs", "batch_size", "patience", "seed", "max_len", "d_model", "num_layers",
                 "num_heads", "hidden", "max_char_ngrams", "max_morpheme_ngrams",
                 "embedding_dim", "dim_feedforward"):
        p.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(defaults, name))
    p.add_argument("--lr", type=float, default=None,
                   help=f"learning rate (default {defaults.lr}; {SEED_LR} for --arch seed, the "
                   "base of lr = base / 10^(epoch // 2))")
    for name in ("weight_decay", "l2_wide", "clip", "val_fraction", "criteria_weight",
                 "dropout", "wide_gain"):
        p.add_argument("--" + name.replace("_", "-"), type=float, default=getattr(defaults, name))
    p.add_argument("--train-embeddings", action="store_true")


def _model_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="a model folder or .npz (default: the bundled model)")


def _config(args):
    from dlpy.essay.train import TrainConfig

    values = {k: v for k, v in vars(args).items() if v is not None}
    if args.lr is None and args.arch == "seed":
        values["lr"] = SEED_LR
    return TrainConfig.from_dict(values)


def _docs(args):
    from dlpy.essay.data import read_essays
    from dlpy.essay.features import docs_from_records

    records = read_essays(args.data if len(args.data) > 1 else args.data[0],
                          categories=args.categories, skip_bad=args.skip_bad)
    if not records:
        raise ValueError(f"no essays found in {' '.join(args.data)}")
    return docs_from_records(records, args.analyzer, show_progress=not args.quiet)


def _vectors(args):
    if not getattr(args, "vectors", None):
        return None
    from dlpy.text import load_vectors

    return load_vectors(args.vectors, limit=args.vectors_limit)


def _load(args):
    from dlpy.essay.train import load_scorer

    return load_scorer(args.model if args.model else BUNDLED_MODEL)


def cmd_preprocess(args) -> int:
    from dlpy.essay.data import preprocess

    print(preprocess(args.data if len(args.data) > 1 else args.data[0], args.analyzer,
                     categories=args.categories, skip_bad=args.skip_bad,
                     show_progress=not args.quiet))
    _docs(args)  # also fills the spacing cache
    return 0


def cmd_train(args) -> int:
    import numpy as np

    from dlpy.essay.train import train

    docs = _docs(args)
    config = _config(args)
    start = time.perf_counter()
    scorer = train(docs, config, args.out, vectors=_vectors(args), resume=args.resume,
                   show_progress=not args.quiet,
                   save_dtype=np.float16 if args.float16 else np.float32)
    metrics = scorer.info["validation_metrics"]
    print(f"trained {config.arch} on {len(docs)} essays in {time.perf_counter() - start:.1f} s "
          f"({scorer.info['seconds_per_epoch']:.1f} s per epoch), best epoch "
          f"{scorer.info['best_epoch']}; validation: RMSE {metrics['rmse']:.3f}, "
          f"r {metrics['pearson']:.3f}, QWK {metrics['qwk']:.3f}")
    print(f"wrote {Path(args.out) / 'model.npz'}")
    return 0


def cmd_cv(args) -> int:
    from dlpy.essay.metrics import within_group_pearson
    from dlpy.essay.train import collection_batches, cross_validate
    from dlpy.io import atomic_write_bytes

    docs = _docs(args)
    config = _config(args)
    prompts = [d.prompt for d in docs]
    try:
        batches = collection_batches([d.id for d in docs], prompts, args.batch_gap)
    except ValueError:
        if args.by_batch:
            raise
        batches = None  # ids without numbers: no batches to report on
    result = cross_validate(docs, config, args.folds, vectors=_vectors(args), seed=args.fold_seed,
                            show_progress=not args.quiet,
                            groups=batches if args.by_batch else None)
    result["folds_by"] = f"collection batch (gap {args.batch_gap})" if args.by_batch else "essay"
    if batches is not None:
        result["batches"] = int(len(set(batches.tolist())))
        result["within_batch_pearson"] = within_group_pearson(
            result["predictions"], [d.score for d in docs], batches)
    kept = f", batches kept whole ({result['batches']})" if args.by_batch else ""
    print(f"{args.folds}-fold CV ({config.arch}, {len(docs)} essays{kept}): RMSE "
          f"{result['rmse']:.3f}, r {result['pearson']:.3f}, QWK {result['qwk']:.3f} "
          f"(calibrated), {result['seconds_per_epoch']:.1f} s per epoch, "
          f"{result['seconds']:.0f} s in all")
    if batches is not None:
        print(f"  within collection batches: r {result['within_batch_pearson']:.3f}")
    for name, r in result["per_prompt"].items():
        print(f"  {name}: r {r:.3f}")
    if args.json:
        atomic_write_bytes(args.json, json.dumps(result, indent=1, ensure_ascii=False)
                           .encode("utf-8"))
    return 0


def cmd_evaluate(args) -> int:
    from dlpy.essay.train import evaluate

    scorer = _load(args)
    docs = _docs(args)
    metrics = evaluate(scorer, docs)
    print(f"{metrics['n']} essays: RMSE {metrics['rmse']:.3f}, r {metrics['pearson']:.3f}, "
          f"QWK {metrics['qwk']:.3f} (calibrated; {metrics['qwk_rounded']:.3f} rounded)")
    for name, r in metrics["per_prompt"].items():
        print(f"  {name}: r {r:.3f}")
    if args.json:
        print(json.dumps(metrics, ensure_ascii=False))
    return 0


def _read_text(name: str) -> str:
    data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(f"{'stdin' if name == '-' else name}: not UTF-8 text "
                         f"(byte {err.start}); save the essay as UTF-8") from None


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
    from dlpy.essay.features import doc_from_text
    from dlpy.text import get_analyzer

    scorer = _load(args)
    prompt = _prompt(scorer, args)
    analyzer = get_analyzer("kiwi")
    for name in args.files:
        text = _read_text(name)
        try:
            doc = doc_from_text(text, prompt, scorer.featurizer.prompt_texts.get(prompt, ""),
                                analyzer=analyzer)
        except ValueError as err:
            raise ValueError(f"{'stdin' if name == '-' else name}: {err}") from None
        result = score_doc(scorer, doc)
        if args.json:
            print(json.dumps({"file": name, **result}, ensure_ascii=False))
        else:
            print(format_result(name, result))
    return 0


def score_doc(scorer, doc) -> dict:
    """The score of one Doc as a dict: score (0-30), integer (calibrated), criteria (0-3)."""
    start = time.perf_counter()
    scores, criteria = scorer.predict([doc])
    result = {"score": round(float(scores[0]), 2),
              "integer": int(scorer.calibration(scores)[0]), "prompt": doc.prompt or None}
    if criteria is not None:
        result["criteria"] = {name: round(float(v) * 3, 2) for name, v in
                              zip(("organisation", "content", "expression"), criteria[0])}
    result["milliseconds"] = round((time.perf_counter() - start) * 1000, 1)
    return result


def format_result(name: str, result: dict) -> str:
    lines = [f"{name}: {result['score']:.1f} / 30 (calibrated integer {result['integer']})"]
    for criterion, value in (result.get("criteria") or {}).items():
        lines.append(f"  {criterion:<13s}{value:.2f} / 3")
    return "\n".join(lines)


def cmd_prompts(args) -> int:
    scorer = _load(args)
    for i, prompt in enumerate(scorer.prompts):
        print(f"{i}: {prompt}")
    return 0
