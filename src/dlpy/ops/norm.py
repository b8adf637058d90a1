"""Layer normalisation over the last axis, fused with its O(N) backward."""

import numpy as np

from dlpy.tensor import Op


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
