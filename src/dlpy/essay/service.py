"""Scoring for people: one essay or a class of them, with warnings and an explanation. What the
web service (dlpy.essay.serve), `dlpy essay score` and `dlpy essay explain` share.

    service = ScoringService()                       # the bundled model; Kiwi loaded once
    result = service.score(text, prompt="미래의 나의 모습")
    result["score"], result["integer"], result["criteria"], result["warnings"]
    items = read_batch("class.zip", data)            # AI Hub JSON in a zip, CSV or JSONL

`ModelAdapter` is the one place that knows the Scorer's interface (dlpy.essay.scorer): when the
Scorer changes, only it changes.
"""

from __future__ import annotations

import csv
import io
import json
import os
import threading
import time
import zipfile
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from dlpy.essay import checks
from dlpy.essay.features import Doc
from dlpy.text.analysis import SENTENCE_MARKER

BUNDLED_MODEL = Path(__file__).parent / "bundled" / "model.npz"
MAX_CHARS = 20_000            # one essay; the longest development essay has about 3,000
MAX_BATCH_ESSAYS = 500        # one class upload
MAX_BATCH_BYTES = 20_000_000  # the upload, and the uncompressed members of a zip together
CRITERIA = ("organisation", "content", "expression")


class EssayTooLong(ValueError):
    """An essay over MAX_CHARS characters."""


class BatchTooLarge(ValueError):
    """A batch over MAX_BATCH_ESSAYS essays or MAX_BATCH_BYTES bytes."""


class BatchError(ValueError):
    """An upload that is not a zip of essay JSON, a CSV with a text column, or JSONL."""


# --------------------------------------------------------------------------- the model

class ModelAdapter:
    """The Scorer's interface as the service uses it (load, predict, explain, what the training
    set looked like): dlpy.essay.scorer's."""

    def __init__(self, path: str | os.PathLike | None = None):
        from dlpy.essay.scorer import load_scorer

        self.path = Path(path) if path else BUNDLED_MODEL
        self.scorer = load_scorer(self.path)
        featurizer = self.scorer.featurizer
        ood = (self.scorer.info.get("ood") or {}).get("stat_rms_z") or {}
        self.reference = checks.Reference(
            standardise=lambda doc: featurizer.statistics([doc])[0],
            vocabulary=checks.reference_vocabulary(featurizer.vocabulary),
            # an essay further out than 1.5 x the training essays' 99th percentile
            max_rms_z=1.5 * ood["p99"] if "p99" in ood else checks.MAX_RMS_Z)

    @property
    def prompts(self) -> list[str]:
        return list(self.scorer.prompts)

    def doc_fields(self, prompt: str) -> dict:
        """What a new essay's Doc takes from the model: the prompt's text (and category)."""
        featurizer = self.scorer.featurizer
        return {"prompt_text": featurizer.prompt_texts.get(prompt, ""),
                "category": featurizer.prompt_info.get(prompt, {}).get("category", "")}

    def categories(self) -> dict[str, list[str]]:
        """Category -> prompts, in the model's order."""
        return self.scorer.prompts_by_category()

    def predict(self, prepared: PreparedEssay, explain: bool = False) -> tuple[dict, object]:
        """({"score", "integer", "criteria"}, the Explanation or None), from one forward pass.
        A model that gives no finite number gives score None, never a made-up one."""
        scorer = self.scorer
        data = scorer.encode([prepared.doc])
        scores, criteria = scorer.predict_encoded(data)
        if not np.isfinite(scores[0]):
            return {"score": None, "integer": None, "criteria": None}, None
        result = {"score": round(float(scores[0]), 2),
                  "integer": int(scorer.calibration(scores)[0]), "criteria": None}
        if criteria is not None and np.all(np.isfinite(criteria[0])):
            result["criteria"] = {name: round(float(v) * 3, 2)
                                  for name, v in zip(CRITERIA, criteria[0])}
        explanation = None
        if explain and self.can_explain():
            from dlpy.essay.explain import explain as explain_essay

            explanation = explain_essay(scorer, prepared, data)
        return result, explanation

    def can_explain(self) -> bool:
        return bool(self.scorer.family.uses_wide)

    def training_overlap(self, texts: list[str]) -> int | None:
        """How many of `texts` the model was trained on, or None where the model keeps no
        fingerprint of its training set (info["training_sha256"]: hex prefixes)."""
        fingerprint = self.scorer.info.get("training_sha256")
        if not fingerprint:
            return None
        from dlpy.text.cache import sha256_bytes

        known = set(fingerprint)
        width = len(next(iter(known)))
        return sum(sha256_bytes(t.encode("utf-8"))[:width] in known for t in texts)

    def describe(self) -> dict:
        info = self.scorer.info
        return {"path": str(self.path), "family": self.scorer.family.name,
                "trained_on": info.get("trained_on"), "prompts": len(self.prompts)}


