import json

import numpy as np
import pytest

from dlpy.essay import train as essay_train
from dlpy.essay.config import EssayConfig as TrainConfig
from dlpy.essay.cv import (
    collection_batches,
    cross_validate,
    duplicate_groups,
    evaluation_groups,
    grouped_folds,
    merge_groups,
    stratified_folds,
    stratified_split,
)
from dlpy.essay.families import EssayNetFamily
from dlpy.essay.features import FITTED_STAT_NAMES, STAT_NAMES, Featurizer, densify
from dlpy.essay.scorer import load_scorer
from dlpy.essay.train import NonFiniteLoss, bucketed_batches, train

SMALL = dict(epochs=4, batch_size=4, lr=5e-3, d_model=8, dim_feedforward=16, hidden=8,
             embedding_dim=8, max_len=64, max_char_ngrams=400, max_morpheme_ngrams=400,
             val_fraction=0.25, patience=10)


def quiet(_message):
    pass


@pytest.fixture
def no_plots(monkeypatch):
    """Runs that write their model without drawing curves.png (a tenth of a second or more a
    drawing): for the tests of something else; test_essaynet_learns_the_fixture checks the
    drawing, and test_checkpoint_resume_gives_the_same_model draws after a resumption."""
    monkeypatch.setattr(essay_train, "plot_curves", lambda *args, **kwargs: True)


def test_features_are_finite_and_sized(docs):
    featurizer = Featurizer.fit(docs, 300, 300)
    assert featurizer.num_ngrams <= 600
    stats = featurizer.statistics(docs)
    assert stats.shape == (len(docs), len(STAT_NAMES) + len(FITTED_STAT_NAMES))
    assert np.isfinite(stats).all()
    rows = [featurizer.ngrams(d) for d in docs[:3]]
    dense = densify(rows, featurizer.num_ngrams)
    # each block (characters, morphemes) is L2-normalised, the morpheme block scaled by 0.5
    assert np.sum(dense[0] ** 2) == pytest.approx(1 + 0.5 ** 2, rel=1e-5)
    assert featurizer.prompt_id("no such prompt") == -1


def test_the_prompt_copy_share_is_not_clipped_and_older_models_clip_it(docs):
    import copy

    from dlpy.essay.features import prompt_copy_share

    featurizer = Featurizer.fit(docs, 300, 300)
    assert featurizer.unclipped_stats == ["prompt_copy_share"]
    copier = copy.copy(docs[0])  # an essay that copies its prompt's text
    copier.text = copier.prompt_text
    copier._cache = {}
    assert prompt_copy_share(copier.text, copier.prompt_text) == 1.0
    column = STAT_NAMES.index("prompt_copy_share")
    z = featurizer.statistics([copier])[0]
    expected = (1.0 - featurizer.stat_mean[column]) / featurizer.stat_std[column]
    assert expected > 5 and z[column] == pytest.approx(expected, rel=1e-5)
    assert np.abs(np.delete(z, column)).max() <= 5  # every other statistic is clipped
    state = featurizer.to_dict()
    assert Featurizer.from_dict(state, featurizer.arrays()).unclipped_stats == ["prompt_copy_share"]
    del state["unclipped_stats"]  # a model file from before the list: everything clipped
    older = Featurizer.from_dict(state, featurizer.arrays())
    assert older.statistics([copier])[0][column] == 5.0


def test_bucketed_batches_cover_everything_once():
    lengths = np.random.default_rng(0).integers(1, 500, size=103)
    batches = bucketed_batches(lengths, 8, np.random.default_rng(1))
    assert sorted(np.concatenate(batches).tolist()) == list(range(103))
    spread = np.mean([np.ptp(lengths[b]) for b in batches])
    assert spread < np.ptp(lengths) / 3  # similar lengths share a batch


def test_folds_are_stratified_by_prompt():
    prompts = ["a"] * 10 + ["b"] * 5
    fold_of = stratified_folds(prompts, 5, seed=0)
    for k in range(5):
        members = [p for p, f in zip(prompts, fold_of) if f == k]
        assert members.count("a") == 2 and members.count("b") == 1


