"""nn.utils.parametrizations (weight_norm, spectral_norm) against torch's (tests/fixtures/nn/
parametrize.npz, written by tests/fixtures/make_parametrize_fixtures.py): originals, outputs and
gradients of a Linear, a Conv2d and a ConvTranspose2d, spectral norm's power iteration in
training and eval; nn.utils.parametrize's register / remove with a parametrization of one's own;
state dicts; a weight-normed MLP that learns; errors."""

import json
from pathlib import Path

import numpy as np
import pytest
from npz_reference import load_npz

import dlpy
from dlpy import nn, optim
from dlpy.nn.utils import parametrizations, parametrize
from dlpy.testing import gradcheck

from .helpers import check_recorded_call, fit, reference_layer

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "nn" / "parametrize.npz"
# the same cases as CASES in tests/fixtures/make_parametrize_fixtures.py
CASES = {
    "wn_linear": ("linear", "weight_norm", {}),
    "wn_linear_dim1": ("linear", "weight_norm", {"dim": 1}),
    "wn_linear_none": ("linear", "weight_norm", {"dim": None}),
    "wn_conv": ("conv", "weight_norm", {}),
    "wn_conv_dim2": ("conv", "weight_norm", {"dim": -2}),
    "sn_linear": ("linear", "spectral_norm", {}),
    "sn_conv": ("conv", "spectral_norm", {"n_power_iterations": 2}),
    "sn_conv_transpose": ("conv_transpose", "spectral_norm", {}),
    "sn_linear_bias": ("linear", "spectral_norm", {"name": "bias", "eps": 1e-6}),
}
TOL = {"rtol": 1e-12, "atol": 1e-13}


@pytest.fixture(scope="module")
def reference():
    return load_npz(FIXTURE)


def test_the_cases_are_the_fixtures(reference):
    assert {key.split(":")[0] for key in reference} == set(CASES)


@pytest.mark.parametrize("case", [c for c in CASES if c.startswith("wn_")])
def test_weight_norm_matches_torch(case, reference):
    layer = reference_layer(CASES[case][0], reference, case)
    weight, cls = layer.weight, type(layer)
    parametrizations.weight_norm(layer, **CASES[case][2])
    assert list(layer.state_dict()) == json.loads(reference[f"{case}:keys"].item())
    assert type(layer).__name__ == f"Parametrized{cls.__name__}" and isinstance(layer, cls)
    assert parametrize.type_before_parametrizations(layer) is cls
    originals = layer.parametrizations.weight
    np.testing.assert_allclose(originals.original0.data, reference[f"{case}:original0"], **TOL)
    np.testing.assert_array_equal(originals.original1.data, reference[f"{case}:original1"])
    assert originals.original0 is not weight and originals.original1 is not weight
    # the weight comes back from g and v (to rounding)
    np.testing.assert_allclose(layer.weight.data, reference[f"{case}:weight"], rtol=1e-14)
    x, r = dlpy.tensor(reference[f"{case}:x"]), reference[f"{case}:r"]
    check_recorded_call(layer, reference, case, x, r)


@pytest.mark.parametrize("case", [c for c in CASES if c.startswith("sn_")])
def test_spectral_norm_matches_torch_in_training_and_eval(case, reference):
    layer = reference_layer(CASES[case][0], reference, case)
    kwargs = dict(CASES[case][2])
    name = kwargs.get("name", "weight")
    parametrizations.spectral_norm(layer, **kwargs)
    assert list(layer.state_dict()) == json.loads(reference[f"{case}:keys"].item())
    norm = layer.parametrizations[name][0]
    if f"{case}:u" in reference:
        # u and v start from dlpy's generator: take torch's, then every call must follow it
        norm._u[...] = reference[f"{case}:u"]
        norm._v[...] = reference[f"{case}:v"]
    x, r = dlpy.tensor(reference[f"{case}:x"]), reference[f"{case}:r"]
    for call in ("train1", "train2", "eval"):
        layer.train(call != "eval")
        check_recorded_call(layer, reference, f"{case}:{call}", x, r)
        layer.eval()
        np.testing.assert_allclose(getattr(layer, name).data, reference[f"{case}:{call}:weight"],
                                   **TOL)
        if f"{case}:u" in reference:
            np.testing.assert_allclose(norm._u, reference[f"{case}:{call}:u"], **TOL)
            np.testing.assert_allclose(norm._v, reference[f"{case}:{call}:v"], **TOL)
    if f"{case}:u" in reference:  # eval did not iterate
        np.testing.assert_array_equal(reference[f"{case}:eval:u"], reference[f"{case}:train2:u"])