# --------------------------------------------------------------------------- one essay

@dataclass
class PreparedEssay:
    """An essay analysed once for scoring and explaining: the Doc (same as
    features.doc_from_text gives), where each morpheme and sentence lies in doc.text, and the
    spaces Kiwi's spacing model would insert."""

    doc: Doc
    morpheme_spans: list[tuple[int, int]]
    sentence_spans: list[tuple[int, int]]
    spacing: list[dict] = field(default_factory=list)


def _spacing_fixes(paragraph: str, spaced: str, offset: int) -> tuple[int, list[dict]]:
    """Count the spaces `spaced` adds to `paragraph` (as features.SpacingCounter does) and
    describe each word that gains one: {"start", "end", "text", "suggestion"}."""
    inserted = []
    i = j = 0
    while i < len(paragraph) and j < len(spaced):
        if paragraph[i] == spaced[j]:
            i += 1
            j += 1
        elif spaced[j] == " ":
            inserted.append(i)
            j += 1
        elif paragraph[i] == " ":  # a space the model would remove: not a missing space
            i += 1
        else:  # the model changed something other than spaces: keep walking both
            i += 1
            j += 1
    fixes: dict[tuple[int, int], list[int]] = {}
    for position in inserted:
        start = paragraph.rfind(" ", 0, position) + 1
        end = paragraph.find(" ", position)
        end = len(paragraph) if end < 0 else end
        fixes.setdefault((start, end), []).append(position)
    out = []
    for (start, end), positions in fixes.items():
        word = paragraph[start:end]
        suggestion = "".join(" " + c if start + k in positions else c
                             for k, c in enumerate(word))
        out.append({"start": offset + start, "end": offset + end, "text": word,
                    "suggestion": suggestion.strip()})
    count = max(spaced.count(" ") - paragraph.count(" "), 0)
    return count, out


def prepare(text: str, prompt: str, kiwi, **doc_fields) -> PreparedEssay:
    """Analyse an essay with Kiwi, keeping positions. Paragraphs are its non-empty lines, as in
    features.doc_from_text (whose Doc this equals; tested). doc_fields: prompt_text, category
    (ModelAdapter.doc_fields), passed to Doc where it has them."""
    text = text.replace(SENTENCE_MARKER, " ")
    paragraphs = [line.strip() for line in text.replace("\r\n", "\n").split("\n")
                  if line.strip()]
    if not paragraphs:
        raise ValueError("the essay is empty (no text after removing whitespace)")
    sentences, morpheme_spans, sentence_spans, spacing = [], [], [], []
    missing, offset = 0, 0
    for paragraph in paragraphs:
        for sentence in kiwi.split_into_sents(paragraph, return_tokens=True):
            if not sentence.tokens:
                continue
            sentences.append([(t.form, t.tag) for t in sentence.tokens])
            morpheme_spans += [(offset + t.start, offset + t.start + t.len)
                               for t in sentence.tokens]
            sentence_spans.append((offset + sentence.start, offset + sentence.end))
        count, fixes = _spacing_fixes(paragraph, kiwi.space(paragraph, reset_whitespace=False),
                                      offset)
        missing += count
        spacing += fixes
        offset += len(paragraph) + 1
    known = {f.name for f in fields(Doc)}
    doc = Doc(text="\n".join(paragraphs), sentences=sentences, prompt=prompt,
              missing_spaces=missing, **{k: v for k, v in doc_fields.items() if k in known})
    return PreparedEssay(doc, morpheme_spans, sentence_spans, spacing)