def test_collection_batches_are_runs_of_consecutive_ids_within_a_prompt():
    ids = ["ESSAY_00010", "ESSAY_00011", "ESSAY_00100", "ESSAY_00101", "ESSAY_00012",
           "ESSAY_00013"]
    prompts = ["a", "a", "a", "a", "a", "b"]
    batch = collection_batches(ids, prompts, gap=50)
    assert batch[0] == batch[1] == batch[4]           # 10, 11, 12: one run
    assert batch[2] == batch[3] != batch[0]           # 100, 101: the jump of 88 starts a new one
    assert batch[5] not in batch[:5]                  # another prompt, another batch
    assert len(set(collection_batches(ids, prompts, gap=0).tolist())) == 6
    assert len(set(collection_batches(ids, prompts, gap=100).tolist())) == 2
    with pytest.raises(ValueError, match="essay id .essay-x. has no number"):
        collection_batches(["ESSAY_1", "essay-x"], ["a", "a"])


def test_grouped_folds_keep_groups_whole_and_spread_prompts():
    prompts = ["a"] * 20 + ["b"] * 10
    groups = [f"a{i // 4}" for i in range(20)] + [f"b{i // 2}" for i in range(10)]
    fold_of = grouped_folds(prompts, groups, 5, seed=0)
    for g in set(groups):
        assert len({int(f) for f, h in zip(fold_of, groups) if h == g}) == 1
    for k in range(5):  # five groups of four "a", five pairs of "b": one of each per fold
        members = [p for p, f in zip(prompts, fold_of) if f == k]
        assert members.count("a") == 4 and members.count("b") == 2
    assert not np.array_equal(fold_of, grouped_folds(prompts, groups, 5, seed=1))
    with pytest.raises(ValueError, match="3 groups cannot fill 4 folds"):
        grouped_folds(["a"] * 6, [0, 0, 1, 1, 2, 2], 4, seed=0)


def test_essaynet_learns_the_fixture(docs, tmp_path):
    scorer = train(docs, TrainConfig(**{**SMALL, "epochs": 12}), tmp_path, show_progress=False,
                   log=quiet)
    scores, criteria = scorer.predict(docs)
    truth = np.array([d.score for d in docs])
    assert np.corrcoef(scores, truth)[0, 1] > 0.9
    assert np.sqrt(np.mean((scores - truth) ** 2)) < truth.std()
    assert criteria.shape == (len(docs), 3) and np.all((0 <= criteria) & (criteria <= 1))
    metrics = json.loads((tmp_path / "metrics.json").read_text(encoding="utf-8"))
    assert len(metrics["history"]) == 12
    assert (tmp_path / "curves.png").stat().st_size > 0


def test_mock_learning_constant_label_seed_arch(docs):
    """The report's check: fed a constant label k, the report's model converges to k."""
    k = 24.0
    constant = [type(d)(**{**d.__dict__, "score": k, "_cache": {}}) for d in docs]
    config = TrainConfig(family="seed", epochs=2, batch_size=2, lr=3.0, embedding_dim=8,
                         max_len=32, val_fraction=0.25, patience=10)
    scorer = train(constant, config, show_progress=False, log=quiet)
    scores, criteria = scorer.predict(docs)
    assert criteria is None
    assert np.all(np.abs(scores - k) < 1.0), scores


def test_checkpoint_resume_gives_the_same_model(docs, tmp_path):
    straight = train(docs, TrainConfig(**SMALL), tmp_path / "a", show_progress=False, log=quiet)
    train(docs, TrainConfig(**{**SMALL, "epochs": 2}), tmp_path / "b", show_progress=False,
          log=quiet)
    resumed = train(docs, TrainConfig(**SMALL), tmp_path / "b", resume=True,
                    show_progress=False, log=quiet)
    for (name, a), (_, b) in zip(straight.model.state_dict().items(),
                                 resumed.model.state_dict().items()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=name)
    reloaded = load_scorer(tmp_path / "b")
    np.testing.assert_allclose(reloaded.predict(docs)[0], resumed.predict(docs)[0], atol=1e-4)


