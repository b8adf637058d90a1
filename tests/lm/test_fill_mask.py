"""fill-mask: exactly one [MASK]; the bundled encoder loads and fills one; --json is pure JSON."""

import json

import numpy as np
import pytest

from dlpy import cli
from dlpy.lm.fill import BUNDLED, PretrainedLM, export, load_pretrained
from dlpy.lm.model import LMConfig, MaskedLM

TINY = dict(d_model=16, num_layers=1, num_heads=2, dim_feedforward=32, max_len=32, dropout=0.0)


@pytest.fixture
def tiny_lm(tokenizer):
    model = MaskedLM(LMConfig(vocab_size=tokenizer.vocab_size, **TINY))
    return PretrainedLM(model, tokenizer)


@pytest.mark.parametrize("text, count", [("마스크가 없는 문장", 0),
                                         ("[MASK]와 [MASK]가 둘", 2)])
def test_zero_or_two_masks_is_a_clear_error(tiny_lm, text, count, capsys):
    with pytest.raises(ValueError, match=f"exactly one \\[MASK\\].*got {count}"):
        tiny_lm.fill_mask(text)
    assert cli.main(["lm", "fill-mask", text]) == 2
    assert f"exactly one [MASK] in each TEXT, got {count}" in capsys.readouterr().err


def test_candidates_are_plain_text_probabilities(tiny_lm):
    candidates = tiny_lm.fill_mask("나는 밥[MASK] 먹었다.", top_k=4)
    assert len(candidates) == 4  # the tiny tokenizer has few word-start pieces: mask a middle
    assert all("\u2581" not in c["token"] and c["token"].strip() for c in candidates)
    scores = [c["score"] for c in candidates]
    assert scores == sorted(scores, reverse=True) and 0 < scores[-1] <= scores[0] <= 1
    # a word start is filled with the words a word may start with (word-start pieces, and with
    # this morpheme-split tokenizer the pieces it writes after a lone ▁), never padded with
    # impossible ones
    tokenizer = tiny_lm.tokenizer
    possible = {tokenizer.surface(i) for i in range(5, tokenizer.vocab_size)
                if tokenizer.starts_word()[i] or tiny_lm._after_marker()[i]} - {""}
    starts = tiny_lm.fill_mask("나는 [MASK] 먹었다.", top_k=500)
    assert tokenizer.split == "morphemes"
    assert {c["token"] for c in starts} == possible
    assert all(c["score"] > 0 for c in starts)


def test_export_round_trip_and_json_cli(tiny_lm, tokenizer_path, tmp_path, capsys):
    from dlpy import nn

    run = tmp_path / "run"
    run.mkdir()
    (run / "tokenizer.model").write_bytes(open(tokenizer_path, "rb").read())
    nn.save_checkpoint(run / "checkpoint.npz", tiny_lm.model,
                       meta={"lm_config": tiny_lm.model.config, "step": 7})
    export(run, tmp_path / "exported")
    loaded = load_pretrained(tmp_path / "exported")
    assert loaded.meta["step"] == 7
    for (name, a), (_, b) in zip(tiny_lm.model.named_parameters(),
                                 loaded.model.named_parameters()):
        np.testing.assert_allclose(a.data, b.data, atol=1e-3, err_msg=name)  # float16
    texts = ["나는 밥[MASK] 먹었다.", "친구[MASK] 학교에서 책을 읽었다."]
    assert cli.main(["lm", "fill-mask", "--model", str(tmp_path / "exported"), "--json",
                     "--top-k", "3", *texts]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["text"] for line in lines] == texts
    assert all(len(json.loads(line)["candidates"]) == 3 for line in lines)


def test_evaluate_json_is_one_json_object_on_stdout(tiny_lm, tokenizer_path, corpus_dir,
                                                    tmp_path, capsys):
    from dlpy import nn

    run = tmp_path / "run"
    run.mkdir()
    (run / "tokenizer.model").write_bytes(open(tokenizer_path, "rb").read())
    nn.save_checkpoint(run / "checkpoint.npz", tiny_lm.model,
                       meta={"lm_config": tiny_lm.model.config, "step": 1})
    assert cli.main(["lm", "evaluate", "--model", str(run), "--data",
                     str(corpus_dir / "text.txt.gz"), "--heldout-every", "5", "--batches", "1",
                     "--json"]) == 0
    out = capsys.readouterr().out
    report = json.loads(out)  # the whole of stdout: pure JSON
    assert out.count("\n") == 1 and report["masked_tokens"] > 0
    assert {"loss", "accuracy", "unigram_loss", "unigram_accuracy"} <= set(report)


