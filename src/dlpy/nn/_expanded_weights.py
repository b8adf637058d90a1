"""torch.nn.utils._expanded_weights: ``ExpandedWeight``, the parameter stand-in that
``call_for_per_sample_grads`` (``dlpy.nn._per_sample_grad``) puts in a module for one call, so
backward fills each parameter's ``grad_sample`` (batch, *shape) instead of ``.grad``.

As torch's, an ExpandedWeight is a Tensor subclass on the parameter's values whose
``__torch_function__`` takes the calls it knows, ``F.linear``, ``F.conv1d/2d/3d``,
``F.embedding``, ``F.layer_norm``, ``F.group_norm`` and ``F.instance_norm``, and refuses every
other call given it (RuntimeError "Expanded Weights encountered but cannot handle function
..."). A known call runs with the original weights detached (so ``.grad`` is never touched),
then goes through an autograd Function named as torch's (``LinearPerSampleGradBackward``)
whose backward passes the gradient on to the input unchanged and adds each weight's
per-sample gradient (torch's formulas, computed on the arrays) to ``orig_weight.grad_sample``,
times the batch size under ``loss_reduction="mean"``. torch's argument checks and messages
are kept (batch sizes, inputs without a batch axis, mixed loss reductions, weights that need
gradients but are not ExpandedWeights). Importing this module turns the ``__torch_function__``
dispatch on (it defines an overriding subclass), so dlpy imports it only when asked.
nn.RNN/LSTM/GRU given ExpandedWeights run one op a step instead of their fused ops (nn/rnn.py,
as torch's RNN decompositions): each step's ``F.linear`` comes here and adds its part of every
sample's gradient (a packed batch's in its packed order, as torch's).
"""

from __future__ import annotations

import inspect

import numpy as np

from dlpy import functional as F
from dlpy.autograd_function import Function
from dlpy.overrides import DisableTorchFunctionSubclass
from dlpy.tensor import Tensor

__all__ = ["ExpandedWeight"]


class ExpandedWeight(Tensor):
    """A weight of the batch ``batch_size`` (torch's ExpandedWeight): the known functional
    calls given it record per-sample gradients in ``orig_weight.grad_sample`` on backward."""

    def __new__(cls, orig_weight, batch_size, loss_reduction):
        if not isinstance(orig_weight, Tensor):
            raise RuntimeError("Can only make Expanded Weights of Tensors, got "
                               f"{type(orig_weight).__name__}")
        if not orig_weight.requires_grad:
            raise RuntimeError("Can only build ExpandedWeights objects of tensors that "
                               "requires_grad")
        return Tensor._make_subclass(cls, orig_weight, True)

    def __init__(self, orig_weight, batch_size, loss_reduction) -> None:
        self.batch_size = batch_size
        self.batch_first = True
        self.allow_smaller_batches = False
        self.orig_weight = orig_weight
        self.loss_reduction = loss_reduction

    handled_functions: dict = {}

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        rule = _RULES.get(inspect.unwrap(func))
        if rule is None:
            raise RuntimeError("Expanded Weights encountered but cannot handle function "
                               f"{getattr(func, '__name__', func)}")
        return rule(func, args, kwargs or {})

    # the parameter's own (torch's overrides: these never reach __torch_function__)
    @property
    def dtype(self):
        return self.orig_weight.dtype

    @property
    def data(self):
        return self.orig_weight.data

    @property
    def shape(self):
        return self.orig_weight.shape

    @property
    def device(self):
        return self.orig_weight.device

    @property
    def is_cuda(self):
        return self.orig_weight.is_cuda

    def data_ptr(self):
        return self.orig_weight.data_ptr()

    def get_device(self):
        return self.orig_weight.get_device()

    def set_allow_smaller_batches(self, is_allow_smaller_batches) -> None:
        self.allow_smaller_batches = is_allow_smaller_batches

    def set_batch_first(self, is_batch_first=True) -> None:
        self.batch_first = is_batch_first


