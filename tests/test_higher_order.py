"""Higher-order gradients: ``autograd.grad(create_graph=True)`` and each op's backward_graph,
checked by finite differences of the first-order gradient (float64) and against torch's values
(tests/fixtures/higher_order/higher_order.npz, made by make_higher_order_fixtures.py)."""

from pathlib import Path

import numpy as np
import pytest
from dlpy.autograd.functional import hessian, hvp, jacobian, jvp, vhp, vjp
from second_order import check_second_order, first_gradient

import dlpy
import dlpy.functional as F
from dlpy import Tensor
from dlpy.autograd import grad
from dlpy.ops.pointwise import Step
from dlpy.tensor import Op
from dlpy.testing import gradcheck

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "higher_order" / "higher_order.npz"


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files}


LABELS = np.array([0, 2, 1])
PROBS = np.array([[0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.5, 0.0], [0.7, 0.1, 0.1, 0.1]])
# op -> (function, input shapes[, low]); broadcasting shapes wherever an op broadcasts
OPS = {
    "Identity": (lambda a: F.identity(a) * a, (3,)),
    "Add": (lambda a, b: (a + b) * (a + b), (2, 3), (3,)),
    "Sub": (lambda a, b: (a - b) * a, (2, 3), (2, 1)),
    "Mul": (lambda a, b: a * b * a, (2, 3), (1, 3)),
    "Div": (lambda a, b: a / b, (2, 3), (3,), 0.5),
    "Neg": (lambda a: -a * a, (3,)),
    "Power": (lambda a: a ** 3 + a ** -1.5 + a ** 1, (4,), 0.5),
    "Power0": (lambda a: a ** 0 * a, (3,)),
    "Abs": (lambda a: a.abs() * a, (5,)),
    "Exp": (lambda a: a.exp(), (4,)),
    "Log": (lambda a: a.log(), (4,), 0.5),
    "Sqrt": (lambda a: a.sqrt(), (4,), 0.5),
    "Cast": (lambda a: F.cast(a * a, np.float64) * a, (3,)),  # float32: see its own test
    "MatMul": (lambda a, b: a @ b, (2, 3, 4), (4, 2)),
    "MatMulVector": (lambda a, b, c: (a @ b) * (b @ c), (3, 4), (4,), (4, 3)),
    "Linear": (lambda x, w, b: F.linear(x * x, w, b), (2, 2, 3), (4, 3), (4,)),
    "ReLU": (lambda a: a.relu() * a, (6,)),
    "Sigmoid": (lambda a: a.sigmoid(), (5,)),
    "Tanh": (lambda a: a.tanh(), (5,)),
    "GELU": (lambda a: F.gelu(a), (5,)),
    "GELUTanh": (lambda a: F.gelu(a, approximate="tanh"), (5,)),
    "SiLU": (lambda a: F.silu(a), (5,)),
    "LeakyReLU": (lambda a: F.leaky_relu(a, 0.2) * a, (6,)),
    "ELU": (lambda a: F.elu(a, 1.5), (6,)),
    "Softplus": (lambda a: F.softplus(a * 12, beta=2.0, threshold=15.0), (6,)),
    "Clamp": (lambda a: a.clamp(-0.5, 0.7) * a + F.hardtanh(a) * a, (6,)),
    "Sum": (lambda a: (a * a).sum(1) * F.sum(a, (0, 2), keepdims=True).sum(), (2, 3, 2)),
    "Mean": (lambda a: (a * a).mean(0) + (a * a).mean(), (3, 2)),
    "Max": (lambda a: (a * a).amax(axis=1) + (a * a).min(), (3, 4)),
    "LogSumExp": (lambda a: (a * a).logsumexp(1) + F.logsumexp(a, (0, 1), keepdims=True),
                  (3, 4)),
    "Var": (lambda a: a.var(axis=1) + a.var(correction=0), (3, 4)),
    "Std": (lambda a: a.std(axis=0, keepdims=True) + a.std(), (3, 4)),
    "Norm": (lambda a: F.norm(a, axis=1) + F.norm(a, p=3, axis=0).sum() + F.norm(a, p=1)
             * F.norm(a, p=float("inf"), axis=1), (3, 4)),
    "SumOfSquares": (lambda a: F.sum_of_squares(a * a, weight=np.array([1.0, 2.0])), (3, 2)),
    "Reshape": (lambda a: (a * a).reshape(6, 1) * a.reshape(-1), (2, 3)),
    "Transpose": (lambda a: F.permute(a * a, (2, 0, 1)) * a.transpose((2, 0, 1)), (2, 3, 4)),
    "GetItem": (lambda a: (a * a)[1:, ::2] * a[0, None, ::2], (3, 3)),
    "GetItemFancy": (lambda a: (a * a)[[0, 0, 2]] * a[[1, 1, 0]], (3, 2)),
    "Concat": (lambda a, b: F.concat([a * a, a[:, :2] * b], 1), (2, 3), (2, 2)),
    "Stack": (lambda a, b: F.stack([a * b, b * b], 1), (2, 3), (2, 3)),
    "Softmax": (lambda a: F.softmax(a * a, dim=0), (3, 4)),
    "LogSoftmax": (lambda a: F.log_softmax(a * a, dim=-1), (3, 4)),
    "Sin": (lambda a: a.sin(), (4,)),
    "Cos": (lambda a: a.cos(), (4,)),
    "Tan": (lambda a: a.tan(), (4,)),
    "Atan2": (lambda a, b: F.atan2(a, b), (2, 3), (3,)),
    "Erf": (lambda a: a.erf(), (4,)),
    "Log1p": (lambda a: a.log1p(), (4,), 0.0),
    "Expm1": (lambda a: a.expm1(), (4,)),
    "Step": (lambda a: a.floor() * a + a.sign() * a * a, (4,)),
    "Maximum": (lambda a, b: F.maximum(a * a, b) + F.minimum(a, b * b), (2, 3), (3,)),
    "SoftmaxCrossEntropy": (lambda a: F.cross_entropy(a * a, LABELS), (3, 4)),
    "SoftmaxCrossEntropyOptions": (lambda a: F.cross_entropy(
        a * a, np.array([0, -100, 1]), reduction="none", label_smoothing=0.2,
        weight=np.array([1.0, 2.0, 0.5, 1.5])), (3, 4)),
    "SoftmaxCrossEntropyProbs": (lambda a: F.cross_entropy(a * a, PROBS, reduction="sum"), (3, 4)),
    "mse_loss": (lambda a, b: F.mse_loss(a * b, b), (3, 2), (3, 2)),
    "where": (lambda a, b: F.where(np.array([True, False, True]), a * b, b * b), (2, 3), (3,)),
    "masked_fill": (lambda a: (a * a).masked_fill(np.array([True, False, False]), 2.0), (2, 3)),
    "expand": (lambda a: (a * a).expand(3, 4) * a, (1, 4)),
    "Dropout": (lambda a: F.dropout(a * a, 0.5, rng=np.random.default_rng(0)), (6,)),
    "LayerNorm": (lambda x, w, b: F.layer_norm(x * x, w, b), (2, 3, 4), (4,), (4,)),
    "LayerNormPlain": (lambda x: F.layer_norm(x, eps=1e-3), (3, 4)),
}