def test_resume_without_checkpoint_is_a_clear_error(docs, tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        train(docs, TrainConfig(**SMALL), tmp_path, resume=True, show_progress=False, log=quiet)


def test_cross_validation_predicts_every_essay_once(docs):
    result = cross_validate(docs, TrainConfig(**{**SMALL, "epochs": 2, "d_model": 0}), folds=3,
                            show_progress=False, log=quiet)
    assert result["n"] == len(docs) and len(result["folds"]) == 3
    assert len(result["predictions"]) == len(docs)
    assert set(result["per_prompt"]) == {d.prompt for d in docs}


def test_cross_validation_by_group_never_splits_a_group(docs):
    groups = np.array([f"{d.prompt}/{i // 3}" for i, d in enumerate(docs)])
    result = cross_validate(docs, TrainConfig(**{**SMALL, "epochs": 2, "d_model": 0}), folds=3,
                            show_progress=False, log=quiet, groups=groups)
    fold_of = np.array(result["fold_of"])
    assert sorted(set(fold_of.tolist())) == [0, 1, 2]
    for g in set(groups.tolist()):
        assert len(set(fold_of[groups == g].tolist())) == 1


def test_evaluation_groups_keep_batches_and_duplicate_texts_in_one_fold(docs):
    copies = [type(d)(**{**d.__dict__, "id": f"ESSAY_{90000 + i}", "_cache": {}})
              for i, d in enumerate(docs[:4])]  # the same texts under far-away ids
    corpus = list(docs) + copies
    groups = evaluation_groups(corpus, gap=0)  # every essay its own batch, copies merged
    batches = collection_batches([d.id for d in corpus], [d.prompt for d in corpus], gap=0)
    dupes = duplicate_groups(corpus)
    fold_of = grouped_folds([d.prompt for d in corpus], groups, 3, seed=0)
    for labels in (batches, dupes):
        for g in set(labels.tolist()):
            assert len(set(fold_of[labels == g].tolist())) == 1
    assert dupes[len(docs)] == dupes[0] and batches[len(docs)] != batches[0]
    np.testing.assert_array_equal(merge_groups([0, 0, 1, 2], [5, 6, 6, 7]), [0, 0, 0, 1])


@pytest.mark.usefixtures("no_plots")
def test_resume_refuses_other_data_or_settings(docs, tmp_path):
    train(docs, TrainConfig(**{**SMALL, "epochs": 1}), tmp_path, show_progress=False, log=quiet)
    with pytest.raises(ValueError, match="made with other settings than this run; refusing"):
        train(docs, TrainConfig(**{**SMALL, "epochs": 2, "lr": 1e-3}), tmp_path, resume=True,
              show_progress=False, log=quiet)
    with pytest.raises(ValueError, match="made with other data than this run; refusing"):
        train(docs[:-1], TrainConfig(**{**SMALL, "epochs": 2}), tmp_path, resume=True,
              show_progress=False, log=quiet)


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_non_finite_loss_stops_training(docs):
    with pytest.raises(NonFiniteLoss, match="the loss became (nan|inf) at epoch 1"):
        train(docs, TrainConfig(**{**SMALL, "lr": 1e30, "clip": 1e30}), show_progress=False,
              log=quiet)


def test_zero_epochs_is_an_error(docs):
    with pytest.raises(ValueError, match="epochs must be at least 1, got 0"):
        train(docs, TrainConfig(**{**SMALL, "epochs": 0}), show_progress=False, log=quiet)


def test_total_respects_the_rubric_weights(docs, tmp_path):
    scorer = train(docs, TrainConfig(**SMALL), show_progress=False, log=quiet)
    weighted = [type(d)(**{**d.__dict__, "rubric": [3.0, 4.0, 3.0], "_cache": {}})
                for d in docs]
    scores, criteria = scorer.predict(weighted)
    inside = np.all((criteria > 0) & (criteria < 1), axis=1)  # criteria not clipped
    assert inside.sum() >= len(docs) // 2
    np.testing.assert_allclose(scores[inside], 30 * criteria[inside] @ [0.3, 0.4, 0.3],
                               atol=1e-6)
    other = [type(d)(**{**d.__dict__, "rubric": [1.0, 0.0, 0.0], "_cache": {}}) for d in docs]
    np.testing.assert_allclose(scorer.predict(other)[0][inside], 30 * criteria[inside, 0],
                               atol=1e-6)


@pytest.mark.usefixtures("no_plots")
def test_contributions_add_up_to_the_prediction(docs, tmp_path):
    train(docs, TrainConfig(**{**SMALL, "d_model": 0}), tmp_path, show_progress=False,
          log=quiet)
    scorer = load_scorer(tmp_path)
    for doc in docs[:3]:
        parts = scorer.contributions(doc)
        assert parts["base"] + sum(parts["parts"].values()) == pytest.approx(parts["total"])
        assert sum(parts["ngrams"].values()) == pytest.approx(parts["parts"]["wide"], abs=1e-4)
        assert sum(parts["stats"].values()) == pytest.approx(parts["parts"]["stats"], abs=1e-4)
        assert scorer.predict([doc])[0][0] == pytest.approx(np.clip(parts["total"], 0, 30),
                                                           abs=1e-3)
    assert len(scorer.info["training_sha256"]) == len(docs)
    assert set(scorer.info["ood"]) == {"stat_rms_z", "ngram_coverage"}
    # the stored coverage is the service's check's, over the training essays
    from dlpy.essay import checks

    reference = checks.reference_vocabulary(scorer.featurizer.vocabulary)
    coverage = [checks.ngram_coverage(d.text, reference) for d in docs]
    assert scorer.info["ood"]["ngram_coverage"]["p50"] == pytest.approx(np.percentile(coverage,
                                                                                       50))


def test_a_nan_prediction_is_never_a_score(docs):
    scorer = train(docs, TrainConfig(**{**SMALL, "epochs": 1}), show_progress=False, log=quiet)
    scorer.model.group_bias.data[...] = np.nan
    result = scorer.score(docs[0])
    assert result.score is None and result.integer is None
    assert "no finite score" in result.warnings[0]


@pytest.mark.usefixtures("no_plots")
def test_a_cut_model_file_is_a_clear_error(docs, tmp_path):
    train(docs, TrainConfig(**{**SMALL, "epochs": 1}), tmp_path, show_progress=False, log=quiet)
    data = (tmp_path / "model.npz").read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match=r"cut\.npz: not a readable model file; is it cut short"):
        load_scorer(cut)


