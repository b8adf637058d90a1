"""Lazy modules: the size read at the first forward, then the module is the normal class with
the values the normal class draws from the same generator; an optimiser made before holds the
same parameters; state dicts materialise them; nn.Buffer; RNNBase / RNNCellBase; errors."""

import numpy as np
import pytest

import dlpy
from dlpy import Tensor, nn, optim

RNG_INPUT = np.random.default_rng(99)


def _x(*shape):
    return Tensor(RNG_INPUT.standard_normal(shape).astype(np.float32))


@pytest.mark.parametrize("lazy, plain, x", [
    (lambda: nn.LazyLinear(3), lambda: nn.Linear(5, 3), _x(2, 5)),
    (lambda: nn.LazyLinear(4, bias=False), lambda: nn.Linear(6, 4, bias=False), _x(3, 2, 6)),
    (lambda: nn.LazyConv1d(4, 3, 2), lambda: nn.Conv1d(2, 4, 3, 2), _x(2, 2, 9)),
    (lambda: nn.LazyConv2d(4, 3, padding=1, groups=2),
     lambda: nn.Conv2d(6, 4, 3, padding=1, groups=2), _x(1, 6, 5, 5)),
    (lambda: nn.LazyConv3d(2, 2), lambda: nn.Conv3d(3, 2, 2), _x(3, 4, 4, 4)),  # unbatched
    (lambda: nn.LazyConvTranspose1d(3, 2, 2), lambda: nn.ConvTranspose1d(5, 3, 2, 2), _x(2, 5, 4)),
    (lambda: nn.LazyConvTranspose2d(3, 3, 1, 1, 0, 3),
     lambda: nn.ConvTranspose2d(6, 3, 3, 1, 1, 0, 3), _x(1, 6, 4, 4)),
    (lambda: nn.LazyConvTranspose3d(2, 2), lambda: nn.ConvTranspose3d(3, 2, 2), _x(1, 3, 2, 3, 2)),
    (lambda: nn.LazyBatchNorm1d(), lambda: nn.BatchNorm1d(4), _x(8, 4)),
    (lambda: nn.LazyBatchNorm2d(momentum=0.3), lambda: nn.BatchNorm2d(3, momentum=0.3),
     _x(4, 3, 2, 2)),
    (lambda: nn.LazyBatchNorm3d(affine=False), lambda: nn.BatchNorm3d(2, affine=False),
     _x(2, 2, 2, 2, 2)),
    # torch's lazy instance norms default to affine=True, track_running_stats=True
    (lambda: nn.LazyInstanceNorm1d(),
     lambda: nn.InstanceNorm1d(3, affine=True, track_running_stats=True), _x(2, 3, 5)),
    (lambda: nn.LazyInstanceNorm2d(track_running_stats=False),
     lambda: nn.InstanceNorm2d(4, affine=True), _x(4, 3, 3)),  # unbatched
    (lambda: nn.LazyInstanceNorm3d(affine=False),
     lambda: nn.InstanceNorm3d(2, track_running_stats=True), _x(2, 2, 3, 2, 2)),
])
def test_first_forward_makes_the_normal_layer_with_its_values(lazy, plain, x):
    dlpy.manual_seed(7)
    expected = plain()
    dlpy.manual_seed(7)
    layer = lazy()
    params, buffers = list(layer.parameters()), list(layer.buffers())
    assert all(isinstance(p, nn.UninitializedParameter) for p in params)
    assert layer.has_uninitialized_params() or not params
    y = layer(x)
    assert type(layer) is type(expected) and isinstance(expected, nn.Module)
    assert [id(p) for p in layer.parameters()] == [id(p) for p in params]  # the same objects
    assert [id(b) for b in layer.buffers()] == [id(b) for b in buffers]  # (torch's materialize)
    assert all(type(p) is nn.Parameter for p in layer.parameters())
    np.testing.assert_array_equal(y.data, expected(x).data)  # (running statistics too)
    assert layer.state_dict().keys() == expected.state_dict().keys()
    for key, value in expected.state_dict().items():
        np.testing.assert_array_equal(layer.state_dict()[key], value, err_msg=key)
    assert repr(layer) == repr(expected)


def test_an_optimiser_made_before_the_first_call_updates_the_materialised_parameters():
    layer = nn.LazyLinear(2)
    opt = optim.Adam(layer.parameters())  # torch's: the same Parameter objects get their shapes
    layer(_x(4, 3)).sum().backward()
    before = layer.weight.data.copy()
    opt.step()
    assert layer.weight.shape == (2, 3) and not np.array_equal(before, layer.weight.data)
    assert opt.param_groups[0]["params"][0] is layer.weight


