"""Selecting by a constant boolean mask: where / masked fill, and the dropouts (element-wise,
whole channels, alpha)."""

import math
import warnings

import numpy as np

from dlpy import meta as _meta
from dlpy import random_streams
from dlpy._caller import user_stacklevel
from dlpy.amp.dtypes import _torch_name as torch_dtype_name
from dlpy.amp.dtypes import check_float8
from dlpy.layouts import iterator_layout
from dlpy.node_names import edges, rename
from dlpy.ops import ArgDtypeError, ArgError
from dlpy.ops import promotion as _promotion
from dlpy.random import get_rng
from dlpy.tensor import Op, ShapeError, Tensor, as_array, is_floating_dtype, row_major


class Where(Op):
    """y = a where condition else b;  da = g where condition, db = g elsewhere."""

    complex_ok = True
    saves = ()  # backward reads no input or output (in-place checks, Op.saves)
    node_name = "WhereBackward0"  # masked_fill renames its node (MaskedFillBackward0 / 1)

    def __init__(self, condition):
        self.condition = condition

    def pack_order(self, inputs):
        """torch's node saves the condition (saved_tensors_hooks packs it; unpack gives the
        one backward reads)."""
        return ["condition"]

    def saved_array(self, what):
        return np.asarray(self.condition)

    def forward(self, a, b):
        condition = self.condition
        out = np.where(condition, a, b)
        if type(condition) is np.ndarray and condition.flags.c_contiguous:
            return out
        return iterator_layout(out, condition, a, b)  # torch's: the condition's order first

    def backward(self, grad_output):
        zero = np.zeros((), dtype=grad_output.dtype)
        return (
            np.where(self.condition, grad_output, zero),
            np.where(self.condition, zero, grad_output),
        )

    def backward_graph(self, grad_output, output):
        return where(self.condition, grad_output, 0.0), where(self.condition, 0.0, grad_output)


class Dropout(Op):
    """y = x * mask / (1 - p) with mask ~ Bernoulli(1 - p);  dx = g * mask / (1 - p)."""

    saves = ()  # backward reads no input or output (in-place checks, Op.saves)

    def __init__(self, scale):
        self.scale = scale

    def pack_order(self, inputs):
        # saved_tensors_hooks: torch's CPU dropout is input * noise, whose MulBackward0 saves
        # the scaled noise (a checkpoint's recomputation gives it back: its mask is used)
        return ["scale"]

    def forward(self, x):
        self.scale = self.scale.astype(x.dtype, copy=False)
        return x * self.scale

    def backward(self, grad_output):
        return (grad_output * self.scale,)

    def backward_graph(self, grad_output, output):
        return (grad_output * self.scale,)


_ONLY_CONDITION = object()


def where(condition, input=_ONLY_CONDITION, other=_ONLY_CONDITION):
    """a where condition holds, b elsewhere (broadcast); ``where(condition)`` alone is
    ``nonzero(condition, as_tuple=True)``, as torch.where."""
    if type(condition) is not Tensor and getattr(type(condition), "is_nested", False) is True:
        # a nested condition (nt > 0): the nested tensor's where, as torch's
        return type(condition).__dlpy_function__("where", condition, input, other)
    return _where(condition, input, other)


def fill_where(value, x):
    """value broadcast to x's shape, recorded as where(True, value, x): fill_, zero_ and copy_,
    whose torch nodes (FillBackward2, ZeroBackward0, CopyBackwards) save no tensor (a second
    backward runs, saved_tensors_hooks pack nothing). Integers into an uint16/uint32/uint64 x
    (or out of one) are cast to x's dtype first: torch's copy_ casts, where the promotion of
    where's two values would refuse the pair (an out= of uint16 takes any integer result)."""
    if isinstance(value, Tensor) and isinstance(x, Tensor) and value.data.dtype != x.data.dtype \
            and value.data.dtype.kind in "biu" and x.data.dtype.kind in "biu" and any(
                d.kind == "u" and d.itemsize > 1 for d in (value.data.dtype, x.data.dtype)):
        value = Tensor(value.data.astype(x.data.dtype))  # (integers: no gradient to keep)
    return _where(np.True_, value, x, saves_condition=False)


