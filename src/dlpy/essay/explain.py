"""Why an essay got its score, from the model itself.

EssayNet's outputs are a sum of parts (dlpy.essay.model) and the total is linear in them
(total = outputs . factors + offset, the rubric's weights: family.total_weights), so the total
splits along the parts, and each part is decomposed exactly (Scorer.contributions gives the
wide and linear statistics terms; the rest is done here):

    wide:   sum_j x_j * w_j                 one term per n-gram of the essay (TF-IDF x weight)
    stats:  sum_i z_i * v_i                 one term per text statistic (the per-prompt Linear)
    mlp:    W2 D (W1 [z, sel] + b1) + b2    D = the active ReLUs: piecewise linear, so the
                                            gradient x input of each statistic is exact
    deep:   gradient x input of each morpheme's embedding (dlpy's backward), plus the rest
            of the deep output as one term (gradient x input is not exact for attention)
    lm:     the pretrained LM features' part as one term (it sees the whole essay at once)

so base + sum(contributions) equals the unclipped prediction (tested). N-gram terms are spread
over the characters they cover (each occurrence gets an equal share, each character of it an
equal share of that), which gives sentences and words that raised or lowered the score.

    explanation = explain(scorer, prepared)    # prepared: PreparedEssay (dlpy.essay.service)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

import dlpy.functional as F
from dlpy.essay.model import masked_mean
from dlpy.tensor import Tensor


@dataclass
class Span:
    """A stretch of the essay text [start, end) and what it did to the score (points of 30)."""

    start: int
    end: int
    contribution: float
    text: str = ""

    def to_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "text": self.text,
                "contribution": round(self.contribution, 4)}


@dataclass
class Explanation:
    """Contributions to the total score in points (0-30 scale).

    base + sum(ngrams) + sum(statistics) + deep_tokens.sum() + deep_rest + lm == prediction
    (before clipping to [0, 30]); `model_output` is what the model itself gave, for checking.
    `lm` is None for a model without the pretrained LM input."""

    base: float
    ngrams: dict[str, float]
    statistics: dict[str, float]
    deep_tokens: np.ndarray            # one per morpheme seen by the deep part
    deep_rest: float
    model_output: float
    per_char: np.ndarray               # the n-gram and deep-token terms spread over the text
    unplaced: float                    # n-gram mass that could not be placed on the text
    sentences: list[Span] = field(default_factory=list)
    words: list[Span] = field(default_factory=list)
    lm: float | None = None

    @property
    def total(self) -> float:
        return (self.base + sum(self.ngrams.values()) + sum(self.statistics.values())
                + float(self.deep_tokens.sum()) + self.deep_rest + (self.lm or 0.0))

    def parts(self) -> dict[str, float]:
        parts = {"base": self.base, "ngrams": float(sum(self.ngrams.values())),
                 "statistics": float(sum(self.statistics.values())),
                 "deep": float(self.deep_tokens.sum()) + self.deep_rest}
        if self.lm is not None:
            parts["lm"] = self.lm
        return parts

    def top_words(self, k: int = 8) -> list[Span]:
        """The k words that raised the score most and the k that lowered it most."""
        ranked = sorted(self.words, key=lambda s: s.contribution)
        low = [s for s in ranked[:k] if s.contribution < 0]
        high = [s for s in ranked[::-1][:k] if s.contribution > 0]
        return high + low

    def to_dict(self, top: int = 8) -> dict:
        statistics = sorted(self.statistics.items(), key=lambda kv: -abs(kv[1]))[:top]
        ngrams = sorted(self.ngrams.items(), key=lambda kv: -abs(kv[1]))[:2 * top]
        return {
            "base": round(self.base, 4), "total": round(self.total, 4),
            "model_output": round(self.model_output, 4),
            "parts": {k: round(v, 4) for k, v in self.parts().items()},
            "sentences": [s.to_dict() for s in self.sentences],
            "words": [s.to_dict() for s in self.top_words(top)],
            "statistics": [{"name": k, "contribution": round(v, 4)} for k, v in statistics],
            "ngrams": [{"ngram": k, "contribution": round(v, 4)} for k, v in ngrams],
        }


# --------------------------------------------------------------------------- the model's parts

def _mlp_terms(model, stats: np.ndarray, selector: np.ndarray, direction: np.ndarray
               ) -> tuple[np.ndarray, float]:
    """The statistics MLP's output along `direction`, split exactly: (s,) terms, one per
    statistic, and the constant (selector and biases). With D the active ReLUs,
    out = W2 D (W1 x + b1) + b2 is linear in x."""
    x = np.concatenate([stats, selector]).astype(np.float64)
    w1 = model.stats_hidden.weight.data.astype(np.float64)
    b1 = model.stats_hidden.bias.data.astype(np.float64)
    w2 = direction @ model.stats_out.weight.data.astype(np.float64)   # (hidden,)
    b2 = float(direction @ model.stats_out.bias.data.astype(np.float64))
    active = (w1 @ x + b1) > 0
    through = (w2 * active) @ w1                                        # (in,)
    s = stats.size
    constant = float(through[s:] @ x[s:] + (w2 * active) @ b1 + b2)
    return through[:s] * x[:s], constant


def _deep_terms(model, ids: np.ndarray, selector: np.ndarray, direction: np.ndarray
                ) -> tuple[np.ndarray, float]:
    """Gradient x input of each morpheme's embedding for the deep output along `direction`
    (dlpy's backward), and that output. ids: (T,)."""
    padding = np.zeros((1, ids.size), dtype=bool)
    embedded = model.embedding(ids[None, :]).data
    leaf = Tensor(embedded.astype(np.float32), requires_grad=True)
    x = model.project(leaf)
    x = model.positions(x)
    x = x + Tensor((selector[None, :] @ model.prompt_embedding.weight.data)
                   .astype(np.float32))[:, None, :]
    x = model.encoder(x, src_key_padding_mask=padding)
    out = model.deep_out(masked_mean(x, padding))   # (1, outputs)
    along = F.sum(out * direction[None, :].astype(np.float32))
    along.backward()
    per_token = (leaf.grad.data[0].astype(np.float64) * embedded[0]).sum(axis=1)
    return per_token, float(along.data)


@dataclass
class _Terms:
    base: float
    ngrams: dict[str, float]
    statistics: dict[str, float]
    deep_tokens: np.ndarray
    deep_rest: float
    model_output: float
    lm: float | None = None


def _scorer_terms(scorer, doc, data) -> _Terms:
    """Scorer.contributions splits the wide and the linear statistics parts; the statistics
    MLP and the deep part are split here."""
    c = scorer.contributions(doc)
    model = scorer.model
    batch = data.batch(np.array([0]))
    selector = model.selector(batch)[0].astype(np.float64)
    factors, _ = scorer.family.total_weights(scorer.scaling, data.rubric)
    direction = np.asarray(factors[0], dtype=np.float64)
    parts = dict(c["parts"])
    statistics = dict(c["stats"])
    base = c["base"] + parts.pop("bias", 0.0)
    parts.pop("wide", None)
    parts.pop("stats", None)
    if "stats_mlp" in parts:
        mlp, constant = _mlp_terms(model, data.stats[0].astype(np.float64), selector, direction)
        for name, t in zip(scorer.featurizer.stat_names, mlp):
            statistics[name] = statistics.get(name, 0.0) + float(t)
        base += constant
        parts.pop("stats_mlp")
    deep_tokens, deep_rest = np.zeros(0), 0.0
    if "deep" in parts:
        deep_tokens, _ = _deep_terms(model, data.ids[0], selector, direction)
        deep_rest = parts.pop("deep") - float(deep_tokens.sum())
    lm = parts.pop("lm", None)
    base += sum(parts.values())  # any part not split above counts as a constant
    return _Terms(float(base), dict(c["ngrams"]), statistics, deep_tokens, float(deep_rest),
                  float(c["total"]), lm)


# --------------------------------------------------------------------------- mapping to text

def _collapsed(text: str) -> tuple[str, list[int]]:
    """The featurizer's view of the text (whitespace runs -> one space, lower case) and, for
    each of its characters, the position in `text` it came from."""
    out, where = [], []
    in_space = False
    for i, c in enumerate(text):
        if c.isspace():
            if in_space:
                continue
            c, in_space = " ", True
        else:
            in_space = False
        out.append(c)
        where.append(i)
    lowered = "".join(out).lower()
    if len(lowered) != len(out):  # a character whose lower case is longer: keep the original
        lowered = "".join(out)
    return lowered, where


def _spread(terms: dict[str, float], keys: list[str], starts: list[int], ends: list[int],
            size: int) -> tuple[np.ndarray, set[str]]:
    """Each key's term shared out over its occurrences (keys[i] covers [starts[i], ends[i]))
    and, within one, over its characters: the (size,) mass per position, and the keys placed."""
    widths = np.maximum(np.asarray(ends) - np.asarray(starts), 1)
    width_of: dict[str, int] = {}
    for key, width in zip(keys, widths.tolist()):
        width_of[key] = width_of.get(key, 0) + width
    per_position = np.array([terms.get(k, 0.0) / width_of[k] for k in keys])
    diff = np.zeros(size + 1)
    np.add.at(diff, np.asarray(starts, dtype=np.int64), per_position)
    np.add.at(diff, np.asarray(starts, dtype=np.int64) + widths, -per_position)
    return np.cumsum(diff)[:-1], {k for k in width_of if k in terms}


def _spread_chars(text: str, ngrams: dict[str, float], per_char: np.ndarray) -> set[str]:
    """Add each character n-gram's term to the characters it covers; return the keys placed."""
    view, where = _collapsed(text)
    keys, starts, ends = [], [], []
    for n in (1, 2, 3):  # features.char_ngrams' orders
        count = len(view) - n + 1
        keys += ["c:" + view[i:i + n] for i in range(count)]
        starts += range(count)
        ends += range(n, count + n)
    if not keys:
        return set()
    mass, placed = _spread(ngrams, keys, starts, ends, len(view))
    np.add.at(per_char, np.asarray(where, dtype=np.int64), mass)
    return placed


def _spread_morphemes(ngrams: dict[str, float], morphemes: list[str],
                      spans: list[tuple[int, int]], per_char: np.ndarray) -> set[str]:
    """Add each morpheme uni/bigram's term to the characters of its morphemes."""
    keys = ["m:" + m for m in morphemes]
    starts = [start for start, _ in spans]
    ends = [max(end, start + 1) for start, end in spans]
    keys += [f"m:{a} {b}" for a, b in zip(morphemes, morphemes[1:])]
    ends += [max(spans[i + 1][1], spans[i][0] + 1) for i in range(len(morphemes) - 1)]
    starts += starts[:len(morphemes) - 1]
    if not keys:
        return set()
    mass, placed = _spread(ngrams, keys, starts, ends, per_char.size)
    per_char += mass
    return placed


def _word_spans(text: str, per_char: np.ndarray) -> list[Span]:
    running = np.concatenate([[0.0], np.cumsum(per_char)])
    return [Span(m.start(), m.end(), float(running[m.end()] - running[m.start()]), m.group())
            for m in re.finditer(r"\S+", text)]


# --------------------------------------------------------------------------- explain

def explain(scorer, prepared, data=None) -> Explanation:
    """The contributions to `prepared`'s total score (see the module docstring).

    scorer: a dlpy.essay.scorer.Scorer of the EssayNet family; prepared: a PreparedEssay (its
    Doc, the morphemes' character spans and the sentences' spans); data: the Doc already
    encoded (scorer.encode), to save the time."""
    doc = prepared.doc
    if not scorer.family.uses_wide:
        raise ValueError(f"explain: needs an EssayNet model, got the {scorer.family.name!r} "
                         "family")
    scorer.model.eval()
    data = data if data is not None else scorer.encode([doc])
    terms = _scorer_terms(scorer, doc, data)

    per_char = np.zeros(len(doc.text), dtype=np.float64)
    placed = _spread_chars(doc.text, terms.ngrams, per_char)
    placed |= _spread_morphemes(terms.ngrams, doc.morphemes, prepared.morpheme_spans, per_char)
    for i, value in enumerate(terms.deep_tokens):
        start, end = prepared.morpheme_spans[i]
        per_char[start:max(end, start + 1)] += value / max(end - start, 1)
    unplaced = float(sum(v for k, v in terms.ngrams.items() if k not in placed))
    sentences = [Span(start, end, float(per_char[start:end].sum()), doc.text[start:end])
                 for start, end in prepared.sentence_spans]
    return Explanation(base=terms.base, ngrams=terms.ngrams, statistics=terms.statistics,
                       deep_tokens=terms.deep_tokens, deep_rest=terms.deep_rest,
                       model_output=terms.model_output, per_char=per_char, unplaced=unplaced,
                       sentences=sentences, words=_word_spans(doc.text, per_char), lm=terms.lm)
