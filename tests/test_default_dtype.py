"""dlpy.set_default_dtype / get_default_dtype, as torch's: what Python floats, the creation
functions and layers' parameters become."""

import numpy as np
import pytest

import dlpy
from dlpy import Tensor, nn, optim

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)


@pytest.fixture
def float64_default():
    dlpy.set_default_dtype(np.float64)
    try:
        yield
    finally:
        dlpy.set_default_dtype(np.float32)


def _made():
    """The dtype of everything the default dtype decides."""
    return {
        "tensor(1.5)": dlpy.tensor(1.5).dtype,
        "tensor([1., 2])": dlpy.tensor([1.0, 2]).dtype,  # ints are int64, as torch's
        "Tensor(list)": Tensor([1.0, 2.0]).dtype,
        "zeros": dlpy.zeros(2).dtype, "ones": dlpy.ones(2, 3).dtype,
        "empty": dlpy.empty(2).dtype, "eye": dlpy.eye(2).dtype,
        "full": dlpy.full((2,), 0.5).dtype, "linspace": dlpy.linspace(0, 1, 3).dtype,
        "logspace": dlpy.logspace(0, 1, 3).dtype, "arange": dlpy.arange(0.5, 2).dtype,
        "randn": dlpy.randn(2).dtype, "rand": dlpy.rand(2).dtype,
        "scalar_tensor": dlpy.scalar_tensor(2).dtype, "as_tensor": dlpy.as_tensor(0.5).dtype,
        "Linear": nn.Linear(2, 3).weight.dtype, "LayerNorm": nn.LayerNorm(3).bias.dtype,
        "BatchNorm": nn.BatchNorm1d(3).running_var.dtype, "Conv2d": nn.Conv2d(1, 2, 3).weight.dtype,
        "Embedding": nn.Embedding(4, 2).weight.dtype, "LSTM": nn.LSTM(2, 3).weight_hh_l0.dtype,
        "MultiheadAttention": nn.MultiheadAttention(4, 2).in_proj_weight.dtype,
        "TransformerEncoderLayer": nn.TransformerEncoderLayer(4, 2).linear1.weight.dtype,
        "mask": nn.Transformer.generate_square_subsequent_mask(3).dtype,
    }


def test_float32_is_the_default():
    assert dlpy.get_default_dtype() == F32
    assert set(_made().values()) == {F32}


def test_float64_default_reaches_creation_functions_and_layers(float64_default):
    assert dlpy.get_default_dtype() == F64
    made = _made()
    assert {k for k, v in made.items() if v != F64} == set()
    # what the default does not decide
    assert dlpy.arange(3).dtype == np.int64 and dlpy.full((2,), 3).dtype == np.int64
    assert dlpy.tensor(np.ones(2, np.float32)).dtype == F32  # arrays keep their dtype
    assert nn.Linear(2, 3, dtype=np.float32).weight.dtype == F32  # an explicit dtype wins
    assert dlpy.zeros(2, dtype=np.float32).dtype == F32
    assert dlpy.tensor(1 + 2j).dtype == np.complex128  # the complex pair, as torch
    assert (dlpy.tensor(1.5) * 2).dtype == F64


def test_restoring_float32_restores_everything():
    dlpy.set_default_dtype("float64")
    dlpy.set_default_dtype(np.float32)
    assert set(_made().values()) == {F32}
    assert dlpy.tensor(1 + 2j).dtype == np.complex64


def test_a_layer_takes_the_default_when_made_not_later(float64_default):
    layer = nn.Linear(2, 2)
    dlpy.set_default_dtype(np.float32)
    assert layer.weight.dtype == F64 and nn.Linear(2, 2).weight.dtype == F32


def test_a_small_mlp_trains_in_float64(float64_default):
    dlpy.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
    x = dlpy.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = dlpy.tensor([[0.0], [1.0], [1.0], [0.0]])  # xor
    opt = optim.Adam(model.parameters(), lr=0.05)
    for _ in range(300):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
    assert loss.dtype == F64 and all(p.grad.dtype == F64 for p in model.parameters())
    assert loss.item() < 1e-3


def test_only_floating_dtypes_can_be_the_default():
    for bad in (np.int32, "complex64", np.bool_):
        with pytest.raises(TypeError, match=r"set_default_dtype: only floating-point types are "
                                            r"supported as the default type, got (int32|"
                                            r"complex64|bool)"):
            dlpy.set_default_dtype(bad)
    with pytest.raises(TypeError, match=r"got 'no such dtype'"):
        dlpy.set_default_dtype("no such dtype")
    with pytest.raises(TypeError, match=r"got None"):
        dlpy.set_default_dtype(None)
    assert dlpy.get_default_dtype() == F32


# torch 2.13 under set_default_dtype(float16) / (bfloat16), after torch.manual_seed(0)
HALF_DEFAULTS = {
    "float16": {"floats": [1.5, 0.0999755859375, float("inf")],
                "arange": [0.0, 0.0999755859375, 0.199951171875, 0.300048828125, 0.39990234375,
                           0.5, 0.60009765625, 0.7001953125, 0.7998046875, 0.89990234375],
                "randn": [1.2646484375, -0.6875, 0.160400390625],
                "rand": [0.2939453125, 0.5185546875, 0.69775390625],
                "div": [0.333251953125, 0.66650390625], "sqrt": [1.4140625]},
    "bfloat16": {"floats": [1.5, 0.10009765625, 99840.0],
                 "arange": [0.0, 0.10009765625, 0.2001953125, 0.30078125, 0.400390625, 0.5,
                            0.6015625, 0.69921875, 0.80078125, 0.8984375],
                 "randn": [1.265625, -0.6875, 0.16015625],
                 "rand": [0.29296875, 0.51953125, 0.69921875],
                 "div": [0.333984375, 0.66796875], "sqrt": [1.4140625]},
}


@pytest.mark.parametrize("name", sorted(HALF_DEFAULTS))
def test_a_half_default_dtype_as_torch(name):
    """float16 and bfloat16 defaults, as torch 2.13 takes them: Python floats (through float32),
    factories, draws, layers' parameters and int division follow them."""
    want, dtype = HALF_DEFAULTS[name], np.dtype(getattr(dlpy, name))
    dlpy.set_default_dtype(dtype)
    try:
        def values(t):
            assert t.dtype == dtype
            return t.float().tolist()

        assert dlpy.get_default_dtype() == dtype
        assert values(dlpy.tensor([1.5, 0.1, 1e5])) == want["floats"]
        assert dlpy.tensor([1, 2]).dtype == np.int64
        assert values(dlpy.arange(0, 1, 0.1)) == want["arange"]
        dlpy.manual_seed(0)
        assert dlpy.nn.Linear(2, 2).weight.dtype == dtype  # (its draws come first, as recorded)
        assert values(dlpy.randn(3)) == want["randn"]
        assert values(dlpy.rand(3)) == want["rand"]
        assert values(dlpy.tensor([1, 2]) / 3) == want["div"]
        assert values(dlpy.sqrt(dlpy.tensor([2]))) == want["sqrt"]
        assert values(dlpy.linspace(0, 1, 5)) == [0.0, 0.25, 0.5, 0.75, 1.0]
        assert dlpy.tensor([1, 2]).float().dtype == np.float32  # .float() is float32 still
    finally:
        dlpy.set_default_dtype(F32)
    assert dlpy.tensor([0.5]).dtype == F32