@pytest.mark.parametrize("name", list(OPS))
def test_second_derivatives_match_finite_differences(name):
    fn, *shapes = OPS[name]
    low = shapes.pop() if not isinstance(shapes[-1], tuple) else None
    check_second_order(fn, *shapes, low=low)


@pytest.mark.parametrize("name", ["Mul", "Div", "Tanh", "Softmax", "GetItemFancy", "Linear",
                                  "Norm", "SoftmaxCrossEntropy", "LayerNorm", "Concat"])
def test_third_derivatives_match_finite_differences(name):
    """The ops a backward_graph records have backward_graphs too: the gradient of the gradient
    can be differentiated once more."""
    fn, *shapes = OPS[name]
    low = shapes.pop() if not isinstance(shapes[-1], tuple) else None
    rng = np.random.default_rng(1)
    xs = [Tensor(rng.standard_normal(s) if low is None else rng.uniform(low, low + 1.5, s),
                 requires_grad=True) for s in shapes]
    v = Tensor(rng.standard_normal(fn(*xs).shape), requires_grad=True)
    first = first_gradient(fn)
    u = Tensor(rng.standard_normal(first(*xs, v).shape))
    assert gradcheck(first_gradient(lambda *args: (first(*args) * u).sum()), *xs, v,
                     Tensor(np.ones(())), atol=1e-5, rtol=1e-4)


def test_a_cube_differentiated_three_times_gives_six(ref):
    x = Tensor(ref["cube:x"], requires_grad=True)
    (d1,) = grad((x ** 3).sum(), x, create_graph=True)
    (d2,) = grad(d1.sum(), x, create_graph=True)
    (d3,) = grad(d2.sum(), x)
    assert d1.requires_grad and d2.requires_grad and not d3.requires_grad
    for got, key in ((d1, "d1"), (d2, "d2"), (d3, "d3")):
        np.testing.assert_allclose(got.data, ref[f"cube:{key}"], rtol=1e-14)
    np.testing.assert_array_equal(d3.data, 6.0)


