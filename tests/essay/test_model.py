import numpy as np
import pytest

from dlpy.essay.model import EssayNet, PerPrompt, SeedNet, build_model, prompt_selector


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
                             vocab_size=10, embedding_dim=8, d_model=8, num_layers=1,
                             num_heads=2, dim_feedforward=16, hidden=4, max_len=16))
    assert isinstance(model, EssayNet) and model.deep
    rng = np.random.default_rng(1)
    batch = {"wide": rng.random((1, 5), dtype=np.float32),
             "stats": rng.normal(size=(1, 4)).astype(np.float32), "prompt": np.array([1]),
             "ids": np.array([[3, 4, 5]]), "padding": np.array([[False, False, False]])}
    padded = {**batch, "ids": np.array([[3, 4, 5, 0, 0]]),
              "padding": np.array([[False, False, False, True, True]])}
    np.testing.assert_allclose(model(batch).data, model(padded).data, atol=1e-5)
    assert model(batch).shape == (1, 4)


def test_seednet_outputs_a_fraction_and_unknown_arch_is_an_error():
    model = SeedNet(vocab_size=6, embedding_dim=8, max_len=8)
    out = model({"ids": np.array([[1, 2, 0]]), "padding": np.array([[False, False, True]])})
    assert out.shape == (1, 1) and 0 < out.data[0, 0] < 1
    with pytest.raises(ValueError, match="unknown architecture 'rnn'"):
        build_model({"arch": "rnn"})
