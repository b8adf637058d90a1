"""``torch.nn.utils`` as dlpy spells it: gradient clipping, flat parameter vectors, and the
``parametrize`` / ``parametrizations`` modules (weight_norm, spectral_norm).

    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()

``clip_grad_norm_`` is ``get_total_norm`` then ``clip_grads_with_norm_`` (PyTorch's defaults:
a non-finite norm is returned, not raised), sharing its formulas with
``dlpy.optim.clip_grad_norm``.
Also the older hook forms of ``weight_norm`` / ``spectral_norm``, conv/linear + batch-norm
fusion and ``skip_init``.
"""

from __future__ import annotations

import copy
import inspect
import math
import sys
import warnings
from collections.abc import Iterable

import numpy as np

from dlpy import random_streams
from dlpy.device import MetaArray, as_device, meta_array
from dlpy.nn import parametrizations, parametrize, prune
from dlpy.nn.module import Module, Parameter
from dlpy.optim.optimizer import NonFiniteNormError as _NonFiniteNormError
from dlpy.optim.optimizer import grad_arrays as _grad_arrays
from dlpy.optim.optimizer import split_pieces as _split_pieces
from dlpy.optim.optimizer import total_norm as _total_norm
from dlpy.random import get_rng
from dlpy.sparse_grad import SparseGrad
from dlpy.tensor import Tensor, is_floating_dtype, no_grad

__all__ = ["clip_grad_norm", "clip_grad_norm_", "clip_grad_value_",
           "convert_conv2d_weight_memory_format", "convert_conv3d_weight_memory_format",
           "parameters_to_vector",
           "vector_to_parameters", "parametrizations", "parametrize", "prune"]

# ``import dlpy.nn.utils.prune`` as ``import torch.nn.utils.prune`` (the module is dlpy/nn/prune.py)
sys.modules[f"{__name__}.prune"] = prune


def _tensors(parameters) -> list[Tensor]:
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach: bool | None = None) -> Tensor:
    """Scale the gradients in place to a joint ``norm_type``-norm of at most ``max_norm``;
    returns the norm before clipping (a one-element tensor of the gradients' dtype), as
    torch's: get_total_norm then clip_grads_with_norm_ (a non-finite norm is returned, and
    scales the gradients to NaN, unless ``error_if_nonfinite``). Sharded parameters (FSDP2's
    and tensor parallelism's DTensors, whose .grad is this rank's piece) count with their whole
    gradients, as torch's DTensor gradients do: every rank gets the same norm (a collective)."""
    parameters = _tensors(parameters)
    plain, pieces = _split_pieces(parameters)
    total = _total(_norm_arrays([p.grad for p in plain if p.grad is not None]), norm_type,
                   error_if_nonfinite, [p for p in pieces if p.grad is not None])
    clip_grads_with_norm_(parameters, max_norm, total, foreach)
    return total