def test_a_gradient_used_twice_and_under_no_grad(ref):
    x = Tensor(ref["reuse:x"], requires_grad=True)

    def second_of(g):
        return (g * x + g.sin()).sum()

    (g,) = grad((x.sigmoid() * x).sum(), x, create_graph=True)
    second = second_of(g)
    np.testing.assert_allclose(second.data, ref["reuse:second"], rtol=1e-14)
    np.testing.assert_allclose(grad(second, x)[0].data, ref["reuse:grad"], rtol=1e-13)
    y = (x.sigmoid() * x).sum()
    with dlpy.no_grad():  # as PyTorch: create_graph records even under no_grad
        (g,) = grad(y, x, create_graph=True)
        assert g.requires_grad
    np.testing.assert_allclose(grad(second_of(g), x)[0].data, ref["reuse:grad"], rtol=1e-13)


def mlp_loss(x, target, w1, b1, w2, b2):
    logits = F.linear(F.softplus(F.tanh(F.linear(x, w1, b1))), w2, b2)
    return F.cross_entropy(logits, np.array([0, 2, 1, 2])) + F.mse_loss(logits, target)


def test_hessian_of_an_mlp_loss_matches_torch(ref):
    x, target = Tensor(ref["mlp:x"]), Tensor(ref["mlp:target"])
    weights = tuple(Tensor(ref[f"mlp:{k}"]) for k in ("w1", "b1", "w2", "b2"))
    blocks = hessian(lambda *w: mlp_loss(x, target, *w), weights)
    assert len(blocks) == 4 and all(len(row) == 4 for row in blocks)
    for i, row in enumerate(blocks):
        for j, block in enumerate(row):
            assert block.shape == weights[i].shape + weights[j].shape
            assert not block.requires_grad
            np.testing.assert_allclose(block.data, ref[f"mlp:hessian{i}{j}"], rtol=1e-10,
                                       atol=1e-13, err_msg=f"{i}{j}")
    np.testing.assert_allclose(blocks[1][2].data, np.moveaxis(blocks[2][1].data, 2, 0)
                               .transpose(0, 1, 2), atol=1e-13)  # symmetric


def two_outputs(a, b):
    return a * b.sin(), (a ** 2 * b.exp()).sum()


def scalar(a, b):
    return (a.exp() * b).sum() + (a * b).sum() ** 2 + F.log_softmax(a * b, dim=0).sum() * 0.5


def test_functional_products_match_torch(ref):
    a, b = Tensor(ref["multi:a"], requires_grad=True), Tensor(ref["multi:b"], requires_grad=True)
    va, vb = Tensor(ref["multi:va"]), Tensor(ref["multi:vb"])
    (jaa, jab), _ = jacobian(two_outputs, (a, b), create_graph=True)
    np.testing.assert_allclose(jaa.data, ref["multi:jacobian:aa"], rtol=1e-14)
    assert jab.requires_grad  # depends on the caller's a and b
    got = grad((jab * Tensor(ref["multi:weight"])).sum(), (a, b))
    np.testing.assert_allclose(got[0].data, ref["multi:jacobian:grad_a"], rtol=1e-13)
    np.testing.assert_allclose(got[1].data, ref["multi:jacobian:grad_b"], rtol=1e-13)
    (_, _), (j0, j1) = jvp(two_outputs, (a, b), (va, vb))
    np.testing.assert_allclose(j0.data, ref["multi:jvp0"], rtol=1e-13)
    np.testing.assert_allclose(j1.data, ref["multi:jvp1"], rtol=1e-13)
    _, (pa, pb) = vjp(two_outputs, (a, b), (ref["multi:u0"], ref["multi:u1"]))
    np.testing.assert_allclose(pa.data, ref["multi:vjp_a"], rtol=1e-13)
    np.testing.assert_allclose(pb.data, ref["multi:vjp_b"], rtol=1e-13)
    for name, fn in (("hvp", hvp), ("vhp", vhp)):
        value, (pa, pb) = fn(scalar, (a, b), (va, vb))
        np.testing.assert_allclose(value.data, ref["multi:value"], rtol=1e-14)
        np.testing.assert_allclose(pa.data, ref[f"multi:{name}_a"], rtol=1e-12, err_msg=name)
        np.testing.assert_allclose(pb.data, ref[f"multi:{name}_b"], rtol=1e-12, err_msg=name)
        assert not pa.requires_grad and not value.requires_grad
    for i, row in enumerate(hessian(scalar, (a, b))):
        for j, block in enumerate(row):
            np.testing.assert_allclose(block.data, ref[f"multi:hessian{i}{j}"], rtol=1e-12)
    _, (ha, hb) = hvp(scalar, (a, b), (va, vb), create_graph=True)
    got = grad((ha * hb).sum(), (a, b))
    np.testing.assert_allclose(got[0].data, ref["multi:hvp_graph_a"], rtol=1e-12)
    np.testing.assert_allclose(got[1].data, ref["multi:hvp_graph_b"], rtol=1e-12)
    assert a.grad is None and b.grad is None


