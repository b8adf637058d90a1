"""Explanations from the model itself (dlpy.essay.explain): the contributions add up to the
score, and they land on the right characters."""

import numpy as np
import pytest
from serving import PROMPT, good_essay, service

from dlpy.essay.explain import explain
from dlpy.essay.features import doc_from_text
from dlpy.essay.service import prepare


def _prepared(svc, text: str, prompt: str = PROMPT):
    return prepare(text, prompt, svc.kiwi, **svc.model.doc_fields(prompt))


def test_prepare_gives_the_doc_that_doc_from_text_gives():
    svc = service()
    from dlpy.text import get_analyzer

    text = good_essay() + "\n나는커서 유튜버가될거다 왜냐면 돈을많이벌수있어서"
    prepared = _prepared(svc, text)
    fields = svc.model.doc_fields(PROMPT)
    kwargs = {"category": fields["category"]} if "category" in fields else {}
    reference = doc_from_text(text, PROMPT, fields["prompt_text"], analyzer=get_analyzer("kiwi"),
                              **kwargs)
    assert prepared.doc.text == reference.text
    assert prepared.doc.sentences == reference.sentences
    assert prepared.doc.missing_spaces == reference.missing_spaces
    assert prepared.doc.statistics() == reference.statistics()
    for (start, end), morpheme in zip(prepared.morpheme_spans, prepared.doc.morphemes):
        assert 0 <= start <= end <= len(prepared.doc.text), morpheme  # Kiwi may add an empty one


@pytest.mark.parametrize("text", [
    good_essay(), "나는커서 유튜버가될거다 왜냐면 돈을많이벌수있어서\n끝",
    "Hello, this is English. 그리고 한국어도 조금 있다."])
def test_contributions_add_up_to_the_score(text):
    svc = service()
    prepared = _prepared(svc, text)
    e = explain(svc.model.scorer, prepared)
    result, _ = svc.model.predict(prepared)
    assert e.total == pytest.approx(e.model_output, abs=1e-3)
    if 0 < e.model_output < 30:  # the score is the model's output clipped to 0-30
        assert e.total == pytest.approx(result["score"], abs=0.006)
    parts = e.parts()
    assert sum(parts.values()) == pytest.approx(e.total, abs=1e-9)
    # every n-gram term is placed on the text (none lost), and the words share it out
    assert e.unplaced == pytest.approx(0.0, abs=1e-9)
    assert e.per_char.sum() == pytest.approx(parts["ngrams"] + e.deep_tokens.sum(), abs=1e-6)
    spaces = sum(e.per_char[i] for i, c in enumerate(prepared.doc.text) if c.isspace())
    assert sum(w.contribution for w in e.words) + spaces == pytest.approx(e.per_char.sum(),
                                                                          abs=1e-6)
    for span in e.sentences + e.words:
        assert prepared.doc.text[span.start:span.end] == span.text


def test_a_word_carries_its_ngrams():
    """The contribution on a word is the shares of the n-grams that cover its characters: the
    same word in the same surroundings gets the same share."""
    svc = service()
    prepared = _prepared(svc, "바다는 넓다. 사과 사과 사과 사과 사과 그리고 바다는 깊다.")
    e = explain(svc.model.scorer, prepared)
    first = e.words[0]
    assert first.text == "바다는"
    assert e.per_char[first.start:first.end].sum() == pytest.approx(first.contribution)
    apples = [w.contribution for w in e.words if w.text == "사과"]
    assert len(apples) == 5 and apples[1] == pytest.approx(apples[2], abs=1e-9)
    assert apples[2] == pytest.approx(apples[3], abs=1e-9)


def test_deep_part_gradient_times_input(corpus_dir, tmp_path_factory):
    """A model with the deep part: each morpheme gets gradient x input, and what that leaves
    out of the deep output is one more term, so the sum still holds."""
    from dlpy.cli import main
    from dlpy.essay.service import ModelAdapter, ScoringService

    out = tmp_path_factory.mktemp("deep_model")
    options = ["--epochs", "2", "--batch-size", "4", "--d-model", "8", "--dim-feedforward",
               "16", "--hidden", "8", "--embedding-dim", "8", "--max-len", "64",
               "--max-char-ngrams", "400", "--max-morpheme-ngrams", "400", "--no-progress"]
    assert main(["essay", "train", "--data", str(corpus_dir), "--out", str(out),
                 *options]) == 0
    from dlpy.text import get_analyzer

    model = ModelAdapter(out)
    deep = ScoringService.__new__(ScoringService)  # without the warm-up of __init__
    deep.model, deep.kiwi = model, get_analyzer("kiwi").kiwi
    prepared = _prepared(deep, good_essay())
    e = explain(model.scorer, prepared)
    assert e.deep_tokens.shape == (len(prepared.doc.morphemes[:64]),)
    assert np.abs(e.deep_tokens).sum() > 0
    assert e.total == pytest.approx(e.model_output, abs=1e-3)
    assert e.per_char.sum() == pytest.approx(e.parts()["ngrams"] + e.deep_tokens.sum(),
                                             abs=1e-5)
