"""The masked-LM objective learns; checkpoints resume exactly; a run stops cleanly."""

import os
import signal

import numpy as np
import pytest

import dlpy.plot
from dlpy import nn, optim
from dlpy.lm.fill import PretrainedLM
from dlpy.lm.model import LMConfig, MaskedLM, mask_tokens, masked_lm_loss
from dlpy.lm.tokenizer import MASK, SEP
from dlpy.lm.train import TrainConfig, train

TINY = dict(d_model=32, num_layers=1, num_heads=2, dim_feedforward=64, max_len=16, dropout=0.0)


@pytest.fixture
def no_plots(monkeypatch):
    """Checkpoints without drawing curves.png (a tenth of a second or more a drawing, most of
    these tests' time): for the tests of something else; test_resume_gives_the_same_next_step
    checks the drawing, after a run and after its resumption."""
    monkeypatch.setattr(dlpy.plot, "plot_curves", lambda *args, **kwargs: None)


def test_mask_tokens_follows_bert():
    rng = np.random.default_rng(0)
    ids = rng.integers(5, 100, (64, 32))
    inputs, positions, labels = mask_tokens(ids, rng, 100, 0.15)
    assert 0.1 < len(positions) / ids.size < 0.2
    np.testing.assert_array_equal(labels, ids.reshape(-1)[positions])
    masked = inputs.reshape(-1)[positions] == MASK
    assert 0.7 < masked.mean() < 0.9
    untouched = np.setdiff1d(np.arange(ids.size), positions)
    np.testing.assert_array_equal(inputs.reshape(-1)[untouched], ids.reshape(-1)[untouched])
    with pytest.raises(ValueError, match="no real tokens"):
        mask_tokens(np.full((1, 4), SEP), rng, 100)


def test_objective_memorises_a_sentence(tokenizer):
    """A tiny model trained on one sentence: the loss falls and a masked word comes back."""
    sentence = "선생님은 도서관에서 편지를 썼다."
    ids = np.asarray([tokenizer.encode(sentence) + [SEP]] * 16)
    config = LMConfig(vocab_size=tokenizer.vocab_size, **{**TINY, "max_len": ids.shape[1]})
    model = MaskedLM(config, rng=np.random.default_rng(0))
    opt = optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(150):
        loss, _, _ = masked_lm_loss(model, ids, rng, mask_prob=0.3)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.data))
    assert np.mean(losses[-10:]) < 0.3 * np.mean(losses[:10])
    lm = PretrainedLM(model, tokenizer)  # the tiny tokenizer's pieces are single syllables
    top = [c["token"] for c in lm.fill_mask("선생님은 도서관에서 편[MASK]를 썼다.", top_k=3)]
    assert top[0] == "지", top


def _config(corpus_dir, out, **changes):
    settings = dict(data=[str(corpus_dir / "text.txt.gz"), str(corpus_dir / "essays.zip")],
                    out=str(out), steps=6, batch_size=4, lr=3e-3, warmup_steps=2,
                    heldout_every=10, eval_every=3, eval_batches=1, checkpoint_every=100,
                    shuffle_buffer=16, seed=0)
    settings.update(changes)
    return TrainConfig(**settings)


def _run(corpus_dir, tokenizer_path, out, **kwargs):
    config = _config(corpus_dir, out, tokenizer=str(tokenizer_path))
    model_config = LMConfig(**{**TINY, "dropout": 0.1})  # dropout too must replay on resume
    return train(config, model_config, show_progress=False, log=lambda m: None, **kwargs)


def test_resume_gives_the_same_next_step(corpus_dir, tokenizer_path, tmp_path):
    straight = _run(corpus_dir, tokenizer_path, tmp_path / "a", max_steps=4)
    _run(corpus_dir, tokenizer_path, tmp_path / "b", max_steps=3)
    resumed = _run(corpus_dir, tokenizer_path, tmp_path / "b", resume=True, max_steps=1)
    assert resumed.step == straight.step == 4
    assert resumed.tokens_seen == straight.tokens_seen
    for (name, a), (_, b) in zip(straight.model.named_parameters(),
                                 resumed.model.named_parameters()):
        np.testing.assert_allclose(a.data, b.data, rtol=0, atol=1e-6, err_msg=name)
    assert (tmp_path / "b" / "curves.png").exists()


