"""The JVP rule of each op class for forward mode (``dlpy.forward_ad``): ``RULES[OpClass]``.

A rule is ``rule(op, settings, inputs, tangents, out) -> tangent of out``: ``op`` has just run
forward (its saved state is there), ``settings`` are its settings as they were before the call
(vmap's rules change them), ``tangents`` has one Tensor or None (zero) per input. Rules are
written with dlpy ops, so the tangents they make are recorded, batched under vmap and carry an
outer level's tangents. The families:

- linear ops (a reshape, a sum, padding, a convolution in one of its inputs): the same op, with
  the same settings, applied to the tangent;  multilinear ones (mul, matmul, einsum, conv): the
  sum over the inputs of the op with that input replaced by its tangent;
- element-wise ops of one input: the Jacobian is diagonal, so J t = J^T t: the op's own
  ``backward_graph`` with t as the output gradient;
- reductions and losses whose outputs each depend on their own group of inputs: J t = the sum
  over each group of (J^T 1) * t, one ``backward_graph`` with ones;
- the rest (softmax, the norms, attention, selections) by their formulas.
"""

from __future__ import annotations

import numpy as np

from dlpy import forward_ad as _fw
from dlpy.forward_ad import batched, double_vjp, fresh, zeros_like
from dlpy.ops import (
    activation,
    activation_more,
    arithmetic,
    attention,
    conv,
    cumulative,
    einsum,
    embedding,
    fold,
    indexing,
    loss,
    mask,
    multi_output,
    norm,
    pad,
    pointwise,
    rearrange,
    reduce,
    shape,
    softmax,
    special,
    special_more,
)
from dlpy.ops.linalg import Diagonal
from dlpy.ops.matmul import Linear, MatMul
from dlpy.ops.rearrange import expand
from dlpy.tensor import Tensor, _checked_graph_grads, enable_grad

RULES: dict[type, object] = {}


def _rule(*classes):
    def register(rule):
        for cls in classes:
            RULES[cls] = rule
        return rule

    return register


def _graph_grads(op, inputs, tangents, grad_output, out) -> list:
    """op's ``backward_graph`` at ``grad_output``, summed to each input's shape, for the inputs
    with a tangent (through stand-ins requiring gradients, as backward_graph skips the others)."""
    stand_ins = _fw.stand_ins_for(inputs, tangents)
    had = op.__dict__.get("inputs")
    op.inputs = stand_ins
    try:
        with enable_grad():
            return _checked_graph_grads(op, grad_output, out)
    finally:
        if had is None:
            del op.inputs
        else:
            op.inputs = had


def _broadcast(t: Tensor, out) -> Tensor:
    """A tangent at out's shape (an input that numpy broadcast)."""
    return t if t.shape == out.shape else expand(t, out.shape)


def _total(terms: list, out) -> Tensor:
    terms = [t for t in terms if t is not None]
    if not terms:
        return zeros_like(out)
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return _broadcast(total, out)


# ----------------------------------------------------------------------------- linear
@_rule(arithmetic.Identity, arithmetic.Cast, reduce.Sum, reduce.Mean, shape.Reshape,
       shape.Transpose, shape.GetItem, shape.IndexAdd, rearrange.Expand, rearrange.Repeat,
       rearrange.Flip, rearrange.Roll, rearrange.Triangle, rearrange.SlidingWindows,
       conv.AvgPool1d, conv.AvgPool2d, conv.AvgPool3d, conv.MaxUnpool1d, conv.MaxUnpool2d,
       conv.MaxUnpool3d, mask.Dropout, indexing.Gather, indexing.IndexSelect,
       embedding.Embedding, cumulative.CumSum, fold.Fold, fold.Unfold,
       arithmetic.Neg, multi_output.Outputs, Diagonal)
def _linear(op, settings, inputs, tangents, out):
    """A linear op of one differentiable input: the same op on the tangent (a selection picks
    the tangent's elements: the double-vjp's zeros times a nan or infinite one elsewhere gave
    nan)."""
    return fresh(op, settings)(tangents[0])


