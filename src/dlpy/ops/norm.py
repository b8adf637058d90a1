"""Layer normalisation over the last axis, batch normalisation over the channels, group (and
instance) normalisation and RMS normalisation, each fused with its O(N) backward; local response
normalisation as a composite."""

import math

import numpy as np

from dlpy.amp.dtypes import _torch_name, float32_compute, is_low_precision
from dlpy.layouts import (
    channels_last,
    channels_last_3d,
    contiguous_format,
    is_in_format,
    laid_out,
    suggested_format,
)
from dlpy.ops import ArgError, ArgIndexError, NoKernelError, real_number
from dlpy.ops.pad import pad
from dlpy.tensor import Op, ShapeError, Tensor, as_array, is_floating_dtype


@float32_compute(output="input")  # float16/bfloat16 x: float32 arithmetic, x's dtype out
class LayerNorm(Op):
    """y = (x - mean) / sqrt(var + eps) * weight + bias over the last axis.

    With xhat the normalised input and h = g * weight:
    dx = (h - mean(h) - xhat * mean(h * xhat)) / sqrt(var + eps): O(N), no Jacobian.
    """

    # backward reads x (create_graph recomputes from it) and the weight, never y or the
    # bias: an in-place activation after the norm is fine, as in torch
    saves = (0, 1)
    unpacked_rebuilds = ("xhat", "inv_std", "weight")  # (saved_tensors_hooks)

    def __init__(self, eps):
        self.eps = eps

    def pack_order(self, inputs):
        """torch's NativeLayerNormBackward0 packs (saved_tensors_hooks) the bias, the input,
        the weight (those given), then the mean and 1/std, (..., 1) each."""
        given = {2: len(inputs) > 2, 0: True, 1: len(inputs) > 1}
        return [w for w in (2, 0, 1) if given[w]] + ["mean", "rstd"]

    def saved_array(self, what):
        """The mean (from the input, as forward's) or 1/std of each row."""
        if what == "rstd":
            return self.inv_std
        x = np.ascontiguousarray(self.inputs[0].data)
        d = x.shape[-1]
        return (x @ np.full(d, 1.0 / max(d, 1), dtype=x.dtype))[..., None]

    def use_unpacked(self, what, array):
        """saved_tensors_hooks: the weight, and xhat from the unpacked input, mean and
        1/std (after the last of them)."""
        if what == 0:
            self._x = array
            if len(self.inputs) == 1:
                self.weight = None
        elif what == 1:
            self.weight = array
        elif what == "mean":
            self._mean = array
        elif what == "rstd":
            self.inv_std = array
            self.xhat = (self._x - self._mean) * array
            del self._x, self._mean

    def forward(self, x, weight=None, bias=None):
        if x.dtype.kind != "f":
            x = x.astype(np.float64)
        # torch's output is contiguous whatever x's layout (a channels-last permute of NCHW)
        x = np.ascontiguousarray(x)
        # row sums as BLAS matrix-vector products and einsum dot products: numpy's mean over a
        # short last axis is ~4x slower, and neither makes a temporary of x's size
        d = x.shape[-1]
        scale = 1.0 / max(d, 1)  # (an empty last axis: an empty output)
        centered = x - (x @ np.full(d, scale, dtype=x.dtype))[..., None]
        var = np.einsum("...i,...i->...", centered, centered)
        var *= scale
        var += self.eps
        self.inv_std = (1.0 / np.sqrt(var))[..., None]
        centered *= self.inv_std
        self.xhat, self.weight = centered, weight
        y = self.xhat
        if weight is not None:
            y = y * weight
            if bias is not None:  # (layer_norm allows a bias only with a weight)
                y += bias  # y is a new array here: add in place
        return y

    def forward_low_precision(self, x, *params):
        """float16/bfloat16 x: the float32 forward; torch saves the mean and 1/std rounded to
        x's dtype, and its backward works from those."""
        wide = x.astype(np.float32)
        y = self.forward(wide, *(p.astype(np.float32) if p.dtype.itemsize <= 2 else p
                                 for p in params))
        if params and params[0].dtype == np.float32:  # mixed: float32 statistics kept, and
            self.param_grad_dtype = x.dtype  # torch's kernel gives the weight's and bias's
            return y  # gradients in x's dtype (the engine then widens them to float32)
        mean = wide.mean(axis=-1, keepdims=True).astype(x.dtype).astype(np.float32)
        self.inv_std = self.inv_std.astype(x.dtype).astype(np.float32)
        self.xhat = (wide - mean) * self.inv_std
        return y

    def backward(self, grad_output):
        xhat, weight = self.xhat, self.weight
        d = xhat.shape[-1]
        # with a = weight / d: mean(h) = g @ a and mean(h * xhat) = (g * xhat) @ a, so g * xhat
        # serves the weight's gradient too; the row and column sums are BLAS products
        g_xhat = grad_output * xhat
        grads = [None]
        if weight is None:
            average = np.full(d, 1.0 / max(d, 1), dtype=xhat.dtype)
            x_grad = grad_output - (grad_output @ average)[..., None]
        else:
            average = weight * (1.0 / max(d, 1))
            x_grad = grad_output * weight
            x_grad -= (grad_output @ average)[..., None]
            rows = g_xhat.reshape(-1, d)
            ones = np.ones(rows.shape[0], dtype=rows.dtype)
            grads.append(ones @ rows)
            if len(self.inputs) > 2:
                grads.append(ones @ grad_output.reshape(-1, d))
        hx_mean = g_xhat @ average
        x_grad -= np.multiply(xhat, hx_mean[..., None], out=g_xhat)
        x_grad *= self.inv_std
        grads[0] = x_grad
        low = self.__dict__.get("param_grad_dtype")
        if low is not None:  # (a float16/bfloat16 x with float32 weight: rounded, as torch's)
            grads[1:] = [g.astype(low).astype(g.dtype) for g in grads[1:]]
        return tuple(grads)

    def backward_graph(self, grad_output, output):
        # backward's formula with dlpy ops, xhat and 1/std recomputed from x (create_graph)
        x = self.inputs[0]
        centered = x - x.mean(-1, keepdims=True)
        inv_std = ((centered * centered).mean(-1, keepdims=True) + self.eps) ** -0.5
        xhat = centered * inv_std
        h = grad_output if len(self.inputs) == 1 else grad_output * self.inputs[1]
        x_grad = (h - h.mean(-1, keepdims=True) - xhat * (h * xhat).mean(-1, keepdims=True))
        # weight's and bias's at x's shape: the engine sums them over the batch axes
        return (x_grad * inv_std, grad_output * xhat, grad_output)[:len(self.inputs)]