def _where(condition, input, other, saves_condition: bool = True):  # noqa: A002
    if input is _ONLY_CONDITION and other is _ONLY_CONDITION:
        from dlpy.ops.indexing import nonzero

        return nonzero(condition, as_tuple=True)
    if input is _ONLY_CONDITION or other is _ONLY_CONDITION:
        raise TypeError("where: expected where(condition) or where(condition, input, other), "
                        "got one of input and other")
    given = condition
    if _meta.live():
        _meta.check_where(condition, input, other)
    condition = np.asarray(condition.data if isinstance(condition, Tensor) else condition)
    if condition.dtype != np.bool_:
        if condition.dtype != np.uint8:  # (torch still takes a uint8 mask, deprecated)
            raise ArgDtypeError(f"where: condition must be boolean, got {condition.dtype}")
        from dlpy._caller import user_stacklevel

        warnings.warn("where received a uint8 condition tensor. This behavior is deprecated and "
                      "will be removed in a future version of PyTorch. Use a boolean condition "
                      "instead.", UserWarning, stacklevel=user_stacklevel())
        condition = condition.astype(np.bool_)
    for value in (input, other):
        if value is None or isinstance(value, str):
            raise TypeError(f"where: expected a Tensor or a number, got {type(value).__name__}")
    shapes = [np.shape(as_array(v)) for v in (condition, input, other)]
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        raise ShapeError(f"where: shapes {shapes} cannot be broadcast together") from None
    for number, tensor in ((input, other), (other, input)):
        if isinstance(number, (int, np.integer)) and isinstance(tensor, Tensor) \
                and tensor.data.dtype.kind in "iu":  # an int written into int8...: it must fit
            _check_fits("where", number, tensor.data.dtype)
    if _promotion.needs_promotion(input, other):  # torch's result dtype for the two values
        input, other = _promotion.promote(input, other)
    if _meta.live():  # (a meta condition with numbers: a meta result)
        input, other = _meta.where_values(given, input, other)
        with _meta.following((given, input, other)):  # (a fake condition's device counts)
            return _where_op(condition, saves_condition)(input, other)
    return _where_op(condition, saves_condition)(input, other)


def _where_op(condition, saves_condition: bool) -> Where:
    op = Where(condition)
    if not saves_condition:
        op.saves_tensors = False  # (an instance setting: Where's node saves the condition)
    return op


