"""Layer, batch, group, instance, RMS and local response normalisation, and the dropout modules."""

from __future__ import annotations

import sys
import warnings

import numpy as np

from dlpy import functional as F
from dlpy.device import as_device
from dlpy.nn.linear import run_reset_override, setting
from dlpy.nn.module import Module, Parameter
from dlpy.ops import ArgError, real_number
from dlpy.ops.norm import _normalized_shape, sync_batch_norm
from dlpy.tensor import ShapeError, Tensor, _bump, parameter_dtype


def reset_affine(layer: Module) -> None:
    """PyTorch's reset_parameters of the normalisation layers: weight ones, bias zeros, in
    place (those the layer has)."""
    from dlpy.nn import init

    if getattr(layer, "weight", None) is not None:
        init.ones_(layer.weight)
    if getattr(layer, "bias", None) is not None:
        init.zeros_(layer.bias)


class LayerNorm(Module):
    """Normalise over the trailing axes ``normalized_shape`` (an int or a sequence of ints,
    kept as a tuple, as PyTorch's), then weight * x + bias: with elementwise_affine, weight
    (ones) and, unless bias=False, bias (zeros), both of shape normalized_shape."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device=None, dtype=None):
        dtype = parameter_dtype(dtype, type(self).__name__, elementwise_affine)
        super().__init__()
        as_device(device, "LayerNorm")  # the CPU only
        self.normalized_shape = _normalized_shape("LayerNorm", normalized_shape)
        self.eps, self.elementwise_affine = eps, bool(elementwise_affine)
        self.register_parameter("weight", Parameter(np.ones(self.normalized_shape), dtype=dtype)
                                if elementwise_affine else None)
        self.register_parameter("bias", Parameter(np.zeros(self.normalized_shape), dtype=dtype)
                                if elementwise_affine and bias else None)

    def reset_parameters(self) -> None:
        """weight ones, bias zeros, in place (PyTorch's)."""
        reset_affine(self)

    def forward(self, input):
        shape = self.normalized_shape
        if len(input.shape) < len(shape) \
                or tuple(input.shape[len(input.shape) - len(shape):]) != shape:
            raise ShapeError(f"LayerNorm: expected input (*, {', '.join(map(str, shape))}) for "
                             f"normalized_shape {shape}, got {tuple(input.shape)}")
        if len(shape) == 1:  # the last axis: the fused op directly
            return F.layer_norm(input, self.weight, self.bias, self.eps)
        return F.layer_norm(input, shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


class _ZeroGroupsError(ValueError, ZeroDivisionError):
    """GroupNorm with num_groups 0: a ValueError, and the ZeroDivisionError of torch's
    ``num_channels % num_groups``."""


def _positive_int(name: str, what: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        what_is = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        error = ValueError
        if not isinstance(value, bool) and isinstance(value, (int, np.integer)):
            # torch's RuntimeError (a tensor of a negative size, a window of 0), its
            # ZeroDivisionError for num_groups 0 (num_channels % num_groups)
            error = _ZeroGroupsError if value == 0 and what == "num_groups" else ArgError
        raise error(f"{name}: {what} must be {what_is}, got {value!r}")
    return int(value)


class _NormBase(Module):
    """What batch and instance normalisation share: ``num_features`` channels, weight (ones)
    and bias (zeros), (num_features,), with affine; with track_running_stats, the buffers
    running_mean (zeros), running_var (ones) and num_batches_tracked (0), in PyTorch's order;
    inputs of the ranks in ``ranks``, else an error naming ``expected``."""

    ranks: tuple[int, ...] = ()
    expected = ""  # the shapes the error messages name
    _version = 2  # version 2 added num_batches_tracked (torch's)

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, dtype=None, *,
                 bias: bool = True):
        dtype = parameter_dtype(dtype, type(self).__name__, affine)
        super().__init__()
        name = type(self).__name__
        self.num_features = _positive_int(name, "num_features", num_features, 0)  # 0: as torch's
        self.eps = real_number(name, "eps", eps)
        self.momentum = None if momentum is None else real_number(name, "momentum", momentum)
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        self.register_parameter("weight", Parameter(np.ones(self.num_features), dtype=dtype)
                                if affine else None)
        self.register_parameter("bias", Parameter(np.zeros(self.num_features), dtype=dtype)
                                if affine and bias else None)
        tracked = self.track_running_stats
        self.register_buffer("running_mean", np.zeros(self.num_features, dtype=dtype)
                             if tracked else None)
        self.register_buffer("running_var", np.ones(self.num_features, dtype=dtype)
                             if tracked else None)
        self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64)
                             if tracked else None)
        run_reset_override(self)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs) -> None:
        """A state saved before version 2 (or a plain dict without ``_metadata``) may lack
        num_batches_tracked: the current count stays, as torch's."""
        version = local_metadata.get("version")
        key = prefix + "num_batches_tracked"
        if (version is None or version < 2) and self.track_running_stats \
                and key not in state_dict:
            state_dict[key] = Tensor(np.array(self.num_batches_tracked.data, copy=True))
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def reset_running_stats(self) -> None:
        """running_mean 0, running_var 1, num_batches_tracked 0, in place (PyTorch's)."""
        if self.track_running_stats:
            self.running_mean[...] = 0
            self.running_var[...] = 1
            self.num_batches_tracked[...] = 0

    def reset_parameters(self) -> None:
        """The running statistics reset, weight ones, bias zeros, in place (PyTorch's)."""
        self.reset_running_stats()
        reset_affine(self)

    def _check_input_dim(self, input) -> None:  # noqa: A002 - torch's name
        """torch's check of the input's rank, which forward calls first (a subclass overrides
        it to take other ranks): one of ``ranks``, else a ValueError; a class with no ranks
        has none to check against (torch's NotImplementedError)."""
        if not self.ranks:
            raise NotImplementedError(f"{type(self).__name__}: _check_input_dim is not "
                                      f"implemented (a subclass defines it)")
        if input.ndim not in self.ranks:
            raise ValueError(f"{type(self).__name__}: expected {self.expected}, got a "
                             f"{input.ndim}D input of shape {input.shape}")

    def _checked_input(self, x) -> Tensor:
        """x as a Tensor, checked by ``_check_input_dim``."""
        x = x if isinstance(x, Tensor) else Tensor(x)
        self._check_input_dim(x)
        return x


