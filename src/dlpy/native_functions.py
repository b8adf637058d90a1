"""torch's top-level "native" functions, the ATen-level forms under the nn.functional ones:
native_layer_norm / native_batch_norm / native_group_norm (the output and the saved
statistics), native_dropout (output and mask), native_norm (sparse tensors only, as torch's
CPU build), native_channel_shuffle, norm_except_dim (weight_norm's norm), SyncBatchNorm's
building blocks (batch_norm_update_stats; the others have no CPU kernel in torch and refuse
as its do), embedding_bag (output, offset2bag, bag_size, max_indices), grid_sampler(_2d/_3d)
and affine_grid_generator (integer modes), feature_dropout(_), conv_tbc, and the functional
RNNs rnn_tanh / rnn_relu / lstm / gru over a flat parameter list (padded input, or packed
data with batch sizes). Each takes torch's argument names and returns its structure; values
and gradients come from dlpy's ops. ``dlpy/__init__.py`` exports TOP_LEVEL."""

from __future__ import annotations

import numpy as np

from dlpy import functional as F
from dlpy.node_names import edges
from dlpy.node_names import named as _named
from dlpy.ops import ArgDtypeError, ArgError, ArgIndexError, NoKernelError
from dlpy.ops import rnn as rnn_ops
from dlpy.tensor import Tensor, is_grad_enabled


def _acc(dtype) -> np.dtype:
    """The dtype torch's CPU kernels accumulate statistics in: float64 for float64, float32
    for the rest."""
    return np.dtype(np.float64) if np.dtype(dtype) == np.float64 else np.dtype(np.float32)


def _array(t: Tensor) -> np.ndarray:
    return np.asarray(t.detach().numpy())


# ------------------------------------------------------------------------ normalisation
def native_layer_norm(input: Tensor, normalized_shape, weight, bias, eps: float):  # noqa: A002
    """(out, mean, rstd): layer_norm's output and its saved statistics, each of shape
    input.shape[:-len(normalized_shape)] + (1,) * len(normalized_shape), in input's dtype
    (computed in float32 for half precisions), without gradient."""
    shape = tuple(int(s) for s in normalized_shape)
    if not shape:
        raise ArgError("Expected normalized_shape to be at least 1-dimensional, i.e., "
                       "containing at least one element, but got normalized_shape = []")
    out = F.layer_norm(input, list(shape), weight, bias, eps)
    axes = tuple(range(input.ndim - len(shape), input.ndim))
    x = _array(input).astype(_acc(input.dtype))
    mean = x.mean(axis=axes, keepdims=True)
    rstd = 1.0 / np.sqrt(((x - mean) ** 2).mean(axis=axes, keepdims=True) + eps)
    return out, Tensor(mean.astype(input.dtype)), Tensor(rstd.astype(input.dtype))


def native_batch_norm(input: Tensor, weight, bias, running_mean, running_var,  # noqa: A002
                      training: bool, momentum: float, eps: float):
    """(out, save_mean, save_invstd): batch_norm's output (running statistics updated in
    place when training) and, when training, the batch's per-channel mean and 1/sqrt(var +
    eps) (C,); in evaluation two empty tensors (of running_mean's dtype, as torch's)."""
    if not training and (running_mean is None or running_var is None):
        raise ArgError("native_batch_norm: running_mean and running_var must be defined in "
                       "evaluation mode")
    if training:
        axes = tuple(d for d in range(input.ndim) if d != 1)
        x = _array(input).astype(_acc(input.dtype))
        mean = x.mean(axis=axes)
        invstd = 1.0 / np.sqrt(x.var(axis=axes) + eps)
    out = F.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)
    if not training:
        dtype = running_mean.dtype
        return out, Tensor(np.empty(0, dtype=dtype)), Tensor(np.empty(0, dtype=dtype))
    return out, Tensor(mean.astype(input.dtype)), Tensor(invstd.astype(input.dtype))


