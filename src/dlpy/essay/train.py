"""Training the essay scorer: makes a `Scorer` (dlpy.essay.scorer), which never imports this.

    scorer = train(docs, EssayConfig(), out_dir="runs/essay")   # model.npz, metrics.json, ...

Mini-batches are bucketed by length, the family (dlpy.essay.families) gives the loss and the
optimiser, a validation split (whole collection batches when `groups` are given) drives early
stopping and the calibration, gradients are clipped, and a checkpoint is written atomically after
every epoch. `resume=True` continues from it, and refuses a checkpoint made with other data or
settings (a fingerprint of both is stored). A non-finite loss stops training with an error.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

import dlpy.functional as F
from dlpy import nn, optim
from dlpy.essay.config import EssayConfig
from dlpy.essay.cv import assign_groups, collection_batches, stratified_split
from dlpy.essay.families import Scaling, batch_centred_targets, get_family, rarity_weights
from dlpy.essay.features import (
    RELEVANCE_STAT_NAMES,
    SPACING_STAT_NAMES,
    Doc,
    Featurizer,
    Vocabulary,
)
from dlpy.essay.metrics import Calibration, report
from dlpy.essay.scorer import MODEL_FILE, Encoded, Scorer, text_sha256
from dlpy.io import atomic_write_bytes
from dlpy.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from dlpy.plot import Panel, PlotUnavailable
from dlpy.plot import plot_curves as draw_curves
from dlpy.progress import progress

CHECKPOINT_FILE = "checkpoint.npz"


class NonFiniteLoss(RuntimeError):
    """Training reached a NaN or infinite loss."""


def data_fingerprint(docs: Sequence[Doc]) -> str:
    """SHA-256 over every essay's id, prompt, score and text: the data a run was trained on."""
    digest = hashlib.sha256()
    for d in docs:
        digest.update(json.dumps([d.id, d.prompt, d.category, d.score, d.criteria, d.rubric],
                                 ensure_ascii=False).encode("utf-8"))
        digest.update(text_sha256(d.text).encode())
    return digest.hexdigest()


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


def build_scorer(docs: Sequence[Doc], config: EssayConfig, vectors=None,
                 log: Callable[[str], None] = print) -> tuple[Scorer, Encoded]:
    """A fresh, untrained Scorer fitted to the training docs (featurizer, vocabulary, scaling,
    the model sized by them), and the docs encoded for it."""
    family = get_family(config.family)
    if any(d.score is None for d in docs):
        raise ValueError("training essays need a score")
    disabled = (() if config.relevance_features else RELEVANCE_STAT_NAMES) \
        + (() if config.spacing_features else SPACING_STAT_NAMES)
    if not 0.0 <= config.ngram_dropout < 1.0:  # NaN fails too
        raise ValueError(f"ngram_dropout must lie in [0, 1), got {config.ngram_dropout}")
    if not (np.isfinite(config.morpheme_weight) and config.morpheme_weight >= 0):
        raise ValueError(f"morpheme_weight must be a finite number >= 0, got "
                         f"{config.morpheme_weight}")
    featurizer = Featurizer.fit(docs, config.max_char_ngrams, config.max_morpheme_ngrams,
                                morpheme_weight=config.morpheme_weight,
                                disabled_stats=disabled, lm_features=config.lm_features)
    vocabulary = Vocabulary.build(docs)
    data = Encoded(docs, featurizer, vocabulary, config.max_len, with_wide=family.uses_wide)
    model = family.build(featurizer, vocabulary, config, vectors, log, data)
    targets = np.array([[d.score] + (d.criteria or [np.nan] * 3) for d in docs], dtype=float)
    return Scorer(family, model, featurizer, vocabulary, Scaling.fit(targets), config), data


def _ood_statistics(scorer: Scorer, docs: Sequence[Doc], stats: np.ndarray) -> dict:
    """What the service compares a new essay with: percentiles over the training essays of the
    RMS z-score of the statistics and of the share of known character n-grams, measured as the
    service's check measures it (`checks.ngram_coverage` over `checks.reference_vocabulary`)."""
    from dlpy.essay import checks

    rms = np.sqrt(np.mean(stats.astype(np.float64) ** 2, axis=1))
    reference = checks.reference_vocabulary(scorer.featurizer.vocabulary)
    coverage = [checks.ngram_coverage(d.text, reference) for d in docs[:5000]]
    return {"stat_rms_z": {f"p{q}": float(np.percentile(rms, q)) for q in (50, 90, 99)},
            "ngram_coverage": {f"p{q}": float(np.percentile(coverage, q)) for q in (1, 10, 50)}}


