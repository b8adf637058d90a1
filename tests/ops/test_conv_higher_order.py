"""Gradients of gradients through the convolutions, their transposes, the pools, unpools and
fold/unfold (autograd.grad(create_graph=True)): each op's backward_graph gives backward's
values, its gradient as a function of (inputs, v) passes a float64 gradient check, and a
WGAN-GP penalty of a conv critic and a Hessian-vector product through conv1d match PyTorch
(tests/fixtures/higher_order/conv_higher_order.npz, make_conv_higher_order_fixtures.py)."""

from pathlib import Path

import numpy as np
import pytest
from dlpy.autograd.functional import hvp
from second_order import check_second_order, first_gradient

import dlpy.functional as F
from dlpy import Tensor
from dlpy.autograd import grad

TESTS = Path(__file__).resolve().parents[1]
FIXTURE = TESTS / "fixtures" / "higher_order" / "conv_higher_order.npz"



def _unpool(x, nd, **settings):
    """max_pool then max_unpool of x, squared (so the gradient depends on x)."""
    pool = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[nd]
    unpool = {1: F.max_unpool1d, 2: F.max_unpool2d, 3: F.max_unpool3d}[nd]
    y, indices = pool(x, return_indices=True, **settings)
    return unpool(y * y, indices, **settings)


# op -> (function, input shapes); x * x where an op is linear in x, so the gradient of the
# gradient has an x part as well as the v part
OPS = {
    "conv1d": (lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1, dilation=2),
               (2, 2, 9), (3, 2, 3), (3,)),
    "conv1d_groups": (lambda x, w: F.conv1d(x, w, padding="same", groups=2),
                      (2, 4, 6), (2, 2, 3)),
    "conv2d": (lambda x, w, b: F.conv2d(x, w, b, padding=1), (2, 2, 4, 4), (3, 2, 3, 3), (3,)),
    "conv2d_strided": (lambda x, w: F.conv2d(x, w, stride=(2, 1), padding=(1, 0),
                                             dilation=(1, 2), groups=2),
                       (1, 4, 6, 5), (2, 2, 2, 2)),
    "conv2d_unbatched": (lambda x, w: F.conv2d(x, w, stride=2), (2, 5, 5), (2, 2, 3, 3)),
    "conv3d": (lambda x, w, b: F.conv3d(x, w, b, stride=(1, 2, 1), padding=1),
               (1, 2, 3, 4, 3), (2, 2, 2, 2, 2), (2,)),
    "conv_transpose1d": (lambda x, w, b: F.conv_transpose1d(x, w, b, stride=2, padding=1,
                                                            output_padding=1),
                         (2, 2, 4), (2, 3, 3), (3,)),
    "conv_transpose2d": (lambda x, w: F.conv_transpose2d(x, w, stride=2, padding=1,
                                                         output_padding=(1, 0), groups=2,
                                                         dilation=(1, 2)),
                         (1, 4, 3, 3), (4, 1, 3, 2)),
    "conv_transpose2d_output_padding_past_stride": (
        lambda x, w: F.conv_transpose2d(x, w, output_padding=1, dilation=2),
        (1, 2, 3, 3), (2, 2, 2, 2)),
    "conv_transpose3d": (lambda x, w: F.conv_transpose3d(x, w, stride=(2, 1, 1)),
                         (1, 2, 2, 3, 2), (2, 2, 2, 2, 2)),
    "max_pool1d": (lambda x: F.max_pool1d(x * x, 3, stride=2, padding=1), (2, 3, 7)),
    "max_pool2d": (lambda x: F.max_pool2d(x * x, 2), (2, 2, 4, 4)),
    "max_pool2d_overlapping": (lambda x: F.max_pool2d(x * x, 3, stride=1, padding=1,
                                                      dilation=(1, 2)), (1, 2, 5, 6)),
    "max_pool3d_ceil": (lambda x: F.max_pool3d(x * x, 2, ceil_mode=True), (1, 2, 3, 3, 3)),
    "avg_pool1d": (lambda x: F.avg_pool1d(x * x, 3, stride=2, padding=1), (2, 3, 7)),
    "avg_pool2d": (lambda x: F.avg_pool2d(x * x, 3, stride=2, padding=1, ceil_mode=True,
                                          count_include_pad=False), (2, 2, 6, 5)),
    "avg_pool2d_divisor": (lambda x: F.avg_pool2d(x * x, 2, divisor_override=3),
                           (1, 2, 4, 4)),
    "avg_pool3d": (lambda x: F.avg_pool3d(x * x, 2, stride=1), (1, 2, 3, 3, 3)),
    "max_unpool1d": (lambda x: _unpool(x, 1, kernel_size=2), (2, 2, 6)),
    "max_unpool2d": (lambda x: _unpool(x, 2, kernel_size=2, stride=1), (1, 2, 4, 4)),
    "max_unpool3d": (lambda x: _unpool(x, 3, kernel_size=2), (1, 1, 4, 2, 4)),
    "adaptive_avg_pool2d": (lambda x: F.adaptive_avg_pool2d(x * x, (2, 3)), (2, 2, 5, 4)),
    "adaptive_max_pool1d": (lambda x: F.adaptive_max_pool1d(x * x, 3), (2, 2, 7)),
    "adaptive_max_pool2d": (lambda x: F.adaptive_max_pool2d(x * x, (2, 3)), (1, 2, 5, 4)),
    "unfold": (lambda x: F.unfold(x * x, (2, 3), dilation=(2, 1), padding=1, stride=(1, 2)),
               (2, 2, 4, 5)),
    "fold": (lambda x: F.fold(x * x, (4, 5), 2, padding=1, stride=2), (2, 8, 9)),
}


