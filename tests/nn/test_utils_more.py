"""The rest of nn.utils against torch's (tests/fixtures/nn_utils_more, written by
tests/fixtures/make_nn_utils_more_fixtures.py): the hook forms of weight_norm / spectral_norm
(state-dict names, outputs, gradients, power iteration, removal, a torch state dict loading),
conv/linear + batch-norm fusion, get_total_norm / clip_grads_with_norm_ (and clip_grad_norm_
made of them), skip_init; errors."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from cases_nn_utils_more import FUSE_CASES, SN_CASES, WN_CASES
from npz_reference import load_npz

import dlpy
from dlpy import Tensor, nn, optim
from dlpy.nn import utils
from dlpy.sparse_grad import SparseGrad

from .helpers import check_recorded_call, reference_layer

FIXTURE = (Path(__file__).resolve().parents[1] / "fixtures" / "nn_utils_more"
           / "nn_utils_more.npz")
TOL = {"rtol": 1e-12, "atol": 1e-13}

@pytest.fixture(scope="module")
def ref():
    return load_npz(FIXTURE)


def _weight_norm(layer, **kwargs):
    with pytest.warns(FutureWarning, match="parametrizations.weight_norm"):
        return utils.weight_norm(layer, **kwargs)


# ----------------------------------------------------------------------------- weight_norm
@pytest.mark.parametrize("case", list(WN_CASES))
def test_weight_norm_hook_matches_torch(case, ref):
    prefix = f"wn:{case}"
    kind, kwargs, _ = WN_CASES[case]
    layer = _weight_norm(reference_layer(kind, ref, prefix), **kwargs)
    assert list(layer.state_dict()) == json.loads(ref[f"{prefix}:keys"].item())
    assert type(layer) is type(reference_layer(kind))  # a hook, not a new class
    np.testing.assert_allclose(layer.weight_g.data, ref[f"{prefix}:weight_g"], **TOL)
    np.testing.assert_array_equal(layer.weight_v.data, ref[f"{prefix}:weight_v"])
    x, r = dlpy.tensor(ref[f"{prefix}:x"]), ref[f"{prefix}:r"]
    check_recorded_call(layer, ref, prefix, x, r)
    utils.remove_weight_norm(layer)
    assert [n for n, _ in layer.named_parameters()] == ["bias", "weight"]
    assert isinstance(layer.weight, nn.Parameter)
    np.testing.assert_allclose(layer.weight.data, ref[f"{prefix}:removed"], **TOL)
    assert not layer._forward_pre_hooks


def test_weight_norm_hook_recomputes_the_weight_before_each_forward_and_learns():
    layer = _weight_norm(nn.Linear(3, 2, rng=np.random.default_rng(0), dtype=np.float64))
    opt = optim.SGD(layer.parameters(), lr=0.5)
    x = dlpy.tensor(np.random.default_rng(1).standard_normal((8, 3)))
    target = dlpy.tensor(np.ones((8, 2)))
    losses = []
    for _ in range(30):
        loss = ((layer(x) - target) ** 2).mean()
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < 0.5 * losses[0]
    layer(x)  # the weight attribute is the one the last forward used: g v / |v| now
    g, v = layer.weight_g.data, layer.weight_v.data
    np.testing.assert_allclose(layer.weight.data,
                               g * v / np.linalg.norm(v, axis=1, keepdims=True), rtol=1e-14)


def test_weight_norm_hook_state_dicts_load_into_the_parametrization_form(ref):
    """torch's migration note: parametrizations.weight_norm reads the old names' values."""
    prefix = "wn:linear"
    old = _weight_norm(reference_layer("linear", ref, prefix))
    new = nn.utils.parametrizations.weight_norm(reference_layer("linear"))
    state = old.state_dict()
    new.load_state_dict({"bias": state["bias"],
                         "parametrizations.weight.original0": state["weight_g"],
                         "parametrizations.weight.original1": state["weight_v"]})
    x = dlpy.tensor(ref[f"{prefix}:x"])
    np.testing.assert_allclose(new(x).data, old(x).data, rtol=1e-14)


# ----------------------------------------------------------------------------- spectral_norm
@pytest.mark.parametrize("case", list(SN_CASES))
def test_spectral_norm_hook_matches_torch_in_training_and_eval(case, ref):
    prefix = f"sn:{case}"
    kind, kwargs, _ = SN_CASES[case]
    name = kwargs.get("name", "weight")
    layer = utils.spectral_norm(reference_layer(kind, ref, prefix), **kwargs)
    assert list(layer.state_dict()) == json.loads(ref[f"{prefix}:keys"].item())
    # u and v start from dlpy's generator: load torch's (its state dict's names), then every
    # call must follow torch's
    state = layer.state_dict()  # copies
    state[f"{name}_u"], state[f"{name}_v"] = ref[f"{prefix}:u"], ref[f"{prefix}:v"]
    layer.load_state_dict(state)
    x, r = dlpy.tensor(ref[f"{prefix}:x"]), ref[f"{prefix}:r"]
    for call in ("train1", "train2", "eval"):
        layer.train(call != "eval")
        check_recorded_call(layer, ref, f"{prefix}:{call}", x, r)
        np.testing.assert_allclose(getattr(layer, name).data, ref[f"{prefix}:{call}:weight"],
                                   **TOL)
        np.testing.assert_allclose(getattr(layer, f"{name}_u"), ref[f"{prefix}:{call}:u"],
                                   **TOL)
        np.testing.assert_allclose(getattr(layer, f"{name}_v"), ref[f"{prefix}:{call}:v"],
                                   **TOL)
    utils.remove_spectral_norm(layer, name)
    assert not hasattr(layer, f"{name}_u") and not hasattr(layer, f"{name}_orig")
    assert isinstance(getattr(layer, name), nn.Parameter)
    np.testing.assert_allclose(getattr(layer, name).data, ref[f"{prefix}:removed"], **TOL)


def test_spectral_norm_hook_defaults_and_normalises():
    transpose = utils.spectral_norm(nn.ConvTranspose2d(3, 2, 3), rng=np.random.default_rng(0))
    assert transpose.weight_u.shape == (2,) and transpose.weight_v.shape == (3 * 9,)
    np.testing.assert_allclose(np.linalg.norm(transpose.weight_u), 1.0, rtol=1e-6)
    layer = utils.spectral_norm(nn.Linear(6, 4, rng=np.random.default_rng(0),
                                          dtype=np.float64), rng=np.random.default_rng(1))
    # before the first forward the attribute is the raw weight (as torch's)
    np.testing.assert_array_equal(layer.weight.data, layer.weight_orig.data)
    x = dlpy.tensor(np.ones((1, 6)))
    held = layer.weight_u
    for _ in range(30):  # training forwards iterate: sigma -> the largest singular value
        layer(x)
    np.testing.assert_allclose(np.linalg.svd(layer.weight.data, compute_uv=False)[0], 1.0,
                               rtol=1e-8)
    assert layer.weight_u is held and isinstance(held, Tensor)  # updated in place, as torch's
    layer.eval()
    u = layer.weight_u.clone()
    layer(x)
    np.testing.assert_array_equal(layer.weight_u, u)  # eval does not iterate


# ----------------------------------------------------------------------------- fusion
@pytest.mark.parametrize("case", list(FUSE_CASES))
def test_fusion_matches_torch_and_the_unfused_eval_model(case, ref):
    prefix = f"fuse:{case}"
    kind, transpose, _ = FUSE_CASES[case]
    layer = reference_layer(kind)
    layer.weight.data = ref[f"{prefix}:w"].copy()
    if layer.bias is not None:
        layer.bias.data = ref[f"{prefix}:b"].copy()
    channels = ref[f"{prefix}:rm"].shape[0]
    bn = (nn.BatchNorm1d if kind == "linear" else nn.BatchNorm2d)(channels, dtype=np.float64)
    bn.running_mean[...], bn.running_var[...] = ref[f"{prefix}:rm"], ref[f"{prefix}:rv"]
    bn.weight.data, bn.bias.data = ref[f"{prefix}:gamma"].copy(), ref[f"{prefix}:beta"].copy()
    layer.eval()
    bn.eval()
    if kind == "linear":
        fused = utils.fuse_linear_bn_eval(layer, bn)
    else:
        fused = utils.fuse_conv_bn_eval(layer, bn, transpose=transpose)
    assert fused is not layer and type(fused) is type(layer)
    np.testing.assert_allclose(fused.weight.data, ref[f"{prefix}:fused_w"], **TOL)
    np.testing.assert_allclose(fused.bias.data, ref[f"{prefix}:fused_b"], **TOL)
    x = dlpy.tensor(ref[f"{prefix}:x"])
    np.testing.assert_allclose(fused(x).data, ref[f"{prefix}:y"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fused(x).data, bn(layer(x)).data, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(layer.weight.data, ref[f"{prefix}:w"])  # untouched


def test_fuse_weights_keep_dtypes_and_flags():
    w = nn.Parameter(np.ones((2, 3, 1, 1), np.float32))
    rm, rv = np.zeros(2, np.float32), np.ones(2, np.float32)
    fused_w, fused_b = utils.fuse_conv_bn_weights(w, None, rm, rv, 0.0, None, None)
    assert fused_w.dtype == np.float32 and fused_b.dtype == np.float32
    assert fused_w.requires_grad and not fused_b.requires_grad  # as torch: no bias, no grad
    np.testing.assert_array_equal(fused_w.data, w.data)
    np.testing.assert_array_equal(fused_b.data, [0.0, 0.0])
    lw, lb = utils.fuse_linear_bn_weights(nn.Parameter(np.eye(2)), nn.Parameter(np.ones(2)),
                                          np.array([1.0, 0.0]), np.array([4.0, 1.0]), 0.0,
                                          np.array([2.0, 1.0]), np.array([0.5, 0.0]))
    np.testing.assert_allclose(lw.data, [[1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(lb.data, [0.5, 1.0])


# ----------------------------------------------------------------------------- norms
@pytest.mark.parametrize("key,norm_type", [("2", 2.0), ("1", 1), ("1.5", 1.5),
                                           ("inf", float("inf"))])
def test_get_total_norm_matches_torch(ref, key, norm_type):
    grads = [ref["norm:g0"], Tensor(ref["norm:g1"])]  # arrays (dlpy's .grad) or Tensors
    total = utils.get_total_norm(grads, norm_type)
    assert isinstance(total, Tensor) and total.dtype == np.float64
    np.testing.assert_allclose(total.item(), ref[f"norm:{key}"], rtol=1e-14)
    single = utils.get_total_norm(Tensor(ref["norm:g1"]), norm_type)
    np.testing.assert_allclose(single.item(),
                               utils.get_total_norm([ref["norm:g1"]], norm_type).item())
    assert utils.get_total_norm([]).item() == 0.0


def test_get_total_norm_of_a_sparse_gradient_sums_repeated_rows():
    sparse = SparseGrad(np.array([1, 1]), np.array([[3.0, 0.0], [0.0, 4.0]]), (3, 2))
    assert utils.get_total_norm([sparse]).item() == pytest.approx(5.0)


def test_clip_grads_with_norm_matches_torch(ref):
    params = [Tensor(np.zeros((3, 4)), requires_grad=True),
              Tensor(np.zeros(5), requires_grad=True), Tensor(np.zeros(2), requires_grad=True)]
    params[0].grad, params[1].grad = ref["norm:g0"].copy(), ref["norm:g1"].copy()
    assert utils.clip_grads_with_norm_(params, 1.0, Tensor(ref["norm:given"])) is None
    np.testing.assert_allclose(params[0].grad, ref["norm:clipped0"], **TOL)
    np.testing.assert_allclose(params[1].grad, ref["norm:clipped1"], **TOL)
    assert params[2].grad is None
    before = params[0].grad.numpy().copy()
    utils.clip_grads_with_norm_(params, 10.0, 0.5)  # a norm below max_norm: unchanged
    np.testing.assert_array_equal(params[0].grad, before)


def test_clip_grad_norm_is_get_total_norm_then_clip_grads_with_norm(ref):
    def params():
        ps = [Tensor(np.zeros((3, 4)), requires_grad=True), Tensor(np.zeros(5),
                                                                    requires_grad=True)]
        ps[0].grad, ps[1].grad = ref["norm:g0"].copy(), ref["norm:g1"].copy()
        return ps

    one, two = params(), params()
    total = utils.clip_grad_norm_(one, 1.0, norm_type=1.5, foreach=True)
    np.testing.assert_allclose(total.item(), ref["norm:1.5"], rtol=1e-14)
    utils.clip_grads_with_norm_(two, 1.0, utils.get_total_norm([p.grad for p in two], 1.5))
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a.grad, b.grad)
    norm = np.sqrt(sum(np.sum(np.abs(p.grad) ** 1.5) for p in one) ** (2 / 1.5))
    assert norm == pytest.approx(1.0, rel=1e-5)
    # and optim.clip_grad_norm (dlpy's, raising on NaN) gives the same gradients
    three = params()
    optim.clip_grad_norm(three, 1.0, norm_type=1.5)
    for a, b in zip(one, three):
        np.testing.assert_allclose(a.grad, b.grad, rtol=1e-15)


def test_norm_errors():
    p = Tensor(np.zeros(2), requires_grad=True)
    p.grad = np.array([np.inf, 1.0])
    with pytest.raises(FloatingPointError, match="get_total_norm: the total norm of order 2.0"):
        utils.get_total_norm([p.grad], error_if_nonfinite=True)
    assert utils.get_total_norm([p.grad]).item() == np.inf
    # torch's orders below 1 too: -1 (|g|^-1 summed, to the -1), 0 (tensors with a non-zero)
    minus_one = utils.get_total_norm([np.array([3.0, 4.0])], norm_type=-1).item()
    assert minus_one == pytest.approx(12 / 7)
    assert utils.get_total_norm([np.array([3.0, 0.0]), np.zeros(2)], norm_type=0).item() == 1
    with pytest.raises(ValueError, match="get_total_norm: norm_type must be a number"):
        utils.get_total_norm([p.grad], norm_type=float("nan"))
    with pytest.raises(TypeError, match="get_total_norm: expected Tensors or arrays, got str"):
        utils.get_total_norm(["grad"])
    # a negative max_norm is torch's too: a negative coefficient (gradients flipped)
    q = Tensor(np.zeros(2), requires_grad=True)
    q.grad = np.array([3.0, -4.0])
    utils.clip_grads_with_norm_([q], -1.0, Tensor(np.float32(5.0)))
    np.testing.assert_allclose(q.grad, [-0.6, 0.8], rtol=1e-6)


# ----------------------------------------------------------------------------- skip_init
def test_skip_init_draws_nothing_and_keeps_the_callers_rng():
    generator = np.random.default_rng(5)
    state = generator.bit_generator.state
    layer = utils.skip_init(nn.Linear, 5, 3, dtype=np.float64)
    assert layer.weight.shape == (3, 5) and layer.weight.dtype == np.float64
    np.testing.assert_array_equal(layer.weight.data, 0.0)
    np.testing.assert_array_equal(layer.bias.data, 0.0)
    default = dlpy.random.get_rng_state().data
    utils.skip_init(nn.Linear, in_features=6, out_features=2)
    # the default generator was not drawn from
    np.testing.assert_array_equal(dlpy.random.get_rng_state().data, default)
    attention = utils.skip_init(nn.MultiheadAttention, 4, 2, dropout=0.5, rng=generator)
    assert attention.rng is generator  # dropout keeps the generator given
    assert generator.bit_generator.state == state
    plain = utils.skip_init(nn.Dropout, 0.5)
    assert plain.rng is None  # the default generator at call time
    nn.init.normal_(layer.weight, generator=generator)  # the custom initialisation after
    assert np.all(layer.weight.data != 0.0)
    # a module that draws nothing (no rng) is built and zeroed, as torch's skip_init takes it
    norm = utils.skip_init(nn.BatchNorm1d, 3)
    assert [t.data.tolist() for t in (norm.weight, norm.bias, norm.running_var)] == [[0.0] * 3] * 3


# ----------------------------------------------------------------------------- errors
def test_hook_form_errors():
    layer = nn.Linear(3, 2, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="weight_norm: Linear has no parameter 'scale'"):
        _weight_norm(layer, name="scale")
    _weight_norm(layer)
    with pytest.raises(RuntimeError, match="weight_norm: 'weight' of Linear already has"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            utils.weight_norm(layer)
    with pytest.raises(ValueError, match="weight_norm: dim must be an axis of the 2-d"):
        _weight_norm(nn.Linear(3, 2), dim=2)
    with pytest.raises(ValueError, match="remove_weight_norm: no weight_norm of 'bias'"):
        utils.remove_weight_norm(layer, "bias")
    with pytest.raises(ValueError, match="remove_spectral_norm: no spectral_norm of 'weight'"):
        utils.remove_spectral_norm(layer)
    other = utils.spectral_norm(nn.Linear(3, 2))
    with pytest.raises(RuntimeError, match="spectral_norm: 'weight' of Linear already has"):
        utils.spectral_norm(other)
    with pytest.raises(ValueError, match="spectral_norm: n_power_iterations must be a "
                                         "positive integer, got 0"):
        utils.spectral_norm(nn.Linear(3, 2), n_power_iterations=0)
    with pytest.raises(ValueError, match="spectral_norm: dim must be an axis"):
        utils.spectral_norm(nn.Linear(3, 2), dim=3)


def test_fusion_and_skip_init_errors():
    conv, bn = nn.Conv2d(2, 3, 1), nn.BatchNorm2d(3)
    with pytest.raises(ValueError, match="fuse_conv_bn_eval: fusion needs both modules in "
                                         "eval mode"):
        utils.fuse_conv_bn_eval(conv, bn)
    linear, bn4 = nn.Linear(2, 3).eval(), nn.BatchNorm1d(4).eval()
    with pytest.raises(ValueError, match="fuse_linear_bn_eval: expected bn.num_features == "
                                         r"linear.out_features \(3\) or 1, got 4"):
        utils.fuse_linear_bn_eval(linear, bn4)
    untracked = nn.BatchNorm1d(3, track_running_stats=False).eval()
    with pytest.raises(ValueError, match="no running statistics"):
        utils.fuse_linear_bn_eval(linear, untracked)
    with pytest.raises(TypeError, match="skip_init: expected a Module class, got 3"):
        utils.skip_init(3)
    with pytest.raises(ValueError, match="Module must support a 'device' arg"):
        utils.skip_init(nn.ReLU)


def test_clip_grad_norm_scales_by_a_nonfinite_norm_as_torch():
    p = Tensor(np.zeros(2, np.float32), requires_grad=True)
    p.grad = np.array([np.inf, 1.0], np.float32)
    total = utils.clip_grad_norm_([p], 1.0)
    assert total.item() == np.inf and total.dtype == np.float32
    np.testing.assert_array_equal(p.grad, [np.nan, 0.0])  # torch: grad * (1 / inf)
    p.grad = np.array([np.nan, 1.0], np.float32)
    assert np.isnan(utils.clip_grad_norm_([p], 1.0).item())
    assert np.isnan(p.grad).all()
