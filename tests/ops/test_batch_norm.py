"""batch_norm over the channels (axis 1) with the O(N) backward: PyTorch's values, gradients and
running statistics (tests/fixtures/ops/batch_norm.npz), gradient checks, errors."""

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor, graph, no_grad
from dlpy.testing import gradcheck

from .conftest import load_cases

# case -> (affine inputs after x, settings); as make_batch_norm_fixtures.py's OP_CASES
TORCH_CASES = {
    "train_2d": ("both", {"training": True}),
    "train_3d": ("both", {"training": True, "momentum": 0.3, "eps": 1e-3}),
    "train_4d": ("both", {"training": True}),
    "train_4d_no_affine": ("none", {"training": True, "momentum": 0.5}),
    "train_no_running_stats": ("both", {"training": True}),
    "train_batch_of_two": ("both", {"training": True}),
    "train_size1_spatial": ("both", {"training": True}),
    "train_weight_only": ("weight", {"training": True}),
    "train_bias_only": ("bias", {"training": True, "momentum": 1.0}),
    "train_large_offset": ("both", {"training": True}),
    "eval_2d": ("both", {"training": False}),
    "eval_3d": ("both", {"training": False, "eps": 0.1}),
    "eval_4d": ("both", {"training": False}),
    "eval_no_affine": ("none", {"training": False}),
    "train_5d": ("both", {"training": True, "momentum": 0.2}),
    "eval_5d": ("both", {"training": False}),
}


def _call(affine, x, *params, running_mean=None, running_var=None, **settings):
    weight = params[0] if affine in ("both", "weight") else None
    bias = params[-1] if affine in ("both", "bias") else None
    return F.batch_norm(x, running_mean, running_var, weight, bias, **settings)


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_torch(case, torch_reference):
    affine, settings = TORCH_CASES[case]
    record = load_cases("batch_norm")[case]
    stats = {}

    def fn(*inputs, **running):
        stats.update({k: v.copy() for k, v in running.items()})  # the fixture's stay as they are
        return _call(affine, *inputs, **stats, **settings)

    torch_reference("batch_norm", case, fn)
    for name in ("running_mean", "running_var"):
        if f"arg_{name}" in record:
            np.testing.assert_allclose(stats[name], record[f"{name}_after"], rtol=1e-12,
                                       atol=1e-14, err_msg=name)
        else:
            assert name not in stats


def test_every_fixture_case_is_tested(fixture_cases):
    assert fixture_cases("batch_norm") == set(TORCH_CASES)


def _args(rng, shape, affine):
    channels = shape[1]
    args = [Tensor(rng.standard_normal(shape) * 2 + 1, requires_grad=True)]
    if affine in ("both", "weight"):
        args.append(Tensor(rng.standard_normal(channels), requires_grad=True))
    if affine in ("both", "bias"):
        args.append(Tensor(rng.standard_normal(channels), requires_grad=True))
    return args


