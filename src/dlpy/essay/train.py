"""Training, prediction, saving and cross-validation of the essay scorer.

    model = train(docs, TrainConfig(), out_dir="runs/essay")   # model.npz, metrics.json, ...
    scorer = load_scorer("runs/essay/model.npz")
    scores, criteria = scorer.predict(docs)
    result = cross_validate(docs, TrainConfig(), folds=5)

Mini-batches are bucketed by length (little padding), the optimiser is AdamW (SGD with the
report's step decay for `arch="seed"`), a validation split drives early stopping and the
calibration, gradients are clipped, and a checkpoint is written atomically after every epoch
(`resume=True` continues from it). Everything is seeded: the same data and config give the same
model.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

import dlpy.functional as F
from dlpy import nn, optim
from dlpy.essay.features import Doc, Featurizer, Vocabulary, densify, pretrained_matrix
from dlpy.essay.metrics import Calibration, report
from dlpy.essay.model import NUM_OUTPUTS, build_model
from dlpy.io import atomic_write_bytes
from dlpy.plot import Panel, PlotUnavailable
from dlpy.plot import plot_curves as draw_curves
from dlpy.progress import progress
from dlpy.tensor import Tensor, no_grad

CRITERIA = ("organisation", "content", "expression")
MODEL_FILE, CHECKPOINT_FILE = "model.npz", "checkpoint.npz"


@dataclass
class TrainConfig:
    arch: str = "essaynet"          # or "seed" (the report's model)
    epochs: int = 20
    batch_size: int = 32
    lr: float = 5e-4                # seed: the base of lr = base / 10^(epoch // 2)
    weight_decay: float = 0.0       # AdamW's decoupled decay
    l2_wide: float = 2.0            # ridge penalty on the n-gram weights (per training essay)
    clip: float = 5.0
    patience: int = 4
    val_fraction: float = 0.1
    seed: int = 0
    max_len: int = 384              # morphemes per essay seen by the deep part
    embedding_dim: int = 32         # used when no vectors are given
    d_model: int = 0                # 0 drops the deep part (it did not help in CV)
    num_layers: int = 1
    num_heads: int = 4
    dim_feedforward: int = 64
    hidden: int = 32
    dropout: float = 0.0
    train_embeddings: bool = False
    criteria_weight: float = 0.5    # loss weight of each criterion head (the total has 1)
    wide_gain: float = 1.0          # the n-gram weights learn at wide_gain * lr
    max_char_ngrams: int = 20000
    max_morpheme_ngrams: int = 20000

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})


# --------------------------------------------------------------------------- data

class Encoded:
    """Docs turned into model inputs once: sparse n-gram rows, statistics, prompt ids, morpheme
    ids, and the targets (total and criteria; NaN where unknown)."""

    def __init__(self, docs: Sequence[Doc], featurizer: Featurizer, vocabulary: Vocabulary,
                 max_len: int, with_wide: bool = True):
        self.wide_rows = [featurizer.ngrams(d) for d in docs] if with_wide else None
        self.stats = featurizer.statistics(docs)
        self.prompt = np.array([featurizer.prompt_id(d.prompt) for d in docs], dtype=np.int64)
        self.ids = [vocabulary.encode(d, max_len) for d in docs]
        self.lengths = np.array([len(i) for i in self.ids])
        self.num_ngrams = featurizer.num_ngrams
        targets = np.full((len(docs), NUM_OUTPUTS), np.nan, dtype=np.float64)
        for i, d in enumerate(docs):
            if d.score is not None:
                targets[i, 0] = d.score
            if d.criteria is not None:
                targets[i, 1:] = d.criteria
        self.targets = targets

    def __len__(self) -> int:
        return len(self.ids)

    def batch(self, index: np.ndarray) -> dict:
        length = int(self.lengths[index].max())
        ids = np.zeros((len(index), length), dtype=np.int64)
        for row, i in enumerate(index):
            ids[row, :self.lengths[i]] = self.ids[i]
        out = {"ids": ids, "padding": ids == 0, "stats": self.stats[index],
               "prompt": self.prompt[index]}
        if self.wide_rows is not None:
            out["wide"] = densify([self.wide_rows[i] for i in index], self.num_ngrams)
        return out


def bucketed_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator
                     ) -> list[np.ndarray]:
    """Shuffle, sort chunks of 50 batches by length, cut into batches, shuffle the batches: each
    batch holds essays of similar length (little padding) yet every epoch differs."""
    order = rng.permutation(len(lengths))
    chunk = batch_size * 50
    batches = []
    for start in range(0, len(order), chunk):
        part = order[start:start + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def stratified_split(prompts: Sequence[str], fraction: float, seed: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(train, held out) indices with `fraction` of every prompt held out."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(prompts)
    held = []
    for name in sorted(set(labels.tolist())):
        members = rng.permutation(np.nonzero(labels == name)[0])
        held += members[:int(round(fraction * len(members)))].tolist()
    held_out = np.array(sorted(held), dtype=np.int64)
    train_index = np.setdiff1d(np.arange(len(labels)), held_out)
    return train_index, held_out


def stratified_folds(prompts: Sequence[str], folds: int, seed: int) -> np.ndarray:
    """A fold number per essay, every prompt spread evenly over the folds."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(prompts)
    fold_of = np.zeros(len(labels), dtype=np.int64)
    for name in sorted(set(labels.tolist())):
        members = rng.permutation(np.nonzero(labels == name)[0])
        fold_of[members] = np.arange(len(members)) % folds
    return fold_of