@pytest.mark.usefixtures("no_plots")
def test_resume_refuses_another_run(corpus_dir, tokenizer_path, tmp_path):
    _run(corpus_dir, tokenizer_path, tmp_path, max_steps=1)
    with pytest.raises(ValueError, match="exists: pass --resume"):
        _run(corpus_dir, tokenizer_path, tmp_path, max_steps=1)
    config = _config(corpus_dir, tmp_path, tokenizer=str(tokenizer_path), lr=1e-2)
    with pytest.raises(ValueError, match="belongs to another run"):
        train(config, LMConfig(**{**TINY, "dropout": 0.1}), resume=True, show_progress=False,
              log=lambda m: None)


@pytest.mark.usefixtures("no_plots")
def test_sigterm_writes_a_checkpoint_and_stops(corpus_dir, tokenizer_path, tmp_path):
    def send_sigterm(trainer):
        if trainer.step == 1:
            os.kill(os.getpid(), signal.SIGTERM)

    trainer = _run(corpus_dir, tokenizer_path, tmp_path, reduce_gradients=send_sigterm)
    assert trainer.step == 2  # the step under way finishes, then the loop stops
    assert nn.read_meta(tmp_path / "checkpoint.npz")["step"] == 2


@pytest.mark.usefixtures("no_plots")
def test_non_finite_loss_is_an_error(corpus_dir, tokenizer_path, tmp_path):
    def poison(trainer):
        trainer.model.head_bias.data[:] = np.nan

    with pytest.raises(RuntimeError, match="loss is nan at step 1"):
        _run(corpus_dir, tokenizer_path, tmp_path, reduce_gradients=poison)


@pytest.mark.usefixtures("no_plots")
def test_init_from_an_export_starts_from_its_weights(corpus_dir, tokenizer_path, tmp_path):
    from dlpy.lm.fill import export

    first = _run(corpus_dir, tokenizer_path, tmp_path / "first", max_steps=3)
    exported = export(tmp_path / "first", tmp_path / "export")  # float16, as bundled
    config = _config(corpus_dir, tmp_path / "second", init_from=str(exported), steps=6)
    second = train(config, LMConfig(**{**TINY, "dropout": 0.1}), show_progress=False,
                   log=lambda m: None, max_steps=0)
    assert second.step == 0 and second.init["step"] == 3
    assert second.init["tokens_seen"] == first.tokens_seen
    # its own tokenizer came along (no --tokenizer given)
    assert (tmp_path / "second" / "tokenizer.model").read_bytes() == tokenizer_path.read_bytes()
    for (name, a), (_, b) in zip(first.model.named_parameters(),
                                 second.model.named_parameters()):
        np.testing.assert_allclose(a.data.astype(np.float16).astype(np.float32), b.data,
                                   rtol=0, atol=0, err_msg=name)
    # a run started so resumes with its own weights, not the export's again
    resumed = train(config, LMConfig(**{**TINY, "dropout": 0.1}), resume=True,
                    show_progress=False, log=lambda m: None, max_steps=2)
    assert resumed.step == 2 and resumed.init["from"] == str(exported)


@pytest.mark.usefixtures("no_plots")
def test_init_from_refuses_another_shape(corpus_dir, tokenizer_path, tmp_path):
    from dlpy.lm.fill import export

    _run(corpus_dir, tokenizer_path, tmp_path / "first", max_steps=1)
    exported = export(tmp_path / "first", tmp_path / "export")
    config = _config(corpus_dir, tmp_path / "wide", init_from=str(exported))
    with pytest.raises(ValueError, match="d_model 32 vs 48"):
        train(config, LMConfig(**{**TINY, "d_model": 48}), show_progress=False,
              log=lambda m: None, max_steps=0)