class _BatchNorm(_NormBase):
    """Batch normalisation over axis 1 (the channels), as PyTorch's: while training, the
    batch's statistics, and (track_running_stats) running_mean / running_var updated with
    ``momentum`` (None: the cumulative average over num_batches_tracked batches); in eval
    mode, the running statistics. weight (ones) and bias (zeros), (num_features,), with affine.
    """

    def forward(self, input):
        input = self._checked_input(input)
        # PyTorch's rules: the buffers are updated only while training with
        # track_running_stats; eval mode without them normalises with the batch's statistics
        counting = self.training and self.track_running_stats and \
            self.num_batches_tracked is not None
        if counting:  # before the batch norm, as torch's (a batch it refuses is counted too)
            dispatch = sys.modules.get("dlpy.utils._python_dispatch")
            if dispatch is not None and dispatch._mode_stack:
                self.num_batches_tracked.add_(1)  # what a TorchDispatchMode sees
            else:  # in place on the array (a Tensor's += costs ~10x more here); its version
                self.num_batches_tracked.data += 1  # goes up as torch's add_'s
                _bump(self.num_batches_tracked.data)
        momentum = self.momentum
        if momentum is None:  # the cumulative average over the batches seen, this one too
            momentum = 1.0 / float(self.num_batches_tracked.data) if counting else 0.0
        if input.shape[1] != self.num_features and (self.affine or self.track_running_stats) \
                and input.data.size:  # (torch's kernel finds it; an empty input never gets there)
            raise ShapeError(f"{type(self).__name__}: expected {self.num_features} channels on "
                             f"axis 1, got an input of shape {input.shape}")
        pass_running = not self.training or self.track_running_stats
        return F.batch_norm(input, self.running_mean if pass_running else None,
                         self.running_var if pass_running else None, self.weight, self.bias,
                         self.training or (self.running_mean is None and
                                           self.running_var is None),
                         momentum, self.eps)


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