# ---------------------------------------------------------------- torch's checks
def _check_and_unexpand(name: str, input, values: list) -> list:  # noqa: A002 - torch's
    """torch's ``_check_and_unexpand_args``: the input's batch axis against every
    ExpandedWeight's batch size and one loss reduction; ``values`` with each ExpandedWeight
    replaced by its original weight, detached."""
    if isinstance(input, ExpandedWeight):
        raise RuntimeError("Expanded Weights do not support inputs that are also ExpandedWeights."
                           f" Input must be a Tensor, got {type(input).__name__} in function "
                           f"{name}")
    if not isinstance(input, Tensor):
        raise RuntimeError("Expanded Weights requires a Tensor as the first input to get the "
                           f"batch dimension, got {type(input).__name__} in function {name}")
    if len(input.shape) == 0:
        raise RuntimeError("Expanded Weights requires a batch dimension but got an input of "
                           f"size 0 in function {name}")
    if input.shape[0] == 0:
        raise RuntimeError("0 is not a valid batch size for Expanded Weights but got input "
                           f"tensor of {input} in function {name}")
    reduction = None
    for value in values:
        if not isinstance(value, ExpandedWeight):
            continue
        batch = input.shape[0] if value.batch_first else input.shape[1]
        if (value.batch_size < batch) if value.allow_smaller_batches \
                else value.batch_size != batch:
            raise RuntimeError("Expected ExpandedWeights to have batch size matching input but "
                               f"got input batch size of {batch} with ExpandedWeight of batch "
                               f"size {value.batch_size}")
    for value in values:
        if isinstance(value, ExpandedWeight):
            if reduction is None:
                reduction = value.loss_reduction
            elif reduction != value.loss_reduction:
                raise RuntimeError("Expected ExpandedWeights to all have the same loss_reduction"
                                   f" argument but got onewith {reduction} and one with "
                                   f"{value.loss_reduction}")
    return [value.orig_weight.detach() if isinstance(value, ExpandedWeight) else value
            for value in values]


def _unpack(value) -> Tensor | None:
    """torch's ``unpack_expanded_weight_or_tensor``: a tensor that needs a gradient among
    ExpandedWeights is refused."""
    if isinstance(value, ExpandedWeight):
        return value.orig_weight
    if isinstance(value, Tensor) and value.requires_grad:
        raise RuntimeError("ExpandedWeights currently does not support a mixture of "
                           "ExpandedWeight parameters and normal Parameters. Please file and "
                           "issue with pytorch/pytorch")
    return value


def _array(t: Tensor) -> np.ndarray:
    return np.asarray(t.detach().numpy())


def _set_grad_sample(weight, compute) -> None:
    """torch's ``set_grad_sample_if_exists``: ``compute(orig_weight)`` (an array, the batch
    first) scaled for a mean reduction and added to ``orig_weight.grad_sample``."""
    unpacked = _unpack(weight)
    if not isinstance(weight, ExpandedWeight):
        return
    sample = compute(unpacked)
    if weight.loss_reduction == "mean":
        sample = sample * weight.batch_size
    if weight.batch_size > sample.shape[0]:
        full = np.zeros((weight.batch_size, *sample.shape[1:]), dtype=sample.dtype)
        full[:sample.shape[0]] = sample
        sample = full
    contribution = Tensor(np.ascontiguousarray(sample, dtype=_array(unpacked).dtype))
    previous = getattr(unpacked, "grad_sample", None)
    unpacked.grad_sample = contribution if previous is None else previous + contribution


