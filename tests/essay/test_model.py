import numpy as np
import pytest

import dlpy.functional as F
from dlpy.essay.model import (
    EssayNet,
    PerPrompt,
    SeedNet,
    build_model,
    group_selector,
    prompt_selector,
    wide_rows,
)


def test_prompt_selector_shared_plus_own_column():
    selector = prompt_selector(np.array([0, 2, -1]), 3)
    np.testing.assert_array_equal(selector, [[1, 1, 0, 0], [1, 0, 0, 1], [1, 0, 0, 0]])


def test_per_prompt_uses_shared_and_own_weights_and_gain():
    rng = np.random.default_rng(0)
    layer = PerPrompt(3, 2, 2, bias=False, rng=rng, gain=2.0)
    w = rng.normal(size=(6, 3)).astype(np.float32)
    layer.linear.weight.data[...] = w
    x = rng.normal(size=(2, 3)).astype(np.float32)
    out = layer(x, prompt_selector(np.array([1, -1]), 2)).data
    # output rows: 0-1 shared, 2-3 prompt 0, 4-5 prompt 1
    expected_0 = 2.0 * x[0] @ (w[0:2] + w[4:6]).T  # shared + prompt 1's weights
    expected_1 = 2.0 * x[1] @ w[0:2].T             # an unknown prompt: shared only
    np.testing.assert_allclose(out, [expected_0, expected_1], rtol=1e-5)


def test_essaynet_padding_does_not_change_outputs():
    model = build_model(dict(arch="essaynet", num_ngrams=5, num_stats=4, num_prompts=2,
                             num_categories=2, vocab_size=10, embedding_dim=8, d_model=8,
                             num_layers=1, num_heads=2, dim_feedforward=16, hidden=4, max_len=16))
    assert isinstance(model, EssayNet) and model.deep
    rng = np.random.default_rng(1)
    batch = {"wide": F.SparseRows.from_rows([(np.array([0, 3]), np.array([0.5, 1.0]))], 5),
             "stats": rng.normal(size=(1, 4)).astype(np.float32), "prompt": np.array([1]),
             "category": np.array([0]),
             "ids": np.array([[3, 4, 5]]), "padding": np.array([[False, False, False]])}
    padded = {**batch, "ids": np.array([[3, 4, 5, 0, 0]]),
              "padding": np.array([[False, False, False, True, True]])}
    np.testing.assert_allclose(model(batch).data, model(padded).data, atol=1e-5)
    assert model(batch).shape == (1, 3)


def test_seednet_outputs_a_fraction_and_unknown_arch_is_an_error():
    model = SeedNet(vocab_size=6, embedding_dim=8, max_len=8)
    out = model({"ids": np.array([[1, 2, 0]]), "padding": np.array([[False, False, True]])})
    assert out.shape == (1, 1) and 0 < out.data[0, 0] < 1
    with pytest.raises(ValueError, match="unknown architecture 'rnn'"):
        build_model({"arch": "rnn"})


def test_group_selector_has_shared_category_and_prompt_columns():
    selector = group_selector(np.array([1, -1]), np.array([0, 2]), 2, 3)
    np.testing.assert_array_equal(selector, [[1, 0, 1, 1, 0, 0], [1, 0, 0, 0, 0, 1]])


def test_wide_part_adds_the_category_copy_of_the_ngram_weights():
    rows = F.SparseRows.from_rows([(np.array([0, 2]), np.array([1.0, 2.0])),
                                   (np.array([1]), np.array([3.0])),
                                   (np.array([2]), np.array([1.0]))], 3)
    expanded = wide_rows(rows, np.array([1, -1, 0]), 2)
    dense = expanded.to_dense()
    # columns: shared 0-2, category 0 3-5, category 1 6-8
    np.testing.assert_array_equal(dense, [[1, 0, 2, 0, 0, 0, 1, 0, 2],
                                          [0, 3, 0, 0, 0, 0, 0, 0, 0],
                                          [0, 0, 1, 0, 0, 1, 0, 0, 0]])
    model = EssayNet(num_ngrams=3, num_stats=2, num_prompts=1, num_categories=2, d_model=0)
    model.wide_weight.data[...] = np.arange(27, dtype=np.float32).reshape(9, 3)
    penalty = model.wide_penalty(1.0, 10.0).item()
    w = model.wide_weight.data
    assert penalty == pytest.approx(np.sum(w[:3] ** 2) + 10 * np.sum(w[3:] ** 2))


