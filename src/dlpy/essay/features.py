"""The scorer's inputs: an essay made ready (`Doc`), the wide part's n-gram TF-IDF and text
statistics (`Featurizer`), and the morpheme ids of the deep part (`Vocabulary`).

    docs = docs_from_records(read_essays(path), analyzer="kiwi")   # analysis cached on disk
    featurizer = Featurizer.fit(train_docs)
    sparse = featurizer.ngrams(doc)          # (indices, values) into the n-gram vocabulary
    stats = featurizer.statistics(docs)      # (n, num_stats), standardised on the training docs

Student metadata never enters here: a Doc carries only the text, its analysis and the prompt.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from dlpy.io import atomic_write_bytes
from dlpy.text.analysis import Sentence, get_analyzer
from dlpy.text.cache import default_cache_dir, sha256_bytes

PAD, UNK = "<pad>", "<unk>"
# coarse part-of-speech groups (the first two letters of Kiwi's / Kkma's tags)
POS_GROUPS = ("NN", "NP", "NR", "VV", "VA", "VX", "VC", "MM", "MA", "IC", "JK", "JX", "JC", "EP",
              "EF", "EC", "ET", "XP", "XS", "XR", "SF", "SP", "SS", "SE", "SO", "SW", "SL", "SH",
              "SN", "W_", "Z_")
STAT_NAMES = (
    "log_chars", "log_morphemes", "log_sentences", "log_paragraphs", "type_token_ratio",
    "log_types", "morphemes_per_sentence", "chars_per_sentence", "punctuation_share",
    "space_share", "missing_spaces_per_char", "log_missing_spaces", "sentences_ending_in_sf",
    "digit_share", "latin_share", "quote_share", "jamo_share", "sentence_length_cv",
    "log_longest_sentence", "repeated_4grams", "prompt_copy_share", "prompt_similarity",
    "repeated_sentence_share", "log_chars_per_paragraph",
) + tuple(f"pos_{g}" for g in POS_GROUPS)
# statistics that depend on the training essays (computed by the Featurizer, not per Doc)
FITTED_STAT_NAMES = ("topic_similarity", "log_chars_vs_prompt")
# the weak-essay signals added for the whole corpus (off with --no-relevance-features)
SPACING_STAT_NAMES = ("missing_spaces_per_char", "log_missing_spaces")
# Standardised statistics are clipped to [-5, 5], except these: bounded by construction (a
# share), and with their most telling values beyond 5 standard deviations. An essay that copies
# its prompt (share >= 0.9: z about 14; most such essays score near 0) would otherwise look
# the same as one that quotes a third of it (z 5). Models saved before this list clip them all.
UNCLIPPED_STAT_NAMES = ("prompt_copy_share",)
RELEVANCE_STAT_NAMES = ("prompt_similarity", "repeated_sentence_share",
                        "log_chars_per_paragraph") + FITTED_STAT_NAMES
CRITERIA = ("organisation", "content", "expression")


@dataclass
class Doc:
    """One essay ready for featurisation: text, analysis and prompt (no student metadata)."""

    text: str                                  # paragraphs joined with newlines
    sentences: list[Sentence]                  # morphemes (form, tag) per sentence
    prompt: str                                # the prompt's title (essay_main_subject)
    prompt_text: str = ""
    missing_spaces: int = 0                    # spaces Kiwi's spacing model would insert
    score: float | None = None                 # 0-30, None when unknown
    criteria: list[float] | None = None        # organisation, content, expression, 0-1
    id: str = ""
    category: str = ""
    rubric: list[float] | None = None          # criterion weights (organisation, content,
    #                                            expression): total = 30 * sum w c / sum w
    morphemes: list[str] = field(default_factory=list, repr=False)
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.morphemes:
            self.morphemes = [f"{form}/{tag}" if tag else form
                              for sentence in self.sentences for form, tag in sentence]

    def ngram_counts(self, keep: bool = True) -> tuple[Counter, Counter]:
        """(character 1-3-grams, morpheme 1-2-grams); kept (keep=True) until ngram_ids()."""
        if "ngrams" in self._cache:
            return self._cache["ngrams"]
        counts = (char_ngrams(self.text), morpheme_ngrams(self.morphemes))
        if keep:
            self._cache["ngrams"] = counts
        return counts

    def ngram_ids(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ids, counts, is_morpheme) of the essay's n-grams, ids from the process-wide
        interner; computed once and kept compact (the Counters are not kept: 38k essays' would
        take gigabytes)."""
        if "ngram_ids" not in self._cache:
            chars, morphemes = self._cache.pop("ngrams", None) or self.ngram_counts(keep=False)
            table = _NGRAM_IDS
            add = table.setdefault
            ids = np.array([add(g, len(table)) for g in chars]
                           + [add(g, len(table)) for g in morphemes], dtype=np.int64)
            counts = np.fromiter(list(chars.values()) + list(morphemes.values()),
                                 dtype=np.float32, count=ids.size)
            kind = np.zeros(ids.size, dtype=bool)
            kind[len(chars):] = True
            self._cache["ngram_ids"] = (ids, counts, kind)
        return self._cache["ngram_ids"]

    def release(self, keep_morphemes: bool = True) -> None:
        """Compute the statistics and n-gram ids now, then drop the analysis (and the morphemes
        unless the deep part needs them): what a 38k-essay run can hold in memory."""
        self.statistics()
        self.ngram_ids()
        self.sentences = []
        if not keep_morphemes:
            self.morphemes = []

    def statistics(self) -> list[float]:
        if "statistics" not in self._cache:
            self._cache["statistics"] = text_statistics(self)
        return self._cache["statistics"]

    @property
    def paragraphs(self) -> list[str]:
        return [p for p in self.text.split("\n") if p.strip()]


