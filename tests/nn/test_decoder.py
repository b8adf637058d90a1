"""TransformerDecoderLayer, TransformerDecoder, Transformer and MultiHeadAttention's kdim/vdim,
bias_k/bias_v and zero attention: PyTorch fixtures, masks, a seq2seq learning test, errors."""

import numpy as np
import pytest

import dlpy
import dlpy.functional as F
from dlpy import Tensor, nn, optim
from dlpy.nn import (
    MultiHeadAttention,
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)
from dlpy.testing import gradcheck

from .helpers import check_dropout_only_in_training, rebuilt_from_checkpoint
from .reference import load_transformer_fixture

TOLERANCE = 1e-10  # float64 against float64: the differences are rounding (about 1e-15)
SMALL = dict(d_model=8, num_heads=2, dim_feedforward=16, dropout=0.0, batch_first=True)
BATCH_FIRST = dict(dropout=0.0, batch_first=True)  # dlpy's old defaults (torch's: 0.1, False)


def run_fixture(model, fx, call):
    """Load PyTorch's state dict into model, run call(model, inputs, masks), backward with the
    fixture's output gradient; check the output, every input's and every parameter's gradient."""
    assert list(model.state_dict()) == list(fx["param"])  # PyTorch's names, in its order
    model.load_state_dict(fx["param"])
    inputs = {k: Tensor(v, requires_grad=True) for k, v in fx["input"].items()}
    result = call(model, inputs, fx["mask"])
    out, weights = result if isinstance(result, tuple) else (result, None)
    out.backward(fx["grad_output"])
    assert out.dtype == np.float64
    assert np.abs(out.data - fx["out"]).max() < TOLERANCE
    if weights is not None:
        assert np.abs(weights - fx["weights"]).max() < TOLERANCE
    for k, t in inputs.items():
        assert np.abs(t.grad - fx["grad"][k]).max() < TOLERANCE, k
    for k, p in model.named_parameters():
        assert p.dtype == np.float64, k
        assert np.abs(p.grad - fx["pgrad"][k]).max() < TOLERANCE, k


def decoder_call(model, t, masks):
    return model(t["tgt"], t["memory"], **masks)


# ------------------------------------------------------------------ against PyTorch
@pytest.mark.parametrize("name, kwargs", [
    ("decoder_layer_post_relu", {}),
    ("decoder_layer_pre_gelu", {"norm_first": True, "activation": "gelu"}),
    ("decoder_layer_no_bias", {"bias": False}),
])
def test_decoder_layer_matches_pytorch(name, kwargs):
    layer = TransformerDecoderLayer(**SMALL, **kwargs, dtype=np.float64)
    run_fixture(layer, load_transformer_fixture(name), decoder_call)


def test_decoder_with_memory_mask_and_per_head_masks_matches_pytorch():
    decoder = TransformerDecoder({**SMALL, "dtype": np.float64}, 2, norm=True)
    run_fixture(decoder, load_transformer_fixture("decoder_two_layers"), decoder_call)


@pytest.mark.parametrize("name, kwargs", [
    ("transformer_post_relu", {}),
    ("transformer_pre_gelu", {"norm_first": True, "activation": "gelu"}),
])
def test_transformer_matches_pytorch(name, kwargs):
    model = Transformer(8, 2, 2, 2, 16, **kwargs, **BATCH_FIRST, dtype=np.float64)
    run_fixture(model, load_transformer_fixture(name), lambda m, t, k: m(t["src"], t["tgt"], **k))


@pytest.mark.parametrize("name, kwargs, average", [
    ("mha_kdim_vdim", {"kdim": 5, "vdim": 3}, True),
    ("mha_bias_kv_zero_attn", {"add_bias_kv": True, "add_zero_attn": True}, False),
])
def test_multi_head_attention_options_match_pytorch(name, kwargs, average):
    mha = MultiHeadAttention(8, 2, **kwargs, dtype=np.float64)
    run_fixture(mha, load_transformer_fixture(name), lambda m, t, k: m(
        t["query"], t["key"], t["value"], need_weights=True, average_attn_weights=average, **k))


def test_self_attention_with_bias_kv_matches_pytorch():
    mha = nn.MultiheadAttention(embed_dim=8, num_heads=2, add_bias_kv=True, dtype=np.float64,
                                batch_first=True)
    run_fixture(mha, load_transformer_fixture("mha_self_bias_kv"),
                lambda m, t, k: m(t["x"], t["x"], t["x"], need_weights=True, **k))


