"""Layers print as torch 2.13's, containers behave as torch's after their list and dict methods,
and the layer arguments added alongside (LayerNorm over several axes and bias=False,
Embedding's max_norm / norm_type / scale_grad_by_freq) give torch's values: all against
fixtures/layer_repr.json, written by make_layer_repr_fixtures.py from cases_layer_repr.py."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from cases_layer_repr import LAYERS, build, container_cases, numeric_cases

import dlpy
from dlpy import Tensor, nn
from dlpy import functional as F

FIXTURE = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "layer_repr.json")
                     .read_text())


@pytest.mark.parametrize("expression", LAYERS)
def test_repr_matches_torch(expression):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layer = build(nn, expression)
    assert repr(layer) == FIXTURE["repr"][expression]
    assert str(layer) == FIXTURE["repr"][expression]


def test_every_layer_of_the_table_was_recorded():
    assert sorted(FIXTURE["repr"]) == sorted(LAYERS)


@pytest.fixture(scope="module")
def containers():
    return container_cases(nn)


@pytest.mark.parametrize("name", sorted(FIXTURE["containers"]))
def test_containers_match_torch(containers, name):
    assert containers[name] == FIXTURE["containers"][name]


@pytest.fixture(scope="module")
def numeric():
    return numeric_cases(dlpy, nn, F)


def assert_same(got, want, where=""):
    """Nested lists equal, floats to float64 rounding."""
    if isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same(g, w, f"{where}[{i}]")
    elif isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-12, abs=1e-14), where
    else:
        assert got == want, where


@pytest.mark.parametrize("name", sorted(FIXTURE["numeric"]))
def test_values_match_torch(numeric, name):
    assert_same(numeric[name], FIXTURE["numeric"][name])


# ---------------------------------------------------------------- what the fixture cannot show
def test_module_repr_layout_of_multi_line_extra_repr_and_children():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def extra_repr(self):
            return "first\nsecond"

    assert repr(Block()) == ("Block(\n  first\n  second\n  (fc): Linear(in_features=2, "
                             "out_features=2, bias=True)\n)")
    from dlpy.nn.modules.module import _addindent  # torch's helper, as third-party code uses

    assert _addindent("a\nb\n\nc", 2) == "a\n  b\n\n  c" and _addindent("a", 4) == "a"


def test_multihead_attention_out_proj_is_a_linear_with_torchs_name():
    torch_named = nn.MultiheadAttention(4, 2)
    assert isinstance(torch_named.out_proj, nn.Linear)
    assert type(torch_named.out_proj).__name__ == "NonDynamicallyQuantizableLinear"
    assert list(torch_named.state_dict()) == ["in_proj_weight", "in_proj_bias",
                                              "out_proj.weight", "out_proj.bias"]
    own = nn.MultiHeadAttention(4, 2)  # dlpy's batch-first layer keeps its settings line
    assert repr(own).startswith("MultiHeadAttention(\n  d_model=4, num_heads=2, dropout=0.0\n")
    layer = nn.TransformerEncoderLayer(8, 2, 16)
    assert isinstance(layer.self_attn, nn.MultiheadAttention)
    assert layer.self_attn.batch_first is False  # it sees the layer's tensors, as torch's


def test_layer_norm_checks_the_trailing_shape():
    norm = nn.LayerNorm((2, 3))
    assert norm.normalized_shape == (2, 3) and norm.weight.shape == (2, 3)
    with pytest.raises(ValueError, match=r"LayerNorm: expected input \(\*, 2, 3\) for "
                                         r"normalized_shape \(2, 3\), got \(4, 3, 2\)"):
        norm(Tensor(np.zeros((4, 3, 2), np.float32)))
    with pytest.raises(ValueError, match=r"expected input \(\*, 4\)"):
        nn.LayerNorm(4, elementwise_affine=False)(Tensor(np.zeros((2, 3), np.float32)))
    with pytest.raises(TypeError, match="LayerNorm: normalized_shape must be an int or a "
                                        "sequence of ints"):
        nn.LayerNorm("4")


def test_embedding_takes_torchs_positional_arguments():
    emb = nn.Embedding(10, 3, 0, 1.0, 1.0, True, False)
    assert (emb.padding_idx, emb.max_norm, emb.norm_type, emb.scale_grad_by_freq,
            emb.sparse) == (0, 1.0, 1.0, True, False)
    frozen = nn.Embedding(2, 2, _weight=np.ones((2, 2)), _freeze=True)
    assert not frozen.weight.requires_grad and frozen.weight.dtype == np.float64
    with pytest.raises(TypeError, match="Embedding: max_norm must be a number or None"):
        nn.Embedding(10, 3, max_norm="1")
    with pytest.raises(ValueError, match=r"Embedding: _weight must have shape \(10, 3\)"):
        nn.Embedding(10, 3, _weight=np.ones((3, 10)))


def test_max_norm_renormalises_the_weight_in_place_and_bumps_its_version():
    weight = Tensor(np.array([[3.0, 4.0], [0.3, 0.4], [6.0, 8.0]]), requires_grad=True)
    version = weight._version
    F.embedding(np.array([0, 1]), weight, max_norm=1.0)
    assert weight._version > version
    np.testing.assert_allclose(weight.data, [[0.6, 0.8], [0.3, 0.4], [6.0, 8.0]], rtol=1e-6)
    used = (weight * weight).sum()  # it saved the weight: a renormalisation after it (even
    F.embedding(np.array([1]), weight, max_norm=1.0)  # of nothing, as torch's) is refused
    with pytest.raises(RuntimeError, match="modified by an inplace operation|changed in place"):
        used.backward()


def test_scale_grad_by_freq_with_sparse_gradients_is_refused_as_torch():
    emb = nn.Embedding(5, 2, scale_grad_by_freq=True, sparse=True)
    out = emb(np.array([1, 1]))
    with pytest.raises(RuntimeError, match="scale_grad_by_freq is not supported with sparse"):
        out.sum().backward()


@pytest.mark.parametrize("make", [lambda: nn.Dropout(0.5, inplace=True),
                                  lambda: nn.Dropout1d(0.5, inplace=True)])
def test_dropout_inplace_changes_the_input_while_training(make):
    layer = make()
    x = Tensor(np.ones((4, 6, 5), np.float32))
    y = layer(x)
    assert y is x and not np.all(x.data == 1.0)  # changed in place, as torch's
    layer.eval()
    z = Tensor(np.ones((4, 6, 5), np.float32))
    assert layer(z) is z and np.all(z.data == 1.0)


@pytest.mark.parametrize("make", [nn.AlphaDropout, nn.FeatureAlphaDropout])
def test_alpha_dropouts_ignore_inplace_as_torchs_forward(make):
    # torch's AlphaDropout.forward calls F.alpha_dropout(input, p, training): no inplace
    x = Tensor(np.ones((4, 6, 5), np.float32))
    y = make(0.5, inplace=True)(x)
    assert y is not x and np.all(x.data == 1.0) and not np.all(y.data == 1.0)


def test_pools_keep_their_settings_as_given():
    pool = nn.MaxPool2d(2)
    assert (pool.kernel_size, pool.stride, pool.padding, pool.dilation) == (2, 2, 0, 1)
    pool.kernel_size = pool.stride = 3  # read at each call, as torch's
    assert pool(Tensor(np.zeros((1, 1, 6, 6), np.float32))).shape == (1, 1, 2, 2)
    assert nn.AvgPool2d((2, 3)).stride == (2, 3) and nn.AvgPool1d(2).kernel_size == (2,)
    with pytest.raises(ValueError, match="MaxPool2d: kernel_size"):
        nn.MaxPool2d((2, 2, 2))