def native_group_norm(input: Tensor, weight, bias, N: int, C: int, HxW: int,  # noqa: A002, N803
                      group: int, eps: float):
    """(out, mean, rstd): group_norm of input read as (N, C, HxW) in ``group`` groups, in
    input's shape, and each group's mean and 1/sqrt(var + eps), (N, group)."""
    if input.numel() != N * C * HxW:
        raise ArgError("Expected X.numel() == N * C * HxW to be true, but got false.")
    if group <= 0 or C % group:
        raise ArgError("Expected number of channels in input to be divisible by num_groups, "
                       f"but got input of shape {list(input.shape)} and num_groups={group}")
    if tuple(input.shape[:2]) == (N, C):  # one node, torch's NativeGroupNormBackward0
        out = F.group_norm(input, group, weight, bias, eps)
    else:
        out = F.group_norm(input.reshape(N, C, HxW), group, weight, bias, eps).reshape(
            input.shape)
    x = _array(input).astype(_acc(input.dtype)).reshape(N, group, -1)
    mean = x.mean(axis=-1)
    rstd = 1.0 / np.sqrt(x.var(axis=-1) + eps)
    return out, Tensor(mean.astype(input.dtype)), Tensor(rstd.astype(input.dtype))


def batch_norm_update_stats(input: Tensor, running_mean, running_var,  # noqa: A002
                            momentum: float):
    """(mean, var): the batch's per-channel (dim 1) mean and biased variance; running_mean
    and running_var (when given) move toward the mean and the unbiased variance in place,
    r = (1 - momentum) r + momentum * batch."""
    if input.ndim < 2:
        raise ArgIndexError("Dimension out of range (expected to be in range of "
                            f"[-{max(input.ndim, 1)}, {max(input.ndim, 1) - 1}], but got 1)")
    acc = _acc(input.dtype)
    for stat in (running_mean, running_var):
        if stat is not None and np.dtype(stat.dtype) != acc and \
                np.dtype(stat.dtype) != np.dtype(input.dtype):
            raise ArgError("mixed dtype (CPU): expect parameter to have scalar type of "
                           f"{'Double' if acc == np.float64 else 'Float'}")
    axes = tuple(d for d in range(input.ndim) if d != 1)
    x = _array(input).astype(acc)
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    count = x.size // max(x.shape[1], 1)
    with _no_grad():
        if running_mean is not None:
            running_mean.mul_(1 - momentum).add_(Tensor((momentum * mean).astype(
                running_mean.dtype)))
        if running_var is not None:
            unbiased = var * count / max(count - 1, 1) if count > 1 else np.full_like(var,
                                                                                    np.nan)
            running_var.mul_(1 - momentum).add_(Tensor((momentum * unbiased).astype(
                running_var.dtype)))
    return Tensor(mean.astype(input.dtype)), Tensor(var.astype(input.dtype))


def _no_grad():
    from dlpy.autograd import no_grad
    return no_grad()


class _NoCPUKernelError(NoKernelError):
    """An op torch implements for CUDA only (SyncBatchNorm's statistics), called on dlpy's
    CPU tensors: torch's NotImplementedError ("Could not run ... from the 'CPU' backend")."""


def _cuda_only(name: str):
    def function(*args, **kwargs):
        raise _NoCPUKernelError(f"Could not run 'aten::{name}' with arguments from the 'CPU' "
                                "backend: torch implements it for CUDA only (SyncBatchNorm)")

    function.__name__ = function.__qualname__ = name
    function.__doc__ = (f"torch.{name}: a SyncBatchNorm building block torch implements for "
                        "CUDA only; on dlpy's (CPU) tensors its NotImplementedError.")
    return function


batch_norm_stats = _cuda_only("batch_norm_stats")
batch_norm_elemt = _cuda_only("batch_norm_elemt")
batch_norm_gather_stats = _cuda_only("batch_norm_gather_stats")
batch_norm_gather_stats_with_counts = _cuda_only("batch_norm_gather_stats_with_counts")
batch_norm_backward_reduce = _cuda_only("batch_norm_backward_reduce")
batch_norm_backward_elemt = _cuda_only("batch_norm_backward_elemt")


