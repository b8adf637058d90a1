"""TransformerEncoderLayer and TransformerEncoder: PyTorch fixtures, padding, learning."""

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor, nn
from dlpy.nn import Transformer, TransformerEncoder, TransformerEncoderLayer

from .helpers import check_dropout_only_in_training, rebuilt_from_checkpoint
from .reference import load_transformer_fixture

TOLERANCE = 1e-6
SMALL = dict(d_model=8, num_heads=2, dim_feedforward=16, dropout=0.0, batch_first=True)


def assert_matches_fixture(model, fx):
    model.load_state_dict(fx["param"])
    x = Tensor(fx["input"]["x"], requires_grad=True)
    out = model(x, src_key_padding_mask=fx["mask"]["key_padding_mask"])
    out.backward(fx["grad_output"])
    assert out.dtype == np.float64
    assert np.abs(out.data - fx["out"]).max() < TOLERANCE
    assert np.abs(x.grad - fx["grad"]["x"]).max() < TOLERANCE
    for name, p in model.named_parameters():
        assert p.dtype == np.float64, name  # a float32 parameter would cost 1e-7 of accuracy
        assert np.abs(p.grad - fx["pgrad"][name]).max() < TOLERANCE, name


@pytest.mark.parametrize("name, kwargs", [
    ("layer_post_relu", {}),
    ("layer_pre_gelu", {"norm_first": True, "activation": "gelu"}),
])
def test_encoder_layer_matches_pytorch(name, kwargs):
    layer = TransformerEncoderLayer(**SMALL, **kwargs, dtype=np.float64)
    assert_matches_fixture(layer, load_transformer_fixture(name))


def test_encoder_matches_pytorch():
    fx = load_transformer_fixture("encoder_two_layers")
    encoder = TransformerEncoder({**SMALL, "dtype": np.float64}, 2, norm=True)
    assert list(encoder.state_dict()) == list(fx["param"])
    assert_matches_fixture(encoder, fx)


def test_padded_positions_do_not_change_real_positions():
    rng = np.random.default_rng(0)
    encoder = TransformerEncoder(SMALL, 2, rng=rng)
    x = rng.standard_normal((3, 6, 8)).astype(np.float32)
    padding = np.zeros((3, 6), dtype=bool)
    padding[0, 4:] = padding[2, 1:] = True
    changed = x.copy()
    changed[padding] = rng.standard_normal((7, 8)) * 50
    out = encoder(Tensor(x), src_key_padding_mask=padding).data
    out_changed = encoder(Tensor(changed), src_key_padding_mask=padding).data
    np.testing.assert_allclose(out[~padding], out_changed[~padding], atol=1e-5)
    assert not np.allclose(out[padding], out_changed[padding])
    # and a sequence padded to length 6 gives what the unpadded sequence gives
    alone = encoder(Tensor(x[:1, :4])).data
    np.testing.assert_allclose(out[0, :4], alone[0], atol=1e-5)


def test_mock_learning_converges_to_the_constant_label():
    """Two encoder layers + mean + sigmoid, random sequences, every label k: the output must
    become k (the report's mock learning test)."""
    rng = np.random.default_rng(1)
    encoder = TransformerEncoder({**SMALL, "dropout": 0.1}, 2, rng=rng)
    k = 0.8

    def predict(x):
        return F.sigmoid(encoder(Tensor(x)).mean(axis=(1, 2)))

    def fresh_batch():
        return rng.standard_normal((16, 6, 8)).astype(np.float32)

    encoder.eval()
    before = np.abs(predict(fresh_batch()).data - k).max()
    encoder.train()
    for _ in range(200):
        loss = F.mse_loss(predict(fresh_batch()), np.full(16, k, dtype=np.float32))
        encoder.zero_grad()
        loss.backward()
        for p in encoder.parameters():
            p.data -= 2.0 * p.grad.data
    encoder.eval()
    after = np.abs(predict(fresh_batch()).data - k).max()
    assert before > 0.2
    assert after < 0.02


def test_encoder_from_a_layer_copies_it_as_pytorch_does():
    layer = TransformerEncoderLayer(**SMALL, rng=np.random.default_rng(2))
    encoder = TransformerEncoder(layer, 3)
    state = encoder.state_dict()
    for i in (1, 2):
        np.testing.assert_array_equal(state["layers.0.linear1.weight"],
                                      state[f"layers.{i}.linear1.weight"])
    assert encoder.layers[2] is not layer and len(encoder.layers) == 3
    fresh = TransformerEncoder(SMALL, 2, rng=np.random.default_rng(3)).state_dict()
    assert not np.array_equal(fresh["layers.0.linear1.weight"], fresh["layers.1.linear1.weight"])


def test_dropout_only_in_training_and_float32_kept():
    rng = np.random.default_rng(4)
    layer = TransformerEncoderLayer(**{**SMALL, "dropout": 0.3}, rng=rng)
    plain = TransformerEncoderLayer(**SMALL, rng=rng)
    x = Tensor(rng.standard_normal((2, 5, 8)).astype(np.float32), requires_grad=True)
    check_dropout_only_in_training(layer, plain, x)