class SyncBatchNorm(_BatchNorm):
    """Batch normalisation of (N, C, *) inputs whose statistics, while training under MPI with
    more than one rank, are those of every rank's batch together (dlpy.distributed): one
    allreduce of the per-channel sum, sum of squares and count in forward, one of the two
    per-channel gradient sums in backward, so that N ranks with batches of b give the outputs,
    gradients and running statistics of one process with a batch of N * b. In eval mode, or
    in one process (MPI not initialised, or one rank), it is BatchNorm, with no communication.
    ``process_group`` must be None: dlpy has one group, every rank."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, process_group=None,
                 dtype=None, *, bias: bool = True):
        dtype = parameter_dtype(dtype, type(self).__name__, affine)
        if process_group is not None:
            raise ValueError(f"SyncBatchNorm: process_group must be None (dlpy has one process "
                             f"group: every rank), got {process_group!r}")
        super().__init__(num_features, eps, momentum, affine, track_running_stats, dtype,
                         bias=bias)
        self.process_group = None

    def _check_input_dim(self, input) -> None:  # noqa: A002 - torch's name
        if input.ndim < 2:
            raise ValueError(f"SyncBatchNorm: expected at least a 2D input (N, C, *), got a "
                             f"{input.ndim}D input of shape {input.shape}")

    def forward(self, input):
        from dlpy import distributed

        if not self.training or distributed.world_size() == 1:
            return super().forward(input)
        input = self._checked_input(input)
        if input.shape[1] != self.num_features:
            raise ValueError(f"SyncBatchNorm: expected {self.num_features} channels on axis 1, "
                             f"got an input of shape {input.shape}")
        counting = self.track_running_stats and self.num_batches_tracked is not None
        momentum = self.momentum
        if momentum is None:  # the cumulative average over the batches seen, this one too
            momentum = 1.0 / (float(self.num_batches_tracked.data) + 1) if counting else 0.0
        y = sync_batch_norm(input, self.running_mean, self.running_var, self.weight, self.bias,
                            momentum, self.eps, distributed.all_sum)
        if counting:
            self.num_batches_tracked.data += 1
            _bump(self.num_batches_tracked.data)
        return y

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group=None) -> Module:
        """``module`` with every BatchNorm1d/2d/3d in it (itself too) replaced by a
        SyncBatchNorm holding the same parameters, buffers and training mode (PyTorch's);
        returns the new root when ``module`` itself is one."""
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            converted = cls(module.num_features, module.eps, module.momentum, module.affine,
                            module.track_running_stats, process_group,
                            bias=module.bias is not None)
            for name in ("weight", "bias"):
                setattr(converted, name, getattr(module, name))
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                setattr(converted, name, getattr(module, name))
            converted.training = module.training
            return converted
        for name, child in list(module.named_children()):
            replaced = cls.convert_sync_batchnorm(child, process_group)
            if replaced is not child:
                setattr(module, name, replaced)
        return module


def _dropout(module: Module, function, x):
    """``function(x, p, training, rng=rng)``; with ``inplace`` while training, x changed in place
    and returned (torch's ``inplace=True``)."""
    if module.inplace and module.training and module.p and isinstance(x, Tensor):
        return function(x, module.p, True, True, rng=module.rng)  # (the function's in-place
        # path: its draws made before an expanded x is refused, as torch's)
    return function(x, module.p, module.training, rng=module.rng)


class _DropoutNd(Module):
    """The dropouts' base (torch's ``_DropoutNd``): the probability ``p`` in [0, 1] and
    ``inplace``, which a subclass's forward reads; ``rng`` (dlpy's) the generator, None the
    default one, drawn at call time."""

    inplace = False  # (a layer pickled before it had the attribute)

    def __init__(self, p: float = 0.5, inplace: bool = False, rng=None):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"{type(self).__name__}: p must be in [0, 1], got {p}")
        self.p, self.inplace = p, bool(inplace)
        self.rng = rng  # None: the default generator (dlpy.manual_seed), drawn at call time

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Zero elements with probability p while training (scaling the rest by 1 / (1 - p));
    identity in eval mode. ``inplace=True`` changes x in place while training, as torch's."""

    def forward(self, input):
        return _dropout(self, F.dropout, input)


class GroupNorm(Module):
    """Normalise each sample of x (N, C, *) over groups of C / num_groups channels, then scale and
    shift each channel by weight (ones) and bias (zeros), (num_channels,), with affine."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, dtype=None, *, bias: bool = True):
        dtype = parameter_dtype(dtype, type(self).__name__, affine)
        super().__init__()
        self.num_groups = _positive_int("GroupNorm", "num_groups", num_groups)
        self.num_channels = _positive_int("GroupNorm", "num_channels", num_channels)
        if self.num_channels % self.num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by "
                             f"num_groups ({num_groups})")
        self.eps = real_number("GroupNorm", "eps", eps)
        self.affine = bool(affine)
        self.register_parameter("weight", Parameter(np.ones(self.num_channels), dtype=dtype)
                                if affine else None)
        self.register_parameter("bias", Parameter(np.zeros(self.num_channels), dtype=dtype)
                                if affine and bias else None)

    def reset_parameters(self) -> None:
        """weight ones, bias zeros, in place (PyTorch's)."""
        reset_affine(self)

    def forward(self, input):
        input = input if isinstance(input, Tensor) else Tensor(input)
        if self.affine and (input.ndim < 2 or input.shape[1] != self.num_channels):
            raise ShapeError(f"GroupNorm: expected input (N, {self.num_channels}, *), got "
                             f"{input.shape}")
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


class _InstanceNorm(_NormBase):
    """Instance normalisation as PyTorch's: each channel of each sample over its positions;
    weight (ones) and bias (zeros) with affine; with track_running_stats, running_mean /
    running_var updated while training (with ``momentum``; None leaves them, as PyTorch passes
    0) and used in eval mode; num_batches_tracked is kept for state dicts but, as PyTorch's,
    never counts. An input without the batch axis is normalised as a batch of one."""

    ranks: tuple[int, int] = (0, 0)  # (unbatched, batched)

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = False, track_running_stats: bool = False, dtype=None, *,
                 bias: bool = True):
        dtype = parameter_dtype(dtype, type(self).__name__, affine)
        super().__init__(num_features, eps, momentum, affine, track_running_stats, dtype,
                         bias=bias)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs) -> None:
        """A plain dict (no version) holding running statistics for a module that tracks
        none is an error naming them, and they are dropped, as torch's."""
        keys = [prefix + name for name in ("running_mean", "running_var")
                if prefix + name in state_dict]
        if local_metadata.get("version") is None and not self.track_running_stats and keys:
            name = type(self).__name__
            found = " and ".join(f'"{key}"' for key in keys)
            error_msgs.append(
                f"Unexpected running stats buffer(s) {found} for {name} with "
                "track_running_stats=False. If state_dict is a checkpoint saved before 0.4.0, "
                f"this may be expected because {name} does not track running stats by default "
                "since 0.4.0. Please remove these keys from state_dict. If the running stats "
                f"are actually needed, instead set track_running_stats=True in {name} to "
                f"enable them. See the documentation of {name} for details.")
            for key in keys:
                state_dict.pop(key)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def forward(self, input):
        input = self._checked_input(input)
        name = type(self).__name__
        unbatched = input.ndim == self.ranks[0]
        channels = input.shape[0 if unbatched else 1]
        if channels != self.num_features:
            if self.affine or self.track_running_stats:
                # torch: affine's ValueError, the running buffers' RuntimeError without it
                error = ValueError if self.affine else ArgError
                raise error(f"{name}: expected {self.num_features} channels on axis "
                            f"{0 if unbatched else 1}, got an input of shape {input.shape}")
            warnings.warn(f"{name}: the input's {channels} channels are not num_features "
                          f"({self.num_features}), which is unused without affine or "
                          f"track_running_stats (as PyTorch)", UserWarning, stacklevel=2)
        if unbatched:
            input = input.unsqueeze(0)
        y = F.instance_norm(input, self.running_mean, self.running_var, self.weight, self.bias,
                            self.training or not self.track_running_stats,
                            0.0 if self.momentum is None else self.momentum, self.eps)
        return y.squeeze(0) if unbatched else y


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation of (N, C, L) or unbatched (C, L) inputs."""

    ranks = (2, 3)
    expected = "a 2D (C, L) or 3D (N, C, L) input"


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation of (N, C, H, W) or unbatched (C, H, W) inputs."""

    ranks = (3, 4)
    expected = "a 3D (C, H, W) or 4D (N, C, H, W) input"


