"""The lowercase API (``import dlpy.functional as F``): every primitive op, plus composites built
from them with no hand-written backward."""

from __future__ import annotations

import inspect
import warnings

import numpy as np

from dlpy import meta as _meta
from dlpy import tensor as _engine
from dlpy._caller import user_stacklevel as _user_stacklevel
from dlpy.amp.dtypes import is_low_precision
from dlpy.amp.state import FP32, KEEP, LOWER, autocast_policy
from dlpy.device import MetaArray, meta_array
from dlpy.ops import ArgDtypeError, ArgError, DimError, NoKernelError
from dlpy.ops import attention as _attention
from dlpy.ops import complex as _complex
from dlpy.ops import conv as _conv
from dlpy.ops import loss as _loss
from dlpy.ops import multi_output as _multi_output
from dlpy.ops import real_number as _real_number
from dlpy.ops import rearrange as _rearrange
from dlpy.ops import resample as _resample
from dlpy.ops import sparse as _sparse
from dlpy.ops.activation import (
    clamp,
    elu,
    gelu,
    hardtanh,
    leaky_relu,
    relu,
    sigmoid,
    silu,
    softplus,
    tanh,
)
from dlpy.ops.activation_more import (
    celu,
    glu,
    hardshrink,
    hardsigmoid,
    hardswish,
    logsigmoid,
    mish,
    prelu,
    relu6,
    selu,
    softshrink,
    softsign,
    tanhshrink,
    threshold,
)
from dlpy.ops.activation_more import softmin as _softmin
from dlpy.ops.arithmetic import (  # noqa: A004
    abs,
    add,
    cast,
    div,
    exp,
    identity,
    log,
    mul,
    neg,
    power,
    sqrt,
    sub,
)
from dlpy.ops.conv import (
    avg_pool1d,
    avg_pool2d,
    avg_pool3d,
    conv1d,
    conv2d,
    conv3d,
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose3d,
    max_pool1d,
    max_pool2d,
    max_pool3d,
    max_unpool1d,
    max_unpool2d,
    max_unpool3d,
)
from dlpy.ops.cumulative import cumprod, cumsum, diff, prod
from dlpy.ops.embedding import (
    BagMean,
    IdRangeError,
    _check_max_norm,
    embedding,
    frequency_scaled,
    renorm_rows,
)
from dlpy.ops.fold import fold, unfold
from dlpy.ops.indexing import (
    IndexDtypeError,
    argsort,
    gather,
    index_select,
    repeat_interleave,
    scatter,
    scatter_add,
    sort,
    take_along_dim,
    topk,
)
from dlpy.ops.loss import (
    _legacy_reduction,
    _mean_alias,
    _weight_or_reduction,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
)
from dlpy.ops.mask import (
    alpha_dropout,
    dropout,
    dropout1d,
    dropout2d,
    dropout3d,
    masked_fill,
    where,
)
from dlpy.ops.matmul import bilinear, linear, matmul
from dlpy.ops.norm import (
    batch_norm,
    group_norm,
    instance_norm,
    layer_norm,
    local_response_norm,
    rms_norm,
)
from dlpy.ops.pad import pad
from dlpy.ops.pointwise import (  # noqa: A004
    atan2,
    ceil,
    cos,
    erf,
    expm1,
    floor,
    log1p,
    maximum,
    minimum,
    round,
    sign,
    sin,
    tan,
)
from dlpy.ops.rearrange import expand, expand_as, flip, repeat, roll, tril, triu
from dlpy.ops.reduce import (  # noqa: A004
    amax,
    amin,
    logsumexp,
    max,
    mean,
    min,
    norm,
    std,
    sum,
    sum_of_squares,
    var,
)
from dlpy.ops.shape import GetItem as _GetItem
from dlpy.ops.shape import (
    concat,
    flatten,
    getitem,
    permute,
    reshape,
    squeeze,
    stack,
    swapaxes,
    transpose,
    unsqueeze,
)
from dlpy.ops.softmax import log_softmax, softmax
from dlpy.ops.sparse import SparseRows, sparse_linear
from dlpy.tensor import _TORCH_DTYPE_NAMES, Tensor, as_array, is_floating_dtype, is_grad_enabled

__all__ = [
    "abs", "adaptive_avg_pool2d", "add", "amax", "amin", "avg_pool2d", "batch_norm",
    "binary_cross_entropy_with_logits",
    "adaptive_avg_pool1d", "adaptive_max_pool2d", "avg_pool1d", "conv_transpose1d",
    "conv_transpose2d", "max_pool1d", "max_unpool2d",
    "cast", "cat", "chunk", "clamp", "concat", "conv1d", "conv2d", "pad",
    "cosine_similarity", "cross_entropy", "div", "dropout", "elu", "embedding", "exp",
    "flatten", "gelu", "getitem", "hardtanh", "huber_loss", "identity", "kl_div", "l1_loss",
    "layer_norm", "leaky_relu", "linear", "log", "log_softmax", "logsumexp", "masked_fill",
    "matmul", "max", "max_pool2d", "mean", "min", "mse_loss", "mul", "neg", "nll_loss", "norm",
    "normalize", "one_hot", "permute", "power", "relu", "reshape",
    "scaled_dot_product_attention", "sigmoid", "silu", "smooth_l1_loss", "softmax", "softplus",
    "sparse_linear", "SparseRows", "split", "sqrt", "squeeze", "stack", "std", "sub", "sum",
    "sum_of_squares", "swapaxes", "tanh", "transpose", "unbind", "unsqueeze", "var", "where",
]
__all__ += [  # indexing, rearranging, cumulative and more element-wise ops
    "argsort", "atan2", "ceil", "cos", "cumprod", "cumsum", "diff", "erf", "expand", "expand_as",
    "expm1", "flip", "floor", "gather", "index_select", "log1p", "maximum", "minimum", "prod",
    "repeat", "repeat_interleave", "roll", "round", "scatter", "scatter_add", "sign", "sin",
    "sort", "take_along_dim", "tan", "topk", "tril", "triu",
]
__all__ += [  # more activations, normalisations and dropouts, bilinear
    "alpha_dropout", "bilinear", "celu", "dropout1d", "dropout2d", "dropout3d", "glu",
    "group_norm", "hardshrink", "hardsigmoid", "hardswish", "instance_norm", "local_response_norm",
    "logsigmoid", "mish", "prelu", "relu6", "rms_norm", "selu", "softmin", "softshrink",
    "softsign", "tanhshrink", "threshold",
]


def _check_reduction(name: str, reduction: str) -> None:
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{name}: reduction must be mean, sum or none, got {reduction!r}")


def _refuse_inference(input, target) -> None:  # noqa: A002 - PyTorch's name
    """torch's losses save their target for backward: an inference tensor among input and
    target refuses while the other requires grad (dlpy's composites save differences)."""
    if _engine._inference_made[0] and _engine._grad_enabled:
        pair = (input, target)
        if any(isinstance(t, Tensor) and t.requires_grad for t in pair):
            _engine._check_not_inference([t for t in pair if isinstance(t, Tensor)])


def _warn_target_size(name: str, input, target) -> None:  # noqa: A002 - PyTorch's name
    """torch's regression losses broadcast a target of another shape, with this warning."""
    target_shape = np.shape(as_array(target))
    if tuple(input.shape) != target_shape:  # (warned first, then refused, as torch's)
        warnings.warn(f"{name}: using a target size ({target_shape}) that is different to the "
                      f"input size ({tuple(input.shape)}). This will likely lead to incorrect "
                      f"results due to broadcasting. Please ensure they have the same size.",
                      UserWarning, stacklevel=_user_stacklevel(("functional.py", "ops")))
        try:
            np.broadcast_shapes(tuple(input.shape), target_shape)
        except ValueError:
            raise _engine.ShapeError(f"{name}: target of shape {target_shape} does not "
                                     f"broadcast with the input's shape {tuple(input.shape)}"
                                     ) from None


def _loss_weight(name: str, losses: Tensor, input, weight, reduction: str,  # noqa: A002
                 weighted_mean: bool) -> Tensor:
    """torch 2.13's elementwise ``weight`` of mse/l1/huber_loss (the input's shape): the
    weighted losses reduced; the mean divides by weight.sum() where ``weighted_mean``."""
    if tuple(np.shape(as_array(weight))) != tuple(input.shape):
        raise ValueError(f"{name}: weight must have the input's shape {tuple(input.shape)}, "
                         f"got {np.shape(as_array(weight))}")
    _check_reduction(name, reduction)
    weight = weight if isinstance(weight, Tensor) else Tensor(np.asarray(weight))
    losses = losses * weight
    if reduction == "mean" and weighted_mean:
        return losses.sum() / weight.sum()
    return _reduce(name, losses, reduction)


def cat(tensors, dim: int = 0) -> Tensor:
    """torch.cat: ``concat`` under PyTorch's names (torch.cat's ``axis=``, numpy's name for dim,
    comes from dlpy/numpy_aliases.py, as every builtin's)."""
    return concat(tensors, axis=dim)


