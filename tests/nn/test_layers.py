"""Layers: shapes, PyTorch initialisation ranges, PyTorch state dicts loading unchanged and
giving PyTorch's outputs (tests/fixtures/nn/models.npz), and errors."""

from pathlib import Path

import numpy as np
import pytest

from dlpy import Tensor, nn

from .reference import load_grouped

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "nn" / "models.npz"


@pytest.fixture(scope="module")
def torch_models():
    return load_grouped(FIXTURE)


class TextModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(11, 6, padding_idx=0)
        self.norm = nn.LayerNorm(6)
        self.head = nn.Sequential(nn.Linear(6, 8), nn.GELU(), nn.Linear(8, 3))

    def forward(self, ids):
        return self.head(self.norm(self.embed(ids)))


def build(name):
    if name == "cnn":
        return nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(4, 6, 3, stride=2), nn.Tanh(), nn.Flatten(), nn.Linear(6 * 2 * 2, 5),
            nn.Sigmoid(),
        )
    if name == "mlp":
        return nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 10))
    return TextModel()


@pytest.mark.parametrize("name", ["cnn", "mlp", "text"])
def test_torch_state_dict_loads_unchanged_and_gives_torch_output(name, torch_models):
    reference = torch_models[name]
    model = build(name)
    own = model.state_dict()
    assert list(own) == list(reference["state"])  # the same names, in the same order
    assert {k: v.shape for k, v in own.items()} == {k: v.shape for k, v in
                                                    reference["state"].items()}
    model.load_state_dict(reference["state"])
    out = model(reference["input"])
    np.testing.assert_allclose(out.data, reference["output"], rtol=1e-5, atol=1e-6)


def test_linear_shapes_and_pytorch_init():
    layer = nn.Linear(400, 30, rng=np.random.default_rng(0))
    assert layer.weight.shape == (30, 400) and layer.bias.shape == (30,)
    bound = 1 / np.sqrt(400)
    assert np.abs(layer.weight.data).max() <= bound
    assert np.abs(layer.weight.data).max() > 0.95 * bound  # uniform over the whole range
    assert layer(np.zeros((2, 7, 400), np.float32)).shape == (2, 7, 30)
    assert nn.Linear(3, 2, bias=False).bias is None
    assert [k for k, _ in nn.Linear(3, 2, bias=False).named_parameters()] == ["weight"]


def test_seeded_generators_make_identical_layers():
    a = nn.Conv2d(2, 3, 3, rng=np.random.default_rng(7))
    b = nn.Conv2d(2, 3, 3, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a.weight.data, b.weight.data)


def test_conv2d_shapes_and_init():
    conv = nn.Conv2d(3, 8, (3, 5), stride=2, padding=(1, 2), rng=np.random.default_rng(0))
    assert conv.weight.shape == (8, 3, 3, 5) and conv.bias.shape == (8,)
    assert np.abs(conv.weight.data).max() <= 1 / np.sqrt(3 * 3 * 5)
    assert conv(np.zeros((4, 3, 9, 10), np.float32)).shape == (4, 8, 5, 5)
    with pytest.raises(ValueError, match=r"Conv2d: expected input \(N, 3, H, W\) or unbatched "
                                         r"\(3, H, W\), got \(4, 2, 9, 10\)"):
        conv(Tensor(np.zeros((4, 2, 9, 10))))


def test_maxpool_and_flatten_shapes():
    x = Tensor(np.zeros((2, 3, 9, 8)))
    assert nn.MaxPool2d(2)(x).shape == (2, 3, 4, 4)
    assert nn.MaxPool2d(3, stride=1, padding=1)(x).shape == (2, 3, 9, 8)
    assert nn.Flatten()(x).shape == (2, 216)
    assert list(nn.MaxPool2d(2).parameters()) == []


def test_embedding_shapes_padding_and_gradient():
    emb = nn.Embedding(5, 3, padding_idx=1, rng=np.random.default_rng(0))
    assert emb.weight.shape == (5, 3)
    np.testing.assert_array_equal(emb.weight.data[1], 0)
    ids = np.array([[0, 1, 4], [4, 4, 1]])
    out = emb(ids)
    assert out.shape == (2, 3, 3)
    np.testing.assert_array_equal(out.data[0, 0], emb.weight.data[0])
    out.sum().backward()
    np.testing.assert_array_equal(emb.weight.grad[:, 0], [1, 0, 0, 0, 3])  # padding: no grad
    emb.weight.data[1] = 7.0  # as torch: a padding row set by hand is what its positions get
    np.testing.assert_array_equal(emb(np.array([1])).data, [[7.0, 7.0, 7.0]])
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 5\), got values from 0 to 5"):
        emb(np.array([0, 5]))
    with pytest.raises(ValueError, match=r"padding_idx must lie in \[-5, 5\), got 5"):
        nn.Embedding(5, 3, padding_idx=5)


def test_sequential_and_module_list():
    seq = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    assert len(seq) == 3 and isinstance(seq[1], nn.ReLU) and isinstance(seq[-1], nn.Linear)
    assert [k for k, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight",
                                                      "2.bias"]
    assert seq(np.ones((5, 4), np.float32)).shape == (5, 2)
    assert len(seq[:2]) == 2
    blocks = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])
    blocks.append(nn.Linear(2, 1))
    assert [k for k, _ in blocks.named_parameters()][-1] == "2.bias"
    with pytest.raises(IndexError, match="index 3 out of range for 3 modules"):
        blocks[3]
    with pytest.raises(TypeError, match="expected a Module, got int"):
        blocks.append(3)


def test_dropout_train_and_eval():
    drop = nn.Dropout(0.5, rng=np.random.default_rng(0))
    x = Tensor(np.ones((100, 100)))
    y = drop(x).data
    assert 0.4 < (y == 0).mean() < 0.6 and set(np.unique(y)) <= {0.0, 2.0}
    np.testing.assert_array_equal(drop.eval()(x).data, x.data)


def test_train_eval_reaches_nested_modules():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(0.1)))
    model.eval()
    assert all(not m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())


def test_embedding_from_pretrained_copies_and_freezes_as_torch():
    import dlpy

    vectors = np.arange(12, dtype=np.float64).reshape(4, 3)
    state = dlpy.get_rng_state().data
    frozen = nn.Embedding.from_pretrained(vectors)
    assert np.array_equal(dlpy.get_rng_state().data, state)  # drew nothing
    assert not frozen.weight.requires_grad and frozen.weight.dtype == np.float64
    vectors[0, 0] = 99.0  # a copy
    np.testing.assert_array_equal(frozen(np.array([[2, 0]])).data, [[[6, 7, 8], [0, 1, 2]]])
    trainable = nn.Embedding.from_pretrained(vectors.astype(np.float32), freeze=False)
    assert trainable.weight.requires_grad and trainable.weight.dtype == np.float32
    assert [p for p in frozen.parameters() if p.requires_grad] == []
    with pytest.raises(ValueError, match=r"expected a 2-D array \(num_embeddings, "
                                         r"embedding_dim\), got shape"):
        nn.Embedding.from_pretrained(np.arange(4))