def masked_fill(input, mask, value):
    """input with value wherever mask (broadcast to input's shape) is True."""
    x_shape = np.shape(input.data if isinstance(input, Tensor) else input)
    mask_shape = np.shape(mask.data if isinstance(mask, Tensor) else mask)
    try:  # out of place, torch broadcasts x and mask together (masked_fill_ keeps x's shape)
        np.broadcast_shapes(mask_shape, x_shape)
    except ValueError:
        raise ShapeError(f"masked_fill: mask {mask_shape} and x {x_shape} cannot be "
                         "broadcast together") from None
    if isinstance(value, Tensor) and value.ndim:
        raise ArgError(f"masked_fill: only a 0-dimensional value tensor is supported, got "
                         f"shape {tuple(value.shape)}")
    if isinstance(value, Tensor) and _meta.live() and isinstance(input, Tensor) and (
            _meta.holds_meta(value) != _meta.holds_meta(input)):  # (even a 0-d one, as torch)
        raise RuntimeError("Expected `value` to be on same device as `a`")
    if isinstance(input, Tensor) and input.data.itemsize == 1:  # float8: torch refuses
        check_float8("masked_fill", input.data)
    if isinstance(input, Tensor) and (input.data.dtype.kind in "biuf" or is_floating_dtype(
            input.data.dtype)):  # a complex value: its real part (bfloat16 too)
        value = _real_value("masked_fill", value, input.data.dtype)
    if isinstance(input, Tensor) and isinstance(value, (bool, int, float, np.number)) \
            and input.data.dtype.kind in "biu":  # the value in x's dtype, as torch's
        _check_fits("masked_fill", value, input.data.dtype)
        value = np.array(value).astype(input.data.dtype)
    elif isinstance(input, Tensor) and isinstance(value, (int, float, np.number)) \
            and is_floating_dtype(input.data.dtype):
        _check_fits("masked_fill", value, input.data.dtype)
    if isinstance(input, Tensor) and isinstance(value, Tensor) and value.dtype != input.dtype:
        from dlpy.ops.arithmetic import cast  # the result keeps x's dtype, as torch's

        if value.requires_grad and not (is_floating_dtype(input.data.dtype)
                                        or input.data.dtype.kind == "c"):
            raise ArgError(f"masked_fill: Autograd not support dtype: "
                           f"{torch_dtype_name(input.data.dtype)} (a value that requires grad "
                           "written into an integer tensor; masked_fill_ writes it)")

        if value.data.dtype.kind in "biuf" or is_floating_dtype(value.data.dtype):
            _check_fits("masked_fill", value.data.item(), input.data.dtype)  # (torch's item())

        value = cast(value, input.dtype)
    if (mask.dtype if isinstance(mask, Tensor) else np.asarray(mask).dtype) != np.bool_:
        raise ArgDtypeError("masked_fill: the mask must be boolean (torch's masked_fill takes "
                            "no uint8 mask, where does)")
    named = isinstance(value, Tensor)  # torch's node for a tensor value: MaskedFillBackward1
    out = where(mask, value, input)
    # torch fills a row-major clone of x (broadcast with mask): its result's strides
    if type(out.data) is np.ndarray:  # (under vmap a batched array: laid out by its rule)
        out.data = row_major(out.data)
    if type(out.op) is Where:  # (renamed, not node_name: free() would drop that)
        rename(out.op, f"MaskedFillBackward{int(named)}")
        if len(out.op.inputs) == 2:  # torch's edges: x's, then a tensor value's (a number has
            edges(out, (1, 0) if named else (1,))  # none)
    return out


def _real_value(name, value, dtype):
    """A complex Python number or tensor written into a real tensor as torch's checked
    conversion: its real part when the imaginary part is 0, else refused (into a bool tensor:
    whether it is nonzero)."""
    if not (isinstance(value, complex) or isinstance(value, Tensor) and value.is_complex()):
        return value
    number = complex(value.data) if isinstance(value, Tensor) else value
    if dtype.kind == "b":
        return value != 0 if isinstance(value, Tensor) else number != 0
    if number.imag != 0:
        raise RuntimeError(f"{name}: value {number} cannot be converted to {dtype} without "
                           "overflow, as torch")
    return value.real if isinstance(value, Tensor) else number.real


def _check_fits(name, value, dtype):
    """torch's check that a Python number fits the dtype it is written into: integers within
    the type's range (unsigned ones down to -max, which wraps), floats finite beyond its max
    (inf and nan fit)."""
    if dtype.kind in "bc" or isinstance(value, (bool, np.bool_)):  # (complex: any fits)
        return
    if is_floating_dtype(dtype):
        largest = float(np.finfo(dtype).max) if dtype.kind == "f" else 3.3895313892515355e38
        fits = not np.isfinite(value) or abs(value) <= largest
    else:
        info = np.iinfo(dtype)
        low = -int(info.max) if dtype.kind == "u" and not isinstance(
            value, (float, np.floating)) else int(info.min)  # uint8: -1 wraps, -1.0 refused
        fits = bool(np.isfinite(value)) and low <= value <= int(info.max)
    if not fits:
        raise ArgError(f"{name}: value {value} cannot be converted to {dtype} without "
                       "overflow")


def _check_p(name, p):
    if not isinstance(p, (int, float, np.integer, np.floating)) \
            or not 0 <= p <= 1:
        raise ValueError(f"{name}: p must be in [0, 1], got {p!r}")


def _inplace_or_rng(inplace, rng):
    """(inplace, rng): torch's fourth argument is inplace; a Generator there is dlpy's older
    positional rng."""
    if isinstance(inplace, np.random.Generator):
        return False, inplace
    return inplace, rng


