"""Gradients of gradients through the last ops given a backward_graph (group and instance
norm, interpolate's Resample, affine_grid, sparse_linear / embedding_bag, the fused LSTM, GRU
and RNN ops and cells, lgamma, digamma, xlogy, erfinv, gammainc), CTC's first-order-only
error, and dlpy.autograd.gradcheck / gradgradcheck as torch's; against PyTorch
(tests/fixtures/higher_order/higher_order_last.npz, make_higher_order_last_fixtures.py)."""

from pathlib import Path

import numpy as np
import pytest
from dlpy.autograd.functional import hvp
from second_order import check_second_order, first_gradient

import dlpy
import dlpy.functional as F
from dlpy import Tensor
from dlpy.autograd import grad, gradcheck, gradgradcheck
from dlpy.ops import rnn
from dlpy.ops.sparse import SparseRows, sparse_linear
from dlpy.tensor import Op
from dlpy.testing import GradcheckError

TESTS = Path(__file__).resolve().parent
FIXTURE = TESTS / "fixtures" / "higher_order" / "higher_order_last.npz"


ROWS = SparseRows.from_rows([(np.array([0, 2, 2]), np.array([1.0, 2.0, 3.0])),
                             (np.array([], dtype=np.int64), np.array([])),
                             (np.array([3, 1]), np.array([0.5, -1.0]))], 4, np.float64)
BAG_IDS = np.array([0, 2, 2, 1, 3, 0])


def _embedding_bag(w, mode, **settings):
    return F.embedding_bag(BAG_IDS, w * w, np.array([0, 2, 2]), mode=mode, **settings)