@_rule(pad.Pad)
def _pad(op, settings, inputs, tangents, out):
    return fresh(op, dict(settings, value=0.0))(tangents[0])  # the padding value is constant


@_rule(shape.Concat, shape.Stack, mask.Where, indexing.ScatterAdd)
def _jointly_linear(op, settings, inputs, tangents, out):
    """Linear in all inputs together: the op on the tangents (zeros for the missing)."""
    return fresh(op, settings)(*[zeros_like(x) if t is None else t
                                 for x, t in zip(inputs, tangents)])


@_rule(arithmetic.Add)
def _add(op, settings, inputs, tangents, out):
    return _total(tangents, out)


@_rule(arithmetic.Sub)
def _sub(op, settings, inputs, tangents, out):
    t_a, t_b = tangents
    return _total([t_a, None if t_b is None else -t_b], out)


def _multilinear(op, settings, inputs, tangents, out, count=None):
    """sum_i op(x_1, .., t_i, .., x_n) over the first ``count`` inputs (all by default)."""
    n = len(inputs) if count is None else count
    terms = []
    for i in range(n):
        if tangents[i] is not None:
            args = list(inputs[:n])
            args[i] = tangents[i]
            terms.append(fresh(op, settings)(*args))
    return _total(terms, out)


@_rule(arithmetic.Mul, MatMul, einsum.Einsum)
def _product(op, settings, inputs, tangents, out):
    return _multilinear(op, settings, inputs, tangents, out)


@_rule(arithmetic.Div)
def _div(op, settings, inputs, tangents, out):
    """d(a / b) = (da - out db) / b."""
    (_, b), (t_a, t_b) = inputs, tangents
    top = _total([t_a, None if t_b is None else -(out * t_b)], out)
    return top / b


@_rule(Linear)
def _affine(op, settings, inputs, tangents, out):
    """x @ w^T + b: bilinear in (x, w), plus the bias's tangent."""
    y = _multilinear(op, settings, inputs, tangents, out, count=2)
    if len(inputs) == 3 and tangents[2] is not None:
        y = y + tangents[2]
    return y


@_rule(conv.Conv1d, conv.Conv2d, conv.Conv3d, conv.ConvTranspose1d, conv.ConvTranspose2d,
       conv.ConvTranspose3d)
def _convolution(op, settings, inputs, tangents, out):
    """Bilinear in (x, weight), plus the bias's tangent on the channel axis."""
    y = _multilinear(op, settings, inputs, tangents, out, count=2)
    if len(inputs) == 3 and tangents[2] is not None:
        t_b = tangents[2]
        y = y + t_b.reshape(t_b.shape + (1,) * (out.ndim - 2))
    return y


# ----------------------------------------------------------------------------- element-wise
_POINTWISE = (
    arithmetic.Exp, arithmetic.Log, arithmetic.Sqrt, arithmetic.Power,
    pointwise.Sin, pointwise.Cos, pointwise.Tan, pointwise.Asin, pointwise.Acos, pointwise.Atan,
    pointwise.Asinh, pointwise.Acosh, pointwise.Atanh, pointwise.Sinh, pointwise.Cosh,
    pointwise.Erf, pointwise.Log1p, pointwise.Expm1, pointwise.Exp2, pointwise.Step,
    pointwise.Logit,
    activation.ReLU, activation.Sigmoid, activation.Tanh, activation.GELU, activation.GELUTanh,
    activation.SiLU, activation.LeakyReLU, activation.ELU, activation.Softplus,
    activation.Clamp, activation_more.ScaledELU, activation_more.Mish,
    activation_more.Hardswish, activation_more.Hardsigmoid,
    activation_more.LogSigmoid, activation_more.Threshold, activation_more.Tanhshrink,
    activation_more.Shrink, special.Lgamma, special.Digamma, special.Erfinv,
)  # (special_more's functions have no backward_graph: their slopes are below)


