"""`dlpy mnist train` and `dlpy mnist evaluate`: parse arguments, call dlpy.data.mnist_train.
The defaults in --help come from dlpy.cli's parser, as for every command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers) -> None:
    mnist = subparsers.add_parser("mnist", help="train and evaluate MNIST models",
                                  description="Train and evaluate MNIST models (MLP or CNN).")
    commands = mnist.add_subparsers(dest="mnist_command", metavar="{train,evaluate}")
    commands.required = True

    train = commands.add_parser(
        "train", help="train a model; writes checkpoint.npz, metrics.json, curves.png",
        description="Train on 50,000 training images (the seed's split), validate on the other "
                    "10,000 every epoch, report test accuracy on the 10,000 test images. "
                    "checkpoint.npz is written after every epoch; --resume continues from it.")
    _data_dir_argument(train)
    train.add_argument("--model", choices=["mlp", "cnn"], default="mlp",
                       help="mlp: 784-128-10; cnn: two 5x5 conv + pooling + linear")
    train.add_argument("--epochs", type=int, default=5, help="epochs to train")
    train.add_argument("--batch-size", type=int, default=50, help="images per step")
    train.add_argument("--lr", type=float, default=None,
                       help="learning rate (default: 0.2 for SGD with the MLP, 0.05 for SGD "
                            "with the CNN, 0.001 for Adam)")
    train.add_argument("--optimizer", choices=["sgd", "adam"], default=None,
                       help="default: sgd for the MLP, adam for the CNN")
    train.add_argument("--schedule", choices=["constant", "step", "cosine"], default="cosine",
                       help="per-epoch learning rate: cosine to 0 (default), step "
                            "(lr / 10 ** (epoch // 2), the report's), or constant")
    train.add_argument("--out", type=Path, default=None,
                       help="output folder (default: ./mnist-MODEL)")
    train.add_argument("--seed", type=int, default=0, help="split, initialisation and shuffling")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in --out from its checkpoint.npz (after the last "
                            "finished epoch); refused if any setting or the data differ")
    _threads_argument(train)
    train.add_argument("--no-plot", action="store_true", help="do not write curves.png")
    train.add_argument("--no-progress", action="store_true", help="no progress bars")
    train.add_argument("--distributed", action="store_true",
                       help="data-parallel over the ranks of `mpirun -n N` (needs the "
                            "[distributed] extra): global batch = N x --batch-size; only rank "
                            "0 writes (docs/distributed.md)")
    train.set_defaults(func=run_train)

    evaluate = commands.add_parser("evaluate", help="test accuracy of a trained model",
                                   description="Evaluate a trained model on the test images.")
    evaluate.add_argument("--model", type=Path, required=True, metavar="DIR",
                          help="the folder written by `dlpy mnist train` (or its checkpoint.npz)")
    _data_dir_argument(evaluate)
    _threads_argument(evaluate)
    evaluate.set_defaults(func=run_evaluate)


def _threads_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS threads (default: 1; batch-50 products are small, and more "
                             "threads are much slower on cores shared with other jobs; try 2+ "
                             "for the CNN on an idle machine)")


def _data_dir_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="folder with the four MNIST files (.gz or raw); missing files are "
                             "downloaded into the default folder, but into a --data-dir that "
                             "does not exist yet only with --download (default: $DLPY_DATA/mnist"
                             " or ~/.cache/dlpy/mnist)")
    downloads = parser.add_mutually_exclusive_group()
    downloads.add_argument("--download", action="store_true",
                           help="create --data-dir if needed and download missing files into it")
    downloads.add_argument("--no-download", action="store_true",
                           help="fail instead of downloading missing files")


def _load(args: argparse.Namespace) -> dict:
    """The MNIST arrays for a command: a --data-dir that does not exist (a typo?) is an error
    unless --download asks to create it; downloads say where they go."""
    from dlpy.data.mnist import default_data_dir, load_mnist, missing_files

    folder = args.data_dir if args.data_dir is not None else default_data_dir()
    download = not args.no_download
    if download and args.data_dir is not None and not folder.is_dir() and not args.download:
        raise FileNotFoundError(f"--data-dir {folder} does not exist; check the path, or pass "
                                "--download to create it and download MNIST into it")
    if download and missing_files(folder):
        print(f"downloading MNIST into {folder}", file=sys.stderr)
    return load_mnist(folder, download=download)


def run_train(args: argparse.Namespace) -> int:
    from dlpy.data.mnist_train import CURVES, plot_curves, set_blas_threads, train

    set_blas_threads(args.threads)
    if args.distributed:
        from dlpy import distributed

        distributed.init(required=True)
        with distributed.main_first():  # rank 0 downloads, the others then read
            arrays = _load(args)
    else:
        from dlpy.distributed import refuse_undistributed

        refuse_undistributed()
        arrays = _load(args)
    out = args.out if args.out is not None else Path(f"mnist-{args.model}")
    metrics = train(arrays, out, model=args.model, epochs=args.epochs,
                    batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer,
                    schedule=args.schedule, seed=args.seed, progress=not args.no_progress,
                    distributed=args.distributed, resume=args.resume)
    if args.distributed and not distributed.is_main():
        return 0
    written = ["checkpoint.npz", "metrics.json"]
    if not args.no_plot:
        try:
            plot_curves(metrics, out / CURVES)
            written.append(CURVES)
        except RuntimeError as err:
            print(f"note: {CURVES} skipped: {err}", file=sys.stderr)
    print(f"wrote {', '.join(written)} to {out}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    import numpy as np

    from dlpy.data.mnist_train import evaluate, load_trained, set_blas_threads

    set_blas_threads(args.threads)
    model, meta = load_trained(args.model)
    arrays = _load(args)
    images, labels = arrays["test_images"], arrays["test_labels"].astype(np.int64)
    loss, accuracy = evaluate(model, images, labels)
    trained = meta.get("train", {})
    print(f"model: {meta['config'].get('model')} ({model.num_parameters():,} parameters), "
          f"trained {meta.get('epoch', '?')} epochs with {trained.get('optimizer', '?')}")
    print(f"test images: {len(labels):,}")
    print(f"test loss: {loss:.4f}")
    print(f"test accuracy: {accuracy:.2%}")
    return 0
