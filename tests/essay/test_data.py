import json
import shutil
import zipfile
from pathlib import Path

import pytest

from dlpy.essay.data import (
    EssayDataError,
    analyze_essays,
    parse_essay,
    preprocess,
    read_essays,
)
from dlpy.text import AnalysisCache, to_reference_format

FIXTURES = Path(__file__).parent.parent / "fixtures" / "essays"


def fixture(name_part: str) -> Path:
    return next(FIXTURES.glob(f"*{name_part}*.json"))


def test_read_folder_fields():
    essays = read_essays(FIXTURES)
    assert [e.id for e in essays] == ["ESSAY_90001", "ESSAY_90002", "ESSAY_90003",
                                      "ESSAY_90005", "ESSAY_90004"]
    first = essays[0]
    assert first.category == "글짓기" and first.title == "나의 소중한 물건"
    assert first.prompt.startswith("여러분에게 가장 소중한 물건은")
    assert len(first.paragraphs) == 2 and len(first.sentences) == 6
    assert first.sentences[0] == "내게 가장 소중한 물건은 할머니께서 주신 낡은 시계이다."
    assert "#@문장구분#" not in first.text and first.marked_text.count("#@문장구분#") == 6
    assert first.score == pytest.approx(27.648148) and first.target == pytest.approx(0.9216049)
    assert first.rater_scores == pytest.approx([30.0, 26.055556, 26.888889])
    # criteria: per rater, the rubric-weighted item mean; averaged over raters; / 3
    assert first.criteria["organisation"] == pytest.approx((3 + (4*3 + 2*2 + 2*3 + 3) / 9
                                                            + (4*3 + 2*3 + 2*2 + 3) / 9) / 9)
    assert set(first.criteria) == {"organisation", "content", "expression"}
    assert all(0 <= v <= 1 for e in essays for v in e.criteria.values())
    # student metadata is read but kept apart (and out of repr)
    assert first.student["student_grade"] == "중등_1학년" and "student" not in repr(first)


def test_criteria_reproduce_the_rater_totals():
    # organisation weight 2, content 4, expression 4: the criteria rebuild essay_scoreT_avg
    for essay in read_essays(FIXTURES):
        c = essay.criteria
        total = 3 * (2 * c["organisation"] + 4 * c["content"] + 4 * c["expression"])
        assert total == pytest.approx(essay.score, abs=1e-4)


def test_categories_files_and_zip(tmp_path):
    assert [e.id for e in read_essays(FIXTURES, categories=["주장", "대안제시"])] == [
        "ESSAY_90005", "ESSAY_90004"]
    with pytest.raises(ValueError, match="unknown categories"):
        read_essays(FIXTURES, categories=["시"])
    files = [fixture("90002"), fixture("90004")]
    assert [e.id for e in read_essays(files)] == ["ESSAY_90002", "ESSAY_90004"]
    archive = tmp_path / "essays.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in FIXTURES.glob("*.json"):
            z.write(path, f"라벨링데이터/{path.name}")
    from_zip = read_essays(archive)
    assert len(from_zip) == 5 and from_zip[0].source.startswith(f"{archive}::라벨링데이터/")
    assert from_zip[0].source_sha256 == read_essays(FIXTURES)[0].source_sha256
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        read_essays(tmp_path / "missing")


def edited(tmp_path, edit, name="bad.json"):
    doc = json.loads(fixture("90003").read_text(encoding="utf-8-sig"))
    edit(doc)
    path = tmp_path / name
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["score"].pop("essay_scoreT_avg"), "missing field 'score.essay_scoreT_avg'"),
    (lambda d: d["score"].update(essay_scoreT_avg=31.5),
     r"field 'score.essay_scoreT_avg': expected a value in \[0, 30\], got 31.5"),
    (lambda d: d["score"].update(essay_scoreT_avg="high"),
     "field 'score.essay_scoreT_avg': expected a number, got 'high'"),
    (lambda d: d["info"].pop("essay_prompt"), "missing field 'info.essay_prompt'"),
    (lambda d: d.update(paragraph=[]), "field 'paragraph': expected a non-empty list"),
    (lambda d: d["score"]["essay_scoreT_detail"]["essay_scoreT_org"][1].__setitem__(2, 4),
     r"field 'score.essay_scoreT_detail.essay_scoreT_org\[1\]\[2\]': expected a value in "
     r"\[0, 3\]"),
])
def test_bad_fields_name_file_and_field(tmp_path, edit, message):
    path = edited(tmp_path, edit)
    with pytest.raises(EssayDataError, match=f"bad.json: {message}"):
        read_essays(path)


def test_bad_json_and_skip_bad(tmp_path):
    shutil.copy(fixture("90001"), tmp_path / "good.json")
    (tmp_path / "broken.json").write_text('{"paragraph": [', encoding="utf-8")
    (tmp_path / "latin.json").write_bytes('{"a": "é"}'.encode("latin-1"))
    with pytest.raises(EssayDataError, match=r"broken.json: line 1 column 16: not valid JSON"):
        read_essays(tmp_path)
    with pytest.raises(EssayDataError, match="latin.json: not UTF-8"):
        parse_essay((tmp_path / "latin.json").read_bytes(), str(tmp_path / "latin.json"))
    with pytest.warns(UserWarning, match="skipped 2 bad file"):
        essays = read_essays(tmp_path, skip_bad=True)
    assert [e.id for e in essays] == ["ESSAY_90001"] and len(essays.skipped) == 2
    assert "broken.json" in essays.skipped[0]