@_rule(*_POINTWISE)
def _pointwise(op, settings, inputs, tangents, out):
    """A diagonal Jacobian is its own transpose: J t = backward_graph(t)."""
    (t,) = tangents
    if batched(inputs):  # op saved the whole batch's state: run a fresh one on the batch
        from dlpy.func_batching import from_physical, to_physical

        x, t = to_physical(inputs[0]), to_physical(t)
        run = fresh(op, settings)
        return from_physical(_graph_grads(run, (x,), [t], t, run(x))[0])
    return _graph_grads(op, inputs, tangents, t, out)[0]


@_rule(arithmetic.Abs)
def _abs(op, settings, inputs, tangents, out):
    """|z| of a complex z is not holomorphic: d|z| = Re(conj(sgn z) t) (the pointwise rule's
    sgn(z) t turned the tangent's phase the other way); a real x's is the pointwise rule's."""
    x = inputs[0]
    if x.dtype.kind != "c":
        return _pointwise(op, settings, inputs, tangents, out)
    from dlpy.ops.complex import sgn

    return (sgn(x).conj() * tangents[0]).real


def _special_slope(op, x, y):
    """dy/dx of special_more's element-wise functions of x (y = out), with dlpy ops so a
    tangent of the slope (forward over forward, reverse over forward) follows."""
    from dlpy.ops.pointwise import i0, sign

    sm, kind = special_more, type(op)
    if kind is sm.Erfcx:
        return 2 * x * y - 2 * sm._INV_SQRT_PI
    if kind is sm.Ndtr:
        return (-0.5 * x * x).exp() / sm._SQRT_2PI
    if kind is sm.Ndtri:
        return (0.5 * y * y).exp() * sm._SQRT_2PI
    if kind is sm.LogNdtr:
        return (-(y + 0.5 * x * x)).exp() / sm._SQRT_2PI
    if kind is sm.Entr:
        return -(x.log() + 1)
    if kind is sm.I0e:
        return sm.i1e(x) - sign(x) * y
    zero = x.data == 0  # I1, I1e: 1/2 at x = 0, where y / x is 0 / 0
    safe = mask.where(zero, 1.0, x)
    if kind is sm.I1:
        slope = i0(x) - y / safe
    else:
        slope = sm.i0e(x) - y * (sign(x) + 1 / safe)
    return mask.where(zero, 0.5, slope)


@_rule(special_more.Erfcx, special_more.I0e, special_more.I1, special_more.I1e,
       special_more.Ndtr, special_more.Ndtri, special_more.LogNdtr, special_more.Entr)
def _special(op, settings, inputs, tangents, out):
    """A diagonal Jacobian: t times the slope (the op's backward formula, in dlpy ops)."""
    if batched(inputs):  # the slope's masks read x's values: one sample at a time
        from dlpy.func_batching import Unbatchable

        raise Unbatchable(f"forward_ad: {type(op).__name__}'s rule for a batched input")
    (x,), (t,) = inputs, tangents
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # inf/nan as torch
        return t * _special_slope(op, x if isinstance(x, Tensor) else Tensor(x), out)


@_rule(pointwise.Maximum, pointwise.Atan2, special.Xlogy)
def _pointwise_binary(op, settings, inputs, tangents, out):
    """Two inputs, each with a diagonal Jacobian (at the broadcast shape): backward_graph with
    each tangent as the output gradient, that input's part."""
    if batched(inputs):
        return double_vjp(op, settings, inputs, tangents, out)
    had = op.__dict__.get("inputs")
    op.inputs = _fw.stand_ins_for(inputs, [True] * len(inputs))
    terms = []
    try:
        with enable_grad():
            for i, t in enumerate(tangents):
                if t is not None:
                    terms.append(op.backward_graph(_broadcast(t, out), out)[i])
    finally:
        if had is None:
            del op.inputs
        else:
            op.inputs = had
    return _total(terms, out)


