"""Forward-mode AD (dlpy.forward_ad, dlpy.func.jvp/jacfwd/hessian): torch.func.jvp's values at
the cases of fixtures/cases_forward_ad.py, each JVP rule against the reverse-mode Jacobian,
composition with grad, vmap and itself, in-place changes and autograd.Function's jvp, and
torch's errors."""

import gc
import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

import dlpy
import dlpy.functional as F
from dlpy import forward_ad as fwAD
from dlpy.autograd_function import PLAIN_CALL_SITES
from dlpy.forward_ad_rules import RULES
from dlpy.func import grad, hessian, jacfwd, jacrev, jvp, vmap
from dlpy.tensor import Op, Tensor

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
from cases_forward_ad import (  # noqa: E402
    CASES,
    IN_PLACE,
    LABELS,
    MASK,
    expressions,
    in_place_programs,
    inputs,
)

REF = np.load(Path(__file__).parent / "fixtures" / "forward_ad" / "forward_ad.npz")
SELECTIONS = {"pools", "prod_cumsum"}  # rules that are the double-vjp on purpose


def t(array, requires_grad=False):
    return Tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)


def function_of(name):
    expression = expressions(name)[1]

    def function(*xs):
        scope = {"T": dlpy, "F": F, "labels": LABELS, "mask": MASK}
        scope.update({f"x{i}": x for i, x in enumerate(xs)})
        return eval(expression, scope)  # noqa: S307 - our own expressions

    return function