def _averaged(scorer: Scorer, config: EssayConfig) -> AveragedModel | None:
    """The moving average of the model's weights (--ema), or None."""
    if not config.ema:
        return None
    if not 0.0 < config.ema < 1.0:  # NaN fails too
        raise ValueError(f"ema must lie in (0, 1) (0: off), got {config.ema}")
    return AveragedModel(scorer.model, get_ema_multi_avg_fn(config.ema))


def _evaluation_state(scorer: Scorer, averaged: AveragedModel | None) -> dict:
    """The weights that are validated and kept: the average with --ema, else the model's (a
    copy: state_dict's tensors share the parameters' arrays, which training changes)."""
    model = averaged.module if averaged is not None else scorer.model
    return {k: np.array(v, copy=True) for k, v in model.state_dict().items()}


def _predict_with(scorer: Scorer, state: dict, data) -> np.ndarray:
    """Predictions of the model with `state` loaded; the model's own weights are put back."""
    own = {k: np.array(v, copy=True) for k, v in scorer.model.state_dict().items()}  # (a copy)
    scorer.model.load_state_dict(state)
    try:
        return scorer.predict_encoded(data)[0]
    finally:
        scorer.model.load_state_dict(own)


def _train_epoch(scorer: Scorer, data, optimizer, config: EssayConfig, epoch: int,
                 l2_scale: float, sample_weights: np.ndarray, show_progress: bool,
                 averaged: AveragedModel | None = None) -> tuple[float, float, int, float]:
    """One pass over `data` in length-bucketed mini-batches (the same batches for the same seed
    and epoch, so a resumed run repeats them): (summed loss, training RMSE from the outputs seen
    before each update, essays seen, seconds). `averaged` folds in the weights after every
    step."""
    family = scorer.family
    scorer.model.train()
    rng = np.random.default_rng([config.seed, epoch])
    batches = bucketed_batches(data.lengths, config.batch_size, rng)
    dropout_rng = np.random.default_rng([config.seed, epoch, 1])  # leaves the batches as they were
    epoch_start, total, seen, squared_error = time.perf_counter(), 0.0, 0, 0.0
    bar = progress(batches, desc=f"epoch {epoch + 1}/{config.epochs}", enabled=show_progress,
                   unit="batch")
    for step, index in enumerate(bar):
        optimizer.zero_grad()
        batch = data.batch(index)
        if config.ngram_dropout and "wide" in batch:
            batch["wide"] = drop_entries(batch["wide"], config.ngram_dropout, dropout_rng)
        outputs = scorer.model(batch)
        loss = family.loss(scorer.model, outputs, data.targets[index], data.rubric[index],
                           scorer.scaling, config, l2_scale, sample_weights[index])
        value = loss.item()
        if not math.isfinite(value):
            raise NonFiniteLoss(f"train: the loss became {value} at epoch {epoch + 1}, "
                                f"batch {step + 1}; lower --lr (now {optimizer.lr:g}) or "
                                "check the data")
        loss.backward()
        optim.clip_grad_norm(optimizer.params, config.clip)
        optimizer.step()
        if averaged is not None:
            averaged.update_parameters(scorer.model)
        total += value * len(index)
        seen += len(index)
        scores, _ = scorer.decode(outputs.data.astype(np.float64), data.rubric[index])
        squared_error += float(np.sum((scores - data.targets[index, 0]) ** 2))
    return total, float(np.sqrt(squared_error / seen)), seen, time.perf_counter() - epoch_start


def drop_entries(rows: F.SparseRows, p: float, rng: np.random.Generator) -> F.SparseRows:
    """Inverted dropout on sparse rows: each entry kept with probability 1 - p and scaled by
    1 / (1 - p), so a row's expected value is unchanged (Wager et al. 2013: for a linear model,
    an adaptive ridge that trusts frequent features more)."""
    keep = rng.random(rows.indices.size) >= p
    num_rows = rows.indptr.size - 1
    row_of_entry = np.repeat(np.arange(num_rows), np.diff(rows.indptr))
    indptr = np.concatenate([[0], np.cumsum(np.bincount(row_of_entry[keep],
                                                        minlength=num_rows))])
    values = (rows.values[keep] / (1.0 - p)).astype(rows.values.dtype)
    return F.SparseRows(indptr, rows.indices[keep], values, rows.num_columns)


def _training_targets(data, docs: Sequence[Doc], config: EssayConfig) -> np.ndarray:
    """The per-essay loss weights (--balance); with --batch-center, `data.targets` lose the
    shrunken batch levels (after the weights: a weak essay stays a rare one)."""
    weights = rarity_weights(data.targets[:, 0], config.balance)
    if config.batch_center > 0:
        batches = collection_batches([d.id for d in docs], [d.prompt for d in docs])
        data.targets = batch_centred_targets(data.targets, [d.prompt for d in docs], batches,
                                             config.batch_center)
    return weights