def test_relevance_features_can_be_switched_off(docs):
    from dlpy.essay.features import RELEVANCE_STAT_NAMES

    on = train(docs, TrainConfig(**{**SMALL, "epochs": 1}), show_progress=False, log=quiet)
    off = train(docs, TrainConfig(**{**SMALL, "epochs": 1, "relevance_features": False}),
                show_progress=False, log=quiet)
    columns = [on.featurizer.stat_names.index(n) for n in RELEVANCE_STAT_NAMES]
    assert np.all(off.featurizer.statistics(docs)[:, columns] == 0)
    assert np.any(on.featurizer.statistics(docs)[:, columns] != 0)
    # the topic similarity is higher for an essay on its own prompt than on the other one
    doc = docs[0]
    other = next(p for p in on.prompts if p != doc.prompt)
    moved = type(doc)(**{**doc.__dict__, "prompt": other, "_cache": {}})
    assert on.featurizer.topic_similarity(doc) > on.featurizer.topic_similarity(moved)


def test_rarity_weights_favour_rare_score_bins():
    from dlpy.essay.families import rarity_weights

    scores = np.array([25.0] * 90 + [10.0] * 10 + [np.nan])
    assert np.all(rarity_weights(scores, 0.0) == 1.0)
    weights = rarity_weights(scores, 0.5)
    known = ~np.isnan(scores)
    assert weights[known].mean() == pytest.approx(1.0)
    assert weights[-1] == 1.0  # unknown score: weight 1
    # a bin 9 times rarer weighs 9 ** 0.5 = 3 times more
    assert weights[95] / weights[0] == pytest.approx(3.0)
    assert weights[95] / weights[0] == pytest.approx(
        (rarity_weights(scores, 1.0)[95] / rarity_weights(scores, 1.0)[0]) ** 0.5)
    with pytest.raises(ValueError, match="balance"):
        rarity_weights(scores, -1.0)


