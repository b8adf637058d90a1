"""The pretrained Korean LM's pooled features as an EssayNet input (`--lm-features`).

    lm = LMFeatures.fit(train_docs, "bundled")   # or a folder with model.npz + tokenizer.model
    x = lm(docs)                                 # (n, 256) standardised by the training docs

The features are dlpy.lm's `pooled_features` of the whole essay (the mean of the frozen
encoder's final hidden states over every token, read in consecutive 128-token windows), cached
on disk per LM and text (dlpy.lm.features). The model file stores the LM's name (the option's
value), the SHA-256 of its files and the training mean and std, so scoring computes the same
features; a missing LM, or an LM that is not the one trained with, is an error naming it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

BUNDLED = "bundled"
_LOADED: dict[str, object] = {}


def lm_folder(spec: str) -> Path:
    """The folder the option names: "bundled" is dlpy.lm's bundled encoder."""
    if spec == BUNDLED:
        from dlpy.lm.fill import BUNDLED as folder

        return folder
    path = Path(spec).expanduser()
    return path.parent if path.is_file() else path


def check_lm(spec: str) -> Path:
    """The LM's folder; FileNotFoundError naming it when its weights or tokenizer are missing."""
    from dlpy.lm.fill import WEIGHTS

    folder = lm_folder(spec)
    if not any((folder / name).is_file() for name in WEIGHTS) \
            or not (folder / "tokenizer.model").is_file():
        raise FileNotFoundError(
            f"{folder}: no pretrained LM there (model.npz or checkpoint.npz, and "
            f"tokenizer.model); --lm-features {spec} names it (`dlpy lm export RUN --out "
            "FOLDER` writes one)")
    return folder


def load_lm(spec: str):
    """The PretrainedLM the option names, loaded once per process."""
    folder = check_lm(spec)
    key = str(folder.resolve())
    if key not in _LOADED:
        from dlpy.lm import load_pretrained

        _LOADED[key] = load_pretrained(folder)
    return _LOADED[key]


class LMFeatures:
    """The fitted state of the LM input: the LM's name and fingerprint, and the training
    features' mean and std (per dimension)."""

    def __init__(self, spec: str, fingerprint: str, mean: np.ndarray, std: np.ndarray):
        self.spec, self.fingerprint = spec, fingerprint
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)

    @property
    def dim(self) -> int:
        return int(self.mean.size)

    @classmethod
    def fit(cls, docs: Sequence, spec: str, show_progress: bool = False) -> LMFeatures:
        lm = load_lm(spec)
        raw = raw_features(lm, docs, show_progress)
        return cls(spec, lm.fingerprint(), raw.mean(0), raw.std(0) + 1e-6)

    def lm(self):
        """The LM, checked to be the one the features were fitted with."""
        lm = load_lm(self.spec)
        if lm.fingerprint() != self.fingerprint:
            raise ValueError(
                f"{lm.weights_path or lm_folder(self.spec)}: not the pretrained LM this essay "
                f"model was trained with (SHA-256 {lm.fingerprint()[:16]}, expected "
                f"{self.fingerprint[:16]}); retrain the essay model or restore that LM")
        return lm

    def __call__(self, docs: Sequence, show_progress: bool = False) -> np.ndarray:
        """(n, dim) float32: standardised by the training mean and std, clipped to [-5, 5]."""
        raw = raw_features(self.lm(), docs, show_progress)
        return np.clip((raw - self.mean) / self.std, -5, 5).astype(np.float32)

    def to_dict(self) -> dict:
        return {"spec": self.spec, "fingerprint": self.fingerprint}

    def arrays(self) -> dict[str, np.ndarray]:
        return {"lm_mean": self.mean, "lm_std": self.std}

    @classmethod
    def from_dict(cls, state: dict, arrays: dict[str, np.ndarray]) -> LMFeatures:
        check_lm(state["spec"])  # a missing LM is an error when the model loads
        return cls(state["spec"], state["fingerprint"], arrays["lm_mean"], arrays["lm_std"])


def raw_features(lm, docs: Sequence, show_progress: bool = False) -> np.ndarray:
    """(n, d_model) pooled features of the docs' texts. Essays of a corpus (docs with an id)
    go through the on-disk cache, which the folds of a CV and the arms of an ablation share; a
    new essay being scored (no id) is computed and not stored, so a scoring service does not
    write a file per request."""
    from dlpy.lm.features import cached_pooled_features

    from_corpus = np.array([bool(getattr(d, "id", None)) for d in docs], dtype=bool)
    out = np.zeros((len(docs), lm.model.lm_config.d_model), dtype=np.float32)
    for cached in (True, False):
        rows = np.flatnonzero(from_corpus == cached)
        if rows.size:
            out[rows] = cached_pooled_features(lm, [docs[i].text for i in rows],
                                               use_cache=cached, show_progress=show_progress)
    return out