# --------------------------------------------------------------------------- making Docs

class SpacingCounter:
    """Counts the spaces Kiwi's spacing model would insert into each paragraph (a measure of
    spacing errors), cached on disk by the text's SHA-256 (a second run is fast)."""

    def __init__(self, kiwi, use_cache: bool = True):
        """kiwi: a kiwipiepy.Kiwi, or a function that makes one when the first text is not in
        the cache (building Kiwi takes about 2 s; a run whose counts are all cached skips it)."""
        import kiwipiepy

        self._kiwi = kiwi
        version = f"kiwipiepy-{kiwipiepy.__version__}"
        self.directory = default_cache_dir() / "essay-spacing" / version
        self.use_cache = use_cache

    @property
    def kiwi(self):
        if not hasattr(self._kiwi, "space"):
            self._kiwi = self._kiwi()
        return self._kiwi

    def __call__(self, text: str) -> int:
        key = sha256_bytes(text.encode("utf-8"))
        path = self.directory / key[:2] / f"{key}.json"
        if self.use_cache:
            try:
                return int(json.loads(path.read_text(encoding="utf-8"))["missing_spaces"])
            except (OSError, ValueError, KeyError, TypeError):
                pass
        count = 0
        for paragraph in text.split("\n"):
            if paragraph.strip():
                spaced = self.kiwi.space(paragraph, reset_whitespace=False)
                count += max(spaced.count(" ") - paragraph.count(" "), 0)
        if self.use_cache:
            atomic_write_bytes(path, json.dumps({"missing_spaces": count}).encode("utf-8"))
        return count


def _kiwi_of(analyzer):
    kiwi = getattr(analyzer, "kiwi", None)
    if kiwi is None:  # Kkma or preprocessed text: spacing still comes from Kiwi
        kiwi = get_analyzer("kiwi").kiwi
    return kiwi


def docs_from_records(records: Sequence, analyzer: str = "kiwi", *, show_progress: bool = True,
                      use_cache: bool = True, workers: int | None = None,
                      skip_bad: bool = False, count_spaces: bool = True) -> list[Doc]:
    """EssayRecords (dlpy.essay.data) -> Docs, through the analysis cache (what is missing is
    analysed by `workers` processes; `skip_bad` leaves out essays the analyser rejects).
    `count_spaces` False: the spacing errors are not counted where the cache lacks them
    (`missing_spaces` 0), for models without the spacing statistics."""
    from dlpy.essay.data import analyze_essays
    from dlpy.progress import progress

    analyzed = analyze_essays(records, analyzer, show_progress=show_progress, use_cache=use_cache,
                              workers=workers, skip_bad=skip_bad, count_spaces=count_spaces)
    spacing = SpacingCounter(lambda: _kiwi_of(get_analyzer(analyzer)), use_cache=use_cache)
    docs = []
    for item in progress(analyzed, desc="spacing", enabled=show_progress and count_spaces):
        record = item.record
        criteria = None
        if record.criteria:
            criteria = [float(record.criteria[k]) for k in CRITERIA]
        weights = getattr(record, "criterion_weights", None)
        rubric = [float(weights[k]) for k in CRITERIA] if weights else None
        missing = getattr(item, "missing_spaces", None)  # counted by the analysis workers
        docs.append(Doc(text=record.text, sentences=item.sentences, prompt=record.title,
                        prompt_text=record.prompt,
                        missing_spaces=missing if missing is not None
                        else spacing(record.text) if count_spaces else 0,
                        score=float(record.score), criteria=criteria, id=record.id,
                        category=getattr(record, "category", "") or "", rubric=rubric))
    return docs


