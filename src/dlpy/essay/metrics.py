"""Scoring metrics on the 0-30 scale: RMSE, Pearson r, quadratic weighted kappa on integer
scores, per-prompt r, and the calibration that turns raw predictions into integer scores."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MAX_SCORE = 30


def _pair(name: str, prediction, target) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(prediction, dtype=np.float64).ravel()
    t = np.asarray(target, dtype=np.float64).ravel()
    if p.shape != t.shape:
        raise ValueError(f"{name}: prediction and target must have the same length, "
                         f"got {p.size} and {t.size}")
    if p.size == 0:
        raise ValueError(f"{name}: needs at least one value")
    return p, t


def rmse(prediction, target) -> float:
    """sqrt(mean((prediction - target)^2))."""
    p, t = _pair("rmse", prediction, target)
    return float(np.sqrt(np.mean((p - t) ** 2)))


def pearson(prediction, target) -> float:
    """Pearson correlation; 0.0 when either side is constant (no linear relation to measure)."""
    p, t = _pair("pearson", prediction, target)
    p = p - p.mean()
    t = t - t.mean()
    denominator = np.sqrt(np.sum(p * p) * np.sum(t * t))
    return float(np.sum(p * t) / denominator) if denominator > 0 else 0.0


def quadratic_weighted_kappa(rater_a, rater_b, min_rating: int = 0,
                             max_rating: int = MAX_SCORE) -> float:
    """Cohen's kappa with weights (i - j)^2 / (K - 1)^2 on integer ratings in [min, max].

    kappa = 1 - sum(W * O) / sum(W * E), O the observed confusion matrix, E the outer product of
    the two histograms scaled to the same total. 1 = perfect agreement, 0 = chance.
    """
    a, b = _pair("quadratic_weighted_kappa", rater_a, rater_b)
    if not (np.all(a == np.round(a)) and np.all(b == np.round(b))):
        raise ValueError("quadratic_weighted_kappa: ratings must be integers (calibrate first)")
    a = a.astype(np.int64) - min_rating
    b = b.astype(np.int64) - min_rating
    num = max_rating - min_rating + 1
    if min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= num:
        raise ValueError(f"quadratic_weighted_kappa: ratings must lie in "
                         f"[{min_rating}, {max_rating}]")
    observed = np.zeros((num, num))
    np.add.at(observed, (a, b), 1.0)
    expected = np.outer(np.bincount(a, minlength=num), np.bincount(b, minlength=num)) / a.size
    i, j = np.indices((num, num))
    weights = (i - j) ** 2 / max(num - 1, 1) ** 2
    denominator = np.sum(weights * expected)
    if denominator == 0:  # both raters gave one and the same rating to everything
        return 1.0 if np.sum(weights * observed) == 0 else 0.0
    return float(1.0 - np.sum(weights * observed) / denominator)


def per_prompt_pearson(prediction, target, prompts: Sequence) -> dict[str, float]:
    """Pearson r within each prompt (prompts: one label per essay)."""
    p, t = _pair("per_prompt_pearson", prediction, target)
    labels = np.asarray([str(x) for x in prompts])
    if labels.size != p.size:
        raise ValueError(f"per_prompt_pearson: {labels.size} prompt labels for {p.size} essays")
    return {str(name): pearson(p[labels == name], t[labels == name])
            for name in dict.fromkeys(labels.tolist())}


def within_group_pearson(prediction, target, groups: Sequence) -> float:
    """Pearson r of the deviations from each group's mean (groups: one label per essay): how well
    the essays are ranked inside their groups, whatever the groups' levels. One-essay groups add
    nothing."""
    p, t = _pair("within_group_pearson", prediction, target)
    _, inverse = np.unique(np.asarray(groups), return_inverse=True)
    if inverse.size != p.size:
        raise ValueError(f"within_group_pearson: {inverse.size} group labels for {p.size} essays")
    inverse = inverse.reshape(-1)
    counts = np.bincount(inverse)
    return pearson(p - (np.bincount(inverse, p) / counts)[inverse],
                   t - (np.bincount(inverse, t) / counts)[inverse])


def band_residuals(prediction, target, bands: Sequence[tuple[float, float]]) -> dict[str, dict]:
    """Per score band [low, high) of the target: n, mean residual (prediction - target) and
    RMSE. Regression to the mean shows as positive residuals in the low bands."""
    p, t = _pair("band_residuals", prediction, target)
    out = {}
    for low, high in bands:
        m = (t >= low) & (t < high)
        name = f"<{high:g}" if low <= 0 else (f">={low:g}" if high > MAX_SCORE
                                               else f"{low:g}-{high:g}")
        residual = p[m] - t[m]
        out[name] = {"n": int(m.sum()),
                     "mean_residual": float(residual.mean()) if m.any() else float("nan"),
                     "rmse": float(np.sqrt(np.mean(residual ** 2))) if m.any() else float("nan")}
    return out


class Calibration:
    """Maps raw predictions to integer scores whose distribution matches the targets'.

    Regression shrinks predictions toward the mean; rounding them would give nearly every essay
    the same integer. Fitted on held-out predictions of the training data: the thresholds are
    the quantiles of the predictions at the cumulative shares of the rounded targets, so the
    calibrated scores have the targets' histogram.

    The tails are the exception. A score that only a handful of the fitting essays hold would
    get a threshold at one extreme prediction, so that any lower prediction lands on it (a raw
    14.2 calibrated to 3 because two essays of 3,804 scored 3). So the rarest scores at either
    end are pooled until each end holds at least ``min_share`` of the essays (and at least
    one): the lowest pooled score ``low`` is what a prediction under the first threshold gets,
    unless its own rounding is lower still (and likewise ``high`` at the top). The calibrated
    scores are non-decreasing in the prediction.
    """

    def __init__(self, thresholds: Sequence[float] = (), low: int = 0,
                 high: int | None = None, raw_tails: bool = False):
        self.thresholds = np.asarray(thresholds, dtype=np.float64)
        self.low = int(low)
        self.high = self.low + self.thresholds.size if high is None else int(high)
        self.raw_tails = bool(raw_tails)  # beyond the end thresholds, the rounded prediction

    @classmethod
    def fit(cls, prediction, target, min_share: float = 0.005) -> Calibration:
        p, t = _pair("Calibration.fit", prediction, target)
        if not 0 <= min_share < 0.5:
            raise ValueError(f"Calibration.fit: min_share must lie in [0, 0.5), got {min_share}")
        labels = np.clip(np.round(t), 0, MAX_SCORE).astype(np.int64)
        counts = np.bincount(labels, minlength=MAX_SCORE + 1)
        need = max(1, int(np.ceil(min_share * labels.size)))
        low = int(np.argmax(np.cumsum(counts) >= need))  # the lowest score that ends a tail
        high = int(MAX_SCORE - np.argmax(np.cumsum(counts[::-1]) >= need))
        if low >= high:  # every essay holds one score: nothing to match, plain rounding
            return cls()
        shares = np.cumsum(counts)[low:high] / labels.size  # at or below low, low + 1, ...
        return cls(np.quantile(p, shares), low, high, raw_tails=True)

    def __call__(self, prediction) -> np.ndarray:
        p = np.asarray(prediction, dtype=np.float64)
        if self.thresholds.size == 0:  # not fitted
            return np.clip(np.round(p), 0, MAX_SCORE).astype(np.int64)
        scores = self.low + np.searchsorted(self.thresholds, p, side="right")
        if self.raw_tails:
            rounded = np.clip(np.round(p), 0, MAX_SCORE).astype(np.int64)
            scores = np.where(scores == self.low, np.minimum(scores, rounded), scores)
            scores = np.where(scores == self.high, np.maximum(scores, rounded), scores)
        return scores.astype(np.int64)

    def to_dict(self) -> dict:
        return {"thresholds": self.thresholds.tolist(), "low": self.low, "high": self.high,
                "raw_tails": self.raw_tails}

    @classmethod
    def from_dict(cls, state: dict) -> Calibration:
        return cls(state.get("thresholds", ()), state.get("low", 0), state.get("high"),
                   state.get("raw_tails", False))


def report(prediction, target, prompts: Sequence | None = None,
           calibration: Calibration | None = None) -> dict:
    """All metrics as a JSON-able dict: n, rmse, pearson (raw), qwk (calibrated integers),
    qwk_rounded (plain rounding), per_prompt r."""
    p, t = _pair("report", prediction, target)
    calibration = calibration or Calibration()
    truth = np.clip(np.round(t), 0, MAX_SCORE)
    out = {
        "n": int(p.size),
        "rmse": rmse(p, t),
        "pearson": pearson(p, t),
        "qwk": quadratic_weighted_kappa(calibration(p), truth),
        "qwk_rounded": quadratic_weighted_kappa(np.clip(np.round(p), 0, MAX_SCORE), truth),
    }
    out["per_prompt"] = per_prompt_pearson(p, t, prompts) if prompts is not None else {}
    return out