def _tap(name: str):
    """An autograd Function (``<name>Backward`` nodes, as torch's) through which the output of
    a known call passes: identity forward, and backward gives the gradient on unchanged after
    ``on_backward(grad_output)`` has set the per-sample gradients. The ExpandedWeights are its
    inputs too, so the output needs a gradient even where the input does not (a first layer)."""

    def forward(ctx, output, on_backward, *weights):
        ctx.on_backward, ctx.weight_count = on_backward, len(weights)
        return output.clone()

    def backward(ctx, grad_output):
        ctx.on_backward(grad_output)
        return (grad_output, None) + (None,) * ctx.weight_count

    return type(name, (Function,), {"forward": staticmethod(forward),
                                    "backward": staticmethod(backward)})


def _run(tap, output: Tensor, on_backward, weights: list) -> Tensor:
    expanded = [w for w in weights if isinstance(w, ExpandedWeight)]
    with DisableTorchFunctionSubclass():
        return tap.apply(output, on_backward, *expanded)


_LINEAR = _tap("LinearPerSampleGrad")
_CONV = _tap("ConvPerSampleGrad")
_EMBEDDING = _tap("EmbeddingPerSampleGrad")
_LAYER_NORM = _tap("LayerNormPerSampleGrad")
_GROUP_NORM = _tap("GroupNormPerSampleGrad")
_INSTANCE_NORM = _tap("InstanceNormPerSampleGrad")


def _bind(func, names: tuple, defaults: dict, args: tuple, kwargs: dict) -> dict:
    bound = dict(defaults)
    bound.update(zip(names, args))
    bound.update(kwargs)
    return bound


# ---------------------------------------------------------------- linear
def _linear(func, args, kwargs):
    a = _bind(func, ("input", "weight", "bias"), {"bias": None}, args, kwargs)
    input, weight, bias = a["input"], a["weight"], a["bias"]  # noqa: A001
    if isinstance(input, Tensor) and len(input.shape) <= 1:
        raise RuntimeError("Input does not have a batch dimension. Expanded Weights expected "
                           f"input of at least rank 2, got of rank {len(input.shape)}")
    x, w, b = _check_and_unexpand("linear", input, [input, weight, bias])
    output = func(x, w, b)
    batch_first = all(v.batch_first for v in (weight, bias) if isinstance(v, ExpandedWeight))

    def on_backward(grad_output):
        g, xs = _array(grad_output), _array(x)
        if not batch_first:
            g, xs = np.swapaxes(g, 0, 1), np.swapaxes(xs, 0, 1)
        n = g.shape[0]
        g3, x3 = g.reshape(n, -1, g.shape[-1]), xs.reshape(n, -1, xs.shape[-1])
        _set_grad_sample(weight, lambda _: np.einsum("nti,ntj->nij", g3, x3))
        _set_grad_sample(bias, lambda _: g3.sum(1))

    return _run(_LINEAR, output, on_backward, [weight, bias])


# ---------------------------------------------------------------- convolution
def _tuple(value, n: int) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * n


