"""AI Hub essay-evaluation data (에세이 글 평가 데이터) and the report's preprocessed format.

    essays = read_essays("../shared/data/essays/aihub-writing-dev")          # folder, files, .zip
    essays = read_essays(path, categories=["글짓기"], skip_bad=True)
    essays[0].score, essays[0].criteria["content"], essays[0].sentences

One `EssayRecord` per essay. The model inputs are the text fields and the prompt; the targets are
`score` (0-30), `rater_scores` and `criteria` (0-1). `student` (grade, school, date, location) is
read but kept apart: it must never become model input (it would score the student, not the text).

`analyze_essays` / `preprocess` run a morphological analyser over a corpus through the on-disk
cache of `dlpy.text.cache` (keyed by analyser, its version and each file's SHA-256).
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlpy.progress import progress
from dlpy.text.analysis import SENTENCE_MARKER, Analyzer, Sentence, get_analyzer, split_marked
from dlpy.text.cache import AnalysisCache, sha256_bytes

CATEGORIES = ("글짓기", "대안제시", "설명글", "주장", "찬성반대")
MAX_SCORE = 30.0
ITEM_MAX = 3.0  # each rubric item is scored 0-3

# The order of the per-rater item scores in score.essay_scoreT_detail, and the rubric weight of
# each item. Found by fitting: with these, sum over criteria of criterion_weight * weighted item
# mean reproduces every rater's essay_scoreT on the dev corpus to 1e-5.
CRITERIA = {
    "organisation": ("essay_scoreT_org", "organization_weight", "org",
                     ("org_essay", "org_paragraph", "org_coherence", "org_quantity")),
    "content": ("essay_scoreT_cont", "content_weight", "con",
                ("con_clearance", "con_novelty", "con_prompt", "con_description")),
    "expression": ("essay_scoreT_exp", "expression_weight", "exp",
                   ("exp_grammar", "exp_vocab", "exp_style")),
}


class EssayDataError(ValueError):
    """A malformed essay file; the message names the file and the field."""


@dataclass
class EssayRecord:
    """One essay. `paragraphs`/`sentences` are clean text (markers removed); `marked_text` keeps
    the `#@문장구분#` markers for an analyser. `tokens`/`prompt_tokens` are set only for the
    preprocessed format, which is already analysed (forms only, tags empty)."""

    id: str
    category: str
    title: str
    prompt: str
    paragraphs: list[str]
    sentences: list[str]
    score: float                                  # essay_scoreT_avg, 0-30
    rater_scores: list[float]                     # the raters' weighted totals, 0-30
    criteria: dict[str, float] | None             # organisation/content/expression, 0-1
    source: str                                   # file path, or "archive.zip::member"
    source_sha256: str
    marked_text: str = ""
    student: dict[str, Any] = field(default_factory=dict, repr=False)  # never a model input
    tokens: list[Sentence] | None = field(default=None, repr=False)
    prompt_tokens: list[Sentence] | None = field(default=None, repr=False)

    @property
    def text(self) -> str:
        """The essay, paragraphs joined with newlines."""
        return "\n".join(self.paragraphs)

    @property
    def target(self) -> float:
        """The score on the 0-1 scale (score / 30)."""
        return self.score / MAX_SCORE


class EssayCorpus(list):
    """A list of EssayRecord, plus `skipped`: "file: reason" for each file left out by skip_bad."""

    def __init__(self, records: Iterable[EssayRecord] = (), skipped: list[str] | None = None):
        super().__init__(records)
        self.skipped: list[str] = list(skipped or [])


# --- reading ---

def _zip_member_name(info: zipfile.ZipInfo) -> str:
    """Korean names in zips made on Windows are CP949 bytes that zipfile decoded as CP437."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("cp949")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def _iter_sources(source: str | os.PathLike | Iterable[str | os.PathLike]
                  ) -> Iterator[tuple[str, bytes | None, Path | None]]:
    """(label, data, path): data is read lazily from `path` for plain files."""
    if isinstance(source, (str, os.PathLike)):
        sources: list[Path] = [Path(source)]
    else:
        sources = [Path(s) for s in source]
    for path in sources:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and child.suffix.lower() == ".json":
                    yield str(child), None, child
                elif child.is_file() and child.suffix.lower() == ".zip":
                    yield from _iter_zip(child)
        elif path.suffix.lower() == ".zip":
            yield from _iter_zip(path)
        elif path.is_file():
            yield str(path), None, path
        else:
            raise FileNotFoundError(f"read_essays: no such file or folder: {path}")