def clip_grad_norm(parameters: Tensor | Iterable[Tensor], max_norm: float,
                   norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach: bool | None = None) -> Tensor:
    """Deprecated (as torch's): ``clip_grad_norm_`` with torch's FutureWarning."""
    warnings.warn("`torch.nn.utils.clip_grad_norm` is now deprecated in favor of "
                  "`torch.nn.utils.clip_grad_norm_`.", FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def _convert_conv_weights(module: Module, memory_format, kinds: tuple[type, ...]) -> Module:
    from dlpy.layouts import _ORDER, _checked, laid_out

    for m in module.modules():
        if isinstance(m, kinds):
            weight = m.weight.data
            fmt = _checked("convert_conv_weight_memory_format", memory_format, weight.ndim)
            if fmt in _ORDER:  # a fresh copy: torch's strides even where a dim has size 1
                order = _ORDER[fmt][1]
                m.weight.data = np.array(weight.transpose(order), order="C").transpose(
                    np.argsort(order))
            else:
                m.weight.data = laid_out(weight, fmt)
    return module


def convert_conv2d_weight_memory_format(module: Module, memory_format) -> Module:
    """Every Conv2d/ConvTranspose2d weight in ``memory_format``'s memory order (in place: the
    same Parameters); returns the module, as torch's."""
    from dlpy.nn import Conv2d, ConvTranspose2d

    return _convert_conv_weights(module, memory_format, (Conv2d, ConvTranspose2d))


def convert_conv3d_weight_memory_format(module: Module, memory_format) -> Module:
    """As convert_conv2d_weight_memory_format, for Conv3d/ConvTranspose3d."""
    from dlpy.nn import Conv3d, ConvTranspose3d

    return _convert_conv_weights(module, memory_format, (Conv3d, ConvTranspose3d))


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float,
                     foreach: bool | None = None) -> None:
    """Clamp every gradient element to [-clip_value, clip_value], in place."""
    clip_value = float(clip_value)  # inf: no clipping; a negative c: every element -c (torch's)
    for p in _tensors(parameters):
        grad = p.grad
        if isinstance(grad, SparseGrad):
            np.clip(grad.values, -clip_value, clip_value, out=grad.values)
        elif grad is not None:
            # torch's clamp by a float: no kernel for complex values, and no cast of the
            # float result into an integer gradient
            if grad.data.dtype.kind == "c":
                raise NotImplementedError("clamp is not supported for complex types")
            if grad.data.dtype.kind in "biu":
                raise RuntimeError(f"result type Float can't be cast to the desired output "
                                   f"type {grad.data.dtype}")
            np.clip(grad.data, -clip_value, clip_value, out=grad.data)


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """The parameters flattened and concatenated in order: a new tensor, recorded as torch's
    (gradients flow back to the parameters). Each is flattened with ``view``, so a
    non-contiguous one raises, as torch's."""
    from dlpy.functional import cat

    tensors = list(parameters)  # a tensor: its rows; a 0-d one raises TypeError, as torch's
    if not tensors:
        raise ValueError("parameters_to_vector: no parameters")
    return cat([t.view(-1) for t in tensors])


def vector_to_parameters(vec: Tensor | np.ndarray, parameters: Iterable[Tensor]) -> None:
    """Make each parameter's data the next slice of ``vec`` (reshaped; as torch's ``param.data
    = vec[i:j].view_as(param).data``, the parameters then share ``vec``'s memory and dtype);
    ``vec`` must hold at least as many numbers as the parameters."""
    if not isinstance(vec, (Tensor, np.ndarray)):
        raise TypeError(f"vector_to_parameters: expected vec to be a Tensor, but got: "
                        f"{type(vec).__name__}")
    data = np.asarray(vec.data if isinstance(vec, Tensor) else vec)
    if data.ndim != 1:  # (torch: an IndexError slicing a 0-d vec, a RuntimeError viewing a
        # slice of another)
        raise (_NoAxisError if data.ndim == 0 else _ArgError)(
            f"vector_to_parameters: expected a 1-D vector, got shape {data.shape}")
    tensors = _tensors(parameters)
    needed = sum(t.data.size for t in tensors)
    if data.size < needed:
        raise _ArgError(f"vector_to_parameters: the vector has {data.size} numbers, the "
                         f"parameters {needed}")
    if not (is_floating_dtype(data.dtype) or data.dtype.kind == "c") and any(
            t.requires_grad for t in tensors):
        raise RuntimeError("vector_to_parameters: data set to a tensor that requires gradients "
                           f"must be floating point or complex dtype, got {data.dtype}")
    offset = 0
    for t in tensors:
        n = t.data.size
        t.data = data[offset:offset + n].reshape(t.data.shape)
        offset += n


# ----------------------------------------------------------------------------- norms of tensors
def _norm_arrays(tensors) -> list[np.ndarray]:
    """Arrays of Tensors (``.grad``), numpy arrays or sparse gradients (coalesced)."""
    if isinstance(tensors, (Tensor, np.ndarray, SparseGrad)):
        tensors = [tensors]
    arrays = []
    for t in tensors:
        if isinstance(t, SparseGrad):
            arrays.append(t.coalesce().values)
        elif isinstance(t, (Tensor, np.ndarray)):
            data = t.data if isinstance(t, Tensor) else t
            arrays.append(data if type(data) is MetaArray else np.asarray(data))
        else:
            raise TypeError(f"get_total_norm: expected Tensors or arrays, got "
                            f"{type(t).__name__}")
    return arrays


