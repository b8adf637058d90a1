"""dlpy.manual_seed and the default generator: seeded runs repeat bit for bit; copied layers draw
independent dropout masks."""

import copy

import numpy as np
import pytest

import dlpy
import dlpy.functional as F
from dlpy import nn, optim
from dlpy.data import DataLoader, TensorDataset


def _train_once(seed):
    dlpy.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
    x = dlpy.randn(40, 6)
    y = dlpy.tensor(np.arange(40) % 3, dtype=np.int64)
    loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True)
    opt = optim.Adam(model.parameters(), lr=0.01)
    for _ in range(3):
        for xb, yb in loader:
            loss = nn.CrossEntropyLoss()(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return [p.data.copy() for p in model.parameters()]


def test_two_seeded_training_runs_give_identical_weights():
    first, second = _train_once(7), _train_once(7)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    other = _train_once(8)
    assert not np.array_equal(first[0], other[0])


def test_manual_seed_reseeds_the_generator_layers_already_hold():
    dropout = nn.Dropout(0.5)  # made before seeding: draws from the default generator anyway
    x = dlpy.ones(100)
    dlpy.manual_seed(3)
    a = dropout(x).numpy().copy()
    dlpy.manual_seed(3)
    np.testing.assert_array_equal(dropout(x).numpy(), a)


def test_manual_seed_takes_torchs_seeds():
    # as torch: int(seed), a negative seed mapped to 2^64 + seed, out of range refused
    assert dlpy.manual_seed(-1).initial_seed() == 2 ** 64 - 1
    assert dlpy.manual_seed(2.7).initial_seed() == 2
    with pytest.raises(ValueError, match="seed must be in"):
        dlpy.manual_seed(-2 ** 63 - 1)
    with pytest.raises(ValueError):
        dlpy.manual_seed("a")


@pytest.mark.parametrize("rng", [None, np.random.default_rng(0)])
def test_encoder_copies_of_one_layer_draw_different_dropout_masks(rng):
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.5, rng=rng)
    encoder = nn.TransformerEncoder(layer, 3)
    x = dlpy.ones(1, 4, 8)
    masks = []
    for copied in encoder.layers:
        out = copied.dropout(x).numpy()
        masks.append(out != 0)
    assert not np.array_equal(masks[0], masks[1])
    assert not np.array_equal(masks[1], masks[2])
    # within one copy the sub-modules still share one generator, as the original's did
    for copied in encoder.layers:
        if rng is not None:
            assert copied.dropout.rng is copied.dropout1.rng is copied.self_attn.rng
            assert copied.dropout.rng is not layer.dropout.rng


def test_deepcopy_with_the_default_generator_draws_new_masks():
    dlpy.manual_seed(0)
    a = nn.Dropout(0.5)
    b = copy.deepcopy(a)
    x = dlpy.ones(64)
    assert not np.array_equal(a(x).numpy(), b(x).numpy())


def test_attention_dropout_uses_the_default_generator():
    q = dlpy.randn(1, 4, 8)
    dlpy.manual_seed(5)
    a = F.scaled_dot_product_attention(q, q, q, dropout_p=0.5, training=True).numpy()
    dlpy.manual_seed(5)
    b = F.scaled_dot_product_attention(q, q, q, dropout_p=0.5, training=True).numpy()
    np.testing.assert_array_equal(a, b)
