"""dlpy.native_functions: torch's ATen-level functions agree with dlpy's layers and
functionals they are built on (round trips the torch-recorded area does not show)."""

import numpy as np

import dlpy
from dlpy import functional as F
from dlpy.nn.utils_rnn import pack_padded_sequence


def _values(*shape, k=0.0):
    n = int(np.prod(shape))
    return dlpy.tensor(np.sin(np.arange(n) * 0.37 + k).reshape(shape) * 0.5)


def test_native_layer_norm_statistics_normalise_the_input():
    x = _values(2, 3, 4)
    out, mean, rstd = dlpy.native_layer_norm(x, [3, 4], None, None, 1e-5)
    assert mean.shape == rstd.shape == (2, 1, 1)
    np.testing.assert_allclose(out.numpy(), ((x - mean) * rstd).numpy(), atol=1e-12)


def test_native_group_norm_statistics_and_output_shape():
    x = _values(2, 4, 2, 2)
    out, mean, rstd = dlpy.native_group_norm(x, None, None, 2, 4, 4, 2, 1e-5)
    assert out.shape == x.shape and mean.shape == rstd.shape == (2, 2)
    np.testing.assert_allclose(out.numpy(), F.group_norm(x, 2).numpy(), atol=1e-12)


def test_functional_lstm_matches_the_module():
    lstm = dlpy.nn.LSTM(4, 5, num_layers=2, bidirectional=True, dtype=dlpy.float64)
    x, h0, c0 = _values(3, 2, 4), _values(4, 2, 5, k=1), _values(4, 2, 5, k=2)
    expected, (h, c) = lstm(x, (h0, c0))
    out, h_n, c_n = dlpy.lstm(x, [h0, c0], lstm._flat_weights, True, 2, 0.0, False, True, False)
    for a, b in ((out, expected), (h_n, h), (c_n, c)):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), atol=1e-12)


def test_functional_gru_on_packed_data_matches_padded_runs():
    gru = dlpy.nn.GRU(4, 5, dtype=dlpy.float64)
    x = _values(3, 2, 4)
    packed = pack_padded_sequence(x, [3, 2])
    out, h_n = dlpy.gru(packed.data, packed.batch_sizes, _values(1, 2, 5, k=1) * 0,
                        gru._flat_weights, True, 1, 0.0, False, False)
    expected, h = gru(packed)
    np.testing.assert_allclose(out.detach().numpy(), expected.data.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(h_n.detach().numpy(), h.detach().numpy(), atol=1e-12)


def test_native_dropout_without_training_is_identity_with_a_full_mask():
    x = _values(2, 3).requires_grad_()
    out, mask = dlpy.native_dropout(x, 0.5, False)
    assert out is not x and bool(mask.all())
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((2, 3)))


def test_embedding_bag_auxiliary_outputs():
    w = _values(5, 3)
    idx, off = dlpy.tensor([0, 2, 4, 1, 3, 3]), dlpy.tensor([0, 2, 2, 5])
    out, offset2bag, bag_size, max_indices = dlpy.embedding_bag(w, idx, off, False, 2)
    assert offset2bag.tolist() == [0, 0, 2, 2, 2, 3]
    assert bag_size.tolist() == [2, 0, 3, 1]
    np.testing.assert_array_equal(out.numpy(), w.numpy()[max_indices.numpy()].diagonal(
        axis1=1, axis2=2) * (bag_size.numpy() > 0)[:, None])