def _iter_zip(path: Path) -> Iterator[tuple[str, bytes | None, Path | None]]:
    if not path.is_file():
        raise FileNotFoundError(f"read_essays: no such file or folder: {path}")
    try:
        with zipfile.ZipFile(path) as archive:
            infos = sorted((i for i in archive.infolist()
                            if not i.is_dir() and i.filename.lower().endswith(".json")),
                           key=_zip_member_name)
            for info in infos:
                yield f"{path}::{_zip_member_name(info)}", archive.read(info), None
    except zipfile.BadZipFile as err:
        raise EssayDataError(f"{path}: not a valid zip archive: {err}") from err


def _get(obj: Any, dotted: str, source: str) -> Any:
    value = obj
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            raise EssayDataError(f"{source}: missing field {dotted!r}")
        value = value[key]
    return value


def _number(value: Any, dotted: str, source: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise EssayDataError(f"{source}: field {dotted!r}: expected a number, got {value!r}")
    if not low <= value <= high:
        raise EssayDataError(f"{source}: field {dotted!r}: expected a value in "
                             f"[{low:g}, {high:g}], got {value!r}")
    return float(value)


def _string(value: Any, dotted: str, source: str) -> str:
    if not isinstance(value, str):
        raise EssayDataError(f"{source}: field {dotted!r}: expected a string, "
                             f"got {type(value).__name__}")
    return value


def _criteria(doc: dict, source: str) -> dict[str, float]:
    detail = _get(doc, "score.essay_scoreT_detail", source)
    rubric = doc.get("rubric") if isinstance(doc.get("rubric"), dict) else {}
    result = {}
    for name, (score_key, weight_key, _, items) in CRITERIA.items():
        dotted = f"score.essay_scoreT_detail.{score_key}"
        per_rater = _get(detail, score_key, source) if isinstance(detail, dict) else None
        if not isinstance(per_rater, list) or not per_rater:
            raise EssayDataError(f"{source}: field {dotted!r}: expected a list of per-rater "
                                 f"item scores, got {per_rater!r}")
        weights_doc = rubric.get(weight_key)
        means = []
        for r, rater_items in enumerate(per_rater):
            if not isinstance(rater_items, list) or not rater_items:
                raise EssayDataError(f"{source}: field {dotted}[{r}]: expected a list of item "
                                     f"scores, got {rater_items!r}")
            values = [_number(v, f"{dotted}[{r}][{i}]", source, 0.0, ITEM_MAX)
                      for i, v in enumerate(rater_items)]
            weights = [1.0] * len(values)
            if isinstance(weights_doc, dict) and len(values) == len(items):
                candidate = [weights_doc.get(item) for item in items]
                if all(isinstance(w, (int, float)) and w >= 0 for w in candidate) \
                        and sum(candidate) > 0:
                    weights = [float(w) for w in candidate]
            means.append(sum(w * v for w, v in zip(weights, values)) / sum(weights))
        result[name] = sum(means) / len(means) / ITEM_MAX
    return result


def _parse_aihub(doc: dict, source: str, digest: str) -> EssayRecord:
    paragraphs = _get(doc, "paragraph", source)
    if not isinstance(paragraphs, list) or not paragraphs:
        raise EssayDataError(f"{source}: field 'paragraph': expected a non-empty list")
    raw = [_string(_get(p, "paragraph_txt", source), f"paragraph[{i}].paragraph_txt", source)
           for i, p in enumerate(paragraphs)]
    marked_text = " ".join(raw)
    sentences = split_marked(marked_text)
    if not sentences:
        raise EssayDataError(f"{source}: field 'paragraph[].paragraph_txt': the essay is empty")
    clean = [" ".join(split_marked(p)) for p in raw]
    rater_scores = _get(doc, "score.essay_scoreT", source)
    if not isinstance(rater_scores, list) or not rater_scores:
        raise EssayDataError(f"{source}: field 'score.essay_scoreT': expected a list of the "
                             f"raters' totals, got {rater_scores!r}")
    student = doc.get("student") if isinstance(doc.get("student"), dict) else {}
    return EssayRecord(
        id=_string(_get(doc, "info.essay_id", source), "info.essay_id", source),
        category=_string(_get(doc, "info.essay_type", source), "info.essay_type", source),
        title=_string(_get(doc, "info.essay_main_subject", source), "info.essay_main_subject",
                      source),
        prompt=_string(_get(doc, "info.essay_prompt", source), "info.essay_prompt",
                       source).strip(),
        paragraphs=[p for p in clean if p],
        sentences=sentences,
        score=_number(_get(doc, "score.essay_scoreT_avg", source), "score.essay_scoreT_avg",
                      source, 0.0, MAX_SCORE),
        rater_scores=[_number(v, f"score.essay_scoreT[{i}]", source, 0.0, MAX_SCORE)
                      for i, v in enumerate(rater_scores)],
        criteria=_criteria(doc, source),
        source=source, source_sha256=digest, marked_text=marked_text, student=dict(student))


def _parse_reference(doc: dict, source: str, digest: str) -> EssayRecord:
    from dlpy.text.analysis import parse_reference_format

    paragraph = _string(_get(doc, "paragraph", source), "paragraph", source)
    prompt = _string(_get(doc, "prompt", source), "prompt", source)
    score = _number(_get(doc, "score", source), "score", source, 0.0, 1.0) * MAX_SCORE
    forms = parse_reference_format(paragraph)
    if not forms:
        raise EssayDataError(f"{source}: field 'paragraph': the essay is empty")
    prompt_forms = parse_reference_format(prompt)
    stem = Path(source.split("::")[-1]).stem
    category = stem.split("_", 1)[0] if stem.split("_", 1)[0] in CATEGORIES else ""
    essay_id = stem[stem.index("ESSAY_"):] if "ESSAY_" in stem else stem
    sentences = [" ".join(s) for s in forms]
    prompt_text = " ".join(" ".join(s) for s in prompt_forms)
    # the format has no prompt title: the prompt's opening words stand in for it, so essays on
    # different prompts stay apart (per-prompt weights, stratified folds, `dlpy essay prompts`)
    title = prompt_text if len(prompt_text) <= 40 else prompt_text[:40].rstrip() + "..."
    return EssayRecord(
        id=essay_id, category=category, title=title,
        prompt=prompt_text,
        paragraphs=[" ".join(sentences)], sentences=sentences, score=score, rater_scores=[],
        criteria=None, source=source, source_sha256=digest,
        marked_text=SENTENCE_MARKER.join(sentences) + SENTENCE_MARKER,
        tokens=[[(f, "") for f in s] for s in forms],
        prompt_tokens=[[(f, "") for f in s] for s in prompt_forms])


def parse_essay(data: bytes, source: str) -> EssayRecord:
    """One essay from the bytes of its JSON file: AI Hub's schema or the preprocessed format
    (`{"prompt", "paragraph", "score"}`), told apart by the type of `paragraph`."""
    digest = sha256_bytes(data)
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as err:
        raise EssayDataError(f"{source}: not UTF-8 (byte {err.start})") from err
    except json.JSONDecodeError as err:
        raise EssayDataError(f"{source}: line {err.lineno} column {err.colno}: "
                             f"not valid JSON: {err.msg}") from err
    if not isinstance(doc, dict):
        raise EssayDataError(f"{source}: expected a JSON object, got {type(doc).__name__}")
    if isinstance(doc.get("paragraph"), str):
        return _parse_reference(doc, source, digest)
    return _parse_aihub(doc, source, digest)


def read_essays(source: str | os.PathLike | Iterable[str | os.PathLike], *,
                categories: Iterable[str] | None = None, skip_bad: bool = False,
                show_progress: bool = False) -> EssayCorpus:
    """All essays under `source`: a folder (recursively, `.json` and `.zip` inside), a `.zip`, a
    file, or a list of them. `categories` keeps only those (e.g. ["글짓기"]; the preprocessed
    format's category comes from the file name). A malformed file raises EssayDataError naming
    the file and field; with `skip_bad` it is skipped, and the count is reported at the end."""
    wanted = None
    if categories is not None:
        wanted = set(categories)
        unknown = wanted - set(CATEGORIES)
        if unknown:
            raise ValueError(f"read_essays: unknown categories {sorted(unknown)}; "
                             f"expected some of {list(CATEGORIES)}")
    corpus = EssayCorpus()
    entries = list(_iter_sources(source))
    for label, data, path in progress(entries, desc="reading essays", enabled=show_progress):
        try:
            record = parse_essay(path.read_bytes() if data is None else data, label)
        except EssayDataError as err:
            if not skip_bad:
                raise
            corpus.skipped.append(str(err))
            continue
        if wanted is None or record.category in wanted:
            corpus.append(record)
    if corpus.skipped:
        warnings.warn(f"read_essays: skipped {len(corpus.skipped)} bad file(s) of "
                      f"{len(entries)}; the first: {corpus.skipped[0]}", stacklevel=2)
    return corpus


# --- analysis through the cache ---

@dataclass
class AnalyzedEssay:
    """An essay and its analysis: sentences of (form, tag), for the essay and its prompt."""

    record: EssayRecord
    sentences: list[Sentence]
    prompt_sentences: list[Sentence]

    def tokens(self, with_tags: bool = True) -> list[str]:
        """The essay's tokens, `form/TAG` (the Kiwi vectors' keys) or forms only."""
        return [f"{f}/{t}" if with_tags and t else f for s in self.sentences for f, t in s]


def analyze_essays(records: Iterable[EssayRecord], analyzer: str | Analyzer = "kiwi", *,
                   cache_dir: str | os.PathLike | None = None, use_cache: bool = True,
                   show_progress: bool = True) -> list[AnalyzedEssay]:
    """Analyse essays and their prompts, reading and filling the on-disk cache. Records of the
    preprocessed format are already analysed (Kkma) and pass through without an analyser."""
    records = list(records)
    need_analyzer = any(r.tokens is None for r in records)
    analyzer_obj = (get_analyzer(analyzer) if isinstance(analyzer, str) else analyzer) \
        if need_analyzer else None
    cache = AnalysisCache.for_analyzer(analyzer_obj, cache_dir) \
        if analyzer_obj is not None and use_cache else None
    prompts: dict[str, list[Sentence]] = {}
    result = []
    for record in progress(records, desc=f"analysing ({getattr(analyzer_obj, 'name', 'none')})",
                           enabled=show_progress):
        if record.tokens is not None:
            result.append(AnalyzedEssay(record, record.tokens, record.prompt_tokens or []))
            continue
        fields = cache.get(record.source_sha256) if cache is not None else None
        if fields is None or "essay" not in fields or "prompt" not in fields:
            if record.prompt not in prompts:
                prompts[record.prompt] = analyzer_obj.analyze(record.prompt)
            fields = {"essay": analyzer_obj.analyze(record.marked_text),
                      "prompt": prompts[record.prompt]}
            if cache is not None:
                cache.put(record.source_sha256, fields)
        result.append(AnalyzedEssay(record, fields["essay"], fields["prompt"]))
    return result


@dataclass
class PreprocessReport:
    num_essays: int
    cached_before: int
    seconds: float
    skipped: list[str]
    cache_directory: Path | None

    def __str__(self) -> str:
        where = f" in {self.cache_directory}" if self.cache_directory else ""
        return (f"{self.num_essays} essays analysed in {self.seconds:.1f} s "
                f"({self.cached_before} were already cached){where}; "
                f"{len(self.skipped)} bad file(s) skipped")


def preprocess(data: str | os.PathLike | Iterable[str | os.PathLike], analyzer: str = "kiwi", *,
               categories: Iterable[str] | None = None, skip_bad: bool = False,
               cache_dir: str | os.PathLike | None = None,
               show_progress: bool = True) -> PreprocessReport:
    """Fill the analysis cache for a corpus (what `dlpy essay preprocess` runs)."""
    start = time.perf_counter()
    records = read_essays(data, categories=categories, skip_bad=skip_bad)
    analyzer_obj = get_analyzer(analyzer)
    cache = AnalysisCache.for_analyzer(analyzer_obj, cache_dir)
    cached_before = sum(1 for r in records if r.tokens is None and r.source_sha256 in cache)
    analyze_essays(records, analyzer_obj, cache_dir=cache_dir, show_progress=show_progress)
    return PreprocessReport(len(records), cached_before, time.perf_counter() - start,
                            records.skipped, cache.directory)
