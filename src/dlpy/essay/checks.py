"""Warnings instead of confident nonsense: text the scorer should not be trusted on.

    warnings = check_text(text)                     # before analysis: empty, not Korean, ...
    warnings += check_doc(doc, reference, spans)    # after: shuffled, out of distribution

Each warning is a dict {"code", "en", "ko"}: a stable code for programs, a sentence for people
in English and in Korean. The thresholds are set from the 3,609 development essays (their
measurements are in docs/serve.md): a typical essay never trips them.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dlpy.essay.features import prompt_copy_share

MIN_CHARS = 100              # no development essay is shorter than 160 characters
MIN_HANGUL_SHARE = 0.6       # Hangul among letters; the development essays: >= 0.93
REPEATED_SENTENCES = 0.3     # share of sentences that are copies of an earlier one
MIN_COMPRESSION = 0.22       # zlib bytes / UTF-8 bytes; development essays >= 0.30
MIN_PAIR_COVERAGE = 0.33     # familiar pairs across word boundaries; development essays
                             # >= 0.36 (1st percentile 0.40), words shuffled: median 0.28
MAX_RMS_Z = 2.5              # rms of the standardised statistics; dev 99th pct. 1.63, max 1.92
MIN_NGRAM_COVERAGE = 0.5     # known character 1-3-grams; development essays >= 0.74
PROMPT_COPY = 0.5            # share of the essay's 4-grams found in its prompt's text: 82 of
                             # the 38,626 aihub-train essays (99th pct. 0.28); of the 14 at
                             # >= 0.8, 7 scored under 5 (docs/serve.md)
# The two coverage thresholds hold for a vocabulary of this many character and as many morpheme
# n-grams (a larger one knows more pairs, shuffled ones included): a model with more is checked
# against its most frequent ones (reference_vocabulary).
CHECK_NGRAMS = 20000

_HANGUL = re.compile("[\uac00-\ud7a3\u3131-\u318e]")
_LETTER = re.compile(r"[^\W\d_]")


def warning(code: str, en: str, ko: str) -> dict:
    return {"code": code, "en": en, "ko": ko}


@dataclass
class Reference:
    """What the scorer learned the usual essay looks like: `standardise(doc)` gives the essay's
    text statistics standardised by the training essays' mean and std (the featurizer's),
    `vocabulary` the n-gram keys it knows, `max_rms_z` the distance beyond which an essay is
    unlike the training essays."""

    standardise: Callable[[object], np.ndarray]
    vocabulary: set[str]
    max_rms_z: float = MAX_RMS_Z


def reference_vocabulary(vocabulary: list[str], per_kind: int = CHECK_NGRAMS) -> set[str]:
    """The `per_kind` most frequent character ("c:") and morpheme ("m:") n-grams of a
    featurizer's vocabulary (each block is stored most frequent first): the vocabulary the
    coverage thresholds were set on, whatever size the model's is."""
    out: set[str] = set()
    for kind in ("c:", "m:"):
        out.update([g for g in vocabulary if g.startswith(kind)][:per_kind])
    return out


def hangul_share(text: str) -> float:
    letters = _LETTER.findall(text)
    return len(_HANGUL.findall(text)) / len(letters) if letters else 0.0


def check_text(text: str) -> list[dict]:
    """Warnings that need only the text: empty, not Korean, too short, repeated."""
    compact = re.sub(r"\s+", "", text)
    if not compact:
        return [warning("empty", "The essay is empty.", "글이 비어 있습니다.")]
    out = []
    share = hangul_share(text)
    if share < MIN_HANGUL_SHARE:
        out.append(warning(
            "not_korean", f"This does not look like Korean text (only {share:.0%} of the "
            "letters are Hangul); the score means nothing.",
            f"한국어 글이 아닌 것 같습니다(한글 비율 {share:.0%}). 점수를 믿을 수 없습니다."))
    if len(compact) < MIN_CHARS:
        out.append(warning(
            "too_short", f"The essay is very short ({len(compact)} characters without spaces, "
            f"under {MIN_CHARS}); the score is unreliable.",
            f"글이 너무 짧습니다(공백 제외 {len(compact)}자). 점수를 믿기 어렵습니다."))
    sentences = [s.strip() for s in re.split(r"(?<=[.!?。])\s+|\n+", text) if s.strip()]
    copies = sum(c - 1 for c in Counter(sentences).values())
    data = text.encode("utf-8")
    ratio = len(zlib.compress(data, 6)) / len(data)
    if (len(sentences) >= 3 and copies / len(sentences) >= REPEATED_SENTENCES) or \
            (len(data) >= 300 and ratio < MIN_COMPRESSION):
        out.append(warning(
            "repeated", "Much of the essay repeats itself; the score is unreliable.",
            "같은 내용이 여러 번 반복됩니다. 점수를 믿기 어렵습니다."))
    return out


