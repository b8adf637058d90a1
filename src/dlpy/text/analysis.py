"""Korean morphological analysis behind one interface.

    analyzer = get_analyzer("kiwi")          # or "kkma"
    analyzer.analyze(text) -> [[(form, tag), ...], ...]   # one list per sentence

Sentence boundaries come from the AI Hub marker `#@문장구분#` when the text has it, else from the
analyser. Kiwi (kiwipiepy, ships its model) is the default; Kkma (konlpy + Java) reproduces the
report's preprocessing, byte for byte on the reference corpus.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Protocol

SENTENCE_MARKER = "#@문장구분#"

Token = tuple[str, str]  # (form, tag)
Sentence = list[Token]


class AnalyzerUnavailable(RuntimeError):
    """The analyser's package or runtime (Java for Kkma) is missing; the message says what to
    install."""


class Analyzer(Protocol):
    name: str
    version: str

    def analyze(self, text: str) -> list[Sentence]: ...


def split_marked(text: str) -> list[str]:
    """The sentences of a text that carries `#@문장구분#` markers, stripped, empty ones dropped."""
    return [part.strip() for part in text.split(SENTENCE_MARKER) if part.strip()]


class KiwiAnalyzer:
    """kiwipiepy's Kiwi. Tags are Kiwi's (Sejong-like, irregular verbs as `VV-I`).

    The model (1-2 s to load) is loaded on first use. `version` names the cache folder; once
    known it is remembered in `<cache root>/kiwi-version.json` per kiwipiepy and model release,
    so a run whose analyses are all cached never loads the model."""

    name = "kiwi"

    def __init__(self) -> None:
        try:
            import kiwipiepy
        except ImportError as err:
            raise AnalyzerUnavailable(
                "the kiwi analyser needs kiwipiepy: pip install 'dlpy[korean]'") from err
        self._module = kiwipiepy
        self._kiwi = None
        self._version: str | None = _remembered_version(self._release())

    def _release(self) -> str:
        try:
            import kiwipiepy_model

            model = getattr(kiwipiepy_model, "__version__", "?")
        except ImportError:
            model = "none"
        return f"kiwipiepy {self._module.__version__}, model {model}"

    @property
    def kiwi(self):  # the underlying kiwipiepy.Kiwi, for callers that need more
        if self._kiwi is None:
            self._kiwi = self._module.Kiwi()
            self._version = f"kiwipiepy-{self._module.__version__}-{self._kiwi.model_type}"
            _remember_version(self._release(), self._version)
        return self._kiwi

    @property
    def version(self) -> str:
        if self._version is None:
            self.kiwi  # noqa: B018 (loads the model, which sets the version)
        return self._version

    def analyze(self, text: str) -> list[Sentence]:
        kiwi = self.kiwi
        if SENTENCE_MARKER in text:
            tokenize = kiwi.tokenize
            return [[(t.form, t.tag) for t in tokenize(part)] for part in split_marked(text)]
        sentences = kiwi.split_into_sents(text, return_tokens=True)
        return [[(t.form, t.tag) for t in s.tokens] for s in sentences if s.tokens]


def _version_file():
    from .cache import default_cache_dir

    return default_cache_dir() / "kiwi-version.json"


def _remembered_version(release: str) -> str | None:
    import json

    try:
        value = json.loads(_version_file().read_text(encoding="utf-8")).get(release)
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and value.startswith("kiwipiepy-") else None


def _remember_version(release: str, version: str) -> None:
    import json

    from dlpy.io import atomic_write_bytes

    if _remembered_version(release) == version:
        return
    try:
        known = json.loads(_version_file().read_text(encoding="utf-8"))
        known = known if isinstance(known, dict) else {}
    except (OSError, ValueError):
        known = {}
    known[release] = version
    try:
        atomic_write_bytes(_version_file(), json.dumps(known, indent=1).encode("utf-8"))
    except OSError:
        pass  # a read-only cache: the model is loaded each time, nothing worse


class KkmaAnalyzer:
    """KoNLPy's Kkma, as the report used it: markers become `#` and the whole text is analysed in
    one call (Kkma's output depends on context), then split at the `#` tokens."""

    name = "kkma"

    def __init__(self) -> None:
        try:
            import konlpy
            from konlpy.tag import Kkma
        except ImportError as err:
            raise AnalyzerUnavailable(
                "the kkma analyser needs konlpy (and Java): pip install 'dlpy[kkma]'") from err
        try:
            self._kkma = Kkma()
        except Exception as err:  # jpype raises its own types when no JVM is found
            raise AnalyzerUnavailable(
                "the kkma analyser needs a Java runtime (JDK 8 or newer; e.g. "
                f"`apt install default-jdk`, and JAVA_HOME set): {err}") from err
        self.version = f"konlpy-{konlpy.__version__}"

    def analyze(self, text: str) -> list[Sentence]:
        if SENTENCE_MARKER in text:
            joined = text.replace(SENTENCE_MARKER, "#").strip()
            if not joined:
                return []
            sentences: list[Sentence] = [[]]
            for form, tag in self._kkma.pos(joined):
                if form == "#" and tag == "SW":
                    sentences.append([])
                else:
                    sentences[-1].append((form, tag))
            return [s for s in sentences if s]
        return [self._kkma.pos(s) for s in self._kkma.sentences(text) if s.strip()]


ANALYZERS = {"kiwi": KiwiAnalyzer, "kkma": KkmaAnalyzer}
_instances: dict[str, Analyzer] = {}


def get_analyzer(name: str = "kiwi") -> Analyzer:
    """The analyser called `name` ("kiwi" or "kkma"), created once per process (loading a model
    takes a second or more)."""
    if name not in ANALYZERS:
        raise ValueError(f"get_analyzer: expected one of {sorted(ANALYZERS)}, got {name!r}")
    if name not in _instances:
        _instances[name] = ANALYZERS[name]()
    return _instances[name]


# --- the report's preprocessed format: morphemes each followed by `@`, sentence ends as `#@` ---

def to_reference_format(sentences: Sequence[Sequence[Token | str]]) -> str:
    """`[[("나", "NP"), ("는", "JX")], ...]` -> `"나@는@#@..."`: the report's format, forms only."""
    parts = []
    for sentence in sentences:
        for token in sentence:
            parts.append((token if isinstance(token, str) else token[0]) + "@")
        parts.append("#@")
    return "".join(parts)


def parse_reference_format(text: str) -> list[list[str]]:
    """`"나@는@#@..."` -> `[["나", "는"], ...]`: each sentence's forms (the format has no tags)."""
    sentences: list[list[str]] = [[]]
    for form in text.split("@"):
        if form == "#":
            sentences.append([])
        elif form:
            sentences[-1].append(form)
    return [s for s in sentences if s]


def token_counts(sentences: Iterable[Iterable[Token | str]]) -> Counter[str]:
    """Multiset of forms of an analysis (tags ignored: the reference has none)."""
    return Counter(t if isinstance(t, str) else t[0] for s in sentences for t in s)


def token_f1(predicted: Counter[str], reference: Counter[str]) -> tuple[float, float, float]:
    """(precision, recall, F1) of two bags of morphemes: matches = size of their intersection."""
    matched = sum((predicted & reference).values())
    n_pred, n_ref = sum(predicted.values()), sum(reference.values())
    precision = matched / n_pred if n_pred else 0.0
    recall = matched / n_ref if n_ref else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1