class ScoringService:
    """The model and Kiwi, loaded once; `score` is safe to call from many threads (one essay
    at a time: Kiwi and the model are not shared across threads)."""

    def __init__(self, model: str | os.PathLike | None = None, kiwi=None):
        self.model = ModelAdapter(model)
        if kiwi is None:
            from dlpy.text import get_analyzer

            kiwi = get_analyzer("kiwi").kiwi
        self.kiwi = kiwi
        self._lock = threading.Lock()
        # the first analysis and forward pass are slow (lazy set-up inside Kiwi and numpy):
        # pay for them now, not in the first teacher's request
        self.score("나는 학생이다. 오늘은 날씨가 맑다.", "", explain=True)

    def prompts(self) -> dict[str, list[dict]]:
        """Category -> [{"id", "title"}], ids as `dlpy essay prompts` numbers them."""
        number = {p: i for i, p in enumerate(self.model.prompts)}
        return {category: [{"id": number[p], "title": p} for p in prompts]
                for category, prompts in self.model.categories().items()}

    def score(self, text: str, prompt: str | None = None, explain: bool = True) -> dict:
        """score (0-30), integer (calibrated), criteria (0-3), warnings, explanation, spacing.
        Raises EssayTooLong over MAX_CHARS and ValueError for an empty essay."""
        if not isinstance(text, str):
            raise TypeError(f"text: expected a string, got {type(text).__name__}")
        if len(text) > MAX_CHARS:
            raise EssayTooLong(f"the essay has {len(text):,} characters; the limit is "
                               f"{MAX_CHARS:,}")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as err:  # "\udcff" is valid JSON but not text
            raise ValueError(f"the essay is not valid Unicode text (an unpaired surrogate at "
                             f"character {err.start})") from None
        start = time.perf_counter()
        warnings = checks.check_text(text)
        if any(w["code"] == "empty" for w in warnings):
            raise ValueError("the essay is empty (no text after removing whitespace)")
        prompt = prompt or ""
        warnings += checks.check_prompt(prompt, self.model.prompts)
        with self._lock:
            prepared = prepare(text, prompt, self.kiwi, **self.model.doc_fields(prompt))
            result, explanation = self.model.predict(prepared, explain)
        warnings += checks.check_doc(prepared.doc, self.model.reference, prepared.morpheme_spans)
        if result["score"] is None:
            warnings.append(checks.warning(
                "no_score", "The model gave no finite score for this essay.",
                "모델이 이 글의 점수를 내지 못했습니다."))
        result.update(prompt=prompt or None, characters=len(prepared.doc.text),
                      warnings=warnings, spacing=prepared.spacing)
        if explanation is not None:
            result["explanation"] = explanation.to_dict()
        result["text"] = prepared.doc.text  # the explanation's offsets index this text
        result["milliseconds"] = round((time.perf_counter() - start) * 1000, 1)
        return result


# --------------------------------------------------------------------------- a class at once

@dataclass
class BatchItem:
    id: str
    text: str
    prompt: str
    error: str | None = None   # a member that could not be read: reported, not scored