def native_norm(self: Tensor, p=2, dim=None, keepdim: bool = False, dtype=None) -> Tensor:
    """torch.native_norm: the p-norm (p None: 2) of all of a sparse tensor's values, a 0-d
    tensor (``dtype``: of that dtype); the second overload's ``dim`` must be empty or every
    dim, keepdim False. torch's CPU build has no dense kernel (its NotImplementedError)."""
    from dlpy.sparse_tensor import SparseTensor

    overload = "" if dim is None else ".ScalarOpt_dim_dtype"
    if not isinstance(self, SparseTensor):
        raise _NoCPUKernelError(f"Could not run 'aten::native_norm{overload}' with arguments "
                                "from the 'CPU' backend (it takes sparse tensors)")
    if dim is not None:
        dims = [dim] if isinstance(dim, int) else list(dim)
        if dims and sorted(d % self.ndim for d in dims) != list(range(self.ndim)):
            raise ArgError("norm_sparse currently only supports full reductions, so 'dim' "
                           "must either be empty or contain all dimensions of the input")
        if keepdim:
            raise ArgError("norm_sparse currently does not support keepdim=True")
        if dtype is not None:
            raise ArgError("norm_sparse currently does not support 'dtype' argument")
    import dlpy

    return dlpy.norm(self.to_dense().reshape(-1), 2 if p is None else p)


def native_channel_shuffle(input: Tensor, groups: int) -> Tensor:  # noqa: A002
    """torch.native_channel_shuffle: channel_shuffle's kernel (see F.native_channel_shuffle);
    torch has no derivative for it: an input that requires grad gives an output whose
    backward raises torch's RuntimeError."""
    out = F.native_channel_shuffle(input, groups)
    if not (input.requires_grad and is_grad_enabled()):
        return out
    from dlpy.node_names import named
    from dlpy.ops.indexing import _NoDerivative

    return named(_NoDerivative("native_channel_shuffle", _array(out))(input), "NotImplemented")


def norm_except_dim(v: Tensor, pow: int = 2, dim: int = 0) -> Tensor:  # noqa: A002
    """weight_norm's norm: the ``pow``-norm over every dim but ``dim``, keeping v's rank
    (size 1 but at ``dim``); dim=-1 is the norm of all of v, a 0-d tensor."""
    import dlpy

    if dim == -1:
        return dlpy.norm(v, pow)
    if not -v.ndim <= dim < v.ndim:
        raise ArgIndexError(f"Dimension out of range (expected to be in range of "
                            f"[{-v.ndim}, {v.ndim - 1}], but got {dim})")
    dim %= v.ndim
    others = [d for d in range(v.ndim) if d != dim]
    return dlpy.norm(v, pow, dim=others, keepdim=True) if others else dlpy.abs(v) if \
        pow == 1 else dlpy.norm(v.unsqueeze(-1), pow, dim=[-1]).reshape(v.shape)


# ------------------------------------------------------------------------ dropout
def _check_p(p: float, message: str) -> None:
    if not 0 <= p <= 1:
        raise ArgError(message)


def native_dropout(input: Tensor, p: float, train: bool | None):  # noqa: A002
    """(out, mask): train (None counts as True): mask ~ Bernoulli(1 - p) (bool), out = input *
    mask / (1 - p) (0 when p = 1); train=False: a copy of input and an all-True mask."""
    shape = tuple(input.shape)
    if train is False:
        return (_named(input.clone(), "NativeDropoutBackward0"),
                Tensor(np.ones(shape, dtype=np.bool_)))
    _check_p(p, f"bernoulli_ expects p to be in [0, 1], but got p={1 - p}")
    if p == 0:
        keep = np.ones(shape, dtype=np.bool_)
    elif p == 1:
        keep = np.zeros(shape, dtype=np.bool_)
    else:
        from dlpy.random import get_rng
        keep = get_rng(None).random(shape) >= p
    scale = 0.0 if p == 1 else 1.0 / (1.0 - p)
    out = input * Tensor((keep * scale).astype(input.dtype))
    return edges(_named(out, "NativeDropoutBackward0"), (0,)), Tensor(keep)


def feature_dropout(input: Tensor, p: float, train: bool) -> Tensor:  # noqa: A002
    """Dropout of whole channels: out = input * noise / (1 - p), noise ~ Bernoulli(1 - p) of
    shape (N, C, 1, ...); input itself when not training or p = 0."""
    _check_p(p, f"dropout probability has to be between 0 and 1, but got {p}")
    if not train or p == 0:
        return input
    if input.ndim < 2:
        raise ArgError("Feature dropout requires at least 2 dimensions in the input")
    shape = tuple(input.shape[:2]) + (1,) * (input.ndim - 2)
    if p == 1:
        return input * Tensor(np.zeros(shape, dtype=input.dtype))
    from dlpy.random import get_rng
    keep = get_rng(None).random(shape) >= p
    return input * Tensor((keep / (1.0 - p)).astype(input.dtype))