def get_total_norm(tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach: bool | None = None) -> Tensor:
    """The ``norm_type``-norm of the tensors seen as one vector (``inf``: the largest absolute
    value), as torch.nn.utils.get_total_norm; give it the gradients (``[p.grad for p in
    params if p.grad is not None]``). A one-element tensor of the tensors' dtype (float32 for
    none). ``foreach`` is accepted and ignored (one implementation)."""
    return _total(_norm_arrays(tensors), norm_type, error_if_nonfinite)


def _total(arrays: list[np.ndarray], norm_type: float, error_if_nonfinite: bool,
           pieces: list[Tensor] = ()) -> Tensor:
    bad = next((a.dtype for a in arrays if not (is_floating_dtype(a.dtype)
                                                 or a.dtype.kind == "c")), None)
    if bad is not None:
        raise RuntimeError(f"get_total_norm: expected floating point or complex tensors, got "
                           f"{bad}")
    if any(type(a) is MetaArray for a in arrays):  # meta gradients: a meta norm, unread
        return Tensor(meta_array((), np.result_type(*arrays)))
    try:
        order = float(norm_type)  # 'inf' too, as torch's
    except (TypeError, ValueError):
        order = 0.0  # (refused by _total_norm)
    if order < 0 or math.isinf(order):
        if any(a.size == 0 for a in arrays):  # torch's vector_norm of an empty gradient
            raise RuntimeError(
                f"linalg.vector_norm cannot compute the {float(order)} norm on an empty "
                "tensor because the operation does not have an identity")
    # the dtype of each tensor's norm: a complex tensor's is its real counterpart
    dtypes = [np.abs(np.zeros((), a.dtype)).dtype for a in arrays]
    if len(arrays) == 1 and arrays[0].size == 1 and not pieces and order != 0:
        # torch's norm of one value is its modulus, never squared (a float32 1e30 is finite)
        total = float(np.abs(arrays[0].astype(np.complex128 if arrays[0].dtype.kind == "c"
                                              else np.float64)).reshape(()))
    elif len(set(dtypes)) > 1 and not pieces and order != 0:
        # torch's norm of each tensor, rounded to its dtype, then the norm of those norms: a
        # float16 gradient's norm is a float16 one beside float32 gradients
        norms = [float(np.asarray(_total_norm([a], norm_type, "get_total_norm"), d))
                 for a, d in zip(arrays, dtypes)]
        total = _total_norm([np.array(norms)], norm_type, "get_total_norm")
    else:
        total = _total_norm(arrays, norm_type, "get_total_norm", pieces)
    if error_if_nonfinite and not math.isfinite(total):
        raise _NonFiniteNormError(
            f"get_total_norm: the total norm of order {float(norm_type)} is {total} (a tensor "
            "holds NaN or inf); pass error_if_nonfinite=False to get it anyway")
    dtypes = [*dtypes, *(p.grad.data for p in pieces)]
    dtype = np.result_type(*dtypes) if dtypes else np.dtype(np.float32)
    return Tensor(np.asarray(total, dtype=dtype if is_floating_dtype(dtype) else np.float32))


def clip_grads_with_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                          total_norm: Tensor | float, foreach: bool | None = None) -> None:
    """Scale the gradients in place by min(max_norm / (total_norm + 1e-6), 1), as
    torch.nn.utils.clip_grads_with_norm_ (the second half of clip_grad_norm_, for a norm
    computed beforehand, e.g. with get_total_norm over several groups)."""
    max_tensor = isinstance(max_norm, Tensor)
    max_norm = float(max_norm)  # negative or NaN too: torch's coefficient, unchecked
    total = np.asarray(total_norm.data if isinstance(total_norm, Tensor) else total_norm,
                       dtype=None if isinstance(total_norm, Tensor) else np.float64)
    if not is_floating_dtype(total.dtype):
        total = total.astype(np.float32)
    # torch's coefficient max_norm / (total + 1e-6) in the norm's dtype (float16 / bfloat16
    # computed in float32, rounded after each op; a number over a tensor is the reciprocal
    # times the number), clamped to 1; each gradient multiplied by it in its compute dtype
    dtype = total.dtype
    compute = np.float32 if dtype.itemsize <= 2 else dtype.type
    # (a float16 reciprocal of a zero norm's 1e-6 is inf, as torch's, without a warning)
    with np.errstate(divide="ignore", over="ignore"):
        shifted = (total.astype(compute) + compute(1e-6)).astype(dtype)
        if max_tensor:
            coefficient = (compute(max_norm) / shifted.astype(compute)).astype(dtype)
        else:
            inverse = np.reciprocal(shifted.astype(compute)).astype(dtype)
            coefficient = (inverse.astype(compute) * compute(max_norm)).astype(dtype)
    if coefficient >= 1.0:
        return
    with np.errstate(invalid="ignore"):  # inf * 0 is NaN, as torch's, without a warning
        for g in _grad_arrays(_tensors(parameters)):
            scale = coefficient.astype(np.float32 if g.dtype.itemsize <= 2 else g.dtype)
            np.multiply(g, scale, out=g, casting="unsafe")