# op -> (function, input shapes[, low]); x * x where an op is linear in x, so the gradient of
# the gradient has an x part as well as the v part
OPS = {
    "group_norm_affine": (lambda x, w, b: F.group_norm(x, 2, w, b), (2, 4, 3), (4,), (4,)),
    "group_norm_2d": (lambda x: F.group_norm(x, 3), (2, 6, 2, 3)),
    "group_norm_one_group_weight": (lambda x, w: F.group_norm(x, 1, w), (3, 2, 4), (2,)),
    "instance_norm": (lambda x, w, b: F.instance_norm(x, weight=w, bias=b), (2, 3, 4), (3,),
                      (3,)),
    "interpolate_linear": (lambda x: F.interpolate(x * x, size=7, mode="linear"), (2, 2, 4)),
    "interpolate_bilinear": (lambda x: F.interpolate(x * x, scale_factor=2, mode="bilinear"),
                             (1, 2, 3, 3)),
    "interpolate_bilinear_align": (lambda x: F.interpolate(x * x, size=(5, 2),
                                                           mode="bilinear",
                                                           align_corners=True),
                                   (1, 2, 3, 4)),
    "interpolate_bicubic_down": (lambda x: F.interpolate(x * x, size=(3, 2), mode="bicubic"),
                                 (1, 1, 5, 6)),
    "interpolate_nearest": (lambda x: F.interpolate(x * x, scale_factor=(2, 3),
                                                    mode="nearest"), (1, 2, 2, 2)),
    "interpolate_area": (lambda x: F.interpolate(x * x, size=(2, 3), mode="area"),
                         (1, 1, 4, 5)),
    "affine_grid": (lambda theta: F.affine_grid(theta * theta, (2, 1, 3, 4)), (2, 2, 3)),
    "affine_grid_3d": (lambda theta: F.affine_grid(theta * theta, (1, 1, 2, 3, 2),
                                                   align_corners=True), (1, 3, 4)),
    "sparse_linear": (lambda w: sparse_linear(ROWS, w * w), (4, 3)),
    "sparse_linear_wide_sparse": (lambda w: sparse_linear(ROWS, w * w, sparse=True), (4, 20)),
    "sparse_linear_values": (lambda w, v: sparse_linear(ROWS, w * w, values=v * v), (4, 3),
                             (5,)),
    "embedding_bag_sum": (lambda w: _embedding_bag(w, "sum"), (4, 3)),
    "embedding_bag_mean": (lambda w: _embedding_bag(w, "mean"), (4, 3)),
    "embedding_bag_weights": (lambda w, p: _embedding_bag(w, "sum", per_sample_weights=p * p),
                              (4, 3), (6,)),
    "embedding_bag_max": (lambda w: _embedding_bag(w, "max"), (4, 3)),
    "lstm": (lambda x, h, c, w, b: rnn.lstm_sequence(x, h, c, w, b)[0],
             (3, 2, 8), (2, 2), (2, 2), (8, 2), (8,)),
    "lstm_proj_reverse_lengths": (lambda x, h, c, w, b, r: F.concat(rnn.lstm_sequence(
        x, h, c, w, b, r, reverse=True, lengths=[3, 2])[1:], 1),
        (3, 2, 12), (2, 2), (2, 3), (12, 2), (12,), (2, 3)),
    "gru": (lambda x, h, w, b: rnn.gru_sequence(x, h, w, b)[0], (3, 2, 6), (2, 2), (6, 2),
            (6,)),
    "gru_reverse_lengths": (lambda x, h, w: rnn.gru_sequence(x, h, w, reverse=True,
                                                             lengths=[3, 1])[0],
                            (3, 2, 6), (2, 2), (6, 2)),
    "rnn_tanh": (lambda x, h, w, b: rnn.rnn_sequence(x, h, w, b)[0], (4, 2, 3), (2, 3),
                 (3, 3), (3,)),
    "rnn_relu_lengths": (lambda x, h, w: rnn.rnn_sequence(x, h, w, nonlinearity="relu",
                                                          lengths=[2, 4])[0] ** 2,
                         (4, 2, 3), (2, 3), (3, 3)),
    "lstm_cell": (lambda x, h, c, w, b: F.concat(rnn.lstm_cell(x, h, c, w, b), 1),
                  (2, 8), (2, 2), (2, 2), (8, 2), (8,)),
    "gru_cell": (lambda x, h, w, b: rnn.gru_cell(x, h, w, b), (2, 6), (2, 2), (6, 2), (6,)),
    "rnn_cell": (lambda x, h, w: rnn.rnn_cell(x, h, w), (2, 3), (2, 3), (3, 3)),
    "solve_triangular_upper": (lambda a, b: dlpy.linalg.solve_triangular(
        a + Tensor(3 * np.eye(3)), b * b, upper=True), (2, 3, 3), (3, 2)),
    "solve_triangular_lower_unit_right": (lambda a, b: dlpy.linalg.solve_triangular(
        a, b * b, upper=False, left=False, unitriangular=True), (3, 3), (2, 3)),
    "lgamma": (lambda x: F.lgamma(x), (2, 3), 0.2),
    "lgamma_negative": (lambda x: F.lgamma(-x), (4,), 0.2),
    "digamma": (lambda x: F.digamma(x), (2, 3), 0.2),
    "digamma_negative": (lambda x: F.digamma(-x), (4,), 0.2),
    "xlogy": (lambda x, y: F.xlogy(x, y), (2, 3), (3,), 0.3),
    "erfinv": (lambda x: F.erfinv(x - 1.2), (5,), 0.3),
    "gammainc": (lambda x: F.gammainc(Tensor(np.array([0.7, 1.5, 3.0])), x), (2, 3), 0.3),
}


@pytest.mark.parametrize("case", sorted(OPS))
def test_backward_graph_matches_backward_and_gradchecks(case):
    fn, *shapes = OPS[case]
    low = shapes.pop() if not isinstance(shapes[-1], tuple) else None
    check_second_order(fn, *shapes, low=low)


# ops whose backward_graph records ops with a backward_graph (or backward) of their own
THIRD_ORDER = ["affine_grid", "group_norm_affine", "interpolate_bicubic_down",
               "interpolate_bilinear", "lgamma", "rnn_cell", "solve_triangular_upper",
               "sparse_linear_values"]


@pytest.mark.parametrize("case", THIRD_ORDER)
def test_third_derivatives(case):
    """The recorded gradient differentiated twice more: check_second_order of (x..., v) ->
    d(fn . v)/dx, so backward_graph of the ops backward_graph recorded (ResampleBackward and
    Resample, SparseLinear of the transposed rows, Digamma -> Trigamma)."""
    fn, *shapes = OPS[case]
    low = shapes.pop() if not isinstance(shapes[-1], tuple) else None
    out_shape = fn(*(Tensor(np.full(shape, 0.7)) for shape in shapes)).shape
    check_second_order(first_gradient(fn), *shapes, out_shape, low=low)