def test_parameter_names_and_initialisation_follow_pytorch():
    mha = MultiHeadAttention(8, 2, kdim=5, vdim=3, add_bias_kv=True)
    assert {k: v.shape for k, v in mha.state_dict().items()} == {
        "q_proj_weight": (8, 8), "k_proj_weight": (8, 5), "v_proj_weight": (8, 3),
        "in_proj_bias": (24,), "bias_k": (1, 1, 8), "bias_v": (1, 1, 8),
        "out_proj.weight": (8, 8), "out_proj.bias": (8,)}
    assert mha.in_proj_weight is None and mha.embed_dim == 8
    assert np.abs(mha.k_proj_weight.data).max() <= np.sqrt(6 / (8 + 5))
    # the layer draws as before the new options: the encoder's start is unchanged
    old = MultiHeadAttention(8, 2, rng=np.random.default_rng(0))
    assert np.abs(old.in_proj_weight.data).max() <= np.sqrt(6 / 32)
    assert old.q_proj_weight is None and old.bias_k is None

    model = Transformer(16, 4, 2, 1, 32, rng=np.random.default_rng(0), **BATCH_FIRST)
    names = list(model.state_dict())
    assert names[0] == "encoder.layers.0.self_attn.in_proj_weight"
    assert "encoder.norm.weight" in names and names[-1] == "decoder.norm.bias"
    assert "decoder.layers.0.multihead_attn.out_proj.weight" in names
    for name, p in model.named_parameters():  # Xavier-uniform, as PyTorch's _reset_parameters
        if p.ndim > 1:
            fan_out, fan_in = p.shape
            assert np.abs(p.data).max() <= np.sqrt(6 / (fan_in + fan_out)), name
            assert np.abs(p.data).max() > 0.8 * np.sqrt(6 / (fan_in + fan_out)), name
    first, second = model.encoder.layers[0], model.encoder.layers[1]
    assert not np.array_equal(first.linear1.weight.data, second.linear1.weight.data)
    no_bias = Transformer(8, 2, 1, 1, 16, bias=False, **BATCH_FIRST)
    assert not any(k.endswith("bias") for k in no_bias.state_dict())


# ------------------------------------------------------------------ gradient checks
def test_gradcheck_cross_attention_with_every_option():
    rng = np.random.default_rng(0)
    mha = MultiHeadAttention(4, 2, kdim=3, vdim=5, add_bias_kv=True, add_zero_attn=True,
                             rng=rng, dtype=np.float64)
    for p in mha.parameters():
        p.data = rng.standard_normal(p.shape)
    padding = np.array([[False, False, True], [False] * 3])
    arrays = [rng.standard_normal(s) for s in ((2, 2, 4), (2, 3, 3), (2, 3, 5))]
    assert gradcheck(lambda q, k, v: mha(q, k, v, key_padding_mask=padding, is_causal=True),
                     *[Tensor(a, requires_grad=True) for a in arrays])


def test_gradcheck_decoder_layer_through_tgt_and_memory():
    rng = np.random.default_rng(1)
    layer = TransformerDecoderLayer(4, 2, 6, norm_first=True, activation="gelu", rng=rng,
                                    dtype=np.float64, **BATCH_FIRST)
    padding = np.array([[False, False, True], [False] * 3])
    assert gradcheck(lambda tgt, memory: layer(tgt, memory, memory_key_padding_mask=padding,
                                               tgt_is_causal=True),
                     Tensor(rng.standard_normal((2, 3, 4)), requires_grad=True),
                     Tensor(rng.standard_normal((2, 3, 4)), requires_grad=True))


# ------------------------------------------------------------------ masks
def test_square_subsequent_mask_is_pytorchs():
    mask = Transformer.generate_square_subsequent_mask(3)
    expected = np.array([[0, -np.inf, -np.inf], [0, 0, -np.inf], [0, 0, 0]], dtype=np.float32)
    np.testing.assert_array_equal(mask, expected)
    assert mask.dtype == np.float32
    assert Transformer.generate_square_subsequent_mask(2, dtype=np.float64).dtype == np.float64