def _count(name: str, what: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: {what} must be an int, got {value!r}")
    if value < minimum:
        raise ArgError(f"{name}: {what} must be >= {minimum}, got {value}")
    return int(value)


def _split_axis(name: str, x, dim) -> int:
    if x.ndim == 0:  # torch: unbind's IndexError (dim out of range), split's RuntimeError
        error = DimError if name == "unbind" else ArgError
        raise error(f"{name}: expected a tensor with at least one axis, got shape ()")
    return _dim(name, dim, x.ndim)


def _pieces(x, sizes: list[int], dim: int, node_name: str = "SplitBackward0",
            unsafe: bool = False, split_size: int | None = None) -> tuple[Tensor, ...]:
    """Consecutive slices of ``sizes`` along ``dim``: each piece's gradient is a slice;
    ``node_name``: torch's grad_fn name of the pieces; ``unsafe``: torch's unsafe_split, whose
    pieces may be changed in place while recording; ``split_size``: split's argument (else
    the sizes were given), what torch's node saved."""
    before = (slice(None),) * dim
    indexes, start = [], 0
    for size in sizes:
        indexes.append(before + (slice(start, start + size),))
        start += size
    saved = {"_saved_dim": dim, "_saved_self_sym_sizes": tuple(np.shape(getattr(x, "data", x)))}
    if split_size is None:
        saved["_saved_split_sizes"] = tuple(sizes)
    else:
        saved["_saved_split_size"] = split_size
    return _multiple_views(x, indexes, node_name.removesuffix("Backward0"), node_name, unsafe,
                           saved)


def _multiple_views(x, indexes: list, kind: str, node_name: str,
                    unsafe: bool = False, saved: dict | None = None) -> tuple[Tensor, ...]:
    """The views ``x[index]`` of a function that returns several: the outputs 0, 1, ... of
    one node named ``node_name`` (dlpy.ops.multi_output; ``saved``: its grad_fn._saved_*),
    which torch refuses to change in place while recording (each would need the others'
    gradients re-made)."""
    node = x
    if isinstance(x, Tensor) and x.requires_grad and _engine.is_grad_enabled():
        node = _multi_output.Outputs(node_name, saved)(x)
    pieces = [_GetItem(index)(node) for index in indexes]  # (plain slices and ints already)
    for i, piece in enumerate(pieces):
        if piece.op is not None:
            piece.op.node_name = node_name
            if not unsafe:
                piece.op.refuses_in_place = f"Output {i} of {kind} " + _engine._MULTI_VIEW
    if node is not x:
        _multi_output.group(node, pieces, [(index, p.data.shape)
                                           for index, p in zip(indexes, pieces)])
    return tuple(pieces)


def split(tensor: Tensor, split_size_or_sections, dim: int = 0, *,
          _unsafe: bool = False) -> tuple[Tensor, ...]:
    """torch.split: pieces of ``split_size`` along ``dim`` (the last one smaller where it does
    not divide), or of the sizes in a list, which must sum to the axis' length."""
    dim = _split_axis("split", tensor, dim)
    length = tensor.shape[dim]
    if isinstance(split_size_or_sections, (list, tuple)):
        sizes = [_count("split", "each split size", s, 0) for s in split_size_or_sections]
        total = int(np.sum(sizes, dtype=np.int64))
        if total != length:
            raise ArgError(f"split: split sizes {sizes} must sum to the length {length} of "
                             f"axis {dim} (shape {tensor.shape}), they sum to {total}")
        name = "UnsafeSplitWithSizesBackward0" if _unsafe else "SplitWithSizesBackward0"
        return _pieces(tensor, sizes, dim, name, _unsafe)
    size = _count("split", "split_size", split_size_or_sections, 0)
    if size == 0 and length:
        raise ArgError(f"split: split_size 0 is only valid for an axis of length 0, axis "
                         f"{dim} has length {length} (shape {tensor.shape})")
    name = "UnsafeSplitBackward0" if _unsafe else "SplitBackward0"
    if length == 0:
        return _pieces(tensor, [0], dim, name, _unsafe, size)  # one empty piece, as torch
    last = length % size or size  # the last piece is smaller where size does not divide
    return _pieces(tensor, [size] * (-(-length // size) - 1) + [last], dim, name, _unsafe,
                   size)


def chunk(input: Tensor, chunks: int, dim: int = 0, *,
          _unsafe: bool = False) -> tuple[Tensor, ...]:
    """torch.chunk: split into pieces of ceil(length / chunks) along ``dim``, so fewer than
    ``chunks`` pieces where that size leaves nothing for the last ones (6 in 4: 2, 2, 2)."""
    chunks = _count("chunk", "chunks", chunks, 1)
    dim = _split_axis("chunk", input, dim)
    length = input.shape[dim]
    if length == 0:  # as torch: chunks empty pieces
        name = "UnsafeSplitBackward0" if _unsafe else "SplitBackward0"
        return _pieces(input, [0] * chunks, dim, name, _unsafe)
    return split(input, -(-length // chunks), dim, _unsafe=_unsafe)


def unbind(input: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    """torch.unbind: the slices along ``dim``, each without that axis."""
    dim = _split_axis("unbind", input, dim)
    before = (slice(None),) * dim
    return _multiple_views(input, [before + (i,) for i in range(input.shape[dim])], "Unbind",
                           "UnbindBackward0", saved={"_saved_dim": dim})


def _reduce(name: str, losses: Tensor, reduction: str) -> Tensor:
    _check_reduction(name, reduction)
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


_MSE_FUSED = (np.dtype(np.float32), np.dtype(np.float64))


def _no_integer_kernel(kernel: str, input, target) -> None:  # noqa: A002
    """torch's elementwise loss kernels have none for integers or bools: input and target both
    of such dtypes raise its NotImplementedError ("mse_cpu" not implemented for 'Long')."""
    if (isinstance(input, Tensor) and isinstance(target, Tensor)
            and input.data.dtype.kind in "biu" and target.data.dtype.kind in "biu"):
        from dlpy.amp.dtypes import _torch_name

        raise NoKernelError(f'"{kernel}" not implemented for '
                            f"'{_torch_name(np.result_type(input.data, target.data))}'")


def _broadcast_dtypes(input, target, kernel: bool = True):  # noqa: A002
    """input and target cast to torch.promote_types of their dtypes: torch's F.mse_loss,
    l1_loss and smooth_l1_loss broadcast_tensors them first, so a 0-d one ranks as a
    dimensioned one (a float64 () input with a bfloat16 (2,) target: float64), and a
    ``kernel``'s TensorIterator takes a bool operand (l1_loss's composite subtraction refuses
    it, as the plain operands do)."""
    if not (isinstance(input, Tensor) and isinstance(target, Tensor)) or \
            input.data.dtype == target.data.dtype:
        return input, target
    bools = input.data.dtype == np.bool_ or target.data.dtype == np.bool_
    if bools and not kernel or not bools and (input.ndim == 0) == (target.ndim == 0):
        return input, target  # (promotion as the plain operands')
    from dlpy.ops.promotion import promote_types

    dtype = promote_types(input.data.dtype, target.data.dtype)
    return input.to(dtype), target.to(dtype)


@autocast_policy(FP32)
def mse_loss(input: Tensor, target, size_average=None, reduce=None,  # noqa: A002
             reduction: str = "mean", weight=None) -> Tensor:
    """Mean (or summed, or per-element) squared error; a target of another shape broadcasts,
    with torch's warning. ``weight`` (the input's shape) scales each element, and the mean
    divides by its sum, as torch 2.13's."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _no_integer_kernel("mse_cpu", input, target)
    _warn_target_size("mse_loss", input, target)
    _refuse_inference(input, target)
    _complex.refuse("mse_loss", input, target)  # as torch's (l1_loss takes them)
    input, target = _broadcast_dtypes(input, target)
    if (weight is None and isinstance(input, Tensor) and isinstance(target, Tensor)
            and (input.data.dtype in _MSE_FUSED or is_low_precision(input.data.dtype))
            and target.data.dtype == input.data.dtype
            and input.data.shape == target.data.shape):
        _check_reduction("mse_loss", reduction)
        return _loss.MSELoss(reduction)(input, target)  # one node: MseLossBackward0
    diff = input - target
    if weight is not None:
        return _loss_weight("mse_loss", diff * diff, input, weight, reduction, True)
    return _reduce("mse_loss", diff * diff, reduction)


@autocast_policy(FP32)
def l1_loss(input: Tensor, target, size_average=None, reduce=None,  # noqa: A002
            reduction: str = "mean", weight=None) -> Tensor:
    """Mean (or summed, or per-element) absolute error; broadcasting and ``weight`` as
    mse_loss's."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _warn_target_size("l1_loss", input, target)
    input, target = _broadcast_dtypes(input, target, kernel=False)
    losses = abs(input - target)
    if weight is not None:
        return _loss_weight("l1_loss", losses, input, weight, reduction, True)
    return _reduce("l1_loss", losses, reduction)


def _piecewise_loss(name: str, prediction: Tensor, target, reduction: str, cut: float,
                    quadratic_scale: float, linear_scale: float,
                    float_once: str, input_dtype: bool = False) -> Tensor:
    """quadratic_scale * d^2 / 2 where |d| < cut, else linear_scale * (|d| - cut / 2), with
    d = prediction - target, unreduced: smooth L1 and Huber, which differ in scale only. As
    torch's CPU kernels, the low-precision dtype named ``float_once`` computes in float32 and
    rounds once (the other rounds each step); ``input_dtype`` gives the result the
    prediction's dtype (Huber's) rather than the promoted one."""
    _check_reduction(name, reduction)
    _warn_target_size(name, prediction, target)
    _refuse_inference(prediction, target)
    _complex.refuse(name, prediction, target)  # as torch's
    diff = prediction - target
    result_dtype = _data(prediction).dtype if input_dtype else diff.dtype
    low = diff.dtype.name == float_once
    if low or result_dtype != diff.dtype:
        compute = np.dtype(np.float32) if low else diff.dtype
        diff = prediction.to(compute) - (target.to(compute) if isinstance(target, Tensor)
                                         else target)
    magnitude = abs(diff)
    small = magnitude.data < cut
    near = diff if small.all() else where(small, diff, 0.0)  # (an infinite d far out: its
    quadratic = near * near * (0.5 * quadratic_scale)  # unused square's gradient 0, not nan)
    linear = magnitude - 0.5 * cut
    if linear_scale != 1:
        linear = linear * linear_scale
    losses = where(small, quadratic, linear)
    return losses if losses.dtype == result_dtype else losses.to(result_dtype)


@autocast_policy(FP32)
def smooth_l1_loss(input: Tensor, target, size_average=None, reduce=None,  # noqa: A002
                   reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, else |d| - beta / 2 (d = input - target), averaged
    (or summed, or per element); beta = 0 is the L1 loss, as PyTorch."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    beta = _real_number("smooth_l1_loss", "beta", beta)
    if beta < 0:
        raise ArgError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    input, target = _broadcast_dtypes(input, target)
    if beta != 0:  # (beta = 0 is torch's l1_loss composite, which takes integers)
        _no_integer_kernel("smooth_l1_cpu", input, target)
    if beta == 0:
        _check_reduction("smooth_l1_loss", reduction)
        _warn_target_size("smooth_l1_loss", input, target)
        return _reduce("smooth_l1_loss", abs(input - target), reduction)
    if (isinstance(input, Tensor) and isinstance(target, Tensor)
            and (input.requires_grad or target.requires_grad) and is_low_precision(input.dtype)
            and target.dtype == input.dtype and target.shape == input.shape
            and is_grad_enabled()):
        # torch's gradient is float32 rounded once, whatever the forward's rounding
        losses = _piecewise_loss("smooth_l1_loss", input.detach(), target.detach(), reduction,
                                 beta, 1 / beta, 1.0, "bfloat16")
        op = _loss.SmoothL1LowPrecision(target.data, losses.data, reduction, beta)
        return _node(op(input, target) if target.requires_grad else op(input),
                     "SmoothL1LossBackward0")
    losses = _piecewise_loss("smooth_l1_loss", input, target, reduction, beta, 1 / beta, 1.0,
                             "bfloat16")
    return _node(_reduce("smooth_l1_loss", losses, reduction), "SmoothL1LossBackward0")


@autocast_policy(FP32)
def huber_loss(input: Tensor, target, reduction: str = "mean",  # noqa: A002
               delta: float = 1.0, weight=None) -> Tensor:
    """0.5 d^2 where |d| < delta, else delta (|d| - delta / 2) (d = input - target):
    delta * smooth_l1_loss(beta=delta), as PyTorch; ``weight`` (the input's shape) scales each
    element (the mean stays over the elements, as torch 2.13's)."""
    _no_integer_kernel("huber_cpu", input, target)
    delta = _real_number("huber_loss", "delta", delta)
    if delta <= 0:
        raise ArgError(f"huber_loss: delta must be > 0, got {delta}")
    reduction = _mean_alias(reduction)
    losses = _piecewise_loss("huber_loss", input, target, reduction, delta, 1.0, delta,
                             "float16", True)
    if weight is not None:
        return _loss_weight("huber_loss", losses, input, weight, reduction, False)
    return _node(_reduce("huber_loss", losses, reduction), "HuberLossBackward0")


@autocast_policy(FP32)
def nll_loss(input: Tensor, target, weight=None, size_average=None,
             ignore_index: int = -100, reduce=None, reduction: str = "mean") -> Tensor:
    """The negative log-likelihood -log_probs[n, label] of integer labels (N,) under
    log-probabilities (N, C), e.g. from log_softmax: cross_entropy without the softmax. As
    torch's, (N, C, d1, ..., dK) log-probabilities (the classes on axis 1) take labels (N, d1,
    ..., dK). As F.cross_entropy: ``ignore_index`` elements count nothing (the mean is over the
    others, nan if none), ``weight`` (C,) scales each class and the mean divides by the
    elements' label weights. Arguments in torch's order, with its deprecated size_average
    and reduce."""
    weight, reduction = _weight_or_reduction(weight, reduction)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction("nll_loss", reduction)
    _refuse_inference(input, target)
    ndim = input.ndim
    if input.ndim == 1:
        target = _one_label(target)
    elif input.ndim > 2:
        input, target = _classes_last("nll_loss", input, target)
    out = _nll_loss(input, target, reduction, ignore_index, weight)
    if ndim <= 2:  # torch's node: NllLoss, NllLoss2D for more axes (a view of it, unreduced,
        return _node(out, "NllLossBackward0")  # but for 4)
    return _node(out, "NllLoss2DBackward0") if ndim == 4 or reduction != "none" else out


def _fresh(out: Tensor, input: Tensor) -> Tensor:  # noqa: A002
    """``out`` (a reshape of ``input``, maybe a view of it) as a new tensor in the memory
    format ``input`` suggests, as torch's shuffle kernels write it (never aliasing input)."""
    from dlpy.layouts import channels_last, contiguous_format, suggested_format

    if type(getattr(out, "data", None)) is not np.ndarray:  # (meta, vmap's stand-ins)
        return out
    fmt = suggested_format(getattr(input, "data", None))
    return out.clone(memory_format=channels_last if fmt is channels_last and out.ndim == 4
                     else contiguous_format)


def _node(out, name: str):
    """``out`` with its node named torch's ``name`` (the op that makes torch's output: its
    losses' and shuffles' own kernels, where dlpy's is a composite)."""
    from dlpy.node_names import named

    return named(out, name)


def _one_label(target):
    """The label of (C,) scores: torch takes a (1,) integer tensor as well as a 0-d one."""
    if isinstance(target, Tensor) and target.shape == (1,) and target.dtype.kind in "iu":
        return target.reshape(())
    return target


def _nll_loss(log_probs: Tensor, labels, reduction: str = "mean", ignore_index: int = -100,
              weight=None) -> Tensor:
    """nll_loss with the classes on the last axis: log_probs (..., C), labels (...) (vmap's
    batching rule takes this one: the batch folds into the leading axes)."""
    given = labels
    labels = np.asarray(labels.data if isinstance(labels, Tensor) else labels)
    if labels.dtype.kind not in "iu":
        raise _loss.LabelDtypeError(
            f"nll_loss: labels must be integer class indices, got {labels.dtype}")
    _loss.check_label_dtype("nll_loss", given, labels.dtype)
    _loss.check_floating("nll_loss", "log-probabilities", log_probs)
    if weight is not None:
        _loss.check_weight_dtype("nll_loss", weight, log_probs.dtype)
        _loss.refuse_gradient("nll_loss_forward", "weight", weight)
    shape = log_probs.shape
    if shape:  # (a 0-d input: the labels' check refuses it first, as torch's)
        _loss.check_weight_size("nll_loss", weight, shape[-1])  # (before the labels' range)
    labels, ignore = _loss.check_class_labels("nll_loss", shape, labels, ignore_index)
    flat_labels = labels.reshape(-1)
    rows = reshape(log_probs, (flat_labels.size, shape[-1]))
    losses = -getitem(rows, (np.arange(flat_labels.size), flat_labels))  # (rows,)
    kept = None if ignore is None else ~ignore.reshape(-1)
    if weight is not None:
        row_weight = _loss.check_class_weight("nll_loss", weight, shape[-1], log_probs.dtype)
        row_weight = row_weight[flat_labels]
        losses = losses * row_weight
        total = float(row_weight.sum() if kept is None else row_weight[kept].sum())
    else:
        total = float(flat_labels.size if kept is None else kept.sum())
    if kept is not None:  # 0, not 0 * log_prob, which is nan for a log-probability of -inf
        losses = where(kept, losses, 0.0)
    losses = reshape(losses, labels.shape)
    if reduction == "none":
        return losses
    loss = sum(losses)
    if reduction == "sum":
        return loss
    if total == 0:  # every row ignored (or weighing 0): nan, with a zero gradient, as PyTorch
        return loss + float("nan")
    return loss / total


@autocast_policy(FP32)
def kl_div(input: Tensor, target, size_average=None, reduce=None,  # noqa: A002
           reduction: str = "mean", log_target: bool = False) -> Tensor:
    """sum of target * (log(target) - input): the KL divergence of the distribution ``input``
    (log-probabilities) from ``target`` (probabilities, or log-probabilities with
    ``log_target``); 0 where target is 0. reduction: "mean" over every element (PyTorch's
    default, not the true KL), "batchmean" (the sum over the size of axis 0: the KL per
    sample), "sum" or "none". Both inputs may need gradients and broadcast, as torch's.
    Arguments in torch's order, with its deprecated size_average and reduce; "mean" warns, as
    torch's; as torch's, reduction="batchmean" still divides by the size of axis 0 when the
    deprecated arguments choose the reduction instead."""
    if (size_average is not None and not isinstance(size_average, str) or reduce is not None) \
            and reduction == "batchmean":
        losses = _kl_div(input, target, _legacy_reduction(size_average, reduce, "mean"),
                         log_target)
        return losses / input.shape[0] if input.ndim else losses
    if size_average is None and reduce is None and reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the "
                      "support size.'batchmean' divides only by the batch size, and aligns with "
                      "the KL div math definition.'mean' will be changed to behave the same as "
                      "'batchmean' in the next major release.", UserWarning,
                      stacklevel=_user_stacklevel(("functional.py", "ops")))
    reduction = _legacy_reduction(size_average, reduce, reduction)
    return _kl_div(input, target, reduction, log_target)


def _kl_div(input: Tensor, target, reduction: str, log_target: bool) -> Tensor:  # noqa: A002
    """kl_div without the deprecated arguments nor the warning (torch.kl_div's)."""
    if reduction not in ("mean", "batchmean", "sum", "none"):
        raise ValueError(f"kl_div: reduction must be mean, batchmean, sum or none, got "
                         f"{reduction!r}")
    _broadcast_shape("kl_div", "input and target", input, target)
    if any(isinstance(t, Tensor) and t.data.dtype.kind in "biu" for t in (input, target)):
        raise RuntimeError("kl_div: Integral inputs not supported.")
    if not isinstance(target, Tensor):
        target = Tensor(np.asarray(target, dtype=input.dtype))
    if log_target:
        losses = exp(target) * (target - input)
    else:  # 0 where t is 0; t's gradient there is nan (0 / 0), as torch's
        losses = xlogy(target, target) - target * input
    if reduction == "batchmean":
        total = sum(losses)
        return total / input.shape[0] if input.ndim else total
    return _reduce("kl_div", losses, reduction)


def _dim(name: str, dim, ndim: int) -> int:
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        from dlpy.ops import int_of

        if int_of(dim) is None:  # (a 0-d integer tensor is taken, as torch's)
            raise TypeError(f"{name}: dim must be an int, got {dim!r}")
        dim = int_of(dim)
    if not -ndim <= dim < ndim:
        raise DimError(f"{name}: dim {dim} is out of range for a tensor with {ndim} axes")
    return int(dim) % ndim


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12,
              out: Tensor | None = None) -> Tensor:
    """x / max(norm_p(x along dim), eps): unit vectors along dim, as torch's F.normalize; a zero
    vector stays zero (with gradient 1 / eps, as PyTorch). A 0-d x takes dim 0 or -1, as torch;
    ``out``: written there and returned. dim a tuple of axes (None or (): all), as torch's."""
    if dim is None or isinstance(dim, (tuple, list)):  # norm checks the axes
        eps = _real_number("normalize", "eps", eps)
        axes = tuple(dim) if dim else None
        result = input / clamp(norm(input, p, axes, keepdims=True), min=eps)
    elif input.ndim == 0:
        _dim("normalize", dim, 1)
        result = normalize(input.reshape(1), p, 0, eps).reshape(())
    else:
        dim = _dim("normalize", dim, input.ndim)
        eps = _real_number("normalize", "eps", eps)
        result = input / clamp(norm(input, p, dim, keepdims=True), min=eps)
    if out is None:
        return result
    from dlpy.torch_functions import write_out

    return write_out("normalize", result, out)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """sum((x1 / max(|x1|, eps)) * (x2 / max(|x2|, eps))) along dim, x1 and x2 broadcast first,
    as torch's (which leaves the clamping to eps out of the gradient, and so does this); a
    negative eps is refused first, as torch's."""
    eps = _real_number("cosine_similarity", "eps", eps)
    if eps < 0:
        raise ArgError(f"cosine_similarity: eps must be non-negative, got: {eps:g}")
    shapes = [np.shape(as_array(v)) for v in (x1, x2)]
    try:
        shape = np.broadcast_shapes(*shapes)
    except ValueError:
        raise _engine.ShapeError(f"cosine_similarity: shapes {shapes[0]} and {shapes[1]} cannot be "
                                 f"broadcast together") from None
    dim = _dim("cosine_similarity", dim, len(shape) or 1)
    # a numpy operand is a constant of the other's dtype (two arrays: Tensor's own rules)
    dtype = next((v.dtype for v in (x1, x2) if isinstance(v, Tensor)), None)
    x1, x2 = (v if isinstance(v, Tensor) else Tensor(v, dtype=dtype) for v in (x1, x2))
    kinds = x1.dtype.kind + x2.dtype.kind
    if "c" in kinds:  # torch's: "expected common dtype to be floating point"
        raise ArgDtypeError(f"cosine_similarity: expected real floating-point vectors, got "
                            f"{x1.dtype} and {x2.dtype}")
    if x1.dtype != x2.dtype and kinds.strip("biu") and kinds.strip("fcV"):
        # an integer vector with a floating one: computed in the floating dtype, as torch
        floating = x1.dtype if x1.dtype.kind in "fcV" else x2.dtype
        x1, x2 = (v if v.dtype == floating else v.astype(floating) for v in (x1, x2))
    if not shape:  # two scalars: one-element vectors along dim 0 (or -1), as torch
        return cosine_similarity(x1.reshape(1), x2.reshape(1), 0, eps)
    units = []
    for v, v_shape in zip((x1, x2), shapes):
        if v_shape != shape:  # the norm is over the broadcast vectors, as PyTorch's
            v = add(v, np.zeros(shape, dtype=v.dtype))
        length = norm(v, 2, dim, keepdims=True)
        short = length.data < eps
        if short.any():  # max(|v|, eps), the gradient flowing as if through |v| alone
            length = length + np.where(short, eps - length.data, 0).astype(length.dtype)
        units.append(v / length)
    return sum(units[0] * units[1], dim)


class _ShapeTypeError(_engine.ShapeError, TypeError):
    """A size or count that is not an int (one_hot's num_classes, an adaptive pool's
    output_size): dlpy's ShapeError, and torch's TypeError (its argument parser refuses it)."""


@_meta.follows
def one_hot(input, num_classes: int = -1) -> Tensor:
    """Integer labels (...) -> an int64 tensor (..., num_classes) with a 1 at each label and no
    gradient, as torch's; num_classes -1: one more than the largest label."""
    data = np.asarray(input.data if isinstance(input, Tensor) else input)
    if data.dtype != np.int64:
        raise _loss.LabelDtypeError(
            f"one_hot: labels must be integers (class indices), got {data.dtype} "
            f"(int64 only, as torch)")
    if isinstance(num_classes, Tensor) and num_classes.ndim == 0 \
            and num_classes.dtype.kind in "iu":  # torch's int argument takes a 0-d int tensor
        num_classes = int(num_classes.item())
    not_int = isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer))
    if not_int or num_classes < -1:
        raise (_ShapeTypeError if not_int else _engine.ShapeError)(
            f"one_hot: num_classes must be -1 or a count >= 0, got {num_classes!r}")
    if type(getattr(input, "data", None)) is MetaArray:  # no values to read: num_classes
        if num_classes == -1:  # (the largest label, torch's value read)
            raise RuntimeError("Tensor.item() cannot be called on meta tensors")
        return Tensor(meta_array(data.shape + (num_classes,), np.int64))
    if data.size and data.min() < 0:
        raise _engine.ShapeError(f"one_hot: labels must be >= 0, got {data.min()}")
    if num_classes <= 0 and not data.size:  # torch's: 0 classes of empty labels is refused too
        raise _engine.ShapeError("one_hot: cannot infer num_classes from empty labels")
    if num_classes == -1:
        num_classes = int(data.max()) + 1
    elif data.size and data.max() >= num_classes:
        raise _engine.ShapeError(f"one_hot: labels must be < num_classes ({num_classes}), got "
                                 f"{data.max()}")
    return Tensor((data[..., None] == np.arange(num_classes)).astype(np.int64))


@autocast_policy(LOWER)
def scaled_dot_product_attention(q: Tensor, k: Tensor, v: Tensor, attn_mask=None,
                                 dropout_p: float = 0.0, is_causal: bool = False, *,
                                 scale: float | None = None, enable_gqa: bool = False,
                                 mask=None, training: bool | None = None, rng=None,
                                 return_weights: bool = False):
    """softmax(q k^T / sqrt(dim), masked) v, fused with its backward (ops/attention.py).

    q (..., seq_q, dim), k (..., seq_k, dim), v (..., seq_k, dim_v) -> (..., seq_q, dim_v), e.g.
    (batch, heads, seq, head_dim). torch's signature: ``attn_mask`` (fourth) is boolean True
    where attention IS allowed (or float, added to the scores); ``is_causal``: each query sees
    only keys at or before it. dlpy's keyword ``mask`` is the other boolean meaning: True where
    attention is NOT allowed (or float, added). A row with every key masked gets zero weights
    (and output), never NaN. Dropout on the weights with probability ``dropout_p``, as torch's
    (which applies it whenever dropout_p > 0); ``training=False`` turns it off (dlpy's layers
    pass ``training=self.training``).
    ``return_weights``: also return the weights (a numpy array). ``scale`` replaces
    1 / sqrt(dim); ``enable_gqa``: k and v have Hkv heads (axis -3), q a multiple of them, as
    torch (query head h uses kv head h // (Hq / Hkv), k and v not copied). ``attn_mask`` may be
    a ``dlpy.nn.attention.bias.CausalBias``.
    """
    dtypes = [t.dtype for t in (q, k, v) if isinstance(t, Tensor)]
    if len(set(dtypes)) > 1:
        raise _attention.MaskTypeError(f"scaled_dot_product_attention: expected q, k and v of "
                                       f"one dtype, got {', '.join(map(str, dtypes))}, as torch")
    if dtypes and not is_floating_dtype(dtypes[0]):
        raise _attention.MaskTypeError(f"scaled_dot_product_attention: expected floating q, k "
                                       f"and v, got {dtypes[0]}, as torch")
    if dropout_p > 1:  # torch's: a negative dropout_p drops nothing
        raise _engine.ShapeError(f"scaled_dot_product_attention: dropout_p must be in [0, 1], "
                                 f"got {dropout_p}")
    dropout_p = dropout_p if dropout_p > 0 else 0.0
    if scale is not None and not isinstance(scale, (int, float, np.number)):
        raise TypeError(f"scaled_dot_product_attention(): argument 'scale' must be float, not "
                        f"{type(scale).__name__}")
    # torch's CPU dispatch: an attn_mask that requires grad (in any grad mode) goes to the math
    # fallback; an empty output or no keys is returned before any kernel is chosen
    mask_grad = isinstance(attn_mask, Tensor) and attn_mask.requires_grad
    empty = np.ndim(q) >= 2 and np.ndim(k) >= 2 and np.ndim(v) >= 2 \
        and 0 in (*q.shape[:-1], *v.shape[:-2], v.shape[-1], k.shape[-2])
    if attn_mask is not None and not mask_grad \
            and np.ndim(attn_mask.data if isinstance(attn_mask, Tensor) else attn_mask) < 2 \
            and _fused_kernel_takes(q, k, v, dropout_p, enable_gqa):
        # torch's fused CPU kernel reads the mask's rows; its math fallback broadcasts
        raise IndexError(f"scaled_dot_product_attention: attn_mask must have at least 2 "
                         f"axes (..., L, S), got shape {np.shape(as_array(attn_mask))}")
    if is_causal and attn_mask is not None and not empty \
            and (mask_grad or not _takes_mask_and_causal(q, k, v, dropout_p, enable_gqa)):
        raise _engine.ShapeError("scaled_dot_product_attention: an explicit attn_mask should not "
                                 "be set when is_causal=True, as torch's")
    if enable_gqa and np.ndim(k) >= 3 and np.ndim(v) >= 3 and k.shape[-3] != v.shape[-3]:
        # k and v of different head counts (each dividing q's): each repeated to q's heads
        _attention.check_gqa("scaled_dot_product_attention", q.shape, k.shape, v.shape,
                             same_kv_heads=False)
        k, v = (repeat_interleave(t, q.shape[-3] // t.shape[-3], dim=-3) for t in (k, v))
        enable_gqa = False
    masks = []
    if mask is not None:
        masks.append(_attention.additive_mask(mask, q.dtype))
    learned_bias = None  # a float attn_mask that wants a gradient (a learned position bias)
    if attn_mask is not None:
        mask_dtype = getattr(attn_mask, "dtype", None)
        if mask_dtype is not None and is_floating_dtype(mask_dtype) \
                and mask_dtype not in (np.float32, q.dtype):
            raise _attention.MaskTypeError(f"scaled_dot_product_attention: expected a bool or "
                                           f"float32 attn_mask or one of the query's dtype "
                                           f"{q.dtype}, got {mask_dtype}, as torch")
        if isinstance(attn_mask, Tensor) and attn_mask.requires_grad \
                and attn_mask.dtype != np.bool_ and is_grad_enabled() and not return_weights:
            learned_bias = attn_mask
        else:
            # not getattr(.., "data"): an ndarray's .data is its buffer, unreadable for bfloat16
            attn_mask = attn_mask.data if isinstance(attn_mask, Tensor) \
                else np.asarray(attn_mask)
            masks.append(_attention.additive_mask(~attn_mask if attn_mask.dtype == np.bool_
                                                  else attn_mask, q.dtype))
    if is_causal:
        seq_q, seq_k = q.shape[-2], k.shape[-2]
        masks.append(_attention.additive_mask(np.triu(np.ones((seq_q, seq_k), bool), 1),
                                              q.dtype))
    combined = None
    for m in masks:
        combined = m if combined is None else combined + m
    if learned_bias is not None:
        return _attention_with_bias(q, k, v, learned_bias, combined,
                                    dropout_p if training is not False else 0.0, scale,
                                    enable_gqa)
    return _attention.attention(q, k, v, combined,
                                dropout_p=dropout_p if training is not False else 0.0,
                                rng=rng, return_weights=return_weights, scale=scale,
                                enable_gqa=enable_gqa, causal=bool(is_causal) and len(masks) == 1)


def _fused_kernel_takes(q, k, v, dropout_p, enable_gqa) -> bool:
    """Whether torch's CPU dispatch sends this call to its fused kernel (which reads the
    attn_mask's last two axes, refusing a 0-D / 1-D one): 4-D non-empty q, k, v of one batch,
    heads equal (or grouped, with enable_gqa), no dropout; else to its math fallback."""
    arrays = [t.data if isinstance(t, Tensor) else np.asarray(t) for t in (q, k, v)]
    return all(a.ndim == 4 and a.size and a.shape[0] == arrays[0].shape[0]
               and (a.shape[1] == arrays[0].shape[1]
                    or (enable_gqa and arrays[0].shape[1] % a.shape[1] == 0)) for a in arrays) \
        and not dropout_p


def _takes_mask_and_causal(q, k, v, dropout_p, enable_gqa) -> bool:
    """Whether torch's CPU kernel for this call (its fused one) applies an attn_mask and
    is_causal together: 4-D q, k, v of one head dim and batch, heads equal (or grouped), the
    last axis contiguous, no dropout; its math fallback refuses the pair."""
    arrays = [t.data if isinstance(t, Tensor) else np.asarray(t) for t in (q, k, v)]
    return all(a.ndim == 4 and a.shape[-1] == arrays[0].shape[-1]
               and a.shape[0] == arrays[0].shape[0] and a.strides[-1] in (0, a.itemsize)
               and (enable_gqa or a.shape[1] == arrays[0].shape[1]) for a in arrays) \
        and not dropout_p


def _attention_with_bias(q: Tensor, k: Tensor, v: Tensor, bias: Tensor, mask, dropout_p,
                         scale, enable_gqa) -> Tensor:
    """softmax(q k^T * scale + bias + mask) v where the float bias gets a gradient: the scores
    made here, softmax and P v fused (ScoresAttention), so dS flows to q, k and the bias."""
    if dropout_p:
        raise NotImplementedError("scaled_dot_product_attention: dropout with an attn_mask "
                                  "that requires grad is not supported")
    if enable_gqa:
        _attention.check_gqa("scaled_dot_product_attention", q.shape, k.shape, v.shape)
        group = q.shape[-3] // k.shape[-3]
        k, v = (repeat_interleave(t, group, dim=-3) for t in (k, v))
    if scale is None:
        scale = 1.0 / np.sqrt(q.shape[-1])
    # the bias in q's dtype (a float32 one of float16 q too): the output keeps q's dtype
    bias = bias if bias.dtype == q.dtype else bias.to(q.dtype)
    scores = matmul(q, swapaxes(k, -1, -2)) * scale + bias
    return _attention.ScoresAttention(mask)(scores, v)


# conv1d / 3d, their transposes, the 1d / 3d pools and unpools live with the 2d ones in
# ops/conv.py (one N-d implementation); the adaptive pools, composites, here
__all__ += [
    "adaptive_avg_pool3d", "adaptive_max_pool1d", "adaptive_max_pool3d", "avg_pool3d", "conv3d",
    "conv_transpose3d", "max_pool3d", "max_unpool1d", "max_unpool3d",
]


def _averaging_matrix(size: int, out: int, dtype) -> np.ndarray:
    """(out, size): row i averages x[start:end], start = floor(i size / out), end =
    ceil((i + 1) size / out), PyTorch's adaptive pooling windows."""
    i = np.arange(out)
    start, end = i * size // out, -(-(i + 1) * size // out)
    inside = (np.arange(size) >= start[:, None]) & (np.arange(size) < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


def _averaging_taps(size: int, out: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    """_averaging_matrix as Resample's (indices, weights), each (taps, out): a shorter window
    repeats its last position, that position's 1 / length shared among the repeats (no zero
    weights, which would make 0 * inf)."""
    windows = _adaptive_windows(size, out)  # (out, taps)
    i = np.arange(out)
    lengths = -(-(i + 1) * size // out) - i * size // out
    repeats = windows.shape[1] - lengths + 1  # the last position's taps
    last = np.arange(windows.shape[1]) >= (lengths - 1)[:, None]
    weights = np.where(last, 1.0 / (lengths * repeats)[:, None], 1.0 / lengths[:, None])
    return windows.T, weights.T.astype(dtype)


_SIZE_WORDS = {2: "a pair", 3: "a triple"}


def _adaptive_size(name: str, output_size, shape, nd: int = 2) -> tuple[int, ...]:
    """The nd output sizes of an adaptive pool from an int, nd of them, or (nd >= 2) None among
    them for the input's size; for nd = 1 an int or a 1-tuple."""
    if nd == 1:
        out = _conv._single(output_size, f"{name}: output_size")
        if out < 0:
            raise ArgError(f"{name}: output_size must be >= 0, got {out}")
        return (out,)
    size = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size,) * nd
    if len(size) != nd or not all(n is None or isinstance(n, (int, np.integer))
                                  and not isinstance(n, bool) and n >= 0 for n in size):
        not_int = any(n is not None and (isinstance(n, bool) or not isinstance(
            n, (int, np.integer))) for n in size)
        raise (_ShapeTypeError if not_int else _engine.ShapeError)(
            f"{name}: output_size must be an int >= 0 or {_SIZE_WORDS[nd]} of them (None: the "
            f"input's size), got {output_size!r}")
    return tuple(shape[-nd + i] if n is None else int(n) for i, n in enumerate(size))


def _check_adaptive_input(name: str, shape, nd: int) -> None:
    """torch's checks: every axis but the first non-empty (adaptive_avg_pool1d / 2d: only the
    spatial ones)."""
    checked = shape[-nd:] if name in ("adaptive_avg_pool1d", "adaptive_avg_pool2d") else shape[1:]
    if 0 in checked:
        raise ArgError(f"{name}: expected non-empty axes (but the batch), got x {shape}, as "
                       f"torch")


def _float_dtype(x):
    return np.result_type(x.dtype if isinstance(x, Tensor) else np.asarray(x).dtype, np.float32)


def _adaptive_avg_pool(nd: int, x: Tensor, output_size) -> Tensor:
    """adaptive_avg_pool1d / 2d / 3d: one product with a constant averaging matrix per spatial
    axis whose size changes (A_h @ x @ A_w^T in 2-d), so the gradient is matmul's."""
    name = f"adaptive_avg_pool{nd}d"
    shape = _conv._shape_of(x)
    _conv._check_pool_rank(name, shape, _conv.SPATIAL[nd][0])
    sizes, dtype = _adaptive_size(name, output_size, shape, nd), _float_dtype(x)
    if np.dtype(x.dtype if isinstance(x, Tensor) else np.asarray(x).dtype).kind in "biu":
        raise NoKernelError(f"{name}: expected a floating-point x, got {x.dtype}, as torch's")
    if all(n == 1 for n in sizes) and 0 in shape[-nd:]:  # torch's global pool is a mean, which
        with warnings.catch_warnings():  # checks nothing: NaN when empty (numpy's warning)
            warnings.simplefilter("ignore", RuntimeWarning)
            y = x.mean(dim=tuple(range(-nd, 0)), keepdim=True)
        return _torch_node(y, "SqueezeBackward1" if nd == 1 else "MeanBackward1")
    _check_adaptive_input(name, shape, nd)
    if _meta.holds_meta(x):  # the pooled shape, no averaging matrices
        return _torch_node(_meta.shaped((x,), shape[:-nd] + tuple(sizes), x.dtype),
                           "SqueezeBackward1" if nd == 1 else "MeanBackward1"
                           if all(n == 1 for n in sizes) else f"AdaptiveAvgPool{nd}DBackward0")
    finite = bool(np.isfinite(_data(x)).all())
    low = x.dtype if isinstance(x, Tensor) and is_low_precision(x.dtype) else None
    if low is not None:  # float16/bfloat16: float32 sums rounded once, as torch's
        dtype = np.dtype(np.float32)
    y = x
    for axis in range(len(shape) - nd, len(shape)):
        size, out = shape[axis], sizes[axis - len(shape) + nd]
        if out == size:  # an equal size averages single values: nothing to do
            continue
        if y is x and low is not None:
            y = x.to(np.float32)
        if not finite:  # a product's 0 * inf would put NaN in every window: gather them
            y = _resample.resample(y if isinstance(y, Tensor) else Tensor(y), axis,
                                   *_averaging_taps(size, out, dtype))
            continue
        matrix = _averaging_matrix(size, out, dtype)
        if axis == len(shape) - 1:
            y = matmul(y, matrix.T)  # (..., out)
            continue
        lead, rest = y.shape[:axis], y.shape[axis + 1:]
        if len(rest) > 1:  # (..., size, *rest) -> (..., size, prod(rest)) for one product
            y = reshape(y, (*lead, size, int(np.prod(rest))))  # (-1: not for 0 values)
        y = matmul(matrix, y)  # (..., out, prod(rest))
        if len(rest) > 1:
            y = reshape(y, (*lead, out, *rest))
    if low is not None and y is not x:
        y = y.to(low)
    y = identity(y) if y is x else _in_format_of(y, x) if nd == 2 else y  # (3-d: contiguous)
    # torch's node: its 1-d pool's squeeze, its mean for a global pool, else the pool's
    y = _torch_node(y, "SqueezeBackward1" if nd == 1 else "MeanBackward1"
                    if all(n == 1 for n in sizes) else f"AdaptiveAvgPool{nd}DBackward0")
    if y.op is not None:  # (the pool's steps shown as torch's one backward: TorchDispatchMode)
        y.op.adaptive_pool = (nd, x, tuple(sizes))
    return y


def _torch_node(y: Tensor, name: str) -> Tensor:
    """y, its node (if recorded) named ``name`` for grad_fn.name(), as torch's for the call."""
    if isinstance(y, Tensor) and y.op is not None:
        _rename(y.op, name)
    return y


def _in_format_of(y: Tensor, x) -> Tensor:
    """y in the memory format x suggests (channels-last for a channels-last x), as torch's
    pooling and resampling outputs: y itself when that is the contiguous one."""
    from dlpy.layouts import suggested_format, to_format

    fmt = suggested_format(x.data) if isinstance(x, Tensor) else None
    return y if fmt is None or y.ndim != x.ndim else to_format(y, fmt)


# off torch's CPU autocast list: the products with averaging matrices are no matmul of torch's
@autocast_policy(KEEP)
def adaptive_avg_pool1d(input: Tensor, output_size) -> Tensor:
    """x (N, C, L) or unbatched (C, L) -> (..., output_size): the means over PyTorch's adaptive
    windows along L (as adaptive_avg_pool2d's columns), one product with an averaging matrix."""
    return _adaptive_avg_pool(1, input, output_size)


@autocast_policy(KEEP)  # (as adaptive_avg_pool1d)
def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """x (N, C, H, W) or unbatched (C, H, W) -> (..., out_h, out_w), each output the mean of x
    over rows floor(i H / out_h) to ceil((i + 1) H / out_h) (exclusive) and the like columns, as
    PyTorch; output_size an int, a pair, or None in a pair for the input's size; (1, 1) is the
    global average pool. Two products with constant averaging matrices, A_h @ x @ A_w^T, so the
    gradient is matmul's."""
    return _adaptive_avg_pool(2, input, output_size)


@autocast_policy(FP32)
def adaptive_avg_pool3d(input: Tensor, output_size) -> Tensor:
    """x (N, C, D, H, W) or unbatched (C, D, H, W) -> (..., out_d, out_h, out_w): the means over
    PyTorch's adaptive windows along each axis (as adaptive_avg_pool2d's); output_size an int,
    a triple, or None in a triple for the input's size. One averaging product per axis."""
    return _adaptive_avg_pool(3, input, output_size)


def _adaptive_windows(size: int, out: int) -> np.ndarray:
    """(out, k): the positions of PyTorch's adaptive windows along an axis (floor(i size / out)
    to ceil((i + 1) size / out), exclusive), k the longest; a shorter one repeats its last."""
    i = np.arange(out)
    start, end = i * size // out, -(-(i + 1) * size // out)
    return np.minimum(start[:, None] + np.arange((end - start).max(initial=1)), end[:, None] - 1)


def _adaptive_max_pool(nd: int, x: Tensor, output_size,
                       return_indices: bool) -> Tensor | tuple[Tensor, Tensor]:
    """adaptive_max_pool1d / 2d / 3d: the maxima are found on the array; the values are a
    gather (getitem) of x, so the gradient is getitem's."""
    name = f"adaptive_max_pool{nd}d"
    shape = _conv._shape_of(x)
    _conv._check_pool_rank(name, shape, _conv.SPATIAL[nd][0])
    if np.dtype(x.dtype if isinstance(x, Tensor) else np.asarray(x).dtype).kind in "biu":
        raise NotImplementedError(f"{name}: expected a floating-point x, got {x.dtype}, as "
                                  f"torch's")
    _check_adaptive_input(name, shape, nd)
    sizes, spatial, lead = _adaptive_size(name, output_size, shape, nd), shape[-nd:], shape[:-nd]
    # (*sizes, *k): each window's positions in the flat plane, in row-major order
    positions = 0
    for axis, (n, out) in enumerate(zip(spatial, sizes)):
        windows = _adaptive_windows(n, out)  # (out, k)
        place = [1] * (2 * nd)
        place[axis], place[nd + axis] = windows.shape
        positions = positions * n + windows.reshape(place)
    positions = positions.reshape(*sizes, int(np.prod(positions.shape[nd:])))  # (*sizes, prod(k))
    plane = int(np.prod(spatial))  # (not -1: lead may hold a 0)
    planes = np.asarray(x.data if isinstance(x, Tensor) else x).reshape(*lead, plane)
    windows = planes[..., positions]  # (..., *sizes, prod(k))
    nan = np.isnan(windows)  # PyTorch's scan ends on a window's last NaN, if it has one
    last_nan = nan.shape[-1] - 1 - np.argmax(nan[..., ::-1], axis=-1)
    first = np.where(nan.any(axis=-1), last_nan, np.argmax(windows, axis=-1))  # (..., *sizes)
    indices = np.take_along_axis(np.broadcast_to(positions, first.shape + positions.shape[-1:]),
                                 first[..., None], axis=-1)[..., 0].astype(np.int64)
    leading = np.ix_(*(np.arange(n) for n in lead))  # each leading axis, broadcast
    index = tuple(a.reshape(a.shape + (1,) * nd) for a in leading) + (indices,)
    y = getitem(reshape(x, (*lead, plane)), index)
    if nd == 2:  # torch's 3-d pool gives contiguous results, even for a channels-last-3d x
        y = _in_format_of(y, x)
    _torch_node(y, "SqueezeBackward1" if nd == 1 else f"AdaptiveMaxPool{nd}DBackward0")
    if y.op is not None:  # (the gather shown as torch's one backward: TorchDispatchMode)
        y.op.adaptive_pool = (nd, x, tuple(sizes), indices)
    if not return_indices:
        return y
    from dlpy.layouts import laid_like

    return y, Tensor(laid_like(indices, np.asarray(getattr(x, "data", x))) if nd == 2 else indices)


def adaptive_max_pool1d(input: Tensor, output_size,
                        return_indices: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """x (N, C, L) or unbatched (C, L) -> (..., output_size): the max over each of PyTorch's
    adaptive windows along L, its first maximum (or its last NaN) taking the gradient, as
    PyTorch; return_indices: also their int64 positions along L."""
    return _adaptive_max_pool(1, input, output_size, return_indices)


def adaptive_max_pool2d(input: Tensor, output_size,
                        return_indices: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """x (N, C, H, W) or unbatched (C, H, W) -> (..., out_h, out_w): the max over each of
    PyTorch's adaptive windows (as adaptive_avg_pool2d's), its first maximum row by row (or its
    last NaN) taking the gradient, as PyTorch; return_indices: also their int64 indices into
    each flattened H*W plane."""
    return _adaptive_max_pool(2, input, output_size, return_indices)


@autocast_policy(FP32)
def adaptive_max_pool3d(input: Tensor, output_size,
                        return_indices: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """x (N, C, D, H, W) or unbatched (C, D, H, W) -> (..., out_d, out_h, out_w): the max over
    each of PyTorch's adaptive windows, as adaptive_max_pool2d; return_indices: also their int64
    indices into each flattened D*H*W volume."""
    return _adaptive_max_pool(3, input, output_size, return_indices)


# More of PyTorch's losses, distances, resampling, folding and embedding bags. Arguments keep
# PyTorch's positions, its deprecated size_average and reduce included.
__all__ += [
    "binary_cross_entropy", "cosine_embedding_loss", "embedding_bag", "fold",
    "gaussian_nll_loss", "hinge_embedding_loss", "interpolate", "margin_ranking_loss",
    "multi_margin_loss", "multilabel_soft_margin_loss", "pairwise_distance", "pixel_shuffle",
    "pixel_unshuffle", "poisson_nll_loss", "soft_margin_loss", "triplet_margin_loss", "unfold",
]


def _data(value) -> np.ndarray:
    return np.asarray(value.data if isinstance(value, Tensor) else value)


def _constant(value, dtype) -> Tensor:
    """A Tensor as it is; an array or a number as a Tensor of dtype (no gradient)."""
    return value if isinstance(value, Tensor) else Tensor(np.asarray(value, dtype=dtype))


def _broadcast_shape(name: str, names: str, *values) -> tuple[int, ...]:
    shapes = [np.shape(_data(v)) for v in values]
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        raise _engine.ShapeError(f"{name}: {names} of shapes {', '.join(map(str, shapes))} "
                                 f"cannot be broadcast together") from None


def _flag(name: str, what: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: {what} must be True or False, got {value!r}")
    return bool(value)


@autocast_policy(FP32)
def margin_ranking_loss(input1: Tensor, input2: Tensor, target, margin: float = 0,
                        size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """max(0, -y (x1 - x2) + margin): x1 should rank above x2 where the label y is 1, below
    where it is -1. The three broadcast together but need the same number of axes, as PyTorch's
    (whose clamp, as this one, passes the gradient at 0)."""
    name = "margin_ranking_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(name, reduction)
    margin = _real_number(name, "margin", margin)
    shapes = [np.shape(_data(v)) for v in (input1, input2, target)]
    if len({len(s) for s in shapes}) > 1:
        raise ArgError(f"{name}: input1, input2 and target must have the same number of axes, "
                       f"got shapes {', '.join(map(str, shapes))}")
    _broadcast_shape(name, "input1, input2 and target", input1, input2, target)
    target = _constant(target, _float_dtype(input1))
    # clamp_min, torch's (its node ClampMinBackward0 for reduction "none")
    return _reduce(name, (-target * (input1 - input2) + margin).clamp_min(0.0), reduction)


@autocast_policy(FP32)
def hinge_embedding_loss(input: Tensor, target, margin: float = 1.0,  # noqa: A002
                         size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """x where the label y is 1, max(0, margin - x) where it is -1 (both added for any other
    label, as PyTorch's); x and y broadcast. The labels get no gradient."""
    name = "hinge_embedding_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(name, reduction)
    margin = _real_number(name, "margin", margin)
    _broadcast_shape(name, "input and target", input, target)
    labels = _data(target)
    hinge = clamp(margin - input, min=0.0)
    return _reduce(name, where(labels != 1, hinge, 0.0) + where(labels != -1, input, 0.0),
                   reduction)


@autocast_policy(FP32)
def soft_margin_loss(input: Tensor, target, size_average=None, reduce=None,  # noqa: A002
                     reduction: str = "mean") -> Tensor:
    """log(1 + exp(-y x)) for labels y = +-1 (input and target broadcast), the logistic loss,
    computed as binary_cross_entropy_with_logits(y x, 1), which never overflows (PyTorch's
    gives inf once -y x passes about 88 in float32, 709 in float64). As torch's, the result
    has the input's shape and dtype, and the target takes no gradient."""
    name = "soft_margin_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(name, reduction)
    _refuse_inference(input, target)
    if _broadcast_shape(name, "input and target", input, target) != np.shape(_data(input)):
        raise ArgError(f"{name}: target of shape {np.shape(_data(target))} must broadcast to "
                       f"the input's shape {np.shape(_data(input))}")
    if isinstance(input, Tensor) and input.data.dtype.kind in "biu":
        from dlpy.tensor import InPlaceCastError

        # torch's kernel writes the float losses into a result of the input's dtype
        raise InPlaceCastError(f"{name}: result type Float can't be cast to the desired output "
                               f"type {_TORCH_DTYPE_NAMES[input.data.dtype.name]}")
    if isinstance(target, Tensor) and target.requires_grad and is_grad_enabled():
        raise RuntimeError(f"{name}: not differentiable with respect to argument 'target': it "
                           f"cannot have requires_grad True (detach it), as torch's")
    if is_low_precision(_data(input).dtype):  # torch's kernel, each step rounded
        return _node(_loss.SoftMarginLowPrecision(np.asarray(_data(target)), reduction)(input),
                     "SoftMarginLossBackward0")
    margins = input * _constant(_data(target), _float_dtype(input))
    losses = binary_cross_entropy_with_logits(margins, np.ones(margins.shape, margins.dtype),
                                              "none")
    return _node(_reduce(name, losses, reduction), "SoftMarginLossBackward0")


@autocast_policy(FP32)
def cosine_embedding_loss(input1: Tensor, input2: Tensor, target, margin: float = 0,
                          size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """1 - cos(x1, x2) where the label y is 1, max(0, cos(x1, x2) - margin) where it is -1 (0
    for other labels), cos along the last axis: x1, x2 (N, D) with y (N,), or (D,) with a 0-D
    y, as PyTorch's, whose cos = x1.x2 / sqrt((|x1|^2 + 1e-12) (|x2|^2 + 1e-12))."""
    name = "cosine_embedding_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(name, reduction)
    margin = _real_number(name, "margin", margin)
    labels = _data(target)
    shapes = [np.shape(_data(v)) for v in (input1, input2)]
    if labels.ndim > 1:
        raise ArgError(f"{name}: target must be 0-D or 1-D (one label per pair), got shape "
                       f"{labels.shape}")
    if any(len(s) != labels.ndim + 1 for s in shapes):
        raise ArgError(f"{name}: a {labels.ndim}-D target needs {labels.ndim + 1}-D inputs, "
                       f"got shapes {shapes[0]} and {shapes[1]}")
    pairs = _broadcast_shape(name, "input1 and input2", input1, input2)
    _broadcast_shape(name, "the pairs and target", np.empty(pairs[:-1]), labels)
    axis = labels.ndim
    dot = sum(input1 * input2, axis)
    squares = [sum(v * v, axis) + 1e-12 for v in (input1, input2)]
    cos = dot / sqrt(squares[0] * squares[1])
    return _reduce(name, where(labels == 1, 1 - cos, 0.0)
                   + where(labels == -1, clamp(cos - margin, min=0.0), 0.0), reduction)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> Tensor:
    """The p-norm of x1 - x2 + eps along the last axis, x1 and x2 broadcast, as torch's
    F.pairwise_distance: (N, D) -> (N,) ((N, 1) with keepdim); any p, as vector_norm's (0 counts
    the nonzero differences); the gradient at a zero difference is 0, as PyTorch's."""
    name = "pairwise_distance"
    p = _real_number(name, "p", p, finite=False)
    eps = _real_number(name, "eps", eps)
    _broadcast_shape(name, "x1 and x2", x1, x2)
    difference = _constant(x1, _float_dtype(x2)) - x2 + eps
    if difference.ndim == 0:
        return _named(abs(difference), "NormBackward1")
    return _named(norm(difference, p, -1, keepdims=_flag(name, "keepdim", keepdim)),
                  "NormBackward1")


@autocast_policy(FP32)
def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor,
                        margin: float = 1.0, p: float = 2, eps: float = 1e-6,
                        swap: bool = False, size_average=None, reduce=None,
                        reduction: str = "mean") -> Tensor:
    """max(0, margin + d(a, p) - d(a, n)), d the pairwise_distance(p, eps) along the last
    axis; with ``swap`` d(a, n) is min(d(a, n), d(p, n)) (the gradient split on ties, as
    PyTorch's). The three broadcast but need the same number of axes."""
    name = "triplet_margin_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(name, reduction)
    margin = _real_number(name, "margin", margin)
    if margin <= 0:
        raise ValueError(f"{name}: margin must be > 0, got {margin}")
    shapes = [np.shape(_data(v)) for v in (anchor, positive, negative)]
    if len({len(s) for s in shapes}) > 1:
        raise ArgError(f"{name}: anchor, positive and negative must have the same number of "
                       f"axes, got shapes {', '.join(map(str, shapes))}")
    positive_distance = pairwise_distance(anchor, positive, p, eps)
    negative_distance = pairwise_distance(anchor, negative, p, eps)
    if _flag(name, "swap", swap):
        negative_distance = minimum(negative_distance,
                                    pairwise_distance(positive, negative, p, eps))
    return _reduce(name, clamp(margin + positive_distance - negative_distance, min=0.0),
                   reduction)


def multilabel_soft_margin_loss(input: Tensor, target, weight=None,  # noqa: A002
                                size_average=None, reduce=None,
                                reduction: str = "mean") -> Tensor:
    """The binary cross-entropy of logits x against 0/1 labels (or probabilities) y, times
    ``weight``, averaged over the classes (x's last axis): (N, C) -> (N,), then reduced, as
    PyTorch's. y and weight broadcast with x. Labels that require grad get one."""
    name = "multilabel_soft_margin_loss"
    weight, reduction = _weight_or_reduction(weight, reduction)
    reduction = _legacy_reduction(size_average, reduce, reduction, alias=False)
    _check_reduction(name, reduction)
    shape = np.shape(_data(input))
    if len(shape) < 1:
        raise ArgError(f"{name}: expected input (..., classes), got {shape}")
    if not isinstance(target, Tensor):  # (an array: dlpy's, as labels of the input's dtype)
        target = Tensor(np.asarray(target, dtype=_float_dtype(input)))
    # torch's composite op by op: its dtypes (an integer target takes the input's, a bool one
    # is refused by 1 - target), its roundings in float16/bfloat16
    losses = neg(target * logsigmoid(input) + (1 - target) * logsigmoid(neg(input)))
    if weight is not None:  # a factor of the composite (differentiable), as torch's
        weight = weight if isinstance(weight, Tensor) else Tensor(np.asarray(weight))
        losses = losses * weight
    return _reduce(name, sum(losses, -1) / shape[-1], reduction)


def _check_margin_kernel(kernel, input, labels):
    """torch's margin-loss CPU kernels take float32 / float64 scores and int64 labels only
    (scores of another dtype are refused once the kernel runs: not for an empty input)."""
    dtype = np.dtype(_data(input).dtype)
    if dtype.name not in ("float32", "float64") and np.size(_data(input)):
        raise NotImplementedError(f'"{kernel}" not implemented for '
                                  f"'{_TORCH_DTYPE_NAMES[dtype.name]}', as torch's")
    if labels.dtype != np.int64:
        raise RuntimeError("expected scalar type Long but found "
                           f"{_TORCH_DTYPE_NAMES.get(labels.dtype.name, labels.dtype.name)}")


@autocast_policy(FP32)
def multi_margin_loss(input: Tensor, target, p: int = 1, margin: float = 1.0,  # noqa: A002
                      weight=None, size_average=None, reduce=None,
                      reduction: str = "mean") -> Tensor:
    """The multi-class hinge loss of scores x (N, C) (or (C,)) and integer labels y (N,) (or
    one): sum over classes j != y of max(0, margin - x[y] + x[j])^p (times weight[y]) / C, as
    PyTorch's; p is 1 or 2; the mean is over the samples (not their weights)."""
    name = "multi_margin_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(name, reduction)
    if isinstance(p, bool) or p not in (1, 2):
        raise ValueError(f"{name}: p must be 1 or 2, got {p!r}")
    margin = _real_number(name, "margin", margin)
    shape, labels = np.shape(_data(input)), _data(target)
    if labels.dtype.kind not in "iu":
        raise ArgDtypeError(f"{name}: target must be integer class indices, got {labels.dtype}")
    _check_margin_kernel("multi_margin_loss_cpu_kernel", input, labels)
    if not shape:  # a 0-d input: one sample of one class, as torch's
        shape = (1,)
    if len(shape) not in (1, 2) or shape[-1] == 0:
        raise ArgError(f"{name}: expected scores (N, C) or (C,), got {shape}")
    rows, classes = (1, shape[0]) if len(shape) == 1 else shape
    expected = ((), (1,)) if len(shape) == 1 else ((rows,),)
    if labels.shape not in expected:
        raise ArgError(f"{name}: expected one label per sample, target "
                       f"{' or '.join(map(str, expected))} for scores {shape}, got "
                       f"{labels.shape}")
    flat = labels.reshape(-1)
    if flat.size and (flat.min() < 0 or flat.max() >= classes):
        raise ArgError(f"{name}: labels must lie in [0, {classes}), got values from "
                       f"{flat.min()} to {flat.max()}")
    scores = reshape(input, (rows, classes))
    picked = reshape(getitem(scores, (np.arange(rows), flat)), (rows, 1))
    hinge = relu(margin - picked + scores)  # (rows, classes); no gradient at 0, as PyTorch's
    if p == 2:
        hinge = hinge * hinge
    hinge = where(np.arange(classes) != flat[:, None], hinge, 0.0)
    if weight is not None:
        _loss.refuse_gradient(name, "weight", weight)
        weight = _loss.check_class_weight(name, weight, classes, _float_dtype(input))
        hinge = hinge * weight[flat][:, None]
    losses = reshape(sum(hinge, 1) / classes, labels.shape)
    return _node(_reduce(name, losses, reduction), "MultiMarginLossBackward0")


@autocast_policy(FP32)
def poisson_nll_loss(input: Tensor, target, log_input: bool = True,  # noqa: A002
                     full: bool = False, size_average=None, eps: float = 1e-8, reduce=None,
                     reduction: str = "mean") -> Tensor:
    """The Poisson negative log-likelihood of counts y under the rate exp(x) (``log_input``):
    exp(x) - y x, or under the rate x: x - y log(x + eps); ``full`` adds Stirling's
    y log y - y + log(2 pi y) / 2 where y > 1. x and y broadcast; y may need a gradient
    (where y <= 1 it gets none from the Stirling term, but nan at y = 0, as PyTorch's)."""
    name = "poisson_nll_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction, alias=False)
    _check_reduction(name, reduction)
    eps = _real_number(name, "eps", eps)
    _broadcast_shape(name, "input and target", input, target)
    counts = _constant(target, _float_dtype(input))
    if _flag(name, "log_input", log_input):
        losses = exp(input) - counts * input
    else:
        losses = input - counts * log(input + eps)
    if _flag(name, "full", full):
        # on every count, masked after: as torch's, a count of 0 that needs a gradient gets
        # nan (0 * inf through the mask)
        with np.errstate(divide="ignore", invalid="ignore"):
            stirling = counts * log(counts) - counts + 0.5 * log(2 * np.pi * counts)
        term = where(counts.data > 1, stirling, 0.0)
        # torch adds it in place: the losses keep their dtype (bfloat16 with int64 counts)
        losses = losses + (term if term.dtype == losses.dtype else term.to(losses.dtype))
    return _reduce(name, losses, reduction)


def gaussian_nll_loss(input: Tensor, target, var, full: bool = False,  # noqa: A002
                      eps: float = 1e-6, reduction: str = "mean") -> Tensor:
    """0.5 (log v + (x - y)^2 / v), v = max(var, eps) (+ 0.5 log(2 pi) with ``full``): the
    Gaussian negative log-likelihood of y with mean x and variance var, as PyTorch's: the clamp
    passes var's gradient unchanged; var is a number, of x's shape, x's shape without its last
    axis, or x's shape with one axis of size 1 where x's is larger; y broadcasts to x."""
    name = "gaussian_nll_loss"
    _check_reduction(name, reduction)
    eps = _real_number(name, "eps", eps)
    shape, dtype = np.shape(_data(input)), _float_dtype(input)
    if isinstance(var, float):
        var = np.full(shape, var, dtype=dtype)
    elif not isinstance(var, (Tensor, np.ndarray)):  # torch takes a float or a tensor (dlpy
        # an array too), not an int nor a bool
        raise TypeError(f"{name}: var must be a float or a Tensor, got "
                        f"{type(var).__name__}")
    var_shape, var_data = np.shape(_data(var)), _data(var)
    if var_data.size and (var_data < 0).any():  # (a nan beside hides nothing)
        raise ValueError(f"{name}: var has negative entries (it must be >= 0), the smallest "
                         f"is {var_data.min()}")
    if isinstance(var, Tensor) and var_data.dtype.kind in "biu":
        from dlpy.tensor import InPlaceCastError

        # torch clamps a copy of var in place to eps: a float bound into var's dtype
        raise InPlaceCastError(f"{name}: result type Float can't be cast to the desired output "
                               f"type {_TORCH_DTYPE_NAMES[var_data.dtype.name]}")
    if var_shape != shape:
        mismatched = [v for n, v in zip(shape, var_shape) if n != v]
        if var_shape == shape[:-1]:  # one variance per vector: along a new last axis
            var = unsqueeze(_constant(var, dtype), -1)
        elif len(var_shape) != len(shape) or np.sum(mismatched) != 1:
            raise ValueError(f"{name}: var must have the input's shape {shape}, that without "
                             f"its last axis, or one axis of size 1 where the input's is larger, "
                             f"got {var_shape}")
    # target broadcasts with input, either way (the losses take the broadcast shape), as torch's
    _broadcast_shape(name, "input and target", input, target)
    var = _constant(var, dtype)
    clamped = np.maximum(var.data, eps)
    # max(var, eps) with the gradient of var itself: (var - var) is exactly 0
    var = (var - var.data) + clamped if var.requires_grad else Tensor(clamped)
    difference = input - target
    losses = 0.5 * (log(var) + difference * difference / var)
    if _flag(name, "full", full):
        losses = losses + 0.5 * float(np.log(2 * np.pi))
    return _reduce(name, losses, reduction)


INTERPOLATE_MODES = ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear",
                     "area")
_UPSAMPLE_NODES = {"nearest": "UpsampleNearest{}D", "nearest-exact": "UpsampleNearestExact{}D",
                   "linear": "UpsampleLinear{}D", "bilinear": "UpsampleBilinear{}D",
                   "bicubic": "UpsampleBicubic{}D", "trilinear": "UpsampleTrilinear{}D"}


class _ModeError(NotImplementedError, ValueError):
    """An interpolation mode unknown or not for the input's rank: torch's NotImplementedError,
    and a ValueError (antialias with a mode that has none: torch's ValueError)."""


class _SizeTypeError(TypeError, ValueError):
    """size= with the wrong number of ints for the input: a TypeError, and torch's
    ValueError."""


def interpolate(input: Tensor, size=None, scale_factor=None,  # noqa: A002
                mode: str = "nearest", align_corners: bool | None = None,
                recompute_scale_factor: bool | None = None, antialias: bool = False) -> Tensor:
    """x (N, C, L), (N, C, H, W) or (N, C, D, H, W) resized to ``size`` (an int or one per
    spatial axis) or by ``scale_factor`` (size floor(n * factor)), as torch's F.interpolate:
    mode "nearest" (source floor(i s), s = 1 / scale_factor when given, else in / out;
    PyTorch's float32 index arithmetic), "nearest-exact" (floor((i + 0.5) s)), "linear"
    (N, C, L), "bilinear" and "bicubic" (N, C, H, W), "trilinear" (N, C, D, H, W) (source
    s (i + 0.5) - 0.5, or with ``align_corners`` the corners matched, s = (in - 1) / (out - 1)),
    "area" (adaptive average pooling).
    ``recompute_scale_factor``: s from the sizes, not the factor. ``antialias`` (bilinear and
    bicubic): torch's _upsample_bilinear2d_aa / _bicubic2d_aa, the filter widened by s when
    downsampling, the width resampled first. One Resample op per axis."""
    name = "interpolate"
    if mode not in INTERPOLATE_MODES:
        raise _ModeError(f"{name}: mode must be one of {', '.join(INTERPOLATE_MODES)}, got "
                         f"{mode!r}")
    antialias = _flag(name, "antialias", antialias)
    if antialias and mode not in ("bilinear", "bicubic"):
        raise _ModeError(f"{name}: antialias is only for modes bilinear and bicubic "
                         f"(as PyTorch), got mode {mode!r}")
    if mode in ("nearest", "nearest-exact", "area"):
        if align_corners is not None:
            raise ValueError(f"{name}: align_corners can only be set with the interpolating "
                             f"modes linear, bilinear, bicubic and trilinear, got mode {mode!r}")
    else:
        align_corners = False if align_corners is None else _flag(name, "align_corners",
                                                                  align_corners)
    shape = _conv._shape_of(input)
    needed = {"linear": 3, "bilinear": 4, "bicubic": 4, "trilinear": 5}.get(mode)
    if len(shape) not in (3, 4, 5) or needed and len(shape) != needed:
        expected = {3: "(N, C, L)", 4: "(N, C, H, W)", 5: "(N, C, D, H, W)"}.get(
            needed, "(N, C, L), (N, C, H, W) or (N, C, D, H, W)")
        raise _ModeError(f"{name}: mode {mode!r} needs x {expected}, got {shape}")
    dims = len(shape) - 2
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{name}: give either size or scale_factor, got size={size!r} and "
                         f"scale_factor={scale_factor!r}")
    if size is not None:
        if recompute_scale_factor:
            raise ValueError(f"{name}: recompute_scale_factor is not meaningful with an "
                             f"explicit size")
        sizes = tuple(size) if isinstance(size, (tuple, list)) else (size,) * dims
        if len(sizes) != dims or not all(isinstance(n, (int, np.integer))
                                         and not isinstance(n, bool) for n in sizes):
            raise _SizeTypeError(f"{name}: size must be an int or {dims} ints for x {shape}, got "
                                 f"{size!r}")
        sizes, scales = tuple(int(n) for n in sizes), (None,) * dims
    else:
        factors = tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) \
            else (scale_factor,) * dims
        if len(factors) != dims:
            raise ValueError(f"{name}: scale_factor must be a number or {dims} numbers for x "
                             f"{shape}, got {scale_factor!r}")
        factors = tuple(_real_number(name, "scale_factor", f) for f in factors)
        sizes = tuple(int(n * f) for n, f in zip(shape[2:], factors))  # truncated, as PyTorch
        scales = (None,) * dims if recompute_scale_factor or mode == "area" else factors
    return _interpolate_to(input, sizes, scales, mode, align_corners, antialias)


def _interpolate_to(input: Tensor, sizes: tuple, scales: tuple, mode: str,  # noqa: A002
                    align_corners, antialias: bool) -> Tensor:
    """interpolate's work once the output ``sizes`` and the ``scales`` the coordinates use
    (None: in / out) are known; aten's upsample kernels give both."""
    name = "interpolate"
    shape, dims = _conv._shape_of(input), len(sizes)
    # (area is adaptive pooling, whose checks take an empty output)
    if mode != "area" and (np.min(sizes) < 1 or np.min(shape[2:]) < 1):
        raise _engine.ShapeError(
            f"{name}: input and output sizes must be > 0, got input {shape[2:]} "
            f"and output {sizes}")
    if shape[1] == 0 and mode != "area":  # (area is adaptive pooling, which takes it)
        raise ArgError(f"{name}: mode {mode!r} needs x with channels (only the batch may be "
                       f"empty), got {shape}")
    dtype = np.dtype(input.dtype)
    low_precision = is_low_precision(dtype)
    if dtype == np.uint8 and mode in ("bilinear", "bicubic"):  # images: integer arithmetic
        kind = "linear" if mode == "bilinear" else "cubic"
        return Tensor(_resample.resample_uint8(as_array(input), sizes, scales, align_corners,
                                               kind, antialias))
    # nearest copies any dtype (torch's takes floats and uint8 only: dlpy's integer label maps)
    if dtype.kind not in "fc" and not low_precision and not mode.startswith("nearest"):
        raise NoKernelError(f"{name}: mode {mode!r} needs a floating-point x, got {dtype}")
    if mode == "area":
        return (adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_avg_pool3d)[dims - 1](
            input, sizes[0] if dims == 1 else sizes)
    if low_precision and antialias:
        raise NotImplementedError(f"{name}: antialias takes float32 and float64 (and uint8) "
                                  f"inputs (as PyTorch), got {dtype}")
    if low_precision and mode == "bilinear":
        # float16 / bfloat16 bilinear: every axis in float32, rounded once, as torch's kernel
        out = _interpolate_to(input.float(), sizes, scales, mode, align_corners, antialias)
        # torch's one kernel: the cast back is its UpsampleBilinear2DBackward0 node
        return _named_as(out.to(dtype=dtype), out)
    kind = {"bilinear": "linear", "trilinear": "linear", "bicubic": "cubic"}.get(mode, mode)
    # float16 / bfloat16 linear, trilinear and bicubic: torch's generic kernel sums in float32
    # with the weights stored in the input's dtype (linear's 1 - lambda taken from the stored
    # lambda), and rounds once
    rounded_weights = low_precision and not mode.startswith("nearest")
    y = input.float() if rounded_weights else input
    axes = list(enumerate(zip(shape[2:], sizes, scales), start=2))
    for axis, (n, out, scale) in reversed(axes) if antialias else axes:  # (PyTorch's orders)
        skip = None
        if antialias:
            indices, weights, skip = _resample.antialias_taps(kind, n, out, scale,
                                                              align_corners, dtype)
        else:
            # PyTorch's 2-D nearest kernel copies (or halves the index) when out is n (or 2 n);
            # its 1-D and 3-D ones do not
            indices, weights = _resample.taps(kind, n, out, scale, align_corners,
                                              np.float32 if rounded_weights else dtype,
                                              shortcuts=dims == 2)
            if rounded_weights and weights is not None:
                weights = weights.astype(dtype).astype(np.float32)
                if kind == "linear":
                    weights[0] = (np.float32(1) - weights[1]).astype(dtype)
        y = _resample.resample(y, axis, indices, weights, skip)
    if y.op is not None:  # torch's node: UpsampleBilinear2DBackward0, ...
        y.op.node_name = _UPSAMPLE_NODES[mode].format(dims) + ("Aa" if antialias else "") \
            + "Backward0"
    resampled = y
    if rounded_weights:
        y = y.to(dtype=dtype)
    # (a cast back, or a copy into x's channels-last format: torch's node is still the kernel's)
    return _named_as(_in_format_of(y, input), resampled)


def _named_as(out: Tensor, inner: Tensor) -> Tensor:
    """``out`` with its node named as ``inner``'s (a resampling kernel's) when the two
    differ: the cast or relayout after dlpy's kernel is inside torch's."""
    op = getattr(inner, "op", None)
    if op is not None and out.op is not None and out.op is not op:
        from dlpy.node_names import named, torch_name

        named(out, torch_name(op))
    return out


def _factor(name: str, what: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):  # torch's parser
        raise TypeError(f"{name}(): argument '{what}' must be int, not {type(value).__name__}")
    if value < 1:
        raise ArgError(f"{name}: {what} must be an int >= 1, got {value!r}")
    return int(value)


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:  # noqa: A002
    """(..., C r^2, H, W) -> (..., C, H r, W r): each group of r^2 channels becomes the r x r
    block of pixels y[c, h r + i, w r + j] = x[c r^2 + i r + j, h, w], as torch's
    F.pixel_shuffle (a reshape and a permutation)."""
    r = _factor("pixel_shuffle", "upscale_factor", upscale_factor)
    shape = _conv._shape_of(input)
    if len(shape) < 3:
        raise ArgError(f"pixel_shuffle: expected x (..., C, H, W), got {shape}")
    *lead, c, h, w = shape
    if c % (r * r):
        raise _engine.ShapeError(f"pixel_shuffle: the channels (axis -3) must be divisible by "
                                 f"upscale_factor^2 = {r * r}, got {c} in {shape}")
    n = len(lead)
    y = reshape(input, (*lead, c // (r * r), r, r, h, w))
    y = permute(y, (*range(n), n, n + 3, n + 1, n + 4, n + 2))  # (..., C, H, r, W, r)
    return _node(_fresh(reshape(y, (*lead, c // (r * r), h * r, w * r)), input),
                 "PixelShuffleBackward0")


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:  # noqa: A002
    """pixel_shuffle's inverse: (..., C, H r, W r) -> (..., C r^2, H, W)."""
    r = _factor("pixel_unshuffle", "downscale_factor", downscale_factor)
    shape = _conv._shape_of(input)
    if len(shape) < 3:
        raise ArgError(f"pixel_unshuffle: expected x (..., C, H, W), got {shape}")
    *lead, c, h, w = shape
    if h % r or w % r:
        raise _engine.ShapeError(f"pixel_unshuffle: the height and width must be divisible by "
                                 f"downscale_factor {r}, got {(h, w)} in {shape}")
    n = len(lead)
    y = reshape(input, (*lead, c, h // r, r, w // r, r))
    y = permute(y, (*range(n), n, n + 2, n + 4, n + 1, n + 3))  # (..., C, r, r, H, W)
    return _node(_fresh(reshape(y, (*lead, c * r * r, h // r, w // r)), input),
                 "PixelUnshuffleBackward0")


EMBEDDING_BAG_MODES = ("sum", "mean", "max")


class _BagIdRangeError(IdRangeError, RuntimeError):
    """An embedding_bag id outside [0, num_embeddings): torch's RuntimeError there (F.embedding's
    is an IndexError), and a ValueError as dlpy's other bad-argument errors are."""


def _check_bag_layout(name: str, ids: np.ndarray, offsets) -> None:
    """torch's Python checks of embedding_bag's ids and offsets (their shapes, before its
    mode checks; the offsets' values are its kernel's, later): 2-D ids (one bag a row) without
    offsets, or 1-D ids with 1-D integer offsets."""
    if ids.ndim == 2:
        if offsets is not None:
            raise ValueError(f"{name}: 2-D input is one bag a row and takes no offsets")
        if ids.shape[1] == 0:  # torch makes the offsets arange(0, numel, step=n): no step 0
            raise RuntimeError(f"{name}: step must be nonzero (2-D input of shape {ids.shape}: "
                               f"torch's bag offsets, arange with step input.size(1))")
        return
    if ids.ndim != 1:
        raise ValueError(f"{name}: input must be 1-D (with offsets) or 2-D, got shape "
                         f"{ids.shape}")
    if offsets is None:
        raise ValueError(f"{name}: 1-D input needs offsets (the start of each bag)")
    starts = _data(offsets)
    if starts.ndim != 1 or starts.dtype.kind not in "iub":  # (bool: promoted with the ids)
        raise ValueError(f"{name}: offsets must be a 1-D array of integers, got shape "
                         f"{starts.shape} of {starts.dtype}")


def _bags(name: str, ids: np.ndarray, offsets, include_last_offset: bool):
    """(flat ids, indptr): bag b holds ids[indptr[b]:indptr[b + 1]], from 2-D ids (one bag a
    row) or 1-D ids with PyTorch's offsets (the bags' starts, or with include_last_offset the
    starts and the end); their layout checked first (_check_bag_layout)."""
    if ids.ndim == 2:
        return ids.reshape(-1), np.arange(ids.shape[0] + 1) * ids.shape[1]
    starts = _data(offsets)
    if include_last_offset and starts.size == 0:
        raise ValueError(f"{name}: include_last_offset needs at least one offset")
    if starts.size == 0 or (include_last_offset and starts.size == 1):  # no bags: (0, D)
        return ids[:0], np.zeros(1, dtype=np.int64)
    indptr = (starts if include_last_offset else np.append(starts, ids.size)).astype(np.int64)
    if starts.size and (indptr[0] != 0 or np.any(np.diff(indptr) < 0)
                        or indptr[-1] > ids.size):
        raise ArgError(f"{name}: offsets must start at 0 and never decrease, up to the input's "
                         f"length {ids.size}, got {starts.tolist()[:8]}")
    if include_last_offset and indptr[-1] != ids.size:
        # (PyTorch's bags disagree with each other there: its sums stop at the last offset,
        # its means divide by the count to the end and its maxima run to the end)
        raise ValueError(f"{name}: with include_last_offset the last offset must be the input's "
                         f"length {ids.size}, got {indptr[-1]}")
    return ids, indptr


def embedding_bag(input, weight: Tensor, offsets=None, max_norm=None,  # noqa: A002
                  norm_type: float = 2, scale_grad_by_freq: bool = False, mode: str = "mean",
                  sparse: bool = False, per_sample_weights=None,
                  include_last_offset: bool = False, padding_idx: int | None = None) -> Tensor:
    """The sum, mean or max of each bag of rows of weight (num_embeddings, D) -> (bags, D), as
    torch's F.embedding_bag: 2-D ids (bags, n), one bag a row, or 1-D ids split at ``offsets``.
    Ids equal to ``padding_idx`` are left out (not counted in the mean); an empty bag gives 0.
    ``per_sample_weights`` (ids' shape, mode "sum") scale each row, and get a gradient.
    "max" takes, in each dimension, the first largest value (a NaN only where it comes first,
    as PyTorch's scan), which alone gets the gradient. Sum and mean are sparse_linear over the
    bags (CSR), so ``sparse=True`` makes the weight's gradient a SparseGrad. ``max_norm``: the
    looked-up rows renormalised in the weight first, as F.embedding's. ``scale_grad_by_freq``:
    each row's gradient divided by its id's count in the input (sum and mean, dense; the
    documented rule, which torch 2.13's CPU kernel misapplies where ids' counts differ)."""
    name = "embedding_bag"
    _check_max_norm(name, max_norm, norm_type)
    if mode not in EMBEDDING_BAG_MODES:
        raise ValueError(f"{name}: mode must be sum, mean or max, got {mode!r}")
    sparse = _flag(name, "sparse", sparse)
    if mode == "max" and sparse:
        raise ValueError(f"{name}: mode 'max' does not support sparse gradients")
    ids = _data(input)
    index_dtype = ids.dtype  # torch promotes 1-D ids with their offsets, then wants Long or Int
    if ids.ndim == 1 and offsets is not None:
        index_dtype = np.result_type(ids.dtype, _data(offsets).dtype)
    if index_dtype not in (np.int64, np.int32):
        raise IndexDtypeError(f"{name}: input must be integer ids, got {index_dtype} (int64 or "
                              f"int32, after promotion with the offsets)")
    if weight.ndim != 2:
        raise ValueError(f"{name}: weight must be (num_embeddings, dim), got {weight.shape}")
    count, dim = weight.shape
    if not is_floating_dtype(weight.dtype):  # torch's: Half, BFloat16, Float or Double
        raise ArgDtypeError(f"{name}: weight must be floating point, got {weight.dtype}")
    if per_sample_weights is not None:
        if isinstance(per_sample_weights, Tensor) and per_sample_weights.dtype != weight.dtype:
            raise ArgDtypeError(f"{name}: per_sample_weights must have the weight's dtype "
                            f"{weight.dtype}, got {per_sample_weights.dtype} (as torch; an "
                            f"array is converted)")
        if np.shape(_data(per_sample_weights)) != ids.shape:
            raise ValueError(f"{name}: per_sample_weights {np.shape(_data(per_sample_weights))}"
                             f" must have the input's shape {ids.shape}")
        per_sample_weights = reshape(_constant(per_sample_weights, weight.dtype), (ids.size,))
    if _meta.live() and _meta.given_meta((input, weight, offsets, per_sample_weights)) and (
            ids.ndim == 2 and offsets is None or ids.ndim == 1 and offsets is not None):
        # (bags, dim) from the ids' and offsets' shapes: no ids or offsets read
        bags = ids.shape[0] if ids.ndim == 2 else _data(offsets).size - bool(
            include_last_offset and _data(offsets).size)
        return _meta.shaped((weight, per_sample_weights), (bags, dim), weight.dtype,
                            "EmbeddingBagBackward0")
    # torch's Python checks, in its order, before its kernel reads the offsets and the ids
    _check_bag_layout(name, ids, offsets)
    scale_grad_by_freq = _flag(name, "scale_grad_by_freq", scale_grad_by_freq)
    if scale_grad_by_freq and mode == "max":  # torch refuses at the call, a gradient needed
        raise ValueError("max mode does not support scaling the gradient by the frequency")
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError(f"{name}: per_sample_weights needs mode 'sum', got {mode!r}")
    ids, indptr = _bags(name, ids, offsets, _flag(name, "include_last_offset",
                                                  include_last_offset))
    ids = ids.astype(np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= count):
        raise _BagIdRangeError(f"{name}: ids must lie in [0, {count}), got values from "
                               f"{ids.min()} to {ids.max()}")
    if max_norm is not None:  # every looked-up row (padding's too) renormalised, as torch's
        renorm_rows(weight, ids, max_norm, norm_type)
    if scale_grad_by_freq:
        weight = frequency_scaled(name, weight, ids, sparse)
    if padding_idx is not None:
        if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)) \
                or not -count <= padding_idx < count:
            raise ArgError(f"{name}: padding_idx must be an integer in [-{count}, {count}), "
                             f"got {padding_idx!r}")
        kept = ids != int(padding_idx) % count  # left out of their bags
        indptr = np.concatenate(([0], np.cumsum(kept)))[indptr]
        ids = ids[kept]
        if per_sample_weights is not None:
            per_sample_weights = getitem(per_sample_weights, np.flatnonzero(kept))
    lengths = np.diff(indptr)
    node = "EmbeddingBagBackward0"  # torch's one kernel, whatever the mode
    if mode == "max":
        return _node(_bag_max(weight, ids, indptr, lengths), node)
    if per_sample_weights is not None:  # the sum's values, which get their gradient
        return _node(sparse_linear(SparseRows(indptr, ids, per_sample_weights.data, count),
                                   weight, sparse, values=per_sample_weights), node)
    sums = sparse_linear(SparseRows(indptr, ids, np.ones(ids.size), count), weight, sparse)
    if mode == "mean":  # the sum over the count (an empty bag's 0 over 1)
        return _node(BagMean(lengths)(sums), node)
    return _node(sums, node)


def _bag_max(weight: Tensor, ids: np.ndarray, indptr: np.ndarray,
             lengths: np.ndarray) -> Tensor:
    """Each bag's first largest value per dimension, gathered from weight (getitem on the
    flattened weight), so the gradient goes to that row alone; empty bags 0. Bags up to
    _sparse.MAX_LEVELS long: PyTorch's scan, level by level (every bag's first row, then the
    second row of the bags that have one, ...), a later value taken only where larger (so a NaN
    only where it comes first); longer bags: fmax / minimum reduceats over the bags' rows."""
    bags, dim = lengths.size, weight.shape[1]
    nonempty = lengths > 0
    winners = np.zeros((bags, dim), dtype=np.int64)  # empty bags: row 0, masked below
    if ids.size and lengths.max() <= _sparse.MAX_LEVELS:
        order = np.argsort(-lengths, kind="stable")  # longest first: a level's bags a prefix
        counts, starts = lengths[order], np.minimum(indptr[:-1][order], ids.size - 1)
        row = ids[starts]
        best = weight.data[row]  # (bags, D), in that order
        won = np.repeat(row[:, None], dim, axis=1)
        for level in range(1, int(counts[0])):
            alive = int(np.count_nonzero(counts > level))
            row = ids[starts[:alive] + level]
            values = weight.data[row]
            larger = values > best[:alive]  # (False for NaN either side: the first stays)
            np.copyto(best[:alive], values, where=larger)
            np.copyto(won[:alive], row[:, None], where=larger)
        winners[order] = won
    elif ids.size:
        rows = weight.data[ids]  # (entries, D)
        starts = indptr[:-1][nonempty]
        # PyTorch's scan keeps the first value unless a later one is larger: NaN only first
        best = np.fmax.reduceat(rows, starts, axis=0)
        first_nan = np.isnan(rows[starts])
        best[first_nan] = np.nan
        bag_of = np.repeat(np.arange(starts.size), lengths[nonempty])
        positions = np.where(rows == best[bag_of], np.arange(ids.size)[:, None], ids.size)
        first = np.minimum.reduceat(positions, starts, axis=0)
        first = np.where(first_nan, starts[:, None], first)
        winners[nonempty] = ids[first]
    y = getitem(reshape(weight, (-1,)), winners * dim + np.arange(dim))  # (a 1-D scatter back)
    return y if nonempty.all() else where(nonempty[:, None], y, 0.0)


# einsum, the named matrix products and diagonals (ops/einsum.py, ops/linalg.py); the rest of
# torch.linalg is dlpy.linalg
from dlpy.ops.einsum import (  # noqa: E402
    addmm,
    baddbmm,
    bmm,
    dot,
    einsum,
    kron,
    mm,
    mv,
    outer,
    tensordot,
)
from dlpy.ops.linalg import diag, diag_embed, diagonal, trace  # noqa: E402

__all__ += [
    "addmm", "baddbmm", "bmm", "diag", "diag_embed", "diagonal", "dot", "einsum", "kron", "mm",
    "mv", "outer", "tensordot", "trace",
]

# special functions for densities (ops/special.py)
from dlpy.ops.special import digamma, erfinv, gammainc, lgamma, xlogy  # noqa: E402

__all__ += ["digamma", "erfinv", "gammainc", "lgamma", "xlogy"]

# spatial transformers (ops/grid.py) and CTC (ops/ctc.py)
from dlpy.ops.ctc import ctc_loss  # noqa: E402
from dlpy.ops.grid import affine_grid, grid_sample  # noqa: E402

__all__ += ["affine_grid", "ctc_loss", "grid_sample"]

# more of torch's functions (ops/pointwise.py, reduce.py, cumulative.py, rearrange.py,
# indexing.py, sets.py)
from dlpy.ops.cumulative import cummax, cummin, logcumsumexp  # noqa: E402
from dlpy.ops.indexing import (  # noqa: E402
    argwhere,
    index_add,
    index_copy,
    index_fill,
    masked_scatter,
    masked_select,
    nonzero,
    put,
    take,
)
from dlpy.ops.pointwise import (  # noqa: E402
    addcdiv,
    addcmul,
    allclose,
    bitwise_and,
    bitwise_left_shift,
    bitwise_not,
    bitwise_or,
    bitwise_right_shift,
    bitwise_xor,
    clip,
    copysign,
    deg2rad,
    equal,
    exp2,
    fix,
    float_power,
    fmod,
    frac,
    heaviside,
    hypot,
    isclose,
    lerp,
    log2,
    log10,
    logaddexp,
    logaddexp2,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    logit,
    nan_to_num,
    rad2deg,
    remainder,
    sinc,
    trunc,
)
from dlpy.ops.rearrange import (  # noqa: E402
    atleast_1d,
    atleast_2d,
    atleast_3d,
    block_diag,
    broadcast_shapes,
    broadcast_tensors,
    broadcast_to,
    cartesian_prod,
    cdist,
    column_stack,
    combinations,
    cross,
    dsplit,
    dstack,
    fliplr,
    flipud,
    hsplit,
    hstack,
    meshgrid,
    moveaxis,
    movedim,
    narrow,
    ravel,
    rot90,
    row_stack,
    swapdims,
    tensor_split,
    vsplit,
    vstack,
)
from dlpy.ops.reduce import (  # noqa: E402
    aminmax,
    count_nonzero,
    kthvalue,
    median,
    mode,
    nanmean,
    nanmedian,
    nanquantile,
    nansum,
    quantile,
    std_mean,
    var_mean,
)
from dlpy.ops.sets import (  # noqa: E402
    bincount,
    bucketize,
    histc,
    searchsorted,
    unique,
    unique_consecutive,
)

__all__ += [
    "addcdiv", "addcmul", "allclose", "aminmax", "argwhere", "atleast_1d", "atleast_2d",
    "atleast_3d", "bincount", "bitwise_and", "bitwise_left_shift", "bitwise_not", "bitwise_or",
    "bitwise_right_shift", "bitwise_xor", "block_diag", "broadcast_shapes", "broadcast_tensors",
    "broadcast_to", "bucketize", "cartesian_prod", "cdist", "clip", "column_stack",
    "combinations", "copysign", "count_nonzero", "cross", "cummax", "cummin", "deg2rad",
    "dsplit", "dstack", "equal", "exp2", "fix", "fliplr", "flipud", "float_power", "fmod",
    "frac", "heaviside", "histc", "hsplit", "hstack", "hypot", "index_add", "index_copy",
    "index_fill", "isclose", "kthvalue", "lerp", "log10", "log2", "logaddexp", "logaddexp2",
    "logcumsumexp", "logical_and", "logical_not", "logical_or", "logical_xor", "logit",
    "masked_scatter", "masked_select", "median", "meshgrid", "mode", "moveaxis", "movedim",
    "nan_to_num", "nanmean", "nanmedian", "nanquantile", "nansum", "narrow", "nonzero", "put",
    "quantile", "rad2deg", "ravel", "remainder", "rot90", "row_stack", "searchsorted", "sinc",
    "std_mean", "swapdims", "take", "tensor_split", "trunc", "unique", "unique_consecutive",
    "var_mean", "vsplit", "vstack",
]

# the inverse and hyperbolic trigonometric functions and the last common torch functions
# (ops/pointwise.py, rearrange.py, indexing.py; creation.py)
from dlpy.creation import empty_like, logspace, tril_indices, triu_indices  # noqa: E402
from dlpy.ops.indexing import histogram  # noqa: E402
from dlpy.ops.pointwise import (  # noqa: E402
    acos,
    acosh,
    arccos,
    arccosh,
    arcsin,
    arcsinh,
    arctan,
    arctan2,
    arctanh,
    asin,
    asinh,
    atan,
    atanh,
    cosh,
    sinh,
)
from dlpy.ops.rearrange import diagflat, inner, vander, vdot  # noqa: E402

__all__ += [
    "acos", "acosh", "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctan2", "arctanh",
    "asin", "asinh", "atan", "atanh", "cosh", "diagflat", "empty_like", "histogram", "inner",
    "logspace", "sinh", "tril_indices", "triu_indices", "vander", "vdot",
]


# ---- the rest of torch.nn.functional: rrelu, feature alpha dropout, Gumbel softmax, LP pooling,
# channel shuffle, pdist, the distance-function triplet loss and the multilabel margin loss
from dlpy import random_streams  # noqa: E402
from dlpy.node_names import named as _named  # noqa: E402
from dlpy.node_names import rename as _rename  # noqa: E402
from dlpy.ops.mask import Dropout, _check_floating  # noqa: E402
from dlpy.random import get_rng  # noqa: E402


def rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3,  # noqa: A002
          training: bool = False, inplace: bool = False, *, rng=None) -> Tensor:
    """Randomized leaky ReLU, as torch's F.rrelu: training, y = x where x > 0 else a x with one
    slope a ~ U(lower, upper) per element (drawn from ``rng`` or dlpy's generator; x = 0 takes
    its slope, as PyTorch's); not training, leaky_relu with slope (lower + upper) / 2."""
    name = "rrelu"
    lower, upper = _real_number(name, "lower", lower), _real_number(name, "upper", upper)
    if lower > upper:
        raise ArgError(f"{name}: lower must be <= upper, got lower={lower} and upper={upper}")
    if inplace:  # PyTorch's rrelu_ (dlpy.ops.activation_inplace)
        return rrelu_(input, lower, upper, training, rng=rng)
    if not _flag(name, "training", training):
        out = leaky_relu(input, (lower + upper) / 2)
    else:
        data = _data(input)
        # torch's rrelu_with_noise: a float64 U(lower, upper) draw for each x <= 0, in order
        dtype = data.dtype if data.dtype.kind == "f" else np.dtype(np.float64)
        slopes = np.ones(data.shape, dtype)
        negative = ~(data > 0)
        bounds = (lower, upper) if dtype == np.float64 else \
            (float(np.float32(lower)), float(np.float32(upper)))  # torch's opmath bounds
        slopes[negative] = random_streams.uniform(get_rng(rng), (int(negative.sum()),),
                                                  np.float64, *bounds)
        out = Dropout(slopes)(input)
    out.data = _engine.row_major(out.data)  # torch's rrelu_with_noise: a row-major result
    if out.op is not None:
        _rename(out.op, "RreluWithNoiseBackward0")  # torch's node, training or not
    return out


def feature_alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False,  # noqa: A002
                          inplace: bool = False, *, rng=None) -> Tensor:
    """alpha_dropout with one draw per channel (x (N, C, ...): the whole (n, c) map is kept or
    set to SELU's floor), as torch's F.feature_alpha_dropout; identity when not training (the
    default) or p == 0; zeros for p = 1, as torch's."""
    name = "feature_alpha_dropout"
    if not isinstance(p, (int, float, np.integer, np.floating)) \
            or not 0 <= p <= 1:
        raise ValueError(f"{name}: p must be in [0, 1], got {p!r}")
    shape = np.shape(_data(input))
    if not _flag(name, "training", training) or p == 0 or 0 in shape:  # (empty: as torch's)
        return input
    if len(shape) < 2 and p < 1:  # (checked only where a draw is made, as PyTorch's)
        raise ArgError(f"{name}: expected x (N, C, ...) with at least 2 axes, got {shape}")
    if p < 1:
        _check_floating(name, input)
    if inplace and not isinstance(input, Tensor):
        raise TypeError(f"{name}: inplace=True needs a Tensor, got {type(input).__name__}")
    if p == 1:
        mask = np.zeros((), np.float64)
        if inplace:  # the input changed in place and returned, as PyTorch's
            return input._in_place(f"{name}_", lambda t: Dropout(mask)(t))
        return Dropout(mask)(input)
    from dlpy.ops.mask import alpha_noise

    dtype = getattr(input, "dtype", None)  # a float16/bfloat16 input's own (torch's noise)
    noise, _, shift = alpha_noise(get_rng(rng), shape[:2] + (1,) * (len(shape) - 2), p,
                                  dtype if dtype is not None and (
                                      dtype.kind == "f" or dtype.name == "bfloat16")
                                  else _float_dtype(input))
    from dlpy.ops.mask import laid_like_x

    noise, shift = laid_like_x(noise, _data(input)), laid_like_x(shift, _data(input))
    if inplace:  # (drawn first: torch's noise is, before its in-place multiply refuses an
        # expanded x)
        return input._in_place(f"{name}_", lambda t: Dropout(noise)(t) + shift)
    return Dropout(noise)(input) + shift


def gumbel_softmax(logits: Tensor, tau: float = 1, hard: bool = False, eps: float = 1e-10,
                   dim: int = -1, *, rng=None) -> Tensor:
    """softmax((logits + g) / tau) along ``dim``, g = -log(E) with E ~ Exponential(1) (Gumbel
    noise from ``rng`` or dlpy's generator), as torch's F.gumbel_softmax; with ``hard`` the
    one-hot of its argmax in forward and the soft sample's gradient (straight-through).
    ``eps`` is unused, as in PyTorch (which warns when one is given); integer or bool logits
    are refused (torch's exponential noise has no such dtype), and a 0-d one is a sample of
    one class (dim -1 or 0), as torch's."""
    name = "gumbel_softmax"
    if eps != 1e-10:
        warnings.warn("`eps` parameter is deprecated and has no effect.",
                      stacklevel=_user_stacklevel())
    tau = _real_number(name, "tau", tau)
    if tau <= 0:
        raise ValueError(f"{name}: tau must be > 0, got {tau}")
    dtype = logits.dtype if isinstance(logits, Tensor) else np.asarray(logits).dtype
    if not is_floating_dtype(dtype):
        raise ArgDtypeError(f"{name}: the Gumbel noise is continuous: expected floating-point "
                            f"logits, got {_TORCH_DTYPE_NAMES.get(np.dtype(dtype).name, dtype)}")
    shape = np.shape(_data(logits))
    axis = _dim(name, dim, len(shape) or 1)
    # torch's: -empty_like(logits).exponential_().log(), in the logits' dtype
    noise = random_streams.exponential(get_rng(rng), shape, 1.0).astype(_float_dtype(logits))
    gumbels = -np.log(noise)
    soft = softmax((logits + gumbels) / tau, axis)
    if not _flag(name, "hard", hard):
        return soft
    if not shape:
        return soft - soft.detach() + np.ones((), dtype=soft.dtype)
    index = np.expand_dims(np.argmax(soft.data, axis=axis), axis)
    one_hot_sample = np.zeros(shape, dtype=soft.dtype)
    np.put_along_axis(one_hot_sample, index, 1.0, axis=axis)
    return soft - soft.detach() + one_hot_sample


def _lp_pool(nd: int, input: Tensor, norm_type: float, kernel_size, stride,  # noqa: A002
             ceil_mode: bool) -> Tensor:
    """(sum over each window of x^p)^(1 / p), as torch's lp_pool: avg_pool of x^p times the
    window's size, then the 1 / p power (sign(s) relu(|s|) first, as PyTorch, for its
    gradient at 0); norm_type inf is the max of |x|, -inf its min, as torch's."""
    name = f"lp_pool{nd}d"
    p = _real_number(name, "norm_type", norm_type, finite=False)
    if np.isinf(p):
        pool = (max_pool1d, max_pool2d, max_pool3d)[nd - 1]
        if p > 0:
            return pool(abs(input), kernel_size, stride, 0, 1, ceil_mode)
        return -pool(-abs(input), kernel_size, stride, 0, 1, ceil_mode)
    if p <= 0:
        raise ValueError(f"{name}: norm_type must be > 0, got {p}")
    kernel = (kernel_size,) * nd if isinstance(kernel_size, (int, np.integer)) \
        else tuple(kernel_size)
    pool = (avg_pool1d, avg_pool2d, avg_pool3d)[nd - 1]
    # an int norm_type keeps an int64 x integral (its window means truncated), as torch's
    exponent = int(p) if isinstance(norm_type, (int, np.integer)) else p
    sums = pool(power(input, exponent), kernel_size, stride, 0, ceil_mode)
    scaled = sign(sums) * relu(abs(sums)) * float(np.prod(kernel))
    # torch's relu gives a zero window no gradient, where the 1 / p power's is infinite (and
    # inf * 0 would be nan here): where's backward drops it
    return power(where(scaled.data != 0, scaled, 0.0), 1.0 / p)


def lp_pool1d(input: Tensor, norm_type: float, kernel_size, stride=None,  # noqa: A002
              ceil_mode: bool = False) -> Tensor:
    """The p-norm of each window of x (N, C, L): (sum x^p)^(1 / p), as torch's F.lp_pool1d."""
    if isinstance(kernel_size, (tuple, list)):
        # torch's scales the window means by kernel_size: a sequence is its mul()'s TypeError
        raise TypeError(f"lp_pool1d: kernel_size must be an int, got {kernel_size!r}")
    return _lp_pool(1, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(input: Tensor, norm_type: float, kernel_size, stride=None,  # noqa: A002
              ceil_mode: bool = False) -> Tensor:
    """The p-norm of each window of x (N, C, H, W), as torch's F.lp_pool2d."""
    return _lp_pool(2, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(input: Tensor, norm_type: float, kernel_size, stride=None,  # noqa: A002
              ceil_mode: bool = False) -> Tensor:
    """The p-norm of each window of x (N, C, D, H, W), as torch's F.lp_pool3d."""
    return _lp_pool(3, input, norm_type, kernel_size, stride, ceil_mode)


def channel_shuffle(input: Tensor, groups: int) -> Tensor:  # noqa: A002
    """x (N, C, ...) with its channels, read as (groups, C / groups), transposed:
    y[:, j groups + g] = x[:, g C / groups + j], as torch's F.channel_shuffle (ShuffleNet)."""
    name = "channel_shuffle"
    groups = _factor(name, "groups", groups)
    shape = _conv._shape_of(input)
    if len(shape) < 3:
        raise ArgError(f"{name}: expected x (N, C, ...) with at least 3 axes, got {shape}")
    if shape[1] % groups:
        raise ArgError(f"{name}: the channels ({shape[1]}) must be divisible by groups "
                       f"({groups})")
    n, c, *rest = shape
    y = swapaxes(reshape(input, (n, groups, c // groups, *rest)), 1, 2)
    return _node(_fresh(reshape(y, shape), input), "ChannelShuffleBackward0")


def pdist(input: Tensor, p: float = 2.0) -> Tensor:  # noqa: A002
    """The p-norm distances between the rows of x (N, M), i < j in row-major order:
    (N (N - 1) / 2,), as torch's F.pdist; p >= 0 or inf."""
    name = "pdist"
    p = _real_number(name, "p", p, finite=False)
    if not p >= 0:
        raise ArgError(f"{name}: p must be >= 0 (or inf), got {p}")
    shape = _conv._shape_of(input)
    if len(shape) != 2:
        raise ArgError(f"{name}: expected x (N, M), got {shape}")
    dtype = np.dtype(input.dtype if isinstance(input, Tensor) else np.asarray(input).dtype)
    if dtype.kind == "c":  # (torch's: floating-point dtypes only)
        raise ArgDtypeError(f"{name}: only supports floating-point dtypes, got {dtype}")
    if dtype.kind in "fV" and dtype.itemsize <= 2:  # float16, bfloat16, float8
        raise NotImplementedError(f"{name}: not implemented for {dtype}, as torch")
    first, second = np.triu_indices(shape[0], k=1)
    difference = getitem(input, first) - getitem(input, second)
    return _named(_rearrange.distance(difference, p), "PdistBackward0")


def triplet_margin_with_distance_loss(anchor: Tensor, positive: Tensor, negative: Tensor, *,
                                      distance_function=None, margin: float = 1.0,
                                      swap: bool = False, reduction: str = "mean") -> Tensor:
    """max(0, margin + d(a, p) - d(a, n)) with any distance d (default pairwise_distance);
    with ``swap`` d(a, n) is min(d(a, n), d(p, n)); as torch's."""
    name = "triplet_margin_with_distance_loss"
    _check_reduction(name, reduction)
    margin = _real_number(name, "margin", margin)
    if margin <= 0:
        raise ValueError(f"{name}: margin must be > 0, got {margin}")
    if distance_function is None:
        distance_function = pairwise_distance
    elif not callable(distance_function):
        raise TypeError(f"{name}: distance_function must be callable, got "
                        f"{distance_function!r}")
    ranks = [getattr(t, "ndim", None) for t in (anchor, positive, negative)]
    if ranks[0] != ranks[1] or ranks[0] != ranks[2]:
        raise ArgError("The anchor, positive, and negative tensors are expected to have the same "
                       f"number of dimensions, but got: anchor {ranks[0]}D, positive "
                       f"{ranks[1]}D, and negative {ranks[2]}D inputs")
    positive_distance = distance_function(anchor, positive)
    negative_distance = distance_function(anchor, negative)
    if _flag(name, "swap", swap):
        negative_distance = minimum(negative_distance, distance_function(positive, negative))
    return _reduce(name, clamp(margin + positive_distance - negative_distance, min=0.0),
                   reduction)


@autocast_policy(FP32)
def multilabel_margin_loss(input: Tensor, target, size_average=None,  # noqa: A002
                           reduce=None, reduction: str = "mean") -> Tensor:
    """The multi-label hinge loss of scores x (N, C) (or (C,)) and targets y of x's shape
    holding class indices up to the first -1 (every entry, even after it, in [-1, C)): sum
    over targets j and non-target classes i of max(0, 1 - (x[y_j] - x[i])) / C, as torch's."""
    name = "multilabel_margin_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(name, reduction)
    shape, labels = np.shape(_data(input)), _data(target)
    if labels.dtype.kind not in "iu":
        raise ArgDtypeError(f"{name}: target must be integer class indices, got {labels.dtype}")
    _check_margin_kernel("multilabel_margin_loss_forward_out_frame", input, labels)
    if len(shape) > 2 or labels.shape != shape:
        raise ArgError(f"{name}: expected scores (N, C) or (C,) and target of their shape, got "
                       f"{shape} and {labels.shape}")
    rows, classes = (1, shape[0]) if len(shape) == 1 else shape or (1, 1)  # () as torch: (1, 1)
    labels = labels.reshape(rows, classes).astype(np.int64)
    valid = np.cumprod(labels >= 0, axis=1).astype(bool)  # up to the first -1
    if labels.size and (labels.min() < -1 or labels.max() >= classes):  # all, as torch: even
        bad = labels.min() if labels.min() < -1 else labels.max()  # those after the first -1
        raise ArgError(f"{name}: target indices must lie in [-1, {classes}), got {bad}")
    picked_labels = np.where(valid, labels, 0)
    is_target = np.zeros((rows, classes), dtype=bool)
    target_rows, target_columns = np.nonzero(valid)
    is_target[target_rows, labels[target_rows, target_columns]] = True
    scores = reshape(input, (rows, classes))
    picked = gather(scores, 1, picked_labels)  # (rows, classes): x[y_j]
    hinge = relu(1.0 - unsqueeze(picked, 2) + unsqueeze(scores, 1))  # (rows, j, i)
    pairs = valid[:, :, None] & ~is_target[:, None, :]
    losses = sum(where(pairs, hinge, 0.0), (1, 2)) / classes
    return _node(_reduce(name, reshape(losses, shape[:-1]), reduction),
                 "MultilabelMarginLossBackward0")


def _deprecated_upsample(name: str) -> None:
    warnings.warn(f"`nn.functional.{name}` is deprecated. Use `nn.functional.interpolate` "
                  f"instead.", stacklevel=_user_stacklevel())


def upsample(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",  # noqa: A002
             align_corners: bool | None = None) -> Tensor:
    """interpolate under its deprecated name, as torch's F.upsample."""
    _deprecated_upsample("upsample")
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input: Tensor, size=None, scale_factor=None) -> Tensor:  # noqa: A002
    """interpolate(mode="nearest"), as torch's deprecated F.upsample_nearest."""
    _deprecated_upsample("upsample_nearest")
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input: Tensor, size=None, scale_factor=None) -> Tensor:  # noqa: A002
    """interpolate(mode="bilinear", align_corners=True), as torch's deprecated
    F.upsample_bilinear."""
    _deprecated_upsample("upsample_bilinear")
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


__all__ += [
    "channel_shuffle", "feature_alpha_dropout", "gumbel_softmax", "lp_pool1d", "lp_pool2d",
    "lp_pool3d", "multilabel_margin_loss", "pdist", "rrelu", "triplet_margin_with_distance_loss",
    "upsample", "upsample_bilinear", "upsample_nearest",
]


# the in-place activations (the functional forms take PyTorch's inplace= keyword themselves)
from dlpy.ops.activation_inplace import (  # noqa: E402
    celu_,
    elu_,
    hardtanh_,
    leaky_relu_,
    relu_,
    rrelu_,
    selu_,
    threshold_,
)

__all__ += ["celu_", "elu_", "hardtanh_", "leaky_relu_", "relu_", "rrelu_", "selu_",
            "threshold_"]

# fractional max pooling (dlpy.ops.pool_fractional), and PyTorch's *_with_indices names of the
# max pools: the pool with return_indices=True, whatever return_indices says (as PyTorch's)
from dlpy.ops.pool_fractional import (  # noqa: E402
    fractional_max_pool2d,
    fractional_max_pool2d_with_indices,
    fractional_max_pool3d,
    fractional_max_pool3d_with_indices,
)


def max_pool1d_with_indices(input: Tensor, kernel_size, stride=None, padding=0,  # noqa: A002
                            dilation=1, ceil_mode: bool = False, return_indices: bool = False):
    """max_pool1d's (values, int64 indices)."""
    return max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool2d_with_indices(input: Tensor, kernel_size, stride=None, padding=0,  # noqa: A002
                            dilation=1, ceil_mode: bool = False, return_indices: bool = False):
    """max_pool2d's (values, int64 indices)."""
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool3d_with_indices(input: Tensor, kernel_size, stride=None, padding=0,  # noqa: A002
                            dilation=1, ceil_mode: bool = False, return_indices: bool = False):
    """max_pool3d's (values, int64 indices)."""
    return max_pool3d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def adaptive_max_pool1d_with_indices(input: Tensor, output_size,  # noqa: A002
                                     return_indices: bool = False):
    """adaptive_max_pool1d's (values, int64 indices)."""
    return _adaptive_max_pool(1, input, output_size, True)


def adaptive_max_pool2d_with_indices(input: Tensor, output_size,  # noqa: A002
                                     return_indices: bool = False):
    """adaptive_max_pool2d's (values, int64 indices)."""
    return _adaptive_max_pool(2, input, output_size, True)


@autocast_policy(FP32)
def adaptive_max_pool3d_with_indices(input: Tensor, output_size,  # noqa: A002
                                     return_indices: bool = False):
    """adaptive_max_pool3d's (values, int64 indices)."""
    return _adaptive_max_pool(3, input, output_size, True)


__all__ += [
    "adaptive_max_pool1d_with_indices", "adaptive_max_pool2d_with_indices",
    "adaptive_max_pool3d_with_indices", "fractional_max_pool2d",
    "fractional_max_pool2d_with_indices", "fractional_max_pool3d",
    "fractional_max_pool3d_with_indices", "max_pool1d_with_indices", "max_pool2d_with_indices",
    "max_pool3d_with_indices",
]


# ---- the rest of torch's functions: element-wise (ops/pointwise.py), scatter_reduce and
# index_put (ops/indexing.py), select and the *_scatter family (ops/rearrange.py), and
# composites (torch_functions.py)
from dlpy.ops.indexing import index_put, index_reduce, scatter_reduce  # noqa: E402
from dlpy.ops.pointwise import (  # noqa: E402
    erfc,
    floor_divide,
    fmax,
    fmin,
    frexp,
    gcd,
    i0,
    igamma,
    igammac,
    isneginf,
    isposinf,
    isreal,
    lcm,
    ldexp,
    mvlgamma,
    nextafter,
    polygamma,
    pow,
    sgn,
    signbit,
)
from dlpy.ops.rearrange import (  # noqa: E402
    diagonal_scatter,
    select,
    select_scatter,
    slice_scatter,
    sum_to_size,
    tile,
    unflatten,
)
from dlpy.torch_functions import (  # noqa: E402
    addbmm,
    addmv,
    addr,
    chain_matmul,
    cholesky,
    corrcoef,
    cov,
    cumulative_trapezoid,
    dist,
    gradient,
    histogramdd,
    isin,
    logdet,
    matrix_power,
    pinverse,
    qr,
    renorm,
    slogdet,
    svd,
    trapezoid,
    trapz,
    unravel_index,
)

__all__ += [
    "addbmm", "addmv", "addr", "chain_matmul", "corrcoef", "cov", "cumulative_trapezoid",
    "diagonal_scatter", "dist", "erfc", "floor_divide", "fmax", "fmin", "frexp", "gcd",
    "gradient", "histogramdd", "i0", "igamma", "igammac", "index_put", "index_reduce", "isin",
    "isneginf", "isposinf", "isreal", "lcm", "ldexp", "logdet", "mvlgamma", "nextafter",
    "pinverse", "polygamma", "pow", "renorm", "scatter_reduce", "select", "select_scatter",
    "sgn", "signbit", "slice_scatter", "sum_to_size", "tile", "trapezoid", "trapz", "unflatten",
    "unravel_index", "cholesky", "matrix_power", "qr", "slogdet", "svd",
]

# nested (dlpy/nested/) and masked (dlpy/masked/) tensors: these functions hand a first operand
# of such a type to its class's __dlpy_function__(name, input, ...), as torch's
# __torch_function__: one type check on the dense path (the light functions spelled out, which
# costs about 50 ns a call where a *args/**kwargs wrapper costs about 160)
def _takes_call(x) -> bool:
    # (an array first: hasattr that fails on a type formats an AttributeError, ~1 us)
    return type(x) is not np.ndarray and hasattr(type(x), "__dlpy_function__")


_relu, _gelu, _silu, _linear, _matmul = relu, gelu, silu, linear, matmul
_softmax, _log_softmax, _cross_entropy = softmax, log_softmax, cross_entropy


def relu(input, inplace=False):
    if type(input) is not Tensor:
        if _takes_call(input):
            return type(input).__dlpy_function__("relu", input, inplace)
        from dlpy.sparse_tensor import SparseTensor

        if isinstance(input, SparseTensor):  # torch's: the relu of the stored values
            return input.relu_() if inplace else input.relu()
    return _relu(input, inplace)


def gelu(input, *, approximate: str = "none"):
    if type(input) is not Tensor and _takes_call(input):
        return type(input).__dlpy_function__("gelu", input, approximate=approximate)
    return _gelu(input, approximate)


def silu(input, inplace=False):
    if type(input) is not Tensor and _takes_call(input):
        return type(input).__dlpy_function__("silu", input, *((inplace,) if inplace else ()))
    return _silu(input, inplace)


def linear(input, weight, bias=None):
    if type(input) is not Tensor and _takes_call(input):
        return type(input).__dlpy_function__("linear", input, weight, bias)
    return _linear(input, weight, bias)


def matmul(input, other):
    if type(input) is not Tensor and _takes_call(input):
        return type(input).__dlpy_function__("matmul", input, other)
    return _matmul(input, other)


def _softmax_args(name, x, dim, dtype, axis, stacklevel):
    """F.softmax/log_softmax/softmin's axis: ``dim`` (torch's name) or ``axis`` (dlpy's), not
    both; neither is torch's deprecated implicit choice, with its warning: axis 0 of a 0-, 1-
    or 3-d input, else axis 1. ``dtype`` casts the input first, as torch's."""
    if x is None or isinstance(x, str):  # (numpy would make a 0-d object array of it)
        raise TypeError(f"{name}(): argument 'input' (position 1) must be Tensor, not "
                        f"{type(x).__name__}")
    if axis is not None:
        if dim is not None:
            raise TypeError(f"{name}: give dim or axis, not both (dim={dim}, axis={axis})")
        dim = axis
    if dim is None:
        warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the "
                      f"call to include dim=X as an argument.", UserWarning,
                      stacklevel=_user_stacklevel() if stacklevel == 3 else stacklevel)
        dim = 0 if np.ndim(x.data if isinstance(x, Tensor) else x) in (0, 1, 3) else 1
    if dtype is not None:
        x = (x if isinstance(x, Tensor) else Tensor(x)).to(dtype=dtype)
    return x, dim


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    """exp(x) / sum(exp(x)) along ``dim`` (not given: torch's implicit choice, with its
    warning); no numpy ``axis=``, as torch's Python-defined F.softmax (torch.softmax and
    Tensor.softmax, builtins, take it: dlpy/numpy_aliases.py)."""
    input, dim = _softmax_args("softmax", input, dim, dtype, None, _stacklevel)
    if type(input) is not Tensor and _takes_call(input):
        return type(input).__dlpy_function__("softmax", input, dim)
    return _softmax(input, dim)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    """x - logsumexp(x) along ``dim`` (not given: torch's implicit choice, as softmax's)."""
    input, dim = _softmax_args("log_softmax", input, dim, dtype, None, _stacklevel)
    if type(input) is not Tensor and _takes_call(input):
        return type(input).__dlpy_function__("log_softmax", input, dim)
    return _log_softmax(input, dim)


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    """softmax(-x) along ``dim`` (not given: torch's implicit choice, as softmax's); ``dtype``
    casts x first."""
    input, dim = _softmax_args("softmin", input, dim, dtype, None, _stacklevel)
    return _softmin(input, dim)


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    if weight is not None or size_average is not None or reduce is not None \
            or reduction == "elementwise_mean":  # (the calls only where they change something)
        weight, reduction = _weight_or_reduction(weight, reduction)
        reduction = _legacy_reduction(size_average, reduce, reduction)
    if type(input) is not Tensor and _takes_call(input):  # a DTensor: loss_parallel's
        return type(input).__dlpy_function__("cross_entropy", input, target, reduction,
                                              ignore_index, label_smoothing, weight)
    _refuse_inference(input, target)
    array = input.data if type(input) is Tensor else input  # (the properties cost a call each)
    if array.ndim == 1:
        target = _one_label(target)
    if (array.dtype.itemsize == 2 and is_low_precision(array.dtype) and isinstance(target, Tensor)
            and (target.dtype.kind in "iu" or weight is None and ignore_index == -100 and (
                target.dtype.kind == "f" or is_low_precision(target.dtype))
                 and target.shape == input.shape)):
        return _cross_entropy_low_precision(input, target, reduction, ignore_index, weight,
                                            label_smoothing)
    if array.ndim > 2:
        input, target = _classes_last("cross_entropy", input, target)
    return _cross_entropy(input, target, reduction, ignore_index, label_smoothing, weight)


@autocast_policy(FP32)
def _cross_entropy_low_precision(input, target, reduction, ignore_index, weight, smoothing):
    """float16/bfloat16 logits: torch's composite, each step rounded to the dtype (the gradient
    too): log_softmax over the classes (axis 1, or 0 for (C,)), then nll_loss of integer labels
    mixed with the smoothing term, or the sum of -target * log_probs (target smoothed first)."""
    _check_reduction("cross_entropy", reduction)
    smoothing = float(smoothing) if smoothing > 0 else 0.0  # torch's: a negative one is none
    dim = 1 if input.ndim > 1 else 0
    classes = input.shape[dim]
    log_probs = _log_softmax(input, dim)
    if target.dtype.kind not in "iu":  # probabilities, of the logits' shape
        if smoothing:
            target = target * (1 - smoothing) + smoothing / classes
        terms = log_probs * target
        if reduction == "none":
            return -sum(terms, dim)
        total = -sum(terms)
        return total / (input.numel() // classes) if reduction == "mean" else total
    loss = nll_loss(log_probs, target, weight, ignore_index=ignore_index, reduction=reduction)
    if not smoothing:
        return loss
    if weight is not None:
        weight = reshape(_constant(weight, log_probs.dtype),
                         [classes if axis == dim else 1 for axis in range(input.ndim)])
    smooth = -sum(log_probs if weight is None else log_probs * weight, dim)
    ignored = _data(target) == ignore_index
    if ignored.any():
        smooth = where(ignored, 0.0, smooth)
    if reduction == "mean":
        kept = _data(target)[~ignored]
        smooth = sum(smooth) / (int((~ignored).sum()) if weight is None else
                                sum(reshape(weight, (classes,))[kept]))
    elif reduction == "sum":
        smooth = sum(smooth)
    return (1 - smoothing) * loss + smooth * (smoothing / classes)


# torch's layout in, the classes-last functions out: under vmap these two run as they are (the
# logical shapes), and _cross_entropy / _nll_loss take the batching rule
cross_entropy._vmap_through = nll_loss._vmap_through = True


def _classes_last(name: str, logits, labels):
    """torch's layout for K-dimensional losses: logits (N, C, d1, ..., dK) hold the classes on
    axis 1 and so do probability targets; dlpy's loss ops take them on the last axis. Integer
    labels (N, d1, ..., dK) stay as they are, and so does a "none" reduction's (N, d1, ..., dK)
    result."""
    if not isinstance(labels, Tensor):
        labels = np.asarray(labels)
    expected = (logits.shape[0], *logits.shape[2:])
    if labels.dtype.kind in "biu" and tuple(labels.shape) != expected:
        raise _engine.ShapeError(
            f"{name}: logits {tuple(logits.shape)} hold the classes on axis 1 (torch's (N, C, "
            f"d1, ..., dK)), so integer labels must have shape {expected}, got "
            f"{tuple(labels.shape)}; for logits with the classes last, (N, ..., C), pass "
            f"logits.movedim(-1, 1) or flatten both to (rows, C) and (rows,)")
    # torch's (N,) kernel takes uint8 labels, its K-dimensional one refuses them (unless empty)
    if isinstance(labels, Tensor) and labels.dtype == np.uint8 and labels.data.size:
        raise RuntimeError("expected scalar type Long but found Byte")
    logits = movedim(logits, 1, -1)
    if isinstance(labels, Tensor):
        if labels.dtype.kind not in "biu" and labels.ndim == logits.ndim:
            labels = movedim(labels, 1, -1)
    elif labels.dtype.kind not in "biu" and labels.ndim == logits.ndim:
        labels = np.moveaxis(labels, 1, -1)
    return logits, labels


for _plain in (_relu, _gelu, _silu, _linear, _matmul, _softmax, _log_softmax, _cross_entropy):
    _light = globals()[_plain.__name__]
    _light.__doc__, _light.__wrapped__ = _plain.__doc__, _plain
    # inspect.signature: the light function's own parameters (torch's names), not _plain's
    _light.__signature__ = inspect.signature(_light, follow_wrapped=False)
del _plain, _light
cross_entropy.__doc__ = """Softmax cross-entropy of logits (N, C), (C,) or, as torch's, (N, C, d1,
..., dK) (the classes on axis 1) against integer labels (N,), () or (N, d1, ..., dK), or
probabilities shaped as the logits. reduction: "mean", "sum" or "none" (the per-element losses,
shaped as the integer labels).

Arguments in torch's order (weight third), with its deprecated size_average and reduce; a
string third is the reduction. As PyTorch: integer labels equal to ``ignore_index`` count
nothing (loss 0, and the mean is over the other elements; nan if there are none);
``label_smoothing`` e in [0, 1] mixes the target with the uniform distribution,
(1 - e) t + e / classes; ``weight`` (C,) scales each class's terms (with labels, the mean is
over the elements' label weights)."""


def _dispatching(name: str, function):
    """The same for a heavier function, whatever its arguments."""
    def dispatch(input, *args, **kwargs):  # noqa: A002
        kind = type(input)
        if kind is not Tensor and hasattr(kind, "__dlpy_function__"):
            return kind.__dlpy_function__(name, input, *args, **kwargs)
        return function(input, *args, **kwargs)

    dispatch.__name__ = dispatch.__qualname__ = name
    dispatch.__doc__, dispatch.__wrapped__ = function.__doc__, function
    return dispatch


dropout = _dispatching("dropout", dropout)
_layer_norm_native = layer_norm


def layer_norm(input, *args, **kwargs):  # noqa: A002 - PyTorch's name
    """torch's ``F.layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5)``
    (the trailing ``normalized_shape`` axes; an int, a tuple or a list), or dlpy's
    ``layer_norm(x, weight=None, bias=None, eps=1e-5)`` over the last axis (a Tensor or None
    second): the second argument tells which."""
    second = args[0] if args else kwargs.get("normalized_shape")
    if "normalized_shape" in kwargs or (isinstance(second, (int, np.integer, tuple, list))
                                        and not isinstance(second, bool)):
        from dlpy.torch_functions import layer_norm as by_shape

        return by_shape(input, *args, **kwargs)
    return _layer_norm_native(input, *args, **kwargs)


layer_norm = _dispatching("layer_norm", layer_norm)


def _torch_layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):  # noqa: A002
    """torch's F.layer_norm parameters (what ``inspect.signature(layer_norm)`` shows)."""


layer_norm.__signature__ = inspect.signature(_torch_layer_norm)
del _torch_layer_norm
_scaled_dot_product_attention = scaled_dot_product_attention


def scaled_dot_product_attention(query, key, value, *args, **kwargs):
    if type(query) is not Tensor and hasattr(type(query), "__dlpy_function__"):
        return type(query).__dlpy_function__("scaled_dot_product_attention", query, key, value,
                                             *args, **kwargs)
    return _scaled_dot_product_attention(query, key, value, *args, **kwargs)


scaled_dot_product_attention.__doc__ = _scaled_dot_product_attention.__doc__
scaled_dot_product_attention.__wrapped__ = _scaled_dot_product_attention
_parameters = list(inspect.signature(_scaled_dot_product_attention).parameters.values())
# inspect.signature: the implementation's parameters with torch's names for the first three
scaled_dot_product_attention.__signature__ = inspect.Signature(
    [p.replace(name=name) for p, name in zip(_parameters, ("query", "key", "value"))]
    + _parameters[3:])
del _parameters


def _dispatching_sequence(name: str, function):
    """_dispatching's for cat and stack (torch's first argument ``tensors``): the first tensor
    of the sequence tells."""
    def dispatch(tensors, *args, **kwargs):
        if not isinstance(tensors, (list, tuple)):  # torch: a generator or a tensor is no list
            raise TypeError(f"{name}(): argument 'tensors' must be a tuple or list of Tensors, "
                            f"not {type(tensors).__name__}")
        first = tensors[0] if tensors else None
        kind = type(first)
        if kind is not Tensor and hasattr(kind, "__dlpy_function__"):
            return kind.__dlpy_function__(name, tensors, *args, **kwargs)
        for i, t in enumerate(tensors):
            if t is None or isinstance(t, (list, tuple, int, float, complex, str)):
                raise TypeError(f"{name}(): expected Tensor as element {i} in argument 0, but "
                                f"got {type(t).__name__}")
        return function(tensors, *args, **kwargs)

    dispatch.__name__ = dispatch.__qualname__ = name
    dispatch.__doc__, dispatch.__wrapped__ = function.__doc__, function
    return dispatch


cat = _dispatching_sequence("cat", cat)
stack = _dispatching_sequence("stack", stack)

from dlpy.ops.linear_cross_entropy import linear_cross_entropy  # noqa: E402

__all__ += ["linear_cross_entropy"]


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads,
                                 in_proj_weight, in_proj_bias, bias_k, bias_v, add_zero_attn,
                                 dropout_p, out_proj_weight, out_proj_bias, training=True,
                                 key_padding_mask=None, need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None,
                                 k_proj_weight=None, v_proj_weight=None, static_k=None,
                                 static_v=None, average_attn_weights=True, is_causal=False, *,
                                 rng=None):
    """torch's F.multi_head_attention_forward (its parameters; ``rng``: dlpy's dropout
    generator), nn.MultiheadAttention's computation (in dlpy/nn/attention/functional.py,
    imported at the first call: dlpy.nn loads lazily)."""
    arguments = dict(locals())
    from dlpy.nn.attention import functional

    return functional.multi_head_attention_forward(**arguments)


__all__ += ["multi_head_attention_forward"]

from dlpy.ops.conv_tbc import conv_tbc  # noqa: E402
from dlpy.ops.grouped_mm import grouped_mm  # noqa: E402

native_channel_shuffle = channel_shuffle  # torch's name for the same kernel
__all__ += ["conv_tbc", "grouped_mm", "native_channel_shuffle"]

# torch.nn.functional re-exports the __torch_function__ protocol's helpers (torch.overrides')
from dlpy.overrides import (  # noqa: E402, F401
    handle_torch_function,
    has_torch_function,
    has_torch_function_unary,
    has_torch_function_variadic,
)
