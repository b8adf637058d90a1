"""The pretrained LM's pooled features in EssayNet (`--lm-features`): computed over the whole
essay in windows, cached per LM and text, saved with the model and recomputed when scoring; a
missing or different LM is a clear error. A tiny LM and tokenizer are made here."""

import gzip
import shutil

import numpy as np
import pytest

pytest.importorskip("sentencepiece")

from dlpy import nn  # noqa: E402
from dlpy.essay.config import EssayConfig  # noqa: E402
from dlpy.essay.scorer import load_scorer  # noqa: E402
from dlpy.essay.train import train  # noqa: E402
from dlpy.lm import features as lm_features  # noqa: E402
from dlpy.lm.fill import PretrainedLM, export, load_pretrained  # noqa: E402
from dlpy.lm.model import LMConfig, MaskedLM  # noqa: E402
from dlpy.lm.tokenizer import SEP, Tokenizer, train_tokenizer  # noqa: E402

TINY = dict(d_model=16, num_layers=1, num_heads=2, dim_feedforward=32, max_len=32, dropout=0.0)
SMALL = dict(epochs=2, batch_size=4, lr=5e-3, d_model=0, hidden=8, max_char_ngrams=400,
             max_morpheme_ngrams=400, val_fraction=0.25, patience=10)


def _write_lm(folder, tokenizer_path, seed):
    """An exported LM (model.npz in float16 + tokenizer.model) with random weights."""
    tokenizer = Tokenizer(tokenizer_path)
    model = MaskedLM(LMConfig(vocab_size=tokenizer.vocab_size, **TINY),
                     rng=np.random.default_rng(seed))
    run = folder.parent / f"{folder.name}-run"
    run.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(tokenizer_path, run / "tokenizer.model")
    nn.save_checkpoint(run / "checkpoint.npz", model, meta={"lm_config": model.config})
    export(run, folder)
    return folder


@pytest.fixture(scope="module")
def lm_dir(docs, tmp_path_factory):
    base = tmp_path_factory.mktemp("tiny_lm")
    with gzip.open(base / "essays.txt.gz", "wt", encoding="utf-8") as f:
        for d in docs:
            f.write(d.text + "\n\n")
    tokenizer_path = train_tokenizer([str(base / "essays.txt.gz")], base / "tokenizer.model",
                                     vocab_size=800, sample_chars=200_000, heldout_every=0)
    return _write_lm(base / "lm", tokenizer_path, seed=0)


@pytest.fixture(autouse=True)
def _fresh_memory():
    """Each test reads the on-disk cache, not what an earlier test kept in memory."""
    from dlpy.essay import pretrained

    lm_features._MEMORY.clear()
    pretrained._LOADED.clear()


def test_a_long_text_is_pooled_over_windows(lm_dir):
    lm = load_pretrained(lm_dir)
    text = " ".join(["나는 학교에서 친구와 함께 책을 읽었다."] * 12)
    ids = lm.tokenizer.encode(text) + [SEP]
    assert len(ids) > 2 * TINY["max_len"]  # three windows or more
    windows = lm.windows(text)
    assert [i for w in windows for i in w] == ids
    assert all(len(w) == TINY["max_len"] for w in windows[:-1])
    total = sum(lm.model.encode(np.array([w])).data[0].sum(axis=0) for w in windows)
    expected = total / len(ids)  # the mean over every token of every window
    pooled = lm.pooled_features([text, "짧은 글."])
    np.testing.assert_allclose(pooled[0], expected, rtol=1e-4, atol=1e-5)
    first_only = lm.model.encode(np.array([windows[0]])).data[0].mean(axis=0)
    assert not np.allclose(pooled[0], first_only, atol=1e-3)  # not cut at max_len
    # batching and padding change nothing: a text alone gives the same features
    np.testing.assert_allclose(lm.pooled_features(["짧은 글."])[0], pooled[1], atol=1e-5)


def test_features_are_computed_once_then_read_from_the_cache(lm_dir, docs, monkeypatch):
    lm = load_pretrained(lm_dir)
    unique = list(dict.fromkeys(d.text for d in docs))[:5]
    texts = unique + [unique[0]]  # a duplicate is computed once
    calls = []
    compute = lm.pooled_features
    monkeypatch.setattr(lm, "pooled_features",
                        lambda batch, *a: calls.append(len(batch)) or compute(batch, *a))
    first = lm_features.cached_pooled_features(lm, texts)
    assert sum(calls) == 5
    np.testing.assert_allclose(first, compute(texts), atol=1e-6)
    cache = lm_features.FeatureCache(lm)
    assert len(list(cache.directory.glob("*/*.npy"))) == 5
    lm_features._MEMORY.clear()
    second = lm_features.cached_pooled_features(lm, texts)  # from the files
    assert sum(calls) == 5
    np.testing.assert_array_equal(first, second)
    # another LM (other weights) has its own entries
    other = load_pretrained(_write_lm(lm_dir.parent / "other", lm_dir / "tokenizer.model", 1))
    assert lm_features.FeatureCache(other).directory != cache.directory