def test_loss_weights_scale_each_essays_error(docs):
    from dlpy.essay.families import get_family

    scorer = train(docs, TrainConfig(**{**SMALL, "epochs": 1}), show_progress=False, log=quiet)
    family, model = get_family("essaynet"), scorer.model
    data = scorer.encode(docs[:4])
    index = np.arange(4)
    config = TrainConfig(**SMALL)

    def loss(rows, weights=None):
        outputs = model(data.batch(rows))
        return family.loss(model, outputs, data.targets[rows], data.rubric[rows],
                           scorer.scaling, config, 0.0, weights).item()

    assert loss(index, np.ones(4)) == pytest.approx(loss(index), rel=1e-6)
    # weight 3 on the first essay, 0 elsewhere: 3 / 4 of that essay's own loss
    assert loss(index, np.array([3.0, 0, 0, 0])) == pytest.approx(
        0.75 * loss(index[:1]), rel=1e-5)


def test_balance_pulls_the_rare_low_scores_down(docs):
    # the fixture's scores sit in three equal bins; keep two low essays to make them rare
    ranked = sorted(docs, key=lambda d: d.score)
    subset = ranked[:2] + [d for d in ranked if d.score >= 20]
    truth = np.array([d.score for d in subset])
    residuals = []
    for balance in (0.0, 1.0):
        scorer = train(subset, TrainConfig(**{**SMALL, "epochs": 6, "balance": balance}),
                       show_progress=False, log=quiet)
        scores, _ = scorer.predict(subset[:2])
        residuals.append(float(np.mean(scores - truth[:2])))
    assert residuals[0] > 0  # regression to the mean: the rare low essays are over-predicted
    assert residuals[1] < residuals[0]


def test_settings_added_later_keep_older_fingerprints():
    from dataclasses import asdict

    from dlpy.essay.config import ADDED_LATER

    config = TrainConfig(**SMALL)
    older = {k: v for k, v in asdict(config).items()
             if k not in ("epochs", "patience") and k not in ADDED_LATER}
    import hashlib

    expected = hashlib.sha256(json.dumps(older, sort_keys=True).encode()).hexdigest()
    assert config.fingerprint() == expected
    assert TrainConfig(**{**SMALL, "balance": 0.5}).fingerprint() != expected


def test_batch_centring_removes_the_raters_level_of_a_run():
    from dlpy.essay.families import batch_centred_targets

    rng = np.random.default_rng(0)
    # two prompts, twelve runs of 20 essays; each run's raters add their own level (sd 2)
    prompts = np.repeat(["a", "b"], 120)
    batches = np.repeat(np.arange(12), 20)
    quality = rng.normal(0, 2, 240)
    level = rng.normal(0, 2, 12)[batches]
    total = 22 + 2 * (prompts == "b") + quality + level
    targets = np.stack([total, total / 30, np.full(240, np.nan), total / 10], axis=1)
    targets[5, 0] = np.nan
    same = batch_centred_targets(targets, prompts, batches, 0.0)
    np.testing.assert_array_equal(same, targets)
    centred = batch_centred_targets(targets, prompts, batches, 1.0)
    assert np.isnan(centred[5, 0]) and np.all(np.isnan(centred[:, 2]))
    known = ~np.isnan(targets[:, 0])
    # the prompts' means stay; the run levels are mostly gone; what is left follows the essay
    for p in "ab":
        m = known & (prompts == p)
        assert centred[m, 0].mean() == pytest.approx(targets[m, 0].mean(), abs=1e-9)
    run_means = np.array([centred[known & (batches == b), 0].mean() for b in range(12)])
    raw_means = np.array([targets[known & (batches == b), 0].mean() for b in range(12)])
    prompt_means = np.array([targets[known & (prompts == prompts[b * 20]), 0].mean()
                             for b in range(12)])
    assert np.std(run_means - prompt_means) < 0.3 * np.std(raw_means - prompt_means)
    assert np.corrcoef(centred[known, 0], quality[known])[0, 1] > 0.9
    assert np.corrcoef(targets[known, 0], quality[known])[0, 1] < 0.8
    # the criteria columns are centred the same way (same levels in their own units)
    np.testing.assert_allclose(centred[:, 1] * 30, batch_centred_targets(
        total[:, None], prompts, batches, 1.0)[:, 0], rtol=1e-9)
    # half the strength removes half the (shrunken) level
    half = batch_centred_targets(targets, prompts, batches, 0.5)
    np.testing.assert_allclose(half[known, 0], (targets[known, 0] + centred[known, 0]) / 2)
    # runs that differ no more than chance are left alone (here: not at all)
    halves = np.arange(240) // 120
    flat = 22 + quality[:, None]
    flat[:, 0] -= np.array([flat[halves == h, 0].mean() for h in (0, 1)])[halves] - 22
    np.testing.assert_array_equal(
        batch_centred_targets(flat, np.zeros(240), halves, 1.0), flat)
    with pytest.raises(ValueError, match="batch_center"):
        batch_centred_targets(targets, prompts, batches, 1.5)


