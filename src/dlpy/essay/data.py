"""AI Hub essay-evaluation data (에세이 글 평가 데이터) and the report's preprocessed format.

    essays = read_essays("../shared/data/essays/aihub-writing-dev")          # folder, files, .zip
    essays = read_essays(path, categories=["글짓기"], skip_bad=True)
    essays[0].score, essays[0].criteria["content"], essays[0].sentences

One `EssayRecord` per essay. The model inputs are the text fields and the prompt; the targets are
`score` (0-30), `rater_scores` and `criteria` (0-1). `student` (grade, school, date, location) is
read but kept apart: it must never become model input (it would score the student, not the text).

The category of an essay is the folder it came in (`설명글/...json` inside a zip, or the file
name's prefix), not `info.essay_type` (kept for files outside such folders) nor
`rubric.essay_type` (kept as `rubric_type`; it disagrees for 560 of the 3,609 글짓기 essays).

Identical texts under other ids (1.2% of aihub-train) share `text_hash`: `duplicate_groups` gives
CV one group per text, `deduplicate` keeps one record per text with the scores averaged.

Files are read with bounded reads (`max_bytes`, 5 MB by default, also for zip members, which are
never inflated whole); a bad file or zip member raises EssayDataError naming it and the field, or
with `skip_bad` is skipped and listed in `.skipped`, and the run goes on.

`analyze_essays` / `preprocess` run a morphological analyser over a corpus in worker processes
through the on-disk cache of `dlpy.text.cache` (keyed by analyser, its version and each file's
SHA-256), filled under the cache's lock (`dlpy.text.batch`).
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from dlpy.io import no_gc
from dlpy.progress import progress
from dlpy.text.analysis import SENTENCE_MARKER, Analyzer, Sentence, split_marked
from dlpy.text.batch import BatchReport, Job, analyze_many
from dlpy.text.cache import sha256_bytes

CATEGORIES = ("글짓기", "대안제시", "설명글", "주장", "찬성반대")
MAX_SCORE = 30.0
ITEM_MAX = 3.0  # each rubric item is scored 0-3
MAX_BYTES = 5 * 1024 * 1024  # the longest essay file read (the corpus's longest is 40 KB)
AVERAGE_TOLERANCE = 0.01  # points between essay_scoreT_avg and the mean of the raters' totals

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
ITEMS = tuple(item for *_, items in CRITERIA.values() for item in items)  # the 11 rubric items


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
    items: dict[str, float] | None = None          # the 11 rubric items (ITEMS), rater mean, 0-3
    criterion_weights: dict[str, float] | None = None  # organisation/content/expression
    item_weights: dict[str, float] | None = None   # each item's weight within its criterion
    rubric_type: str = ""                          # rubric.essay_type, as the file says
    text_hash: str = ""                            # SHA-256 of the whitespace-normalised text
    copies: int = 1                                # identical texts merged into this record

    def __post_init__(self) -> None:
        if not self.text_hash:
            self.text_hash = text_sha256(self.text)

    @property
    def text(self) -> str:
        """The essay, paragraphs joined with newlines."""
        return "\n".join(self.paragraphs)

    @property
    def duplicate_group(self) -> str:
        """The same for every essay with this text (whitespace aside): CV keeps a group whole."""
        return self.text_hash

    @property
    def target(self) -> float:
        """The score on the 0-1 scale (score / 30)."""
        return self.score / MAX_SCORE


def text_sha256(text: str) -> str:
    """SHA-256 of `text` with every run of whitespace made one space (ends stripped)."""
    return sha256_bytes(" ".join(text.split()).encode("utf-8", "surrogatepass"))


class EssayCorpus(list):
    """A list of EssayRecord, plus `skipped`: "file: reason" for each file left out by skip_bad."""

    def __init__(self, records: Iterable[EssayRecord] = (), skipped: list[str] | None = None):
        super().__init__(records)
        self.skipped: list[str] = list(skipped or [])
        self.entries = len(self)  # files and zip members looked at

    @property
    def duplicates(self) -> int:
        """Essays whose text an earlier essay already has (the extra copies)."""
        return len(self) - len({r.text_hash for r in self})

    def counts(self) -> dict[str, int]:
        """Essays per category, in CATEGORIES order (others after)."""
        counts = Counter(r.category for r in self)
        order = [c for c in CATEGORIES if c in counts] + sorted(set(counts) - set(CATEGORIES))
        return {c: counts[c] for c in order}

    def summary(self) -> str:
        """e.g. `38626 essays (글짓기 3609, ...); 474 duplicate texts in 461 groups; 0 skipped`."""
        groups = Counter(r.text_hash for r in self)
        shared = sum(1 for n in groups.values() if n > 1)
        per = ", ".join(f"{c} {n}" for c, n in self.counts().items())
        return (f"{len(self)} essays ({per}); {self.duplicates} extra copies of "
                f"{shared} duplicated texts; {len(self.skipped)} bad file(s) skipped")


def duplicate_groups(records: Sequence[EssayRecord]) -> np.ndarray:
    """(n,) int: one group number per distinct text, numbered in order of first appearance."""
    numbers: dict[str, int] = {}
    return np.array([numbers.setdefault(r.text_hash, len(numbers)) for r in records],
                    dtype=np.int64)


def prompt_counts(records: Sequence[EssayRecord]) -> dict[str, dict[str, int]]:
    """{category: {prompt title: essays}}, categories in CATEGORIES order, prompts by count."""
    counts: dict[str, Counter] = {}
    for record in records:
        counts.setdefault(record.category, Counter())[record.title] += 1
    order = [c for c in CATEGORIES if c in counts] + sorted(set(counts) - set(CATEGORIES))
    return {c: dict(sorted(counts[c].items(), key=lambda kv: (-kv[1], kv[0]))) for c in order}


def prompt_table(records: Sequence[EssayRecord]) -> str:
    """The prompts of a corpus by category with their essay counts (`dlpy essay prompts`)."""
    table = prompt_counts(records)
    lines = []
    for category, prompts in table.items():
        lines.append(f"{category or '(no category)'}: {sum(prompts.values())} essays, "
                     f"{len(prompts)} prompts")
        lines += [f"  {n:6d}  {title}" for title, n in prompts.items()]
    lines.append(f"{sum(len(p) for p in table.values())} prompts, {len(records)} essays")
    return "\n".join(lines)


def _mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values))


def deduplicate(records: Sequence[EssayRecord]) -> EssayCorpus:
    """One record per text: the first in reading order, with score, rater totals, criteria and
    items averaged over its copies (`copies` says how many). The first copy's id, prompt and
    category stand for the group (5 groups of aihub-train span two prompts)."""
    groups: dict[str, list[EssayRecord]] = {}
    for record in records:
        groups.setdefault(record.text_hash, []).append(record)
    result = EssayCorpus(skipped=getattr(records, "skipped", None))
    for group in groups.values():
        first = group[0]
        if len(group) == 1:
            result.append(first)
            continue
        raters = first.rater_scores
        if all(len(r.rater_scores) == len(raters) for r in group):
            raters = [_mean(v) for v in zip(*(r.rater_scores for r in group))]
        merged = {}
        for name in ("criteria", "items"):
            dicts = [getattr(r, name) for r in group]
            if all(d is not None and d.keys() == dicts[0].keys() for d in dicts):
                merged[name] = {k: _mean([d[k] for d in dicts]) for k in dicts[0]}
        result.append(replace(first, score=_mean([r.score for r in group]), rater_scores=raters,
                              copies=sum(r.copies for r in group), **merged))
    return result


# --- reading ---

@dataclass
class _Entry:
    """One essay file to read: its label ("path" or "archive.zip::member"), the category its
    folder or name says (None when they say none), and how to get its bytes."""

    label: str
    category: str | None
    read: Callable[[], bytes]


def _zip_member_name(info: zipfile.ZipInfo) -> str:
    """Korean names in zips made on Windows are CP949 bytes that zipfile decoded as CP437."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("cp949")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def category_of(parts: Sequence[str]) -> str | None:
    """The category a path says: its innermost folder named after one, else the file name's
    prefix (`글짓기_중등_1학년_ESSAY_1.json`), else None."""
    for folder in reversed(parts[:-1]):
        if folder in CATEGORIES:
            return folder
    prefix = parts[-1].split("_", 1)[0] if parts else ""
    return prefix if prefix in CATEGORIES else None