class InstanceNorm3d(_InstanceNorm):
    """Instance normalisation of (N, C, D, H, W) or unbatched (C, D, H, W) inputs."""

    ranks = (4, 5)
    expected = "a 4D (C, D, H, W) or 5D (N, C, D, H, W) input"


class RMSNorm(Module):
    """x / sqrt(mean(x^2) + eps) * weight over the trailing axes ``normalized_shape`` (an int or
    a sequence); weight (ones, normalized_shape) with elementwise_affine; eps None is the machine
    epsilon of the input's dtype, as PyTorch's."""

    def __init__(self, normalized_shape, eps: float | None = None,
                 elementwise_affine: bool = True, dtype=None):
        dtype = parameter_dtype(dtype, type(self).__name__, elementwise_affine)
        super().__init__()
        self.normalized_shape = _normalized_shape("RMSNorm", normalized_shape)
        self.eps = None if eps is None else real_number("RMSNorm", "eps", eps)
        self.elementwise_affine = bool(elementwise_affine)
        self.register_parameter("weight", Parameter(np.ones(self.normalized_shape), dtype=dtype)
                                if elementwise_affine else None)

    def reset_parameters(self) -> None:
        """weight ones, in place (PyTorch's)."""
        reset_affine(self)

    def forward(self, x):
        return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class _ResponseNorm(Module):
    """The settings of a local response norm: a positive int ``size`` and reals alpha, beta, k."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        name = type(self).__name__
        self.size = _positive_int(name, "size", size)
        self.alpha = setting(name, "alpha", alpha)  # as given (torch prints k=2, not 2.0)
        self.beta = setting(name, "beta", beta)
        self.k = setting(name, "k", k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class LocalResponseNorm(_ResponseNorm):
    """x / (k + alpha / size * sum of x^2 over ``size`` neighbouring channels)^beta."""

    def forward(self, input):
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)


class _ChannelDropout(_DropoutNd):
    """Dropout of whole channels (or alpha dropout) while training; identity in eval mode;
    ``inplace=True`` changes x in place while training, as torch's."""

    function = staticmethod(F.dropout1d)

    def __init__(self, p: float = 0.5, inplace: bool = False, rng=None):
        super().__init__()
        if not isinstance(p, (int, float, np.integer, np.floating)) \
                or not 0 <= p <= 1:
            raise ValueError(f"{type(self).__name__}: p must be in [0, 1], got {p!r}")
        self.p, self.inplace = p, bool(inplace)
        self.rng = rng  # None: the default generator (dlpy.manual_seed), drawn at call time

    def forward(self, input):
        return _dropout(self, self.function, input)


