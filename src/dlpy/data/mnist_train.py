"""Training and evaluating the MNIST models: the library side of ``dlpy mnist``.

The MLP is the report's 784-128-10 network; the CNN is two 5x5 convolutions with 2x2 max
pooling and a linear classifier. Images stay uint8 until each batch is converted, which keeps
the training set at 39 MB instead of 157 MB of float32.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from dlpy import functional as F
from dlpy import nn, optim
from dlpy.data.loader import DataLoader
from dlpy.io import atomic_write_bytes
from dlpy.plot import Panel
from dlpy.plot import plot_curves as draw_curves
from dlpy.progress import progress as progress_bar
from dlpy.tensor import Tensor, no_grad

CHECKPOINT = "checkpoint.npz"
METRICS = "metrics.json"
CURVES = "curves.png"


class MLP(nn.Module):
    """784 -> hidden -> ReLU -> 10 on flattened images (N, 784)."""

    def __init__(self, hidden: int = 128, rng: np.random.Generator | None = None):
        super().__init__()
        self.config = {"model": "mlp", "hidden": hidden}
        self.net = nn.Sequential(nn.Linear(784, hidden, rng=rng), nn.ReLU(),
                                 nn.Linear(hidden, 10, rng=rng))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class CNN(nn.Module):
    """(N, 1, 28, 28) -> conv 5x5 -> ReLU -> pool 2 -> conv 5x5 -> ReLU -> pool 2 -> linear."""

    def __init__(self, channels: tuple[int, int] = (16, 32),
                 rng: np.random.Generator | None = None):
        super().__init__()
        c1, c2 = channels
        self.config = {"model": "cnn", "channels": [c1, c2]}
        self.net = nn.Sequential(
            nn.Conv2d(1, c1, 5, padding=2, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 5, padding=2, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(c2 * 7 * 7, 10, rng=rng),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def set_blas_threads(count: int) -> bool:
    """Set the thread count of the OpenBLAS that numpy uses, at run time (the way threadpoolctl
    does it); returns False when no OpenBLAS is found (then OPENBLAS_NUM_THREADS=N before the
    start is the way). MNIST's batch-50 products are small: extra threads gain little and,
    on cores shared with other jobs, make every product wait for a descheduled thread."""
    import ctypes
    import glob

    if count < 1:
        raise ValueError(f"set_blas_threads: count must be >= 1, got {count}")
    paths: list[str] = []
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            paths = sorted({line.split()[-1] for line in maps if "openblas" in line.lower()})
    except OSError:  # not Linux: look beside numpy
        paths = glob.glob(os.path.join(os.path.dirname(np.__file__) + ".libs", "*openblas*"))
    names = ("openblas_set_num_threads", "openblas_set_num_threads64_",
             "scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads_64_")
    found = False
    for path in paths:
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for name in names:
            function = getattr(library, name, None)
            if function is not None:
                function(ctypes.c_int(count))
                found = True
                break
    return found


def build_model(config: dict[str, Any], rng: np.random.Generator | None = None) -> nn.Module:
    """The model a config describes ({"model": "mlp", "hidden": 128} or {"model": "cnn", ...})."""
    kind = config.get("model")
    if kind == "mlp":
        return MLP(int(config.get("hidden", 128)), rng=rng)
    if kind == "cnn":
        return CNN(tuple(config.get("channels", (16, 32))), rng=rng)
    raise ValueError(f"build_model: unknown model {kind!r}, expected 'mlp' or 'cnn'")


MEAN, STD = 0.1307, 0.3081  # of the MNIST training pixels in [0, 1]


def to_input(images: np.ndarray, kind: str) -> np.ndarray:
    """uint8 images (N, 28, 28) -> float32 standardised, (x / 255 - MEAN) / STD, shaped (N, 784)
    for the MLP or (N, 1, 28, 28) for the CNN."""
    x = images.astype(np.float32)
    x *= 1.0 / (255.0 * STD)
    x -= MEAN / STD
    return x.reshape(len(x), -1) if kind == "mlp" else x.reshape(len(x), 1, 28, 28)


def split(arrays: dict[str, np.ndarray], seed: int, validation: int | None = None
          ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The seed's split of the training images into train and validation (default: a sixth,
    at most 10,000: MNIST's 60,000 become 50,000 + 10,000); the test set as is."""
    n = len(arrays["train_images"])
    if validation is None:
        validation = min(10_000, n // 6)
    if not 0 < validation < n:
        raise ValueError(f"split: validation size must be in (0, {n}), got {validation}")
    order = np.random.default_rng(seed).permutation(n)
    train, val = order[validation:], order[:validation]
    labels = arrays["train_labels"].astype(np.int64)
    return {
        "train": (arrays["train_images"][train], labels[train]),
        "validation": (arrays["train_images"][val], labels[val]),
        "test": (arrays["test_images"], arrays["test_labels"].astype(np.int64)),
    }


def evaluate(model: nn.Module, images: np.ndarray, labels: np.ndarray,
             batch_size: int = 1000) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of the model on uint8 images, in eval mode."""
    kind = model.config["model"]
    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0
    with no_grad():
        for xb, yb in DataLoader((images, labels), batch_size):
            logits = model(to_input(xb, kind))
            total_loss += float(F.cross_entropy(logits, yb, reduction="sum").item())
            correct += int((logits.data.argmax(axis=1) == yb).sum())
    model.train(was_training)
    return total_loss / len(labels), correct / len(labels)


def make_optimizer(name: str, params: list, lr: float) -> optim.Optimizer:
    if name == "sgd":
        return optim.SGD(params, lr)
    if name == "adam":
        return optim.Adam(params, lr)
    raise ValueError(f"make_optimizer: unknown optimizer {name!r}, expected 'sgd' or 'adam'")


def make_schedule(name: str, lr: float, epochs: int) -> optim.Schedule:
    """Per-epoch schedules: constant, the report's step decay (lr / 10 ** (epoch // 2)), or
    cosine from lr to 0 over the epochs."""
    if name == "constant":
        return optim.Constant(lr)
    if name == "step":
        return optim.StepDecay(lr, step_size=2, factor=10.0)
    if name == "cosine":
        return optim.Cosine(lr, total_steps=max(epochs, 1))
    raise ValueError(f"make_schedule: unknown schedule {name!r}, expected constant, step, cosine")


# the defaults that reach the targets in 5 (MLP) or 3 (CNN) epochs with the cosine schedule
DEFAULT_LR = {("mlp", "sgd"): 0.2, ("cnn", "sgd"): 0.05, ("mlp", "adam"): 1e-3,
              ("cnn", "adam"): 1e-3}


def train(arrays: dict[str, np.ndarray], out: str | os.PathLike, model: str = "mlp",
          epochs: int = 5, batch_size: int = 50, lr: float | None = None,
          optimizer: str | None = None, schedule: str = "cosine", seed: int = 0,
          progress: bool = True, log: Callable[[str], None] = print,
          distributed: bool = False, resume: bool = False) -> dict[str, Any]:
    """Train on the seed's 50,000/10,000 split, validate every epoch, test at the end.

    Writes ``out/checkpoint.npz`` (model + optimiser + config, atomically, every epoch) and
    ``out/metrics.json``; returns the metrics. Defaults: SGD for the MLP, Adam for the CNN, the
    learning rates of DEFAULT_LR, decayed per epoch by ``schedule``.

    ``distributed``: under ``mpirun -n N``, each rank trains on its shard of every global batch
    of N x ``batch_size`` (dlpy.distributed), evaluation is split over the ranks, and only rank 0
    logs, shows progress and writes. With one process it is the ordinary run.

    ``resume``: continue from ``out/checkpoint.npz`` after its last finished epoch (model,
    optimiser, shuffling and the metrics so far), so the run ends as if never interrupted; a
    checkpoint made with other settings, other data or another number of ranks is refused.
    """
    if distributed:
        from dlpy import distributed as dist

        with dist.abort_on_error():
            return _train(arrays, out, model, epochs, batch_size, lr, optimizer, schedule, seed,
                          progress, log, world=dist.init(), resume=resume)
    return _train(arrays, out, model, epochs, batch_size, lr, optimizer, schedule, seed,
                  progress, log, world=1, resume=resume)


def _train(arrays, out, model, epochs, batch_size, lr, optimizer, schedule, seed, progress, log,
           world: int, resume: bool = False) -> dict[str, Any]:
    main = world == 1 or _rank() == 0
    if not main:
        progress, log = False, _silent
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"train: epochs and batch_size must be >= 1, got {epochs}, {batch_size}")
    for part, purpose in (("train", "train on"), ("test", "report test accuracy on")):
        if len(arrays[f"{part}_labels"]) == 0:  # found now, not after the whole training
            raise ValueError(f"train: the MNIST {part} set is empty: nothing to {purpose}")
    optimizer = optimizer or ("sgd" if model == "mlp" else "adam")
    if lr is None:
        lr = DEFAULT_LR.get((model, optimizer), 1e-3)
    out = Path(out)
    if main:
        out.mkdir(parents=True, exist_ok=True)
    seeds = np.random.SeedSequence(seed).spawn(2)
    init_rng, shuffle_rng = (np.random.default_rng(s) for s in seeds)
    data = split(arrays, seed)
    net = build_model({"model": model}, rng=init_rng)
    opt = make_optimizer(optimizer, net.parameters(), lr)
    lr_at = make_schedule(schedule, lr, epochs)
    config = {"model": net.config, "epochs": epochs, "batch_size": batch_size, "lr": lr,
              "optimizer": optimizer, "schedule": schedule, "seed": seed,
              "split": {k: len(v[1]) for k, v in data.items()}}
    metrics: dict[str, Any] = {"config": config, "world_size": world,
                               "global_batch_size": world * batch_size, "epochs": []}
    fingerprint = {"train": config, "world_size": world, "data_sha256": _data_sha256(arrays)}
    start_epoch = 0
    if resume:
        start_epoch = _resume(out / CHECKPOINT, net, opt, fingerprint, metrics, shuffle_rng)
        log(f"resuming {out / CHECKPOINT} after epoch {start_epoch} of {epochs}")
    train_images, train_labels = data["train"]
    if world == 1:
        loader = DataLoader((train_images, train_labels), batch_size, shuffle=True,
                            rng=shuffle_rng)
    else:  # rank r reads positions r, r + N, ... of each epoch's permutation
        from dlpy.distributed import DistributedDataParallel, DistributedSampler

        net = DistributedDataParallel(net)
        sampler = DistributedSampler(len(train_labels), shuffle=True, seed=seed)
        loader = DataLoader((train_images, train_labels), batch_size, sampler=sampler)
    kind = net.config["model"]
    log(f"training {kind} ({net.num_parameters():,} parameters) with {optimizer} lr {lr} on "
        f"{len(train_labels):,} images, validating on {len(data['validation'][1]):,}")
    if world > 1:
        log(f"distributed: {world} ranks x batch {batch_size} = global batch {world * batch_size}")
    for epoch in range(start_epoch, epochs):
        epoch_lr = lr_at.apply(opt, epoch)
        if world > 1:
            sampler.set_epoch(epoch)
        net.train()
        start = time.perf_counter()
        loss_sum, seen = 0.0, 0
        bar = progress_bar(loader, desc=f"epoch {epoch + 1}/{epochs}", enabled=progress,
                           unit="batch")
        for step, (xb, yb) in enumerate(bar):
            loss = F.cross_entropy(net(to_input(xb, kind)), yb)
            opt.zero_grad()
            loss.backward()
            if world > 1:
                net.average_gradients()
            opt.step()
            loss_sum += loss.data * len(yb)  # a numpy scalar: no Python float per step
            seen += len(yb)
            if step % 200 == 0 and hasattr(bar, "set_postfix_str"):
                bar.set_postfix_str(f"loss {float(loss.data):.4f}", refresh=False)
        if hasattr(bar, "close"):
            bar.close()
        seconds = time.perf_counter() - start
        if world > 1:
            loss_sum, seen = _all_sum([loss_sum, seen])
        train_loss = float(loss_sum) / seen
        if not math.isfinite(train_loss):
            raise RuntimeError(f"train: the loss diverged in epoch {epoch + 1} (lr {epoch_lr})")
        val_loss, val_acc = _evaluate_shared(net, data["validation"], world)
        record = {"epoch": epoch + 1, "lr": epoch_lr, "train_loss": train_loss,
                  "val_loss": val_loss, "val_accuracy": val_acc, "seconds": seconds}
        metrics["epochs"].append(record)
        log(f"epoch {epoch + 1}/{epochs}: train loss {train_loss:.4f}, validation loss "
            f"{val_loss:.4f}, accuracy {val_acc:.2%} ({seconds:.1f} s)")
        if main:
            nn.save_checkpoint(out / CHECKPOINT, _unwrap(net), opt,
                               meta={**fingerprint, "epoch": epoch + 1,
                                     "history": [_timeless(r) for r in metrics["epochs"]],
                                     "shuffle_state": shuffle_rng.bit_generator.state})
    test_loss, test_acc = _evaluate_shared(net, data["test"], world)
    metrics["test_loss"], metrics["test_accuracy"] = test_loss, test_acc
    # (epochs before a resume have no time: a checkpoint holds no timings, so equal runs give
    # equal files)
    metrics["train_seconds"] = sum(r.get("seconds") or 0.0 for r in metrics["epochs"])
    log(f"test loss {test_loss:.4f}, accuracy {test_acc:.2%}")
    if main:
        _write_json(out / METRICS, metrics)
    return metrics


def _silent(message: str) -> None:
    pass


def _timeless(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "seconds"}


def _data_sha256(arrays: dict[str, np.ndarray]) -> str:
    """A fingerprint of the four arrays (about 0.1 s for MNIST): resuming needs the same data."""
    digest = hashlib.sha256()
    for key in sorted(arrays):
        digest.update(key.encode() + str(arrays[key].shape).encode())
        digest.update(np.ascontiguousarray(arrays[key]).data)
    return digest.hexdigest()


def _resume(path: Path, net: nn.Module, opt: optim.Optimizer, fingerprint: dict[str, Any],
            metrics: dict[str, Any], shuffle_rng: np.random.Generator) -> int:
    """Restore a run from its checkpoint; returns the number of finished epochs."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no checkpoint to resume; train without --resume first")
    meta = nn.read_meta(path)
    current = json.loads(json.dumps(fingerprint))  # as stored: tuples become lists
    different = [key for key in current if meta.get(key) != current[key]]
    if "train" in different and isinstance(meta.get("train"), dict):
        saved = meta["train"]
        different = [f"{k} (checkpoint {saved.get(k)!r}, now {current['train'].get(k)!r})"
                     for k in current["train"] if saved.get(k) != current["train"][k]] \
            + [k for k in different if k != "train"]
    if different:
        raise ValueError(f"{path}: cannot resume, this run differs from the checkpoint's in: "
                         f"{', '.join(different)}")
    nn.load_checkpoint(path, _unwrap(net), opt)
    metrics["epochs"] = list(meta.get("history", []))
    shuffle_rng.bit_generator.state = meta["shuffle_state"]
    return int(meta["epoch"])


