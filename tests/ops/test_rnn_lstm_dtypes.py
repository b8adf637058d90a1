"""The LSTM sequence op (transposed, gate-reordered loop) in float32 and in mixed dtypes against
itself in float64: values and every gradient, with bias or without, reverse and lengths."""

import numpy as np
import pytest

from dlpy.ops import rnn as R


def run(arrays, reverse, lengths):
    """The op's output and its gradients for a fixed grad_output, as numpy arrays."""
    op = R.LSTMSequence(reverse, lengths, len(arrays) > 4)
    out = op.forward(*arrays)
    grad_output = np.linspace(-1, 1, out.size).reshape(out.shape).astype(out.dtype)
    return out, op.backward(grad_output)


@pytest.mark.parametrize("bias, reverse, lengths", [
    (True, False, None), (False, True, [6, 2, 5]), (True, True, [3, 6, 1]),
])
def test_lstm_float32_and_mixed_dtypes_match_float64(bias, reverse, lengths):
    rng = np.random.default_rng(1)
    seq_len, batch, hidden = 6, 3, 4
    arrays = [rng.standard_normal((seq_len, batch, 4 * hidden)),
              *(rng.standard_normal((batch, hidden)) * 0.5 for _ in range(2)),  # h0, c0
              rng.standard_normal((4 * hidden, hidden)) * 0.5]
    if bias:
        arrays.append(rng.standard_normal(4 * hidden) * 0.5)
    lengths = None if lengths is None else np.array(lengths)
    expected, expected_grads = run(arrays, reverse, lengths)
    single = [a.astype(np.float32) for a in arrays]
    mixed = [single[0]] + arrays[1:]  # float32 x_proj, float64 states and weights
    for inputs, dtype, tolerance in ((single, np.float32, 2e-6), (mixed, np.float64, 1e-6)):
        out, grads = run(inputs, reverse, lengths)
        assert out.dtype == dtype
        np.testing.assert_allclose(out, expected, atol=tolerance)
        assert len(grads) == len(expected_grads)
        for grad, want in zip(grads, expected_grads):
            np.testing.assert_allclose(grad, want, atol=20 * tolerance)