# ----------------------------------------------------------------------------- reductions
def _gradient_dot(axes_of):
    """Outputs that each depend on their own group of input positions (a reduction, a loss):
    J t = the sum over each group of (J^T 1) * t, ``axes_of(op, settings, out)`` giving
    (the axes the groups run along, keepdims)."""

    def rule(op, settings, inputs, tangents, out):
        if batched(inputs):
            return double_vjp(op, settings, inputs, tangents, out)
        ones = Tensor(np.ones(out.shape, dtype=out.dtype))
        grads = _graph_grads(op, inputs, tangents, ones, out)
        axes, keepdims = axes_of(op, settings, out)
        terms = []
        for g, t in zip(grads, tangents):
            if t is not None and g is not None:
                # a complex input's gradient is conjugate (torch's convention): conj(g) t, its
                # real part for a real output (a norm, a loss of |z|)
                product = g.conj() * t if g.dtype.kind == "c" else g * t
                if product.dtype.kind == "c" and out.dtype.kind != "c":
                    product = product.real
                if axes is None:
                    terms.append(product.sum().reshape(out.shape))
                elif axes:
                    terms.append(product.sum(axes, keepdims=keepdims))
                else:
                    terms.append(product)
        total = _total(terms, out)
        if _normalized_over_nothing(op, settings, inputs[0], axes):
            # torch's tangent divides by the sum it normalises by (the count, the sum of
            # exponentials, 2 std): 0 / 0 over no elements, nan as the value
            total = total + float("nan")
        return total

    return rule


def _normalized_over_nothing(op, settings, x, axes) -> bool:
    """Whether ``op`` normalises each group by a quantity of its elements (a mean-reduced
    loss, std, logsumexp) and the groups are empty."""
    if not (isinstance(op, (reduce.Std, reduce.LogSumExp))
            or settings.get("reduction") == "mean"):
        return False
    shape = x.shape
    return not int(np.prod(shape if axes is None else [shape[a] for a in axes]))


def _reduced_axes(op, settings, out):
    return settings["axes"], settings["keepdims"]


def _loss_axes(op, settings, out):
    """A reduced loss: everything; reduction="none": the class axis (cross entropy) or none."""
    if settings.get("reduction", "none") != "none":
        return None, False
    return ((-1,) if isinstance(op, loss.SoftmaxCrossEntropy) else ()), False


RULES.update({cls: _gradient_dot(_reduced_axes) for cls in (
    reduce.LogSumExp, reduce.Var, reduce.Std, reduce.Norm)})


@_rule(reduce.Max, reduce.Min)
def _extremum(op, settings, inputs, tangents, out):
    """The tangent at the positions reaching the max (min), shared among ties as the gradient:
    picked by where, not weighted by the gradient's zeros (an infinite tangent at another
    position gave nan; torch's amax gives the max's own)."""
    if batched(inputs):
        return double_vjp(op, settings, inputs, tangents, out)
    axes, keepdims = settings["axes"], settings["keepdims"]
    reached = op.mask  # (forward's, at x's shape)
    count = reached.sum(axis=axes, keepdims=keepdims)
    if settings.get("nan_share"):  # torch.max(x), all of it: torch's multiplies by the mask
        picked = tangents[0] * reached
    else:
        picked = mask.where(reached, tangents[0], 0.0)
    total = picked.sum() if axes is None and not keepdims else picked.sum(
        axes if axes is not None else tuple(range(reached.ndim)), keepdims=keepdims)
    return total / count
RULES.update({cls: _gradient_dot(_loss_axes) for cls in (
    loss.SoftmaxCrossEntropy, loss.BCEWithLogits, loss.BinaryCrossEntropy, loss.MSELoss)})
RULES[reduce.SumOfSquares] = _gradient_dot(lambda op, settings, out: (None, False))


@_rule(conv.MaxPool1d, conv.MaxPool2d, conv.MaxPool3d, reduce.Median, cumulative.CumProd,
       cumulative.Prod)
def _selection(op, settings, inputs, tangents, out):
    """Selections and products: the double-vjp through the op's own backward_graph (a gather
    of the tangent at the chosen positions for the pools)."""
    return double_vjp(op, settings, inputs, tangents, out)