def test_wide_part_adds_the_prompt_copy_of_the_ngram_weights():
    rows = F.SparseRows.from_rows([(np.array([0, 2]), np.array([1.0, 2.0])),
                                   (np.array([1]), np.array([3.0])),
                                   (np.array([2]), np.array([1.0])),
                                   (np.array([0]), np.array([4.0]))], 3)
    # essay 0: category 1, prompt 0; 1: no category, prompt 1; 2: category 0, unknown prompt;
    # 3: nothing known (the shared copy only)
    expanded = wide_rows(rows, np.array([1, -1, 0, -1]), 2, np.array([0, 1, -1, 5]), 2)
    # columns: shared 0-2, category 0 3-5, category 1 6-8, prompt 0 9-11, prompt 1 12-14
    np.testing.assert_array_equal(expanded.to_dense(),
                                  [[1, 0, 2, 0, 0, 0, 1, 0, 2, 1, 0, 2, 0, 0, 0],
                                   [0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0],
                                   [0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                                   [4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]])
    # without prompt copies the rows are the category expansion alone
    np.testing.assert_array_equal(
        wide_rows(rows, np.array([1, -1, 0, -1]), 2).to_dense(),
        expanded.to_dense()[:, :9])
    model = EssayNet(num_ngrams=3, num_stats=2, num_prompts=2, num_categories=2, d_model=0,
                     prompt_copies=True)
    assert model.wide_weight.shape == (15, 3)
    model.wide_weight.data[...] = np.arange(45, dtype=np.float32).reshape(15, 3)
    w = model.wide_weight.data
    assert model.wide_penalty(1.0, 10.0).item() == pytest.approx(
        np.sum(w[:3] ** 2) + 10 * np.sum(w[3:] ** 2))
    batch = {"wide": rows, "stats": np.zeros((4, 2), np.float32),
             "category": np.array([1, -1, 0, -1]), "prompt": np.array([0, 1, -1, 5])}
    np.testing.assert_allclose(model.parts(batch)["wide"].data,
                               expanded.to_dense() @ w, rtol=1e-6)


def test_copy_keys_are_stored_as_steps_and_older_states_still_load():
    keys = np.array([0, 1, 2, 5, 300, 301, 70_000], dtype=np.int32)
    model = EssayNet(num_ngrams=40_000, num_stats=2, num_prompts=2, num_categories=2,
                     d_model=0, prompt_copies=True, num_copy_rows=keys.size)
    model.copy_keys = keys.copy()
    model.wide_weight.data[...] = np.random.default_rng(0).standard_normal(
        model.wide_weight.shape).astype(np.float32)
    state = model.state_dict()
    assert "copy_keys" not in state
    # steps 1, 1, 1, 3, 295, 1, 69,699: the smallest unsigned type that holds them
    np.testing.assert_array_equal(state["copy_key_steps"], [1, 1, 1, 3, 295, 1, 69_699])
    assert state["copy_key_steps"].dtype == np.uint32
    restored = EssayNet(num_ngrams=40_000, num_stats=2, num_prompts=2, num_categories=2,
                        d_model=0, prompt_copies=True, num_copy_rows=keys.size)
    restored.load_state_dict(state)
    np.testing.assert_array_equal(restored.copy_keys, keys)
    assert restored.copy_keys.dtype == np.int32
    np.testing.assert_array_equal(restored.wide_weight.data, model.wide_weight.data)
    # a model file written before the steps holds the keys themselves
    older = {**{k: v for k, v in state.items() if k != "copy_key_steps"}, "copy_keys": keys}
    again = EssayNet(num_ngrams=40_000, num_stats=2, num_prompts=2, num_categories=2,
                     d_model=0, prompt_copies=True, num_copy_rows=keys.size)
    again.load_state_dict(older)
    np.testing.assert_array_equal(again.copy_keys, keys)
    with pytest.raises(ValueError, match="copy_key_steps must be positive steps"):
        again.load_state_dict({**state, "copy_key_steps": np.zeros(7, np.uint8)})