def essay_number(essay_id: str) -> int:
    """The number at the end of an essay id: 33982 for AI Hub's `ESSAY_33982`."""
    match = re.search(r"(\d+)\D*$", str(essay_id))
    if match is None:
        raise ValueError(f"essay id {essay_id!r} has no number; collection batches are runs of "
                         "consecutive numbered ids (AI Hub's info.essay_id)")
    return int(match.group(1))


def collection_batches(ids: Sequence[str], prompts: Sequence[str], gap: int = 50) -> np.ndarray:
    """A batch number per essay: within each prompt, essays sorted by the number in their id
    (AI Hub's `ESSAY_33982`), a jump of more than `gap` starting a new batch. AI Hub numbered the
    essays as they were collected and scored, and scores move together within such a run (about
    half the within-prompt variance of the 3,609 dev essays lies between runs; docs/essay.md)."""
    labels = np.asarray([str(p) for p in prompts])
    if len(ids) != labels.size:
        raise ValueError(f"collection_batches: {len(ids)} ids for {labels.size} prompts")
    numbers = np.array([essay_number(essay_id) for essay_id in ids], dtype=np.int64)
    batch = np.zeros(labels.size, dtype=np.int64)
    next_batch = 0
    for name in sorted(set(labels.tolist())):
        members = np.nonzero(labels == name)[0]
        members = members[np.argsort(numbers[members], kind="stable")]
        run = np.concatenate([[0], np.cumsum(np.diff(numbers[members]) > gap)])
        batch[members] = next_batch + run
        next_batch += int(run[-1]) + 1
    return batch


def grouped_folds(prompts: Sequence[str], groups: Sequence, folds: int, seed: int) -> np.ndarray:
    """A fold number per essay that keeps every group (e.g. a collection batch) in one fold and
    spreads each prompt over the folds as evenly as its groups allow: groups in a seeded order,
    largest first, each to the fold that has the fewest essays of that prompt so far (of those,
    the one with the fewest essays in all)."""
    fold_of = _assign_groups(prompts, groups, folds, seed)
    empty = [k + 1 for k in range(folds) if not np.any(fold_of == k)]
    if empty:
        raise ValueError(f"grouped_folds: {len(set(np.asarray(groups).tolist()))} groups cannot "
                         f"fill {folds} folds (fold {empty[0]} is empty); use fewer folds or "
                         "smaller groups")
    return fold_of