def train(docs: Sequence[Doc], config: EssayConfig, out_dir: str | os.PathLike | None = None,
          vectors=None, resume: bool = False, show_progress: bool = True,
          log: Callable[[str], None] = print, save_dtype=np.float32,
          groups: Sequence | None = None) -> Scorer:
    """Train on `docs` (a validation split is held out of them), return the best Scorer (by
    validation RMSE). With `groups` (one label per doc) the validation split holds out whole
    groups. With `out_dir`: checkpoint.npz every epoch, then model.npz, metrics.json and
    curves.png."""
    docs = list(docs)
    if config.epochs < 1:
        raise ValueError(f"train: epochs must be at least 1, got {config.epochs}")
    if len(docs) < 4:
        raise ValueError(f"train: need at least 4 scored essays, got {len(docs)}")
    family = get_family(config.family)
    prompts = [d.prompt for d in docs]
    held = None
    if groups is not None:
        parts = max(2, int(round(1.0 / config.val_fraction)))
        held = assign_groups(prompts, groups, parts, config.seed) == 0
        kept_prompts = {p for p, h in zip(prompts, held) if not h}
        if not 0 < held.sum() <= 2 * config.val_fraction * len(docs) \
                or len(kept_prompts) < len(set(prompts)):
            # too few groups to hold out about val_fraction of the essays and keep every
            # prompt in training: hold out essays instead
            held = None
    if held is None:
        fit_index, val_index = stratified_split(prompts, config.val_fraction, config.seed)
    else:
        fit_index, val_index = np.nonzero(~held)[0], np.nonzero(held)[0]
    if len(val_index) == 0:
        fit_index, val_index = fit_index[1:], fit_index[:1]
    fit_docs = [docs[i] for i in fit_index]
    val_docs = [docs[i] for i in val_index]
    fingerprint = {"data": data_fingerprint(docs), "config": config.fingerprint()}
    out = Path(out_dir) if out_dir is not None else None
    checkpoint = out / CHECKPOINT_FILE if out is not None else None
    resumed = None
    if resume:
        if checkpoint is None or not checkpoint.exists():
            raise FileNotFoundError(f"{checkpoint or 'checkpoint'}: nothing to resume from")
        resumed = nn.load_npz(checkpoint)
        meta = json.loads(resumed["__meta__"].tobytes().decode("utf-8"))
        saved = meta.get("fingerprint", {})
        for key, what in (("data", "other data"), ("config", "other settings")):
            if saved.get(key) != fingerprint[key]:
                raise ValueError(f"{checkpoint}: made with {what} than this run; refusing to "
                                 "resume (start afresh without --resume, or use another --out)")
    start = time.perf_counter()
    scorer, train_data = build_scorer(fit_docs, config, vectors, log)
    val_data = scorer.encode(val_docs)
    prepare_seconds = time.perf_counter() - start
    log(f"features: {scorer.featurizer.num_ngrams} n-grams, {scorer.featurizer.num_stats} "
        f"statistics, {len(scorer.featurizer.categories)} categories, "
        f"{len(scorer.prompts)} prompts; {len(fit_docs)} training + {len(val_docs)} validation "
        f"essays ({prepare_seconds:.0f} s)")
    optimizer = family.optimizer(scorer.model, config)
    averaged = _averaged(scorer, config)
    sample_weights = _training_targets(train_data, fit_docs, config)
    history: list[dict] = []
    best = {"rmse": float("inf"), "epoch": -1, "state": _evaluation_state(scorer, None)}
    first_epoch = 0
    if resumed is not None:
        state = nn.load_checkpoint(checkpoint, scorer.model, optimizer)
        history = state["meta"]["history"]
        first_epoch = len(history)
        best = {"rmse": state["meta"]["best_rmse"], "epoch": state["meta"]["best_epoch"],
                "state": {k[len("best/"):]: v for k, v in state["extra"].items()
                          if k.startswith("best/")}}
        if averaged is not None:
            averaged.load_state_dict({k[len("ema/"):]: v for k, v in state["extra"].items()
                                      if k.startswith("ema/")})
        log(f"resuming after epoch {first_epoch} (best validation RMSE {best['rmse']:.3f} "
            f"at epoch {best['epoch'] + 1})")
    l2_scale = 1.0 / len(fit_docs)
    for epoch in range(first_epoch, config.epochs):
        if epoch - best["epoch"] > config.patience and best["epoch"] >= 0:
            break
        optimizer.lr = family.learning_rate(config, epoch)
        total, train_rmse, seen, seconds = _train_epoch(scorer, train_data, optimizer, config,
                                                        epoch, l2_scale, sample_weights,
                                                        show_progress, averaged)
        state = _evaluation_state(scorer, averaged)
        val_scores = (scorer.predict_encoded(val_data)[0] if averaged is None
                      else _predict_with(scorer, state, val_data))
        val_rmse = float(np.sqrt(np.mean((val_scores - val_data.targets[:, 0]) ** 2)))
        if not math.isfinite(val_rmse):
            raise NonFiniteLoss(f"train: the validation predictions became non-finite at epoch "
                                f"{epoch + 1}; lower --lr (now {optimizer.lr:g})")
        history.append({"epoch": epoch + 1, "loss": total / seen, "train_rmse": train_rmse,
                        "val_rmse": val_rmse, "seconds": seconds, "lr": optimizer.lr,
                        "essays_per_second": seen / seconds})
        if val_rmse < best["rmse"]:
            best = {"rmse": val_rmse, "epoch": epoch, "state": state}
        log(f"epoch {epoch + 1}: loss {total / seen:.4f}, train RMSE {train_rmse:.3f}, "
            f"validation RMSE {val_rmse:.3f}, {seconds:.1f} s ({seen / seconds:.0f} essays/s)")
        if checkpoint is not None:
            extra = {f"best/{k}": v for k, v in best["state"].items()}
            if averaged is not None:
                extra.update({f"ema/{k}": v for k, v in averaged.state_dict().items()})
            nn.save_checkpoint(checkpoint, scorer.model, optimizer, extra=extra,
                               meta={"history": history, "best_rmse": best["rmse"],
                                     "best_epoch": best["epoch"], "config": config.to_dict(),
                                     "fingerprint": fingerprint})
    scorer.model.load_state_dict(best["state"])
    val_scores, _ = scorer.predict_encoded(val_data)
    calibration = Calibration.fit(val_scores, val_data.targets[:, 0])
    val_report = report(val_scores, val_data.targets[:, 0], [d.prompt for d in val_docs],
                        calibration)
    ood_docs, ood_stats = fit_docs, train_data.stats
    if config.refit:
        scorer, ood_stats = _refit(docs, config, best["epoch"] + 1, vectors, show_progress, log)
        ood_docs = docs
    scorer.calibration = calibration
    epoch_seconds = [h["seconds"] for h in history]
    scorer.info = {"trained_on": len(docs), "validation": len(val_docs),
                   "best_epoch": best["epoch"] + 1, "validation_metrics": val_report,
                   "seconds_per_epoch": float(np.mean(epoch_seconds)) if epoch_seconds else 0.0,
                   "prepare_seconds": prepare_seconds, "fingerprint": fingerprint,
                   "training_sha256": [text_sha256(d.text) for d in docs],
                   "prompt_categories": {p: scorer.featurizer.prompt_info[p]["category"]
                                         for p in scorer.prompts},
                   "refit": bool(config.refit),
                   "ood": _ood_statistics(scorer, ood_docs, ood_stats)}
    if out is not None:
        scorer.save(out / MODEL_FILE, save_dtype)
        metrics = {"config": config.to_dict(), "history": history,
                   **{k: v for k, v in scorer.info.items() if k != "training_sha256"}}
        atomic_write_bytes(out / "metrics.json",
                           json.dumps(metrics, indent=2, ensure_ascii=False).encode("utf-8"))
        plot_curves(history, out / "curves.png")
    return scorer


def _refit(docs: Sequence[Doc], config: EssayConfig, epochs: int, vectors, show_progress: bool,
           log: Callable[[str], None]) -> tuple[Scorer, np.ndarray]:
    """A fresh Scorer fitted to all `docs` and trained for `epochs` epochs with the run's
    settings (the early-stopped run's best count), no essay held out: (scorer, its training
    statistics)."""
    scorer, data = build_scorer(docs, config, vectors, log)
    optimizer = scorer.family.optimizer(scorer.model, config)
    averaged = _averaged(scorer, config)
    sample_weights = _training_targets(data, docs, config)
    for epoch in range(epochs):
        optimizer.lr = scorer.family.learning_rate(config, epoch)
        total, train_rmse, seen, seconds = _train_epoch(scorer, data, optimizer, config, epoch,
                                                        1.0 / len(docs), sample_weights,
                                                        show_progress, averaged)
        log(f"refit on all {len(docs)} essays, epoch {epoch + 1}/{epochs}: loss "
            f"{total / seen:.4f}, train RMSE {train_rmse:.3f}, {seconds:.1f} s")
    scorer.model.load_state_dict(_evaluation_state(scorer, averaged))
    return scorer, data.stats


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