def doc_from_text(text: str, prompt: str, prompt_text: str = "", analyzer=None,
                  category: str = "") -> Doc:
    """A Doc for a new essay (what `dlpy essay score` reads): paragraphs are its lines."""
    if not isinstance(text, str):
        raise TypeError(f"doc_from_text: expected str, got {type(text).__name__}")
    paragraphs = [line.strip() for line in text.replace("\r\n", "\n").split("\n") if line.strip()]
    if not paragraphs:
        raise ValueError("the essay is empty (no text after removing whitespace)")
    analyzer = analyzer if analyzer is not None else get_analyzer("kiwi")
    joined = "\n".join(paragraphs)
    sentences = [s for p in paragraphs for s in analyzer.analyze(p)]
    return Doc(text=joined, sentences=sentences, prompt=prompt, prompt_text=prompt_text,
               missing_spaces=SpacingCounter(_kiwi_of(analyzer), use_cache=False)(joined),
               category=category)


# --------------------------------------------------------------------------- statistics

_PUNCT = re.compile(r"[.,!?;:]")
_DIGIT = re.compile(r"[0-9]")
_LATIN = re.compile(r"[A-Za-z]")
_QUOTE = re.compile("[\"'\u201c\u201d\u2018\u2019]")
_JAMO = re.compile("[\u3131-\u3163]")


def text_statistics(doc: Doc) -> list[float]:
    """The raw (unstandardised) statistics of STAT_NAMES for one essay."""
    text = doc.text
    num_chars = max(len(text), 1)
    morphemes = [m for s in doc.sentences for m in s]
    num_morphemes = max(len(morphemes), 1)
    num_sentences = max(len(doc.sentences), 1)
    forms = [form for form, _ in morphemes]
    sentence_lengths = np.array([sum(len(f) for f, _ in s) for s in doc.sentences] or [0.0])
    compact = re.sub(r"\s+", "", text)
    grams = _char4grams(compact)
    repeated = sum(c - 1 for c in Counter(grams).values()) / max(len(grams), 1)
    copied = prompt_copy_share(text, doc.prompt_text)
    ends_in_sf = sum(1 for s in doc.sentences if s and s[-1][1].startswith("SF")) / num_sentences
    sentence_texts = [" ".join(f for f, _ in s) for s in doc.sentences if s]
    repeated_sentences = (len(sentence_texts) - len(set(sentence_texts))) / num_sentences
    pos = Counter(tag[:2] for _, tag in morphemes)
    values = [
        math.log1p(len(text)), math.log1p(len(morphemes)), math.log1p(len(doc.sentences)),
        math.log1p(len(doc.paragraphs)), len(set(forms)) / num_morphemes,
        math.log1p(len(set(forms))), len(morphemes) / num_sentences,
        len(compact) / num_sentences, len(_PUNCT.findall(text)) / num_chars,
        text.count(" ") / num_chars, doc.missing_spaces / max(len(compact), 1),
        math.log1p(doc.missing_spaces), ends_in_sf, len(_DIGIT.findall(text)) / num_chars,
        len(_LATIN.findall(text)) / num_chars, len(_QUOTE.findall(text)) / num_chars,
        len(_JAMO.findall(text)) / num_chars,
        float(sentence_lengths.std() / (sentence_lengths.mean() + 1.0)),
        math.log1p(float(sentence_lengths.max())), repeated, copied,
        _cosine(doc._cache["ngrams"][0] if "ngrams" in doc._cache else char_ngrams(text),
                _prompt_ngrams(doc.prompt_text)),
        repeated_sentences, math.log1p(len(compact) / max(len(doc.paragraphs), 1)),
    ]
    values += [pos.get(g, 0) / num_morphemes for g in POS_GROUPS]
    return values


_NGRAM_IDS: dict[str, int] = {}


