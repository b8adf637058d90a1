"""Layer normalisation, batch normalisation and dropout modules."""

from __future__ import annotations

import numpy as np

from dlpy import functional as F
from dlpy.nn.module import Module, Parameter
from dlpy.ops import real_number
from dlpy.tensor import Tensor


class LayerNorm(Module):
    """Normalise over the last axis (size normalized_shape), then weight * x + bias."""

    def __init__(self, normalized_shape: int, eps: float = 1e-5, elementwise_affine: bool = True,
                 dtype=np.float32):
        super().__init__()
        self.normalized_shape, self.eps = int(normalized_shape), eps
        self.weight = Parameter(np.ones(self.normalized_shape), dtype=dtype) \
            if elementwise_affine else None
        self.bias = Parameter(np.zeros(self.normalized_shape), dtype=dtype) \
            if elementwise_affine else None

    def forward(self, x):
        return F.layer_norm(x, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}"


class _BatchNorm(Module):
    """Batch normalisation over axis 1 (the channels), as PyTorch's: while training, the
    batch's statistics, and (track_running_stats) running_mean / running_var updated with
    ``momentum`` (None: the cumulative average over num_batches_tracked batches); in eval
    mode, the running statistics. weight (ones) and bias (zeros), (num_features,), with affine.
    """

    ranks: tuple[int, ...] = ()
    expected = ""  # the shapes the error messages name

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, dtype=np.float32, *,
                 bias: bool = True):
        super().__init__()
        name = type(self).__name__
        if isinstance(num_features, bool) or not isinstance(num_features, (int, np.integer)) \
                or num_features < 1:
            raise ValueError(f"{name}: num_features must be a positive integer, got "
                             f"{num_features!r}")
        self.num_features = int(num_features)
        self.eps = real_number(name, "eps", eps)
        self.momentum = None if momentum is None else real_number(name, "momentum", momentum)
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        self.weight = Parameter(np.ones(self.num_features), dtype=dtype) if affine else None
        self.bias = Parameter(np.zeros(self.num_features), dtype=dtype) \
            if affine and bias else None
        tracked = self.track_running_stats
        self.register_buffer("running_mean", np.zeros(self.num_features, dtype=dtype)
                             if tracked else None)
        self.register_buffer("running_var", np.ones(self.num_features, dtype=dtype)
                             if tracked else None)
        self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64)
                             if tracked else None)

    def forward(self, x):
        x = x if isinstance(x, Tensor) else Tensor(x)
        name = type(self).__name__
        if x.ndim not in self.ranks:
            raise ValueError(f"{name}: expected {self.expected}, got a {x.ndim}D input of "
                             f"shape {x.shape}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{name}: expected {self.num_features} channels on axis 1, got "
                             f"an input of shape {x.shape}")
        # PyTorch's rules: the buffers are updated only while training with
        # track_running_stats; eval mode without them normalises with the batch's statistics
        counting = self.training and self.track_running_stats and \
            self.num_batches_tracked is not None
        momentum = self.momentum
        if momentum is None:  # the cumulative average over the batches seen, this one too
            momentum = 1.0 / float(self.num_batches_tracked + 1) if counting else 0.0
        pass_running = not self.training or self.track_running_stats
        y = F.batch_norm(x, self.running_mean if pass_running else None,
                         self.running_var if pass_running else None, self.weight, self.bias,
                         self.training or (self.running_mean is None and
                                           self.running_var is None),
                         momentum, self.eps)
        if counting:
            self.num_batches_tracked += 1  # after batch_norm accepted the batch
        return y

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs over the C channels (axis 1)."""

    ranks = (2, 3)
    expected = "a 2D or 3D input (N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs over the C channels (axis 1)."""

    ranks = (4,)
    expected = "a 4D input (N, C, H, W)"


class BatchNorm3d(_BatchNorm):
    """Batch normalisation of (N, C, D, H, W) inputs over the C channels (axis 1)."""

    ranks = (5,)
    expected = "a 5D input (N, C, D, H, W)"


class Dropout(Module):
    """Zero elements with probability p while training; identity in eval mode."""

    def __init__(self, p: float = 0.5, rng=None):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        self.p = p
        self.rng = rng  # None: the default generator (dlpy.manual_seed), drawn at call time

    def forward(self, x):
        return F.dropout(x, self.p, self.training, self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"