def test_transfer_vocabulary_copies_shared_pieces_and_composes_new_ones(tokenizer,
                                                                       word_tokenizers):
    """From the syllable-level fixture tokenizer to one with word pieces: a piece both hold
    keeps its row; ▁학교 (not in the old vocabulary) is the mean of ▁학 and 교, its greedy
    longest-match spelling there; the special ids stay where they are."""
    from dlpy.lm.train import transfer_vocabulary

    new = word_tokenizers["bpe"]
    rng = np.random.default_rng(0)
    embedding = rng.normal(size=(tokenizer.vocab_size, 8)).astype(np.float32)
    bias = rng.normal(size=tokenizer.vocab_size).astype(np.float32)
    rows, biases, counts = transfer_vocabulary(tokenizer, new, embedding, bias)
    assert rows.shape == (new.vocab_size, 8) and biases.shape == (new.vocab_size,)
    old, fresh = tokenizer.pieces(), new.pieces()
    assert "\u2581학교" in fresh and "\u2581학교" not in old and "\u2581학" in old
    i = fresh.index("\u2581학교")
    np.testing.assert_allclose(rows[i], (embedding[old.index("\u2581학")]
                                         + embedding[old.index("교")]) / 2, rtol=1e-6)
    np.testing.assert_allclose(biases[i], (bias[old.index("\u2581학")] + bias[old.index("교")])
                               / 2, rtol=1e-6)
    shared = [p for p in fresh[5:] if p in old]
    assert len(shared) > 100
    for piece in shared[:50]:
        np.testing.assert_array_equal(rows[fresh.index(piece)], embedding[old.index(piece)])
    np.testing.assert_array_equal(rows[:5], embedding[:5])
    assert counts == {"copied": 5 + len(shared), "composed": new.vocab_size - 5 - len(shared)}


@pytest.mark.usefixtures("no_plots")
def test_init_from_with_another_tokenizer_carries_the_weights_over(corpus_dir, tokenizer_path,
                                                                   word_tokenizers, tmp_path):
    from dlpy.lm.fill import export

    _run(corpus_dir, tokenizer_path, tmp_path / "first", max_steps=1)
    exported = export(tmp_path / "first", tmp_path / "export")
    source = PretrainedLM.load(exported)
    new = word_tokenizers["bpe"]
    config = _config(corpus_dir, tmp_path / "moved", init_from=str(exported),
                     tokenizer=new.path)
    messages = []
    trainer = train(config, LMConfig(**TINY), show_progress=False, log=messages.append,
                    max_steps=0)
    moved = trainer.init["vocabulary_transfer"]
    assert moved["copied"] + moved["composed"] == new.vocab_size
    assert trainer.model.embed.weight.shape[0] == new.vocab_size
    assert any("kept their embedding" in m for m in messages)
    # every weight but the vocabulary's is copied as it was
    np.testing.assert_array_equal(trainer.model.head_dense.weight.data,
                                  source.model.head_dense.weight.data.astype(np.float32))
    piece = next(p for p in new.pieces()[5:] if p in source.tokenizer.pieces())
    np.testing.assert_array_equal(
        trainer.model.embed.weight.data[new.pieces().index(piece)],
        source.model.embed.weight.data[source.tokenizer.pieces().index(piece)].astype(np.float32))


@pytest.mark.usefixtures("no_plots")
def test_tokens_add_up_over_a_chain_of_init_from_runs(corpus_dir, tokenizer_path, tmp_path):
    from dlpy.lm.fill import PretrainedLM, export

    first = _run(corpus_dir, tokenizer_path, tmp_path / "first", max_steps=2)
    config = _config(corpus_dir, tmp_path / "second", init_from=str(tmp_path / "first"))
    second = train(config, LMConfig(**{**TINY, "dropout": 0.1}), show_progress=False,
                   log=lambda m: None, max_steps=1)
    config = _config(corpus_dir, tmp_path / "third", init_from=str(tmp_path / "second"))
    third = train(config, LMConfig(**{**TINY, "dropout": 0.1}), show_progress=False,
                  log=lambda m: None, max_steps=1)
    assert third.init["tokens_seen"] == first.tokens_seen + second.tokens_seen
    meta = PretrainedLM.load(export(tmp_path / "third", tmp_path / "export")).meta
    assert meta["tokens_seen_total"] == first.tokens_seen + second.tokens_seen + third.tokens_seen


