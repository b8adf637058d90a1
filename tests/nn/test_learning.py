"""Learning tests that can fail: small models must fit small datasets."""

import numpy as np

from dlpy import functional as F
from dlpy import nn, optim

from .helpers import fit


def test_mlp_overfits_a_small_synthetic_dataset():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 10)).astype(np.float32)
    y = rng.integers(0, 4, 64)  # random labels: only memorising fits them
    model = nn.Sequential(nn.Linear(10, 64, rng=rng), nn.ReLU(), nn.Linear(64, 4, rng=rng))
    losses = fit(model, x, y, optim.Adam(model.parameters(), lr=0.01), 300)
    accuracy = (model(x).data.argmax(axis=1) == y).mean()
    assert accuracy == 1.0
    assert losses[-1] < 0.05 * losses[0]


def test_constant_label_is_learned_with_sgd_momentum():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((32, 5)).astype(np.float32)
    y = np.full(32, 3)
    model = nn.Sequential(nn.Linear(5, 8, rng=rng), nn.Tanh(), nn.Linear(8, 6, rng=rng))
    fit(model, x, y, optim.SGD(model.parameters(), lr=0.1, momentum=0.9), 100)
    test = rng.standard_normal((10, 5)).astype(np.float32)
    assert (model(test).data.argmax(axis=1) == 3).all()


def test_tiny_cnn_separates_two_patterns():
    rng = np.random.default_rng(2)
    n = 32
    x = rng.normal(0, 0.3, (n, 1, 8, 8)).astype(np.float32)
    y = np.arange(n) % 2
    x[y == 0, 0, :, 3:5] += 1.0  # vertical bar
    x[y == 1, 0, 3:5, :] += 1.0  # horizontal bar
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(4 * 4 * 4, 2, rng=rng))
    fit(model, x, y, optim.Adam(model.parameters(), lr=0.02), 40)
    assert (model(x).data.argmax(axis=1) == y).mean() == 1.0


def test_mlp_with_batch_norm_learns_badly_scaled_features_and_predicts_in_eval_mode():
    rng = np.random.default_rng(3)
    n = 128
    x = rng.standard_normal((n, 4))
    y = ((x[:, 0] + x[:, 1] > 0) ^ (x[:, 2] > 0)).astype(np.int64)  # a non-linear rule
    # raw features 1000x apart and away from zero: the first BatchNorm1d evens them out
    scaled = (x * np.array([100.0, 0.1, 10.0, 1.0]) + np.array([30.0, -2.0, 50.0, 0.0])
              ).astype(np.float32)
    model = nn.Sequential(nn.BatchNorm1d(4), nn.Linear(4, 32, rng=rng), nn.BatchNorm1d(32),
                          nn.ReLU(), nn.Linear(32, 2, rng=rng))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(30):
        for batch in np.split(rng.permutation(n), 4):
            loss = F.cross_entropy(model(scaled[batch]), y[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()  # the running statistics must now stand in for the batch's
    assert (model(scaled).data.argmax(axis=1) == y).mean() >= 0.93
    assert (model(scaled[:1]).data.argmax(axis=1) == y[:1]).all()  # one sample at a time works


def test_cnn_with_batch_norm_separates_two_patterns_in_eval_mode():
    rng = np.random.default_rng(4)
    n = 32
    x = rng.normal(0, 0.3, (n, 1, 8, 8)).astype(np.float32)
    y = np.arange(n) % 2
    x[y == 0, 0, :, 3:5] += 1.0  # vertical bar
    x[y == 1, 0, 3:5, :] += 1.0  # horizontal bar
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False, rng=rng),
                          nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(4 * 4 * 4, 2, rng=rng))
    opt = optim.Adam(model.parameters(), lr=0.02)
    for _ in range(40):
        for batch in np.split(rng.permutation(n), 2):
            loss = F.cross_entropy(model(x[batch]), y[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    test = rng.normal(0, 0.3, (n, 1, 8, 8)).astype(np.float32)
    test[y == 0, 0, :, 3:5] += 1.0
    test[y == 1, 0, 3:5, :] += 1.0
    assert (model(test).data.argmax(axis=1) == y).mean() == 1.0