def feature_dropout_(input: Tensor, p: float, train: bool) -> Tensor:  # noqa: A002
    """feature_dropout written into input (input returned; untouched when not training)."""
    _check_p(p, f"dropout probability has to be between 0 and 1, but got {p}")
    if not train or p == 0:
        return input
    return input._in_place("feature_dropout_", lambda x: feature_dropout(x, p, train))


# ------------------------------------------------------------------------ embedding_bag
_BAG_MODES = ("sum", "mean", "max")


def embedding_bag(weight: Tensor, indices: Tensor, offsets: Tensor,
                  scale_grad_by_freq: bool = False, mode: int = 0, sparse: bool = False,
                  per_sample_weights=None, include_last_offset: bool = False,
                  padding_idx: int | None = None):
    """(output, offset2bag, bag_size, max_indices), torch's CPU kernel's: output as
    F.embedding_bag (mode 0 sum, 1 mean, 2 max); offset2bag the bag of each index (empty for
    sum over float32/float16/bfloat16 without padding_idx, torch's fast path); bag_size each
    bag's count of non-padding indices (zeros for sum); max_indices the index of each
    bag's maximum per column (max), bag_size (mean) or zeros (sum)."""
    if mode not in (0, 1, 2):
        raise ArgError("`mode` must be sum, mean, or max.")
    if indices.dtype.kind not in "iu" or offsets.dtype.kind not in "iu":
        bad = indices if indices.dtype.kind not in "iu" else offsets
        raise ArgDtypeError(
            f"Expected tensor for argument #1 '{'indices' if bad is indices else 'offsets'}' "
            "to have one of the following scalar types: Long, Int; but got "
            f"{np.dtype(bad.dtype).name} instead (while checking arguments for embedding_bag)")
    rows = weight.shape[0]
    if padding_idx is not None and not -rows <= padding_idx < rows:
        raise ArgError(f"padding_idx must be within the number of embeddings, -{rows} through "
                       f"{rows - 1}, but got {padding_idx}")
    if indices.ndim != 1:
        raise ArgError(f"embedding_bag: expected 1-D indices with offsets, got shape "
                       f"{tuple(indices.shape)}")
    out = F.embedding_bag(indices, weight, offsets, None, 2.0, scale_grad_by_freq,
                          _BAG_MODES[mode], sparse, per_sample_weights, include_last_offset,
                          padding_idx)
    pad = None if padding_idx is None else padding_idx % rows
    index = np.dtype(np.int32) if indices.dtype == np.int32 and offsets.dtype == np.int32 \
        else np.dtype(np.int64)
    idx, off = _array(indices).astype(np.int64), _array(offsets).astype(np.int64)
    bags = len(off) - (1 if include_last_offset else 0)
    bag_of = np.searchsorted(off[1:bags], np.arange(len(idx)), side="right")
    counted = np.ones(len(idx), dtype=bool) if pad is None else idx != pad
    if include_last_offset and len(off):
        counted &= np.arange(len(idx)) < off[-1]
    sizes = np.bincount(bag_of[counted], minlength=bags)[:bags]
    fast = mode == 0 and pad is None and np.dtype(weight.dtype) in (
        np.dtype(np.float32), np.dtype(np.float16)) or (
            mode == 0 and pad is None and np.dtype(weight.dtype).name == "bfloat16")
    offset2bag = np.zeros(0, dtype=index) if fast else bag_of.astype(index)
    if mode == 0:
        bag_size = max_indices = np.zeros(bags, dtype=index)
    elif mode == 1:
        bag_size = max_indices = sizes.astype(index)
    else:
        bag_size = sizes.astype(index)
        w = _array(weight).astype(np.float64)
        max_indices = np.zeros((bags, weight.shape[1]), dtype=index)
        for b in range(bags):
            members = idx[(bag_of == b) & counted]
            if len(members):
                max_indices[b] = members[np.argmax(w[members], axis=0)]
    return out, Tensor(offset2bag), Tensor(bag_size), Tensor(max_indices)