def test_checkpoint_rebuilds_the_encoder(tmp_path):
    rng = np.random.default_rng(5)
    encoder = TransformerEncoder({**SMALL, "norm_first": True}, 2, norm=True, rng=rng)
    rebuilt = rebuilt_from_checkpoint(encoder, tmp_path / "encoder.npz")
    x = Tensor(rng.standard_normal((2, 4, 8)).astype(np.float32))
    np.testing.assert_array_equal(encoder(x).data, rebuilt(x).data)


def test_errors_name_what_was_expected():
    with pytest.raises(ValueError, match=r"one of \['gelu', 'relu'\], got 'tanh'"):
        TransformerEncoderLayer(**SMALL, activation="tanh")
    with pytest.raises(ValueError, match="num_layers must be at least 1, got 0"):
        TransformerEncoder(SMALL, 0)
    with pytest.raises(TypeError, match="layer_config must be a dict .* got list"):
        TransformerEncoder([8, 2, 16], 2)
    layer = TransformerEncoderLayer(**SMALL)
    with pytest.raises(ValueError, match=r"query must be \(batch, seq, 8\), got "):
        layer(Tensor(np.zeros((5, 6), dtype=np.float32)))
    # an unbatched (seq, d_model) input is a batch of one, as torch's
    x = np.random.default_rng(0).standard_normal((5, 8)).astype(np.float32)
    # (float32: the two shapes take GEMMs of other sizes, which may round differently)
    np.testing.assert_allclose(layer(Tensor(x)).data, layer(Tensor(x[None])).data[0],
                               rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ torch's defaults and layout
def test_torch_defaults_sequence_first_layout_and_positional_masks():
    """torch's TransformerEncoderLayer: dropout 0.1, batch_first=False, so (seq, batch, d)
    inputs; forward(src, src_mask, src_key_padding_mask); the sequence-first layer is the
    batch-first one on transposed inputs (same weights)."""
    layer = TransformerEncoderLayer(8, 2, 16)
    assert layer.batch_first is False and layer.dropout.p == 0.1
    assert layer.self_attn.batch_first is False  # it sees the layer's tensors, as torch's
    rng = np.random.default_rng(5)
    seq_first = TransformerEncoderLayer(8, 2, 16, dropout=0.0, rng=rng).eval()
    batch_first = TransformerEncoderLayer(**SMALL).eval()
    batch_first.load_state_dict(seq_first.state_dict())
    x = rng.standard_normal((5, 2, 8)).astype(np.float32)  # (seq, batch, d)
    causal = Transformer.generate_square_subsequent_mask(5)
    padding = np.array([[False] * 5, [False] * 3 + [True] * 2])  # (batch, seq) either way
    assert isinstance(causal, Tensor) and causal.requires_grad is False
    out = seq_first(Tensor(x), causal, padding)  # torch's positional order
    assert out.shape == (5, 2, 8)
    expected = batch_first(Tensor(x.swapaxes(0, 1)), src_mask=causal,
                           src_key_padding_mask=padding)
    np.testing.assert_allclose(out.data, expected.data.swapaxes(0, 1), atol=1e-6)
    encoder = TransformerEncoder(seq_first, 2, enable_nested_tensor=False)  # copies, as torch
    assert encoder.layers[1].batch_first is False
    np.testing.assert_array_equal(encoder(Tensor(x), causal).data,
                                  encoder(Tensor(x), mask=causal).data)
    with pytest.raises(TypeError, match="batch_first must be True or False, got 'yes'"):
        TransformerEncoderLayer(8, 2, batch_first="yes")


def test_multihead_attention_is_torchs_and_multi_head_attention_dlpys():
    """nn.MultiheadAttention: torch's (seq, batch, E) default, (output, weights) always
    (weights None without need_weights); nn.MultiHeadAttention: batch-first, the output alone
    unless need_weights."""
    torch_style = nn.MultiheadAttention(8, 2, rng=np.random.default_rng(0))
    dlpy_style = nn.MultiHeadAttention(8, 2, rng=np.random.default_rng(0))
    assert torch_style.batch_first is False and dlpy_style.batch_first is True
    rng = np.random.default_rng(1)
    q, k = (rng.standard_normal(s, dtype=np.float32) for s in ((3, 2, 8), (4, 2, 8)))  # (L, N, E)
    out, weights = torch_style(Tensor(q), Tensor(k), Tensor(k))
    assert out.shape == (3, 2, 8) and weights.shape == (2, 3, 4)
    expected, expected_weights = dlpy_style(Tensor(q.swapaxes(0, 1)), Tensor(k.swapaxes(0, 1)),
                                            Tensor(k.swapaxes(0, 1)), need_weights=True)
    np.testing.assert_allclose(out.data, expected.data.swapaxes(0, 1), atol=1e-6)
    np.testing.assert_allclose(weights, expected_weights, atol=1e-6)
    padding = np.array([[False] * 4, [False] * 3 + [True]])
    out_only, none = torch_style(Tensor(q), Tensor(k), Tensor(k), padding, False)  # torch's
    assert none is None                                                          # order
    assert out_only.shape == (3, 2, 8)