def _dropped(name, x, p, inplace, rng, draw):
    """x * draw(rng) with ``draw`` the keep mask scaled (p < 1) or zeros (p = 1, torch's x * 0);
    in place with ``inplace`` (the input changed and returned, as torch's)."""
    if p < 1:
        _check_floating(name, x)
    if inplace and not isinstance(x, Tensor):
        raise TypeError(f"{name}: inplace=True needs a Tensor, got {type(x).__name__}")
    if p < 1 and _meta.holds_meta(x):  # torch draws nothing on meta: no mask (the result's
        mask = np.ones((), np.float64)  # shape and dtype are x's)
    else:  # drawn first: torch's noise is, before its in-place multiply refuses an expanded x
        mask = draw(get_rng(rng)) if p < 1 else np.zeros((), np.float64)
    if inplace:
        return x._in_place(f"{name}_", lambda t: Dropout(mask)(t))
    return Dropout(mask)(x)


def _check_floating(name, x):
    """torch's dropouts scale in x's dtype: an integer or bool x is refused for 0 < p < 1 (p = 0
    returns it, p = 1 zeros it)."""
    dtype = as_array(x).dtype
    if dtype.kind in "biu":
        raise ArgDtypeError(f"{name}: expected a floating point input for 0 < p < 1 (the kept "
                            f"values are scaled by 1 / (1 - p)), got {dtype}")


def dropout(input, p=0.5, training=True, inplace=False, *, rng=None):
    """Zero each element with probability p and scale the rest by 1/(1-p) (p = 1: all zeros);
    identity when not training or p == 0; ``inplace`` changes x and returns it, as torch's.
    rng: a numpy Generator (None: the default one, dlpy.manual_seed)."""
    _check_p("dropout", p)
    inplace, rng = _inplace_or_rng(inplace, rng)
    if not training or p == 0:
        return input
    shape = np.shape(as_array(input))
    if 0 in shape:  # an empty input comes back as it is, as torch's
        return input
    return _dropped("dropout", input, p, inplace, rng,
                    lambda generator: _scaled_keep(generator, shape, p, input))


def _keep(generator, shape, p) -> np.ndarray:
    """torch's dropout noise: ``bernoulli_(1 - p)`` (from a dlpy.Generator, torch's draws;
    from another numpy Generator, numpy's), as booleans."""
    if random_streams.is_torch(generator):
        return random_streams.bernoulli(generator, tuple(shape), 1.0 - p)
    return generator.random(shape) >= p


def _scaled_keep(generator, shape, p, x, like_x: bool = True) -> np.ndarray:
    """The keep mask divided by 1 - p in x's floating dtype, as torch's ``noise.div_(1 - p)``
    (float64 for another x, which the dropouts refuse). ``like_x``: the noise is
    empty_like(x) (dropout's), drawn in x's memory order; else a new contiguous tensor (the
    feature dropouts' at::empty of (N, C, 1, ...)), drawn row-major."""
    array = as_array(x)
    dtype = array.dtype if array.dtype.kind == "f" else np.dtype(np.float64)
    if not like_x:
        return laid_like_x((_keep(generator, tuple(shape), p).astype(dtype)
                            / dtype.type(1.0 - p)).astype(dtype), array)
    perm = _like_order(array)
    if perm is None:
        keep = _keep(generator, shape, p)
    else:  # torch's noise is empty_like(x): x's layout, drawn in its memory order
        keep = _keep(generator, tuple(shape[i] for i in perm), p).transpose(np.argsort(perm))
    return (keep.astype(dtype) / dtype.type(1.0 - p)).astype(dtype)


def laid_like_x(noise: np.ndarray, array) -> np.ndarray:
    """A row-major noise of x's very shape (a feature dropout's (N, C) or (N, C, 1, ...) when
    the rest is 1s) laid out as x, its values kept: torch's x * noise keeps x's layout where the
    operands' disagree (numpy's product would be row-major)."""
    perm = _like_order(array) if noise.shape == np.shape(array) else None
    if perm is None:  # (an expanded or sliced x: torch's result is row-major too)
        return noise
    return np.ascontiguousarray(noise.transpose(perm)).transpose(np.argsort(perm))


