"""Layer normalisation over the last axis and batch normalisation over the channels, each fused
with its O(N) backward."""

import numpy as np

from dlpy.ops import real_number
from dlpy.tensor import Op, Tensor


class LayerNorm(Op):
    """y = (x - mean) / sqrt(var + eps) * weight + bias over the last axis.

    With xhat the normalised input and h = g * weight:
    dx = (h - mean(h) - xhat * mean(h * xhat)) / sqrt(var + eps): O(N), no Jacobian.
    """

    def __init__(self, eps):
        self.eps = eps

    def forward(self, x, weight=None, bias=None):
        mean = x.mean(axis=-1, keepdims=True)
        centered = x - mean
        var = (centered * centered).mean(axis=-1, keepdims=True)
        self.inv_std = 1.0 / np.sqrt(var + np.asarray(self.eps, dtype=x.dtype))
        self.xhat = centered * self.inv_std
        self.weight = weight
        y = self.xhat
        if weight is not None:
            y = y * weight
            if bias is not None:  # (layer_norm allows a bias only with a weight)
                y += bias  # y is a new array here: add in place
        return y

    def backward(self, grad_output):
        xhat, weight = self.xhat, self.weight
        h = grad_output if weight is None else grad_output * weight
        x_grad = h - h.mean(axis=-1, keepdims=True)  # in-place steps: no temporaries kept
        x_grad -= xhat * (h * xhat).mean(axis=-1, keepdims=True)
        x_grad *= self.inv_std
        grads = [x_grad]
        if len(self.inputs) > 1:
            batch_axes = tuple(range(grad_output.ndim - 1))
            grads.append((grad_output * xhat).sum(axis=batch_axes))
        if len(self.inputs) > 2:
            grads.append(grad_output.sum(axis=batch_axes))
        return tuple(grads)