def _read_file(path: Path, label: str, max_bytes: int) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as err:
        raise EssayDataError(f"{label}: cannot read: {err}") from err
    if len(data) > max_bytes:
        raise EssayDataError(f"{label}: larger than the {max_bytes:,}-byte cap of one essay file")
    return data


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, label: str,
                 max_bytes: int) -> bytes:
    """A member's bytes, inflating at most max_bytes + 1 of them (a zip bomb is never inflated
    whole); the CRC is checked when the member ends within the cap."""
    if info.flag_bits & 0x1:
        raise EssayDataError(f"{label}: the zip member is encrypted (no password is known)")
    if info.file_size > max_bytes:
        raise EssayDataError(f"{label}: the zip member inflates to {info.file_size:,} bytes, over "
                             f"the {max_bytes:,}-byte cap of one essay file")
    try:
        with archive.open(info) as member:
            data = member.read(max_bytes + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError,
            NotImplementedError, ValueError) as err:
        raise EssayDataError(f"{label}: unreadable zip member: {err}") from err
    if len(data) > max_bytes:
        raise EssayDataError(f"{label}: the zip member inflates past the {max_bytes:,}-byte cap "
                             "of one essay file")
    return data


def _failing(error: EssayDataError) -> Callable[[], bytes]:
    def read() -> bytes:
        raise error
    return read


