"""The in-place activations F.relu_, elu_, celu_, selu_, leaky_relu_, hardtanh_, rrelu_,
threshold_ and the inplace=True of their functional forms and layers, against PyTorch
(tests/fixtures/nn/last.npz, written by tests/fixtures/make_nn_last_fixtures.py): the input is
changed and returned, the gradient flows back through it, PyTorch's leaf rule; errors."""

from pathlib import Path

import numpy as np
import pytest
from cases_nn_last import ACTIVATIONS
from npz_reference import load_npz

import dlpy
import dlpy.functional as F
from dlpy import Tensor, nn
from dlpy.testing import gradcheck

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "nn" / "last.npz"
LEAF = "a leaf tensor that requires grad can be changed in place only under dlpy.no_grad"


@pytest.fixture(scope="module")
def ref():
    return load_npz(FIXTURE)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_in_place_matches_torch_and_returns_its_input(name, ref):
    x = Tensor(ref[f"act:{name}:x"], requires_grad=True)
    y = x * 1
    result = getattr(F, f"{name}_")(y, **ACTIVATIONS[name])
    assert result is y and y.requires_grad
    np.testing.assert_allclose(y.data, ref[f"act:{name}:y"], rtol=1e-14, atol=1e-15)
    (result * Tensor(ref[f"act:{name}:weight"])).sum().backward()
    np.testing.assert_allclose(x.grad, ref[f"act:{name}:grad"], rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_inplace_keyword_is_the_in_place_form(name, ref):
    kwargs = ACTIVATIONS[name]
    function = getattr(F, name)
    x = Tensor(ref[f"act:{name}:x"])
    plain = function(x, **kwargs)
    assert plain is not x and not np.array_equal(plain.data, x.data)
    same = function(x, **kwargs, inplace=True)
    assert same is x
    np.testing.assert_array_equal(x.data, plain.data)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_gradcheck_through_the_in_place_change(name):
    kwargs = ACTIVATIONS[name]
    rng = np.random.default_rng(3)
    # away from the kinks (0, the threshold, hardtanh's limits)
    x = Tensor(rng.choice([-1.7, -0.9, 0.35, 0.6, 1.3], size=(2, 5)) + rng.uniform(-0.05, 0.05,
                                                                                   (2, 5)),
               requires_grad=True)
    assert gradcheck(lambda t: getattr(F, f"{name}_")(t * 1.5, **kwargs), x)


def test_a_leaf_that_requires_grad_is_refused_unless_under_no_grad():
    x = Tensor(np.array([-1.0, 2.0]), requires_grad=True)
    for function in (F.relu_, F.elu_, lambda t: F.leaky_relu(t, 0.1, inplace=True),
                     lambda t: nn.ReLU(inplace=True)(t)):
        with pytest.raises(RuntimeError, match=LEAF):
            function(x)
    with dlpy.no_grad():
        assert F.relu_(x) is x
    np.testing.assert_array_equal(x.data, [0.0, 2.0])


def test_views_of_a_plain_tensor_see_the_change():
    x = Tensor(np.array([-1.0, 2.0, -3.0]))
    view = x.detach()
    version = x._version
    F.threshold_(x, 0.0, 7.0)
    np.testing.assert_array_equal(view.data, [7.0, 2.0, 7.0])
    assert x._version == version + 1


def test_an_op_that_saved_the_old_value_still_gets_its_gradient():
    # y = x * x saves x; relu_ on y changes y, not x: x.grad = relu'(y) * 2x
    x = Tensor(np.array([-2.0, 0.5, 3.0]), requires_grad=True)
    y = x * x - 1.0
    F.relu_(y)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [-4.0, 0.0, 6.0])


def test_rrelu_in_place_training_draws_one_slope_per_element():
    x = Tensor(np.full((3, 4), -1.0))
    out = F.rrelu_(x, 0.1, 0.3, training=True, rng=np.random.default_rng(0))
    assert out is x and ((x.data <= -0.1) & (x.data >= -0.3)).all()
    expected = F.rrelu(Tensor(np.full((3, 4), -1.0)), 0.1, 0.3, True,
                       rng=np.random.default_rng(0))
    np.testing.assert_array_equal(x.data, expected.data)
    same = Tensor(np.full((2,), -1.0))
    assert F.rrelu(same, 0.1, 0.3, True, True, rng=np.random.default_rng(0)) is same