def _like_order(array) -> list[int] | None:
    """The axes of a dense, non-overlapping ``array`` in memory order (largest stride first),
    where that is not their order: the layout torch's ``empty_like`` keeps (any other array
    gets a contiguous one: None)."""
    from dlpy.tensor_methods import _memory_order

    perm = _memory_order(array)
    if perm is None or not array.transpose(perm).flags.c_contiguous:
        return None
    return perm


def _channel_dropout(name, x, p, training, inplace, rng, batched=True):
    """torch's feature dropout: x (N, C, ...) * keep / (1 - p) with one Bernoulli(1 - p) keep
    per (n, c), drawn from rng or the default generator. An unbatched x (``batched=False``) is
    read as (1, *x.shape), as torch's dropout1d / dropout3d, whose result is then a new view of
    x even when nothing is dropped. Identity when not training, p == 0 or x is empty."""
    _check_p(name, p)
    inplace, rng = _inplace_or_rng(inplace, rng)
    if not batched and not inplace and isinstance(x, Tensor):
        return _channel_dropout(name, x.unsqueeze(0), p, training, False, rng).squeeze(0)
    shape = np.shape(as_array(x))
    if not training or p == 0 or 0 in shape:
        return x
    full = shape if batched else (1,) + shape
    if len(full) < 2 and p < 1:
        raise ArgError(f"{name}: feature dropout needs an input with at least 2 dimensions "
                       f"(N, C, ...), got shape {shape}")
    mask_shape = (full[:2] + (1,) * (len(full) - 2))[len(full) - len(shape):]
    return _dropped(name, x, p, inplace, rng,
                    lambda generator: _scaled_keep(generator, mask_shape, p, x, like_x=False))


def dropout1d(input, p=0.5, training=True, inplace=False, *, rng=None):
    """Zero whole channels of x (N, C, L) or unbatched (C, L) with probability p, scaling the
    rest by 1 / (1 - p); identity when not training or p == 0."""
    shape = np.shape(as_array(input))
    if len(shape) not in (2, 3):
        raise ArgError(f"dropout1d: expected a 2D (C, L) or 3D (N, C, L) input, got "
                       f"{len(shape)}D input of shape {shape}")
    return _channel_dropout("dropout1d", input, p, training, inplace, rng, len(shape) == 3)


def dropout2d(input, p=0.5, training=True, inplace=False, *, rng=None):
    """Zero whole channels of x (N, C, H, W) with probability p, scaling the rest by
    1 / (1 - p); identity when not training or p == 0. A 3D input is read as (N, C, L), as
    torch 2.13's dropout2d does (with a warning): use dropout1d for that, or add a batch axis
    to an unbatched (C, H, W). Other ranks warn and drop per (n, c) of x (N, C, ...), as
    torch's."""
    _check_p("dropout2d", p)
    shape = np.shape(as_array(input))
    if len(shape) not in (3, 4):
        warnings.warn(f"dropout2d: received a {len(shape)}D input of shape {shape}, where a 3D "
                      "or 4D one is expected (deprecated by torch, which will refuse it in a "
                      "future release): each (n, c) of x (N, C, ...) is dropped whole; use "
                      "dropout for an element-wise dropout", UserWarning,
                      stacklevel=user_stacklevel(("functional.py", "ops")))
    if len(shape) == 3:
        warnings.warn("dropout2d: a 3D input is read as (N, C, L) and each (n, c) row is dropped "
                      "whole, as torch 2.13's dropout2d (which will read it as an unbatched "
                      "(C, H, W) in a future release); use dropout1d for (N, C, L), or add a "
                      "batch axis to a (C, H, W) image", UserWarning,
                      stacklevel=user_stacklevel(("functional.py", "ops")))
    return _channel_dropout("dropout2d", input, p, training, inplace, rng)