def test_sparse_linear_transpose_is_the_adjoint():
    rng = np.random.default_rng(0)
    transposed, order = ROWS.transposed()
    np.testing.assert_array_equal(transposed.to_dense(), ROWS.to_dense().T)
    np.testing.assert_array_equal(transposed.values, ROWS.values[order])
    g = rng.standard_normal((ROWS.num_rows, 2))
    np.testing.assert_allclose(sparse_linear(transposed, Tensor(g)).data,
                               ROWS.to_dense().T @ g, rtol=1e-14)


def test_digamma_third_derivative_and_ctc_second_raise_naming_the_op():
    x = Tensor(np.array([0.5, 1.5]), requires_grad=True)
    (g,) = grad(F.digamma(x).sum(), x, create_graph=True)  # psi'(x), a Trigamma op
    with pytest.raises(NotImplementedError, match="Trigamma has no differentiable backward"):
        grad(g.sum(), x, create_graph=True, retain_graph=True)
    (h,) = grad(g.sum(), x)  # psi''(x): Trigamma's numpy backward
    zeta3 = 1.2020569031595942
    np.testing.assert_allclose(h.data, [-14 * zeta3, 16 - 14 * zeta3], rtol=1e-13)
    log_probs = Tensor(np.log(np.full((4, 1, 3), 1 / 3)), requires_grad=True)
    loss = F.ctc_loss(log_probs, np.array([[1, 2]]), [4], [2])
    (first,) = grad(loss, log_probs, retain_graph=True)  # first order works
    assert first.shape == (4, 1, 3)
    # as torch's: create_graph gives the gradient in the graph, a gradient of it raises
    (second,) = grad(loss * 1.0, log_probs, create_graph=True)
    np.testing.assert_array_equal(second.data, first.data)
    assert second.requires_grad
    with pytest.raises(RuntimeError, match="derivative for aten::_ctc_loss_backward is not "
                                           "implemented"):
        grad(second.sum(), log_probs)


def test_gammainc_first_argument_still_refused_under_create_graph():
    a = Tensor(np.array([1.5]), requires_grad=True)
    x = Tensor(np.array([0.5]), requires_grad=True)
    with pytest.raises(NotImplementedError, match="first argument"):
        grad(F.gammainc(a, x).sum(), [a, x], create_graph=True)


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files}


NAMES = ("x", "gn_w", "gn_b", "w_ih", "w_hh", "b_ih", "b_hh")


def energy(x, gn_w, gn_b, w_ih, w_hh, b_ih, b_hh):
    """make_higher_order_last_fixtures.energy: group norm, bilinear, LSTM, sum of squares."""
    y = F.interpolate(F.group_norm(x, 2, gn_w, gn_b), size=(4, 5), mode="bilinear")
    seq = F.permute(y, (3, 0, 1, 2)).reshape(5, 2, 16)
    zeros = Tensor(np.zeros((2, 3)))
    output, _, _ = rnn.lstm_sequence(F.linear(seq, w_ih, b_ih), zeros, zeros, w_hh, b_hh)
    return (output ** 2).sum()