@_rule(cumulative.LogCumSumExp)
def _logcumsumexp(op, settings, inputs, tangents, out):
    """cumsum(exp(x - m) t) / cumsum(exp(x - m)), m the max along dim (torch's formula)."""
    dim = settings["dim"]
    weights = (inputs[0] - inputs[0].detach().amax(dim, keepdims=True)).exp()
    return (weights * tangents[0]).cumsum(dim) / weights.cumsum(dim)


# ----------------------------------------------------------------------------- softmax
@_rule(softmax.Softmax)
def _softmax(op, settings, inputs, tangents, out):
    """s * (t - sum(s * t))."""
    (t,), axis = tangents, settings["axis"]
    return out * (t - (out * t).sum(axis, keepdims=True))


@_rule(softmax.LogSoftmax)
def _log_softmax(op, settings, inputs, tangents, out):
    """t - sum(softmax * t)."""
    (t,), axis = tangents, settings["axis"]
    return t - (out.exp() * t).sum(axis, keepdims=True)


# ----------------------------------------------------------------------------- norms
def _normalized(x, t, axes, eps, centred=True):
    """(xhat, its tangent) for xhat = (x - mean) / sqrt(var + eps) over ``axes`` (without the
    centring: x / sqrt(mean(x^2) + eps), RMS norm). The Jacobian is symmetric:
    dxhat = (t - mean(t) - xhat mean(xhat t)) / std."""
    if centred:
        x = x - x.mean(axes, keepdims=True)
    inv_std = ((x * x).mean(axes, keepdims=True) + eps) ** -0.5
    xhat = x * inv_std
    if t is None:
        return xhat, None
    if centred:
        t = t - t.mean(axes, keepdims=True)
    return xhat, (t - xhat * (xhat * t).mean(axes, keepdims=True)) * inv_std


def _affine_tangent(xhat, t_xhat, weight, t_weight, t_bias, shape=None):
    """d(xhat * w + b) with w, b (reshaped to ``shape``) broadcast over xhat."""
    def view(p):
        return p if p is None or shape is None else p.reshape(shape)

    terms = []
    if t_xhat is not None:
        terms.append(t_xhat if weight is None else t_xhat * view(weight))
    if t_weight is not None:
        terms.append(xhat * view(t_weight))
    if t_bias is not None:
        terms.append(_broadcast(view(t_bias), xhat))
    return _total(terms, xhat)


@_rule(norm.LayerNorm)
def _layer_norm(op, settings, inputs, tangents, out):
    xhat, t_xhat = _normalized(inputs[0], tangents[0], -1, settings["eps"])
    weight = inputs[1] if len(inputs) > 1 else None
    t_w = tangents[1] if len(inputs) > 1 else None
    t_b = tangents[2] if len(inputs) > 2 else None
    return _affine_tangent(xhat, t_xhat, weight, t_w, t_b)


@_rule(norm.RMSNorm)
def _rms_norm(op, settings, inputs, tangents, out):
    x = inputs[0]
    axes = tuple(range(x.ndim - settings["num_axes"], x.ndim))
    xhat, t_xhat = _normalized(x, tangents[0], axes, settings["eps"], centred=False)
    weight = inputs[1] if len(inputs) > 1 else None
    return _affine_tangent(xhat, t_xhat, weight, tangents[1] if len(inputs) > 1 else None,
                           None)


def _affine_inputs(settings, inputs, tangents):
    """(weight, its tangent, the bias's tangent) of a norm whose inputs are x [, w] [, b]."""
    weight = inputs[1] if settings["has_weight"] else None
    t_w = tangents[1] if settings["has_weight"] else None
    t_b = tangents[-1] if settings["has_bias"] else None
    return weight, t_w, t_b