def test_batch_centring_in_training(docs):
    scorer = train(docs, TrainConfig(**{**SMALL, "epochs": 1, "batch_center": 1.0}),
                   show_progress=False, log=quiet)
    scores, _ = scorer.predict(docs)
    assert np.all(np.isfinite(scores))
    assert scorer.config.batch_center == 1.0
    unnumbered = [type(d)(**{**d.__dict__, "id": "essay", "_cache": {}}) for d in docs]
    with pytest.raises(ValueError, match="no number"):
        train(unnumbered, TrainConfig(**{**SMALL, "epochs": 1, "batch_center": 1.0}),
              show_progress=False, log=quiet)


@pytest.mark.usefixtures("no_plots")
def test_refit_trains_on_every_essay_for_the_best_epoch_count(docs, tmp_path):
    config = TrainConfig(**{**SMALL, "epochs": 3})
    plain = train(docs, config, show_progress=False, log=quiet)
    lines = []
    refit = train(docs, TrainConfig(**{**SMALL, "epochs": 3, "refit": True}), tmp_path,
                  show_progress=False, log=lines.append)
    assert refit.info["refit"] and not plain.info["refit"]
    # the first stage is the same run: same best epoch, same calibration (from its split)
    assert refit.info["best_epoch"] == plain.info["best_epoch"]
    assert refit.calibration.to_dict() == plain.calibration.to_dict()
    refit_epochs = [line for line in lines if line.startswith(f"refit on all {len(docs)}")]
    assert len(refit_epochs) == plain.info["best_epoch"]
    # the refit model's n-grams come from all the essays, the plain one's from its fitting part
    everything = Featurizer.fit(docs, SMALL["max_char_ngrams"], SMALL["max_morpheme_ngrams"])
    assert refit.featurizer.vocabulary == everything.vocabulary
    assert plain.featurizer.vocabulary != everything.vocabulary
    scores, _ = refit.predict(docs)
    truth = np.array([d.score for d in docs])
    assert np.all(np.isfinite(scores)) and np.corrcoef(scores, truth)[0, 1] > 0.5
    assert not np.allclose(scores, plain.predict(docs)[0])
    np.testing.assert_allclose(load_scorer(tmp_path).predict(docs)[0], scores, atol=1e-4)


@pytest.mark.usefixtures("no_plots")
def test_prompt_copies_train_save_load_and_explain(docs, tmp_path):
    config = TrainConfig(**{**SMALL, "epochs": 2, "prompt_copies": True})
    scorer = train(docs, config, tmp_path, show_progress=False, log=quiet)
    model = scorer.model
    assert model.prompt_copies
    n = model.num_ngrams
    # the copies hold the (copy, n-gram) pairs of the training essays, prompt copies included
    assert model.wide_weight.shape[0] == n + model.copy_keys.numel()
    copy_of = model.copy_keys // n
    assert set(np.unique(copy_of)) == set(range(model.num_categories + model.num_prompts))
    # the prompt copies learnt something (they start at zero)
    assert np.abs(model.wide_weight.data[n:][copy_of >= model.num_categories]).max() > 0
    reloaded = load_scorer(tmp_path)
    assert reloaded.model.prompt_copies
    np.testing.assert_allclose(reloaded.predict(docs)[0], scorer.predict(docs)[0], atol=1e-4)
    for doc in docs[:3]:  # the n-gram contributions include the prompt's copy
        parts = scorer.contributions(doc)
        assert sum(parts["ngrams"].values()) == pytest.approx(parts["parts"]["wide"], abs=1e-4)
        assert scorer.predict([doc])[0][0] == pytest.approx(np.clip(parts["total"], 0, 30),
                                                           abs=1e-3)


