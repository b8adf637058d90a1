"""Scoring with a trained model: the `Scorer` loads a model file and predicts. It never imports
training (`dlpy.essay.train` makes Scorers; this module only uses them).

    scorer = Scorer.load("runs/essay/model.npz")            # or load_scorer(path)
    result = scorer.score("essay text ...", prompt="나의 위인전")  # ScoreResult
    scores, criteria = scorer.predict(docs)
    parts = scorer.contributions(doc)     # base + sum of the parts == the unclipped score

A model file is one `nn.save_checkpoint` file: the parameters, the featurizer's arrays as extras,
and JSON metadata (config, family, featurizer, vocabulary, scaling, calibration, info).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import dlpy.functional as F
from dlpy import nn
from dlpy.essay.config import EssayConfig
from dlpy.essay.families import Family, Scaling, get_family
from dlpy.essay.features import CRITERIA, Doc, Featurizer, Vocabulary, doc_from_text
from dlpy.essay.metrics import Calibration
from dlpy.tensor import no_grad

FORMAT = "dlpy-essay-2"
MODEL_FILE = "model.npz"


def text_sha256(text: str) -> str:
    """The fingerprint of one essay's text (what `training_sha256` lists, 16 hex digits)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class Encoded:
    """Docs turned into model inputs once: sparse n-gram rows, statistics, category and prompt
    ids, rubric weights, morpheme ids, the pretrained LM's features (with that input), and the
    targets [total, criteria] (NaN where unknown)."""

    def __init__(self, docs: Sequence[Doc], featurizer: Featurizer, vocabulary: Vocabulary,
                 max_len: int, with_wide: bool = True):
        # n-gram rows are made per batch (cheap, vectorised): kept for 38k essays they would
        # take gigabytes
        self.docs = list(docs) if with_wide else None
        self.featurizer = featurizer
        self.stats = featurizer.statistics(docs)
        self.lm = featurizer.lm_inputs(docs) if with_wide else None
        self.prompt = np.array([featurizer.prompt_id(d.prompt) for d in docs], dtype=np.int64)
        self.category = np.array([featurizer.category_id(featurizer.category_of(d))
                                  for d in docs], dtype=np.int64)
        self.rubric = np.array([featurizer.rubric_of(d) for d in docs],
                               dtype=np.float64).reshape(len(docs), 3)
        self.ids = [vocabulary.encode(d, max_len) for d in docs]
        self.lengths = np.array([len(i) for i in self.ids], dtype=np.int64)
        self.num_ngrams = featurizer.num_ngrams
        targets = np.full((len(docs), 1 + len(CRITERIA)), np.nan, dtype=np.float64)
        for i, d in enumerate(docs):
            if d.score is not None:
                targets[i, 0] = d.score
            if d.criteria is not None:
                targets[i, 1:] = d.criteria
        self.targets = targets

    def __len__(self) -> int:
        return len(self.ids)

    def row(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Essay i's TF-IDF row (indices, values)."""
        return self.featurizer.ngrams(self.docs[i])

    def batch(self, index: np.ndarray) -> dict:
        length = int(self.lengths[index].max())
        ids = np.zeros((len(index), length), dtype=np.int64)
        for row, i in enumerate(index):
            ids[row, :self.lengths[i]] = self.ids[i]
        out = {"ids": ids, "padding": ids == 0, "stats": self.stats[index],
               "prompt": self.prompt[index], "category": self.category[index]}
        if self.docs is not None:
            out["wide"] = F.SparseRows.from_rows([self.row(i) for i in index], self.num_ngrams)
        if self.lm is not None:
            out["lm"] = self.lm[index]
        return out


@dataclass
class ScoreResult:
    """One essay's score: total 0-30 (None when the model gave no finite number), calibrated
    integer, criteria 0-3 by name, and warnings for the reader."""

    score: float | None
    integer: int | None
    criteria: dict[str, float] | None
    prompt: str
    category: str
    warnings: list[str]

    def to_dict(self) -> dict:
        return {"score": self.score, "integer": self.integer, "criteria": self.criteria,
                "prompt": self.prompt or None, "category": self.category or None,
                "warnings": self.warnings}


class Scorer:
    """A trained model with everything needed to score text: family, featurizer, vocabulary,
    target scaling and calibration. `info` holds what training recorded (validation metrics,
    `training_sha256`, `ood` statistics, `prompt_categories`)."""

    def __init__(self, family: Family, model: nn.Module, featurizer: Featurizer,
                 vocabulary: Vocabulary, scaling: Scaling, config: EssayConfig,
                 calibration: Calibration | None = None, info: dict | None = None):
        self.family, self.model = family, model
        self.featurizer, self.vocabulary = featurizer, vocabulary
        self.scaling, self.config = scaling, config
        self.calibration = calibration or Calibration()
        self.info = info or {}

    @property
    def prompts(self) -> list[str]:
        return self.featurizer.prompts

    def prompts_by_category(self) -> dict[str, list[str]]:
        """{category: [prompt titles]} in the model's prompt order."""
        out: dict[str, list[str]] = {}
        for prompt in self.prompts:
            category = self.featurizer.prompt_info.get(prompt, {}).get("category", "")
            out.setdefault(category, []).append(prompt)
        return dict(sorted(out.items()))

    def encode(self, docs: Sequence[Doc]) -> Encoded:
        return Encoded(docs, self.featurizer, self.vocabulary, self.config.max_len,
                       with_wide=self.family.uses_wide)

    def raw_outputs(self, data: Encoded, batch_size: int = 64) -> np.ndarray:
        self.model.eval()
        order = np.argsort(data.lengths, kind="stable")
        outputs = None
        with no_grad():
            for start in range(0, len(order), batch_size):
                index = order[start:start + batch_size]
                values = self.model(data.batch(index)).data
                if outputs is None:
                    outputs = np.zeros((len(data), values.shape[1]), dtype=np.float64)
                outputs[index] = values
        return outputs if outputs is not None else np.zeros((0, 1))

    def decode(self, outputs: np.ndarray, rubric: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray | None]:
        """Outputs -> (total 0-30, criteria 0-1 or None); a non-finite output stays NaN."""
        return self.family.decode(outputs, self.scaling, rubric)

    def predict_encoded(self, data: Encoded) -> tuple[np.ndarray, np.ndarray | None]:
        return self.decode(self.raw_outputs(data), data.rubric)

    def predict(self, docs: Sequence[Doc]) -> tuple[np.ndarray, np.ndarray | None]:
        """(scores (n,) 0-30, criteria (n, 3) 0-1 or None); NaN where the model failed."""
        return self.predict_encoded(self.encode(docs))

    def doc(self, text: str, prompt: str = "", analyzer=None) -> Doc:
        """A Doc for new text on one of the model's prompts (or "" for none)."""
        category = self.featurizer.prompt_info.get(prompt, {}).get("category", "")
        return doc_from_text(text, prompt, self.featurizer.prompt_texts.get(prompt, ""),
                             analyzer=analyzer, category=category)

    def score(self, text: str | Doc, prompt: str = "", analyzer=None) -> ScoreResult:
        """Score one essay. A NaN prediction is never given as a score: score is None and a
        warning says why."""
        doc = text if isinstance(text, Doc) else self.doc(text, prompt, analyzer)
        scores, criteria = self.predict([doc])
        warnings = []
        if doc.prompt and doc.prompt not in self.featurizer.prompt_index:
            warnings.append(f"prompt {doc.prompt!r} is not one the model was trained on; "
                            "scored with the shared weights only")
        value = float(scores[0])
        if not math.isfinite(value):
            warnings.append("the model gave no finite score for this essay")
            return ScoreResult(None, None, None, doc.prompt, doc.category, warnings)
        by_name = None
        if criteria is not None and np.all(np.isfinite(criteria[0])):
            by_name = {name: round(float(v) * 3, 2) for name, v in zip(CRITERIA, criteria[0])}
        return ScoreResult(round(value, 2), int(self.calibration(scores)[0]), by_name,
                           doc.prompt, self.featurizer.category_of(doc), warnings)

    def contributions(self, doc: Doc, top: int = 0) -> dict:
        """The unclipped total of one essay split into parts, in score points:
        {"base", "parts": {name: pts}, "ngrams": {ngram: pts}, "stats": {name: pts},
        "total"} with base + sum(parts) == total (parts: wide, bias, stats, stats_mlp, and deep
        and lm when the model has them). `ngrams` splits the wide part (sums to
        parts["wide"]), `stats` the per-group linear statistics part (sums to
        parts["stats"]); top > 0 keeps the largest |pts| only. EssayNet only."""
        if not self.family.uses_wide:
            raise ValueError(f"contributions: the {self.family.name} family has no wide part")
        data = self.encode([doc])
        batch = data.batch(np.array([0]))
        self.model.eval()
        with no_grad():
            parts = {k: v.data[0].astype(np.float64) for k, v in self.model.parts(batch).items()}
        factors, offset = self.family.total_weights(self.scaling, data.rubric)
        factors = factors[0]
        points = {k: float(v @ factors) for k, v in parts.items()}
        model = self.model
        # the wide part entry by entry (an n-gram's shared weight and its copies' weights)
        rows = model.wide_input(batch["wide"], data.category[:1], batch["prompt"])
        entry_points = (rows.values.astype(np.float64)
                        * (model.wide_weight.data[rows.indices].astype(np.float64) @ factors)
                        * model.wide_gain)
        ngram_of = model.ngram_of_rows(rows.indices)
        ngrams = {self.featurizer.vocabulary[i]: 0.0 for i in np.unique(ngram_of)}
        for i, point in zip(ngram_of, entry_points):
            ngrams[self.featurizer.vocabulary[i]] += float(point)
        selector = model.selector(batch)[0]
        w = model.stats_linear.linear.weight.data.astype(np.float64)  # (3 * (1 + G), s)
        w = w.reshape(1 + model.num_prompts + model.num_categories, 3, -1)
        effective = np.einsum("g,gks->ks", selector, w) * model.stats_linear.gain  # (3, s)
        stat_points = data.stats[0] * (factors @ effective)
        stats = {name: float(p) for name, p in zip(self.featurizer.stat_names, stat_points)}
        if top > 0:
            ngrams = dict(sorted(ngrams.items(), key=lambda kv: -abs(kv[1]))[:top])
            stats = dict(sorted(stats.items(), key=lambda kv: -abs(kv[1]))[:top])
        total = float(offset[0]) + sum(points.values())
        return {"base": float(offset[0]), "parts": points, "ngrams": ngrams, "stats": stats,
                "total": total}

    # ----------------------------------------------------------------- files
    def save(self, path: str | os.PathLike, dtype=np.float32, compress: bool = True) -> None:
        """One nn.save_checkpoint file (atomic, no pickle), deflated unless ``compress`` is
        False; dtype float16 halves the weights."""
        meta = {"format": FORMAT, "family": self.family.name, "config": self.config.to_dict(),
                "model_config": self.model.config, "featurizer": self.featurizer.to_dict(),
                "vocabulary": self.vocabulary.words, **self.scaling.to_dict(),
                "calibration": self.calibration.to_dict(), "info": self.info}
        params = list(self.model.parameters())
        kept = [p.data for p in params]
        try:
            for p in params:
                p.data = p.data.astype(dtype)
            nn.save_checkpoint(path, self.model, extra=self.featurizer.arrays(), meta=meta,
                               compress=compress)
        finally:
            for p, data in zip(params, kept):
                p.data = data

    @classmethod
    def load(cls, path: str | os.PathLike) -> Scorer:
        return load_scorer(path)


def load_scorer(path: str | os.PathLike) -> Scorer:
    """A Scorer from Scorer.save's file; every error names the file."""
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such model file (train one with `dlpy essay train`)")
    try:
        arrays = nn.load_npz(path)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as err:
        raise ValueError(f"{path}: not a readable model file; is it cut short or damaged? "
                         f"({type(err).__name__}: {err})") from None
    try:
        meta = json.loads(arrays["__meta__"].tobytes().decode("utf-8"))
        if meta.get("format") != FORMAT:
            raise KeyError(f"format {meta.get('format')!r}, expected {FORMAT!r}")
        family = get_family(meta["family"])
        config = EssayConfig.from_dict(meta["config"])
        extras = {k[len("extra/"):]: v for k, v in arrays.items() if k.startswith("extra/")}
        featurizer = Featurizer.from_dict(meta["featurizer"], extras)
        vocabulary = Vocabulary(meta["vocabulary"])
        model = family.rebuild(meta["model_config"])
        params = {k[len("param/"):]: v for k, v in arrays.items() if k.startswith("param/")}
        model.load_state_dict(params)
    except (KeyError, ValueError, TypeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a dlpy essay model ({err})") from None
    return Scorer(family, model, featurizer, vocabulary,
                  Scaling(meta["target_mean"], meta["target_std"]), config,
                  Calibration.from_dict(meta["calibration"]), meta.get("info", {}))