def _iter_zip(path: Path, max_bytes: int) -> Iterator[_Entry]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as err:  # a broken archive is one bad file
        error = EssayDataError(f"{path}: not a readable zip archive: {err}")
        yield _Entry(str(path), None, _failing(error))
        return
    with archive:
        members = []
        for info in archive.infolist():
            name = _zip_member_name(info)
            if not info.is_dir() and name.lower().endswith(".json"):
                members.append((name, info))
        for name, info in sorted(members, key=lambda m: m[0]):
            label = f"{path}::{name}"
            yield _Entry(label, category_of(PurePosixPath(name).parts),
                         lambda info=info, label=label: _read_member(archive, info, label,
                                                                     max_bytes))


def _iter_sources(source: str | os.PathLike | Iterable[str | os.PathLike],
                  max_bytes: int = MAX_BYTES) -> Iterator[_Entry]:
    """The essay files under `source`, in a stable order (sorted paths, sorted members)."""
    if isinstance(source, (str, os.PathLike)):
        sources: list[Path] = [Path(source)]
    else:
        sources = [Path(s) for s in source]
    for path in sources:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                suffix = child.suffix.lower()
                if child.is_file() and suffix == ".json":
                    yield _plain_entry(child, path, max_bytes)
                elif child.is_file() and suffix == ".zip":
                    yield from _iter_zip(child, max_bytes)
        elif path.suffix.lower() == ".zip" and path.is_file():
            yield from _iter_zip(path, max_bytes)
        elif path.is_file():
            yield _plain_entry(path, path.parent, max_bytes)
        else:
            raise FileNotFoundError(f"read_essays: no such file or folder: {path}")


def _plain_entry(path: Path, root: Path, max_bytes: int) -> _Entry:
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        parts = (path.name,)
    # the folder given and the folders below it can name the category
    parts = (root.name, *parts) if root.name else parts
    return _Entry(str(path), category_of(parts),
                  lambda: _read_file(path, str(path), max_bytes))


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


def _numbers(values: list, dotted: str, source: str, low: float, high: float) -> list[float]:
    """_number over a list (`dotted[i]` names each), with a fast path for the usual case."""
    if all(type(v) is int or type(v) is float for v in values) and all(
            low <= v <= high for v in values):  # NaN fails the comparison: the slow path
        return [float(v) for v in values]
    return [_number(v, f"{dotted}[{i}]", source, low, high) for i, v in enumerate(values)]


def _weights(doc: dict, weight_key: str, keys: Sequence[str], source: str) -> list[float]:
    """The weights rubric.<weight_key>.<key>, checked (fast path for the usual case)."""
    table = doc.get("rubric", {}).get(weight_key) if isinstance(doc.get("rubric"), dict) \
        else None
    if isinstance(table, dict):
        values = [table.get(k) for k in keys]
        if all(type(v) is int or type(v) is float for v in values) and all(
                0 <= v < math.inf for v in values):
            return [float(v) for v in values]
    return [_weight(_get(doc, f"rubric.{weight_key}.{k}", source), f"rubric.{weight_key}.{k}",
                    source) for k in keys]


