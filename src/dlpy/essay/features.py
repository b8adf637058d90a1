"""The scorer's inputs: an essay made ready (`Doc`), the wide part's n-gram TF-IDF and text
statistics (`Featurizer`), and the morpheme ids of the deep part (`Vocabulary`).

    docs = docs_from_records(read_essays(path), analyzer="kiwi")   # analysis cached on disk
    featurizer = Featurizer.fit(train_docs)
    sparse = featurizer.ngrams(doc)          # (indices, values) into the n-gram vocabulary
    stats = featurizer.statistics(docs)      # (n, num_stats), standardised on the training docs

Student metadata never enters here: a Doc carries only the text, its analysis and the prompt.
"""

from __future__ import annotations

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
    "log_longest_sentence", "repeated_4grams", "prompt_copy_share",
) + tuple(f"pos_{g}" for g in POS_GROUPS)


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
    morphemes: list[str] = field(default_factory=list, repr=False)
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.morphemes:
            self.morphemes = [f"{form}/{tag}" if tag else form
                              for sentence in self.sentences for form, tag in sentence]

    def ngram_counts(self) -> tuple[Counter, Counter]:
        """(character 1-3-grams, morpheme 1-2-grams), computed once (cross-validation refits
        the featurizer on every fold)."""
        if "ngrams" not in self._cache:
            self._cache["ngrams"] = (char_ngrams(self.text), morpheme_ngrams(self.morphemes))
        return self._cache["ngrams"]

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
        import kiwipiepy

        self.kiwi = kiwi
        version = f"kiwipiepy-{kiwipiepy.__version__}"
        self.directory = default_cache_dir() / "essay-spacing" / version
        self.use_cache = use_cache

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
                      use_cache: bool = True) -> list[Doc]:
    """EssayRecords (dlpy.essay.data) -> Docs, through the analysis cache."""
    from dlpy.essay.data import analyze_essays
    from dlpy.progress import progress

    analyzed = analyze_essays(records, analyzer, show_progress=show_progress, use_cache=use_cache)
    spacing = SpacingCounter(_kiwi_of(get_analyzer(analyzer)), use_cache=use_cache)
    docs = []
    for item in progress(analyzed, desc="spacing", enabled=show_progress):
        record = item.record
        criteria = None
        if record.criteria:
            criteria = [float(record.criteria[k])
                        for k in ("organisation", "content", "expression")]
        docs.append(Doc(text=record.text, sentences=item.sentences, prompt=record.title,
                        prompt_text=record.prompt, missing_spaces=spacing(record.text),
                        score=float(record.score), criteria=criteria, id=record.id))
    return docs