# ------------------------------------------------------------------------ grids
_INTERPOLATION = ("bilinear", "nearest", "bicubic")
_PADDING = ("zeros", "border", "reflection")


def _grid_sample(input: Tensor, grid: Tensor, interpolation_mode: int, padding_mode: int,  # noqa: A002
                 align_corners: bool, dims: int | None) -> Tensor:
    if dims is not None and (input.ndim != dims or grid.ndim != dims):
        raise ArgError(f"grid_sampler(): expected {dims}D input and grid with same number of "
                       f"dimensions, but got input with sizes {list(input.shape)} and grid "
                       f"with sizes {list(grid.shape)}")
    if interpolation_mode not in (0, 1, 2) or padding_mode not in (0, 1, 2):
        raise ArgError(f"grid_sampler(): unknown interpolation_mode {interpolation_mode} or "
                       f"padding_mode {padding_mode}")
    if interpolation_mode == 2 and input.ndim != 4:
        raise ArgError("grid_sampler(): bicubic interpolation only supports 4D input")
    return F.grid_sample(input, grid, _INTERPOLATION[interpolation_mode],
                         _PADDING[padding_mode], bool(align_corners))


def grid_sampler(input: Tensor, grid: Tensor, interpolation_mode: int, padding_mode: int,  # noqa: A002
                 align_corners: bool) -> Tensor:
    """F.grid_sample with integer modes: interpolation 0 bilinear, 1 nearest, 2 bicubic;
    padding 0 zeros, 1 border, 2 reflection; 4-D or 5-D input."""
    return _grid_sample(input, grid, interpolation_mode, padding_mode, align_corners, None)


def grid_sampler_2d(input: Tensor, grid: Tensor, interpolation_mode: int,  # noqa: A002
                    padding_mode: int, align_corners: bool) -> Tensor:
    """grid_sampler for 4-D input and grid only."""
    return _grid_sample(input, grid, interpolation_mode, padding_mode, align_corners, 4)


def grid_sampler_3d(input: Tensor, grid: Tensor, interpolation_mode: int,  # noqa: A002
                    padding_mode: int, align_corners: bool) -> Tensor:
    """grid_sampler for 5-D input and grid only (no bicubic)."""
    return _grid_sample(input, grid, interpolation_mode, padding_mode, align_corners, 5)


def affine_grid_generator(theta: Tensor, size, align_corners: bool) -> Tensor:
    """F.affine_grid without its Python checks: size (N, C, H, W) or (N, C, D, H, W), theta
    (N, 2, 3) or (N, 3, 4) (torch's batched-matmul message otherwise)."""
    size = [int(s) for s in size]
    if len(size) not in (4, 5):
        raise ArgError("AffineGridGenerator needs 4d (spatial) or 5d (volumetric) inputs.")
    spatial = len(size) - 2
    if theta.ndim != 3 or tuple(theta.shape[:2]) != (size[0], spatial) or \
            theta.shape[2] != spatial + 1:
        got = [theta.shape[0], theta.shape[-1]] if theta.ndim == 3 else list(theta.shape)
        raise ArgError(f"Expected size for first two dimensions of batch2 tensor to be: "
                       f"[{size[0]}, {spatial + 1}] but got: {got}.".replace(",", ", ")
                       .replace(",  ", ", "))
    return F.affine_grid(theta, size, bool(align_corners))


# ------------------------------------------------------------------------ conv_tbc
def conv_tbc(self: Tensor, weight: Tensor, bias: Tensor, pad: int = 0) -> Tensor:
    """F.conv_tbc with torch's checks; a negative pad crops -pad steps from each end."""
    if self.ndim != 3:
        raise ArgError("Input must have 3 dims: time, batch, in_channel")
    if weight.ndim != 3:
        raise ArgError("Weight tensor must have 3 dims: kernel_width, in_channels, "
                       "out_channels.")
    if bias.ndim != 1:
        raise ArgError("Bias must be 1-D")
    if self.shape[2] != weight.shape[1]:
        raise ArgError("Input dim 2 (input channels) is not == dim 1 in the weight tensor")
    if weight.shape[2] != bias.shape[0]:
        raise ArgError("Bias size must equal dim 2 in the weight tensor (output channels).")
    if self.dtype != weight.dtype:
        raise ArgError(f"self and mat2 must have the same dtype, but got "
                       f"{_name(self.dtype)} and {_name(weight.dtype)}")
    if pad < 0:
        self, pad = self[-pad:self.shape[0] + pad], 0
    steps = self.shape[0] + 2 * pad - weight.shape[0] + 1
    if steps <= 0:
        return (self.sum() * 0 + weight.sum() * 0 + bias.sum() * 0).expand(
            0, self.shape[1], weight.shape[2]).clone()
    return F.conv_tbc(self, weight, bias, pad)