def test_causal_masks_agree_and_hide_the_future():
    rng = np.random.default_rng(2)
    model = Transformer(8, 2, 1, 2, 16, rng=rng, dtype=np.float64, **BATCH_FIRST)
    src, tgt = rng.standard_normal((2, 4, 8)), rng.standard_normal((2, 5, 8))
    float_mask = Transformer.generate_square_subsequent_mask(5)
    out = model(Tensor(src), Tensor(tgt), tgt_mask=float_mask).data
    bool_mask = np.triu(np.ones((5, 5), dtype=bool), 1)
    np.testing.assert_array_equal(model(Tensor(src), Tensor(tgt), tgt_mask=bool_mask).data, out)
    np.testing.assert_array_equal(model(Tensor(src), Tensor(tgt), tgt_is_causal=True).data, out)
    changed = tgt.copy()
    changed[:, 3:] = rng.standard_normal((2, 2, 8)) * 10  # the future of positions 0..2
    out_changed = model(Tensor(src), Tensor(changed), tgt_mask=float_mask).data
    np.testing.assert_allclose(out_changed[:, :3], out[:, :3], atol=1e-12)
    assert not np.allclose(out_changed[:, 3:], out[:, 3:])
    unmasked = model(Tensor(src), Tensor(changed)).data
    assert not np.allclose(unmasked[:, :3], out[:, :3])


def test_padded_memory_and_source_positions_change_nothing():
    rng = np.random.default_rng(3)
    model = Transformer(8, 2, 2, 2, 16, rng=rng, **BATCH_FIRST)
    src = rng.standard_normal((2, 6, 8)).astype(np.float32)
    tgt = rng.standard_normal((2, 3, 8)).astype(np.float32)
    padding = np.zeros((2, 6), dtype=bool)
    padding[0, 4:] = True
    changed = src.copy()
    changed[padding] = rng.standard_normal((2, 8)) * 50
    masks = dict(src_key_padding_mask=padding, memory_key_padding_mask=padding)
    out = model(Tensor(src), Tensor(tgt), **masks).data
    np.testing.assert_allclose(model(Tensor(changed), Tensor(tgt), **masks).data, out, atol=1e-5)
    # and the padded sequence gives what the same sequence unpadded gives
    alone = model(Tensor(src[:1, :4]), Tensor(tgt[:1])).data
    np.testing.assert_allclose(out[:1], alone, atol=1e-5)


def test_encoder_takes_pytorchs_keywords():
    rng = np.random.default_rng(4)
    encoder = TransformerEncoder(SMALL, 2, rng=rng)
    x = Tensor(rng.standard_normal((2, 5, 8)).astype(np.float32))
    padding = np.array([[False] * 3 + [True] * 2, [False] * 5])
    causal = Transformer.generate_square_subsequent_mask(5)
    ours = encoder(x, causal, padding).data  # torch's order
    theirs = encoder(x, mask=causal, src_key_padding_mask=padding).data
    np.testing.assert_array_equal(ours, theirs)
    with pytest.raises(TypeError):  # torch's parameters only (dlpy's old keywords are gone)
        encoder(x, key_padding_mask=padding)
    np.testing.assert_array_equal(encoder(x, src_key_padding_mask=padding, is_causal=True).data,
                                  ours)
    layer = encoder.layers[0]
    np.testing.assert_array_equal(layer(x, src_mask=causal, src_key_padding_mask=padding).data,
                                  layer(x, causal, padding).data)  # torch's order


# ------------------------------------------------------------------ building, copying, saving
def test_pytorchs_argument_names_and_copies():
    layer = TransformerDecoderLayer(d_model=8, nhead=2, dim_feedforward=16, activation=F.gelu,
                                    batch_first=True, rng=np.random.default_rng(5))
    assert layer.config["num_heads"] == 2 and layer.activation is F.gelu
    decoder = TransformerDecoder(layer, 3, norm=nn.LayerNorm(8))
    state = decoder.state_dict()
    for i in (1, 2):
        np.testing.assert_array_equal(state["layers.0.multihead_attn.in_proj_weight"],
                                      state[f"layers.{i}.multihead_attn.in_proj_weight"])
    assert decoder.layers[0] is not layer and list(state)[-2:] == ["norm.weight", "norm.bias"]
    assert Transformer(16, nhead=4, num_encoder_layers=1, num_decoder_layers=1).num_heads == 4