def decode_text(data: bytes, name: str) -> str:
    """UTF-8 (with or without BOM), UTF-16 with a BOM, or CP949/EUC-KR (the Korean Windows
    default); ValueError naming `name` otherwise."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as err:
            raise ValueError(f"{name}: not UTF-16 text (byte {err.start})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        first = err.start
    try:
        return data.decode("cp949")
    except UnicodeDecodeError:
        raise ValueError(f"{name}: not UTF-8 text (byte {first}), nor UTF-16 with a BOM, nor "
                         "CP949/EUC-KR; save the essay as UTF-8") from None


def _check_count(items: list, name: str) -> None:
    if len(items) > MAX_BATCH_ESSAYS:
        raise BatchTooLarge(f"{name}: more than {MAX_BATCH_ESSAYS} essays in one batch; split "
                            "the class into smaller files")


def essay_from_json(data: bytes, source: str) -> BatchItem:
    """One essay from a JSON file in a class upload: AI Hub's schema (paragraph[].paragraph_txt,
    info.essay_id, info.essay_main_subject; scores and rubric are not needed: a class's essays
    have none yet) or {"text", "prompt", "id"}. ValueError naming `source` otherwise."""
    from dlpy.text.analysis import split_marked

    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as err:
        raise ValueError(f"{source}: not UTF-8 (byte {err.start})") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{source}: line {err.lineno}: not valid JSON ({err.msg})") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{source}: expected a JSON object, got {type(doc).__name__}")
    info = doc.get("info") if isinstance(doc.get("info"), dict) else {}
    paragraphs = doc.get("paragraph")
    if isinstance(paragraphs, list):
        texts = [p.get("paragraph_txt") if isinstance(p, dict) else None for p in paragraphs]
        if not all(isinstance(t, str) for t in texts):
            raise ValueError(f"{source}: field 'paragraph[].paragraph_txt': expected strings")
        text = "\n".join(" ".join(split_marked(t)) for t in texts)
    elif isinstance(doc.get("text"), str):
        text = doc["text"]
    else:
        raise ValueError(f"{source}: expected AI Hub's 'paragraph' list or a 'text' string")
    prompt = info.get("essay_main_subject", doc.get("prompt", ""))
    essay_id = info.get("essay_id", doc.get("id", Path(source).stem))
    return BatchItem(str(essay_id), text, prompt if isinstance(prompt, str) else "")


def _read_zip(data: bytes, name: str) -> list[BatchItem]:
    from dlpy.essay.data import _zip_member_name

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as err:
        raise BatchError(f"{name}: not a valid zip archive ({err})") from None
    with archive:
        members = [i for i in archive.infolist()
                   if not i.is_dir() and i.filename.lower().endswith(".json")]
        if not members:
            raise BatchError(f"{name}: the zip holds no .json essay files")
        _check_count(members, name)
        if sum(i.file_size for i in members) > MAX_BATCH_BYTES:
            raise BatchTooLarge(f"{name}: the essays unpack to more than "
                                f"{MAX_BATCH_BYTES:,} bytes")
        items = []
        for info in sorted(members, key=_zip_member_name):
            member = _zip_member_name(info)
            try:
                items.append(essay_from_json(archive.read(info), member))
            except (ValueError, zipfile.BadZipFile, RuntimeError, OSError) as err:
                items.append(BatchItem(Path(member).stem, "", "", error=str(err)))
    return items


def _read_csv(data: bytes, name: str) -> list[BatchItem]:
    text = decode_text(data, name)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = [c.strip().lower() for c in reader.fieldnames or []]
    if "text" not in columns:
        raise BatchError(f"{name}: a CSV needs a 'text' column (and may have 'prompt' and "
                         f"'id'), got columns {columns}")
    items = []
    for row_number, row in enumerate(reader, start=1):
        row = {(k or "").strip().lower(): (v or "") for k, v in row.items()}
        items.append(BatchItem(row.get("id") or str(row_number), row["text"],
                               row.get("prompt", "").strip()))
        _check_count(items, name)
    return items


def _read_jsonl(data: bytes, name: str) -> list[BatchItem]:
    text = decode_text(data, name)
    items = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise BatchError(f"{name}: line {line_number}: not valid JSON ({err.msg})") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            raise BatchError(f"{name}: line {line_number}: expected an object with a string "
                             "'text' (and optionally 'prompt' and 'id')")
        prompt = obj.get("prompt")
        items.append(BatchItem(str(obj.get("id", line_number)), obj["text"],
                               prompt if isinstance(prompt, str) else ""))
        _check_count(items, name)
    return items


def read_batch(name: str, data: bytes) -> list[BatchItem]:
    """The essays of an upload: a zip of AI Hub JSON, a CSV with text (and prompt, id) columns,
    or JSON Lines; told apart by content first, then by the file name."""
    if len(data) > MAX_BATCH_BYTES:
        raise BatchTooLarge(f"{name}: {len(data):,} bytes; the limit is {MAX_BATCH_BYTES:,}")
    lower = name.lower()
    if data.startswith(b"PK") or lower.endswith(".zip"):
        items = _read_zip(data, name)
    elif lower.endswith((".jsonl", ".ndjson")) or data.lstrip()[:1] == b"{":
        items = _read_jsonl(data, name)
    elif lower.endswith((".csv", ".txt")) or b"," in data[:4096]:
        items = _read_csv(data, name)
    else:
        raise BatchError(f"{name}: expected a .zip of AI Hub essay JSON, a .csv with a text "
                         "column, or a .jsonl file")
    if not items:
        raise BatchError(f"{name}: no essays found")
    return items


BATCH_COLUMNS = ("id", "prompt", "score", "integer", *CRITERIA, "characters", "warnings",
                 "error")


def batch_row(item: BatchItem, service: ScoringService) -> dict:
    """One essay of a batch scored (no explanation), or its error."""
    row = {"id": item.id, "prompt": item.prompt or None}
    if item.error is None:
        try:
            result = service.score(item.text, item.prompt, explain=False)
        except ValueError as err:
            item.error = str(err)
        else:
            row.update(score=result["score"], integer=result["integer"],
                       criteria=result.get("criteria"), characters=result["characters"],
                       warnings=[w["code"] for w in result["warnings"]])
    if item.error is not None:
        row["error"] = item.error
    return row


def csv_line(row: dict | None) -> str:
    """A CSV line of BATCH_COLUMNS for a batch row (the header for None)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if row is None:
        writer.writerow(BATCH_COLUMNS)
    else:
        criteria = row.get("criteria") or {}
        writer.writerow([row.get("id"), row.get("prompt") or "", row.get("score", ""),
                         row.get("integer", ""), *(criteria.get(c, "") for c in CRITERIA),
                         row.get("characters", ""), " ".join(row.get("warnings", [])),
                         row.get("error") or ""])
    return out.getvalue()