def _conv(func, args, kwargs):
    a = _bind(func, ("input", "weight", "bias", "stride", "padding", "dilation", "groups"),
              {"bias": None, "stride": 1, "padding": 0, "dilation": 1, "groups": 1}, args, kwargs)
    input, weight, bias = a["input"], a["weight"], a["bias"]  # noqa: A001
    nd = {"conv1d": 1, "conv2d": 2, "conv3d": 3}[func.__name__]
    x, w, b = _check_and_unexpand(func.__name__, input, [input, weight, bias])
    output = func(x, w, b, a["stride"], a["padding"], a["dilation"], a["groups"])
    if input.dim() != nd + 2:
        raise RuntimeError(f"Expanded Weights only support convolution with batched input, got "
                           f"{func} with anunbatched input of dim {input.dim()}, expected "
                           f"input of dim {nd + 2}")
    stride, dilation = _tuple(a["stride"], nd), _tuple(a["dilation"], nd)
    kernel = tuple(weight.shape[2:])
    padding = a["padding"]
    if isinstance(padding, str):
        widths = [(0, 0)] * nd if padding == "valid" else [
            (d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2) for d, k in zip(dilation, kernel)]
    else:
        widths = [(p, p) for p in _tuple(padding, nd)]
    groups = a["groups"]

    def weight_sample(_):
        xs = np.pad(_array(x), [(0, 0), (0, 0), *widths])
        g = _array(grad_output_box[0])
        cols = xs
        for d in range(nd):  # each spatial axis becomes (output position, kernel offset)
            positions = np.arange(g.shape[2 + d])[:, None] * stride[d]
            cols = np.take(cols, positions + np.arange(kernel[d])[None, :] * dilation[d],
                           axis=2 + 2 * d)
        n, c = cols.shape[:2]
        cols = cols.reshape(n, groups, c // groups, *cols.shape[2:])
        g = g.reshape(n, groups, g.shape[1] // groups, *g.shape[2:])
        o, k = "abc"[:nd], "xyz"[:nd]
        spec = (f"ngi{''.join(p + q for p, q in zip(o, k))},ngf{o}->ngfi{k}")
        out = np.einsum(spec, cols, g, optimize=True)
        return out.reshape(n, groups * out.shape[2], *out.shape[3:])

    grad_output_box: list = [None]

    def on_backward(grad_output):
        grad_output_box[0] = grad_output
        _set_grad_sample(weight, weight_sample)
        g = _array(grad_output)
        _set_grad_sample(bias, lambda _: g.reshape(*g.shape[:2], -1).sum(2))

    return _run(_CONV, output, on_backward, [weight, bias])


# ---------------------------------------------------------------- embedding
def _embedding(func, args, kwargs):
    a = _bind(func, ("input", "weight", "padding_idx", "max_norm", "norm_type",
                     "scale_grad_by_freq", "sparse"),
              {"padding_idx": None, "max_norm": None, "norm_type": 2.0,
               "scale_grad_by_freq": False, "sparse": False}, args, kwargs)
    input, weight = a["input"], a["weight"]  # noqa: A001
    if len(input.shape) == 1:
        raise RuntimeError("Expanded Weights needs an input with a batch size, got a 1D tensor, "
                           f"{input}")
    x, w = _check_and_unexpand("embedding", input, [input, weight])
    output = func(x, w, a["padding_idx"], a["max_norm"], a["norm_type"],
                  a["scale_grad_by_freq"], a["sparse"])

    def on_backward(grad_output):
        def sample(orig):
            index = _array(x).reshape(x.shape[0], -1)
            g = _array(grad_output).reshape(x.shape[0], -1, orig.shape[1])
            out = np.zeros((x.shape[0], *orig.shape), dtype=g.dtype)
            np.add.at(out, (np.arange(x.shape[0])[:, None], index), g)
            return out

        _set_grad_sample(weight, sample)

    return _run(_EMBEDDING, output, on_backward, [weight])


# ---------------------------------------------------------------- normalisations
def _normalized(xs: np.ndarray, axes: tuple, eps: float) -> np.ndarray:
    mean = xs.mean(axis=axes, keepdims=True)
    var = xs.var(axis=axes, keepdims=True)
    return (xs - mean) / np.sqrt(var + eps)


def _sum_but_batch_and_last(t: np.ndarray, n: int) -> np.ndarray:
    return t if t.ndim == n + 1 else t.sum(axis=tuple(range(1, t.ndim - n)))


def _layer_norm(func, args, kwargs):
    second = args[1] if len(args) > 1 else kwargs.get("normalized_shape", kwargs.get("weight"))
    if "normalized_shape" in kwargs or isinstance(second, (int, tuple, list)):
        a = _bind(func, ("input", "normalized_shape", "weight", "bias", "eps"),
                  {"weight": None, "bias": None, "eps": 1e-5}, args, kwargs)
    else:  # dlpy's layer_norm(x, weight, bias, eps) over the last axis
        a = _bind(func, ("input", "weight", "bias", "eps"),
                  {"weight": None, "bias": None, "eps": 1e-5}, args, kwargs)
        a["normalized_shape"] = (a["input"].shape[-1],)
    input, weight, bias, eps = a["input"], a["weight"], a["bias"], a["eps"]  # noqa: A001
    shape = a["normalized_shape"]
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if len(input.shape) <= len(shape):
        raise RuntimeError("Expanded Weights: Layer norm should not normalize over batch "
                           "dimension for per sample gradientcomputations but got that normalized"
                           f" shape, {shape}, matched input shape.")
    x, w, b = _check_and_unexpand("layer_norm", input, [input, weight, bias])
    output = func(x, list(shape), w, b, eps)

    def on_backward(grad_output):
        g = _array(grad_output)
        axes = tuple(range(x.dim() - len(shape), x.dim()))
        _set_grad_sample(weight, lambda orig: _sum_but_batch_and_last(
            _normalized(_array(x), axes, eps) * g, orig.dim()))
        _set_grad_sample(bias, lambda orig: _sum_but_batch_and_last(g, orig.dim()))

    return _run(_LAYER_NORM, output, on_backward, [weight, bias])


def _per_channel(t: np.ndarray) -> np.ndarray:
    return t.reshape(*t.shape[:2], -1).sum(2)


def _group_norm(func, args, kwargs):
    a = _bind(func, ("input", "num_groups", "weight", "bias", "eps"),
              {"weight": None, "bias": None, "eps": 1e-5}, args, kwargs)
    input, groups, weight, bias, eps = (a["input"], a["num_groups"], a["weight"],  # noqa: A001
                                        a["bias"], a["eps"])
    x, w, b = _check_and_unexpand("group_norm", input, [input, weight, bias])
    output = func(x, groups, w, b, eps)

    def on_backward(grad_output):
        if not isinstance(bias, ExpandedWeight):  # torch's backward reads ctx.bias
            raise AttributeError("'GroupNormPerSampleGradBackward' object has no attribute "
                                 "'bias'")
        g = _array(grad_output)

        def weight_sample(_):
            xs = _array(x)
            n = xs.shape[0]
            normed = _normalized(xs.reshape(n, groups, -1), (2,), eps).reshape(xs.shape)
            return _per_channel(normed * g)

        _set_grad_sample(weight, weight_sample)
        _set_grad_sample(bias, lambda _: _per_channel(g))

    return _run(_GROUP_NORM, output, on_backward, [weight, bias])


def _instance_norm(func, args, kwargs):
    a = _bind(func, ("input", "running_mean", "running_var", "weight", "bias",
                     "use_input_stats", "momentum", "eps"),
              {"running_mean": None, "running_var": None, "weight": None, "bias": None,
               "use_input_stats": True, "momentum": 0.1, "eps": 1e-5}, args, kwargs)
    input, weight, bias, eps = a["input"], a["weight"], a["bias"], a["eps"]  # noqa: A001
    x, w, b = _check_and_unexpand("instance_norm", input, [input, weight, bias])
    output = func(x, a["running_mean"], a["running_var"], w, b, a["use_input_stats"],
                  a["momentum"], eps)

    def on_backward(grad_output):
        g = _array(grad_output)
        xs = _array(x)
        axes = tuple(range(2, xs.ndim))
        _set_grad_sample(weight, lambda _: _per_channel(_normalized(xs, axes, eps) * g))
        _set_grad_sample(bias, lambda _: _per_channel(g))

    return _run(_INSTANCE_NORM, output, on_backward, [weight, bias])


# keyed by the functions inside their wrappers: the dispatching ones that calls reach
# __torch_function__ with are made anew each time dispatch is installed
_RULES = {inspect.unwrap(f): rule for f, rule in (
    (F.linear, _linear), (F.conv1d, _conv), (F.conv2d, _conv), (F.conv3d, _conv),
    (F.embedding, _embedding), (F.layer_norm, _layer_norm), (F.group_norm, _group_norm),
    (F.instance_norm, _instance_norm))}
ExpandedWeight.handled_functions = _RULES