def _name(dtype) -> str:
    return {"float32": "Float", "float64": "Double", "float16": "Half",
            "bfloat16": "BFloat16"}.get(np.dtype(dtype).name, np.dtype(dtype).name)


# ------------------------------------------------------------------------ functional RNNs
_GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


class _RNNArgError(ArgError):
    """A functional RNN's parameter list or states that do not fit its layers (torch's
    RuntimeError)."""


def _layer_params(name: str, params, has_biases: bool, num_layers: int,
                  directions: int) -> tuple[list[list[Tensor]], bool]:
    """The parameters of each layer and direction, torch's order (w_ih, w_hh, [b_ih, b_hh],
    [w_hr]), and whether LSTM projections are there (5 or 3 per layer and direction)."""
    params = list(params)
    groups = num_layers * directions
    proj = name == "lstm" and groups > 0 and len(params) == groups * (5 if has_biases else 3)
    stride = (4 if has_biases else 2) + (1 if proj else 0)
    if len(params) % stride:
        raise _RNNArgError("got an incorrect number of RNN parameters")
    if len(params) // stride < groups:
        raise _RNNArgError("Expected more weights in stacked_rnn")
    return [params[i * stride:(i + 1) * stride] for i in range(groups)], proj


def _run_rnn(name: str, x: Tensor, hx, params, has_biases: bool, num_layers: int,
             dropout: float, train: bool, bidirectional: bool, lengths=None):
    """(output (L, N, D * P), h_n, c_n or None) of the stack on time-major x (L, N, I)."""
    directions = 2 if bidirectional else 1
    groups, proj = _layer_params(name, params, has_biases, num_layers, directions)
    if num_layers < 1:
        raise _RNNArgError("Expected more hidden states in stacked_rnn")
    h0, c0 = (hx[0], hx[1]) if name == "lstm" else (hx, None)
    if h0.shape[0] < num_layers * directions:
        raise _RNNArgError("Expected more hidden states in stacked_rnn")
    layer_input, h_n, c_n = x, [], []
    for layer in range(num_layers):
        if layer > 0 and dropout > 0 and train:
            layer_input = F.dropout(layer_input, dropout, True)
        outputs = []
        for direction in range(directions):
            index = layer * directions + direction
            group = groups[index]
            w_ih, w_hh = group[0], group[1]
            b_ih, b_hh = (group[2], group[3]) if has_biases else (None, None)
            w_hr = group[-1] if proj else None
            x_proj = F.linear(layer_input, w_ih, b_ih)
            reverse = direction == 1
            if name == "lstm":
                out, h, c = rnn_ops.lstm_sequence(x_proj, h0[index], c0[index], w_hh, b_hh,
                                                  w_hr, reverse, lengths)
                c_n.append(c)
            elif name == "gru":
                out, h = rnn_ops.gru_sequence(x_proj, h0[index], w_hh, b_hh, reverse, lengths)
            else:
                out, h = rnn_ops.rnn_sequence(x_proj, h0[index], w_hh, b_hh, name[4:],
                                              reverse, lengths)
            outputs.append(out)
            h_n.append(h)
        layer_input = outputs[0] if directions == 1 else F.concat(outputs, -1)
    return layer_input, F.stack(h_n, 0), (F.stack(c_n, 0) if name == "lstm" else None)