# ----------------------------------------------------------------------------- the old hook forms
class _WeightNormHook:
    """torch.nn.utils.weight_norm's forward pre-hook: ``module.<name>`` = g * v / |v| from
    ``<name>_g`` and ``<name>_v`` before every forward (parametrizations' _weight_norm)."""

    def __init__(self, name: str, dim: int):
        self.name, self.dim = name, dim

    def compute_weight(self, module: Module) -> Tensor:
        return parametrizations._weight_norm(getattr(module, f"{self.name}_g"),
                                             getattr(module, f"{self.name}_v"), self.dim)

    def __call__(self, module: Module, args) -> None:
        setattr(module, self.name, self.compute_weight(module))


def _find_hook(module: Module, kind: type, name: str):
    for key, hook in module._forward_pre_hooks.items():
        if isinstance(hook, kind) and hook.name == name:
            return key, hook
    return None, None


class _ArgError(ValueError, RuntimeError):
    """torch's RuntimeError (a view of the wrong size), a ValueError to dlpy."""


class _NoAxisError(ValueError, IndexError):
    """vector_to_parameters of a 0-d vector: torch's slicing raises IndexError."""


class _NoAttributeError(ValueError, AttributeError):
    """weight_norm of a missing name: torch's getattr raises AttributeError."""


class _NoneParameterError(ValueError, TypeError):
    """weight_norm of a parameter registered as None: torch's norm_except_dim(None) is a
    TypeError."""


class _NoKeyError(ValueError, KeyError):
    """spectral_norm of a missing name: torch's module._parameters[name] raises KeyError."""


class _FuseError(ValueError, AssertionError):
    """torch's fusion functions assert their arguments."""


def _parameter(owner: str, module: Module, name: str) -> Parameter:
    weight = module._parameters.get(name) if isinstance(module, Module) else None
    if not isinstance(weight, Parameter):
        error = _NoKeyError if owner == "spectral_norm" else _NoAttributeError
        if owner == "weight_norm" and weight is None and name in getattr(module, "_parameters",
                                                                          {}):
            error = _NoneParameterError  # a parameter set to None (bias=False)
        raise error(f"{owner}: {type(module).__name__} has no parameter {name!r}")
    return weight


def weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """The older, hook-based weight normalisation (deprecated in PyTorch, which warns: use
    nn.utils.parametrizations.weight_norm): the parameter ``name`` becomes ``<name>_g`` (the
    norm over every axis but ``dim``; the whole tensor for None) and ``<name>_v``, and
    ``module.<name>`` = g * v / |v| is recomputed before every forward. Returns ``module``."""
    warnings.warn("nn.utils.weight_norm is deprecated in favor of "
                  "nn.utils.parametrizations.weight_norm", FutureWarning, stacklevel=2)
    if _find_hook(module, _WeightNormHook, name)[1] is not None:
        raise RuntimeError(f"weight_norm: {name!r} of {type(module).__name__} already has a "
                           "weight_norm hook (torch: cannot register two)")
    weight = _parameter("weight_norm", module, name)
    dim = parametrizations._weight_norm_dim("weight_norm", dim, weight.ndim)
    hook = _WeightNormHook(name, dim)
    delattr(module, name)
    module.register_parameter(f"{name}_g", Parameter(
        parametrizations._norm_except_dim(weight.data, dim), requires_grad=weight.requires_grad))
    module.register_parameter(f"{name}_v", Parameter(weight.data,
                                                     requires_grad=weight.requires_grad))
    setattr(module, name, hook.compute_weight(module))
    module.register_forward_pre_hook(hook)
    return module