def _char4grams(compact: str) -> list[str]:
    return [compact[i:i + 4] for i in range(len(compact) - 3)]


def prompt_copy_share(text: str, prompt_text: str) -> float:
    """The share of the essay's character 4-grams (whitespace removed) that occur in its
    prompt's text: 1.0 for an essay that copies the prompt (the statistic
    `prompt_copy_share`, and the service's `copies_prompt` warning)."""
    grams = _char4grams(re.sub(r"\s+", "", text))
    prompt_grams = set(_char4grams(re.sub(r"\s+", "", prompt_text)))
    return sum(g in prompt_grams for g in grams) / max(len(grams), 1)


def _intern(ngram: str) -> int:
    """A process-wide number for an n-gram string (so n-gram rows become numpy arrays)."""
    number = _NGRAM_IDS.get(ngram)
    if number is None:
        number = _NGRAM_IDS[ngram] = len(_NGRAM_IDS)
    return number


@functools.lru_cache(maxsize=1024)
def _prompt_ngrams(prompt_text: str) -> Counter:
    return char_ngrams(prompt_text)


def _cosine(a: Counter, b: Counter) -> float:
    """Cosine similarity of two count vectors (0 when either is empty)."""
    if not a or not b:
        return 0.0
    if len(a) > len(b):
        a, b = b, a
    dot = sum(v * b.get(k, 0) for k, v in a.items())
    norm = math.sqrt(sum(v * v for v in a.values()) * sum(v * v for v in b.values()))
    return float(dot / norm)


# --------------------------------------------------------------------------- n-grams

def char_ngrams(text: str, orders: Iterable[int] = (1, 2, 3)) -> Counter:
    """Character n-grams of the text (whitespace runs count as one space), keys `c:...`."""
    text = re.sub(r"\s+", " ", text.lower())
    counts: Counter = Counter()
    for n in orders:
        counts.update("c:" + text[i:i + n] for i in range(len(text) - n + 1))
    return counts


def morpheme_ngrams(morphemes: Sequence[str]) -> Counter:
    """Morpheme unigrams and bigrams, keys `m:form/TAG` and `m:a b`."""
    counts = Counter("m:" + m for m in morphemes)
    counts.update(f"m:{a} {b}" for a, b in zip(morphemes, morphemes[1:]))
    return counts


