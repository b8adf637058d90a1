"""Model families: each one object that builds its model, turns outputs into scores (decode),
scores a training batch (loss) and makes its optimiser. The scorer and the trainer ask the
family; nothing branches on the family's name.

    family = FAMILIES[config.family]
    model = family.build(featurizer, vocabulary, config, vectors)
    scores, criteria = family.decode(outputs, scaling, rubric)
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

import dlpy.functional as F
from dlpy import nn, optim
from dlpy.essay.config import EssayConfig
from dlpy.essay.features import Featurizer, Vocabulary, pretrained_matrix
from dlpy.essay.model import EssayNet, SeedNet, copy_keys, wide_rows
from dlpy.tensor import Tensor

MAX_SCORE = 30.0


class Scaling:
    """Means and standard deviations of the training targets, [total, organisation, content,
    expression] (the total 0-30, criteria 0-1)."""

    def __init__(self, mean, std):
        self.mean = np.asarray(mean, dtype=np.float64)
        self.std = np.asarray(std, dtype=np.float64)

    @classmethod
    def fit(cls, targets: np.ndarray) -> Scaling:
        mean = np.nanmean(targets, axis=0) if np.isfinite(targets).any() else np.zeros(4)
        std = np.nanstd(targets, axis=0)
        mean = np.where(np.isnan(mean), 0.5, mean)
        std = np.where(np.isnan(std) | (std < 1e-6), 1.0, std)
        return cls(mean, std)

    def to_dict(self) -> dict:
        return {"target_mean": self.mean.tolist(), "target_std": self.std.tolist()}


def rarity_weights(scores: np.ndarray, balance: float, bin_width: float = 3.0,
                   floor: float = 1e-3) -> np.ndarray:
    """One loss weight per essay: (share of the essays in its ``bin_width``-point score bin,
    at least ``floor``) ^ -balance, normalised to a mean of 1; 1 where the score is unknown.
    balance 0 gives all ones; 0.5 weighs an essay in a bin 100 times rarer 10 times more."""
    scores = np.asarray(scores, dtype=np.float64)
    if not math.isfinite(balance) or balance < 0:
        raise ValueError(f"balance must be a finite number >= 0, got {balance}")
    weights = np.ones(scores.shape, dtype=np.float64)
    known = np.isfinite(scores)
    if balance == 0 or not known.any():
        return weights
    bins = np.floor(scores[known] / bin_width).astype(np.int64)
    _, inverse, counts = np.unique(bins, return_inverse=True, return_counts=True)
    share = np.maximum(counts / counts.sum(), floor)
    weights[known] = share[inverse] ** -balance
    weights[known] /= weights[known].mean()
    return weights


def batch_centred_targets(targets: np.ndarray, prompts, batches, strength: float) -> np.ndarray:
    """The targets with ``strength`` times each collection batch's shrunken level removed.

    AI Hub's raters scored the essays in runs, and a run's level moves its scores together:
    about 40 % of the variance of the totals lies between the runs of one prompt, yet a run's
    mean length (the strongest single signal of quality) barely follows its mean score (r
    0.05-0.21 by category against 0.21-0.34 inside runs; docs/essay.md). So most of that level
    is the raters', not the text's, and no model can predict it for a run it never saw. For each
    column: dev = target - its prompt's mean; a batch's level is the mean dev of its essays,
    shrunk toward 0 by n / (n + k) with k = (variance inside batches) / (variance of the batch
    levels) estimated from the data (empirical Bayes), so a small batch's mean is trusted less.
    Prompt means are kept; NaN targets stay NaN; ``strength`` 0 returns the targets unchanged."""
    targets = np.array(targets, dtype=np.float64, copy=True)
    if not math.isfinite(strength) or not 0 <= strength <= 1:
        raise ValueError(f"batch_center must lie in [0, 1], got {strength}")
    if strength == 0:
        return targets
    prompts = np.asarray([str(p) for p in prompts])
    batches = np.asarray(batches)
    if len(prompts) != len(targets) or len(batches) != len(targets):
        raise ValueError(f"batch_centred_targets: {len(targets)} targets, {len(prompts)} prompts, "
                         f"{len(batches)} batches")
    _, prompt_of = np.unique(prompts, return_inverse=True)
    _, batch_of = np.unique(batches, return_inverse=True)
    for j in range(targets.shape[1]):
        y = targets[:, j]
        known = np.isfinite(y)
        if known.sum() < 3:
            continue
        p_sum = np.bincount(prompt_of[known], y[known], minlength=prompt_of.max() + 1)
        p_n = np.bincount(prompt_of[known], minlength=prompt_of.max() + 1)
        dev = np.where(known, y - (p_sum / np.maximum(p_n, 1))[prompt_of], 0.0)
        n = np.bincount(batch_of[known], minlength=batch_of.max() + 1).astype(np.float64)
        level = np.bincount(batch_of[known], dev[known], minlength=n.size) / np.maximum(n, 1)
        inside = dev - level[batch_of]
        within_var = float(np.sum(inside[known] ** 2) / max(known.sum() - np.sum(n > 0), 1))
        has = n > 0
        between_var = float(np.average(level[has] ** 2, weights=n[has])
                            - within_var * np.sum(has) / known.sum())
        if between_var <= 0:  # the batches differ no more than chance: nothing to remove
            continue
        k = within_var / between_var
        shift = (level * n / (n + k))[batch_of[known]]
        # shrinkage weighs batches unequally: keep each prompt's mean exactly
        shift -= (np.bincount(prompt_of[known], shift, minlength=p_n.size)
                  / np.maximum(p_n, 1))[prompt_of[known]]
        targets[known, j] = y[known] - strength * shift
    return targets


def rubric_share(rubric: np.ndarray) -> np.ndarray:
    """(n, 3) criterion weights -> (n, 3) shares that sum to 1 (equal shares where all are 0)."""
    rubric = np.asarray(rubric, dtype=np.float64)
    total = rubric.sum(axis=1, keepdims=True)
    return np.where(total > 0, rubric / np.where(total > 0, total, 1.0), 1.0 / rubric.shape[1])


def training_copy_keys(data, num_categories: int, num_prompts: int, prompt_copies: bool,
                       chunk: int = 2048) -> np.ndarray:
    """The (copy, n-gram) keys of EssayNet's category (and prompt) copies that the encoded
    training essays hold (model.copy_keys), gathered chunk by chunk."""
    keys = []
    for start in range(0, len(data), chunk):
        index = np.arange(start, min(start + chunk, len(data)))
        rows = F.SparseRows.from_rows([data.row(i) for i in index], data.num_ngrams)
        expanded = wide_rows(rows, data.category[index], num_categories, data.prompt[index],
                             num_prompts if prompt_copies else 0)
        keys.append(copy_keys(expanded, data.num_ngrams))
    return np.unique(np.concatenate(keys)) if keys else np.zeros(0, dtype=np.int64)


class Family:
    """The interface; see EssayNetFamily and SeedFamily."""

    name = ""
    uses_wide = False
    defaults: dict = {}  # settings that differ from EssayConfig's defaults for this family

    def build(self, featurizer: Featurizer, vocabulary: Vocabulary, config: EssayConfig,
              vectors=None, log: Callable[[str], None] = print, data=None) -> nn.Module:
        """A fresh model for the fitted featurizer; `data` (the training essays, encoded) lets
        it size what depends on them."""
        raise NotImplementedError

    def rebuild(self, model_config: dict) -> nn.Module:
        """The model a saved model_config describes (its weights are loaded afterwards)."""
        raise NotImplementedError

    def decode(self, outputs: np.ndarray, scaling: Scaling, rubric: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray | None]:
        """Model outputs -> (total 0-30 (n,), criteria 0-1 (n, 3) or None)."""
        raise NotImplementedError

    def loss(self, model: nn.Module, outputs: Tensor, targets: np.ndarray, rubric: np.ndarray,
             scaling: Scaling, config: EssayConfig, l2_scale: float,
             weights: np.ndarray | None = None) -> Tensor:
        """The mini-batch's loss; ``weights`` (one per essay, from rarity_weights) scale each
        essay's squared error."""
        raise NotImplementedError

    def optimizer(self, model: nn.Module, config: EssayConfig):
        params = [p for p in model.parameters() if p.requires_grad]
        return optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)

    def learning_rate(self, config: EssayConfig, epoch: int) -> float:
        return config.lr