def layer_norm(x, weight=None, bias=None, eps=1e-5):
    """Normalise x over its last axis, then scale by weight and shift by bias (both (d,))."""
    if x.ndim == 0:
        raise ValueError("layer_norm: the input needs at least one axis to normalise, got ()")
    d = x.shape[-1]
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and p.shape != (d,):
            raise ValueError(
                f"layer_norm: {name} must have shape ({d},) for input {x.shape}, got {p.shape}"
            )
    if bias is not None and weight is None:
        raise ValueError("layer_norm: a bias needs a weight (pass ones for no scaling)")
    args = [a for a in (x, weight, bias) if a is not None]
    return LayerNorm(eps)(*args)


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

    def __init__(self, eps, training, has_weight, has_bias, running_mean=None,
                 running_var=None):
        self.eps, self.training = eps, training
        self.has_weight, self.has_bias = has_weight, has_bias
        # eval: copies of the running statistics in x's dtype, so re-running the graph
        # after more training steps still gives this forward
        self.running_mean, self.running_var = running_mean, running_var

    def forward(self, x, *affine):
        axes = (0, *range(2, x.ndim))  # every axis but the channels
        shape = (1, -1) + (1,) * (x.ndim - 2)  # a (C,) array broadcast over x
        if self.training:
            # sum / count: np.mean's arithmetic, without its warning for an empty batch
            count = max(x.size // max(x.shape[1], 1), 1)
            mean = x.sum(axis=axes) / count
            centered = x - mean.reshape(shape)
            var = (centered * centered).sum(axis=axes) / count
            self.batch_mean, self.batch_var = mean, var  # batch_norm updates the buffers
        else:
            centered = x - self.running_mean.reshape(shape)
            var = self.running_var
        self.inv_std = (1.0 / np.sqrt(var + np.asarray(self.eps, dtype=x.dtype))).reshape(shape)
        self.xhat = centered
        self.xhat *= self.inv_std  # centered is a new array: scale it in place
        self.weight = affine[0].reshape(shape) if self.has_weight else None
        y = self.xhat if self.weight is None else self.xhat * self.weight
        if self.has_bias:
            y = y + affine[-1].reshape(shape)
        return y

    def backward(self, grad_output):
        xhat, weight = self.xhat, self.weight
        axes = (0, *range(2, grad_output.ndim))
        h = grad_output if weight is None else grad_output * weight
        if self.training:
            x_grad = h - h.mean(axis=axes, keepdims=True)  # in-place steps: no temporaries kept
            x_grad -= xhat * (h * xhat).mean(axis=axes, keepdims=True)
            x_grad *= self.inv_std
        else:
            x_grad = h * self.inv_std
        grads = [x_grad]
        if self.has_weight:
            grads.append((grad_output * xhat).sum(axis=axes))
        if self.has_bias:
            grads.append(grad_output.sum(axis=axes))
        return tuple(grads)

    def describe(self) -> str:
        return f"BatchNorm ({'batch' if self.training else 'running'} statistics)"


def _running_array(name: str, value, channels: int, x_shape) -> np.ndarray | None:
    """A running statistic as the numpy array batch_norm updates in place (a Tensor's .data)."""
    if value is None:
        return None
    array = value.data if isinstance(value, Tensor) else value
    if not isinstance(array, np.ndarray) or array.dtype.kind != "f":
        what = f"a {array.dtype} array" if isinstance(array, np.ndarray) else \
            type(array).__name__
        raise TypeError(f"batch_norm: {name} must be a floating point numpy array or Tensor "
                        f"(it is updated in place), got {what}")
    if array.shape != (channels,):
        raise ValueError(f"batch_norm: {name} must have shape ({channels},) for input "
                         f"{x_shape}, got {array.shape}")
    return array


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5):
    """Normalise x (N, C, *) per channel (axis 1), then scale by weight and shift by bias (C,).

    training: the batch's mean and biased variance, and running_mean / running_var (numpy
    arrays or Tensors, (C,), or None) are updated in place as PyTorch's:
    new = (1 - momentum) * old + momentum * batch, with the unbiased batch variance.
    Otherwise: the running statistics, which must be given.
    """
    if not isinstance(x, Tensor):
        x = Tensor(x)
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected input (N, C, ...) with at least 2 axes, "
                         f"got {x.shape}")
    if x.dtype.kind != "f":
        raise TypeError(f"batch_norm: expected a floating point input, got {x.dtype}")
    momentum = real_number("batch_norm", "momentum", momentum)
    eps = real_number("batch_norm", "eps", eps)
    channels = x.shape[1]
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and p.shape != (channels,):
            raise ValueError(f"batch_norm: {name} must have shape ({channels},) for input "
                             f"{x.shape}, got {p.shape}")
    mean_array = _running_array("running_mean", running_mean, channels, x.shape)
    var_array = _running_array("running_var", running_var, channels, x.shape)
    if (mean_array is None) != (var_array is None):
        raise ValueError("batch_norm: give both running_mean and running_var, or neither")
    args = [a for a in (x, weight, bias) if a is not None]
    if not training:
        if mean_array is None:
            raise ValueError("batch_norm: running_mean and running_var are needed when not "
                             "training (training=False normalises with them)")
        op = BatchNorm(eps, False, weight is not None, bias is not None,
                       mean_array.astype(x.dtype), var_array.astype(x.dtype))  # copies
        return op(*args)
    count = x.data.size // channels if channels else 0  # values per channel
    if count == 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, "
                         f"got input of shape {x.shape}")
    op = BatchNorm(eps, True, weight is not None, bias is not None)
    y = op(*args)
    if mean_array is not None and count > 0:  # an empty batch leaves them (as PyTorch)
        unbiased_var = op.batch_var * (count / (count - 1))
        mean_array[...] = momentum * op.batch_mean + (1.0 - momentum) * mean_array
        var_array[...] = momentum * unbiased_var + (1.0 - momentum) * var_array
    return y