def remove_weight_norm(module: Module, name: str = "weight") -> Module:
    """Undo weight_norm: ``name`` becomes a plain parameter holding g * v / |v|."""
    key, hook = _find_hook(module, _WeightNormHook, name)
    if hook is None:
        raise ValueError(f"remove_weight_norm: no weight_norm of {name!r} on "
                         f"{type(module).__name__}")
    with no_grad():
        weight = hook.compute_weight(module)
    delattr(module, name)
    for suffix in ("_g", "_v"):
        delattr(module, name + suffix)
    module.register_parameter(name, Parameter(weight.data))
    del module._forward_pre_hooks[key]
    return module


class _SpectralNormHook:
    """torch.nn.utils.spectral_norm's forward pre-hook: ``module.<name>`` = <name>_orig /
    sigma before every forward, in training after ``n_power_iterations`` of v =
    normalize(W^T u), u = normalize(W v) on the buffers ``<name>_u`` and ``<name>_v``
    (parametrizations' power method and sigma)."""

    def __init__(self, name: str, n_power_iterations: int, dim: int, eps: float):
        self.name, self.n_power_iterations, self.dim, self.eps = \
            name, n_power_iterations, dim, eps

    def compute_weight(self, module: Module, do_power_iteration: bool) -> Tensor:
        weight = getattr(module, f"{self.name}_orig")
        # the buffers' arrays: the power method writes into them, as torch's in-place update
        u, v = getattr(module, f"{self.name}_u").data, getattr(module, f"{self.name}_v").data
        weight_mat = parametrizations._weight_matrix(weight, self.dim)
        if do_power_iteration:  # v first: the shared iteration on W^T with u and v swapped
            parametrizations._power_method(weight_mat.data.T, v, u, self.n_power_iterations,
                                           self.eps)
        return parametrizations._divide_by_sigma(weight, weight_mat, u, v)

    def __call__(self, module: Module, args) -> None:
        setattr(module, self.name, self.compute_weight(module, module.training))


def spectral_norm(module: Module, name: str = "weight", n_power_iterations: int = 1,
                  eps: float = 1e-12, dim: int | None = None, *,
                  rng: np.random.Generator | None = None) -> Module:
    """The older, hook-based spectral normalisation (nn.utils.parametrizations.spectral_norm
    is the newer form): ``name`` becomes the parameter ``<name>_orig`` and the buffers
    ``<name>_u``, ``<name>_v`` (random unit vectors from ``rng``, no warm-up iterations, as
    torch's), and before every forward ``module.<name>`` = <name>_orig / sigma. ``dim``
    (default 1 for a transposed convolution, else 0) is the output axis. A torch state dict
    of such a module loads. Returns ``module``."""
    if _find_hook(module, _SpectralNormHook, name)[1] is not None:
        raise RuntimeError(f"spectral_norm: {name!r} of {type(module).__name__} already has "
                           "a spectral_norm hook (torch: cannot register two)")
    weight = _parameter("spectral_norm", module, name)
    dim = parametrizations._check_dim("spectral_norm",
                                      parametrizations._spectral_dim(module, dim), weight.ndim)
    hook = _SpectralNormHook(
        name, parametrizations._check_iterations("spectral_norm", n_power_iterations),
        dim % weight.ndim, float(eps))
    h, w = parametrizations._weight_matrix(weight.data, hook.dim).shape
    rng = get_rng(rng)
    u, v = (parametrizations._normalize(random_streams.normal(rng, (size,), weight.dtype),
                                        hook.eps) for size in (h, w))  # (torch's normal_)
    delattr(module, name)
    module.register_parameter(f"{name}_orig", weight)
    setattr(module, name, Tensor(weight.data))  # until the first forward, as torch's
    module.register_buffer(f"{name}_u", u)
    module.register_buffer(f"{name}_v", v)
    module.register_forward_pre_hook(hook)
    return module


def remove_spectral_norm(module: Module, name: str = "weight") -> Module:
    """Undo spectral_norm: ``name`` becomes a plain parameter holding <name>_orig / sigma
    (from the current u and v, no iteration)."""
    key, hook = _find_hook(module, _SpectralNormHook, name)
    if hook is None:
        raise ValueError(f"remove_spectral_norm: no spectral_norm of {name!r} on "
                         f"{type(module).__name__}")
    with no_grad():
        weight = hook.compute_weight(module, do_power_iteration=False)
    for attribute in (name, f"{name}_u", f"{name}_v", f"{name}_orig"):
        delattr(module, attribute)
    module.register_parameter(name, Parameter(weight.data))
    del module._forward_pre_hooks[key]
    return module