class EssayNetFamily(Family):
    """EssayNet: criteria from wide + statistics (+ deep); the total from the criteria with the
    essay's rubric weights, so a category's weighting is respected by construction."""

    name = "essaynet"
    uses_wide = True

    def build(self, featurizer, vocabulary, config, vectors=None, log=print, data=None):
        rng = np.random.default_rng(config.seed)
        matrix, embedding_dim = None, config.embedding_dim
        if vectors is not None and config.d_model > 0:
            matrix, kinds = pretrained_matrix(vocabulary, vectors, rng)
            embedding_dim = matrix.shape[1]
            log(f"embeddings: {len(vocabulary)} morphemes from {vectors.dim}-d vectors, "
                + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
        model_config = dict(arch="essaynet", num_ngrams=featurizer.num_ngrams,
                            num_stats=featurizer.num_stats,
                            num_categories=len(featurizer.categories),
                            num_prompts=len(featurizer.prompts),
                            vocab_size=len(vocabulary) if config.d_model > 0 else 2,
                            embedding_dim=embedding_dim, d_model=config.d_model,
                            num_layers=config.num_layers, num_heads=config.num_heads,
                            dim_feedforward=config.dim_feedforward, hidden=config.hidden,
                            max_len=config.max_len,
                            train_embeddings=config.train_embeddings or matrix is None,
                            dropout=config.dropout, seed=config.seed, wide_gain=config.wide_gain,
                            num_lm_features=featurizer.num_lm_features,
                            prompt_copies=config.prompt_copies)
        keys = None
        if data is not None:  # the copies keep the n-grams their training essays hold
            keys = training_copy_keys(data, len(featurizer.categories), len(featurizer.prompts),
                                      config.prompt_copies)
            model_config["num_copy_rows"] = int(keys.size)
        model = EssayNet(**{k: v for k, v in model_config.items() if k != "arch"},
                         embedding_matrix=matrix)
        if keys is not None:
            model.copy_keys = keys.astype(model.copy_keys.dtype)
        return model

    def rebuild(self, model_config):
        return EssayNet(**{k: v for k, v in model_config.items() if k != "arch"})

    def decode(self, outputs, scaling, rubric):
        criteria = outputs * scaling.std[1:] + scaling.mean[1:]
        total = MAX_SCORE * np.sum(criteria * rubric_share(rubric), axis=1)
        return np.clip(total, 0, MAX_SCORE), np.clip(criteria, 0, 1)

    def total_weights(self, scaling: Scaling, rubric: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n, 3) per-output factors and (n,) offsets with total = outputs . factors + offset
        (before clipping): what makes the contributions of the parts add up."""
        share = rubric_share(rubric)
        return MAX_SCORE * share * scaling.std[1:], MAX_SCORE * share @ scaling.mean[1:]

    def loss(self, model, outputs, targets, rubric, scaling, config, l2_scale, weights=None):
        factors, offset = self.total_weights(scaling, rubric)
        total = F.sum(outputs * factors.astype(np.float32), axis=1)  # (B,) minus the offset
        per_essay = np.ones(len(targets)) if weights is None else np.asarray(weights, np.float64)
        known_total = ~np.isnan(targets[:, 0]) * per_essay
        goal = np.nan_to_num((targets[:, 0] - offset) / scaling.std[0]).astype(np.float32)
        diff = total * np.float32(1.0 / scaling.std[0]) - goal
        loss = F.sum(diff * diff * known_total.astype(np.float32))
        standard = (targets[:, 1:] - scaling.mean[1:]) / scaling.std[1:]
        weight = (config.criteria_weight * ~np.isnan(standard)
                  * per_essay[:, None]).astype(np.float32)
        diff = outputs - np.nan_to_num(standard).astype(np.float32)
        loss = (loss + F.sum(diff * diff * weight)) * (1.0 / len(targets))
        return loss + model.wide_penalty(config.l2_wide * l2_scale, config.l2_group * l2_scale)


class SeedFamily(Family):
    """The report's model: sigmoid(mean over tokens) = score / 30, SGD with step decay."""

    name = "seed"
    defaults = {"lr": 0.05, "batch_size": 32}

    def build(self, featurizer, vocabulary, config, vectors=None, log=print, data=None):
        rng = np.random.default_rng(config.seed)
        if vectors is not None:
            matrix, kinds = pretrained_matrix(vocabulary, vectors, rng)
            log(f"embeddings: {len(vocabulary)} morphemes from {vectors.dim}-d vectors, "
                + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
        else:
            matrix = rng.normal(0, 1, (len(vocabulary), config.embedding_dim)).astype(np.float32)
            matrix[0] = 0
        return SeedNet(vocab_size=len(vocabulary), embedding_dim=matrix.shape[1],
                       num_heads=config.num_heads, max_len=config.max_len,
                       train_embeddings=config.train_embeddings, seed=config.seed,
                       embedding_matrix=matrix)

    def rebuild(self, model_config):
        return SeedNet(**{k: v for k, v in model_config.items() if k != "arch"})

    def decode(self, outputs, scaling, rubric):
        return np.clip(outputs[:, 0] * MAX_SCORE, 0, MAX_SCORE), None

    def loss(self, model, outputs, targets, rubric, scaling, config, l2_scale, weights=None):
        if weights is not None and not np.allclose(weights, 1.0):
            raise ValueError("--balance is not supported by --family seed")
        return F.mse_loss(outputs, (targets[:, :1] / MAX_SCORE).astype(np.float32))

    def optimizer(self, model, config):
        return optim.SGD([p for p in model.parameters() if p.requires_grad], lr=config.lr)

    def learning_rate(self, config, epoch):
        return optim.StepDecay(config.lr, 2, 10.0)(epoch)


FAMILIES: dict[str, Family] = {f.name: f for f in (EssayNetFamily(), SeedFamily())}


def get_family(name: str) -> Family:
    if name not in FAMILIES:
        raise ValueError(f"unknown model family {name!r}: expected one of {sorted(FAMILIES)}")
    return FAMILIES[name]
