"""Higher-order gradients, wave 2: backward_graph of the losses, the further activations, batch
and RMS norm, indexing, cumulative ops, rearranging, padding, einsum, attention, embedding and
linear algebra; autograd.Function and checkpoint under create_graph. Each op is checked as in
test_higher_order.py (its recorded gradient equals backward's, and the gradient's gradcheck as
a function of the input and the vector); PyTorch's values are in
tests/fixtures/higher_order/higher_order_more.npz (make_higher_order_more_fixtures.py)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from second_order import check_second_order, first_gradient

import dlpy.functional as F
import dlpy.linalg as LA
from dlpy import Tensor, nn
from dlpy.autograd import Function, grad, once_differentiable
from dlpy.ops.attention import attention, packed_attention
from dlpy.tensor import Op
from dlpy.testing import gradcheck
from dlpy.utils.checkpoint import checkpoint

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "higher_order" / "higher_order_more.npz"


TARGETS = np.array([[0.0, 1.0, 0.3], [1.0, 0.5, 0.0]])
ZEROS = np.array([[0.5, 0.0, 2.0, 0.0, 1.5], [1.2, -0.7, 0.0, 0.9, 0.4],
                  [0.8, 1.1, -1.3, 0.6, 2.0]])
INDEX = np.array([[0, 2, 2], [1, 0, 1]])
SHIFT = 3 * np.eye(3)  # keeps random matrices well away from singular
# op -> (function, input shapes[, low]), as test_higher_order.OPS
OPS = {
    "BCEWithLogits": (lambda a: F.binary_cross_entropy_with_logits(a * a, TARGETS), (2, 3)),
    "BCEWithLogitsOptions": (lambda a: F.binary_cross_entropy_with_logits(
        a * 2, TARGETS, reduction="none", weight=np.array([1.0, 0.5, 2.0]),
        pos_weight=np.array([[3.0], [0.5]])), (2, 3)),
    "BCEWithLogitsSum": (lambda a: F.binary_cross_entropy_with_logits(
        a, TARGETS, reduction="sum", pos_weight=np.array([2.0, 1.0, 0.5])), (2, 3)),
    "BinaryCrossEntropy": (lambda a, t: F.binary_cross_entropy(a.sigmoid(), t.sigmoid(),
                                                               weight=np.array([1.0, 2.0, 0.5])),
                           (2, 3), (2, 3)),
    "BinaryCrossEntropyNone": (lambda a: F.binary_cross_entropy(a.sigmoid(), TARGETS,
                                                                reduction="none"), (2, 3)),
    "nll_loss": (lambda a: F.nll_loss(F.log_softmax(a, dim=1), np.array([0, 2])), (2, 3)),
    "smooth_l1": (lambda a, b: F.smooth_l1_loss(a * a, b, beta=0.5) + F.huber_loss(a, b * b),
                  (2, 3), (2, 3)),
    "kl_div": (lambda a, b: F.kl_div(F.log_softmax(a, dim=1), F.softmax(b, dim=1),
                                     reduction="batchmean"), (2, 3), (2, 3)),
    "margin_losses": (lambda a, b: F.margin_ranking_loss(a, b, np.array([1.0, -1.0, 1.0]))
                      + F.soft_margin_loss(a * b, np.array([1.0, -1.0, 1.0])), (3,), (3,)),
    "PReLU": (lambda x, w: F.prelu(x, w) * x, (2, 3, 2), (3,)),
    "PReLUOne": (lambda x, w: F.prelu(x * x, w) * x, (4,), (1,)),
    "SELU": (lambda a: F.selu(a), (6,)),
    "CELU": (lambda a: F.celu(a, 0.7), (6,)),
    "Mish": (lambda a: F.mish(a * 3), (6,)),
    "Hardswish": (lambda a: F.hardswish(a * 3) * a, (6,)),
    "Hardsigmoid": (lambda a: F.hardsigmoid(a * 3) * a, (6,)),
    "Softsign": (lambda a: F.softsign(a), (6,)),
    "LogSigmoid": (lambda a: F.logsigmoid(a * 3), (6,)),
    "GLU": (lambda a: F.glu(a * a, dim=1), (2, 4, 3)),
    "Threshold": (lambda a: F.threshold(a, 0.1, 2.0) * a, (6,)),
    "Tanhshrink": (lambda a: F.tanhshrink(a), (6,)),
    "Shrink": (lambda a: (F.softshrink(a, 0.3) + F.hardshrink(a, 0.3)) * a, (6,)),
    "BatchNorm": (lambda x, w, b: F.batch_norm(x * x, None, None, w, b, training=True),
                  (3, 2, 4), (2,), (2,)),
    "BatchNormPlain": (lambda x: F.batch_norm(x, None, None, training=True, eps=1e-3), (4, 3)),
    "BatchNormEval": (lambda x, w: F.batch_norm(x * x, np.array([0.1, -0.2]),
                                                np.array([1.5, 0.7]), w), (2, 2, 3), (2,)),
    "RMSNorm": (lambda x, w: F.rms_norm(x * x, 4, w), (2, 3, 4), (4,)),
    "RMSNormTwoAxes": (lambda x: F.rms_norm(x, (3, 4), eps=1e-3), (2, 3, 4)),
    "Gather": (lambda a: F.gather(a * a, 1, INDEX) * a[:, :3], (2, 4)),
    "take_along_dim": (lambda a: F.take_along_dim(a * a, np.array([[2], [0]]), 1), (2, 3)),
    "sort_topk": (lambda a: F.sort(a * a, dim=0).values + F.topk(a, 3, dim=0).values, (3, 2)),
    "IndexSelect": (lambda a: F.index_select(a * a, 1, np.array([2, 0, 2])), (2, 3)),
    "repeat_interleave": (lambda a: F.repeat_interleave(a * a, 2, dim=0), (2, 3)),
    "ScatterAdd": (lambda x, s: F.scatter_add(x * x, 1, INDEX, s * s), (2, 4), (2, 3)),
    "ScatterAddLargerSrc": (lambda x, s: F.scatter_add(x, 1, INDEX[:, :2], s * s * x), (2, 4),
                            (2, 4)),
    "Scatter": (lambda x, s: F.scatter(x * x, 1, INDEX[:, :1], s * x[:, :2]) * x, (2, 4),
                (2, 2)),
    "ScatterValue": (lambda x: F.scatter(x * x, 0, np.array([[1, 0]]), value=3.0) * x, (2, 2)),
    "CumSum": (lambda a: F.cumsum(a * a, 1) * a, (2, 3)),
    "CumProd": (lambda a: F.cumprod(a, 0) + F.cumprod(a, 1), (3, 4)),
    "Prod": (lambda a: F.prod(a, 1) + F.prod(a * a) + F.prod(a, 0, keepdim=True).sum(), (3, 4)),
    "diff": (lambda a: F.diff(a * a, n=2, dim=1), (2, 5)),
    "Repeat": (lambda a: (a * a).repeat(2, 1, 3) * 2, (2, 3)),
    "Flip": (lambda a: F.flip(a * a, (0, 1)) * a, (2, 3)),
    "Roll": (lambda a: F.roll(a * a, (1, -2), (0, 1)) * a + F.roll(a * a, 1) * a, (2, 3)),
    "Triangle": (lambda a: F.tril(a * a, -1) * a + F.triu(a * a, 1), (3, 4)),
    "PadConstant": (lambda a: F.pad(a * a, (1, -1, 2, 0), value=0.5) * 2, (2, 3)),
    "PadReflect": (lambda a: F.pad(a * a, (2, 1), mode="reflect"), (2, 4)),
    "PadReplicate": (lambda a: F.pad(a * a, (2, 0, 1, 1), mode="replicate"), (1, 2, 3)),
    "PadCircular": (lambda a: F.pad(a * a, (1, 3), mode="circular"), (2, 3)),
    "Einsum": (lambda a, b: F.einsum("bij,jk->bik", a * a, b), (2, 2, 3), (3, 2)),
    "EinsumThree": (lambda a, b, c: F.einsum("ij,j,jk->k", a, b * b, c), (2, 3), (3,), (3, 2)),
    "EinsumDiagonal": (lambda a, b: F.einsum("ii,i->i", a * a, b) + F.einsum("ijj->", a[None]),
                       (3, 3), (3,)),
    "EinsumSummedAndBroadcast": (lambda a, b: F.einsum("...ij,...jk->...i", a, b * b),
                                 (2, 1, 2, 3), (3, 3, 2)),
    "Attention": (lambda q, k, v: F.scaled_dot_product_attention(q * q, k, v), (2, 3, 2),
                  (2, 4, 2), (1, 4, 3)),
    "AttentionCausalMask": (lambda q, k, v: F.scaled_dot_product_attention(
        q, k, v * v, is_causal=True), (3, 2), (3, 2), (3, 2)),
    "AttentionFullyMaskedRow": (lambda q, k, v: F.scaled_dot_product_attention(
        q, k, v, mask=np.array([[False, True, False], [True, True, True]])), (2, 2), (3, 2),
        (3, 2)),
    "AttentionHeads": (lambda q, k, v: attention(q, k * k, v, num_heads=2,
                                                   mask=np.array([[0.0, -0.5, 1.0]])),
                       (2, 2, 4), (2, 3, 4), (2, 3, 2)),
    "AttentionPacked": (lambda qkv: packed_attention(qkv * qkv, 2), (2, 3, 12)),
    "AttentionDropout": (lambda q, k, v: attention(q, k, v, dropout_p=0.5,
                                                     rng=np.random.default_rng(3)),
                         (3, 2), (3, 2), (3, 2)),
    "Embedding": (lambda w: F.embedding(np.array([[0, 2], [2, 3]]), w * w) * w[:2],
                  (4, 2)),
    "Inv": (lambda a: LA.inv(a + SHIFT) * a, (2, 3, 3)),
    "Det": (lambda a: LA.det(a * a + SHIFT), (2, 3, 3)),
    "Solve": (lambda a, b: LA.solve(a + SHIFT, b * b), (2, 3, 3), (3, 2)),
    "SolveVector": (lambda a, b: LA.solve(a + SHIFT, b), (2, 3, 3), (2, 3)),
    "Cholesky": (lambda a: LA.cholesky(a @ a.T + SHIFT), (3, 3)),
    "slogdet": (lambda a: LA.slogdet(a * a + SHIFT)[1], (2, 3, 3)),
    "Diagonal": (lambda a: F.diagonal(a * a, 1, 0, 2) + F.trace(a[0]), (3, 2, 4)),
    "DiagEmbed": (lambda a: F.diag_embed(a * a, -1, 0, 2) * a[0, 0], (2, 3)),
    "EmbeddingPadding": (lambda w: F.embedding(np.array([0, 2, 2, 1]), w * w, padding_idx=2,
                                               sparse=True), (3, 2)),
}


def _run(name, table):
    fn, *shapes = table[name]
    low = shapes.pop() if not isinstance(shapes[-1], tuple) else None
    check_second_order(fn, *shapes, low=low)


@pytest.mark.parametrize("name", list(OPS))
def test_second_derivatives_match_finite_differences(name):
    _run(name, OPS)


def test_cumprod_and_prod_with_zeros():
    """Zeros take the exact branches: the products without the first zero."""
    x = Tensor(ZEROS, requires_grad=True)
    for fn in (lambda a: F.cumprod(a, 1), lambda a: F.cumprod(a.T, 0), lambda a: F.prod(a, 1),
               lambda a: F.prod(a) * 1e-3):
        out = fn(x)
        v = Tensor(np.random.default_rng(0).standard_normal(out.shape), requires_grad=True)
        expected = grad(out, x, grad_outputs=v)[0].data.reshape(-1)
        np.testing.assert_allclose(first_gradient(fn)(x, v).data, expected, rtol=1e-12)
        assert gradcheck(first_gradient(fn), x, v, atol=1e-6, rtol=1e-5)


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files}


def critic(x, w1, b1, w2, b2):
    return F.linear(F.mish(F.linear(x, w1, b1)), w2, b2)


def test_wgan_gp_critic_loss_with_bce_with_logits_matches_torch(ref):
    weights = [Tensor(ref[f"gp:{k}"], requires_grad=True) for k in ("w1", "b1", "w2", "b2")]
    mix = ref["gp:mix"]
    mixed = Tensor(mix * ref["gp:real"] + (1 - mix) * ref["gp:fake"], requires_grad=True)
    (dx,) = grad(critic(mixed, *weights).sum(), mixed, create_graph=True)
    penalty = ((dx.norm(dim=1) - 1) ** 2).mean()
    loss = (F.binary_cross_entropy_with_logits(critic(Tensor(ref["gp:real"]), *weights),
                                               np.ones((4, 1)))
            + F.binary_cross_entropy_with_logits(critic(Tensor(ref["gp:fake"]), *weights),
                                                 np.zeros((4, 1)))
            + 10.0 * penalty)
    np.testing.assert_allclose(loss.data, ref["gp:loss"], rtol=1e-14)
    for name, g in zip(("w1", "b1", "w2", "b2"), grad(loss, weights)):
        np.testing.assert_allclose(g.data, ref[f"gp:grad_{name}"], rtol=1e-12, err_msg=name)


PADDING = np.array([[False, False, False, True], [False, False, False, False]])


def test_hessian_vector_product_through_a_transformer_encoder_layer_matches_torch(ref):
    layer = nn.TransformerEncoderLayer(4, 2, dim_feedforward=6, dropout=0.0, activation="gelu",
                                       dtype=np.float64, batch_first=True)
    layer.load_state_dict({name: ref[f"transformer:param:{name}"]
                           for name, _ in layer.named_parameters()})
    names, params = zip(*layer.named_parameters())
    x, w = Tensor(ref["transformer:x"], requires_grad=True), Tensor(ref["transformer:w"])
    y = layer(x, src_key_padding_mask=PADDING)
    loss = (y * y * w).sum()
    np.testing.assert_allclose(loss.data, ref["transformer:loss"], rtol=1e-13)
    grads = grad(loss, params, create_graph=True)
    product = sum((g * ref[f"transformer:v:{name}"]).sum() for name, g in zip(names, grads))
    for name, hv in zip(names, grad(product, params, retain_graph=True)):
        np.testing.assert_allclose(hv.data, ref[f"transformer:hvp:{name}"], rtol=1e-10,
                                   atol=1e-12, err_msg=name)
    (dx,) = grad(loss, x, create_graph=True)
    np.testing.assert_allclose(grad((dx * dx).sum(), x)[0].data,
                               ref["transformer:penalty_grad_x"], rtol=1e-10, atol=1e-12)


def test_custom_functions_differentiated_three_times_match_torch(ref):
    spec = importlib.util.spec_from_file_location(
        "_cases_autograd", Path(__file__).resolve().parent / "fixtures" / "cases_autograd.py")
    cases = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cases)
    Exp, _, SinCos = cases.functions(Function)
    x = Tensor(ref["function:x"], requires_grad=True)
    sin, cos = SinCos.apply(x, 1.5)
    y = (Exp.apply(x * x) * ref["function:v"]).sum() + (sin * cos * ref["function:u"]).sum() \
        + (cos ** 2).sum()
    (first,) = grad(y, x, create_graph=True)
    np.testing.assert_allclose(first.data, ref["function:first"], rtol=1e-13)
    (second,) = grad((first * first).sum(), x, create_graph=True)
    np.testing.assert_allclose(second.data, ref["function:second"], rtol=1e-13)
    np.testing.assert_allclose(grad(second.sum(), x)[0].data, ref["function:third"],
                               rtol=1e-12)
    assert gradcheck(first_gradient(lambda a: Exp.apply(a * a) + SinCos.apply(a, 0.5)[1]),
                     x, Tensor(ref["function:v"], requires_grad=True))


class _Cube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * 3 * x ** 2


def test_once_differentiable_gives_values_and_refuses_to_be_differentiated():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (g,) = grad(_Cube.apply(x).sum(), x, create_graph=True)
    np.testing.assert_array_equal(g.data, [3.0, 12.0])  # the value, as torch
    assert not g.requires_grad  # the incoming gradient (ones) needs none: as torch's
    y = _Cube.apply(x)
    (g,) = grad((y * y).sum(), x, create_graph=True)  # an incoming 2y that needs one
    np.testing.assert_array_equal(g.data, [6.0, 192.0])
    assert g.requires_grad
    with pytest.raises(RuntimeError, match="_Cube: trying to differentiate twice a function "
                                           "that was marked with @once_differentiable"):
        grad(g.sum(), x)
    with pytest.raises(RuntimeError, match="trying to differentiate twice"):
        (g * g).sum().backward()
    (g,) = grad(_Cube.apply(x).sum(), x)  # first order: as before
    np.testing.assert_array_equal(g.data, [3.0, 12.0])


def test_a_checkpointed_block_can_be_differentiated_twice():
    rng = np.random.default_rng(0)
    block = nn.Sequential(nn.Linear(3, 4, rng=rng, dtype=np.float64), nn.Tanh(),
                          nn.Linear(4, 2, rng=rng, dtype=np.float64))
    x = Tensor(rng.standard_normal((5, 3)), requires_grad=True)

    def penalty(run):
        (dx,) = grad(run(x).sum(), x, create_graph=True)
        return ((dx.norm(dim=1) - 1) ** 2).mean()

    plain = penalty(block)
    checkpointed = penalty(lambda x: checkpoint(block, x, use_reentrant=False))
    np.testing.assert_allclose(checkpointed.data, plain.data, rtol=1e-14)
    inputs = list(block.parameters())[:3] + [x]  # the last bias does not reach dx
    for got, expected in zip(grad(checkpointed, inputs), grad(plain, inputs)):
        np.testing.assert_allclose(got.data, expected.data, rtol=1e-12)


@pytest.mark.parametrize("name", ["Attention", "CumProd", "Einsum", "GLU", "BatchNorm",
                                  "BCEWithLogitsOptions", "PadReflect"])
def test_third_derivatives_match_finite_differences(name):
    """What the backward_graphs record is differentiable again."""
    fn, *shapes = OPS[name]
    rng = np.random.default_rng(1)
    xs = [Tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]
    v = Tensor(rng.standard_normal(fn(*xs).shape), requires_grad=True)
    first = first_gradient(fn)
    u = Tensor(rng.standard_normal(first(*xs, v).shape))
    assert gradcheck(first_gradient(lambda *args: (first(*args) * u).sum()), *xs, v,
                     Tensor(np.ones(())), atol=1e-5, rtol=1e-4)


class _Twice(Op):
    """y = 2 x, with a first-order backward only."""

    def forward(self, x):
        return 2 * x

    def backward(self, grad_output):
        return (2 * grad_output,)


def test_ops_left_to_others_still_name_themselves():
    # (grid_sample, the op this used, has its backward_graph now)
    x = Tensor(np.random.default_rng(0).standard_normal((1, 2, 3, 3)), requires_grad=True)
    with pytest.raises(NotImplementedError, match="_Twice has no differentiable backward"):
        grad(_Twice()(x).sum() * 1.0, x, create_graph=True)