def test_data_start_and_file_weights_move_the_training_stream_only(corpus_dir, tokenizer, tmp_path):
    from dlpy.lm.train import LMTrainer, fingerprint

    config = _config(corpus_dir, tmp_path / "run", data_start=0.4)
    trainer = LMTrainer(config, LMConfig(vocab_size=tokenizer.vocab_size, **TINY), tokenizer)
    assert trainer.stream().start == 0.4 and trainer.stream(heldout=True).start == 0.0
    model_config = LMConfig(vocab_size=tokenizer.vocab_size, **TINY)
    # a resume with another start is refused (the fingerprint differs); 0 keeps old runs' print
    plain = fingerprint(_config(corpus_dir, tmp_path / "run"), model_config, tokenizer.path)
    assert fingerprint(config, model_config, tokenizer.path) != plain
    weighted = _config(corpus_dir, tmp_path / "run", file_weights=[2.0, 1.0])
    assert fingerprint(weighted, model_config, tokenizer.path) != plain
    trainer = LMTrainer(weighted, LMConfig(vocab_size=tokenizer.vocab_size, **TINY), tokenizer)
    assert trainer.stream().weights == [2.0, 1.0] and not trainer.stream(heldout=True).weights


def test_decay_matrices_leaves_biases_and_norms_undecayed():
    """decay="matrices": AdamW shrinks weight matrices and embeddings only (the usual
    exclusion); decay="all" (the bundled recipe) shrinks every parameter."""
    from dlpy.lm.train import decay_groups

    config = LMConfig(vocab_size=50, **TINY)
    for decay in ("all", "matrices"):
        model = MaskedLM(config, rng=np.random.default_rng(0))
        before = {n: p.data.copy() for n, p in model.named_parameters()}
        opt = optim.AdamW(decay_groups(model, 0.5, decay), lr=0.1, weight_decay=0.5)
        for p in model.parameters():
            p.grad = np.zeros_like(p.data)  # no gradient: only the decay moves a weight
        opt.step()
        names = [n for n, _ in model.named_parameters()]
        assert any(p.data.ndim == 1 for p in model.parameters())
        for name, p in model.named_parameters():
            decayed = decay == "all" or p.data.ndim >= 2
            expected = before[name] * (1 - 0.1 * 0.5) if decayed else before[name]
            np.testing.assert_allclose(p.data, expected, rtol=1e-6, atol=0, err_msg=name)
        assert len(names) == len(set(names))
    with pytest.raises(ValueError, match="decay must be 'all' or 'matrices', got 'norms'"):
        decay_groups(MaskedLM(config), 0.01, "norms")


@pytest.mark.usefixtures("no_plots")
def test_decay_setting_resumes_and_is_part_of_the_fingerprint(corpus_dir, tokenizer_path,
                                                              tmp_path):
    model_config = LMConfig(**TINY)

    def run(out, decay, **kwargs):
        config = _config(corpus_dir, out, tokenizer=str(tokenizer_path), decay=decay,
                         weight_decay=0.3)
        return train(config, model_config, show_progress=False, log=lambda m: None, **kwargs)

    straight = run(tmp_path / "a", "matrices", max_steps=3)
    run(tmp_path / "b", "matrices", max_steps=2)
    resumed = run(tmp_path / "b", "matrices", resume=True, max_steps=1)
    for (name, a), (_, b) in zip(straight.model.named_parameters(),
                                 resumed.model.named_parameters()):
        np.testing.assert_allclose(a.data, b.data, rtol=0, atol=1e-6, err_msg=name)
    assert [g["weight_decay"] for g in resumed.optimizer.param_groups] == [0.3, 0.0]
    other = run(tmp_path / "c", "all", max_steps=3)
    gains = [n for n, p in other.model.named_parameters() if "norm" in n and p.data.ndim == 1]
    assert gains and any(not np.allclose(dict(other.model.named_parameters())[n].data,
                                         dict(straight.model.named_parameters())[n].data)
                         for n in gains)
    with pytest.raises(ValueError, match="belongs to another run"):
        run(tmp_path / "b", "all", resume=True, max_steps=1)