def dropout3d(input, p=0.5, training=True, inplace=False, *, rng=None):
    """Zero whole channels of x (N, C, D, H, W) or unbatched (C, D, H, W) with probability p,
    scaling the rest by 1 / (1 - p); identity when not training or p == 0. Other ranks warn
    and are read as unbatched (per entry of the first axis), as torch's."""
    _check_p("dropout3d", p)
    shape = np.shape(as_array(input))
    if len(shape) not in (4, 5):
        warnings.warn(f"dropout3d: received a {len(shape)}D input of shape {shape}, where a 4D "
                      "or 5D one is expected (deprecated by torch, which will refuse it in a "
                      "future release): it is read as unbatched (C, ...), each entry of its "
                      "first axis dropped whole; use dropout for an element-wise dropout",
                      UserWarning, stacklevel=user_stacklevel(("functional.py", "ops")))
    return _channel_dropout("dropout3d", input, p, training, inplace, rng, len(shape) == 5)


# -SELU's saturation value, scale * alpha: where alpha dropout sends a dropped element
_ALPHA_PRIME = 1.7580993408473766


def alpha_dropout(input, p=0.5, training=False, inplace=False, *, rng=None):
    """Alpha dropout (for SELU networks), as torch's: each element dropped with probability p is
    set to -1.7580993408473766 (SELU's floor), then y = a * (kept or floor) + b with
    a = 1 / sqrt((alpha'^2 p + 1)(1 - p)) and b = a * alpha' * p, so that a zero-mean,
    unit-variance input keeps its mean and variance. Identity when not training (the default,
    as torch's F.alpha_dropout) or p == 0; zeros for p = 1, as torch's."""
    _check_p("alpha_dropout", p)
    inplace, rng = _inplace_or_rng(inplace, rng)
    if not training or p == 0 or 0 in np.shape(as_array(input)):  # (empty: as it is, as torch's)
        return input
    if p < 1:
        _check_floating("alpha_dropout", input)
    if inplace:
        if not isinstance(input, Tensor):
            raise TypeError(f"alpha_dropout: inplace=True needs a Tensor, got "
                            f"{type(input).__name__}")
        if p == 1 or _meta.holds_meta(input):
            return input._in_place("alpha_dropout_",
                                   lambda t: alpha_dropout(t, p, True, False, rng=rng))
        # drawn first: torch's noise is, before its in-place multiply refuses an expanded x
        noise, _, shift = alpha_noise(get_rng(rng), input.shape, p, input.dtype,
                                      like=input.data)
        return input._in_place("alpha_dropout_", lambda t: Dropout(noise)(t) + shift)
    if p == 1:
        return Dropout(np.zeros((), np.float64))(input)
    if not isinstance(input, Tensor):
        input = Tensor(input)
    shape = input.shape
    noise, a, shift = alpha_noise(get_rng(rng), shape, p, input.dtype, like=input.data)
    return Dropout(noise)(input) + shift


def alpha_noise(generator, shape, p, dtype, like=None):
    """torch's alpha-dropout noise in x's dtype: (keep * a, a, (keep - 1) * alpha' a +
    alpha' a p), keep ~ Bernoulli(1 - p). ``like``: x, whose layout torch's noise
    (empty_like(x)) has: drawn in its memory order, so the noise and the result keep it."""
    dtype = np.dtype(dtype)
    if dtype.kind != "f" and dtype.name != "bfloat16":  # (x's dtype: bfloat16 too, as torch's)
        dtype = np.dtype(np.float64)
    perm = None if like is None else _like_order(like)
    if perm is None:
        keep = _keep(generator, shape, p).astype(dtype)
    else:
        keep = _keep(generator, tuple(shape[i] for i in perm), p).astype(dtype).transpose(
            np.argsort(perm))
    a = 1.0 / math.sqrt((_ALPHA_PRIME * _ALPHA_PRIME * p + 1) * (1 - p))
    shift = ((keep - dtype.type(1)) * dtype.type(_ALPHA_PRIME * a)).astype(dtype) \
        + dtype.type(_ALPHA_PRIME * a * p)
    return (keep * dtype.type(a)).astype(dtype), a, shift.astype(dtype)