class Featurizer:
    """The fitted state of the wide part: n-gram vocabulary + IDF, statistics' mean and std,
    the prompts with their category, rubric weights and topic centroid (and, with
    `lm_features`, the pretrained LM's pooled features: dlpy.essay.pretrained). TF-IDF as in
    the classical baselines: (1 + log tf) * idf, each block (characters, morphemes)
    L2-normalised, the morpheme block scaled by `morpheme_weight`."""

    CENTROID_SIZE = 1000  # n-grams kept per prompt centroid

    def __init__(self, vocabulary: list[str], idf: np.ndarray, stat_mean: np.ndarray,
                 stat_std: np.ndarray, prompts: list[str], morpheme_weight: float = 0.5,
                 prompt_texts: dict[str, str] | None = None, categories: list[str] | None = None,
                 prompt_info: dict[str, dict] | None = None,
                 centroid_indices: np.ndarray | None = None,
                 centroid_values: np.ndarray | None = None,
                 disabled_stats: Sequence[str] = (), lm=None,
                 unclipped_stats: Sequence[str] = ()):
        self.lm = lm  # LMFeatures, or None without the LM input
        self.vocabulary = list(vocabulary)
        self.index = {g: i for i, g in enumerate(self.vocabulary)}
        self.idf = np.asarray(idf, dtype=np.float32)
        self.stat_mean = np.asarray(stat_mean, dtype=np.float32)
        self.stat_std = np.asarray(stat_std, dtype=np.float32)
        self.prompts = list(prompts)
        self.prompt_index = {p: i for i, p in enumerate(self.prompts)}
        self.morpheme_weight = float(morpheme_weight)
        # title -> the prompt's full text, so a new essay gets the same prompt-copy statistic
        self.prompt_texts = dict(prompt_texts or {})
        self.categories = list(categories or [])
        self.disabled_stats = [n for n in STAT_NAMES + FITTED_STAT_NAMES if n in disabled_stats]
        self.unclipped_stats = [n for n in STAT_NAMES if n in unclipped_stats]
        # title -> {"category", "rubric" (criterion weights), "mean_log_chars", "essays"}
        self.prompt_info = dict(prompt_info or {})
        size = self.CENTROID_SIZE
        self.centroid_indices = np.zeros((len(self.prompts), size), np.int64) \
            if centroid_indices is None else np.asarray(centroid_indices, dtype=np.int64)
        self.centroid_values = np.zeros((len(self.prompts), size), np.float32) \
            if centroid_values is None else np.asarray(centroid_values, dtype=np.float32)

    @classmethod
    def fit(cls, docs: Sequence[Doc], max_char_ngrams: int = 20000,
            max_morpheme_ngrams: int = 20000, min_df: int = 2,
            morpheme_weight: float = 0.5, disabled_stats: Sequence[str] = (),
            lm_features: str = "") -> Featurizer:
        if not docs:
            raise ValueError("Featurizer.fit: no essays to fit on")
        rows = [doc.ngram_ids() for doc in docs]
        all_ids = np.concatenate([r[0] for r in rows])
        all_kind = np.concatenate([r[2] for r in rows])
        df_all = np.bincount(all_ids)
        morpheme_of = np.zeros(df_all.size, dtype=bool)
        morpheme_of[all_ids[all_kind]] = True
        names = list(_NGRAM_IDS)
        vocabulary, counts = [], []
        for is_morpheme, limit in ((False, max_char_ngrams), (True, max_morpheme_ngrams)):
            candidates = np.nonzero((df_all >= min_df) & (morpheme_of == is_morpheme))[0]
            kept = sorted(((int(df_all[i]), names[i]) for i in candidates),
                          key=lambda cg: (-cg[0], cg[1]))[:limit]  # most frequent, then name
            vocabulary += [g for _, g in kept]
            counts += [c for c, _ in kept]
        n = len(docs)
        idf = np.log((1 + n) / (1 + np.array(counts, dtype=np.float64))) + 1.0
        prompts = sorted({d.prompt for d in docs})
        prompt_texts = {d.prompt: d.prompt_text for d in docs}
        categories = sorted({d.category for d in docs if d.category})
        featurizer = cls(vocabulary, idf, np.zeros(0), np.ones(0), prompts, morpheme_weight,
                         prompt_texts, categories, disabled_stats=disabled_stats,
                         unclipped_stats=UNCLIPPED_STAT_NAMES)
        featurizer._fit_prompts(docs)
        stats = featurizer.raw_statistics(docs)
        featurizer.stat_mean = stats.mean(0).astype(np.float32)
        featurizer.stat_std = (stats.std(0) + 1e-6).astype(np.float32)
        if lm_features:
            from dlpy.essay.pretrained import LMFeatures

            featurizer.lm = LMFeatures.fit(docs, lm_features)
        return featurizer

    def _fit_prompts(self, docs: Sequence[Doc]) -> None:
        """Per prompt: category, rubric weights (the most common), mean log length, and the
        centroid of its essays' TF-IDF rows (the prompt's typical vocabulary)."""
        by_prompt: dict[str, list[Doc]] = {}
        for d in docs:
            by_prompt.setdefault(d.prompt, []).append(d)
        size = self.CENTROID_SIZE
        self.centroid_indices = np.zeros((len(self.prompts), size), np.int64)
        self.centroid_values = np.zeros((len(self.prompts), size), np.float32)
        for p, name in enumerate(self.prompts):
            members = by_prompt[name]
            rubrics = Counter(tuple(d.rubric) for d in members if d.rubric)
            categories = Counter(d.category for d in members)
            self.prompt_info[name] = {
                "category": categories.most_common(1)[0][0],
                "rubric": list(rubrics.most_common(1)[0][0]) if rubrics else None,
                "mean_log_chars": float(np.mean([math.log1p(len(d.text)) for d in members])),
                "essays": len(members)}
            centroid = np.zeros(self.num_ngrams)
            for d in members:
                indices, values = self.ngrams(d)
                np.add.at(centroid, indices, values)
            top = np.argsort(-centroid, kind="stable")[:size]
            values = centroid[top]
            norm = np.linalg.norm(values)
            self.centroid_indices[p, :top.size] = top
            self.centroid_values[p, :top.size] = values / norm if norm > 0 else values

    @property
    def num_ngrams(self) -> int:
        return len(self.vocabulary)

    @property
    def num_stats(self) -> int:
        return len(STAT_NAMES) + len(FITTED_STAT_NAMES)

    @property
    def num_lm_features(self) -> int:
        return self.lm.dim if self.lm is not None else 0

    def lm_inputs(self, docs: Sequence[Doc]) -> np.ndarray | None:
        """(n, num_lm_features) standardised LM features, or None without the LM input."""
        return self.lm(docs) if self.lm is not None else None

    @property
    def stat_names(self) -> tuple[str, ...]:
        return STAT_NAMES + FITTED_STAT_NAMES

    def _columns(self) -> tuple[np.ndarray, np.ndarray]:
        """(sorted interned ids of the vocabulary, their columns), for vectorised lookups."""
        if getattr(self, "_lookup", None) is None:
            ids = np.array([_intern(g) for g in self.vocabulary], dtype=np.int64)
            order = np.argsort(ids, kind="stable")
            self._lookup = (ids[order], order)
        return self._lookup

    def ngrams(self, doc: Doc) -> tuple[np.ndarray, np.ndarray]:
        """The essay's TF-IDF row as (indices, values), float32."""
        ids, counts, is_morpheme = doc.ngram_ids()
        sorted_ids, columns = self._columns()
        indices, values = np.zeros(0, np.int64), np.zeros(0, np.float32)
        if sorted_ids.size and ids.size:
            where = np.minimum(np.searchsorted(sorted_ids, ids), sorted_ids.size - 1)
            known = sorted_ids[where] == ids
            indices = columns[where[known]]
            v = (1.0 + np.log(counts[known].astype(np.float64))) * self.idf[indices]
            block = is_morpheme[known]
            for in_block, weight in ((~block, 1.0), (block, self.morpheme_weight)):
                norm = np.linalg.norm(v[in_block])
                if norm > 0:
                    v[in_block] *= weight / norm
            values = v.astype(np.float32)
        return indices, values

    def topic_similarity(self, doc: Doc) -> float:
        """Cosine of the essay's TF-IDF row with its prompt's centroid (how much the essay uses
        the prompt's usual vocabulary; off-topic essays score low). NaN for an unknown prompt."""
        p = self.prompt_index.get(doc.prompt, -1)
        if p < 0:
            return float("nan")
        indices, values = self.ngrams(doc)
        norm = np.linalg.norm(values)
        if norm == 0:
            return 0.0
        if getattr(self, "_centroids", None) is None:
            self._centroids = {}
        if p not in self._centroids:
            dense = np.zeros(self.num_ngrams, dtype=np.float64)
            dense[self.centroid_indices[p]] = self.centroid_values[p]
            self._centroids[p] = dense
        return float(np.dot(values, self._centroids[p][indices]) / norm)

    def raw_statistics(self, docs: Sequence[Doc]) -> np.ndarray:
        """(n, num_stats) unstandardised: the per-Doc statistics, then the fitted ones."""
        rows = []
        for d in docs:
            info = self.prompt_info.get(d.prompt)
            relative = math.log1p(len(d.text)) - info["mean_log_chars"] if info else float("nan")
            rows.append(list(d.statistics()) + [self.topic_similarity(d), relative])
        return np.array(rows, dtype=np.float64).reshape(len(docs), self.num_stats)

    def statistics(self, docs: Sequence[Doc]) -> np.ndarray:
        """(n, num_stats) standardised by the training mean and std, clipped to [-5, 5] (but
        `unclipped_stats`); a statistic unknown for the essay (an unseen prompt) is 0, the
        training mean."""
        raw = self.raw_statistics(docs)
        z = (raw - self.stat_mean) / self.stat_std
        names = self.stat_names
        kept = [names.index(name) for name in self.unclipped_stats]
        unclipped = z[:, kept]
        z = np.clip(z, -5, 5)
        z[:, kept] = unclipped
        for name in self.disabled_stats:
            z[:, names.index(name)] = 0.0
        return np.nan_to_num(z, nan=0.0).astype(np.float32)

    def prompt_id(self, prompt: str) -> int:
        """Index of the prompt among the training prompts; an unseen prompt gets -1 (the model
        then uses only its shared and category weights)."""
        return self.prompt_index.get(prompt, -1)

    def category_id(self, category: str) -> int:
        try:
            return self.categories.index(category)
        except ValueError:
            return -1

    def category_of(self, doc: Doc) -> str:
        """The essay's category, else its prompt's."""
        return doc.category or self.prompt_info.get(doc.prompt, {}).get("category", "")

    def rubric_of(self, doc: Doc) -> np.ndarray:
        """The essay's criterion weights, else its prompt's, else equal weights."""
        weights = doc.rubric or self.prompt_info.get(doc.prompt, {}).get("rubric")
        return np.asarray(weights if weights else [1.0, 1.0, 1.0], dtype=np.float64)

    def to_dict(self) -> dict:
        return {"vocabulary": self.vocabulary, "stat_mean": self.stat_mean.tolist(),
                "stat_std": self.stat_std.tolist(), "prompts": self.prompts,
                "morpheme_weight": self.morpheme_weight, "prompt_texts": self.prompt_texts,
                "categories": self.categories, "prompt_info": self.prompt_info,
                "stat_names": list(self.stat_names), "disabled_stats": self.disabled_stats,
                "unclipped_stats": self.unclipped_stats,
                "lm_features": self.lm.to_dict() if self.lm is not None else None}

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays stored beside to_dict(): IDF, the prompt centroids (and the LM features'
        mean and std)."""
        return {"idf": self.idf.astype(np.float32),
                "centroid_indices": self.centroid_indices.astype(np.int32),
                "centroid_values": self.centroid_values.astype(np.float32),
                **(self.lm.arrays() if self.lm is not None else {})}

    @classmethod
    def from_dict(cls, state: dict, arrays: dict[str, np.ndarray]) -> Featurizer:
        if list(state.get("stat_names", [])) != list(STAT_NAMES + FITTED_STAT_NAMES):
            raise ValueError("the model was made with other text statistics "
                             f"({len(state.get('stat_names', []))} of them); retrain it")
        lm = None
        if state.get("lm_features"):
            from dlpy.essay.pretrained import LMFeatures

            lm = LMFeatures.from_dict(state["lm_features"], arrays)
        return cls(state["vocabulary"], arrays["idf"], np.array(state["stat_mean"]),
                   np.array(state["stat_std"]), state["prompts"], state["morpheme_weight"],
                   state.get("prompt_texts"), state.get("categories"), state.get("prompt_info"),
                   arrays.get("centroid_indices"), arrays.get("centroid_values"),
                   state.get("disabled_stats", ()), lm, state.get("unclipped_stats", ()))


def densify(rows: Sequence[tuple[np.ndarray, np.ndarray]], width: int) -> np.ndarray:
    """Sparse rows (indices, values) -> a dense float32 (len(rows), width) batch."""
    out = np.zeros((len(rows), width), dtype=np.float32)
    for i, (indices, values) in enumerate(rows):
        out[i, indices] = values
    return out


# --------------------------------------------------------------------------- morpheme ids

class Vocabulary:
    """Morpheme -> id for the deep part: 0 = <pad>, 1 = <unk>, then the training morphemes seen
    at least `min_count` times, most frequent first."""

    def __init__(self, words: list[str]):
        if words[:2] != [PAD, UNK]:
            raise ValueError("Vocabulary: the first two words must be <pad> and <unk>")
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def build(cls, docs: Sequence[Doc], min_count: int = 2,
              max_size: int = 30000) -> Vocabulary:
        counts = Counter(m for d in docs for m in d.morphemes)
        kept = sorted((w for w, c in counts.items() if c >= min_count),
                      key=lambda w: (-counts[w], w))[:max_size - 2]
        return cls([PAD, UNK] + kept)

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, doc: Doc, max_len: int) -> np.ndarray:
        ids = [self.index.get(m, 1) for m in doc.morphemes[:max_len]]
        return np.array(ids or [1], dtype=np.int64)


def pretrained_matrix(vocabulary: Vocabulary, vectors, rng: np.random.Generator
                      ) -> tuple[np.ndarray, dict[str, int]]:
    """Embedding rows from a WordVectors (centred, unit rows): exact match, else resolve() by
    prefix/suffix, else a small random vector; <pad> is zero. Returns the matrix and how many
    words each kind of match gave."""
    centred = vectors.centered()
    matrix = rng.normal(0.0, 0.1 / math.sqrt(centred.dim), (len(vocabulary), centred.dim))
    matrix[0] = 0.0
    kinds: Counter = Counter()
    for i, word in enumerate(vocabulary.words[2:], start=2):
        match, how = centred.resolve(word) if word not in centred else (word, "exact")
        kinds[how] += 1
        if match is not None:
            matrix[i] = centred[match]
    return matrix.astype(np.float32), dict(kinds)