@_rule(norm.BatchNorm)
def _batch_norm(op, settings, inputs, tangents, out):
    x, t = inputs[0], tangents[0]
    axes, shape = (0, *range(2, x.ndim)), (1, -1) + (1,) * (x.ndim - 2)
    if settings["training"]:
        xhat, t_xhat = _normalized(x, t, axes, settings["eps"])
    else:  # the running statistics are constants: affine in x
        inv_std = Tensor((1.0 / np.sqrt(settings["running_var"] + settings["eps"]))
                         .astype(x.dtype).reshape(shape))
        xhat = (x - Tensor(settings["running_mean"].reshape(shape))) * inv_std
        t_xhat = None if t is None else t * inv_std
    weight, t_w, t_b = _affine_inputs(settings, inputs, tangents)
    return _affine_tangent(xhat, t_xhat, weight, t_w, t_b, shape)


@_rule(norm.GroupNorm)
def _group_norm(op, settings, inputs, tangents, out):
    x, t = inputs[0], tangents[0]
    groups = (x.shape[0], settings["num_groups"], -1)
    grouped = x.reshape(groups)
    xhat, t_xhat = _normalized(grouped, None if t is None else t.reshape(groups), -1,
                               settings["eps"])
    xhat = xhat.reshape(x.shape)
    t_xhat = None if t_xhat is None else t_xhat.reshape(x.shape)
    weight, t_w, t_b = _affine_inputs(settings, inputs, tangents)
    return _affine_tangent(xhat, t_xhat, weight, t_w, t_b, (1, -1) + (1,) * (x.ndim - 2))


# ----------------------------------------------------------------------------- attention
def _attention_tangent(scores, t_scores, v, t_v, keep=None):
    """out = P v, P = softmax(scores) (times the dropout ``keep``):
    dout = (P * (dS - sum(P * dS))) v + P dv."""
    from dlpy.ops.matmul import matmul

    dead = np.isneginf(scores.data) if not batched((scores,)) else None
    if dead is not None and dead.any():  # -inf: a large finite number, a dead row's P is 0
        scores = mask.where(dead, np.finfo(scores.dtype).min / 2, scores)
        p = softmax.softmax(scores, -1) * Tensor(~dead.all(axis=-1, keepdims=True))
    else:
        p = softmax.softmax(scores, -1)
    terms = []
    if t_scores is not None:
        dp = p * (t_scores - (p * t_scores).sum(-1, keepdims=True))
        terms.append(matmul(dp if keep is None else dp * keep, v))
    if t_v is not None:
        terms.append(matmul(p if keep is None else p * keep, t_v))
    return terms


@_rule(attention.ScoresAttention)
def _scores_attention(op, settings, inputs, tangents, out):
    scores = inputs[0]
    if settings["mask"] is not None:
        scores = scores + settings["mask"]
    return _total(_attention_tangent(scores, tangents[0], inputs[1], tangents[1]), out)


@_rule(attention.Attention)
def _attention(op, settings, inputs, tangents, out):
    """Scores q k^T * scale (+ mask), with dS = (dq k^T + q dk^T) * scale; the head layouts
    (num_heads, packed) by the double-vjp."""
    from dlpy.ops.matmul import matmul
    from dlpy.ops.shape import swapaxes

    if settings["num_heads"] is not None or settings["packed"]:
        return double_vjp(op, settings, inputs, tangents, out)
    (q, k, v), (t_q, t_k, t_v) = inputs, tangents
    scale = settings["scale"]
    scores = matmul(q, swapaxes(k, -1, -2)) * scale
    if settings["mask"] is not None:
        scores = scores + settings["mask"]
    terms = []
    if t_q is not None:
        terms.append(matmul(t_q, swapaxes(k, -1, -2)) * scale)
    if t_k is not None:
        terms.append(matmul(q, swapaxes(t_k, -1, -2)) * scale)
    t_scores = _total(terms, scores) if terms else None
    keep = settings["keep"]
    keep = None if keep is None else Tensor(np.asarray(keep, dtype=out.dtype))
    return _total(_attention_tangent(scores, t_scores, v, t_v, keep), out)