# ----------------------------------------------------------------------------- fusion
def _array(value) -> np.ndarray:
    return np.asarray(value.data if isinstance(value, Tensor) else value)


def _check_eval(owner: str, layer: Module, bn: Module) -> None:
    if layer.training or bn.training:
        raise _FuseError(f"{owner}: fusion needs both modules in eval mode (call .eval()), got "
                         f"{type(layer).__name__} training={layer.training}, "
                         f"{type(bn).__name__} training={bn.training}")
    if bn.running_mean is None or bn.running_var is None:
        raise _FuseError(f"{owner}: {type(bn).__name__} has no running statistics "
                         "(track_running_stats=False)")


def fuse_conv_bn_weights(conv_w, conv_b, bn_rm, bn_rv, bn_eps: float, bn_w, bn_b,
                         transpose: bool = False) -> tuple[Parameter, Parameter]:
    """The weight and bias of one convolution equal to the convolution followed by an
    eval-mode batch norm: w * gamma / sqrt(var + eps) per output channel (axis 0, or 1 for a
    transposed convolution's weight, ``transpose``), (b - mean) * gamma / sqrt(var + eps) +
    beta. A missing bias (or gamma, beta) counts as zeros (ones, zeros). Each keeps its dtype."""
    weight = _array(conv_w)
    mean = _array(bn_rm)
    bias = np.zeros_like(mean) if conv_b is None else _array(conv_b)
    gamma = np.ones_like(mean) if bn_w is None else _array(bn_w)
    beta = np.zeros_like(mean) if bn_b is None else _array(bn_b)
    rsqrt = 1.0 / np.sqrt(_array(bn_rv) + bn_eps)
    shape = (1, -1) if transpose else (-1, 1)
    fused_w = weight * (gamma * rsqrt).reshape(shape + (1,) * (weight.ndim - 2))
    fused_b = (bias - mean) * rsqrt * gamma + beta
    return (Parameter(fused_w, requires_grad=getattr(conv_w, "requires_grad", True),
                      dtype=weight.dtype),
            Parameter(fused_b, requires_grad=getattr(conv_b, "requires_grad", False),
                      dtype=bias.dtype if conv_b is not None else weight.dtype))


def fuse_conv_bn_eval(conv: Module, bn: Module, transpose: bool = False) -> Module:
    """A new convolution (a deep copy of ``conv``) equal to ``conv`` then ``bn`` in eval mode
    (fuse_conv_bn_weights); ``transpose`` for a transposed convolution."""
    _check_eval("fuse_conv_bn_eval", conv, bn)
    fused = copy.deepcopy(conv)
    fused.weight, fused.bias = fuse_conv_bn_weights(
        fused.weight, fused.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias,
        transpose)
    return fused


def fuse_linear_bn_weights(linear_w, linear_b, bn_rm, bn_rv, bn_eps: float, bn_w, bn_b
                           ) -> tuple[Parameter, Parameter]:
    """The weight and bias of one linear layer equal to it followed by an eval-mode batch norm
    over its outputs: rows scaled by gamma / sqrt(var + eps), (b - mean) * that + beta."""
    return fuse_conv_bn_weights(linear_w, linear_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b)


def fuse_linear_bn_eval(linear: Module, bn: Module) -> Module:
    """A new Linear (a deep copy) equal to ``linear`` then ``bn`` in eval mode; bn's
    num_features must be linear's out_features (or 1)."""
    _check_eval("fuse_linear_bn_eval", linear, bn)
    if linear.out_features != bn.num_features and bn.num_features != 1:
        raise _FuseError(f"fuse_linear_bn_eval: expected bn.num_features == "
                         f"linear.out_features ({linear.out_features}) or 1, got "
                         f"{bn.num_features}")
    fused = copy.deepcopy(linear)
    fused.weight, fused.bias = fuse_linear_bn_weights(
        fused.weight, fused.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias)
    return fused