def test_custom_encoder_and_decoder_are_called_with_pytorchs_keywords():
    rng = np.random.default_rng(8)
    encoder = TransformerEncoder(SMALL, 1, norm=True, rng=rng)
    decoder = TransformerDecoder(SMALL, 1, rng=rng)
    model = Transformer(8, 2, custom_encoder=encoder, custom_decoder=decoder, rng=rng,
                        **BATCH_FIRST)
    assert model.encoder is encoder and model.decoder is decoder and model.config is None
    assert list(model.state_dict())[0] == "encoder.layers.0.self_attn.in_proj_weight"
    src = Tensor(rng.standard_normal((2, 4, 8)).astype(np.float32))
    tgt = Tensor(rng.standard_normal((2, 3, 8)).astype(np.float32))
    padding = np.array([[False, False, True, True], [False] * 4])
    out = model(src, tgt, src_key_padding_mask=padding, memory_key_padding_mask=padding,
                tgt_is_causal=True)
    memory = encoder(src, src_key_padding_mask=padding)
    np.testing.assert_array_equal(out.data, decoder(tgt, memory, memory_key_padding_mask=padding,
                                                    tgt_is_causal=True).data)


def test_checkpoint_rebuilds_the_transformer(tmp_path):
    rng = np.random.default_rng(6)
    model = Transformer(8, 2, 1, 2, 16, norm_first=True, activation="gelu", rng=rng,
                        **BATCH_FIRST)
    rebuilt = rebuilt_from_checkpoint(model, tmp_path / "model.npz")
    src = Tensor(rng.standard_normal((2, 4, 8)).astype(np.float32))
    tgt = Tensor(rng.standard_normal((2, 3, 8)).astype(np.float32))
    np.testing.assert_array_equal(model(src, tgt, tgt_is_causal=True).data,
                                  rebuilt(src, tgt, tgt_is_causal=True).data)
    decoder = TransformerDecoder({**SMALL, "bias": False}, 2, norm=True, rng=rng)
    rebuilt = TransformerDecoder(**decoder.config)
    assert list(rebuilt.state_dict()) == list(decoder.state_dict())
    assert "norm.bias" not in decoder.state_dict()


def test_dropout_only_in_training_and_float32_kept():
    rng = np.random.default_rng(7)
    layer = TransformerDecoderLayer(**{**SMALL, "dropout": 0.3}, rng=rng)
    plain = TransformerDecoderLayer(**SMALL, rng=rng)
    tgt = Tensor(rng.standard_normal((2, 5, 8)).astype(np.float32), requires_grad=True)
    memory = Tensor(rng.standard_normal((2, 4, 8)).astype(np.float32), requires_grad=True)
    check_dropout_only_in_training(layer, plain, tgt, memory)


# ------------------------------------------------------------------ learning
VOCAB, LENGTH, BOS = 8, 5, 1  # tokens 2..7; 1 starts the decoder's input


class Reverser(nn.Module):
    """Embeddings + learned positions -> nn.Transformer -> vocabulary logits."""

    def __init__(self, rng):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 32, rng=rng)
        self.positions = nn.LearnedPositionalEmbedding(LENGTH, 32, rng=rng)
        self.transformer = Transformer(32, 4, 1, 1, 64, rng=rng, **BATCH_FIRST)
        self.out = nn.Linear(32, VOCAB, rng=rng)

    def forward(self, src, tgt_in):
        causal = Transformer.generate_square_subsequent_mask(tgt_in.shape[1])
        hidden = self.transformer(self.positions(self.embed(src)),
                                  self.positions(self.embed(tgt_in)), tgt_mask=causal)
        return self.out(hidden)

    def greedy(self, src):
        """Decode one token at a time, each step fed the tokens decoded so far."""
        tokens = np.full((len(src), 1), BOS)
        with dlpy.no_grad():
            for _ in range(LENGTH):
                logits = self(src, tokens).data[:, -1]
                tokens = np.concatenate([tokens, logits.argmax(axis=-1)[:, None]], axis=1)
        return tokens[:, 1:]


def test_seq2seq_learns_to_reverse_and_decodes_greedily():
    rng = np.random.default_rng(0)
    src = rng.integers(2, VOCAB, (48, LENGTH))
    target = src[:, ::-1]
    tgt_in = np.concatenate([np.full((48, 1), BOS), target[:, :-1]], axis=1)  # teacher forcing
    model = Reverser(rng)
    opt = optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(150):
        batch = rng.choice(48, 16, replace=False)
        logits = model(src[batch], tgt_in[batch])
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), target[batch].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] > 1.5 and np.mean(losses[-10:]) < 0.05
    model.eval()
    np.testing.assert_array_equal(model.greedy(src[:8]), target[:8])