def test_functional_layouts_for_one_input():
    x = Tensor(np.array([0.5, -1.0, 2.0]))
    H = hessian(lambda x: (x ** 3).sum(), x)
    assert isinstance(H, Tensor) and H.shape == (3, 3)
    np.testing.assert_allclose(H.data, np.diag(6 * x.data), rtol=1e-14)
    value, product = hvp(lambda x: (x ** 3).sum(), x, Tensor(np.ones(3)))
    assert isinstance(product, Tensor) and value.shape == ()
    np.testing.assert_allclose(product.data, 6 * x.data, rtol=1e-14)
    value, product = jvp(lambda x: x ** 2, x, Tensor(np.array([1.0, 0.0, 2.0])))
    np.testing.assert_allclose(product.data, [1.0, 0.0, 8.0], rtol=1e-14)
    _, product = jvp(lambda s: s * 3, Tensor(np.array([2.0])))  # v may be left out
    np.testing.assert_array_equal(product.data, [3.0])


def test_functional_strict_and_errors():
    x = Tensor(np.ones(3))
    with pytest.raises(ValueError, match="hessian: the gradient of the function with respect "
                                         "to input 0 does not depend on the inputs"):
        hessian(lambda x: (x * 2).sum(), x, strict=True)
    np.testing.assert_array_equal(hessian(lambda x: (x * 2).sum(), x).data, 0)  # not strict
    with pytest.raises(ValueError, match="hessian: func must return a single Tensor with one "
                                         r"element, got shape \(3,\)"):
        hessian(lambda x: x * x, x)
    with pytest.raises(ValueError, match="vhp: the gradient of the function with respect to "
                                         "input 1 does not depend on the inputs"):
        vhp(lambda x, y: (x * x).sum() + y.sum(), (x, x), (x, x), strict=True)
    with pytest.raises(ValueError, match=r"hvp: v\[0\] has shape \(2,\), input 0 has shape"):
        hvp(lambda x: (x * x).sum(), x, Tensor(np.ones(2)))
    with pytest.raises(ValueError, match="jvp: v can be left out only when the input is a "
                                         "single one-element Tensor"):
        jvp(lambda x: x, x)
    with pytest.raises(ValueError, match="jvp: output 0 of the function does not depend on "
                                         "input 1"):
        jvp(lambda x, y: x * 2, (x, x), (x, x), strict=True)
    with pytest.raises(ValueError, match="jacobian: the Jacobian with respect to input 0 does "
                                         "not depend on the inputs, which strict=True with "
                                         "create_graph=True"):
        jacobian(lambda x: x * 2, x, create_graph=True, strict=True)


def critic(x, w1, b1, w2):
    return F.linear(F.tanh(F.linear(x, w1, b1)), w2)


def test_gradient_penalty_matches_torch(ref):
    x = Tensor(ref["gp:x"], requires_grad=True)
    weights = tuple(Tensor(ref[f"gp:{k}"], requires_grad=True) for k in ("w1", "b1", "w2"))
    scores = critic(x, *weights)
    (dx,) = grad(scores, x, Tensor(np.ones(scores.shape)), create_graph=True)
    penalty = ((dx.norm(dim=1) - 1) ** 2).mean()
    np.testing.assert_allclose(penalty.data, ref["gp:penalty"], rtol=1e-14)
    for name, g in zip(("w1", "b1", "w2"), grad(penalty, weights, retain_graph=True)):
        np.testing.assert_allclose(g.data, ref[f"gp:grad_{name}"], rtol=1e-12, err_msg=name)
    penalty.backward()  # the ordinary backward runs over both graphs, into .grad
    np.testing.assert_allclose(weights[0].grad, ref["gp:grad_w1"], rtol=1e-12)


def maml_model(x, w, v):
    return F.tanh(x @ w) @ v