def test_preprocessed_format(tmp_path):
    doc = {"prompt": "물건@을@쓰@어라@.@#@",
           "paragraph": "나@는@시계@가@좋@다@.@#@할머니@가@주@시@었@다@.@#@", "score": 0.75}
    path = tmp_path / "글짓기_중등_1학년_ESSAY_777.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    (essay,) = read_essays(tmp_path)
    assert essay.id == "ESSAY_777" and essay.category == "글짓기"
    assert essay.score == pytest.approx(22.5) and essay.criteria is None
    assert essay.title == "물건 을 쓰 어라 ."  # no title in this format: the prompt stands in
    assert essay.sentences == ["나 는 시계 가 좋 다 .", "할머니 가 주 시 었 다 ."]
    (analysed,) = analyze_essays([essay], show_progress=False)  # no analyser needed
    assert to_reference_format(analysed.sentences) == doc["paragraph"]
    assert analysed.tokens()[:2] == ["나", "는"]
    doc["score"] = 1.5
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(EssayDataError, match=r"field 'score': expected a value in \[0, 1\]"):
        read_essays(path)


class CountingAnalyzer:
    """Stands in for Kiwi: splits on spaces, counts calls."""

    name, version = "counting", "1"

    def __init__(self):
        self.calls = 0

    def analyze(self, text):
        from dlpy.text import split_marked

        self.calls += 1
        return [[(w, "X") for w in s.split()] for s in split_marked(text) or [text]]


def test_analysis_cache_round_trip(tmp_path):
    essays = read_essays(FIXTURES)
    analyzer = CountingAnalyzer()
    first = analyze_essays(essays, analyzer, cache_dir=tmp_path, show_progress=False)
    assert analyzer.calls == 5 + 3  # five essays, three distinct prompts analysed once each
    assert first[0].sentences[0][:2] == [("내게", "X"), ("가장", "X")]
    assert first[0].tokens()[:1] == ["내게/X"]
    second = analyze_essays(essays, analyzer, cache_dir=tmp_path, show_progress=False)
    assert analyzer.calls == 8  # all from the cache
    assert [a.sentences for a in second] == [a.sentences for a in first]
    assert [a.prompt_sentences for a in second] == [a.prompt_sentences for a in first]
    cache = AnalysisCache("counting", "1", tmp_path)
    assert all(e.source_sha256 in cache for e in essays)


def test_preprocess_with_kiwi(tmp_path):
    pytest.importorskip("kiwipiepy")
    report = preprocess(FIXTURES, "kiwi", categories=["글짓기"], cache_dir=tmp_path,
                        show_progress=False)
    assert report.num_essays == 3 and report.cached_before == 0
    again = preprocess(FIXTURES, "kiwi", categories=["글짓기"], cache_dir=tmp_path,
                       show_progress=False)
    assert again.cached_before == 3 and "3 were already cached" in str(again)
    (analysed, *_) = analyze_essays(read_essays(fixture("90002")), "kiwi", cache_dir=tmp_path,
                                    show_progress=False)
    assert analysed.sentences[0][:3] == [("나", "NP"), ("의", "JKG"), ("물건", "NNG")]


def test_spacing_counter_builds_kiwi_only_for_a_text_not_in_its_cache(tmp_path, monkeypatch):
    """docs_from_records hands SpacingCounter a Kiwi factory: a run whose spacing counts are
    all cached never pays the ~2 s of building Kiwi."""
    from dlpy.essay.features import SpacingCounter

    monkeypatch.setenv("DLPY_CACHE_DIR", str(tmp_path))

    class FakeKiwi:
        def space(self, text, reset_whitespace=False):
            return text.replace("학교에", "학교 에")  # one space the model would insert

    built = []

    def factory():
        built.append(1)
        return FakeKiwi()

    text = "나는 학교에갔다.\n둘째 문단이다."
    assert SpacingCounter(factory)(text) == 1 and len(built) == 1
    assert SpacingCounter(factory)(text) == 1 and len(built) == 1  # from the cache: no Kiwi
    assert SpacingCounter(FakeKiwi(), use_cache=False)(text) == 1  # a Kiwi itself still works


def test_preprocess_and_docs_without_spacing_counts(tmp_path, monkeypatch):
    """--no-spacing-features: neither the analysis workers nor docs_from_records count spacing
    errors (a quarter of the analysis time); a later run that needs them counts them then."""
    pytest.importorskip("kiwipiepy")
    from dlpy.essay import features
    from dlpy.text.spacing import spacing_cache_dir

    monkeypatch.setenv("DLPY_CACHE_DIR", str(tmp_path))
    report = preprocess(FIXTURES, "kiwi", categories=["글짓기"], show_progress=False,
                        count_spaces=False)
    assert report.num_essays == 3
    spacing_files = spacing_cache_dir(None).glob("*/*.json")
    assert list(spacing_files) == []  # nothing counted

    def refuse(self, text):
        raise AssertionError("spacing counted")

    records = read_essays(FIXTURES, categories=["글짓기"])
    with monkeypatch.context() as patch:
        patch.setattr(features.SpacingCounter, "__call__", refuse)
        docs = features.docs_from_records(records, show_progress=False, count_spaces=False)
    assert [d.missing_spaces for d in docs] == [0, 0, 0]
    counted = features.docs_from_records(records, show_progress=False)
    assert len(list(spacing_cache_dir(None).glob("*/*.json"))) == 3  # counted now
    assert all(isinstance(d.missing_spaces, int) for d in counted)