def test_pooled_features(tiny_lm):
    features = tiny_lm.pooled_features(["나는 밥을 먹었다.", "친구는 집에서 책을 읽었다."])
    assert features.shape == (2, 16) and features.dtype == np.float32
    ids, padding = tiny_lm.encode(["짧다.", "조금 더 긴 문장이다."])
    assert padding[0].any() and not padding[1].any()
    hidden = tiny_lm.hidden_states(ids, padding)
    assert hidden.shape == (*ids.shape, 16)


@pytest.mark.skipif(not (BUNDLED / "model.npz").exists(), reason="no bundled encoder")
def test_bundled_encoder_loads_and_fills_a_mask():
    lm = load_pretrained()
    candidates = lm.fill_mask("대한민국의 수도는 [MASK]이다.", top_k=5)
    assert len(candidates) == 5 and all(c["token"] for c in candidates)
    assert lm.model.lm_config.d_model == 256


def test_a_mask_glued_to_a_particle_also_reads_the_merged_piece(monkeypatch, word_tokenizers):
    """A plain tokenizer spells 학교에 as one piece (▁학교에), so for "[MASK]에" fill-mask also
    reads the mask as that whole piece and cuts the glued 에 off the answer; a word keeps the
    score of the reading that likes it best."""
    tokenizer = word_tokenizers["none"]
    pieces = tokenizer.pieces()
    assert "\u2581학교에" in pieces  # the merged spelling this test is about
    lm = PretrainedLM(MaskedLM(LMConfig(vocab_size=tokenizer.vocab_size, **TINY)), tokenizer)
    seen = []

    def fake_probs(before, after):
        seen.append((before, after))
        probs = np.zeros(tokenizer.vocab_size)
        if after.startswith("에"):  # the plain reading: a word-start piece, then 에
            probs[pieces.index("\u2581공원")], probs[pieces.index("\u2581바다")] = 0.05, 0.04
        else:  # the mask took in the 에: only pieces ending in 에 count
            probs[pieces.index("\u2581학교에")] = 0.3
            probs[pieces.index("\u2581공원")] = 0.6  # does not end in 에: never an answer
        return [probs]

    monkeypatch.setattr(lm, "_mask_probs", fake_probs)
    candidates = lm.fill_mask("나는 [MASK]에 갔다.", top_k=3)
    assert candidates == [{"token": "학교", "score": 0.3}, {"token": "공원", "score": 0.05},
                          {"token": "바다", "score": 0.04}]
    assert seen == [("나는 ", "에 갔다."), ("나는 ", " 갔다.")]
    seen.clear()
    lm.fill_mask("학교[MASK] 갔다.", top_k=3)  # letters before the mask: up to three taken in
    assert seen == [("학교", " 갔다."), ("학", " 갔다."), ("", " 갔다.")]


def test_a_word_start_mask_also_reads_the_lone_marker_with_a_morpheme_tokenizer(
        word_tokenizers):
    """A morpheme-split tokenizer writes some words as the lone marker ▁ and a continuation
    piece; at the start of a word fill-mask reads both spellings with it (word-start pieces
    without the marker; continuation pieces with no word-start form after it, weighted by the
    marker's probability in the first reading), and only the first with a plain tokenizer."""
    for name, readings in (("unigram", 2), ("bpe", 2), ("none", 1)):
        tokenizer = word_tokenizers[name]
        lm = PretrainedLM(MaskedLM(LMConfig(vocab_size=tokenizer.vocab_size, **TINY)), tokenizer)
        probs = lm._mask_probs("나는 ", "에 갔다.")
        assert len(probs) == readings
        starts = tokenizer.starts_word()
        assert probs[0][~starts].sum() == 0
        # the lone marker's own share moves to the second reading: together they sum to one
        assert sum(p.sum() for p in probs) == pytest.approx(1.0)
        if readings == 2:
            known = set(tokenizer.pieces())
            assert probs[0][tokenizer.pieces().index("\u2581")] == 0
            allowed = np.flatnonzero(probs[1] > 0)
            assert allowed.size > 0
            for i in allowed:
                piece = tokenizer.pieces()[i]
                assert not starts[i] and piece[0].isalnum() and "\u2581" + piece not in known
        inside = lm._mask_probs("학교", " 갔다.")  # inside a word: continuation pieces only
        assert len(inside) == 1 and inside[0][starts].sum() == 0