def test_a_scorer_with_lm_features_saves_loads_and_scores_the_same(lm_dir, docs, tmp_path):
    config = EssayConfig(**SMALL, lm_features=str(lm_dir))
    scorer = train(docs, config, tmp_path, show_progress=False, log=lambda s: None)
    assert scorer.model.num_lm_features == TINY["d_model"]
    assert np.abs(scorer.model.lm_linear.weight.data).sum() > 0
    loaded = load_scorer(tmp_path)
    assert loaded.config.lm_features == str(lm_dir)
    np.testing.assert_allclose(loaded.predict(docs)[0], scorer.predict(docs)[0], atol=1e-4)
    for doc in docs[:3]:
        parts = loaded.contributions(doc)
        assert "lm" in parts["parts"] and parts["parts"]["lm"] != 0
        assert parts["base"] + sum(parts["parts"].values()) == pytest.approx(parts["total"])
        assert loaded.predict([doc])[0][0] == pytest.approx(np.clip(parts["total"], 0, 30),
                                                            abs=1e-3)
    # the features are standardised by the training essays' mean and std, stored in the file
    extras = nn.load_npz(tmp_path / "model.npz")
    assert extras["extra/lm_mean"].shape == (TINY["d_model"],)
    # a new essay being scored (no id) is computed, not written to the cache
    from dlpy.essay.features import doc_from_text

    cache = lm_features.FeatureCache(load_pretrained(lm_dir))
    entries = set(cache.directory.glob("*/*.npy"))
    assert entries  # the training essays are cached
    new = doc_from_text("이 글은 처음 보는 새 글이다. 캐시에 남지 않는다.", docs[0].prompt)
    assert not new.id and np.isfinite(loaded.predict([new])[0]).all()
    assert set(cache.directory.glob("*/*.npy")) == entries


def test_explanation_has_an_lm_part_and_adds_up(lm_dir, docs):
    from dlpy.essay.explain import explain
    from dlpy.essay.service import prepare
    from dlpy.text import get_analyzer

    scorer = train(docs, EssayConfig(**SMALL, lm_features=str(lm_dir)), show_progress=False,
                   log=lambda s: None)
    prepared = prepare(docs[0].text, docs[0].prompt, get_analyzer("kiwi").kiwi,
                       prompt_text=docs[0].prompt_text, category=docs[0].category)
    e = explain(scorer, prepared)
    assert e.lm is not None and "lm" in e.parts()
    assert e.total == pytest.approx(e.model_output, abs=1e-3)
    assert sum(e.parts().values()) == pytest.approx(e.total, abs=1e-9)


def test_a_missing_lm_is_a_clear_error(lm_dir, docs, tmp_path):
    missing = tmp_path / "no-such-lm"
    with pytest.raises(FileNotFoundError, match=f"{missing}: no pretrained LM there"):
        train(docs, EssayConfig(**SMALL, lm_features=str(missing)), show_progress=False,
              log=lambda s: None)
    moved = tmp_path / "lm"
    shutil.copytree(lm_dir, moved)
    train(docs, EssayConfig(**{**SMALL, "epochs": 1}, lm_features=str(moved)), tmp_path / "m",
          show_progress=False, log=lambda s: None)
    shutil.rmtree(moved)
    with pytest.raises(FileNotFoundError, match=f"{moved}: no pretrained LM there"):
        load_scorer(tmp_path / "m")


def test_another_lm_at_the_same_path_is_refused(lm_dir, docs, tmp_path):
    folder = tmp_path / "lm"
    shutil.copytree(lm_dir, folder)
    train(docs, EssayConfig(**{**SMALL, "epochs": 1}, lm_features=str(folder)), tmp_path / "m",
          show_progress=False, log=lambda s: None)
    _write_lm(folder, lm_dir / "tokenizer.model", seed=2)  # re-exported, other weights
    from dlpy.essay import pretrained

    pretrained._LOADED.clear()
    scorer = load_scorer(tmp_path / "m")
    with pytest.raises(ValueError, match="not the pretrained LM this essay model was trained"):
        scorer.predict(docs[:1])


def test_the_option_is_generated_from_the_config():
    import argparse

    from dlpy.essay.config import add_config_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    assert config_from_args(parser.parse_args(["--lm-features", "bundled"])).lm_features \
        == "bundled"
    assert config_from_args(parser.parse_args([])).lm_features == ""


def test_pretrained_lm_fingerprint_follows_the_file(lm_dir):
    lm = load_pretrained(lm_dir)
    assert lm.weights_path == lm_dir / "model.npz"
    in_memory = PretrainedLM(lm.model, lm.tokenizer)
    assert len(lm.fingerprint()) == 64 and in_memory.fingerprint() != lm.fingerprint()