def _check_float_input(name: str, x) -> None:
    if not is_floating_dtype(x.dtype):
        raise NoKernelError(f"{name}: expected a floating point input, got {x.dtype} (as torch)")


def check_mixed_dtypes(x, *params) -> None:
    """torch's CPU rule for a normalisation's parameters (its mixed_type.h), given in torch's
    order (weight, bias, running_mean, running_var; None for one not given): when the first
    one has the input's dtype, every one must ("expected scalar type"); otherwise the input
    must be float16/bfloat16 and every parameter float32 (its mixed-type kernels)."""
    dtypes = [np.dtype(p.dtype) for p in params if p is not None]
    x_dtype = np.dtype(x.dtype)
    if not dtypes or all(d == x_dtype for d in dtypes):
        return
    if dtypes[0] == x_dtype:
        other = next(d for d in dtypes if d != x_dtype)
        raise RuntimeError(f"expected scalar type {_torch_name(x_dtype)} but found "
                           f"{_torch_name(other)}")
    if any(d != np.float32 for d in dtypes):
        raise RuntimeError("mixed dtype (CPU): expect parameter to have scalar type of Float")
    if not is_low_precision(x_dtype):
        raise RuntimeError("mixed dtype (CPU): all inputs must share same datatype.")


def layer_norm(x, weight=None, bias=None, eps=1e-5):
    """Normalise x over its last axis, then scale by weight and shift by bias (both (d,))."""
    if x.ndim == 0:
        raise ValueError("layer_norm: the input needs at least one axis to normalise, got ()")
    _check_float_input("layer_norm", x)
    check_mixed_dtypes(x, weight, bias)
    d = x.shape[-1]
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and p.shape != (d,):
            raise ShapeError(
                f"layer_norm: {name} must have shape ({d},) for input {x.shape}, got {p.shape}"
            )
    if bias is not None and weight is None:  # a shift alone, after the normalisation
        return LayerNorm(eps)(x) + bias
    args = [a for a in (x, weight, bias) if a is not None]
    return LayerNorm(eps)(*args)


