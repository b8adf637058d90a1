"""`dlpy lm train | evaluate | fill-mask | export`: parse arguments, call dlpy.lm."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import fields

from dlpy.cli import print_json

# help for the options generated from TrainConfig and LMConfig (the default is appended)
HELP = {
    "tokenizer": "a tokenizer.model to use; empty: OUT's, or one trained on the data",
    "steps": "optimiser steps the warm-up + cosine schedule spans",
    "batch_size": "sequences per micro-batch",
    "accumulate": "micro-batches per optimiser step (gradient accumulation)",
    "lr": "peak learning rate (AdamW)",
    "warmup_steps": "linear warm-up steps",
    "min_lr": "learning rate at the end of the cosine",
    "weight_decay": "AdamW's decoupled weight decay",
    "decay": "which parameters the weight decay shrinks: 'all', or 'matrices' (weight matrices "
             "and embeddings; not biases and LayerNorm gains)",
    "clip": "maximum gradient norm",
    "mask_prob": "share of tokens masked (80%% [MASK], 10%% random, 10%% kept)",
    "heldout_every": "every N-th document of each file is held out for evaluation",
    "eval_every": "steps between held-out evaluations",
    "eval_batches": "held-out batches per evaluation",
    "checkpoint_every": "steps between checkpoints",
    "checkpoint_minutes": "and a checkpoint at least this often",
    "shuffle_buffer": "sequences in the shuffle buffer",
    "seed": "initialisation, masking, dropout and shuffling",
    "init_from": "start from these weights instead of random ones: 'bundled' or a model or run "
                 "folder (same shape; a new schedule; pass another --seed to draw the data in "
                 "another order; with another --tokenizer the token embeddings are carried "
                 "over piece by piece)",
    "data_start": "where each file's training documents begin, as a share of them (0.3: 30%% of "
                  "the way in, wrapping round): a run going on with --init-from reads text the "
                  "earlier run did not",
    "vocab_size": "tokenizer vocabulary when one is trained",
    "split": "how a tokenizer trained here learns its pieces: 'morphemes' (Kiwi cuts nouns from "
             "particles first) or 'none' (plain SentencePiece)",
    "tokenizer_type": "the SentencePiece algorithm of a tokenizer trained here: 'bpe' (merges; "
                      "keeps word-start pieces) or 'unigram' (prunes by likelihood)",
    "d_model": "model width",
    "num_layers": "encoder layers",
    "num_heads": "attention heads",
    "dim_feedforward": "feed-forward width",
    "max_len": "tokens per sequence",
    "dropout": "dropout in the encoder",
}


CHOICES = {"split": ("morphemes", "none"), "tokenizer_type": ("bpe", "unigram"),
           "decay": ("all", "matrices")}


def _add_dataclass_options(parser, cls, skip=()) -> None:
    for f in fields(cls):
        if f.name in skip:
            continue
        default = f.default
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=type(default),
                            default=default, dest=f.name, choices=CHOICES.get(f.name),
                            help=f"{HELP.get(f.name, f.name)} (default: {default!r})")


def register(subparsers) -> None:
    from dlpy.lm.model import LMConfig
    from dlpy.lm.train import TrainConfig

    lm = subparsers.add_parser("lm", help="the Korean masked language model",
                               description="Pretrain, evaluate and query dlpy's Korean masked "
                                           "language model (docs/lm.md).")
    commands = lm.add_subparsers(dest="lm_command",
                                 metavar="{tokenizer,train,evaluate,fill-mask,export}")
    commands.required = True

    tok = commands.add_parser(
        "tokenizer", help="train a SentencePiece tokenizer on a sample of the data",
        description="Train the SentencePiece tokenizer that `lm train --tokenizer` takes, on a "
                    "random sample of the training documents of FILE (docs/lm.md).")
    tok.add_argument("--data", nargs="+", required=True, metavar="FILE",
                     help="corpus files (.txt, .txt.gz, .zip of essay JSON)")
    tok.add_argument("--out", required=True, metavar="FILE", help="the .model file to write")
    tok.add_argument("--vocab-size", type=int, default=16000,
                     help="pieces (default: 16000)")
    tok.add_argument("--sample-chars", type=int, default=12_000_000,
                     help="characters sampled, spread evenly over the files (default: 12000000)")
    tok.add_argument("--split", choices=("morphemes", "none"), default="morphemes",
                     help=HELP["split"] + " (default: 'morphemes')")
    tok.add_argument("--type", choices=("bpe", "unigram"), default="bpe", dest="tokenizer_type",
                     help=HELP["tokenizer_type"] + " (default: 'bpe')")
    tok.add_argument("--heldout-every", type=int, default=100,
                     help="every N-th document is held out and never sampled (default: 100)")
    tok.add_argument("--seed", type=int, default=0, help="the sample's draw (default: 0)")
    tok.set_defaults(func=run_tokenizer)

    train = commands.add_parser(
        "train", help="pretrain (or --resume) on text files and essay zips",
        description="Masked-LM pretraining, streamed from .txt(.gz) files (documents separated "
                    "by an empty line) and zips of AI Hub essay JSON. Writes OUT/checkpoint.npz "
                    "(every N steps, on a timer and on SIGINT/SIGTERM), OUT/tokenizer.model and "
                    "OUT/curves.png.",
    )
    train.add_argument("--data", nargs="+", required=True, metavar="FILE",
                       help="corpus files (.txt, .txt.gz, .zip of essay JSON)")
    train.add_argument("--out", required=True, metavar="DIR", help="the run's folder")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in OUT (refused if data or settings differ)")
    train.add_argument("--max-steps", type=int, default=None,
                       help="stop after this many steps in this sitting (default: none)")
    train.add_argument("--threads", type=int, default=None,
                       help="BLAS threads (default: the library's own choice)")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.add_argument("--distributed", action="store_true",
                       help="data-parallel over the ranks of `mpirun -n N` (the [distributed] "
                            "extra): global batch = N x --batch-size; only rank 0 writes "
                            "(docs/distributed.md)")
    train.add_argument("--file-weights", nargs="+", type=float, default=[], metavar="W",
                       help="each --data file's share of the training sequences, in the same "
                            "order (e.g. its characters); default: one sequence from each file "
                            "in turn")
    _add_dataclass_options(train, TrainConfig, skip=("data", "out", "file_weights"))
    _add_dataclass_options(train, LMConfig)
    train.set_defaults(func=run_train)

    evaluate = commands.add_parser(
        "evaluate", help="held-out masked-LM loss and accuracy beside a unigram baseline",
        description="Masked-token loss and accuracy of a model on the held-out documents of "
                    "FILE (every --heldout-every-th document, as training set aside), beside a "
                    "unigram baseline.")
    evaluate.add_argument("--data", nargs="+", required=True, metavar="FILE")
    evaluate.add_argument("--model", default=None, metavar="DIR",
                          help="a run's folder or an exported model (default: the bundled one)")
    evaluate.add_argument("--heldout-every", type=int, default=100,
                          help="every N-th document is held out (default: 100)")
    evaluate.add_argument("--batches", type=int, default=16,
                          help="batches of 32 sequences to evaluate (default: 16)")
    evaluate.add_argument("--json", action="store_true", help="one JSON object on stdout")
    evaluate.set_defaults(func=run_evaluate)

    fill = commands.add_parser(
        "fill-mask", help="complete the one [MASK] in each TEXT",
        description="Print the most likely tokens for the one [MASK] in each TEXT.")
    fill.add_argument("texts", nargs="+", metavar="TEXT", help="text with exactly one [MASK]")
    fill.add_argument("--model", default=None, metavar="DIR",
                      help="a run's folder or an exported model (default: the bundled one)")
    fill.add_argument("--top-k", type=int, default=5, help="candidates per text (default: 5)")
    fill.add_argument("--json", action="store_true",
                      help='one JSON line per TEXT: {"text", "candidates": [{"token", "score"}]}')
    fill.set_defaults(func=run_fill_mask)

    export = commands.add_parser(
        "export", help="write a run's weights as float16 model.npz beside its tokenizer",
        description="Export a training run as the form that ships in the package.")
    export.add_argument("run", metavar="DIR", help="the run's folder (with checkpoint.npz)")
    export.add_argument("--out", required=True, metavar="DIR", help="where to write")
    export.set_defaults(func=run_export)


def _set_threads(threads) -> None:
    if threads:
        from dlpy.data.mnist_train import set_blas_threads

        set_blas_threads(threads)


def run_tokenizer(args: argparse.Namespace) -> int:
    from dlpy.cli import UsageError
    from dlpy.lm.tokenizer import Tokenizer, train_tokenizer

    if args.vocab_size < 10 or args.sample_chars < 1:
        raise UsageError("lm tokenizer: --vocab-size must be >= 10 and --sample-chars >= 1")
    for path in args.data:
        if not os.path.exists(path):
            raise UsageError(f"lm tokenizer: {path}: no such file")
    out = train_tokenizer(args.data, args.out, vocab_size=args.vocab_size,
                          sample_chars=args.sample_chars, seed=args.seed,
                          heldout_every=args.heldout_every, split=args.split,
                          model_type=args.tokenizer_type)
    tokenizer = Tokenizer(out)
    print(f"wrote {out}: {tokenizer.vocab_size} {args.tokenizer_type} pieces, "
          f"split {tokenizer.split}",
          file=sys.stderr)
    return 0


def run_train(args: argparse.Namespace) -> int:
    from dlpy.lm.model import LMConfig
    from dlpy.lm.train import TrainConfig, train, train_distributed

    _set_threads(args.threads)
    config = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    model_config = LMConfig(**{f.name: getattr(args, f.name) for f in fields(LMConfig)})
    if not args.distributed:
        from dlpy.distributed import refuse_undistributed

        refuse_undistributed()
    run = train_distributed if args.distributed else train
    trainer = run(config, model_config, resume=args.resume, max_steps=args.max_steps,
                  show_progress=not args.no_progress)
    if trainer.rank != 0:
        return 0
    print(f"step {trainer.step}, {trainer.tokens_seen:,} tokens seen, "
          f"{trainer.wall_seconds / 3600:.2f} h of training; {config.out}/checkpoint.npz",
          file=sys.stderr)
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from dlpy.lm.data import SequenceStream
    from dlpy.lm.fill import load_pretrained
    from dlpy.lm.tokenizer import SEP
    from dlpy.lm.train import evaluate_batches, unigram_baseline

    lm = load_pretrained(args.model)
    stream = SequenceStream(args.data, lm.tokenizer.encode, lm.model.lm_config.max_len, SEP,
                            heldout_every=args.heldout_every, heldout=True, shuffle_buffer=0,
                            repeat=False)
    batches = [b for _, b in zip(range(args.batches), stream.batches(32))]
    if not batches:
        raise ValueError(f"lm evaluate: the held-out split of {args.data} is under one batch")
    result = evaluate_batches(lm.model, batches)
    counts = _unigram_counts(lm, args)
    base = unigram_baseline(counts, result["labels"])
    report = {"masked_tokens": result["masked_tokens"], "loss": round(result["loss"], 4),
              "accuracy": round(result["accuracy"], 4),
              "unigram_loss": round(base["loss"], 4),
              "unigram_accuracy": round(base["accuracy"], 4),
              "bad_utf8_lines": stream.stats.bad_lines, "documents_read": stream.stats.documents}
    if args.json:
        print_json(report)
    else:
        print(f"held-out masked tokens: {report['masked_tokens']}\n"
              f"model:   loss {report['loss']:.3f}, accuracy {report['accuracy']:.3f}\n"
              f"unigram: loss {report['unigram_loss']:.3f}, accuracy "
              f"{report['unigram_accuracy']:.3f}")
    return 0


def _unigram_counts(lm, args):
    """Token counts for the unigram baseline: the run's own (saved in its checkpoint), else
    counted on up to 2,000 training sequences of the data."""
    import numpy as np

    from dlpy.lm.data import SequenceStream
    from dlpy.lm.tokenizer import SEP

    if lm.unigram is not None:
        return lm.unigram
    stream = SequenceStream(args.data, lm.tokenizer.encode, lm.model.lm_config.max_len, SEP,
                            heldout_every=args.heldout_every, heldout=False, shuffle_buffer=0,
                            repeat=False)
    total = np.zeros(lm.tokenizer.vocab_size, dtype=np.int64)
    for _, sequence in zip(range(2000), stream):
        total += np.bincount(sequence, minlength=len(total))
    return total


def run_fill_mask(args: argparse.Namespace) -> int:
    from dlpy.cli import UsageError
    from dlpy.lm.fill import load_pretrained

    if args.top_k < 1:
        raise UsageError(f"lm fill-mask: --top-k must be >= 1, got {args.top_k}")
    for text in args.texts:  # every text checked before the model loads
        if text.count("[MASK]") != 1:
            raise UsageError(f"fill-mask: expected exactly one [MASK] in each TEXT, got "
                             f"{text.count('[MASK]')} in {text!r}")
    lm = load_pretrained(args.model)
    for text in args.texts:
        candidates = lm.fill_mask(text, args.top_k)
        if args.json:
            print_json({"text": text, "candidates": candidates})
        else:
            shown = "  ".join(f"{c['token']} {c['score']:.2f}" for c in candidates)
            print(f"{text}\n  {shown}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from dlpy.lm.fill import export

    out = export(args.run, args.out)
    print(f"wrote {out}/model.npz and {out}/tokenizer.model", file=sys.stderr)
    return 0