def _assign_groups(prompts: Sequence[str], groups: Sequence, folds: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    labels = np.asarray([str(p) for p in prompts])
    group_of = np.asarray(groups)
    if group_of.shape != labels.shape:
        raise ValueError(f"grouped_folds: {group_of.size} group labels for {labels.size} essays")
    fold_of = np.zeros(labels.size, dtype=np.int64)
    totals = np.zeros(folds, dtype=np.int64)
    for name in sorted(set(labels.tolist())):
        members = np.nonzero(labels == name)[0]
        names, inverse, sizes = np.unique(group_of[members], return_inverse=True,
                                          return_counts=True)
        order = rng.permutation(len(names))
        order = order[np.argsort(-sizes[order], kind="stable")]
        counts = np.zeros(folds, dtype=np.int64)
        for g in order:
            candidates = np.nonzero(counts == counts.min())[0]
            k = int(candidates[np.argmin(totals[candidates])])
            fold_of[members[inverse == g]] = k
            counts[k] += sizes[g]
            totals[k] += sizes[g]
    return fold_of


# --------------------------------------------------------------------------- the scorer

class Scorer:
    """A trained model with everything needed to score text: featurizer, vocabulary, target
    scaling and calibration."""

    def __init__(self, model: nn.Module, featurizer: Featurizer, vocabulary: Vocabulary,
                 target_mean: np.ndarray, target_std: np.ndarray, config: TrainConfig,
                 calibration: Calibration | None = None, info: dict | None = None):
        self.model, self.featurizer, self.vocabulary = model, featurizer, vocabulary
        self.target_mean = np.asarray(target_mean, dtype=np.float64)
        self.target_std = np.asarray(target_std, dtype=np.float64)
        self.config = config
        self.calibration = calibration or Calibration()
        self.info = info or {}

    @property
    def prompts(self) -> list[str]:
        return self.featurizer.prompts

    def encode(self, docs: Sequence[Doc]) -> Encoded:
        return Encoded(docs, self.featurizer, self.vocabulary, self.config.max_len,
                       with_wide=self.config.arch == "essaynet")

    def raw_outputs(self, data: Encoded, batch_size: int = 64) -> np.ndarray:
        self.model.eval()
        order = np.argsort(data.lengths, kind="stable")
        outputs = np.zeros((len(data), self.model_outputs), dtype=np.float64)
        with no_grad():
            for start in range(0, len(order), batch_size):
                index = order[start:start + batch_size]
                outputs[index] = self.model(data.batch(index)).data
        return outputs

    @property
    def model_outputs(self) -> int:
        return 1 if self.config.arch == "seed" else NUM_OUTPUTS

    def decode(self, outputs: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Model outputs -> (score 0-30, criteria (n, 3) 0-1 or None)."""
        if self.config.arch == "seed":
            return np.clip(outputs[:, 0] * 30.0, 0, 30), None
        values = outputs * self.target_std + self.target_mean
        return np.clip(values[:, 0], 0, 30), np.clip(values[:, 1:], 0, 1)

    def predict(self, docs: Sequence[Doc]) -> tuple[np.ndarray, np.ndarray | None]:
        return self.decode(self.raw_outputs(self.encode(docs)))

    # ----------------------------------------------------------------- files
    def save(self, path: str | os.PathLike, dtype=np.float32) -> None:
        """One .npz (atomic, no pickle): parameters (optionally float16), the IDF, and JSON
        metadata with the config, featurizer, vocabulary, scaling and calibration."""
        meta = {"format": "dlpy-essay-1", "config": asdict(self.config),
                "model_config": self.model.config, "featurizer": self.featurizer.to_dict(),
                "vocabulary": self.vocabulary.words,
                "target_mean": self.target_mean.tolist(), "target_std": self.target_std.tolist(),
                "calibration": self.calibration.to_dict(), "info": self.info}
        arrays = {f"param/{k}": v.astype(dtype) for k, v in self.model.state_dict().items()}
        arrays["extra/idf"] = self.featurizer.idf.astype(np.float32)
        arrays["__meta__"] = np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"),
                                           dtype=np.uint8)
        nn.save_npz(path, arrays)


def load_scorer(path: str | os.PathLike) -> Scorer:
    """A Scorer from Scorer.save's file; errors name the file."""
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such model file (train one with `dlpy essay train`)")
    arrays = nn.load_npz(path)
    try:
        meta = json.loads(arrays["__meta__"].tobytes().decode("utf-8"))
        if meta.get("format") != "dlpy-essay-1":
            raise KeyError("format")
        config = TrainConfig.from_dict(meta["config"])
        featurizer = Featurizer.from_dict(meta["featurizer"], arrays["extra/idf"])
        vocabulary = Vocabulary(meta["vocabulary"])
        model = build_model(meta["model_config"])
    except (KeyError, ValueError, TypeError) as err:
        raise ValueError(f"{path}: not a dlpy essay model ({err})") from None
    params = {k[len("param/"):]: v for k, v in arrays.items() if k.startswith("param/")}
    try:
        model.load_state_dict(params)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    return Scorer(model, featurizer, vocabulary, meta["target_mean"], meta["target_std"],
                  config, Calibration.from_dict(meta["calibration"]), meta.get("info", {}))


# --------------------------------------------------------------------------- training

def _loss(scorer: Scorer, outputs: Tensor, targets: np.ndarray, l2_scale: float) -> Tensor:
    config = scorer.config
    if config.arch == "seed":
        return F.mse_loss(outputs, (targets[:, :1] / 30.0).astype(np.float32))
    standard = (targets - scorer.target_mean) / scorer.target_std
    weight = np.array([1.0] + [config.criteria_weight] * 3)[None, :] * ~np.isnan(standard)
    standard = np.nan_to_num(standard).astype(np.float32)
    diff = outputs - standard
    loss = F.sum(diff * diff * weight.astype(np.float32)) * (1.0 / len(targets))
    penalty = scorer.model.wide_penalty()
    if penalty is not None:
        loss = loss + penalty * l2_scale
    return loss


def _fit_scaling(docs: Sequence[Doc]) -> tuple[np.ndarray, np.ndarray]:
    targets = np.array([[d.score] + (d.criteria or [np.nan] * 3) for d in docs], dtype=float)
    mean = np.nanmean(targets, axis=0)
    std = np.nanstd(targets, axis=0)
    mean = np.where(np.isnan(mean), 0.5, mean)
    std = np.where(np.isnan(std) | (std < 1e-6), 1.0, std)
    return mean, std


def build_scorer(docs: Sequence[Doc], config: TrainConfig, vectors=None,
                 log: Callable[[str], None] = print) -> Scorer:
    """A fresh, untrained Scorer fitted to the training docs (featurizer, vocabulary, scaling,
    embeddings initialised from `vectors` when given)."""
    if config.arch not in ("essaynet", "seed"):
        raise ValueError(f"unknown architecture {config.arch!r}: expected 'essaynet' or 'seed'")
    if any(d.score is None for d in docs):
        raise ValueError("training essays need a score")
    featurizer = Featurizer.fit(docs, config.max_char_ngrams, config.max_morpheme_ngrams)
    vocabulary = Vocabulary.build(docs)
    rng = np.random.default_rng(config.seed)
    matrix, embedding_dim = None, config.embedding_dim
    if vectors is not None:
        matrix, kinds = pretrained_matrix(vocabulary, vectors, rng)
        embedding_dim = matrix.shape[1]
        log(f"embeddings: {len(vocabulary)} morphemes from {vectors.dim}-d vectors, "
            + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    elif config.arch == "seed":
        matrix = rng.normal(0, 1, (len(vocabulary), embedding_dim)).astype(np.float32)
        matrix[0] = 0
    if config.arch == "seed":
        model_config = dict(arch="seed", vocab_size=len(vocabulary), embedding_dim=embedding_dim,
                            num_heads=config.num_heads, max_len=config.max_len,
                            train_embeddings=config.train_embeddings, seed=config.seed)
    else:
        model_config = dict(arch="essaynet", num_ngrams=featurizer.num_ngrams,
                            num_stats=featurizer.num_stats, num_prompts=len(featurizer.prompts),
                            vocab_size=len(vocabulary), embedding_dim=embedding_dim,
                            d_model=config.d_model, num_layers=config.num_layers,
                            num_heads=config.num_heads, dim_feedforward=config.dim_feedforward,
                            hidden=config.hidden, max_len=config.max_len,
                            train_embeddings=config.train_embeddings or matrix is None,
                            dropout=config.dropout, seed=config.seed,
                            wide_gain=config.wide_gain)
    model = build_model(model_config, matrix)
    mean, std = _fit_scaling(docs)
    return Scorer(model, featurizer, vocabulary, mean, std, config)


def _optimizer(scorer: Scorer):
    params = [p for p in scorer.model.parameters() if p.requires_grad]
    if scorer.config.arch == "seed":
        return optim.SGD(params, lr=scorer.config.lr)
    return optim.AdamW(params, lr=scorer.config.lr, weight_decay=scorer.config.weight_decay)


def train(docs: Sequence[Doc], config: TrainConfig, out_dir: str | os.PathLike | None = None,
          vectors=None, resume: bool = False, show_progress: bool = True,
          log: Callable[[str], None] = print, save_dtype=np.float32,
          groups: Sequence | None = None) -> Scorer:
    """Train on `docs` (a validation split is held out of them), return the best Scorer (by
    validation RMSE). With `groups` (one label per doc) the validation split holds out whole
    groups. With `out_dir`: checkpoint.npz every epoch, then model.npz, metrics.json and
    curves.png."""
    docs = list(docs)
    if len(docs) < 4:
        raise ValueError(f"train: need at least 4 scored essays, got {len(docs)}")
    prompts = [d.prompt for d in docs]
    if groups is None:
        fit_index, val_index = stratified_split(prompts, config.val_fraction, config.seed)
    else:
        parts = max(2, int(round(1.0 / config.val_fraction)))
        held = _assign_groups(prompts, groups, parts, config.seed) == 0
        fit_index, val_index = np.nonzero(~held)[0], np.nonzero(held)[0]
    if len(val_index) == 0:
        fit_index, val_index = fit_index[1:], fit_index[:1]
    fit_docs = [docs[i] for i in fit_index]
    val_docs = [docs[i] for i in val_index]
    start = time.perf_counter()
    scorer = build_scorer(fit_docs, config, vectors, log)
    train_data, val_data = scorer.encode(fit_docs), scorer.encode(val_docs)
    prepare_seconds = time.perf_counter() - start
    optimizer = _optimizer(scorer)
    schedule = optim.StepDecay(config.lr, 2, 10.0) if config.arch == "seed" else None
    out = Path(out_dir) if out_dir is not None else None
    history: list[dict] = []
    best = {"rmse": float("inf"), "epoch": -1, "state": scorer.model.state_dict()}
    first_epoch = 0
    if resume:
        if out is None or not (out / CHECKPOINT_FILE).exists():
            raise FileNotFoundError(f"{out / CHECKPOINT_FILE if out else 'checkpoint'}: "
                                    "nothing to resume from")
        state = nn.load_checkpoint(out / CHECKPOINT_FILE, scorer.model, optimizer)
        history = state["meta"]["history"]
        first_epoch = len(history)
        best = {"rmse": state["meta"]["best_rmse"], "epoch": state["meta"]["best_epoch"],
                "state": {k[len("best/"):]: v for k, v in state["extra"].items()
                          if k.startswith("best/")}}
        log(f"resuming after epoch {first_epoch} (best validation RMSE {best['rmse']:.3f} "
            f"at epoch {best['epoch'] + 1})")
    l2_scale = config.l2_wide / len(fit_docs)
    for epoch in range(first_epoch, config.epochs):
        if epoch - best["epoch"] > config.patience and best["epoch"] >= 0:
            break
        if schedule is not None:
            optimizer.lr = schedule(epoch)
        scorer.model.train()
        rng = np.random.default_rng([config.seed, epoch])  # resume gives the same batches
        batches = bucketed_batches(train_data.lengths, config.batch_size, rng)
        epoch_start, total, seen = time.perf_counter(), 0.0, 0
        bar = progress(batches, desc=f"epoch {epoch + 1}/{config.epochs}", enabled=show_progress)
        squared_error = 0.0
        for index in bar:
            optimizer.zero_grad()
            outputs = scorer.model(train_data.batch(index))
            loss = _loss(scorer, outputs, train_data.targets[index], l2_scale)
            loss.backward()
            optim.clip_grad_norm(optimizer.params, config.clip)
            optimizer.step()
            total += loss.item() * len(index)
            seen += len(index)
            # the training RMSE of the epoch, from the outputs seen before each update
            scores, _ = scorer.decode(outputs.data.astype(np.float64))
            squared_error += float(np.sum((scores - train_data.targets[index, 0]) ** 2))
        seconds = time.perf_counter() - epoch_start
        val_scores, _ = scorer.decode(scorer.raw_outputs(val_data))
        val_rmse = float(np.sqrt(np.mean((val_scores - val_data.targets[:, 0]) ** 2)))
        train_rmse = float(np.sqrt(squared_error / seen))
        history.append({"epoch": epoch + 1, "loss": total / seen, "train_rmse": train_rmse,
                        "val_rmse": val_rmse, "seconds": seconds, "lr": optimizer.lr})
        if val_rmse < best["rmse"]:
            best = {"rmse": val_rmse, "epoch": epoch, "state": scorer.model.state_dict()}
        log(f"epoch {epoch + 1}: loss {total / seen:.4f}, train RMSE {train_rmse:.3f}, "
            f"validation RMSE {val_rmse:.3f}, {seconds:.1f} s")
        if out is not None:
            nn.save_checkpoint(out / CHECKPOINT_FILE, scorer.model, optimizer,
                               extra={f"best/{k}": v for k, v in best["state"].items()},
                               meta={"history": history, "best_rmse": best["rmse"],
                                     "best_epoch": best["epoch"], "config": asdict(config)})
    scorer.model.load_state_dict(best["state"])
    val_scores, _ = scorer.decode(scorer.raw_outputs(val_data))
    scorer.calibration = Calibration.fit(val_scores, val_data.targets[:, 0])
    val_report = report(val_scores, val_data.targets[:, 0], [d.prompt for d in val_docs],
                        scorer.calibration)
    epoch_seconds = [h["seconds"] for h in history]
    scorer.info = {"trained_on": len(docs), "validation": len(val_docs),
                   "best_epoch": best["epoch"] + 1, "validation_metrics": val_report,
                   "seconds_per_epoch": float(np.mean(epoch_seconds)) if epoch_seconds else 0.0,
                   "prepare_seconds": prepare_seconds}
    if out is not None:
        scorer.save(out / MODEL_FILE, save_dtype)
        metrics = {"config": asdict(config), "history": history, **scorer.info}
        atomic_write_bytes(out / "metrics.json",
                           json.dumps(metrics, indent=2, ensure_ascii=False).encode("utf-8"))
        plot_curves(history, out / "curves.png")
    return scorer


def plot_curves(history: list[dict], path: Path) -> bool:
    """Train and validation RMSE per epoch; False (no file) without matplotlib."""
    epochs = [h["epoch"] for h in history]
    curves = {"train": (epochs, [h["train_rmse"] for h in history]),
              "validation": (epochs, [h["val_rmse"] for h in history])}
    try:
        draw_curves(path, [Panel("essay scorer", "RMSE (0-30 scale)", curves)])
    except PlotUnavailable:
        return False
    return True


# --------------------------------------------------------------------------- evaluation

def evaluate(scorer: Scorer, docs: Sequence[Doc]) -> dict:
    """Metrics of the scorer on scored docs (RMSE, r on raw predictions; QWK calibrated)."""
    if not docs or any(d.score is None for d in docs):
        raise ValueError("evaluate: need scored essays")
    scores, _ = scorer.predict(docs)
    return report(scores, [d.score for d in docs], [d.prompt for d in docs], scorer.calibration)


def cross_validate(docs: Sequence[Doc], config: TrainConfig, folds: int = 5, vectors=None,
                   seed: int = 0, show_progress: bool = True,
                   log: Callable[[str], None] = print, groups: Sequence | None = None) -> dict:
    """k-fold CV stratified by prompt: every essay predicted by a model that never saw it (its
    calibration fitted on that model's own validation split). Pooled metrics + per fold. With
    `groups` (e.g. `collection_batches`) every group stays in one fold and the validation splits
    hold out whole groups too. `fold_of` in the report gives each essay's fold."""
    docs = list(docs)
    if folds < 2 or folds > len(docs):
        raise ValueError(f"cross_validate: folds must lie in [2, {len(docs)}], got {folds}")
    prompts = [d.prompt for d in docs]
    if groups is None:
        fold_of = stratified_folds(prompts, folds, seed)
    else:
        groups = np.asarray(groups)
        fold_of = grouped_folds(prompts, groups, folds, seed)
    predictions = np.zeros(len(docs))
    calibrated = np.zeros(len(docs), dtype=np.int64)
    per_fold, seconds = [], []
    for k in range(folds):
        test_index = np.nonzero(fold_of == k)[0]
        train_docs = [docs[i] for i in np.nonzero(fold_of != k)[0]]
        test_docs = [docs[i] for i in test_index]
        start = time.perf_counter()
        scorer = train(train_docs, config, vectors=vectors, show_progress=show_progress,
                       log=lambda s, k=k: log(f"[fold {k + 1}/{folds}] {s}"),
                       groups=None if groups is None else groups[fold_of != k])
        seconds.append(time.perf_counter() - start)
        scores, _ = scorer.predict(test_docs)
        predictions[test_index] = scores
        calibrated[test_index] = scorer.calibration(scores)
        fold_report = report(scores, [d.score for d in test_docs], None, scorer.calibration)
        fold_report["seconds"] = seconds[-1]
        fold_report["seconds_per_epoch"] = scorer.info["seconds_per_epoch"]
        per_fold.append(fold_report)
        log(f"[fold {k + 1}/{folds}] RMSE {fold_report['rmse']:.3f}, r "
            f"{fold_report['pearson']:.3f}, QWK {fold_report['qwk']:.3f}")
    from dlpy.essay.metrics import per_prompt_pearson, quadratic_weighted_kappa

    targets = np.array([d.score for d in docs])
    pooled = report(predictions, targets, prompts)
    pooled["qwk"] = quadratic_weighted_kappa(calibrated, np.clip(np.round(targets), 0, 30))
    pooled["per_prompt"] = per_prompt_pearson(predictions, targets, prompts)
    pooled.update({"folds": per_fold, "config": asdict(config), "seconds": float(sum(seconds)),
                   "seconds_per_epoch": float(np.mean([f["seconds_per_epoch"]
                                                       for f in per_fold]))})
    pooled["predictions"] = predictions.tolist()
    pooled["fold_of"] = fold_of.tolist()
    return pooled