@pytest.mark.usefixtures("no_plots")
def test_ema_validates_and_keeps_the_averaged_weights(docs, tmp_path):
    config = TrainConfig(**{**SMALL, "epochs": 3, "ema": 0.9})
    plain = train(docs, TrainConfig(**{**SMALL, "epochs": 3}), show_progress=False, log=quiet)
    lines = []
    averaged = train(docs, config, tmp_path / "a", show_progress=False, log=lines.append)
    # the same steps were taken; the kept weights are their moving average, not the last ones
    assert not np.allclose(averaged.model.wide_weight.data, plain.model.wide_weight.data)
    scores, _ = averaged.predict(docs)
    truth = np.array([d.score for d in docs])
    assert np.all(np.isfinite(scores)) and np.corrcoef(scores, truth)[0, 1] > 0.5
    # the validation RMSE logged for the best epoch is that of the kept (averaged) weights
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    best = metrics["history"][metrics["best_epoch"] - 1]["val_rmse"]
    _, val_index = stratified_split([d.prompt for d in docs], config.val_fraction, config.seed)
    val_docs = [docs[i] for i in val_index]
    val_scores, _ = averaged.predict(val_docs)
    rmse = np.sqrt(np.mean((val_scores - np.array([d.score for d in val_docs])) ** 2))
    assert rmse == pytest.approx(best, rel=1e-5)
    np.testing.assert_allclose(load_scorer(tmp_path / "a").predict(docs)[0], scores, atol=1e-4)
    # resuming continues the same average
    train(docs, TrainConfig(**{**config.to_dict(), "epochs": 2}), tmp_path / "b",
          show_progress=False, log=quiet)
    resumed = train(docs, config, tmp_path / "b", resume=True, show_progress=False, log=quiet)
    for (name, a), (_, b) in zip(averaged.model.state_dict().items(),
                                 resumed.model.state_dict().items()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=name)
    for bad in (1.0, -0.5, float("nan")):
        with pytest.raises(ValueError, match=r"ema must lie in \(0, 1\) \(0: off\), got"):
            train(docs, TrainConfig(**{**SMALL, "epochs": 1, "ema": bad}), show_progress=False,
                  log=quiet)
    # with --refit the refit model keeps its own average too
    refit = train(docs, TrainConfig(**{**config.to_dict(), "refit": True}), show_progress=False,
                  log=quiet)
    assert np.all(np.isfinite(refit.predict(docs)[0]))


def test_compact_copies_train_exactly_as_full_copies(docs, monkeypatch):
    """Leaving out the (copy, n-gram) pairs no training essay holds changes nothing: those
    weights get no gradient and stay exactly zero in a model that keeps every pair."""
    config = TrainConfig(**{**SMALL, "epochs": 2, "prompt_copies": True})
    compact = train(docs, config, show_progress=False, log=quiet)
    build = EssayNetFamily.build

    def full_build(self, featurizer, vocabulary, config, vectors=None, log=print, data=None):
        return build(self, featurizer, vocabulary, config, vectors, log)  # no data: every pair

    monkeypatch.setattr(EssayNetFamily, "build", full_build)
    full = train(docs, config, show_progress=False, log=quiet)
    n, keys = compact.model.num_ngrams, compact.model.copy_keys.numpy()
    assert full.model.copy_keys is None
    m = compact.model
    assert full.model.wide_weight.shape[0] == n * (1 + m.num_categories + m.num_prompts)
    assert compact.model.wide_weight.shape[0] == n + keys.size < full.model.wide_weight.shape[0]
    kept = np.zeros(full.model.wide_weight.shape[0], dtype=bool)
    kept[:n] = True
    kept[n + keys] = True
    assert np.all(full.model.wide_weight.data[~kept] == 0)
    np.testing.assert_allclose(full.model.wide_weight.data[kept], compact.model.wide_weight.data,
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(compact.predict(docs)[0], full.predict(docs)[0], atol=1e-3)
    doc = docs[0]
    a, b = compact.contributions(doc), full.contributions(doc)
    assert a["ngrams"].keys() == b["ngrams"].keys()
    for name, points in a["ngrams"].items():
        assert points == pytest.approx(b["ngrams"][name], abs=1e-4)


@pytest.mark.usefixtures("no_plots")
def test_morpheme_weight_sets_the_morpheme_blocks_length(docs, tmp_path):
    scorer = train(docs, TrainConfig(**{**SMALL, "epochs": 1, "morpheme_weight": 0.25}),
                   tmp_path, show_progress=False, log=quiet)
    featurizer = load_scorer(tmp_path).featurizer  # saved with the model
    assert featurizer.morpheme_weight == scorer.featurizer.morpheme_weight == 0.25
    morpheme = np.array([g.startswith("m:") for g in featurizer.vocabulary])
    indices, values = featurizer.ngrams(docs[0])
    assert np.linalg.norm(values[morpheme[indices]]) == pytest.approx(0.25, rel=1e-5)
    assert np.linalg.norm(values[~morpheme[indices]]) == pytest.approx(1.0, rel=1e-5)
    assert TrainConfig(**{**SMALL, "morpheme_weight": 0.25}).fingerprint() \
        != TrainConfig(**SMALL).fingerprint()
    for bad in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="morpheme_weight must be a finite number >= 0"):
            train(docs, TrainConfig(**{**SMALL, "morpheme_weight": bad}), show_progress=False,
                  log=quiet)