# ----------------------------------------------------------------------------- skip_init
class _NoInitGenerator(np.random.Generator):
    """A generator whose draws are zeros of the asked shape (np.zeros, no random numbers):
    what skip_init builds a module with."""

    def _empty(self, size=None, dtype=np.float64):
        return np.zeros(() if size is None else size, dtype=dtype)

    def uniform(self, low=0.0, high=1.0, size=None):
        return self._empty(size)

    def normal(self, loc=0.0, scale=1.0, size=None):
        return self._empty(size)

    def standard_normal(self, size=None, dtype=np.float64, out=None):
        return self._empty(size, dtype)

    def random(self, size=None, dtype=np.float64, out=None):
        return self._empty(size, dtype)


class _SkipInitTypeError(RuntimeError, TypeError):
    """skip_init of something that is not a Module class: torch's RuntimeError."""


class _SkipInitValueError(RuntimeError, ValueError):
    """skip_init of a class that cannot skip its initialisation: torch's RuntimeError."""


def skip_init(module_cls: type, *args, **kwargs) -> Module:
    """``module_cls(*args, **kwargs)`` without drawing its initial values (they are zeros here;
    torch's are whatever memory held): a class that takes ``rng`` is given a generator that
    draws nothing (an ``rng`` passed here is what the module keeps, for dropout, ...); one
    that draws nothing (LayerNorm, BatchNorm: no ``rng``) is built and its parameters and
    buffers zeroed."""
    if not (isinstance(module_cls, type) and issubclass(module_cls, Module)):
        raise _SkipInitTypeError(f"skip_init: expected a Module class, got {module_cls!r}")
    if "device" not in inspect.signature(module_cls).parameters:
        as_device(kwargs.pop("device", None), "skip_init")  # torch's required kwarg; the CPU
    parameters = inspect.signature(module_cls).parameters
    if "rng" not in parameters:
        if not {"device", "dtype"} & set(parameters) and not any(
                p.kind is p.VAR_KEYWORD for p in parameters.values()):  # (ReLU: torch's has
            raise _SkipInitValueError(  # no device argument either)
                f"skip_init: {module_cls.__name__} takes no 'rng' or 'device' argument: Module "
                "must support a 'device' arg to skip initialization")
        from dlpy.tensor import no_grad

        module = module_cls(*args, **kwargs)
        with no_grad():
            for tensor in (*module.parameters(), *module.buffers()):
                tensor.zero_()
        return module
    final_rng = kwargs.pop("rng", None)
    placeholder = _NoInitGenerator(np.random.PCG64(0))
    module = module_cls(*args, rng=placeholder, **kwargs)
    for submodule in module.modules():  # what kept the placeholder gets the caller's rng
        for attribute, value in list(vars(submodule).items()):
            if value is placeholder:
                object.__setattr__(submodule, attribute, final_rng)
    return module


__all__ += ["clip_grads_with_norm_", "fuse_conv_bn_eval", "fuse_conv_bn_weights",
            "fuse_linear_bn_eval", "fuse_linear_bn_weights", "get_total_norm",
            "remove_spectral_norm", "remove_weight_norm", "skip_init", "spectral_norm",
            "weight_norm"]


# torch.nn.utils.rnn (pad_sequence, PackedSequence, ...) lives in nn/utils_rnn.py, the
# parametrizations in nn/parametrize.py and nn/parametrizations.py; they are registered as
# submodules of dlpy.nn.utils, so ``from dlpy.nn.utils.rnn import pad_sequence`` and ``import
# dlpy.nn.utils.parametrizations`` work while this file stays a module.
import sys as _sys  # noqa: E402

from dlpy.nn import utils_rnn as rnn  # noqa: E402

for _name, _module in (("rnn", rnn), ("parametrize", parametrize),
                       ("parametrizations", parametrizations)):
    _sys.modules[f"{__name__}.{_name}"] = _module