SHAPES = [(2, 3), (5, 3), (2, 1), (2, 3, 1), (1, 2, 3), (3, 2, 4), (2, 2, 1, 1), (2, 3, 2, 3),
          (1, 2, 1, 3)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("affine", ["none", "weight", "bias", "both"])
def test_gradcheck_training(shape, affine, rng):
    args = _args(rng, shape, affine)
    running_mean, running_var = np.zeros(shape[1]), np.ones(shape[1])
    # the running statistics change on every call; the output does not depend on them
    assert gradcheck(lambda *a: _call(affine, *a, running_mean=running_mean,
                                      running_var=running_var, training=True), *args)


@pytest.mark.parametrize("shape", SHAPES + [(1, 3)])
@pytest.mark.parametrize("affine", ["none", "weight", "bias", "both"])
def test_gradcheck_eval(shape, affine, rng):
    args = _args(rng, shape, affine)
    running_mean = rng.standard_normal(shape[1])
    running_var = rng.uniform(0.5, 2.0, shape[1])
    assert gradcheck(lambda *a: _call(affine, *a, running_mean=running_mean,
                                      running_var=running_var, eps=0.1), *args)


def test_gradcheck_of_a_loss_after_batch_norm(rng):
    # a non-linear function of the output: the batch statistics' gradient terms must be right
    x = Tensor(rng.standard_normal((4, 3, 2)), requires_grad=True)
    w = Tensor(rng.standard_normal(3), requires_grad=True)
    b = Tensor(rng.standard_normal(3), requires_grad=True)
    assert gradcheck(lambda x, w, b: F.tanh(F.batch_norm(x, None, None, w, b, True)) ** 2,
                     x, w, b)


def test_training_normalises_each_channel_and_updates_the_buffers_in_place(rng):
    x = rng.standard_normal((8, 3, 5)) * np.array([1, 5, 0.1])[:, None] + np.array([2, -3, 7])[
        :, None]
    running_mean, running_var = np.zeros(3), np.ones(3)
    mean_before, var_before = running_mean, running_var
    # (eps 0 is refused when training, as torch's: a tiny one leaves var 1 to 1e-10)
    y = F.batch_norm(Tensor(x), running_mean, running_var, training=True, eps=1e-12)
    np.testing.assert_allclose(y.data.mean(axis=(0, 2)), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.data.var(axis=(0, 2)), 1.0)
    assert running_mean is mean_before and running_var is var_before
    np.testing.assert_allclose(running_mean, 0.1 * x.mean(axis=(0, 2)))
    np.testing.assert_allclose(running_var, 0.9 + 0.1 * x.var(axis=(0, 2), ddof=1))


def test_eval_is_the_affine_map_of_the_running_statistics(rng):
    x, w, b = rng.standard_normal((4, 3, 2, 2)), rng.standard_normal(3), rng.standard_normal(3)
    mean, var = rng.standard_normal(3), rng.uniform(0.5, 2, 3)
    kept = mean.copy(), var.copy()
    y = F.batch_norm(Tensor(x), mean, var, Tensor(w), Tensor(b), eps=0.01)
    c = (1, 3, 1, 1)
    expected = (x - mean.reshape(c)) / np.sqrt(var.reshape(c) + 0.01) * w.reshape(c) \
        + b.reshape(c)
    np.testing.assert_allclose(y.data, expected, rtol=1e-12)
    np.testing.assert_array_equal(mean, kept[0])  # eval leaves the statistics alone
    np.testing.assert_array_equal(var, kept[1])


@pytest.mark.parametrize("shape", [(6, 4), (1, 4, 5), (3, 4, 5), (1, 4, 3, 3), (2, 4, 3, 3),
                                   (2, 4, 2, 3, 2), "transposed"])
@pytest.mark.parametrize("affine", ["none", "bias", "both"])
def test_eval_folds_scale_and_shift_in_every_layout(shape, affine, rng):
    # y = x * scale + shift per channel: repeated over the inner axes for a contiguous batch,
    # broadcast otherwise; float32 within rounding of float64, gradients of x, weight and bias
    x64 = rng.standard_normal((2, 3, 3, 4)).transpose(0, 3, 2, 1) if shape == "transposed" \
        else rng.standard_normal(shape)
    channels, c = x64.shape[1], (1, -1) + (1,) * (x64.ndim - 2)
    mean, var = rng.standard_normal(channels), rng.uniform(0.5, 2, channels)
    w, b = rng.standard_normal(channels), rng.standard_normal(channels)
    expected = (x64 - mean.reshape(c)) / np.sqrt(var.reshape(c) + 1e-5)
    g = rng.standard_normal(x64.shape)
    for dtype, tolerance in ((np.float64, 1e-12), (np.float32, 2e-6)):
        x = Tensor(x64.astype(dtype), requires_grad=True)
        weight = Tensor(w.astype(dtype), requires_grad=True) if affine == "both" else None
        bias = Tensor(b.astype(dtype), requires_grad=True) if affine != "none" else None
        y = F.batch_norm(x, mean.astype(dtype), var.astype(dtype), weight, bias)
        y.backward(g.astype(dtype))
        scale = w if affine == "both" else np.ones(channels)
        want = expected * scale.reshape(c) + (b.reshape(c) if bias is not None else 0)
        assert y.dtype == dtype and y.shape == x64.shape
        np.testing.assert_allclose(y.data, want, rtol=tolerance, atol=tolerance)
        np.testing.assert_allclose(x.grad, g * (scale / np.sqrt(var + 1e-5)).reshape(c),
                                   rtol=tolerance, atol=tolerance)
        axes = (0, *range(2, x64.ndim))
        if weight is not None:
            np.testing.assert_allclose(weight.grad, (g * expected).sum(axis=axes),
                                       rtol=tolerance * 10, atol=tolerance * 10)
        if bias is not None:
            np.testing.assert_allclose(bias.grad, g.sum(axis=axes), rtol=tolerance * 10,
                                       atol=tolerance * 10)


def test_running_statistics_as_tensors_and_under_no_grad(rng):
    x = rng.standard_normal((4, 2))
    mean, var = Tensor(np.zeros(2)), Tensor(np.ones(2))
    with no_grad():  # as PyTorch: the buffers are updated whether or not a graph is recorded
        F.batch_norm(x, mean, var, training=True, momentum=1.0)
    np.testing.assert_allclose(mean.data, x.mean(0))
    np.testing.assert_allclose(var.data, x.var(0, ddof=1))


def test_float32_stays_float32_and_float32_buffers_keep_their_dtype(rng):
    x = Tensor(rng.standard_normal((4, 3, 2)).astype(np.float32), requires_grad=True)
    w = Tensor(np.ones(3, np.float32), requires_grad=True)
    b = Tensor(np.zeros(3, np.float32), requires_grad=True)
    mean, var = np.zeros(3, np.float32), np.ones(3, np.float32)
    for training in (True, False):
        y = F.batch_norm(x, mean, var, w, b, training=training)
        assert y.dtype == np.float32 and mean.dtype == var.dtype == np.float32
        y.backward(np.ones(y.shape, np.float32))
        assert x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32


def test_an_empty_batch_gives_an_empty_output_and_leaves_the_statistics():
    mean, var = np.full(3, 0.5), np.full(3, 2.0)
    y = F.batch_norm(Tensor(np.zeros((0, 3))), mean, var, training=True)
    assert y.shape == (0, 3)
    np.testing.assert_array_equal(mean, 0.5)
    np.testing.assert_array_equal(var, 2.0)


def test_graph_shape_rule_and_label(rng):
    x = Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    w = Tensor(np.ones(3), requires_grad=True)
    y = F.batch_norm(x, None, None, w, None, training=True)
    assert graph.validate(y.sum()) == {"tensors": 4, "ops": 2, "parameters": 2}
    assert y.op.describe() == "BatchNorm (batch statistics)"
    y.data = y.data[:2]  # a wrong shape is caught
    with pytest.raises(ValueError, match=r"BatchNorm produced \(2, 3\) from an input of "
                                         r"\(4, 3\)"):
        graph.validate(y)
    z = F.batch_norm(x, np.zeros(3), np.ones(3))
    assert z.op.describe() == "BatchNorm (running statistics)"


@pytest.mark.parametrize("training", [True, False])
def test_graph_is_drawable_and_valid_after_backward(training, rng):
    x = Tensor(rng.standard_normal((3, 2, 2)), requires_grad=True)
    w, b = Tensor(np.ones(2), requires_grad=True), Tensor(np.zeros(2), requires_grad=True)
    loss = F.batch_norm(x, np.zeros(2), np.ones(2), w, b, training=training).sum()
    op = loss.op.inputs[0].op
    before = graph.to_dot(loss)
    loss.backward()
    assert op.freed and not hasattr(op, "xhat")  # the saved arrays are dropped, not settings
    assert graph.to_dot(loss) == before
    graph.validate(loss)


def test_errors():
    x = Tensor(np.ones((2, 3)))
    stats = np.zeros(3), np.ones(3)
    with pytest.raises(ValueError, match=r"batch_norm: expected input \(N, C, \.\.\.\) with at "
                                         r"least 2 axes, got \(3,\)"):
        F.batch_norm(Tensor(np.ones(3)), *stats, training=True)
    with pytest.raises(ValueError, match=r"batch_norm: weight must have shape \(3,\) for input "
                                         r"\(2, 3\), got \(2,\)"):
        F.batch_norm(x, *stats, Tensor(np.ones(2)))
    with pytest.raises(ValueError, match=r"batch_norm: bias must have shape \(3,\)"):
        F.batch_norm(x, *stats, None, Tensor(np.ones((1, 3))))
    with pytest.raises(ValueError, match=r"batch_norm: running_var must have shape \(3,\) for "
                                         r"input \(2, 3\), got \(4,\)"):
        F.batch_norm(x, np.zeros(3), np.ones(4))
    with pytest.raises(TypeError, match=r"batch_norm: running_mean must be a floating point "
                                        r"numpy array or Tensor \(it is updated in place\), "
                                        r"got a int64 array"):
        F.batch_norm(x, np.zeros(3, dtype=np.int64), np.ones(3))
    with pytest.raises(TypeError, match=r"running_var must be a floating point .*, got list"):
        F.batch_norm(x, np.zeros(3), [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"batch_norm: give both running_mean and running_var, "
                                         r"or neither"):
        F.batch_norm(x, np.zeros(3), None, training=True)
    with pytest.raises(RuntimeError, match=r"batch_norm: running_mean and running_var are needed "
                                         r"when not training"):
        F.batch_norm(x, None, None)
    with pytest.raises(TypeError, match=r"batch_norm: expected a floating point input, got "
                                        r"int64"):
        F.batch_norm(Tensor(np.ones((2, 3), dtype=np.int64)), *stats)
    with pytest.raises(TypeError, match=r"batch_norm: momentum must be a number, got None"):
        F.batch_norm(x, *stats, training=True, momentum=None)
    with pytest.raises(ValueError, match=r"batch_norm: eps must be a finite number, got nan"):
        F.batch_norm(x, *stats, eps=float("nan"))


@pytest.mark.parametrize("shape", [(1, 3), (1, 3, 1), (1, 3, 1, 1)])
def test_one_value_per_channel_is_an_error_when_training(shape):
    mean, var = np.zeros(3), np.ones(3)
    with pytest.raises(ValueError, match=r"batch_norm: expected more than 1 value per channel "
                                         r"when training, got input of shape \(1, 3"):
        F.batch_norm(Tensor(np.ones(shape)), mean, var, training=True)
    np.testing.assert_array_equal(mean, 0.0)  # nothing was updated
    assert F.batch_norm(Tensor(np.ones(shape)), mean, var).shape == shape  # eval: fine
