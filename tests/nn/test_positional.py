"""Sinusoidal positional encoding and the learned positional embedding."""

import math

import numpy as np
import pytest

from dlpy import Tensor
from dlpy.nn import LearnedPositionalEmbedding, SinusoidalPositionalEncoding


def test_sinusoidal_values_follow_the_formula():
    encoding = SinusoidalPositionalEncoding(4, max_len=10)
    pe = encoding.pe
    np.testing.assert_allclose(pe[0], [0, 1, 0, 1])
    # PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(same)
    np.testing.assert_allclose(pe[3], [math.sin(3), math.cos(3), math.sin(3 / 100),
                                       math.cos(3 / 100)], rtol=1e-6)
    odd = SinusoidalPositionalEncoding(5, max_len=4).pe
    assert odd.shape == (4, 5)
    np.testing.assert_allclose(odd[2, 4], math.sin(2 / 10000 ** (4 / 5)), rtol=1e-6)
    assert list(encoding.parameters()) == []


def test_sinusoidal_is_added_not_multiplied_and_passes_gradients():
    encoding = SinusoidalPositionalEncoding(6, max_len=20)
    x = Tensor(np.ones((2, 5, 6), dtype=np.float32), requires_grad=True)
    out = encoding(x)
    np.testing.assert_allclose(out.data, 1 + np.broadcast_to(encoding.pe[:5], (2, 5, 6)))
    assert out.dtype == np.float32
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, np.ones((2, 5, 6)))


def test_learned_embedding_trains_only_the_positions_used():
    layer = LearnedPositionalEmbedding(8, 4, rng=np.random.default_rng(0))
    assert list(layer.state_dict()) == ["weight"] and layer.weight.shape == (8, 4)
    x = Tensor(np.zeros((3, 5, 4), dtype=np.float32))
    out = layer(x)
    np.testing.assert_array_equal(out.data, np.broadcast_to(layer.weight.data[:5], (3, 5, 4)))
    out.sum().backward()
    np.testing.assert_array_equal(layer.weight.grad[:5], 3)  # summed over the batch
    np.testing.assert_array_equal(layer.weight.grad[5:], 0)


@pytest.mark.parametrize("layer", [SinusoidalPositionalEncoding(4, max_len=3),
                                   LearnedPositionalEmbedding(3, 4)])
def test_errors_name_the_limit(layer):
    name = type(layer).__name__
    with pytest.raises(ValueError, match=f"{name}: sequence of length 5 exceeds max_len=3"):
        layer(Tensor(np.zeros((1, 5, 4), dtype=np.float32)))
    with pytest.raises(ValueError, match=rf"{name}: expected \(batch, seq, 4\), got \(1, 2, 3\)"):
        layer(Tensor(np.zeros((1, 2, 3), dtype=np.float32)))