def test_two_maml_inner_steps_match_torch(ref):
    w, v = Tensor(ref["maml:w"], requires_grad=True), Tensor(ref["maml:v"], requires_grad=True)
    fast = (w, v)
    for _ in range(2):
        loss = F.mse_loss(maml_model(Tensor(ref["maml:x_inner"]), *fast),
                          Tensor(ref["maml:y_inner"]))
        grads = grad(loss, fast, create_graph=True)
        fast = tuple(p - 0.1 * g for p, g in zip(fast, grads))
    outer = F.mse_loss(maml_model(Tensor(ref["maml:x_outer"]), *fast),
                       Tensor(ref["maml:y_outer"]))
    np.testing.assert_allclose(outer.data, ref["maml:outer"], rtol=1e-13)
    gw, gv = grad(outer, (w, v))
    np.testing.assert_allclose(gw.data, ref["maml:grad_w"], rtol=1e-11)
    np.testing.assert_allclose(gv.data, ref["maml:grad_v"], rtol=1e-11)


def test_grad_outputs_that_require_grad_are_differentiated_through():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    u = Tensor(np.array([3.0, -1.0]), requires_grad=True)
    (g,) = grad(x * x, x, grad_outputs=u, create_graph=True)  # 2 x u
    np.testing.assert_array_equal(g.data, [6.0, -4.0])
    gx, gu = grad(g.sum(), (x, u))
    np.testing.assert_array_equal(gx.data, [6.0, -2.0])
    np.testing.assert_array_equal(gu.data, [2.0, 4.0])
    (g,) = grad(x * x, x, grad_outputs=u)  # without create_graph: a constant
    assert not g.requires_grad


def test_a_constant_gradient_needs_no_graph_and_the_graph_is_kept():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x * 3.0).sum()
    (g,) = grad(y, x, create_graph=True)
    assert not g.requires_grad  # d(3x)/dx depends on nothing: a constant, as PyTorch
    np.testing.assert_array_equal(g.data, 3.0)
    (g,) = grad(y, x)  # create_graph kept the graph: a second pass works
    np.testing.assert_array_equal(g.data, 3.0)
    with pytest.raises(RuntimeError, match="already freed"):
        grad(y, x)


def test_float32_through_a_float64_cast_keeps_each_dtype():
    x = Tensor(np.array([0.5, 1.5], dtype=np.float32), requires_grad=True)
    (g,) = grad((F.cast(x, np.float64) ** 3).sum(), x, create_graph=True)
    assert g.dtype == np.float32 and g.requires_grad
    (h,) = grad(g.sum(), x)
    assert h.dtype == np.float32
    np.testing.assert_allclose(h.data, 6 * x.data, rtol=1e-6)


def test_hooks_get_and_return_tensors_under_create_graph():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x * x
    seen = []
    y.register_hook(lambda g: seen.append(g) or g * 2)  # doubles dy, recorded
    (g,) = grad(y.sum(), x, create_graph=True)  # 2 * 2x
    assert isinstance(seen[0], Tensor)
    np.testing.assert_array_equal(g.data, [4.0, 8.0])
    np.testing.assert_array_equal(grad(g.sum(), x)[0].data, [4.0, 4.0])
    y = x * x
    y.register_hook(lambda g: np.ones(2))  # an array: a constant gradient from here
    (g,) = grad(y.sum(), x, create_graph=True)
    np.testing.assert_array_equal(g.data, [2.0, 4.0])
    np.testing.assert_array_equal(grad(g.sum(), x)[0].data, [2.0, 2.0])


class _Square(Op):
    """y = x^2 with a numpy backward only."""

    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, grad_output):
        return (2 * self.x * grad_output,)


def test_an_op_without_backward_graph_is_named():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    with pytest.raises(NotImplementedError, match=r"autograd.grad\(create_graph=True\): _Square "
                                                  "has no differentiable backward yet"):
        grad(_Square()(x).sum(), x, create_graph=True)
    (g,) = grad(_Square()(x).sum(), x)  # first order is fine
    np.testing.assert_array_equal(g.data, [2.0, 4.0])
    (g,) = grad(Step(np.floor)(x).sum() + (x * x).sum(), x, create_graph=True)  # zero: covered
    np.testing.assert_array_equal(g.data, [2.0, 4.0])


def test_backward_with_create_graph_gives_grads_with_a_graph():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x * x).sum().backward(create_graph=True)
    assert x.grad.requires_grad
    dlpy.autograd.backward([(x * x).sum()], create_graph=True)  # a recorded add
    np.testing.assert_allclose(x.grad.data, 4 * x.data)
    (gx,) = dlpy.autograd.grad(x.grad.sum(), x)
    np.testing.assert_allclose(gx.data, [4.0, 4.0])