@pytest.mark.parametrize("name", list(CASES))
def test_matches_torch_forward_ad(name):
    primals, tangents = inputs(name)
    fwAD.stats["fallbacks"].clear()
    with fwAD.dual_level():
        duals = [fwAD.make_dual(t(p), t(v)) for p, v in zip(primals, tangents)]
        value, tangent = fwAD.unpack_dual(function_of(name)(*duals))
    np.testing.assert_allclose(value.data, REF[f"{name}:value"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(tangent.data, REF[f"{name}:tangent"], rtol=1e-9, atol=1e-11)
    if name not in SELECTIONS:
        assert fwAD.stats["fallbacks"] == {}, "a rule fell back to the double-vjp"


@pytest.mark.parametrize("name", ["mlp", "conv2d", "layer_norm", "attention", "cross_entropy"])
def test_func_jvp_and_jacfwd_match_torch(name):
    primals, tangents = inputs(name)
    f = function_of(name)
    value, product = jvp(f, tuple(t(p) for p in primals), tuple(t(v) for v in tangents))
    np.testing.assert_allclose(value.data, REF[f"{name}:value"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(product.data, REF[f"{name}:tangent"], rtol=1e-9, atol=1e-11)
    argnums = tuple(range(len(primals)))
    forward = jacfwd(f, argnums)(*[t(p) for p in primals])
    reverse = jacrev(f, argnums)(*[t(p) for p in primals])
    for a, b in zip(forward, reverse):
        assert a.shape == b.shape and not a.requires_grad
        np.testing.assert_allclose(a.data, b.data, rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------- every rule
def _samples(rng):
    """(function, input shapes) exercising every op class of the rule table."""
    labels, targets = np.array([1, 0, 2]), rng.uniform(0.1, 0.9, (3, 3))
    keep = np.where(rng.random((3, 3)) > 0.3, 1 / 0.7, 0.0)
    ops = dlpy.ops
    return [
        (lambda a, b: a + b - b * a / (b * b + 1), [(3, 3), (3,)]),
        (lambda a: -(a ** 2) + F.abs(a) + a.exp() + (a * a + 1).log() + (a * a + 1).sqrt(),
         [(3, 3)]),
        (lambda a: ops.arithmetic.Cast(np.float64)(ops.arithmetic.Identity()(a))
         + ops.reduce.Median((0,), False)(a), [(3, 3)]),
        (lambda x: F.unfold(x, 2), [(1, 2, 3, 3)]),
        (lambda a: dlpy.sin(a) + dlpy.cos(a) + dlpy.tan(a * 0.3) + dlpy.asin(a * 0.3)
         + dlpy.acos(a * 0.3) + dlpy.atan(a) + dlpy.asinh(a) + dlpy.acosh(a * a + 2)
         + dlpy.atanh(a * 0.3) + dlpy.sinh(a) + dlpy.cosh(a) + dlpy.erf(a)
         + dlpy.log1p(a * a) + dlpy.expm1(a) + dlpy.floor(a) + dlpy.exp2(a)
         + dlpy.logit(F.sigmoid(a)) + dlpy.logit(F.sigmoid(a), eps=0.3), [(3, 3)]),
        (lambda a: F.relu(a) + F.sigmoid(a) + F.tanh(a) + F.gelu(a) + F.gelu(a, approximate="tanh")
         + F.silu(a) + F.leaky_relu(a) + F.elu(a) + F.softplus(a) + F.clamp(a, -0.5, 0.5)
         + F.selu(a) + F.mish(a) + F.hardswish(a) + F.hardsigmoid(a) + F.softsign(a)
         + F.logsigmoid(a) + F.threshold(a, 0.1, 2.0) + F.tanhshrink(a) + F.softshrink(a),
         [(3, 3)]),
        (lambda a: dlpy.lgamma(a * a + 1) + dlpy.digamma(a * a + 1) + dlpy.erfinv(F.tanh(a) * 0.9),
         [(3, 3)]),
        (lambda a, b: dlpy.maximum(a, b) + dlpy.atan2(a, b) + dlpy.special.xlogy(a, b * b + 1)
, [(3, 3), (3, 3)]),
        (lambda a, b, c: F.linear(a, b, c) + a @ b.t() + dlpy.einsum("ij,kj->ik", a, b),
         [(3, 3), (3, 3), (3,)]),
        (lambda a: a.sum(0) + a.mean(1) + a.amax(0) + a.amin(1) + dlpy.logsumexp(a, 0)
         + a.var(0) + a.std(1) + a.norm(dim=0) + dlpy.median(a, 0).values
         + dlpy.prod(a, 1) + dlpy.cumprod(a, 0)[-1] + dlpy.cumsum(a, 1)[:, 0], [(3, 3)]),
        (lambda a: dlpy.functional.sum_of_squares(a).reshape(1).expand(3), [(3, 3)]),
        (lambda a: ops.multi_output.Outputs("SplitBackward0")(a)[1] * 2, [(3, 3)]),
        (lambda a: dlpy.diagonal(a, 1) * 3 + dlpy.diagonal(a.t(), -1), [(3, 3)]),
        (lambda a: dlpy.logcumsumexp(a, 1) + dlpy.logcumsumexp(a * 40, 0) / 40, [(3, 3)]),
        (lambda a, b: (dlpy.cat([a, b], 0)[1:4].t().reshape(3, 3).flip(0).roll(1, 0)
                       .repeat(1, 2)[:, :3] + dlpy.stack([a, b], 0).sum(0)
                       + dlpy.tril(a) + dlpy.where(a.data > 0, a, b)), [(3, 3), (3, 3)]),
        (lambda a: F.pad(a, (1, 1), value=2.0)[:, 1:4] + F.pad(a, (1, 1), mode="reflect")
         [:, :3] + dlpy.gather(a, 1, np.array([[0, 0, 1]] * 3))
         + dlpy.index_select(a, 0, np.array([2, 0, 1]))
         + dlpy.index_add(a, 0, np.array([0, 2, 1]), a)
         + dlpy.scatter_add(a, 1, np.array([[0, 1, 2]] * 3), a), [(3, 3)]),
        (lambda a: a.unfold(1, 2, 1).sum(-1)[:, :1] + F.embedding(np.array([0, 2, 1]), a)
         + F.dropout(a, 0.3, rng=np.random.default_rng(1)), [(3, 3)]),
        (lambda a: F.softmax(a, 0) + F.log_softmax(a, 1), [(3, 3)]),
        (lambda a, w, b: F.layer_norm(a, w, b) + F.rms_norm(a, 3, w, 1e-6), [(3, 3), (3,), (3,)]),
        (lambda a, w, b: F.batch_norm(a, None, None, w, b, True).sum(-1)
         + F.batch_norm(a, np.zeros(3), np.ones(3), w, b).sum(-1)
         + F.group_norm(a, 3, w, b).sum(-1), [(3, 3, 2), (3,), (3,)]),
        (lambda x, w, b: F.conv1d(x, w, b, padding=1) + F.conv_transpose1d(x, w.transpose(0, 1)
                                                                           .contiguous(), b,
                                                                           padding=1),
         [(2, 3, 4), (3, 3, 3), (3,)]),
        (lambda x, w: F.conv2d(x, w) + F.conv3d(x[:, :, None], w[:, :, None])[:, :, 0]
         + F.max_pool2d(F.pad(x, (0, 0, 0, 0)), 1)[:, :3, :2, :2] * 0
         + F.conv_transpose2d(F.conv2d(x, w), w.transpose(0, 1))[:, :, :2, :2]
         + F.conv_transpose3d(F.conv2d(x, w)[:, :, None], w.transpose(0, 1)[:, :, None])
         [:, :, 0, :2, :2], [(1, 3, 3, 3), (3, 3, 2, 2)]),
        (lambda x: F.max_pool1d(x, 2) + F.avg_pool1d(x, 2), [(1, 2, 4)]),
        (lambda x: (F.max_pool2d(x, 2) + F.avg_pool2d(x, 2)).sum(-1), [(1, 2, 4, 4)]),
        (lambda x: (F.max_pool3d(x, 2) + F.avg_pool3d(x, 2)).reshape(2), [(1, 2, 2, 2, 2)]),
        (lambda x: F.max_unpool1d(*F.max_pool1d(x, 2, return_indices=True), 2), [(1, 2, 4)]),
        (lambda x: F.max_unpool2d(*F.max_pool2d(x, 2, return_indices=True), 2)
         + F.max_unpool3d(*F.max_pool3d(x[:, :, None].expand(1, 2, 2, 4, 4), 2,
                                         return_indices=True), 2)[:, :, 0], [(1, 2, 4, 4)]),
        (lambda x: F.fold(x, (3, 3), 2), [(1, 4, 4)]),
        (lambda a, b: F.cross_entropy(a, labels) + F.cross_entropy(a, labels, reduction="none")
         .sum() + F.binary_cross_entropy_with_logits(a, b * b)
         + F.binary_cross_entropy(F.sigmoid(a), F.sigmoid(b)) + F.mse_loss(a, b)
         + F.mse_loss(a, b, reduction="none").sum(0), [(3, 3), (3, 3)]),
        (lambda q, k, v: F.scaled_dot_product_attention(q, k, v)
         + dlpy.ops.attention.Attention(0.5, keep=keep)(q, k, v)
         + dlpy.ops.attention.ScoresAttention(np.zeros((3, 3)))(q @ k.t(), v),
         [(3, 3), (3, 3), (3, 3)]),
        (lambda q: F.multi_head_attention_forward(q, 1, 3) if False else
         dlpy.ops.attention.Attention(0.5, num_heads=1)(q[None], q[None], q[None])[0],
         [(3, 3)]),
        (lambda a: dlpy.special.erfcx(a) + dlpy.special.i0e(a) + dlpy.special.i1(a)
         + dlpy.special.i1e(a) + dlpy.special.ndtr(a) + dlpy.special.log_ndtr(a)
         + dlpy.special.entr(a * a + 0.1) + dlpy.special.ndtri(F.sigmoid(a)), [(3, 3)]),
        (lambda a: ops.rearrange.SlidingWindows(1, 2, 1)(a).sum(-1)[:, :2].sum(1) + targets[0]
         * 0 + ops.shape.IndexAdd(np.array([0, 2]), (3,))(a[:2, 0]), [(3, 3)]),
    ]


def _jacobian_product(function, primals, tangents):
    """J t by reverse mode: one first-order backward pass per output element (row of J)."""
    leaves = [Tensor(p.data, requires_grad=True) for p in primals]
    out = function(*leaves)
    product = np.zeros(out.data.size)
    seed = np.zeros(out.data.size)
    for k in range(out.data.size):
        seed[k] = 1
        rows = dlpy.autograd.grad(out, leaves, seed.reshape(out.shape), retain_graph=True,
                                  allow_unused=True)
        seed[k] = 0
        product[k] = sum(float((row.data * v.data).sum()) for row, v in zip(rows, tangents)
                         if row is not None)
    return product.reshape(out.shape)


def test_every_rule_equals_the_reverse_mode_jacobian_product():
    rng = np.random.default_rng(0)
    fwAD.stats["rules"].clear()
    for k, (function, shapes) in enumerate(_samples(rng)):
        primals = [t(rng.standard_normal(s)) for s in shapes]
        tangents = [t(rng.standard_normal(s)) for s in shapes]
        _, product = jvp(function, tuple(primals), tuple(tangents))
        np.testing.assert_allclose(product.data, _jacobian_product(function, primals, tangents),
                                   rtol=1e-9, atol=1e-10, err_msg=f"sample {k}")
    covered = {cls for cls in RULES if cls.__name__ in fwAD.stats["rules"]}
    missing = sorted(cls.__name__ for cls in set(RULES) - covered)
    assert missing == [], f"rules no sample exercised: {missing}"


def test_an_op_without_a_rule_falls_back_to_the_double_vjp():
    class Cube(Op):  # no JVP rule: the double-vjp through its backward_graph
        def forward(self, x):
            return x ** 3

        def backward_graph(self, grad_output, output):
            return (grad_output * 3 * self.inputs[0] ** 2,)

    class Opaque(Op):
        def forward(self, x):
            return x * 2

    x, v = t([0.5, -1.0, 2.0]), t([1.0, 2.0, 3.0])
    fwAD.stats["fallbacks"].clear()
    with fwAD.dual_level():
        _, tangent = fwAD.unpack_dual(Cube()(fwAD.make_dual(x, v)))
        np.testing.assert_allclose(tangent.data, 3 * x.data ** 2 * v.data, rtol=1e-14)
        assert fwAD.stats["fallbacks"] == {"Cube": 1}
        with pytest.raises(NotImplementedError, match="Opaque has no JVP rule"):
            Opaque()(fwAD.make_dual(x, v))


# ----------------------------------------------------------------------------- in place
def run_in_place(name, duals):
    scope = {"T": dlpy, "F": F, "mask": MASK}
    scope.update({f"x{i}": x for i, x in enumerate(duals)})
    exec(in_place_programs(name)[1], scope)  # noqa: S102 - our own statements
    return scope["y"]


@pytest.mark.parametrize("requires_grad", [False, True])  # True: the recorded (rebase) path
@pytest.mark.parametrize("name", list(IN_PLACE))
def test_in_place_changes_carry_tangents_as_torch(name, requires_grad):
    primals, tangents = inputs(name)
    with fwAD.dual_level():
        duals = [fwAD.make_dual(t(p, requires_grad), t(v)) for p, v in zip(primals, tangents)]
        value, tangent = fwAD.unpack_dual(run_in_place(name, duals))
    key = f"in_place:{name}"
    np.testing.assert_allclose(value.data, REF[f"{key}:value"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(tangent.data, REF[f"{key}:tangent"], rtol=1e-9, atol=1e-11)
    assert tangent.requires_grad == requires_grad  # reverse over forward through the rebase


def test_in_place_under_func_jvp_and_jacfwd():
    name = "setitem"
    primals, tangents = inputs(name)

    def f(a, b):
        return run_in_place(name, (a, b))

    _, product = jvp(f, tuple(t(p) for p in primals), tuple(t(v) for v in tangents))
    np.testing.assert_allclose(product.data, REF[f"in_place:{name}:tangent"], rtol=1e-9,
                               atol=1e-11)
    jacobians = jacfwd(f, (0, 1))(*[t(p) for p in primals])  # a vmap of the in-place ops
    contracted = sum(np.tensordot(j.data, v, axes=v.ndim) for j, v in zip(jacobians, tangents))
    np.testing.assert_allclose(contracted, REF[f"in_place:{name}:tangent"], rtol=1e-9,
                               atol=1e-11)


def test_in_place_tangent_details():
    x, v = t([1.0, 2.0, 3.0]), t([1.0, 1.0, 1.0])
    with fwAD.dual_level():
        dual = fwAD.make_dual(x, v)
        y = dual * 1
        before = fwAD.unpack_dual(y).tangent
        y.mul_(2)
        assert fwAD.unpack_dual(y).tangent.data.tolist() == [2.0, 2.0, 2.0]
        assert before.data.tolist() == [1.0, 1.0, 1.0]  # replaced, not written into
        plain = t([5.0, 5.0, 5.0])
        plain.mul_(2)  # no tangent anywhere: none appears
        assert fwAD.unpack_dual(plain).tangent is None
        counts = Tensor(np.zeros(3, dtype=np.int64))
        counts += 1  # an integer tensor gets none
        assert fwAD.unpack_dual(counts).tangent is None
        half = Tensor(np.zeros(3, dtype=np.float32))
        half += dual  # float64 tangent stored in a float32 tensor: cast, as its value
        assert fwAD.unpack_dual(half).tangent.dtype == np.float32
    assert importlib.import_module("dlpy.tensor")._dual_in_place is None  # outside: no hook


# ----------------------------------------------------------------------------- Function
class MulK(dlpy.autograd.Function):
    """x * y * k, with a jvp (torch 2's setup_context style) and a backward."""

    @staticmethod
    def forward(x, y, k):
        return x.data * y.data * k

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, y, k = inputs
        ctx.save_for_forward(x, y)
        ctx.k = k
        ctx.tangents_seen = None

    @staticmethod
    def jvp(ctx, t_x, t_y, t_k):
        x, y = ctx.saved_tensors
        ctx.tangents_seen = (t_x, t_y, t_k)
        MulK.last_ctx = ctx
        return (t_x * y + x * t_y) * ctx.k


class Cube(dlpy.autograd.Function):
    """x^3 without jvp: forward mode differentiates its backward (double-vjp)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return Tensor(x.data ** 3)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * 3 * x * x


class Opaque(dlpy.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.data * 2

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output.data * 2  # numpy: nothing forward mode can differentiate


def test_function_jvp_is_used_with_zeros_for_tangentless_tensors_as_torch():
    x, v, y = t([1.0, 2.0]), t([2.0, -1.0]), t([3.0, 4.0])
    fwAD.stats["fallbacks"].clear()
    with fwAD.dual_level():
        out = MulK.apply(fwAD.make_dual(x, v), y, 2.0)
        primal, tangent = fwAD.unpack_dual(out)
    np.testing.assert_allclose(primal.data, [6.0, 16.0])
    np.testing.assert_allclose(tangent.data, (v.data * y.data) * 2.0)
    t_x, t_y, t_k = MulK.last_ctx.tangents_seen
    assert t_y.data.tolist() == [0.0, 0.0] and t_k is None  # torch: zeros, None
    assert fwAD.stats["fallbacks"] == {}
    _, product = jvp(lambda a, b: MulK.apply(a, b, 0.5), (x, y), (v, v))  # both tangents
    np.testing.assert_allclose(product.data, (v.data * y.data + x.data * v.data) * 0.5)


def test_function_without_jvp_differentiates_its_backward():
    x, v = t([0.5, -1.0, 2.0]), t([1.0, 2.0, 3.0])
    for requires_grad in (False, True):  # not recorded, and recorded (CubeBackward)
        with fwAD.dual_level():
            dual = fwAD.make_dual(t(x.data, requires_grad), v)
            primal, tangent = fwAD.unpack_dual(Cube.apply(dual))
        np.testing.assert_allclose(primal.data, x.data ** 3)
        np.testing.assert_allclose(tangent.data, 3 * x.data ** 2 * v.data, rtol=1e-14)
        assert tangent.requires_grad == requires_grad  # reverse over forward
    # forward over forward: the second derivative 6 x u v
    u = t([0.3, 0.2, -1.0])
    _, second = jvp(lambda a: jvp(Cube.apply, (a,), (v,))[1], (x,), (u,))
    np.testing.assert_allclose(second.data, 6 * x.data * u.data * v.data, rtol=1e-13)
    with fwAD.dual_level():
        with pytest.raises(NotImplementedError, match="Opaque has no jvp, and its backward"):
            Opaque.apply(fwAD.make_dual(x, v))


def test_function_returning_an_input_keeps_that_input_tangent():
    class Pass(dlpy.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            ctx.mark_non_differentiable(y)
            return x * 2, y

        @staticmethod
        def jvp(ctx, t_x, t_y):
            return t_x * 2, t_y * 7

    with fwAD.dual_level():
        x = fwAD.make_dual(t([1.0, 2.0]), t([1.0, 1.0]))
        y = fwAD.make_dual(t([3.0, 4.0]), t([5.0, 5.0]))
        a, b = Pass.apply(x, y)
        assert fwAD.unpack_dual(a).tangent.data.tolist() == [2.0, 2.0]
        assert fwAD.unpack_dual(b).tangent is None  # non-differentiable, as torch
        assert fwAD.unpack_dual(y).tangent.data.tolist() == [5.0, 5.0]  # untouched


def test_function_jvp_errors():
    class Wrong(dlpy.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.data * 2

        @staticmethod
        def jvp(ctx, t_x):
            return t_x[:1]

    with fwAD.dual_level():
        with pytest.raises(RuntimeError, match=r"Wrong.jvp: the tangent of output 0 has shape "
                                               r"\(1,\), the output has shape \(2,\)"):
            Wrong.apply(fwAD.make_dual(t([1.0, 2.0]), t([1.0, 1.0])))
    with pytest.raises(TypeError, match="save_for_forward: can save only Tensors or None, but "
                                        "argument 0 is a float"):
        dlpy.autograd_function.FunctionCtx((True,)).save_for_forward(1.0)


# ----------------------------------------------------------------------------- composition
def _loss(x):
    return (F.sin(x) * x).sum() + F.softmax(x, -1)[0] * x.exp().sum()


def test_forward_over_reverse_gives_hessian_vector_products():
    rng = np.random.default_rng(1)
    x, v = t(rng.standard_normal(4)), t(rng.standard_normal(4))
    _, hv = jvp(grad(_loss), (x,), (v,))
    h = jacrev(jacrev(_loss))(x)
    np.testing.assert_allclose(hv.data, h.data @ v.data, rtol=1e-12)
    np.testing.assert_allclose(hessian(_loss)(x).data, h.data, rtol=1e-12, atol=1e-15)
    # a dual tensor flowing into a recorded graph whose backward runs inside the level
    with fwAD.dual_level():
        leaf = Tensor(x.data, requires_grad=True)
        dual = fwAD.make_dual(leaf, v)
        (g,) = dlpy.autograd.grad(_loss(dual), dual, create_graph=True)
        np.testing.assert_allclose(fwAD.unpack_dual(g).tangent.data, h.data @ v.data,
                                   rtol=1e-12)


def test_forward_over_forward_and_reverse_over_forward():
    rng = np.random.default_rng(2)
    x, u, v = (t(rng.standard_normal(3)) for _ in range(3))
    h = jacrev(jacrev(_loss))(x)

    def directional(y):
        return jvp(_loss, (y,), (v,))[1]

    _, second = jvp(directional, (x,), (u,))
    np.testing.assert_allclose(second.data, u.data @ h.data @ v.data, rtol=1e-12)
    np.testing.assert_allclose(grad(directional)(x).data, h.data @ v.data, rtol=1e-12)


def test_jacfwd_is_vmapped_jvp_and_vmap_of_jvp_is_vectorised():
    rng = np.random.default_rng(3)
    w1, w2 = t(rng.standard_normal((5, 3))), t(rng.standard_normal((2, 5)))

    def mlp(x):
        return F.log_softmax(F.linear(F.gelu(F.linear(x, w1)), w2), -1)

    x = t(rng.standard_normal((4, 3)))
    np.testing.assert_allclose(jacfwd(mlp)(x).data, jacrev(mlp)(x).data, rtol=1e-10,
                               atol=1e-13)
    vs = t(rng.standard_normal((4, 3)))
    loops = dict(dlpy.func_batching.stats["op_loops"])
    batched = vmap(lambda xi, vi: jvp(mlp, (xi,), (vi,))[1])(x, vs)
    for i in range(4):
        np.testing.assert_allclose(batched.data[i], jvp(mlp, (x[i],), (vs[i],))[1].data,
                                   rtol=1e-12)
    assert dlpy.func_batching.stats["op_loops"] == loops
    inside = jvp(vmap(mlp), (x,), (vs,))[1]  # vmap inside the dual level
    np.testing.assert_allclose(inside.data, batched.data, rtol=1e-12)


def test_tangents_go_with_their_tensors_and_the_level():
    x, v = t([1.0, 2.0]), t([3.0, 4.0])
    with fwAD.dual_level() as level:
        assert Op.__call__ is not PLAIN_CALL_SITES["op_call"]
        dual = fwAD.make_dual(x, v)
        y = dual * 2
        assert fwAD.unpack_dual(y).tangent.data.tolist() == [6.0, 8.0]
        assert fwAD.unpack_dual(y.detach()).tangent is None  # as torch
        assert level == 0  # torch's first level
        before = len(fwAD._tables[level])
        for _ in range(100):
            (dual * 3).exp()  # temporaries: their tangents go with them
        assert len(fwAD._tables[level]) == before
    gc.collect()  # (a dispatch subclass an earlier test left keeps its dispatcher until then)
    # outside: nothing swapped (but the meta layer, while an earlier test's meta tensors live)
    from dlpy import autograd_function
    assert [order for order, _ in autograd_function._layers if order != -100] == []
    assert Op.__call__ is PLAIN_CALL_SITES["op_call"] or autograd_function._layers
    assert fwAD.unpack_dual(y) == (y, None)


def test_make_dual_is_differentiable_in_the_primal():
    x = t([1.0, 2.0], requires_grad=True)
    with fwAD.dual_level():
        y = (fwAD.make_dual(x, t([1.0, 0.0])) ** 2).sum()
        y.backward()
    np.testing.assert_allclose(x.grad, [2.0, 4.0])


# ----------------------------------------------------------------------------- errors
def test_errors_as_torch():
    x = t([1.0, 2.0])
    with pytest.raises(RuntimeError, match="make_dual: no dual level is active"):
        fwAD.make_dual(x, x)
    with pytest.raises(RuntimeError, match="exit_dual_level: no dual level"):
        fwAD.exit_dual_level()
    with fwAD.dual_level():
        with pytest.raises(ValueError, match=r"make_dual: the tangent must have the primal's "
                                             r"shape \(2,\), got \(3,\)"):
            fwAD.make_dual(x, t([1.0, 2.0, 3.0]))
        mixed = fwAD.make_dual(x, Tensor(np.ones(2, dtype=np.float32)))  # torch accepts it
        assert fwAD.unpack_dual(mixed).tangent.dtype == np.float64
        with pytest.raises(ValueError, match="make_dual: expected the primal to be floating "
                                             "point or complex, got int64"):
            fwAD.make_dual(Tensor(np.arange(2)), x)
        with pytest.raises(TypeError, match="make_dual: expected the tangent to be a dlpy "
                                            "Tensor, got ndarray"):
            fwAD.make_dual(x, np.ones(2))
        with pytest.raises(RuntimeError, match="already has a tangent"):
            fwAD.make_dual(fwAD.make_dual(x, x), x)
        with pytest.raises(RuntimeError, match="nested forward mode AD is not supported"):
            fwAD.enter_dual_level()
        with pytest.raises(RuntimeError, match="unpack_dual: level must be an active level"):
            fwAD.unpack_dual(x, level=5)  # (torch's RuntimeError)
    with pytest.raises(RuntimeError, match=r"jvp: tangents\[0\] has shape \(3,\), the primal "):
        jvp(F.sin, (x,), (t([1.0, 2.0, 3.0]),))
    with pytest.raises(ValueError, match=r"jvp: primals\[0\] has dtype int64"):
        jvp(F.sin, (Tensor(np.arange(2)),), (x,))
    assert not fwAD.active()


@pytest.mark.parametrize("requires_grad", [False, True])
def test_a_change_through_a_view_reaches_its_bases_tangent(requires_grad):
    # torch's tangents are views of their base's: here the base's tangent takes the view's
    p = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    v = np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])
    w = np.array([2.0, -1.0, 0.5])
    with fwAD.dual_level():
        x = fwAD.make_dual(t(p, requires_grad), t(v))
        y = x * x
        y[1].mul_(t(w))
        y.t()[0].add_(x[0, :2])  # through a view of a view
        y[:, 1:].mul_(3)
        value, tangent = fwAD.unpack_dual(y)
    want = 2 * p * v
    want[1] *= w
    want[:, 0] += v[0, :2]
    want[:, 1:] *= 3
    np.testing.assert_allclose(tangent.data, want, rtol=1e-14)
    assert value.data[1, 1] == -75.0