# torch.nn.utils.stateless.functional_call is torch.func.functional_call (dlpy/func.py): a
# submodule that imports dlpy.func when the function is first asked for, so ``import dlpy.nn``
# does not pay for it.
def _stateless_getattr(name: str):
    if name == "functional_call":
        import functools

        from dlpy.func import functional_call

        @functools.wraps(functional_call)
        def deprecated(*args, **kwargs):  # torch's FutureWarning, each call
            import warnings

            warnings.warn("`torch.nn.utils.stateless.functional_call` is deprecated as of "
                          "PyTorch 2.0 and will be removed in a future version of PyTorch. "
                          "Please use `torch.func.functional_call` instead which is a drop-in "
                          "replacement.", FutureWarning, stacklevel=2)
            return functional_call(*args, **kwargs)

        return deprecated
    raise AttributeError(f"module 'dlpy.nn.utils.stateless' has no attribute {name!r}")


stateless = type(_sys)(f"{__name__}.stateless",
                       "torch.nn.utils.stateless: functional_call, as dlpy.func's.")
stateless.__all__ = ["functional_call"]
stateless.__getattr__ = _stateless_getattr
_sys.modules[stateless.__name__] = stateless
__all__ += ["stateless"]

# torch.nn.utils.fusion (``nn.utils.fusion.fuse_conv_bn_eval``, ``import torch.nn.utils.fusion``):
# the fusion functions above
fusion = type(_sys)(f"{__name__}.fusion", "torch.nn.utils.fusion: conv/linear + batch-norm "
                    "folding, as dlpy.nn.utils'.")
fusion.__all__ = ["fuse_conv_bn_eval", "fuse_conv_bn_weights", "fuse_linear_bn_eval",
                  "fuse_linear_bn_weights"]
for _name in fusion.__all__:
    setattr(fusion, _name, globals()[_name])
_sys.modules[fusion.__name__] = fusion
__all__ += ["fusion"]

# torch.nn.utils.convert_parameters: parameters_to_vector and vector_to_parameters
convert_parameters = type(_sys)(f"{__name__}.convert_parameters",
                                "torch.nn.utils.convert_parameters: parameters <-> one vector.")
convert_parameters.__all__ = ["parameters_to_vector", "vector_to_parameters"]
for _name in convert_parameters.__all__:
    setattr(convert_parameters, _name, globals()[_name])
_sys.modules[convert_parameters.__name__] = convert_parameters
__all__ += ["convert_parameters"]

# torch.nn.utils.clip_grad (the gradient clipping functions), torch.nn.utils.init (skip_init)
# and torch.nn.utils.memory_format (the convolution weights' memory format): modules of the
# functions above, the same objects as dlpy.nn.utils'
for _name, _doc, _names in (
        ("clip_grad", "torch.nn.utils.clip_grad: gradient clipping.",
         ["clip_grad_norm", "clip_grad_norm_", "clip_grad_value_"]),
        ("init", "torch.nn.utils.init: skip_init.", ["skip_init"]),
        ("memory_format", "torch.nn.utils.memory_format: convolution weights' memory format.",
         ["convert_conv2d_weight_memory_format", "convert_conv3d_weight_memory_format"])):
    _module = type(_sys)(f"{__name__}.{_name}", _doc)
    _module.__all__ = _names
    for _key in _names:
        setattr(_module, _key, globals()[_key])
    _sys.modules[_module.__name__] = _module
    globals()[_name] = _module
__all__ += ["clip_grad", "init", "memory_format"]  # noqa: F822 - set through globals()


# torch.nn.utils._per_sample_grad (call_for_per_sample_grads) and torch.nn.utils._expanded_weights
# (ExpandedWeight): dlpy/nn/_per_sample_grad.py and dlpy/nn/_expanded_weights.py, imported when a
# name is first asked for (defining ExpandedWeight turns the __torch_function__ dispatch on)
def _lazy_submodule(name: str, target: str, names: list[str], doc: str):
    def __getattr__(attr: str):
        import importlib

        return getattr(importlib.import_module(target), attr)

    module = type(_sys)(f"{__name__}.{name}", doc)
    module.__all__ = names
    module.__getattr__ = __getattr__
    _sys.modules[module.__name__] = module
    return module


_per_sample_grad = _lazy_submodule(
    "_per_sample_grad", "dlpy.nn._per_sample_grad", ["call_for_per_sample_grads"],
    "torch.nn.utils._per_sample_grad: call_for_per_sample_grads.")
_expanded_weights = _lazy_submodule(
    "_expanded_weights", "dlpy.nn._expanded_weights", ["ExpandedWeight"],
    "torch.nn.utils._expanded_weights: ExpandedWeight.")