@pytest.mark.parametrize("case", sorted(OPS))
def test_backward_graph_matches_backward_and_gradchecks(case):
    fn, *shapes = OPS[case]
    check_second_order(fn, *shapes)


# the ops whose backward_graph records ops with a backward_graph of their own (not IndexAdd or
# getitem, checked in test_higher_order_more.py), a third derivative further
THIRD_ORDER = ["avg_pool1d", "avg_pool2d", "conv1d", "conv2d_strided", "conv_transpose1d",
               "conv_transpose2d", "fold", "unfold"]


@pytest.mark.parametrize("case", THIRD_ORDER)
def test_third_derivatives(case):
    """The gradient graph differentiates again with create_graph: check_second_order of the
    recorded gradient (x..., v) -> d(fn . v)/dx, so backward_graph of the ops that
    backward_graph recorded (AvgPoolBackward, conv for conv_transpose, fold for unfold...)."""
    fn, *shapes = OPS[case]
    out_shape = fn(*(Tensor(np.ones(shape)) for shape in shapes)).shape
    check_second_order(first_gradient(fn), *shapes, out_shape)


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files}


def test_wgan_gp_penalty_of_a_conv_critic_matches_torch(ref):
    """mean((||dD(x)/dx|| - 1)^2), D = linear(avg_pool2d(leaky_relu(conv2d(x)))), and its
    gradient with respect to D's weights."""
    def arr(k):
        return ref[f"gp:{k}"]
    x = Tensor(arr("e") * arr("real") + (1 - arr("e")) * arr("fake"), requires_grad=True)
    w1, b1, w2, b2 = (Tensor(arr(k), requires_grad=True) for k in ("w1", "b1", "w2", "b2"))
    hidden = F.avg_pool2d(F.leaky_relu(F.conv2d(x, w1, b1, padding=1), 0.2), 2)
    scores = F.linear(hidden.reshape((3, -1)), w2, b2)
    (dx,) = grad(scores, x, grad_outputs=np.ones(scores.shape), create_graph=True)
    norms = ((dx * dx).reshape((3, -1)).sum(axis=1)) ** 0.5
    penalty = ((norms - 1) ** 2).mean()
    np.testing.assert_allclose(penalty.data, arr("penalty"), rtol=1e-12)
    grads = grad(penalty, [w1, b1, w2, b2], allow_unused=True)
    for name, g in zip(("w1", "w2"), grads[::2]):
        np.testing.assert_allclose(g.data, arr(f"grad_{name}"), rtol=1e-10, atol=1e-12)
    # the critic is piecewise linear in x, so b1 reaches the penalty only through leaky ReLU's
    # constant slopes (zero gradient, as torch's), and b2 not at all: None for "unused"
    assert not np.any(arr("grad_b1"))
    assert all(g is None or not np.any(g.data) for g in grads[1::2])


def test_hessian_vector_product_through_conv1d_matches_torch(ref):
    def arr(k):
        return ref[f"hvp:{k}"]

    def energy(x, w, b):
        return (F.conv1d(x, w, b, stride=2, padding=1, dilation=2).tanh() ** 2).sum()

    names = ("x", "w", "b")
    value, products = hvp(energy, tuple(Tensor(arr(k)) for k in names),
                          tuple(Tensor(arr(f"v_{k}")) for k in names))
    np.testing.assert_allclose(value.data, arr("value"), rtol=1e-12)
    for name, product in zip(names, products):
        np.testing.assert_allclose(product.data, arr(f"hvp_{name}"), rtol=1e-10, atol=1e-12)