@float32_compute(output="input")  # float16/bfloat16 x: float32 arithmetic, x's dtype out
class BatchNorm(Op):
    """Normalise each channel (axis 1) of x (N, C, *):
    y = (x - mean) / sqrt(var + eps) * weight + bias, weight and bias (C,).

    Training: mean and biased var are the batch's, over every axis but 1; with xhat the
    normalised input, h = g * weight and means over those axes,
    dx = (h - mean(h) - xhat * mean(h * xhat)) / sqrt(var + eps): O(N), as layer norm.
    Eval: mean and var are the running statistics, constants, so y is affine in x and
    dx = h / sqrt(var + eps). Both: dweight = sum(g * xhat), dbias = sum(g).
    The inputs are x, then weight if has_weight, then bias if has_bias.
    """

    # training on float16/bfloat16 x without float32 parameters or running statistics: x's
    # dtype, in which torch's kernel stores the batch's mean and 1 / std (its rounding)
    stats_dtype = None
    # the output's memory format (_torch_layout); instance_norm's: "contiguous" (torch's makes
    # its input contiguous first)
    layout = "batch_norm"

    def __init__(self, eps, training, has_weight, has_bias, running_mean=None,
                 running_var=None):
        self.eps, self.training = eps, training
        self.has_weight, self.has_bias = has_weight, has_bias
        # backward reads x (eval) and the weight, never y or the bias (Op.saves): an in-place
        # activation after it (torch's Conv-BN-ReLU6(inplace=True)) is allowed, as torch's
        self.saves = (0, 1) if has_weight else (0,)
        # eval: copies of the running statistics in x's dtype, so re-running the graph
        # after more training steps still gives this forward
        self.running_mean, self.running_var = running_mean, running_var

    def forward(self, x, *affine):
        shape = (1, -1) + (1,) * (x.ndim - 2)  # a (C,) array broadcast over x
        weight = affine[0] if self.has_weight else None
        bias = affine[-1] if self.has_bias else None
        if self.training:
            # sum / count: np.mean's arithmetic, without its warning for an empty batch; the
            # sums are BLAS products and einsum dot products (_channel_sums)
            count = max(x.size // max(x.shape[1], 1), 1)
            mean = _channel_sums(x) / count
            centered = _channel_affine(x, None, -mean)
            var = _channel_dots(centered, centered) / count
            self.batch_mean, self.batch_var = mean, var
            if self.__dict__.get("update") is not None:  # batch_norm's running statistics
                self._update_running(count)
            if self.stats_dtype is not None:  # torch keeps the mean in x's float16/bfloat16
                mean = mean.astype(self.stats_dtype).astype(x.dtype)
                centered = _channel_affine(x, None, -mean)
                if self.stats_dtype.name == "bfloat16":  # and the sum of squares, / count
                    low = self.stats_dtype.type  # in bfloat16 (float16's stays float32)
                    var = ((var * count).astype(low) / low(count)).astype(x.dtype)
            return _torch_layout(self._normalise(centered, var, weight, bias), x, self.layout)
        # eval: y = x * scale + shift per channel, one pass and one array (as torch folds it),
        # scale = weight / sqrt(var + eps), shift = bias - mean * scale; backward recomputes
        # xhat from x when the weight needs its gradient
        inv_std = 1.0 / np.sqrt(self.running_var + np.asarray(self.eps, dtype=x.dtype))
        scale = inv_std if weight is None else weight * inv_std
        shift = -self.running_mean * scale
        if bias is not None:
            shift += bias
        self.x, self.centered, self.scale, self.weight = x, None, scale, weight
        self.inv_std = inv_std.reshape(shape)
        return _torch_layout(_channel_affine(x, scale, shift), x, self.layout)

    def _update_running(self, count: int) -> None:
        """running_mean / running_var (``self.update``: the buffers' arrays and the momentum)
        moved toward the batch's mean and unbiased variance, in place, within forward as
        torch's kernel (a checkpoint's recomputation that stops once the op saved its tensors
        has updated them). An empty batch leaves them, as torch's."""
        mean_array, var_array, momentum = self.update
        if not count or not self.batch_mean.size:
            return
        unbiased_var = self.batch_var * (count / (count - 1))
        # float16/bfloat16 buffers: updated in float32, rounded once (numpy would round
        # (1 - momentum) * buffer in their dtype first)
        # (1 - momentum) in that dtype too, as torch's kernel
        wide = np.dtype(np.float32 if is_low_precision(mean_array.dtype) else mean_array.dtype)
        momentum = wide.type(momentum)
        rest = wide.type(1) - momentum
        mean_array[...] = momentum * self.batch_mean + rest * mean_array.astype(wide, copy=False)
        var_array[...] = momentum * unbiased_var + rest * var_array.astype(wide, copy=False)

    def _normalise(self, centered, var, weight, bias):
        """y = centered * (weight / sqrt(var + eps)) + bias; centered (x - mean) is kept for
        backward, which folds 1 / std into per-channel factors (no xhat array): training and
        SyncBatchNorm."""
        shape = (1, -1) + (1,) * (centered.ndim - 2)
        inv_std = 1.0 / np.sqrt(var + np.asarray(self.eps, dtype=centered.dtype))
        if self.stats_dtype is not None:  # and 1 / std
            inv_std = inv_std.astype(self.stats_dtype).astype(centered.dtype)
        self.inv_std = inv_std.reshape(shape)
        self.centered, self.weight = centered, weight
        self.scale = inv_std if weight is None else weight * inv_std
        return _channel_affine(centered, self.scale, bias)

    def backward(self, grad_output):
        inv_std = self.inv_std.reshape(-1)
        sums = _channel_sums(grad_output)  # sum(g) = dbias
        centered = self.centered
        if centered is None and self.has_weight:  # eval: xhat made again from x
            centered = _channel_affine(self.x, None, -self.running_mean)
        # sum(g * xhat) = sum(g * (x - mean)) / std = dweight: no xhat array
        dots = None if centered is None else _channel_dots(grad_output, centered) * inv_std
        if self.centered is None:  # eval: y is affine in x
            x_grad = _channel_affine(grad_output, self.scale)  # g * weight / std
        else:
            # with h = g * weight: dx = (h - mean(h) - xhat mean(h xhat)) / std
            #   = g * scale - (x - mean) * mean(h xhat) / std^2 - mean(h) / std
            mean_h, mean_hxhat = self._means(sums, dots)
            x_grad = _channel_combination(grad_output, self.scale, centered,
                                          mean_hxhat * inv_std * inv_std, mean_h * inv_std)
        grads = [x_grad]
        if self.has_weight:
            grads.append(dots)
        if self.has_bias:
            grads.append(sums)
        return tuple(grads)

    def _means(self, sums, xhat_dots):
        """(mean(h), mean(h * xhat)), (C,), h = g * weight, from sum(g) and sum(g * xhat):
        over this batch (SyncBatchNorm: over every rank's)."""
        count = max(self.centered.size // max(self.centered.shape[1], 1), 1)
        factor = 1.0 / count if self.weight is None else self.weight / count
        return sums * factor, xhat_dots * factor

    def backward_graph(self, grad_output, output):
        # backward's formula with dlpy ops; in training xhat and 1/std recomputed from x
        x, axes = self.inputs[0], (0, *range(2, grad_output.ndim))
        shape = self.inv_std.shape
        if self.training:
            centered = x - x.mean(axes, keepdims=True)
            inv_std = ((centered * centered).mean(axes, keepdims=True) + self.eps) ** -0.5
            xhat = centered * inv_std
        else:  # the running statistics are constants: y is affine in x
            inv_std = self.inv_std
            xhat = (x - self.running_mean.reshape(shape)) * inv_std
        h = grad_output * self.inputs[1].reshape(shape) if self.has_weight else grad_output
        if self.training:
            h = h - h.mean(axes, keepdims=True) - xhat * (h * xhat).mean(axes, keepdims=True)
        grads = [h * inv_std]
        if self.has_weight:
            grads.append((grad_output * xhat).sum(axes))
        if self.has_bias:
            grads.append(grad_output.sum(axes))
        return tuple(grads)

    def describe(self) -> str:
        return f"BatchNorm ({'batch' if self.training else 'running'} statistics)"


def _torch_layout(y: np.ndarray, x: np.ndarray, rule: str = "suggested") -> np.ndarray:
    """y laid out as torch's norm kernels lay their output (numpy's ufuncs would keep a
    transposed x's order): in the memory format x suggests (channels-last for a channels-last
    4-d or 5-d x), else contiguous (rule "suggested": group and RMS norm); batch norm
    ("batch_norm") first takes a contiguous x's format, then channels-last for an x
    contiguous in it (size-1 axes' strides ignored: a (1, C, 1, W) NHWC permute, which
    suggests neither); "contiguous": always contiguous (instance_norm's)."""
    fmt = contiguous_format
    if rule == "batch_norm" and not is_in_format(x, contiguous_format) \
            and x.ndim in _CHANNELS_LAST and is_in_format(x, _CHANNELS_LAST[x.ndim]):
        fmt = _CHANNELS_LAST[x.ndim]
    elif rule != "contiguous":
        fmt = suggested_format(x) or contiguous_format
    return laid_out(y, fmt)


_CHANNELS_LAST = {4: channels_last, 5: channels_last_3d}


def _channel_view(x: np.ndarray) -> np.ndarray:
    """x (N, C, *) as (N, C, positions): a view when x is contiguous."""
    return x.reshape(x.shape[0], x.shape[1], math.prod(x.shape[2:]))


def _channel_sums(x: np.ndarray) -> np.ndarray:
    """sum(x) over every axis but 1 of x (N, C, *), (C,): BLAS matrix-vector products, which
    numpy's sum over axes (0, 2, ...) trails 1.6x at 56x56 and 9x at 4x4 (float16: numpy's
    sum, which accumulates in float32)."""
    if x.dtype not in _BLAS_TYPES:
        return x.sum(axis=(0, *range(2, x.ndim)))
    rows = _channel_view(x)
    return (rows @ np.ones(rows.shape[2], dtype=x.dtype)).sum(axis=0)


def _channel_dots(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """sum(x * y) over every axis but 1 of x and y (N, C, *), (C,): einsum's dot products, no
    product array (3-4x faster than (x * y).sum(axes))."""
    if x.dtype not in _BLAS_TYPES or y.dtype != x.dtype:
        return (x * y).sum(axis=(0, *range(2, x.ndim)))
    return np.einsum("nci,nci->c", _channel_view(x), _channel_view(y))


_BLAS_TYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _channel_affine(x: np.ndarray, scale: np.ndarray | None, shift: np.ndarray | None = None):
    """x (N, C, *) * scale + shift, both (C,) or None, along axis 1, in a new array. With N > 1
    and C-contiguous x, scale and shift are first repeated over the inner axes and broadcast
    over N alone: numpy's loop then runs over C * inner contiguous elements instead of one short
    loop per (n, c) (2-3x faster at 7x7 and 4x4; measured in benchmarks/vision_models.py).
    (By blocks, as _channel_combination, it took 0.9x the time at 96x56x56 but 1.2x at
    32x56x56 and 240x14x14: left whole.)"""
    n, channels = x.shape[:2]
    inner = x.size // (n * channels) if n * channels else 0
    if x.ndim > 2 and n > 1 and inner > 1 and x.flags.c_contiguous:
        flat = x.reshape(n, channels * inner)
        if scale is None:
            y = np.add(flat, np.repeat(shift, inner))
        else:
            y = np.multiply(flat, np.repeat(scale, inner))
            if shift is not None:
                y += np.repeat(shift, inner)
        return y.reshape(x.shape)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if scale is None:
        return np.add(x, shift.reshape(shape))
    y = np.multiply(x, scale.reshape(shape))
    if shift is not None:
        y += shift.reshape(shape)
    return y


_CHANNEL_BLOCK = 32768  # elements: a block's few arrays stay in the L2 cache


def _channel_blocks(kernel, factors, *arrays) -> None:
    """kernel(*blocks of arrays, *blocks of factors) over blocks of _CHANNEL_BLOCK values of each
    sample of C-contiguous arrays (N, C, *) of one shape (the last one written), the (C,)
    factors repeated over the inner axes to match: a chain of passes over a block stays in the
    L2 cache. Samples smaller than a block go several at once, blocks (samples, width) with
    the factors broadcast over the samples (DCGAN's (64, 64, 8, 8): one call, not 64)."""
    n, channels = arrays[0].shape[:2]
    width = arrays[0].size // n
    rows = [a.reshape(n, width) for a in arrays]
    repeated = [np.repeat(np.asarray(f, dtype=arrays[0].dtype), width // channels)
                for f in factors]
    if width < _CHANNEL_BLOCK:
        step = _CHANNEL_BLOCK // width
        for start in range(0, n, step):
            kernel(*(r[start:start + step] for r in rows), *repeated)
        return
    for start in range(0, width, _CHANNEL_BLOCK):
        part = slice(start, start + _CHANNEL_BLOCK)
        factor_blocks = [f[part] for f in repeated]
        for i in range(n):
            kernel(*(r[i, part] for r in rows), *factor_blocks)


def _channel_combination(g: np.ndarray, a: np.ndarray, x: np.ndarray, b: np.ndarray,
                         c: np.ndarray) -> np.ndarray:
    """g * a - x * b - c for g and x (N, C, *) and a, b, c (C,) along axis 1, in a new array:
    by blocks (_channel_blocks) through one scratch block, no temporary of g's size."""
    n, channels = g.shape[:2]
    inner = g.size // (n * channels) if n * channels else 0
    if not (g.ndim > 2 and inner > 1 and g.flags.c_contiguous and x.flags.c_contiguous):
        shape = (1, -1) + (1,) * (g.ndim - 2)
        out = g * a.reshape(shape)
        out -= x * b.reshape(shape)
        out -= c.reshape(shape)
        return out
    scratch = np.empty(min(_CHANNEL_BLOCK, g.size), dtype=g.dtype)

    def kernel(gb, xb, out, ab, bb, cb):
        np.multiply(gb, ab, out=out)
        tmp = np.multiply(xb, bb, out=scratch[:out.size].reshape(out.shape))
        out -= tmp
        out -= cb

    out = np.empty_like(g)
    _channel_blocks(kernel, (a, b, c), g, x, out)
    return out


def _running_array(name: str, value, channels: int | None, x_shape,
                   op_name: str) -> np.ndarray | None:
    """A running statistic as the numpy array batch_norm updates in place (a Tensor's .data),
    of ``channels`` values (None: any)."""
    if value is None:
        return None
    array = value.data if isinstance(value, Tensor) else value
    if not isinstance(array, np.ndarray) or not is_floating_dtype(array.dtype):
        what = f"a {array.dtype} array" if isinstance(array, np.ndarray) else \
            type(array).__name__
        raise TypeError(f"{op_name}: {name} must be a floating point numpy array or Tensor "
                        f"(it is updated in place), got {what}")
    if channels is not None and array.shape != (channels,):
        raise ShapeError(f"{op_name}: {name} must have shape ({channels},) for input "
                         f"{x_shape}, got {array.shape}")
    return array


def _check_affine(name: str, x_shape, channels: int, weight, bias) -> None:
    for what, p in (("weight", weight), ("bias", bias)):
        if p is not None and np.shape(as_array(p)) != (channels,):
            raise ShapeError(f"{name}: {what} must have shape ({channels},) for input "
                             f"{x_shape}, got {np.shape(getattr(p, 'data', p))}")


def _checked_norm_inputs(name: str, x, running_mean, running_var, weight, bias, momentum,
                         eps, few_axes=ValueError, empty_unsized: bool = False):
    """batch_norm's and instance_norm's checks: x a float Tensor (N, C, *), momentum and eps
    numbers, weight and bias (C,) or None, the running statistics both given or neither.
    Returns x, momentum, eps and the running statistics as the arrays updated in place.
    ``few_axes``: the error class for an x of fewer than 2 axes. ``empty_unsized``: an empty
    x's weight, bias and statistics may have any size (torch's batch_norm returns its clone
    before reading them)."""
    if not isinstance(x, Tensor):
        x = Tensor(x)
    if x.ndim < 2:
        raise few_axes(f"{name}: expected input (N, C, ...) with at least 2 axes, got "
                       f"{x.shape}")
    if not is_floating_dtype(x.dtype):
        raise NoKernelError(f"{name}: expected a floating point input, got {x.dtype}")
    momentum = real_number(name, "momentum", momentum)
    eps = real_number(name, "eps", eps)
    channels = None if empty_unsized and x.data.size == 0 else x.shape[1]
    if channels is not None:
        _check_affine(name, x.shape, channels, weight, bias)
    mean_array = _running_array("running_mean", running_mean, channels, x.shape, name)
    var_array = _running_array("running_var", running_var, channels, x.shape, name)
    if (mean_array is None) != (var_array is None):  # torch's RuntimeError when they are used
        raise ArgError(f"{name}: give both running_mean and running_var, or neither")
    return x, momentum, eps, mean_array, var_array


def _with_running_stats(name: str, when: str, x, weight, bias, eps, mean_array, var_array):
    """x (N, C, *) normalised per channel with the running statistics, which must be given
    (batch_norm in eval mode, instance_norm without use_input_stats: ``when``)."""
    if mean_array is None:  # RuntimeError: torch's class
        raise RuntimeError(f"{name}: running_mean and running_var are needed when {when}")
    # copies, in the dtype the op computes in: float32 for a float16 / bfloat16 x in
    # batch_norm (torch keeps float32 running statistics); instance_norm rounds them to x's
    low = is_low_precision(x.dtype) and name == "batch_norm"
    dtype = np.float32 if low else x.dtype
    op = BatchNorm(eps, False, weight is not None, bias is not None,
                   mean_array.astype(dtype), var_array.astype(dtype))
    if name == "instance_norm":
        op.layout = "contiguous"
    return _optional_edges(op(*[a for a in (x, weight, bias) if a is not None]), weight, bias)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5):
    """Normalise x (N, C, *) per channel (axis 1), then scale by weight and shift by bias (C,).

    training: the batch's mean and biased variance, and running_mean / running_var (numpy
    arrays or Tensors, (C,), or None) are updated in place as PyTorch's:
    new = (1 - momentum) * old + momentum * batch, with the unbiased batch variance.
    Otherwise: the running statistics, which must be given.
    """
    input, momentum, eps, mean_array, var_array = _checked_norm_inputs(
        "batch_norm", input, running_mean, running_var, weight, bias, momentum, eps,
        ArgIndexError if training else ArgError,  # torch's input.size(1), its running_mean
        empty_unsized=True)
    check_mixed_dtypes(input, weight, bias, mean_array, var_array)
    if training and not eps > 0:
        raise ValueError(f"batch_norm: eps must be positive when training, got {eps}, as "
                         f"torch")
    if input.data.size == 0:
        # torch's empty input: a clone (not a view, so the graph goes on), times weight[0],
        # plus bias[0]; the running statistics are neither needed nor updated
        out = input.clone()
        out = out if weight is None else out * weight[0]
        return out if bias is None else out + bias[0]
    if not training:
        return _with_running_stats("batch_norm", "not training (training=False normalises "
                                   "with them)", input, weight, bias, eps, mean_array, var_array)
    channels = input.shape[1]
    count = input.data.size // channels if channels else 0  # values per channel
    if count == 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, "
                         f"got input of shape {input.shape}")
    op = BatchNorm(eps, True, weight is not None, bias is not None)
    op.running = (mean_array, var_array)  # (the buffers a backward in a dispatch mode shows)
    if is_low_precision(input.dtype) and all(p is None or p.dtype == input.dtype for p in
                                         (weight, bias, mean_array, var_array)):
        op.stats_dtype = input.dtype
    if mean_array is not None and count > 0:  # an empty batch leaves them (as PyTorch)
        op.update = (mean_array, var_array, momentum)  # (updated within forward)
    return _optional_edges(op(*[a for a in (input, weight, bias) if a is not None]), weight, bias)


class SyncBatchNorm(BatchNorm):
    """BatchNorm in training over the batches of every rank: ``reduce`` maps a float64 vector
    to its sum over the ranks (an allreduce; the identity in one process).

    Forward: one reduce of the per-channel sum, sum of squares and count (float64) gives the
    global batch's mean and biased var = E[x^2] - mean^2, with which BatchNorm's forward
    normalises (its branch for given statistics). Backward: one reduce of sum(h) and
    sum(h * xhat), h = g * weight, over the global count n:
    dx = (h - sum(h) / n - xhat * sum(h * xhat) / n) / sqrt(var + eps), the gradient of the
    sum of the ranks' losses (as PyTorch's); dweight and dbias are this rank's sums (a data
    parallel wrapper averages them).
    """

    def __init__(self, eps, has_weight, has_bias, reduce):
        super().__init__(eps, False, has_weight, has_bias)  # normalises with given statistics
        self.reduce = reduce

    def forward(self, x, *affine):
        axes, channels = (0, *range(2, x.ndim)), x.shape[1]
        wide = x.astype(np.float64, copy=False)
        local = np.concatenate([wide.sum(axis=axes), (wide * wide).sum(axis=axes),
                                [x.size // max(channels, 1)]])
        total = self.reduce(local)
        self.count = int(round(total[-1]))
        if self.count == 1:  # the same total on every rank: all of them raise
            raise ValueError(f"sync_batch_norm: expected more than 1 value per channel over all "
                             f"ranks when training, got input of shape {x.shape} here")
        count = max(self.count, 1)
        mean = total[:channels] / count
        var = np.maximum(total[channels:2 * channels] / count - mean * mean, 0.0)
        self.batch_mean, self.batch_var = mean.astype(x.dtype), var.astype(x.dtype)
        self.running_mean, self.running_var = self.batch_mean, self.batch_var
        shape = (1, -1) + (1,) * (x.ndim - 2)
        return self._normalise(x - self.batch_mean.reshape(shape), self.batch_var,
                               affine[0] if self.has_weight else None,
                               affine[-1] if self.has_bias else None)

    def _means(self, sums, xhat_dots):
        # the sums of h = g * weight and h * xhat over every rank, in one reduce
        factor = 1.0 if self.weight is None else self.weight
        channels = sums.size
        means = self.reduce(np.concatenate([sums * factor, xhat_dots * factor])
                            .astype(np.float64))
        means /= max(self.count, 1)
        dtype = self.centered.dtype
        return means[:channels].astype(dtype), means[channels:].astype(dtype)

    def backward_graph(self, grad_output, output):
        raise NotImplementedError("autograd.grad(create_graph=True): SyncBatchNorm has no "
                                  "differentiable backward; take first-order gradients only")

    def describe(self) -> str:
        return "SyncBatchNorm (the batch statistics of every rank)"


def sync_batch_norm(x, running_mean, running_var, weight, bias, momentum: float, eps: float,
                    reduce):
    """batch_norm in training with the mean and variance of every rank's batch: ``reduce``
    sums a float64 vector over the ranks (dlpy.distributed.all_sum). running_mean /
    running_var (or None) are updated in place as batch_norm's, with the unbiased variance
    over the global count."""
    x, momentum, eps, mean_array, var_array = _checked_norm_inputs(
        "sync_batch_norm", x, running_mean, running_var, weight, bias, momentum, eps)
    op = SyncBatchNorm(eps, weight is not None, bias is not None, reduce)
    y = op(*[a for a in (x, weight, bias) if a is not None])
    if mean_array is not None and op.count > 0:  # an empty global batch leaves them
        unbiased_var = op.batch_var * (op.count / (op.count - 1))
        mean_array[...] = momentum * op.batch_mean + (1.0 - momentum) * mean_array
        var_array[...] = momentum * unbiased_var + (1.0 - momentum) * var_array
    return y

@float32_compute(output="input")  # float16/bfloat16 x: float32 arithmetic, x's dtype out
class GroupNorm(Op):
    """Normalise x (N, C, *) over each group of C / num_groups consecutive channels (and every
    position), then scale and shift each channel: y = xhat * weight + bias, weight and bias (C,).

    On x viewed as (N, G, M): the mean, then the variance of the centred values (two passes,
    BLAS row sums and dot products), y = centred * (inv_std * weight) + bias per (sample,
    channel). As layer norm over the groups, with h = g * weight,
    dx = (h - mean(h) - xhat * mean(h * xhat)) * inv_std, here from the per-(sample, channel)
    sums S = sum(g) and D = sum(g * centred): dx = g * inv_std * weight - centred * inv_std^3
    mean(weight D) - inv_std mean(weight S); dweight = sum over samples of inv_std * D,
    dbias = sum of S: O(N), no product array of x's size but dx; the centred values made
    again in backward rather than kept. The inputs are x, then weight if has_weight, then
    bias if has_bias. Instance norm is the case num_groups = C.
    """

    stats_dtype = None  # instance_norm's float16/bfloat16 rounding (BatchNorm.stats_dtype)
    layout = "suggested"  # the output in x's suggested format (instance_norm: "contiguous")

    def __init__(self, num_groups, eps, has_weight, has_bias):
        self.num_groups, self.eps = num_groups, eps
        self.has_weight, self.has_bias = has_weight, has_bias
        # backward reads x and the weight, never y or the bias: an in-place activation after
        # the norm is fine, as in torch
        self.saves = (0, 1) if has_weight else (0,)

    def forward(self, x, *affine):
        n, channels, spatial, count = self._sizes(x.shape)
        self.x = x.reshape(n, self.num_groups, channels // self.num_groups * spatial)
        self.mean = self.center = _row_sums(self.x) / count  # (N, G): instance_norm's stats
        y = self._centered()  # (N, G, M), scaled and shifted in place into y
        self.var = var = _row_dots(y, y) / count
        if self.stats_dtype is not None and self.stats_dtype.name == "bfloat16":
            low = self.stats_dtype.type  # BatchNorm's bfloat16 sum of squares, / count
            var = ((var * count).astype(low) / low(count)).astype(x.dtype)
        self.inv_std = 1.0 / np.sqrt(var + np.asarray(self.eps, dtype=x.dtype))
        if self.stats_dtype is not None:  # instance_norm: BatchNorm.stats_dtype's rounding
            self.center = self.mean.astype(self.stats_dtype).astype(x.dtype)
            self.inv_std = self.inv_std.astype(self.stats_dtype).astype(x.dtype)
            y = self._centered()
        self.weight = affine[0] if self.has_weight else np.ones(channels, dtype=x.dtype)
        y = y.reshape(n, channels, spatial)
        y *= (self._per_channel(self.inv_std) * self.weight)[..., None]
        if self.has_bias:
            y += affine[-1][:, None]
        return _torch_layout(y.reshape(x.shape), x, self.layout)

    def backward(self, grad_output):
        n, channels, spatial, count = self._sizes(grad_output.shape)
        g = grad_output.reshape(n, channels, spatial)
        centered = self._centered().reshape(n, channels, spatial)  # made again: no copy kept
        sums, dots = _row_sums(g), _row_dots(g, centered)  # S, D: (N, C)
        inv_std, weight = self._per_channel(self.inv_std), self.weight

        def group_mean(values):  # (N, C): the mean over each channel's group
            groups = values.reshape(n, self.num_groups, channels // self.num_groups)
            return self._per_channel(groups.sum(axis=-1) / count)

        x_grad = g * (inv_std * weight)[..., None]
        centered *= (inv_std ** 3 * group_mean(weight * dots))[..., None]
        x_grad -= centered
        x_grad -= (inv_std * group_mean(weight * sums))[..., None]
        grads = [x_grad.reshape(grad_output.shape)]
        if self.has_weight:
            grads.append((inv_std * dots).sum(axis=0))
        if self.has_bias:
            grads.append(sums.sum(axis=0))
        return tuple(grads)

    def backward_graph(self, grad_output, output):
        # layer norm's formula over each group, with dlpy ops, xhat and 1/std recomputed from x
        x, groups = self.inputs[0], self.num_groups
        n, channels, spatial, _ = self._sizes(x.shape)
        width = channels // groups * spatial  # (exact: -1 is ambiguous in an empty batch)
        grouped = x.reshape(n, groups, width)  # (N, G, M)
        centered = grouped - grouped.mean(-1, keepdims=True)
        inv_std = ((centered * centered).mean(-1, keepdims=True) + self.eps) ** -0.5
        xhat = (centered * inv_std).reshape(n, channels, spatial)
        g = grad_output.reshape(n, channels, spatial)
        h = g * self.inputs[1].reshape(channels, 1) if self.has_weight else g
        h, xhat_g = h.reshape(n, groups, width), xhat.reshape(n, groups, width)
        x_grad = (h - h.mean(-1, keepdims=True)
                  - xhat_g * (h * xhat_g).mean(-1, keepdims=True)) * inv_std
        grads = [x_grad.reshape(x.shape)]
        if self.has_weight:
            grads.append((g * xhat).sum((0, 2)))
        if self.has_bias:
            grads.append(g.sum((0, 2)))
        return tuple(grads)

    def forward_low_precision(self, x, *affine):
        """float16/bfloat16 x: the float32 forward; without float32 parameters torch saves the
        mean and 1/std rounded to x's dtype, and its backward works from those."""
        y = self.forward(x.astype(np.float32), *(p.astype(np.float32) for p in affine))
        if self.stats_dtype is None and not (affine and affine[0].dtype == np.float32):
            self.center = self.mean.astype(x.dtype).astype(np.float32)
            self.inv_std = self.inv_std.astype(x.dtype).astype(np.float32)
        return y

    def _centered(self) -> np.ndarray:
        """x - mean, (N, G, M): a new array."""
        return self.x - self.center[..., None]

    def _sizes(self, shape):
        """(N, C, positions per channel, values per group (an empty group: 1))."""
        spatial = int(np.prod(shape[2:]))
        return shape[0], shape[1], spatial, max(shape[1] // self.num_groups * spatial, 1)

    def _per_channel(self, values: np.ndarray) -> np.ndarray:
        """(N, G) -> (N, C): each group's value for each of its channels."""
        return np.repeat(values, self.weight.size // self.num_groups, axis=1)

    def describe(self) -> str:
        return f"GroupNorm ({self.num_groups} groups)"


def _row_sums(x: np.ndarray) -> np.ndarray:
    """x (..., M) summed over the last axis: one BLAS matrix-vector product."""
    return x @ np.ones(x.shape[-1], dtype=x.dtype)


def _row_dots(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """sum(x * y) over the last axis of x and y (..., M): BLAS dot products, no product
    array."""
    return (x[..., None, :] @ y[..., :, None])[..., 0, 0]


class _ZeroGroupsError(ShapeError, ZeroDivisionError):
    """F.group_norm's num_groups 0: a ShapeError, and the ZeroDivisionError of torch's
    ``N * C // num_groups``."""


def group_norm(input, num_groups: int, weight=None, bias=None, eps: float = 1e-5):
    """Normalise x (N, C, *) over groups of C / num_groups channels (each sample apart), then
    scale by weight and shift by bias (C,), as torch's F.group_norm."""
    if not isinstance(input, Tensor):
        input = Tensor(input)
    # F.group_norm's check (its _verify_batch_size, which torch.group_norm skips): N * C / G *
    # positions values
    if input.ndim >= 2 and isinstance(num_groups, (int, np.integer)) and num_groups == 0 and \
            not isinstance(num_groups, bool):  # F.group_norm's N * C // num_groups
        raise _ZeroGroupsError(f"group_norm: the {input.shape[1]} channels of input "
                               f"{input.shape} must be divisible by num_groups, got "
                               f"num_groups=0")
    if input.ndim >= 2 and isinstance(num_groups, (int, np.integer)) and num_groups >= 1 and \
            input.shape[0] * input.shape[1] // num_groups * math.prod(input.shape[2:]) == 1:
        raise ValueError(f"group_norm: expected more than 1 value per channel when training, "
                         f"got input of shape {input.shape} and num_groups={num_groups}, as torch")
    return group_norm_unchecked(input, num_groups, weight, bias, eps)


def group_norm_unchecked(x, num_groups: int, weight=None, bias=None, eps: float = 1e-5):
    """group_norm without F.group_norm's count of values (torch.group_norm's)."""
    if not isinstance(x, Tensor):
        x = Tensor(x)
    if x.ndim < 2:
        raise ArgError(f"group_norm: expected input (N, C, ...) with at least 2 axes, got "
                       f"{x.shape}")
    if isinstance(num_groups, bool) or not isinstance(num_groups, (int, np.integer)):
        raise TypeError(f"group_norm: num_groups must be an int, got {num_groups!r}")
    if num_groups < 1 or x.shape[1] % num_groups:
        raise ShapeError(f"group_norm: the {x.shape[1]} channels of input {x.shape} must be "
                         f"divisible by num_groups, got num_groups={num_groups}")
    _check_float_input("group_norm", x)
    check_mixed_dtypes(x, weight, bias)
    eps = real_number("group_norm", "eps", eps)
    _check_affine("group_norm", x.shape, x.shape[1], weight, bias)
    args = [a for a in (x, weight, bias) if a is not None]
    return _optional_edges(GroupNorm(int(num_groups), eps, weight is not None,
                                     bias is not None)(*args), weight, bias)


def _view_node(y):
    """torch's instance_norm: a view of a batch norm of the (1, N * C, *) reshaped input."""
    from dlpy.node_names import edges, named

    if getattr(y, "op", None) is not None:  # (its inputs one by one: no None edges)
        edges(named(y, "ViewBackward0"), range(len(y.op.inputs)))
    return y


def _optional_edges(y, weight, bias):
    """torch's native batch / group norm nodes list an edge (None, 0) for a weight or bias
    given as None."""
    from dlpy.node_names import optional_edges

    return optional_edges(y, (BatchNorm, GroupNorm), True, weight is not None, bias is not None)


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats: bool = True, momentum: float = 0.1, eps: float = 1e-5):
    """Normalise each channel of each sample of x (N, C, *) over its positions, then scale by
    weight and shift by bias (C,), as torch's F.instance_norm.

    use_input_stats: each instance's mean and biased variance; running_mean / running_var
    (numpy arrays or Tensors, (C,), or None) are updated in place with the means over the batch
    of the instances' means and unbiased variances, as PyTorch's. Otherwise: the running
    statistics, which must be given (as batch_norm in eval mode).
    """
    input, momentum, eps, mean_array, var_array = _checked_norm_inputs(
        "instance_norm", input, running_mean, running_var, weight, bias, momentum, eps)
    check_mixed_dtypes(input, weight, bias)  # (torch's takes running statistics of any dtype)
    count = int(np.prod(input.shape[2:]))  # values per instance
    if use_input_stats and count == 1:
        raise ValueError(f"instance_norm: expected more than 1 spatial element when using the "
                         f"input's statistics, got input of shape {input.shape}")
    if input.shape[0] == 0 and (weight is not None or bias is not None):
        # torch's repeats weight and bias once per sample, none for an empty batch, and its
        # kernel then reads their element 0
        raise IndexError("instance_norm: select(): index 0 out of range for tensor of size [0] "
                         "at dimension 0 (weight and bias repeated for an empty batch)")
    if not use_input_stats:  # (torch's node: a view of its batch_norm's)
        return _view_node(_with_running_stats("instance_norm", "use_input_stats=False", input,
                                              weight, bias, eps, mean_array, var_array))
    op = GroupNorm(input.shape[1], eps, weight is not None, bias is not None)
    op.layout = "contiguous"  # torch's instance_norm output, a channels-last x's too
    if is_low_precision(input.dtype) and all(p is None or p.dtype == input.dtype for p in
                                         (weight, bias, mean_array, var_array)):
        op.stats_dtype = input.dtype  # torch's instance_norm is its batch_norm: its rounding
    y = _view_node(op(*[a for a in (input, weight, bias) if a is not None]))
    if mean_array is not None and (count > 0 or input.shape[0] == 0):
        # an empty batch's means are nan, as torch's, and make the statistics nan even with
        # momentum 0 (0 * nan); empty instances of a batch leave them
        channels = input.shape[1]
        batch_mean, batch_var = (np.full(channels, np.nan), np.full(channels, np.nan)) \
            if input.shape[0] == 0 else \
            (op.mean.mean(axis=0), (op.var * (count / (count - 1))).mean(axis=0))  # unbiased
        mean_array[...] = momentum * batch_mean + (1.0 - momentum) * mean_array
        var_array[...] = momentum * batch_var + (1.0 - momentum) * var_array
    return y


@float32_compute(output="input")  # float16/bfloat16 x: float32 arithmetic, x's dtype out
class RMSNorm(Op):
    """y = x / sqrt(mean(x^2) + eps) * weight, the mean over the last ``num_axes`` axes.

    With xhat = x / rms and h = g * weight: dx = (h - xhat * mean(h * xhat)) / rms: O(N);
    dweight = sum(g * xhat) over the leading axes.
    """

    # backward reads x (create_graph recomputes from it) and the weight, never y or the
    # bias: an in-place activation after the norm is fine, as in torch
    saves = (0, 1)

    def __init__(self, num_axes, eps):
        self.num_axes, self.eps = num_axes, eps

    def forward(self, x, weight=None):
        axes = tuple(range(x.ndim - self.num_axes, x.ndim))
        count = max(int(np.prod(x.shape[x.ndim - self.num_axes:])), 1)
        mean_square = (x * x).sum(axis=axes, keepdims=True) / count
        self.inv_rms = 1.0 / np.sqrt(mean_square + np.asarray(self.eps, dtype=x.dtype))
        self.xhat = x * self.inv_rms
        self.weight = weight
        return _torch_layout(self.xhat if weight is None else self.xhat * weight, x)

    def backward(self, grad_output):
        xhat, weight = self.xhat, self.weight
        axes = tuple(range(xhat.ndim - self.num_axes, xhat.ndim))
        h = grad_output if weight is None else grad_output * weight
        x_grad = xhat * (h * xhat).mean(axis=axes, keepdims=True)
        np.subtract(h, x_grad, out=x_grad)
        x_grad *= self.inv_rms
        if weight is None:
            return (x_grad,)
        leading = tuple(range(xhat.ndim - self.num_axes))
        return x_grad, (grad_output * xhat).sum(axis=leading)

    def backward_graph(self, grad_output, output):
        x = self.inputs[0]
        axes = tuple(range(x.ndim - self.num_axes, x.ndim))
        inv_rms = ((x * x).mean(axes, keepdims=True) + self.eps) ** -0.5
        xhat = x * inv_rms
        h = grad_output if len(self.inputs) == 1 else grad_output * self.inputs[1]
        x_grad = (h - xhat * (h * xhat).mean(axes, keepdims=True)) * inv_rms
        # weight's at x's shape: the engine sums it over the leading axes
        return (x_grad, grad_output * xhat)[:len(self.inputs)]


def _normalized_shape(name: str, normalized_shape) -> tuple[int, ...]:
    """An int or a sequence of ints as a tuple (torch.Size-like)."""
    if isinstance(normalized_shape, (int, np.integer)) and not isinstance(normalized_shape, bool):
        if normalized_shape < 0:
            raise ArgError(f"{name}: normalized_shape must hold sizes >= 0, got "
                           f"{normalized_shape}")
        return (int(normalized_shape),)
    try:
        shape = tuple(normalized_shape)
    except TypeError:
        raise TypeError(f"{name}: normalized_shape must be an int or a sequence of ints, got "
                        f"{normalized_shape!r}") from None
    if any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) for n in shape):
        raise TypeError(f"{name}: normalized_shape must be an int or a sequence of ints, got "
                        f"{normalized_shape!r}")
    if any(n < 0 for n in shape):
        raise ValueError(f"{name}: normalized_shape must hold sizes >= 0, got {shape}")
    return tuple(int(n) for n in shape)


def rms_norm(input, normalized_shape, weight=None, eps: float | None = None):
    """x / sqrt(mean(x^2) + eps) * weight over the trailing axes ``normalized_shape`` (an int or
    a sequence), as torch's F.rms_norm; eps None is the machine epsilon of x's dtype (float32's
    for float16 and bfloat16, the dtype they are computed in)."""
    if not isinstance(input, Tensor):
        input = Tensor(input)
    _check_float_input("rms_norm", input)
    shape = _normalized_shape("rms_norm", normalized_shape)
    if not shape or input.shape[input.ndim - len(shape):] != shape or len(shape) > input.ndim:
        raise ShapeError(f"rms_norm: normalized_shape {shape} must be the last axes of the "
                         f"input, got input of shape {input.shape}")
    if weight is not None and np.shape(as_array(weight)) != shape:
        raise ArgError(f"rms_norm: weight must have shape normalized_shape {shape}, got "
                       f"{np.shape(getattr(weight, 'data', weight))}")
    if eps is None:  # float16 / bfloat16 compute in float32, and take its epsilon (as torch)
        eps = float(np.finfo(input.dtype if input.dtype.kind == "f" and input.dtype.itemsize >= 4
                             else np.float32).eps)
    eps = real_number("rms_norm", "eps", eps)
    op = RMSNorm(len(shape), eps)
    if weight is None:
        return op(input)
    if isinstance(weight, Tensor) and weight.dtype != input.dtype and \
            not is_low_precision(input.dtype):  # torch: x's dtype out
        weight = weight.to(input.dtype)
    return op(input, weight)


def local_response_norm(input, size: int, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 1.0):
    """x / (k + alpha / size * sum of x^2 over ``size`` neighbouring channels)^beta, channels on
    axis 1 of x (N, C, *) zero-padded by size // 2 before and (size - 1) // 2 after, as torch's
    F.local_response_norm. A composite: the window is a sum of ``size`` slices."""
    if not isinstance(input, Tensor):
        input = Tensor(input)
    if input.ndim < 3:
        raise ValueError(f"local_response_norm: expected input (N, C, *) with at least 3 axes, "
                         f"got {input.shape}")
    if input.data.size == 0:  # torch returns an empty input before its other checks and kernels
        return input
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        # torch's average pool's RuntimeError for a window < 1
        raise ArgError(f"local_response_norm: size must be a positive int, got {size!r}")
    alpha = real_number("local_response_norm", "alpha", alpha)
    beta = real_number("local_response_norm", "beta", beta)
    k = real_number("local_response_norm", "k", k)
    dtype = input.dtype  # torch's average pool: 2-d for 3-axis x, 3-d (no float16) beyond
    if (dtype.kind in "biu" and dtype != np.int64) or (input.ndim > 3 and
                                                      is_low_precision(dtype)):
        raise NoKernelError(f"local_response_norm: torch's CPU kernel takes no {dtype} input of "
                            f"{input.ndim} axes")
    channels = input.shape[1]
    widths = (0, 0) * (input.ndim - 2) + (size // 2, (size - 1) // 2)  # last axis first
    squares = input * input  # rounded to x's dtype, as torch's
    low = is_low_precision(dtype)
    padded = pad(squares.float() if low else squares, widths)
    window = padded[:, 0:channels]
    for start in range(1, size):
        window = window + padded[:, start:start + channels]
    if input.dtype.kind in "iu":  # torch's average pool of integer squares truncates
        return input / ((window // size) * alpha + k) ** beta
    # torch's steps, each rounded to x's dtype: the average (float16 / bfloat16 summed in
    # float32, as its pool), * alpha, + k, ** beta
    average = window / size
    if low:
        average = average.to(dtype)
    return input / (average * alpha + k) ** beta