def test_drop_entries_is_inverted_dropout_over_sparse_rows():
    import dlpy.functional as F
    from dlpy.essay.train import drop_entries

    rng = np.random.default_rng(0)
    lengths = [0, 4000, 3, 0, 2000, 0]  # empty rows first, inside and last
    rows = F.SparseRows.from_rows([(np.arange(n) % 50, np.full(n, 2.0)) for n in lengths], 50)
    dropped = drop_entries(rows, 0.25, rng)
    kept = np.diff(dropped.indptr)
    assert kept[[0, 3, 5]].tolist() == [0, 0, 0]
    assert kept[1] == pytest.approx(3000, abs=150) and kept[4] == pytest.approx(1500, abs=110)
    assert np.all(dropped.values == np.float32(2.0 / 0.75))
    assert dropped.values.dtype == rows.values.dtype
    # each kept entry keeps its column, rows stay in their place
    for b in range(len(lengths)):
        got = dropped.indices[dropped.indptr[b]:dropped.indptr[b + 1]]
        assert np.isin(got, rows.indices[rows.indptr[b]:rows.indptr[b + 1]]).all()
    # the expectation is the row itself: the mean of many draws converges to it
    dense = np.zeros(50)
    for _ in range(200):
        d = drop_entries(rows, 0.5, rng)
        np.add.at(dense, d.indices[d.indptr[4]:d.indptr[5]],
                  d.values[d.indptr[4]:d.indptr[5]] / 200)
    np.testing.assert_allclose(dense, np.full(50, 2.0 * 40), rtol=0.05)


def test_ngram_dropout_trains_a_different_reproducible_model(docs):
    plain = train(docs, TrainConfig(**{**SMALL, "epochs": 2}), show_progress=False, log=quiet)
    config = TrainConfig(**{**SMALL, "epochs": 2, "ngram_dropout": 0.3})
    a = train(docs, config, show_progress=False, log=quiet)
    b = train(docs, config, show_progress=False, log=quiet)
    np.testing.assert_array_equal(a.model.wide_weight.data, b.model.wide_weight.data)
    assert not np.allclose(a.model.wide_weight.data, plain.model.wide_weight.data)
    # scoring sees whole rows: the same essay, the same prediction
    assert a.predict(docs[:3])[0].tolist() == a.predict(docs[:3])[0].tolist()
    assert config.fingerprint() != TrainConfig(**{**SMALL, "epochs": 2}).fingerprint()
    for bad in (-0.1, 1.0, float("nan")):
        with pytest.raises(ValueError, match=r"ngram_dropout must lie in \[0, 1\)"):
            train(docs, TrainConfig(**{**SMALL, "ngram_dropout": bad}), show_progress=False,
                  log=quiet)