def doc_from_text(text: str, prompt: str, prompt_text: str = "", analyzer=None) -> Doc:
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
               missing_spaces=SpacingCounter(_kiwi_of(analyzer), use_cache=False)(joined))


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
    grams = [compact[i:i + 4] for i in range(len(compact) - 3)]
    repeated = sum(c - 1 for c in Counter(grams).values()) / max(len(grams), 1)
    prompt_compact = re.sub(r"\s+", "", doc.prompt_text)
    prompt_grams = {prompt_compact[i:i + 4] for i in range(len(prompt_compact) - 3)}
    copied = sum(g in prompt_grams for g in grams) / max(len(grams), 1)
    ends_in_sf = sum(1 for s in doc.sentences if s and s[-1][1].startswith("SF")) / num_sentences
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
    ]
    values += [pos.get(g, 0) / num_morphemes for g in POS_GROUPS]
    return values


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
    the prompts. TF-IDF as in the classical baselines: (1 + log tf) * idf, each block
    (characters, morphemes) L2-normalised, the morpheme block scaled by `morpheme_weight`."""

    def __init__(self, vocabulary: list[str], idf: np.ndarray, stat_mean: np.ndarray,
                 stat_std: np.ndarray, prompts: list[str], morpheme_weight: float = 0.5,
                 prompt_texts: dict[str, str] | None = None):
        self.vocabulary = list(vocabulary)
        self.index = {g: i for i, g in enumerate(self.vocabulary)}
        self.idf = np.asarray(idf, dtype=np.float32)
        self.stat_mean = np.asarray(stat_mean, dtype=np.float32)
        self.stat_std = np.asarray(stat_std, dtype=np.float32)
        self.prompts = list(prompts)
        self.morpheme_weight = float(morpheme_weight)
        # title -> the prompt's full text, so a new essay gets the same prompt-copy statistic
        self.prompt_texts = dict(prompt_texts or {})

    @classmethod
    def fit(cls, docs: Sequence[Doc], max_char_ngrams: int = 20000,
            max_morpheme_ngrams: int = 20000, min_df: int = 2,
            morpheme_weight: float = 0.5) -> Featurizer:
        if not docs:
            raise ValueError("Featurizer.fit: no essays to fit on")
        df: Counter = Counter()
        for doc in docs:
            for counts in doc.ngram_counts():
                df.update(counts.keys())
        vocabulary = []
        for prefix, limit in (("c:", max_char_ngrams), ("m:", max_morpheme_ngrams)):
            kept = [(g, c) for g, c in df.items() if g.startswith(prefix) and c >= min_df]
            kept.sort(key=lambda gc: (-gc[1], gc[0]))  # most frequent first, ties by name
            vocabulary += [g for g, _ in kept[:limit]]
        n = len(docs)
        idf = np.array([math.log((1 + n) / (1 + df[g])) + 1.0 for g in vocabulary])
        stats = np.array([d.statistics() for d in docs], dtype=np.float64)
        prompts = sorted({d.prompt for d in docs})
        prompt_texts = {d.prompt: d.prompt_text for d in docs}
        return cls(vocabulary, idf, stats.mean(0), stats.std(0) + 1e-6, prompts, morpheme_weight,
                   prompt_texts)

    @property
    def num_ngrams(self) -> int:
        return len(self.vocabulary)

    @property
    def num_stats(self) -> int:
        return len(STAT_NAMES)

    def ngrams(self, doc: Doc) -> tuple[np.ndarray, np.ndarray]:
        """The essay's TF-IDF row as (indices, values), float32."""
        indices, values = [], []
        chars, morphemes = doc.ngram_counts()
        for counts, weight in ((chars, 1.0), (morphemes, self.morpheme_weight)):
            block_i = [self.index[g] for g in counts if g in self.index]
            if not block_i:
                continue
            ids = np.array(block_i)
            tf = np.array([counts[self.vocabulary[i]] for i in block_i], dtype=np.float64)
            v = (1.0 + np.log(tf)) * self.idf[ids]
            indices.append(ids)
            values.append(weight * v / np.linalg.norm(v))
        if not indices:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        return np.concatenate(indices), np.concatenate(values).astype(np.float32)

    def statistics(self, docs: Sequence[Doc]) -> np.ndarray:
        """(n, num_stats) standardised by the training mean and std, clipped to [-5, 5]."""
        raw = np.array([d.statistics() for d in docs], dtype=np.float32)
        return np.clip((raw - self.stat_mean) / self.stat_std, -5, 5).astype(np.float32)

    def prompt_id(self, prompt: str) -> int:
        """Index of the prompt among the training prompts; an unseen prompt gets -1 (the model
        then uses only its shared weights)."""
        try:
            return self.prompts.index(prompt)
        except ValueError:
            return -1

    def to_dict(self) -> dict:
        return {"vocabulary": self.vocabulary, "stat_mean": self.stat_mean.tolist(),
                "stat_std": self.stat_std.tolist(), "prompts": self.prompts,
                "morpheme_weight": self.morpheme_weight, "prompt_texts": self.prompt_texts}

    @classmethod
    def from_dict(cls, state: dict, idf: np.ndarray) -> Featurizer:
        return cls(state["vocabulary"], idf, np.array(state["stat_mean"]),
                   np.array(state["stat_std"]), state["prompts"], state["morpheme_weight"],
                   state.get("prompt_texts"))


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