class Dropout1d(_ChannelDropout):
    """Zero whole channels of (N, C, L) or unbatched (C, L) inputs with probability p while
    training, scaling the rest by 1 / (1 - p)."""

    function = staticmethod(F.dropout1d)


class Dropout2d(_ChannelDropout):
    """Zero whole channels of (N, C, H, W) inputs with probability p while training, scaling the
    rest by 1 / (1 - p); a 3D input is read as (N, C, L), with a warning, as torch 2.13's."""

    function = staticmethod(F.dropout2d)


class Dropout3d(_ChannelDropout):
    """Zero whole channels of (N, C, D, H, W) or unbatched (C, D, H, W) inputs with probability
    p while training, scaling the rest by 1 / (1 - p)."""

    function = staticmethod(F.dropout3d)


class AlphaDropout(_ChannelDropout):
    """Alpha dropout for SELU networks while training (keeps a zero-mean, unit-variance input's
    mean and variance); identity in eval mode. ``inplace`` is kept but not used: torch's
    forward never passes it (a new tensor, the input unchanged)."""

    function = staticmethod(F.alpha_dropout)

    def forward(self, input):
        return self.function(input, self.p, self.training, rng=self.rng)


class FeatureAlphaDropout(_ChannelDropout):
    """Alpha dropout of whole channels (N, C, ...) while training; identity in eval mode
    (``F.feature_alpha_dropout``; ``inplace`` unused, as torch's)."""

    function = staticmethod(F.feature_alpha_dropout)
    forward = AlphaDropout.forward


def cross_map_window(channels: int, size: int) -> np.ndarray:
    """(channels, channels) 0/1 matrix: which channels' squares torch's legacy CrossMapLRN2d
    sums for each channel. Its running sum starts with channels [0, pre_pad) (pre_pad =
    (size - 1) // 2 + 1), then adds channel c + pre_pad - 1 and drops channel c - pre_pad only
    for c > pre_pad, so channel 0 is never dropped: for more than pre_pad + 1 channels this is
    not LocalResponseNorm's window (PyTorch's formula, kept)."""
    pre_pad = int((size - 1) / 2 + 1)
    window = np.zeros((channels, channels))
    window[0, :min(pre_pad, channels)] = 1
    for c in range(1, channels):
        window[c] = window[c - 1]
        if c < channels - pre_pad + 1:
            window[c, c + pre_pad - 1] += 1
        if c > pre_pad:
            window[c, c - pre_pad] -= 1
    return window


class CrossMapLRN2d(_ResponseNorm):
    """torch.nn.CrossMapLRN2d, the legacy 4-d local response norm:
    y = x (k + alpha / size * sum of x^2 over the channels of ``cross_map_window``)^-beta, on
    (N, C, H, W) only. Composed of ops, so its gradient is the derivative of that forward
    (PyTorch's hand-written backward is not: torch.autograd.gradcheck fails on it)."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1):
        super().__init__(size, alpha, beta, k)  # k's default an int, as torch's (its repr)

    def forward(self, input):
        if not isinstance(input, Tensor):
            input = Tensor(np.asarray(input))
        if input.ndim != 4:
            raise ValueError(f"CrossMapLRN2d: expected a 4-d input (N, C, H, W), got shape "
                             f"{tuple(input.shape)}")
        window = Tensor(cross_map_window(input.shape[1], self.size).astype(input.dtype))
        sums = F.einsum("cd,ndhw->nchw", window, input * input)
        scale = sums * (self.alpha / self.size) + self.k
        return input * scale ** -self.beta