# ------------------------------------------------------------------ errors
def test_errors_name_what_was_expected():
    layer = TransformerDecoderLayer(**SMALL)
    tgt = Tensor(np.zeros((2, 5, 8), dtype=np.float32))
    memory = Tensor(np.zeros((2, 6, 8), dtype=np.float32))
    with pytest.raises(ValueError, match=r"expected tgt \(batch, seq_t, 8\) and memory \(batch, "
                                         r"seq_s, 8\), got \(2, 5, 8\) and \(2, 6, 6\)"):
        layer(tgt, Tensor(np.zeros((2, 6, 6), dtype=np.float32)))
    with pytest.raises(ValueError, match=r"got \(2, 5, 8\) and \(3, 6, 8\)"):
        layer(tgt, Tensor(np.zeros((3, 6, 8), dtype=np.float32)))
    with pytest.raises(ValueError, match=r"tgt_mask must be \(5, 5\) or \(4, 5, 5\), got \(5, 6\)"):
        layer(tgt, memory, tgt_mask=np.zeros((5, 6), dtype=bool))
    with pytest.raises(ValueError, match=r"memory_mask must be \(5, 6\) or \(4, 5, 6\), got "
                                         r"\(5, 5\)"):
        layer(tgt, memory, memory_mask=np.zeros((5, 5), dtype=bool))
    with pytest.raises(ValueError, match=r"memory_key_padding_mask must be \(2, 6\), got \(2, 5\)"):
        layer(tgt, memory, memory_key_padding_mask=np.zeros((2, 5), dtype=bool))
    with pytest.raises(ValueError, match=r"tgt_key_padding_mask must be \(2, 5\), got \(5,\)"):
        layer(tgt, memory, tgt_key_padding_mask=np.zeros(5, dtype=bool))

    model = Transformer(8, 2, 1, 1, 16, **BATCH_FIRST)
    with pytest.raises(ValueError, match=r"expected src \(batch, seq_s, 8\) and tgt \(batch, "
                                         r"seq_t, 8\), got \(2, 6, 8\) and \(2, 5, 4\)"):
        model(memory, Tensor(np.zeros((2, 5, 4), dtype=np.float32)))
    with pytest.raises(ValueError, match=r"src_key_padding_mask must be \(2, 6\), got \(2, 5\)"):
        model(memory, tgt, src_key_padding_mask=np.zeros((2, 5), dtype=bool))

    mha = MultiHeadAttention(8, 2, kdim=5)
    with pytest.raises(ValueError, match=r"key must be \(batch, seq, 5\), got \(2, 6, 8\)"):
        mha(tgt, memory, memory)


def test_argument_errors():
    for cls in (TransformerDecoderLayer, TransformerEncoderLayer):
        with pytest.raises(TypeError, match=r"batch_first must be True or False, got 'no'"):
            cls(**{**SMALL, "batch_first": "no"})
        with pytest.raises(TypeError, match="got both num_heads=2 and nhead=4"):
            cls(**SMALL, nhead=4)
        with pytest.raises(TypeError, match=r"norm_first must be True or False, got 'yes'"):
            cls(8, 2, 16, 0.0, "relu", "yes")
        # a number where dlpy has norm_first: PyTorch's positional order (..., activation,
        # layer_norm_eps, batch_first, norm_first, bias)
        layer = cls(8, 2, 16, 0.0, "relu", 1e-3, True, True, False)
        assert (layer.norm1.eps, layer.batch_first, layer.norm_first, layer.linear1.bias) == \
            (1e-3, True, True, None)
        with pytest.raises(ValueError, match=r"one of \['gelu', 'relu'\], got 'tanh'"):
            cls(**SMALL, activation="tanh")
    with pytest.raises(TypeError, match="batch_first must be True or False"):
        Transformer(8, 2, batch_first=None)
    with pytest.raises(TypeError, match="batch_first must be True or False"):
        MultiHeadAttention(8, 2, batch_first=None)
    with pytest.raises(TypeError, match="got both d_model=8 and embed_dim=8"):
        MultiHeadAttention(8, 2, embed_dim=8)
    with pytest.raises(TypeError, match="layer_config must be a dict .* got list"):
        TransformerDecoder([8, 2, 16], 2)
    with pytest.raises(ValueError, match="num_layers must be at least 1, got 0"):
        TransformerDecoder(SMALL, 0)