def _functional_rnn(name: str):
    def function(input, *args, **kwargs):  # noqa: A002
        """Two overloads, as torch's: (input, hx, params, has_biases, num_layers, dropout,
        train, bidirectional, batch_first) on a padded input (L, N, I) (batch_first: (N, L,
        I); 2-D: one sequence), or (data, batch_sizes, hx, params, has_biases, num_layers,
        dropout, train, bidirectional) on packed data."""
        # the packed overload's second argument is batch_sizes, a tensor; the padded one's
        # is hx (a tensor too but for LSTM's list), then params (a list)
        second = args[1] if len(args) > 1 else kwargs.get("hx" if args else "params")
        packed = "batch_sizes" in kwargs or (len(args) > 0 and isinstance(args[0], Tensor) and
                                             (name == "lstm" or isinstance(second, Tensor)))
        if packed:
            return _packed(name, input, *args, **kwargs)
        return _padded(name, input, *args, **kwargs)

    function.__name__ = function.__qualname__ = name
    cell = {"rnn_tanh": "tanh Elman", "rnn_relu": "relu Elman", "lstm": "LSTM (hx = [h0, c0])",
            "gru": "GRU"}[name]
    function.__doc__ = (f"torch.{name}: a stacked {cell} RNN over a flat parameter list "
                        "(per layer and direction w_ih, w_hh, [b_ih, b_hh]"
                        + (", [w_hr]" if name == "lstm" else "") + "): (output, h_n"
                        + (", c_n" if name == "lstm" else "") + "). " + function.__doc__)
    return function


def _states(name: str, hx):
    if name == "lstm":
        hx = list(hx)
        if len(hx) != 2:
            raise _RNNArgError("lstm expects two hidden states")
    return hx


def _padded(name, input, hx, params, has_biases, num_layers, dropout, train,  # noqa: A002
            bidirectional, batch_first):
    hx = _states(name, hx)
    if input.ndim != 3 and name in ("lstm", "gru"):  # (torch's stacked cells index dim 1)
        raise ArgIndexError(f"Dimension out of range: torch.{name} expects a batched input "
                            f"(seq_len, batch, input_size), got shape {tuple(input.shape)}")
    batched = input.ndim == 3
    x = input if batched else input.unsqueeze(1)
    if batched and batch_first:
        x = x.transpose(0, 1)
    if not batched:
        hx = [h.unsqueeze(1) for h in hx] if name == "lstm" else hx.unsqueeze(1)
    output, h_n, c_n = _run_rnn(name, x, hx, params, has_biases, num_layers, dropout, train,
                                bidirectional)
    if batched and batch_first:
        output = output.transpose(0, 1)
    if not batched:
        output, h_n = output[:, 0], h_n[:, 0]
        c_n = None if c_n is None else c_n[:, 0]
    return (output, h_n, c_n) if name == "lstm" else (output, h_n)


def _packed(name, data, batch_sizes, hx, params, has_biases, num_layers, dropout, train,
            bidirectional):
    hx = _states(name, hx)
    sizes = _array(batch_sizes).astype(np.int64)
    batch = int(sizes[0]) if len(sizes) else 0
    steps, start = [], 0
    for size in sizes:
        chunk = data[start:start + int(size)]
        steps.append(F.pad(chunk, (0, 0, 0, batch - int(size))) if size < batch else chunk)
        start += int(size)
    lengths = (sizes[None, :] > np.arange(batch)[:, None]).sum(1)
    output, h_n, c_n = _run_rnn(name, F.stack(steps, 0), hx, params, has_biases, num_layers,
                                dropout, train, bidirectional, lengths)
    output = F.concat([output[t, :int(size)] for t, size in enumerate(sizes)], 0)
    return (output, h_n, c_n) if name == "lstm" else (output, h_n)


rnn_tanh = _functional_rnn("rnn_tanh")
rnn_relu = _functional_rnn("rnn_relu")
lstm = _functional_rnn("lstm")
gru = _functional_rnn("gru")

# what dlpy/__init__.py exports from here
TOP_LEVEL = [
    "native_layer_norm", "native_batch_norm", "native_group_norm", "native_dropout",
    "native_norm", "native_channel_shuffle", "norm_except_dim", "batch_norm_stats",
    "batch_norm_elemt", "batch_norm_gather_stats", "batch_norm_gather_stats_with_counts",
    "batch_norm_update_stats", "batch_norm_backward_reduce", "batch_norm_backward_elemt",
    "embedding_bag", "grid_sampler", "grid_sampler_2d", "grid_sampler_3d",
    "affine_grid_generator", "feature_dropout", "feature_dropout_", "conv_tbc", "rnn_tanh",
    "rnn_relu", "lstm", "gru",
]