def _weight(value: Any, dotted: str, source: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise EssayDataError(f"{source}: field {dotted!r}: expected a rubric weight (a number), "
                             f"got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise EssayDataError(f"{source}: field {dotted!r}: expected a finite weight >= 0, "
                             f"got {value!r}")
    return float(value)


def _string(value: Any, dotted: str, source: str) -> str:
    if not isinstance(value, str):
        raise EssayDataError(f"{source}: field {dotted!r}: expected a string, "
                             f"got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:  # a lone surrogate from a \ud800 escape: not text
        raise EssayDataError(f"{source}: field {dotted!r}: not valid Unicode text: a lone "
                             f"surrogate {value[err.start]!r} at character {err.start}") from None
    return value


def _rubric(doc: dict, source: str, num_raters: int):
    """criteria (0-1), items (0-3, rater means), criterion weights, item weights."""
    detail = _get(doc, "score.essay_scoreT_detail", source)
    criteria, items, criterion_weights, item_weights = {}, {}, {}, {}
    for name, (score_key, weight_key, criterion_key, item_names) in CRITERIA.items():
        weights_doc = _get(doc, f"rubric.{weight_key}", source)
        if not isinstance(weights_doc, dict):
            raise EssayDataError(f"{source}: field 'rubric.{weight_key}': expected an object of "
                                 f"weights, got {weights_doc!r}")
        criterion_weights[name], *weights = _weights(doc, weight_key,
                                                     (criterion_key, *item_names), source)
        if sum(weights) <= 0:
            raise EssayDataError(f"{source}: field 'rubric.{weight_key}': every item weight is 0")
        item_weights.update(zip(item_names, weights))
        dotted = f"score.essay_scoreT_detail.{score_key}"
        per_rater = _get(detail, score_key, source) if isinstance(detail, dict) else None
        if not isinstance(per_rater, list) or len(per_rater) != num_raters:
            raise EssayDataError(f"{source}: field {dotted!r}: expected a list of {num_raters} "
                                 f"raters' item scores, got {per_rater!r}")
        rater_items = []
        for r, values in enumerate(per_rater):
            if not isinstance(values, list) or len(values) != len(item_names):
                raise EssayDataError(f"{source}: field {dotted}[{r}]: expected "
                                     f"{len(item_names)} item scores, got {values!r}")
            rater_items.append(_numbers(values, f"{dotted}[{r}]", source, 0.0, ITEM_MAX))
        means = [sum(w * v for w, v in zip(weights, values)) / sum(weights)
                 for values in rater_items]
        criteria[name] = _mean(means) / ITEM_MAX
        for i, item in enumerate(item_names):
            items[item] = _mean([values[i] for values in rater_items])
    if sum(criterion_weights.values()) <= 0:
        raise EssayDataError(f"{source}: field 'rubric': every criterion weight is 0")
    return criteria, items, criterion_weights, item_weights


def _scores(doc: dict, source: str) -> dict[str, Any]:
    """The raters' scores and the rubric: score, rater_scores, criteria, items, weights."""
    rater_totals = _get(doc, "score.essay_scoreT", source)
    if not isinstance(rater_totals, list) or not rater_totals:
        raise EssayDataError(f"{source}: field 'score.essay_scoreT': expected a list of the "
                             f"raters' totals, got {rater_totals!r}")
    rater_scores = _numbers(rater_totals, "score.essay_scoreT", source, 0.0, MAX_SCORE)
    score = _number(_get(doc, "score.essay_scoreT_avg", source), "score.essay_scoreT_avg",
                    source, 0.0, MAX_SCORE)
    if abs(_mean(rater_scores) - score) > AVERAGE_TOLERANCE:
        raise EssayDataError(f"{source}: field 'score.essay_scoreT_avg': {score:g} contradicts "
                             f"the raters' totals score.essay_scoreT {rater_scores} (mean "
                             f"{_mean(rater_scores):.4f})")
    criteria, items, criterion_weights, item_weights = _rubric(doc, source, len(rater_scores))
    return dict(score=score, rater_scores=rater_scores, criteria=criteria, items=items,
                criterion_weights=criterion_weights, item_weights=item_weights)


_UNSCORED = dict(score=math.nan, rater_scores=[], criteria=None, items=None,
                 criterion_weights=None, item_weights=None)


def _parse_aihub(doc: dict, source: str, digest: str, category: str | None,
                 require_scores: bool = True) -> EssayRecord:
    paragraphs = _get(doc, "paragraph", source)
    if not isinstance(paragraphs, list) or not paragraphs:
        raise EssayDataError(f"{source}: field 'paragraph': expected a non-empty list")
    raw = [_string(_get(p, "paragraph_txt", f"{source}: paragraph[{i}]"),
                   f"paragraph[{i}].paragraph_txt", source) for i, p in enumerate(paragraphs)]
    marked_text = " ".join(raw)
    sentences = split_marked(marked_text)
    if not sentences:
        raise EssayDataError(f"{source}: field 'paragraph[].paragraph_txt': the essay is empty")
    clean = [" ".join(split_marked(p)) for p in raw]

    fields = doc.get("info") if isinstance(doc.get("info"), dict) else {}

    def info(field: str, default: str) -> str:
        if not require_scores and not isinstance(fields.get(field), str):
            return default  # an essay to score: only its text is needed
        return _string(_get(doc, f"info.{field}", source), f"info.{field}", source)

    if require_scores:
        scores = _scores(doc, source)
    else:
        try:  # read when present and sound, never required
            scores = _scores(doc, source)
        except EssayDataError:
            scores = _UNSCORED
    rubric = doc.get("rubric") if isinstance(doc.get("rubric"), dict) else {}
    student = doc.get("student") if isinstance(doc.get("student"), dict) else {}
    return EssayRecord(
        id=info("essay_id", Path(source.split("::")[-1]).stem),
        category=category or info("essay_type", ""),
        title=info("essay_main_subject", ""),
        prompt=info("essay_prompt", "").strip(),
        paragraphs=[p for p in clean if p],
        sentences=sentences,
        source=source, source_sha256=digest, marked_text=marked_text, student=dict(student),
        rubric_type=rubric.get("essay_type") if isinstance(rubric.get("essay_type"), str)
        else "", **scores)


def _parse_reference(doc: dict, source: str, digest: str, category: str | None) -> EssayRecord:
    from dlpy.text.analysis import parse_reference_format

    paragraph = _string(_get(doc, "paragraph", source), "paragraph", source)
    prompt = _string(_get(doc, "prompt", source), "prompt", source)
    score = _number(_get(doc, "score", source), "score", source, 0.0, 1.0) * MAX_SCORE
    forms = parse_reference_format(paragraph)
    if not forms:
        raise EssayDataError(f"{source}: field 'paragraph': the essay is empty")
    prompt_forms = parse_reference_format(prompt)
    stem = Path(source.split("::")[-1]).stem
    essay_id = stem[stem.index("ESSAY_"):] if "ESSAY_" in stem else stem
    sentences = [" ".join(s) for s in forms]
    prompt_text = " ".join(" ".join(s) for s in prompt_forms)
    # the format has no prompt title: the prompt's opening words stand in for it, so essays on
    # different prompts stay apart (per-prompt weights, stratified folds, `dlpy essay prompts`)
    title = prompt_text if len(prompt_text) <= 40 else prompt_text[:40].rstrip() + "..."
    return EssayRecord(
        id=essay_id, category=category or "", title=title,
        prompt=prompt_text,
        paragraphs=[" ".join(sentences)], sentences=sentences, score=score, rater_scores=[],
        criteria=None, source=source, source_sha256=digest,
        marked_text=SENTENCE_MARKER.join(sentences) + SENTENCE_MARKER,
        tokens=[[(f, "") for f in s] for s in forms],
        prompt_tokens=[[(f, "") for f in s] for s in prompt_forms])


def parse_essay(data: bytes, source: str, category: str | None = None, *,
                require_scores: bool = True) -> EssayRecord:
    """One essay from the bytes of its JSON file: AI Hub's schema or the preprocessed format
    (`{"prompt", "paragraph", "score"}`), told apart by the type of `paragraph`. `category`
    (what the file's folder says) overrides `info.essay_type`; None: the file name's prefix.
    `require_scores=False` (essays to score): only the text is required; scores, rubric and
    the info fields are read when present and sound (else score NaN, criteria None, id the
    file name)."""
    if category is None:
        category = category_of(PurePosixPath(source.split("::")[-1]).parts[-1:])
    digest = sha256_bytes(data)
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as err:
        raise EssayDataError(f"{source}: not UTF-8 (byte {err.start})") from err
    except json.JSONDecodeError as err:
        raise EssayDataError(f"{source}: line {err.lineno} column {err.colno}: "
                             f"not valid JSON: {err.msg}") from err
    except RecursionError:
        raise EssayDataError(f"{source}: JSON nested too deeply to read") from None
    except ValueError as err:  # e.g. an integer of more than 4,300 digits
        raise EssayDataError(f"{source}: not readable JSON: {err}") from err
    if not isinstance(doc, dict):
        raise EssayDataError(f"{source}: expected a JSON object, got {type(doc).__name__}")
    if isinstance(doc.get("paragraph"), str):
        return _parse_reference(doc, source, digest, category)
    return _parse_aihub(doc, source, digest, category, require_scores)


def read_essays(source: str | os.PathLike | Iterable[str | os.PathLike], *,
                categories: Iterable[str] | None = None, skip_bad: bool = False,
                max_bytes: int = MAX_BYTES, require_scores: bool = True,
                show_progress: bool = False) -> EssayCorpus:
    """All essays under `source`: a folder (recursively, `.json` and `.zip` inside), a `.zip`, a
    file, or a list of them. `categories` keeps only those (e.g. ["글짓기"]). A malformed file
    or zip member raises EssayDataError naming it and the field; with `skip_bad` it is skipped,
    listed in `.skipped` ("file: reason"), and the count is reported at the end.
    `require_scores=False` reads essays to score (see parse_essay)."""
    wanted = None
    if categories is not None:
        wanted = set(categories)
        unknown = wanted - set(CATEGORIES)
        if unknown:
            raise ValueError(f"read_essays: unknown categories {sorted(unknown)}; "
                             f"expected some of {list(CATEGORIES)}")
    corpus = EssayCorpus()
    with no_gc():  # many small dicts and lists: the cyclic collector only slows this down
        _read_into(corpus, source, wanted, skip_bad, max_bytes, require_scores,
                   show_progress)
    if corpus.skipped:
        warnings.warn(f"read_essays: skipped {len(corpus.skipped)} bad file(s) of "
                      f"{corpus.entries}; the first: {corpus.skipped[0]}", stacklevel=2)
    return corpus


def _read_into(corpus: EssayCorpus, source, wanted: set | None, skip_bad: bool,
               max_bytes: int, require_scores: bool, show_progress: bool) -> None:
    entries = 0
    for entry in progress(_iter_sources(source, max_bytes), desc="reading essays",
                          enabled=show_progress, unit="file"):
        entries += 1
        if wanted is not None and entry.category is not None and entry.category not in wanted:
            continue  # its folder says another category: not even read
        try:
            record = parse_essay(entry.read(), entry.label, entry.category,
                                 require_scores=require_scores)
        except EssayDataError as err:
            if not skip_bad:
                raise
            corpus.skipped.append(str(err))
            continue
        if wanted is None or record.category in wanted:
            corpus.append(record)
    corpus.entries = entries


# --- analysis through the cache ---

@dataclass
class AnalyzedEssay:
    """An essay and its analysis: sentences of (form, tag), for the essay and its prompt, and
    the spaces Kiwi's spacing model would insert (None when not counted)."""

    record: EssayRecord
    sentences: list[Sentence]
    prompt_sentences: list[Sentence]
    missing_spaces: int | None = None

    def tokens(self, with_tags: bool = True) -> list[str]:
        """The essay's tokens, `form/TAG` (the Kiwi vectors' keys) or forms only."""
        return [f"{f}/{t}" if with_tags and t else f for s in self.sentences for f, t in s]


class AnalyzedCorpus(list):
    """A list of AnalyzedEssay, plus `skipped` (essays the analyser rejected, with skip_bad)
    and `report` (cached / analysed counts, seconds, essays/s)."""

    def __init__(self, items: Iterable[AnalyzedEssay] = (), skipped: list[str] | None = None,
                 report: BatchReport | None = None):
        super().__init__(items)
        self.skipped: list[str] = list(skipped or [])
        self.report = report


def default_workers() -> int:
    """Worker processes for analysis: one per core (at most 8)."""
    return max(1, min(os.cpu_count() or 1, 8))


def analyze_essays(records: Iterable[EssayRecord], analyzer: str | Analyzer = "kiwi", *,
                   workers: int | None = None, cache_dir: str | os.PathLike | None = None,
                   use_cache: bool = True, skip_bad: bool = False,
                   show_progress: bool = True, count_spaces: bool = True) -> AnalyzedCorpus:
    """Analyse essays and their prompts through the on-disk cache, the missing ones in `workers`
    processes (default: one per core; a small job stays in this process). With Kiwi the spacing
    errors are counted too, unless `count_spaces` is False (about a quarter of the analysis
    time; for models trained with `--no-spacing-features`). Records of the preprocessed format
    are already analysed (Kkma) and pass through without an analyser. An essay the analyser
    rejects raises EssayDataError naming its file; with `skip_bad` it is left out and listed in
    `.skipped`."""
    records = list(records)
    todo = [r for r in records if r.tokens is None]
    analyses = {}
    report = None
    if todo:
        jobs = [Job(r.source_sha256, {"essay": r.marked_text, "prompt": r.prompt}, r.text)
                for r in todo]
        name = analyzer if isinstance(analyzer, str) else getattr(analyzer, "name", "analyser")
        results, report = analyze_many(
            jobs, analyzer, workers=workers or default_workers(), cache_dir=cache_dir,
            use_cache=use_cache, show_progress=show_progress, desc=f"analysing ({name})",
            count_spaces=None if count_spaces else False)
        analyses = {id(r): result for r, result in zip(todo, results)}
    corpus = AnalyzedCorpus(report=report)
    for record in records:
        if record.tokens is not None:
            corpus.append(AnalyzedEssay(record, record.tokens, record.prompt_tokens or []))
            continue
        result = analyses[id(record)]
        if result.error is not None:
            message = f"{record.source}: the analyser rejected the essay: {result.error}"
            if not skip_bad:
                raise EssayDataError(message)
            corpus.skipped.append(message)
            continue
        corpus.append(AnalyzedEssay(record, result.fields["essay"], result.fields["prompt"],
                                    result.missing_spaces))
    if corpus.skipped:
        warnings.warn(f"analyze_essays: skipped {len(corpus.skipped)} essay(s) the analyser "
                      f"rejected; the first: {corpus.skipped[0]}", stacklevel=2)
    return corpus


@dataclass
class PreprocessReport:
    num_essays: int
    cached_before: int
    seconds: float
    skipped: list[str]
    cache_directory: Path | None
    read_seconds: float = 0.0
    categories: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0              # extra copies of texts read earlier
    duplicated_texts: int = 0        # texts that have more than one copy
    analysis: BatchReport | None = None

    def __str__(self) -> str:
        where = f" in {self.cache_directory}" if self.cache_directory else ""
        per = ", ".join(f"{c} {n}" for c, n in self.categories.items())
        lines = [f"{self.num_essays} essays read in {self.read_seconds:.1f} s ({per})",
                 f"duplicates: {self.duplicates} extra copies of {self.duplicated_texts} texts "
                 "(CV keeps each text in one fold; `deduplicate` counts each once)",
                 f"analysis: {self.num_essays} essays in "
                 f"{self.seconds - self.read_seconds:.1f} s ({self.cached_before} were already "
                 f"cached){where}; {self.seconds:.1f} s in all"]
        if self.analysis is not None and self.analysis.analysed:
            lines.append(f"  analysed {self.analysis.analysed} in "
                         f"{self.analysis.analysis_seconds:.1f} s "
                         f"({self.analysis.per_second:.1f} essays/s, "
                         f"{self.analysis.workers} worker(s))")
        lines.append(f"{len(self.skipped)} bad file(s) skipped")
        lines += [f"  skipped: {reason}" for reason in self.skipped]
        return "\n".join(lines)


def preprocess(data: str | os.PathLike | Iterable[str | os.PathLike], analyzer: str = "kiwi", *,
               categories: Iterable[str] | None = None, skip_bad: bool = False,
               cache_dir: str | os.PathLike | None = None, workers: int | None = None,
               show_progress: bool = True, count_spaces: bool = True) -> PreprocessReport:
    """Read a corpus and fill the analysis cache (what `dlpy essay preprocess` runs);
    `count_spaces` False leaves the spacing errors uncounted."""
    start = time.perf_counter()
    records = read_essays(data, categories=categories, skip_bad=skip_bad,
                          show_progress=show_progress)
    read_seconds = time.perf_counter() - start
    analysed = analyze_essays(records, analyzer, workers=workers, cache_dir=cache_dir,
                              skip_bad=skip_bad, show_progress=show_progress,
                              count_spaces=count_spaces)
    batch = analysed.report
    groups = Counter(r.text_hash for r in records)
    return PreprocessReport(
        len(records), batch.cached if batch else 0, time.perf_counter() - start,
        records.skipped + analysed.skipped,
        Path(batch.cache_directory) if batch and batch.cache_directory else None,
        read_seconds=read_seconds, categories=records.counts(), duplicates=records.duplicates,
        duplicated_texts=sum(1 for n in groups.values() if n > 1), analysis=batch)
