import pytest

from dlpy.text import (
    SENTENCE_MARKER,
    get_analyzer,
    parse_reference_format,
    split_marked,
    to_reference_format,
    token_counts,
    token_f1,
)


def test_split_marked():
    text = f"첫 문장이다.{SENTENCE_MARKER} 둘째 문장.{SENTENCE_MARKER}  {SENTENCE_MARKER}"
    assert split_marked(text) == ["첫 문장이다.", "둘째 문장."]


def test_reference_format_round_trip():
    sentences = [[("나", "NP"), ("는", "JX")], [("가", "VV"), ("았", "EP"), ("다", "EF")]]
    text = to_reference_format(sentences)
    assert text == "나@는@#@가@았@다@#@"
    assert parse_reference_format(text) == [["나", "는"], ["가", "았", "다"]]


def test_token_f1():
    precision, recall, f1 = token_f1(token_counts([["a", "b", "b"]]), token_counts([["a", "b"]]))
    assert (precision, recall) == (pytest.approx(2 / 3), 1.0)
    assert f1 == pytest.approx(0.8)
    assert token_f1(token_counts([]), token_counts([["a"]])) == (0.0, 0.0, 0.0)


def test_get_analyzer_rejects_unknown_name():
    with pytest.raises(ValueError, match=r"expected one of \['kiwi', 'kkma'\], got 'mecab'"):
        get_analyzer("mecab")


def test_kiwi_analyzes_marked_and_plain_text():
    pytest.importorskip("kiwipiepy")
    kiwi = get_analyzer("kiwi")
    assert kiwi.name == "kiwi" and kiwi.version.startswith("kiwipiepy-")
    marked = f"나는 밥을 먹었다.{SENTENCE_MARKER} 하늘이 파랗다{SENTENCE_MARKER}"
    sentences = kiwi.analyze(marked)
    assert len(sentences) == 2  # the marker decides, even without final punctuation
    assert sentences[0][:3] == [("나", "NP"), ("는", "JX"), ("밥", "NNG")]
    assert ("먹", "VV") in sentences[0] and ("파랗", "VA-I") in sentences[1]
    assert all(form != "#" for s in sentences for form, _ in s)
    plain = kiwi.analyze("비가 온다. 우산을 챙겼다.")  # no marker: Kiwi splits the sentences
    assert len(plain) == 2 and plain[1][0] == ("우산", "NNG")
    assert kiwi.analyze("") == [] and kiwi.analyze(SENTENCE_MARKER) == []


@pytest.mark.slow
def test_kkma_reproduces_the_report_format(kkma_analysis):
    # analysed in a process that conftest.py starts as collection ends (Kkma's Java dictionaries
    # load for seconds there, beside the other tests)
    text, sentences = kkma_analysis
    assert text == f"나는 학교에 갔다.{SENTENCE_MARKER} 친구를 만났다.{SENTENCE_MARKER}"
    assert len(sentences) == 2
    assert sentences[0][:2] == [("나", "NP"), ("는", "JX")]
    assert to_reference_format(sentences) == "나@는@학교@에@가@었@다@.@#@친구@를@만나@었@다@.@#@"


def test_kiwi_version_is_remembered_so_a_cached_run_never_loads_the_model(tmp_path, monkeypatch):
    kiwipiepy = pytest.importorskip("kiwipiepy")
    from dlpy.text.analysis import KiwiAnalyzer

    # each load hands out the session's one loaded Kiwi (get_analyzer's; seconds per load saved)
    # and is counted
    loaded = get_analyzer("kiwi").kiwi
    loads = []
    monkeypatch.setattr(kiwipiepy, "Kiwi", lambda: loads.append(1) or loaded)
    monkeypatch.setenv("DLPY_CACHE_DIR", str(tmp_path))
    first = KiwiAnalyzer()
    version = first.version  # unknown yet: loads the model once
    assert first._kiwi is loaded and version.startswith("kiwipiepy-") and len(loads) == 1
    assert (tmp_path / "kiwi-version.json").is_file()
    second = KiwiAnalyzer()
    assert second.version == version and second._kiwi is None  # from the file
    (tmp_path / "kiwi-version.json").write_text("{broken", encoding="utf-8")
    third = KiwiAnalyzer()
    assert third.version == version and third._kiwi is not None  # loaded again, and rewritten
    assert KiwiAnalyzer().version == version and len(loads) == 2