def test_feature_alpha_dropout_in_place():
    x = dlpy.randn(4, 3, 2)
    expected = F.feature_alpha_dropout(x, 0.5, True, rng=np.random.default_rng(1))
    out = F.feature_alpha_dropout(x, 0.5, True, True, rng=np.random.default_rng(1))
    assert out is x
    np.testing.assert_array_equal(x.data, expected.data)


@pytest.mark.parametrize("layer, function", [
    (nn.ReLU(inplace=True), F.relu), (nn.ELU(0.5, inplace=True), lambda t: F.elu(t, 0.5)),
    (nn.CELU(2.0, True), lambda t: F.celu(t, 2.0)), (nn.SELU(True), F.selu),
    (nn.LeakyReLU(0.3, True), lambda t: F.leaky_relu(t, 0.3)),
    (nn.Hardtanh(-0.5, 0.5, True), lambda t: F.hardtanh(t, -0.5, 0.5)),
    (nn.ReLU6(inplace=True), F.relu6), (nn.Threshold(0.2, -1.0, True),
                                        lambda t: F.threshold(t, 0.2, -1.0)),
    (nn.RReLU(0.1, 0.2, True).eval(), lambda t: F.rrelu(t, 0.1, 0.2)),
])
def test_layers_take_inplace(layer, function):
    x = Tensor(np.linspace(-8, 8, 12).reshape(3, 4))
    expected = function(Tensor(x.data.copy()))
    assert layer(x) is x
    np.testing.assert_array_equal(x.data, expected.data)
    assert repr(layer).endswith("inplace=True)")
    assert "inplace" not in repr(type(layer)()) if type(layer) is not nn.Threshold else True


def test_errors():
    with pytest.raises(TypeError, match="relu_: expected a Tensor .*, got ndarray"):
        F.relu_(np.ones(3))
    with pytest.raises(TypeError, match="hardtanh_: expected a Tensor"):
        F.hardtanh(np.ones(3), inplace=True)
    x = Tensor(np.ones(3, dtype=np.int64))
    with pytest.raises(TypeError, match="elu: expected a floating-point input, got int64"):
        F.elu_(x)
    names = {"celu_", "elu_", "hardtanh_", "leaky_relu_", "relu_", "rrelu_", "selu_",
             "threshold_"}
    assert names <= set(F.__all__)


@pytest.mark.parametrize("name, layer", [("silu", nn.SiLU), ("hardswish", nn.Hardswish),
                                         ("hardsigmoid", nn.Hardsigmoid)])
def test_silu_hardswish_hardsigmoid_in_place_equal_their_out_of_place_forms(name, layer):
    # torchvision builds nn.SiLU(inplace=True), nn.Hardswish(inplace=True): the same op applied
    # through Tensor._in_place, so values and gradients are the (torch-checked) plain form's
    rng = np.random.default_rng(5)
    data = rng.uniform(-4, 4, (3, 4))
    x, x_plain = Tensor(data, requires_grad=True), Tensor(data, requires_grad=True)
    y = x * 1.5
    module = layer(inplace=True)
    assert module(y) is y
    # torch's Hardswish and Hardsigmoid show no extra_repr: "Hardswish()" even in place
    assert repr(module).endswith("(inplace=True)" if layer is nn.SiLU else "()")
    expected = getattr(F, name)(x_plain * 1.5)
    np.testing.assert_array_equal(y.data, expected.data)
    (y * y).sum().backward()
    (expected * expected).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), x_plain.grad.numpy(), rtol=1e-13)
    assert gradcheck(lambda t: getattr(F, name)(t * 1.5, inplace=True), Tensor(data[:2, :2] + 0.01,
                                                                              requires_grad=True))
    with pytest.raises(RuntimeError, match="leaf"):
        getattr(F, name)(Tensor(data, requires_grad=True), inplace=True)