def _rank() -> int:
    from dlpy import distributed

    return distributed.rank()


def _all_sum(values: list) -> list[float]:
    from dlpy import distributed

    return distributed.all_sum([float(v) for v in values]).tolist()


def _unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel wrapper (what a checkpoint stores)."""
    return getattr(model, "module", model)


def _evaluate_shared(model: nn.Module, split_arrays: tuple[np.ndarray, np.ndarray],
                     world: int) -> tuple[float, float]:
    """evaluate() over the whole split, each of the ``world`` ranks taking every world-th
    image, the sums combined."""
    images, labels = split_arrays
    if world == 1:
        return evaluate(_unwrap(model), images, labels)
    rank = _rank()
    count = len(labels[rank::world])
    loss, accuracy = evaluate(_unwrap(model), images[rank::world], labels[rank::world]) \
        if count else (0.0, 0.0)
    loss_sum, correct, total = _all_sum([loss * count, accuracy * count, count])
    return loss_sum / total, correct / total


def _write_json(path: Path, value: Any) -> None:
    atomic_write_bytes(path, (json.dumps(value, indent=2) + "\n").encode("utf-8"))


def load_trained(folder: str | os.PathLike) -> tuple[nn.Module, dict[str, Any]]:
    """The model saved in ``folder/checkpoint.npz`` by ``train``, and its metadata."""
    path = Path(folder)
    if path.is_dir():
        path = path / CHECKPOINT
    meta = nn.read_meta(path)
    if not isinstance(meta.get("config"), dict):
        raise ValueError(f"{path}: the checkpoint has no model config to rebuild the model from")
    model = build_model(meta["config"])
    nn.load_checkpoint(path, model)
    return model, meta


def plot_curves(metrics: dict[str, Any], path: str | os.PathLike) -> None:
    """Loss and accuracy per epoch as a PNG (needs matplotlib: pip install 'dlpy[plot]')."""
    rows = metrics["epochs"]
    epochs = [r["epoch"] for r in rows]
    loss = Panel("loss", "cross-entropy", {"train": (epochs, [r["train_loss"] for r in rows]),
                                            "validation": (epochs, [r["val_loss"] for r in rows])})
    accuracy = Panel("accuracy", "accuracy (%)",
                     {"validation": (epochs, [100 * r["val_accuracy"] for r in rows])})
    if "test_accuracy" in metrics:
        accuracy.hlines["test (final)"] = 100 * metrics["test_accuracy"]
    draw_curves(path, [loss, accuracy], title=f"MNIST {metrics['config']['model']['model']}")