def test_uninitialized_parameters_refuse_their_shape_and_initialize_parameters_keeps_the_class():
    layer = nn.LazyLinear(3)
    with pytest.raises(RuntimeError, match="Can't access the shape of an uninitialized"):
        _ = layer.weight.shape
    with pytest.raises(ValueError, match="uninitialized parameter in numel"):
        layer.weight.numel()
    assert repr(layer.weight) == "<UninitializedParameter>" and nn.parameter.is_lazy(layer.bias)
    layer.initialize_parameters(_x(2, 5))  # torch's: the class changes at the first call
    assert type(layer) is nn.LazyLinear and layer.weight.shape == (3, 5)
    seen = []
    layer.register_forward_pre_hook(lambda module, args: seen.append(type(module)))
    layer(_x(1, 5))
    assert seen == [nn.Linear] and type(layer) is nn.Linear


def test_load_state_dict_materialises_as_torch():
    source = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(),
                           nn.Linear(16, 2))
    model = nn.Sequential(nn.LazyConv2d(4, 3), nn.LazyBatchNorm2d(), nn.Flatten(),
                          nn.LazyLinear(2))
    model.load_state_dict(source.state_dict())
    assert [type(m).__name__ for m in model] == ["LazyConv2d", "LazyBatchNorm2d", "Flatten",
                                                 "LazyLinear"]  # until the first call (torch's)
    assert model[0].in_channels == 3 and model[1].num_features == 4
    assert model[3].in_features == 16
    x = _x(2, 3, 4, 4)
    source.eval(), model.eval()
    np.testing.assert_array_equal(model(x).data, source(x).data)
    assert [type(m) for m in model] == [type(m) for m in source]


def test_a_lazy_state_dict_holds_empty_arrays_and_loads_into_a_lazy_module():
    lazy = nn.LazyLinear(3)
    state = lazy.state_dict()
    assert {k: type(v) for k, v in state.items()} == {"weight": nn.UninitializedParameter,
                                                      "bias": nn.UninitializedParameter}
    other = nn.LazyLinear(3)
    other.load_state_dict(state)
    assert type(other) is nn.LazyLinear and other.has_uninitialized_params()


def test_uninitialized_parameter_materialize():
    p = nn.UninitializedParameter(dtype=np.float64)
    p.materialize((2, 3))
    assert type(p) is nn.Parameter and p.shape == (2, 3) and p.dtype == np.float64
    assert p.is_leaf and p.requires_grad
    q = nn.UninitializedParameter()
    q.materialize(3, dtype=np.float64)
    assert q.shape == (3,) and q.dtype == np.float64
    assert repr(nn.UninitializedBuffer()) == "<UninitializedBuffer>"


def test_buffer_registers_a_buffer():
    module = nn.Module()
    module.table = nn.Buffer(np.arange(3.0))
    module.scratch = nn.Buffer(Tensor(np.ones(2)), persistent=False)
    assert isinstance(module.table, Tensor) and list(module.state_dict()) == ["table"]
    assert [name for name, _ in module.named_buffers()] == ["table", "scratch"]
    module.load_state_dict({"table": np.array([5.0, 6.0, 7.0])})
    np.testing.assert_array_equal(module.table, [5.0, 6.0, 7.0])
    module.table = np.zeros(3)  # still a buffer
    assert list(module.state_dict()) == ["table"]


def test_rnn_base_names():
    assert isinstance(nn.LSTM(3, 4), nn.RNNBase) and isinstance(nn.GRU(3, 4), nn.RNNBase)
    assert isinstance(nn.GRUCell(3, 4), nn.RNNCellBase)
    assert not isinstance(nn.LSTMCell(3, 4), nn.RNNBase)


@pytest.mark.parametrize("layer, x, match", [
    (nn.LazyConv2d(3, 2), _x(2, 3), r"LazyConv2d: expected an input with 3 \(unbatched\) or 4"),
    (nn.LazyBatchNorm2d(), _x(2, 3, 4), r"BatchNorm2d: expected a 4D input"),  # (built first)
    (nn.LazyBatchNorm1d(), _x(3), r"LazyBatchNorm1d: expected an input \(N, C, \.\.\.\)"),
    (nn.LazyInstanceNorm1d(), _x(3), "LazyInstanceNorm1d: expected an input with 2 or 3 axes"),
])
def test_bad_first_inputs(layer, x, match):
    with pytest.raises(ValueError, match=match):
        layer(x)


def test_exported():
    names = {"LazyLinear", "LazyConv1d", "LazyConvTranspose3d", "LazyBatchNorm1d",
             "LazyInstanceNorm3d", "UninitializedParameter", "UninitializedBuffer", "Buffer",
             "RNNBase", "RNNCellBase"}
    assert names <= set(nn.__all__)