def test_spectral_norm_defaults():
    transpose = nn.ConvTranspose2d(3, 2, 3)
    parametrizations.spectral_norm(transpose, rng=np.random.default_rng(0))
    assert transpose.parametrizations.weight[0].dim == 1  # its output axis
    assert transpose.parametrizations.weight[0]._u.shape == (2,)
    layer = nn.Linear(6, 4, rng=np.random.default_rng(0), dtype=np.float64)
    parametrizations.spectral_norm(layer, rng=np.random.default_rng(1))
    # the same generator state gives the same u, v
    again = nn.Linear(6, 4, rng=np.random.default_rng(0), dtype=np.float64)
    parametrizations.spectral_norm(again, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(again.parametrizations.weight[0]._u,
                                  layer.parametrizations.weight[0]._u)
    # after 15 + 1 power iterations on a small matrix sigma is the largest singular value
    layer.eval()  # (in training every read of layer.weight iterates once more)
    singular = np.linalg.svd(layer.parametrizations.weight.original.data, compute_uv=False)
    np.testing.assert_allclose(np.linalg.svd(layer.weight.data, compute_uv=False)[0], 1.0,
                               rtol=1e-6)
    assert singular[0] > 1.0
    held = layer.parametrizations.weight[0]._u
    u = held.clone()
    _ = layer.weight
    np.testing.assert_array_equal(layer.parametrizations.weight[0]._u, u)
    layer.train()
    _ = layer.weight
    assert not np.array_equal(held, u)  # the buffer changed in place, as torch's
    assert layer.parametrizations.weight[0]._u is held


def test_weight_norm_gradients_pass_the_gradient_check():
    rng = np.random.default_rng(0)
    for dim in (0, 1, None):
        layer = parametrizations.weight_norm(nn.Linear(3, 2, rng=rng, dtype=np.float64),
                                             dim=dim)
        originals = layer.parametrizations.weight
        norm = originals[0]
        g = dlpy.tensor(originals.original0.data.copy(), requires_grad=True)
        v = dlpy.tensor(originals.original1.data.copy(), requires_grad=True)
        assert gradcheck(lambda a, b, norm=norm: norm(a, b) ** 2, g, v)


class Symmetric(nn.Module):
    def forward(self, x):
        return x.triu() + x.triu(1).T

    def right_inverse(self, a):
        return a.triu()


class Scale(nn.Module):
    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor

    def right_inverse(self, x):
        return x / self.factor


def test_register_a_parametrization_of_ones_own():
    layer = nn.Linear(3, 3, rng=np.random.default_rng(0), dtype=np.float64)
    weight = layer.weight
    opt = optim.SGD(layer.parameters(), lr=0.1)
    parametrize.register_parametrization(layer, "weight", Symmetric())
    assert parametrize.is_parametrized(layer) and parametrize.is_parametrized(layer, "weight")
    assert not parametrize.is_parametrized(layer, "bias")
    assert parametrize.type_before_parametrizations(layer) is nn.Linear
    assert isinstance(layer, nn.Linear) and type(layer).__name__ == "ParametrizedLinear"
    # one original: the same Parameter object, so the optimiser made before still holds it
    assert layer.parametrizations.weight.original is weight
    np.testing.assert_array_equal(weight.data, np.triu(weight.data))
    np.testing.assert_array_equal(layer.weight.data, layer.weight.data.T)
    assert [name for name, _ in layer.named_parameters()] == [
        "bias", "parametrizations.weight.original"]
    # the gradient reaches the original through the layer's own forward
    layer(dlpy.tensor(np.ones((2, 3)))).sum().backward()
    assert weight.grad is not None and np.any(weight.grad != 0)
    before = weight.data.copy()
    opt.step()
    assert not np.array_equal(weight.data, before)
    np.testing.assert_array_equal(layer.weight.data, layer.weight.data.T)  # still symmetric


def test_assigning_sets_the_original_through_right_inverse():
    layer = nn.Linear(2, 2, rng=np.random.default_rng(0), dtype=np.float64)
    parametrize.register_parametrization(layer, "weight", Scale(2.0))
    layer.weight = np.array([[2.0, 4.0], [6.0, 8.0]])
    np.testing.assert_array_equal(layer.parametrizations.weight.original.data,
                                  [[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(layer.weight.data, [[2.0, 4.0], [6.0, 8.0]])
    assert "weight" not in layer._parameters
    layer.other = 5  # other names are plain attributes still
    assert layer.other == 5


def test_stacked_parametrizations_run_in_order():
    layer = nn.Linear(3, 3, rng=np.random.default_rng(0), dtype=np.float64)
    parametrize.register_parametrization(layer, "weight", Symmetric())
    parametrize.register_parametrization(layer, "weight", Scale(3.0))
    original = layer.parametrizations.weight.original.data
    expected = (np.triu(original) + np.triu(original, 1).T) * 3.0
    np.testing.assert_allclose(layer.weight.data, expected)
    assert len(layer.parametrizations.weight) == 2


def test_remove_parametrizations():
    layer = nn.Linear(3, 3, rng=np.random.default_rng(0), dtype=np.float64)
    weight = layer.weight
    parametrize.register_parametrization(layer, "weight", Scale(2.0))
    value = layer.weight.data.copy()
    parametrize.remove_parametrizations(layer, "weight")
    assert type(layer) is nn.Linear and not hasattr(layer, "parametrizations")
    assert layer.weight is weight  # the same Parameter, now holding the parametrized value
    np.testing.assert_array_equal(layer.weight.data, value)
    assert set(layer.state_dict()) == {"weight", "bias"}
    # leave_parametrized=False keeps the original's value
    parametrize.register_parametrization(layer, "weight", Scale(2.0))
    original = layer.parametrizations.weight.original.data.copy()
    parametrize.remove_parametrizations(layer, "weight", leave_parametrized=False)
    np.testing.assert_array_equal(layer.weight.data, original)
    # several originals: a new Parameter with the value
    parametrizations.weight_norm(layer)
    value = layer.weight.data.copy()
    parametrize.remove_parametrizations(layer, "weight")
    assert isinstance(layer.weight, nn.Parameter) and layer.weight.requires_grad
    np.testing.assert_allclose(layer.weight.data, value)
    parametrizations.weight_norm(layer)
    with pytest.raises(ValueError, match="leave_parametrized=False needs a tensor parametrized "
                                         "by one original, this one has 2"):
        parametrize.remove_parametrizations(layer, "weight", leave_parametrized=False)


def test_two_parametrized_names_and_removing_one():
    layer = nn.Linear(3, 3, rng=np.random.default_rng(0), dtype=np.float64)
    parametrizations.weight_norm(layer)
    parametrize.register_parametrization(layer, "bias", Scale(2.0))
    assert list(layer.parametrizations) == ["weight", "bias"]
    parametrize.remove_parametrizations(layer, "weight")
    assert parametrize.is_parametrized(layer) and type(layer).__name__ == "ParametrizedLinear"
    assert isinstance(layer.weight, nn.Parameter) and not hasattr(type(layer), "weight")
    parametrize.remove_parametrizations(layer, "bias")
    assert type(layer) is nn.Linear


def test_a_buffer_can_be_parametrized():
    module = nn.Module()
    module.register_buffer("table", np.array([[1.0, 2.0], [3.0, 4.0]]))
    table = module.table
    parametrize.register_parametrization(module, "table", Scale(10.0))
    assert list(module.state_dict()) == ["parametrizations.table.original"]
    assert module.parametrizations.table.original is table  # the same buffer, as torch's
    np.testing.assert_array_equal(module.table.data, [[1.0, 2.0], [3.0, 4.0]])
    assert not module.table.requires_grad
    parametrize.remove_parametrizations(module, "table")
    assert module.table is table and "table" in module._buffers
    assert isinstance(module.table, dlpy.Tensor)


def test_state_dict_round_trip_and_dtype_casts(tmp_path):
    rng = np.random.default_rng(0)
    layer = parametrizations.spectral_norm(nn.Linear(4, 3, rng=rng), rng=rng)
    layer(dlpy.tensor(np.ones((1, 4), np.float32)))
    layer.save(tmp_path / "m.npz")
    other = parametrizations.spectral_norm(nn.Linear(4, 3, rng=np.random.default_rng(5)),
                                           rng=np.random.default_rng(6))
    other.load(tmp_path / "m.npz")
    other.eval()
    layer.eval()
    np.testing.assert_array_equal(other.weight.data, layer.weight.data)
    layer.double()
    assert layer.parametrizations.weight.original.dtype == np.float64
    assert layer.parametrizations.weight[0]._u.dtype == np.float64


def test_a_weight_normed_mlp_learns():
    """A learning test that can fail: an MLP whose layers are weight-normed fits XOR-like
    data; g and v both learn (the gradient reaches both)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, 2))
    y = ((x[:, 0] * x[:, 1]) > 0).astype(np.int64)
    model = nn.Sequential(
        parametrizations.weight_norm(nn.Linear(2, 32, rng=rng, dtype=np.float64)),
        nn.Tanh(),
        parametrizations.weight_norm(nn.Linear(32, 2, rng=rng, dtype=np.float64)))
    g_before = model[0].parametrizations.weight.original0.data.copy()
    inputs = dlpy.tensor(x)
    loss = fit(model, inputs, y, optim.Adam(model.parameters(), lr=0.03), 300)[-1]
    accuracy = (model(inputs).data.argmax(axis=1) == y).mean()
    assert loss < 0.15 and accuracy > 0.95, (loss, accuracy)
    assert not np.allclose(model[0].parametrizations.weight.original0.data, g_before)


@pytest.mark.parametrize("make, error, match", [
    (lambda layer: parametrize.register_parametrization(layer, "scale", Scale(2.0)),
     ValueError, "Linear has no parameter, buffer or parametrized tensor named 'scale'"),
    (lambda layer: parametrize.register_parametrization(layer, "weight", abs), TypeError,
     "the parametrization must be a Module, got builtin_function_or_method"),
    (lambda layer: parametrize.remove_parametrizations(layer, "weight"), ValueError,
     "Linear has no parametrization on 'weight'"),
    (lambda layer: parametrizations.weight_norm(layer, name="gain"), ValueError,
     "weight_norm: Linear has no parameter 'gain'"),
    (lambda layer: parametrizations.weight_norm(layer, dim=2), ValueError,
     r"weight_norm: dim must be an axis of the 2-d weight \(or None\), got 2"),
    (lambda layer: parametrizations.spectral_norm(layer, n_power_iterations=0), ValueError,
     "n_power_iterations must be a positive integer, got 0"),
    (lambda layer: parametrizations.spectral_norm(layer, dim=-3), ValueError,
     "spectral_norm: dim must be an axis"),
    (lambda layer: parametrize.register_parametrization(
        layer, "weight", _Shrink()), ValueError, "may not change the tensor's dtype or shape"),
])
def test_errors(make, error, match):
    with pytest.raises(error, match=match):
        make(nn.Linear(3, 2, rng=np.random.default_rng(0)))


class _Shrink(nn.Module):
    def forward(self, x):
        return x[:1]


def test_the_submodules_import_as_pytorchs():
    import importlib

    import dlpy.nn.utils.parametrizations as parametrizations_module
    import dlpy.nn.utils.parametrize as parametrize_module
    import dlpy.nn.utils.rnn as rnn_module
    from dlpy.nn.utils.parametrizations import weight_norm
    from dlpy.nn.utils.parametrize import register_parametrization

    assert parametrizations_module.weight_norm is weight_norm
    assert parametrize_module.register_parametrization is register_parametrization
    assert rnn_module is importlib.import_module("dlpy.nn.utils_rnn")