def pair_coverage(doc, morpheme_spans: list[tuple[int, int]], vocabulary: set[str]
                  ) -> float | None:
    """Of the morpheme pairs that cross a space (the last morpheme of a word, the first of the
    next) whose morphemes the model knows, the share it knows as a pair. Shuffled words keep
    the pairs inside words and lose the ones between them. None under 15 such pairs."""
    morphemes, text = doc.morphemes, doc.text
    known = total = 0
    for i in range(len(morphemes) - 1):
        gap = text[morpheme_spans[i][1]:morpheme_spans[i + 1][0]]
        if not gap or not gap.isspace():
            continue
        a, b = morphemes[i], morphemes[i + 1]
        if "m:" + a in vocabulary and "m:" + b in vocabulary:
            total += 1
            known += f"m:{a} {b}" in vocabulary
    return known / total if total >= 15 else None


def ngram_coverage(text: str, vocabulary: set[str]) -> float:
    view = re.sub(r"\s+", " ", text.lower())
    grams = [view[i:i + n] for n in (1, 2, 3) for i in range(len(view) - n + 1)]
    return sum(("c:" + g) in vocabulary for g in grams) / max(len(grams), 1)


def rms_z(doc, reference: Reference) -> float:
    """The root mean square of the essay's standardised text statistics."""
    z = np.asarray(reference.standardise(doc), dtype=np.float64)
    return float(np.sqrt(np.mean(z * z)))


def check_doc(doc, reference: Reference,
              morpheme_spans: list[tuple[int, int]] | None = None) -> list[dict]:
    """Warnings that need the analysis: copies its prompt, shuffled words (needs the
    morphemes' spans), far from every training essay."""
    out = []
    copied = prompt_copy_share(doc.text, doc.prompt_text) if doc.prompt_text else 0.0
    if copied >= PROMPT_COPY:
        out.append(warning(
            "copies_prompt", f"{copied:.0%} of the essay repeats the prompt's own text; raters "
            "give essays that copy their prompt very low scores, which the model may not "
            "reflect.",
            f"글의 {copied:.0%}가 주제 글을 그대로 옮긴 것입니다. 채점자는 이런 글에 매우 낮은 "
            "점수를 주며, 모델 점수에는 반영되지 않았을 수 있습니다."))
    coverage = None if morpheme_spans is None else \
        pair_coverage(doc, morpheme_spans, reference.vocabulary)
    if coverage is not None and coverage < MIN_PAIR_COVERAGE:
        out.append(warning(
            "shuffled", "The words do not follow one another as in written Korean (they look "
            f"shuffled: {coverage:.0%} of the word pairs are familiar); the score is unreliable.",
            f"단어의 순서가 자연스럽지 않습니다(익숙한 단어 쌍 {coverage:.0%}). "
            "점수를 믿기 어렵습니다."))
    distance = rms_z(doc, reference)
    known = ngram_coverage(doc.text, reference.vocabulary)
    if distance > reference.max_rms_z or known < MIN_NGRAM_COVERAGE:
        out.append(warning(
            "out_of_distribution", "This essay is unlike every essay the model was trained on "
            f"(distance {distance:.1f}, {known:.0%} familiar character n-grams); the score is "
            "an extrapolation.",
            "학습한 글들과 많이 다른 글입니다. 점수는 추정일 뿐입니다."))
    return out


def check_prompt(prompt: str | None, prompts: list[str]) -> list[dict]:
    if not prompt:
        return [warning(
            "missing_prompt", "No prompt was given: the score uses only the weights shared by "
            "all prompts.", "주제가 선택되지 않아 모든 주제에 공통된 기준으로만 채점했습니다.")]
    if prompt not in prompts:
        return [warning(
            "unknown_prompt", f"The prompt {prompt!r} is not one the model was trained on: the "
            "score uses only the weights shared by all prompts.",
            f"'{prompt}'은(는) 모델이 학습한 주제가 아닙니다. 공통 기준으로만 채점했습니다.")]
    return []