def test_hessian_vector_product_through_group_norm_interpolate_lstm_matches_torch(ref):
    def arr(k):
        return ref[f"hvp:{k}"]
    value, products = hvp(energy, tuple(Tensor(arr(k)) for k in NAMES),
                          tuple(Tensor(arr(f"v_{k}")) for k in NAMES))
    np.testing.assert_allclose(value.data, arr("value"), rtol=1e-12)
    for name, product in zip(NAMES, products):
        np.testing.assert_allclose(product.data, arr(f"hvp_{name}"), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize(("case", "fn", "names"), [("lgamma", F.lgamma, ("x",)),
                                                   ("digamma", F.digamma, ("x",)),
                                                   ("xlogy", F.xlogy, ("x", "y"))])
def test_special_second_derivatives_match_torch(ref, case, fn, names):
    def arr(k):
        return ref[f"{case}:{k}"]
    xs = [Tensor(arr(n), requires_grad=True) for n in names]
    v = Tensor(arr("v"), requires_grad=True)
    firsts = grad(fn(*xs), xs, grad_outputs=v, create_graph=True)
    total = 0
    # torch's trigamma (polygamma(1)) is accurate to about 5e-10, ours to 1e-15 (see
    # tests/ops/test_special.py)
    rtol = 1e-12 if case == "xlogy" else 1e-8
    for k, (name, g) in enumerate(zip(names, firsts)):
        np.testing.assert_allclose(g.data, arr(f"grad_{name}"), rtol=rtol, atol=1e-14)
        total = total + (g * Tensor(arr(f"u{k}"))).sum()
    for name, g in zip((*names, "v"), grad(total, [*xs, v])):
        np.testing.assert_allclose(g.data, arr(f"second_{name}"), rtol=rtol, atol=1e-14)


# gradcheck / gradgradcheck


class _CubeDetached(Op):
    """y = x^3 whose backward_graph detaches x: right values, no second derivative."""

    def forward(self, x):
        return x ** 3

    def backward(self, grad_output):
        return (3 * grad_output * self.inputs[0].data ** 2,)

    def backward_graph(self, grad_output, output):
        return (grad_output * Tensor(3 * self.inputs[0].data ** 2),)


class _CubeWrongValues(_CubeDetached):
    """backward_graph's gradient is 4 x^3 (d(x^4)/dx), consistent with its own derivatives but
    not with backward's 3 x^2."""

    def backward_graph(self, grad_output, output):
        x = self.inputs[0]
        return (grad_output * 4 * x * x * x,)


class _CubeWrongBackward(_CubeDetached):
    def backward(self, grad_output):
        return (2 * grad_output * self.inputs[0].data ** 2,)


def _x(shape=(2, 3), seed=0):
    return Tensor(np.random.default_rng(seed).uniform(0.5, 1.5, shape), requires_grad=True)


def test_gradcheck_and_gradgradcheck_pass_on_correct_functions():
    x, y = _x(), _x((3,), 1)
    assert gradcheck(lambda a, b: F.lgamma(a) * b, (x, y)) is True
    assert gradcheck(lambda a: (a.tanh(), a.sum()), x) is True  # several outputs
    assert gradgradcheck(lambda a, b: F.xlogy(a, b), (x, y)) is True
    assert gradgradcheck(lambda a: F.group_norm(a.reshape(1, 2, 3), 1), x) is True
    v = Tensor(np.ones((2, 3)))  # a given grad_outputs, not differentiated
    assert gradgradcheck(lambda a: a ** 3, x, v, eps=1e-6, atol=1e-5, rtol=1e-3)
    assert gradcheck(lambda a, n: a * n, (x, 2.0))  # a non-Tensor input passes through


def test_gradcheck_catches_a_wrong_backward():
    with pytest.raises(GradcheckError, match="gradcheck: the gradient of input 0"):
        gradcheck(lambda a: _CubeWrongBackward()(a), _x())
    assert gradcheck(lambda a: _CubeWrongBackward()(a), _x(), raise_exception=False) is False
    assert gradcheck(lambda a: _CubeDetached()(a), _x())  # first order is right


def test_gradgradcheck_catches_a_wrong_backward_graph():
    # detached: the second derivative 6 x is missing (the gradient looks constant)
    with pytest.raises(GradcheckError, match="gradcheck: the gradient of input 0"):
        gradgradcheck(lambda a: _CubeDetached()(a), _x())
    assert gradgradcheck(lambda a: _CubeDetached()(a), _x(), raise_exception=False) is False
    # wrong values: caught by the comparison with backward's gradients
    with pytest.raises(GradcheckError, match="create_graph gradient of input 0 differs from "
                                             "backward's"):
        gradgradcheck(lambda a: _CubeWrongValues()(a), _x())
    assert gradgradcheck(lambda a: _CubeWrongValues()(a), _x(), raise_exception=False) is False


def test_checkers_reject_bad_arguments():
    with pytest.raises(ValueError, match="gradgradcheck: no input is a Tensor with "
                                         "requires_grad"):
        gradgradcheck(lambda a: a * 2, Tensor(np.ones(2)))
    with pytest.raises(ValueError, match="gradgradcheck: 2 grad_outputs for 1 outputs"):
        gradgradcheck(lambda a: a * a, _x(), [np.ones((2, 3)), np.ones((2, 3))])
    with pytest.raises(TypeError, match="gradcheck: func must return a Tensor or a sequence "
                                        "of Tensors, got float"):
        gradcheck(lambda a: 1.0, _x())
    # float32: a warning, then the check in float32 (as torch's), where it usually fails
    with pytest.warns(UserWarning, match="input #0 requires gradient and is not a double"):
        assert gradcheck(lambda a: a.exp(), Tensor(np.array([0.5, 1.5], np.float32),
                                                   requires_grad=True),
                         raise_exception=False) is False
