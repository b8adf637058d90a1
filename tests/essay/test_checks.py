"""Warnings instead of confident nonsense (dlpy.essay.checks), through the service."""

import random

import pytest
from serving import PROMPT, good_essay, service

from dlpy.essay import checks
from dlpy.essay.service import MAX_CHARS, EssayTooLong


def _codes(text, prompt=PROMPT):
    return [w["code"] for w in service().score(text, prompt, explain=False)["warnings"]]


def test_a_good_essay_has_no_warnings():
    assert _codes(good_essay()) == []


def test_not_korean():
    assert "not_korean" in _codes("This essay is written in English, not in Korean. " * 6)
    assert "not_korean" in [w["code"] for w in checks.check_text("Bonjour tout le monde")]


def test_empty():
    assert [w["code"] for w in checks.check_text(" \n\t ")] == ["empty"]
    with pytest.raises(ValueError, match="empty"):
        service().score("   \n ", PROMPT)


def test_too_short():
    assert "too_short" in _codes("나는 의사가 되고 싶다.")


def test_repeated():
    assert "repeated" in _codes("나는 커서 훌륭한 과학자가 되고 싶다. " * 30)
    sentences = "오늘은 날씨가 좋다. 나는 학교에 갔다. 친구를 만났다. "
    assert "repeated" in [w["code"] for w in checks.check_text(sentences * 4)]


def test_copies_its_prompt():
    from dlpy.essay.features import prompt_copy_share

    prompt_text = service().model.doc_fields(PROMPT)["prompt_text"]
    assert len(prompt_text) > 100
    warnings = service().score(prompt_text, PROMPT, explain=False)["warnings"]
    copied = [w for w in warnings if w["code"] == "copies_prompt"]
    assert len(copied) == 1 and "100% of the essay" in copied[0]["en"] and copied[0]["ko"]
    # two thirds copied still warns; a good essay quoting nothing does not (no warnings above)
    half = good_essay()[: len(prompt_text) // 2] + "\n" + prompt_text
    assert prompt_copy_share(half, prompt_text) >= checks.PROMPT_COPY
    assert "copies_prompt" in _codes(half)
    assert prompt_copy_share(good_essay(), prompt_text) < 0.2
    assert "copies_prompt" not in _codes(good_essay(), "이런 주제는 없다")  # no prompt text


def test_shuffled_words():
    words = good_essay().split()
    random.Random(0).shuffle(words)
    assert "shuffled" in _codes(" ".join(words))


def test_far_from_every_training_essay():
    listing = " ".join(f"항목{i:04d}" for i in range(300))  # a table, not an essay
    assert "out_of_distribution" in _codes(listing)


def test_very_long():
    with pytest.raises(EssayTooLong, match="limit is 20,000"):
        service().score("가" * (MAX_CHARS + 1), PROMPT)


def test_prompt_unknown_or_missing():
    assert "unknown_prompt" in _codes(good_essay(), "이런 주제는 없다")
    assert "missing_prompt" in _codes(good_essay(), None)
    for w in checks.check_prompt("", ["a"]) + checks.check_prompt("b", ["a"]):
        assert w["en"] and w["ko"]


def test_coverage_checks_use_the_most_frequent_ngrams_of_any_vocabulary():
    # a featurizer stores each block most frequent first: characters, then morphemes
    vocabulary = [f"c:{i}" for i in range(5)] + [f"m:{i}" for i in range(4)]
    assert checks.reference_vocabulary(vocabulary, per_kind=2) == {"c:0", "c:1", "m:0", "m:1"}
    assert checks.reference_vocabulary(vocabulary, per_kind=10) == set(vocabulary)
    # the bundled model knows 60,000 of each; its checks see the 20,000 they were set on
    reference = service().model.reference
    assert len(reference.vocabulary) == 2 * checks.CHECK_NGRAMS


def test_every_warning_code_has_a_label_on_the_web_page_in_both_languages():
    import re
    from pathlib import Path

    essay = Path(checks.__file__).parent
    source = (essay / "checks.py").read_text() + (essay / "service.py").read_text()
    codes = set(re.findall(r'warning\(\s*"([a-z_]+)"', source))
    assert {"empty", "copies_prompt", "shuffled", "no_score"} <= codes
    app = (essay / "web" / "app.js").read_text()
    tables = re.findall(r"codes: \{([^}]*)\}", app)
    assert len(tables) == 2  # Korean and English
    for table in tables:
        assert set(re.findall(r"([a-z_]+):", table)) == codes
