"""``torch.nn.utils.prune``: zero out weights through a mask, as PyTorch does it.

    prune.l1_unstructured(layer, "weight", amount=0.3)   # the 30% smallest |w| become 0
    layer.weight_orig, layer.weight_mask                  # a Parameter and a buffer
    prune.remove(layer, "weight")                         # make it permanent

Pruning ``name`` moves the parameter to ``name + "_orig"``, stores the mask as the buffer
``name + "_mask"`` and registers a forward pre-hook that recomputes ``name = orig * mask`` before
each call, so the gradient reaches ``name_orig`` only where the mask is 1. Pruning the same tensor
again combines the masks in a PruningContainer (the new method sees only what is left), as
PyTorch; the state_dict names are PyTorch's, so a pruned torch state dict loads.

Ties among equal magnitudes are broken towards the lower flat index (torch's topk leaves them
to its selection algorithm). Random methods draw from ``rng`` (default: dlpy's generator).
"""

from __future__ import annotations

import functools
import numbers
from abc import ABC, abstractmethod

import numpy as np

from dlpy import random_streams
from dlpy.random import get_rng
from dlpy.tensor import Tensor

__all__ = ["BasePruningMethod", "CustomFromMask", "Identity", "L1Unstructured", "LnStructured",
           "PruningContainer", "RandomStructured", "RandomUnstructured", "custom_from_mask",
           "global_unstructured", "identity", "is_pruned", "l1_unstructured", "ln_structured",
           "random_structured", "random_unstructured", "remove"]


def _validate_amount(name: str, amount) -> None:
    """An int >= 0 (a bool counts as one, as torch's numbers.Integral check) or a float in
    [0, 1]."""
    if not isinstance(amount, numbers.Real):
        raise TypeError(f"{name}: amount must be an int or a float, got {amount!r}")
    if (isinstance(amount, numbers.Integral) and amount < 0) or (
            not isinstance(amount, numbers.Integral) and not 0.0 <= float(amount) <= 1.0):
        raise ValueError(f"{name}: amount={amount} should either be a float in the range "
                         f"[0, 1] or a non-negative integer")


def _how_many(name: str, amount, size: int) -> int:
    """The number of units to prune: amount itself (an int) or round(amount * size); True
    fails as torch's topk(k=True) does (False prunes nothing)."""
    if amount is True:
        raise TypeError(f"{name}: topk(): argument 'k' must be int, not bool (amount=True)")
    if isinstance(amount, numbers.Integral):
        if amount > size:
            raise ValueError(f"{name}: amount={amount} should be smaller than the number of "
                             f"parameters to prune={size}")
        return int(amount)
    return round(amount * size)


def _drop(module, registry: dict, name: str) -> None:
    """Remove ``name`` from the module's ``registry`` (_parameters / _buffers) and from its
    instance attributes."""
    del registry[name]
    if name in module.__dict__:
        object.__delattr__(module, name)


def _smallest(values: np.ndarray, k: int) -> np.ndarray:
    """Flat indices of the k smallest values (ties: the lower index first)."""
    return np.argsort(values.reshape(-1), kind="stable")[:k]


class _MaskShapeError(ValueError, AssertionError):
    """A custom mask of the wrong shape: torch asserts."""


class _NoTensorError(AttributeError, ValueError):
    """Pruning a name the module lacks: torch's AttributeError (getattr), dlpy's ValueError."""


class _NoneTensorError(_NoTensorError, TypeError):
    """Pruning a tensor that is None (Linear(bias=False).bias): torch's TypeError (ones_like)."""


class _ScoresShapeError(ValueError, AssertionError):
    """importance_scores of another shape than the tensor: torch asserts."""


class _NoShapeError(TypeError, AttributeError):
    """importance_scores or a mask that is not a tensor or array (a list, None): torch's
    AttributeError (``.shape``)."""


class _NormOrderError(ValueError, RuntimeError):
    """An ``n`` torch.norm refuses for these dims (torch's RuntimeError)."""


def _scores_array(scores, shape: tuple[int, ...], of: str) -> np.ndarray:
    """importance_scores (a Tensor or an array of ``shape``, that of ``of``) as an array,
    refused as torch's."""
    if not hasattr(scores, "shape"):
        raise _NoShapeError(f"prune: importance_scores must be a tensor, got "
                            f"{type(scores).__name__}")
    if tuple(scores.shape) != tuple(shape):
        raise _ScoresShapeError(f"prune: importance_scores should have the shape of {of}, "
                                f"{tuple(shape)}, got {tuple(scores.shape)}")
    return scores.data if isinstance(scores, Tensor) else np.asarray(scores)


def _on_arrays_or_tensors(compute_mask):
    """dlpy's compute_mask works on arrays; called with Tensors (torch's signature, e.g. from a
    user's subclass), it takes and returns Tensors."""
    @functools.wraps(compute_mask)
    def wrapper(self, t, default_mask):
        if not (isinstance(t, Tensor) or isinstance(default_mask, Tensor)):
            return compute_mask(self, t, default_mask)
        return Tensor(compute_mask(self, np.asarray(getattr(t, "data", t)),
                                   np.asarray(getattr(default_mask, "data", default_mask))))
    wrapper.on_arrays = True
    return wrapper


class BasePruningMethod(ABC):
    """A way of computing a mask. ``apply(module, name, ...)`` prunes ``module.<name>``;
    the instance is then the module's forward pre-hook. A subclass's own ``compute_mask``
    gets and returns Tensors, as torch's."""

    PRUNING_TYPE = "unstructured"
    _tensor_name: str

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__module__ == __name__ and "compute_mask" in vars(cls):
            cls.compute_mask = _on_arrays_or_tensors(vars(cls)["compute_mask"])

    def _mask(self, t: np.ndarray, default_mask: np.ndarray) -> np.ndarray:
        """compute_mask on arrays (a user's method is given Tensors)."""
        if getattr(type(self).compute_mask, "on_arrays", False):
            return self.compute_mask(t, default_mask)
        mask = self.compute_mask(Tensor(t), default_mask=Tensor(default_mask))
        return np.asarray(getattr(mask, "data", mask))

    def __call__(self, module, inputs) -> None:
        setattr(module, self._tensor_name, self.apply_mask(module))

    @abstractmethod
    def compute_mask(self, t: np.ndarray, default_mask: np.ndarray) -> np.ndarray:
        """A new mask for ``t`` (importance scores), zero wherever ``default_mask`` is."""

    def apply_mask(self, module) -> Tensor:
        """``name_orig * name_mask``: the pruned tensor, differentiable in ``name_orig``."""
        orig = getattr(module, self._tensor_name + "_orig")
        mask = getattr(module, self._tensor_name + "_mask")
        return orig * Tensor(mask.data.astype(orig.dtype, copy=False))

    @classmethod
    def apply(cls, module, name: str, *args, importance_scores=None, **kwargs):
        """Prune ``module.<name>`` with ``cls(*args, **kwargs)``; returns the method (or the
        PruningContainer that now holds it)."""
        old = None
        for key, hook in list(module._forward_pre_hooks.items()):
            if isinstance(hook, BasePruningMethod) and hook._tensor_name == name:
                if old is not None:
                    raise RuntimeError(f"prune: more than one pruning hook on {name!r}")
                old = hook
                del module._forward_pre_hooks[key]
        method = cls(*args, **kwargs)
        method._tensor_name = name
        if old is not None:
            container = old if isinstance(old, PruningContainer) else PruningContainer(old)
            container.add_pruning_method(method)
            method = container
        orig = getattr(module, name, None)
        if orig is None and name in module._parameters:
            raise _NoneTensorError(f"prune: {type(module).__name__}.{name} is None")
        if not isinstance(orig, Tensor):
            raise _NoTensorError(f"prune: module {type(module).__name__} has no tensor "
                                 f"{name!r}")
        scores = orig.data if importance_scores is None else _scores_array(
            importance_scores, orig.shape, f"parameter {name!r}")
        if old is None:
            # torch's order: name moves to name_orig (a buffer or plain tensor is refused
            # there, a TypeError), the mask is computed, and a failure moves it back (to the
            # end of the parameters, as torch's)
            module.register_parameter(name + "_orig", orig)
            _drop(module, module._parameters, name)
            default_mask = np.ones(orig.shape, dtype=orig.dtype)
        else:
            default_mask = getattr(module, name + "_mask").data.copy()
        try:
            mask = method._mask(scores, default_mask)
            module.register_buffer(name + "_mask", mask.astype(orig.dtype, copy=False))
            setattr(module, name, method.apply_mask(module))
            module.register_forward_pre_hook(method)
        except Exception:
            if old is None:
                module.register_parameter(name, orig)
                _drop(module, module._parameters, name + "_orig")
            raise
        return method

    def prune(self, t: Tensor, default_mask: Tensor | None = None,
              importance_scores: Tensor | None = None) -> Tensor:
        """``t`` times the mask computed from ``importance_scores`` (default ``t``) on top of
        ``default_mask`` (default all ones), without touching any module."""
        scores = t.data if importance_scores is None else _scores_array(
            importance_scores, t.shape, "tensor t")
        default = np.ones(t.shape, dtype=t.dtype) if default_mask is None else \
            np.asarray(getattr(default_mask, "data", default_mask))
        return t * Tensor(self._mask(scores, default).astype(t.dtype, copy=False))

    def remove(self, module) -> None:
        """Make the pruning permanent: ``name`` becomes a Parameter holding orig * mask."""
        weight = self.apply_mask(module).data
        if hasattr(module, self._tensor_name):
            delattr(module, self._tensor_name)
        orig = module._parameters[self._tensor_name + "_orig"]
        orig.data = weight
        delattr(module, self._tensor_name + "_orig")
        _drop(module, module._buffers, self._tensor_name + "_mask")
        setattr(module, self._tensor_name, orig)


class _NotMethodError(TypeError, AttributeError):
    """A PruningContainer given something that is not a pruning method: torch's TypeError
    (add_pruning_method) or AttributeError (the constructor reads its _tensor_name)."""


class PruningContainer(BasePruningMethod):
    """The methods applied one after the other to one tensor: each new one prunes only what
    the masks so far keep (its amount is relative to what is left)."""

    def __init__(self, *methods: BasePruningMethod):
        self._pruning_methods: tuple[BasePruningMethod, ...] = ()
        for method in methods:
            self.add_pruning_method(method)

    def add_pruning_method(self, method: BasePruningMethod) -> None:
        if not isinstance(method, BasePruningMethod):
            raise _NotMethodError(f"PruningContainer: {type(method).__name__} is not a "
                            f"BasePruningMethod subclass")
        if self._pruning_methods and method._tensor_name != self._tensor_name:
            raise ValueError(f"PruningContainer: can only add methods that prune "
                             f"{self._tensor_name!r}, got one that prunes "
                             f"{method._tensor_name!r}")
        self._tensor_name = method._tensor_name
        self._pruning_methods += (method,)

    def __len__(self) -> int:
        return len(self._pruning_methods)

    def __iter__(self):
        return iter(self._pruning_methods)

    def __getitem__(self, index):
        return self._pruning_methods[index]

    def compute_mask(self, t, default_mask):
        method = self._pruning_methods[-1]
        mask = default_mask
        if method.PRUNING_TYPE == "unstructured":
            where = (mask == 1,)
        elif method.PRUNING_TYPE == "structured":
            dim = method.dim % t.ndim
            other = tuple(d for d in range(t.ndim) if d != dim)
            keep = mask.sum(axis=other) != 0
            where = tuple(slice(None) for _ in range(dim)) + (keep,)
        elif method.PRUNING_TYPE == "global":
            where = (slice(None),)
        else:
            raise ValueError(f"PruningContainer: unrecognised PRUNING_TYPE "
                             f"{method.PRUNING_TYPE!r}")
        new_mask = mask.copy()
        new_mask[where] = method._mask(t[where], mask[where])
        return new_mask


class Identity(BasePruningMethod):
    """Prunes nothing: the mask stays all ones."""

    def compute_mask(self, t, default_mask):
        return default_mask

    @classmethod
    def apply(cls, module, name):
        return super().apply(module, name)


class RandomUnstructured(BasePruningMethod):
    """Prunes ``amount`` (a fraction, or a count) of the entries, chosen at random."""

    def __init__(self, amount, rng: np.random.Generator | None = None):
        _validate_amount("RandomUnstructured", amount)
        self.amount, self.rng = amount, rng

    def compute_mask(self, t, default_mask):
        k = _how_many("RandomUnstructured", self.amount, t.size)
        mask = default_mask.copy()
        if k:
            rng = get_rng(self.rng)
            if random_streams.is_torch(rng):  # torch's: the k largest of rand_like(t)
                prob = Tensor(random_streams.uniform(rng, t.shape, t.dtype).reshape(-1))
                mask.reshape(-1)[prob.topk(k).indices.data] = 0
            else:
                mask.reshape(-1)[rng.permutation(t.size)[:k]] = 0
        return mask

    @classmethod
    def apply(cls, module, name, amount, rng=None):
        return super().apply(module, name, amount=amount, rng=rng)


class L1Unstructured(BasePruningMethod):
    """Prunes the ``amount`` entries of smallest absolute value."""

    def __init__(self, amount):
        _validate_amount("L1Unstructured", amount)
        self.amount = amount

    def compute_mask(self, t, default_mask):
        k = _how_many("L1Unstructured", self.amount, t.size)
        mask = default_mask.copy()
        if k:
            mask.reshape(-1)[_smallest(np.abs(t), k)] = 0
        return mask

    @classmethod
    def apply(cls, module, name, amount, importance_scores=None):
        return super().apply(module, name, amount=amount, importance_scores=importance_scores)


def _channel_mask(t: np.ndarray, dim: int, keep: np.ndarray) -> np.ndarray:
    """Ones on the channels ``keep`` (indices or a boolean vector) along ``dim``, else 0."""
    mask = np.zeros(t.shape, dtype=t.dtype if t.dtype.kind == "f" else np.float64)
    where = [slice(None)] * t.ndim
    where[dim] = keep
    mask[tuple(where)] = 1
    return mask


def _channels_to_prune(name: str, t: np.ndarray, amount, dim: int) -> tuple[int, int]:
    """(the number of channels along ``dim``, how many of them ``amount`` prunes)."""
    if t.ndim <= 1:
        raise ValueError(f"Structured pruning can only be applied to multidimensional tensors. "
                         f"Found tensor of shape {t.shape} with {t.ndim} dims")
    if not -t.ndim <= dim < t.ndim:
        raise IndexError(f"{name}: dim {dim} is out of range for a tensor with {t.ndim} "
                         f"dimensions")
    channels = t.shape[dim]
    return channels, _how_many(name, amount, channels)


def _channel_norms(t: np.ndarray, n, dim: int) -> np.ndarray:
    """torch.norm(t, p=n, dim=<every axis but dim>): a vector norm of each channel (n a number,
    +-inf, None or "fro"), or for "nuc" (and "fro") over exactly two other axes the matrix
    norm; anything else, or an integer tensor, is refused (torch's RuntimeError)."""
    if t.dtype.kind not in "fc":
        raise _NormOrderError(f"LnStructured: the norm needs a floating-point tensor, got "
                              f"{t.dtype}")
    moved = np.moveaxis(np.abs(t), dim, 0)
    channels = moved.shape[0]
    if isinstance(n, str) and (n == "nuc" or (n == "fro" and t.ndim > 3)):
        if t.ndim != 3:
            raise _NormOrderError(f"LnStructured: the {n!r} norm needs exactly 2 axes besides "
                                  f"dim, the tensor has {t.ndim - 1}")
        if n == "fro":
            return np.sqrt((moved * moved).sum(axis=(1, 2)))
        from dlpy.ops.linalg import finite_svd

        return finite_svd(np.moveaxis(t, dim, 0), compute_uv=False).sum(axis=-1)
    if n is None or n == "fro":
        n = 2
    elif isinstance(n, str) or isinstance(n, bool) or not isinstance(n, numbers.Real):
        raise _NormOrderError(f"LnStructured: norm order {n!r} is not supported")
    moved = moved.reshape(channels, -1)
    if n == np.inf:
        return moved.max(axis=1) if moved.size else np.zeros(channels)
    if n == -np.inf:
        return moved.min(axis=1) if moved.size else np.zeros(channels)
    if n == 0:
        return (moved != 0).sum(axis=1).astype(np.float64)
    with np.errstate(divide="ignore"):
        return (moved ** n).sum(axis=1) ** (1 / n)


class RandomStructured(BasePruningMethod):
    """Prunes ``amount`` whole channels along ``dim``, chosen at random."""

    PRUNING_TYPE = "structured"

    def __init__(self, amount, dim: int = -1, rng: np.random.Generator | None = None):
        _validate_amount("RandomStructured", amount)
        self.amount, self.dim, self.rng = amount, dim, rng

    def compute_mask(self, t, default_mask):
        channels, k = _channels_to_prune("RandomStructured", t, self.amount, self.dim)
        if k == 0:
            return default_mask
        rng = get_rng(self.rng)
        if random_streams.is_torch(rng):  # torch's: rand(channels) above its k-th value
            prob = random_streams.uniform(rng, (channels,), np.float32)
            threshold = Tensor(prob).kthvalue(k).values.data
            keep = np.flatnonzero(prob > threshold)
        else:
            keep = np.sort(rng.permutation(channels)[k:])
        return _channel_mask(t, self.dim, keep) * default_mask

    @classmethod
    def apply(cls, module, name, amount, dim=-1, rng=None):
        return super().apply(module, name, amount=amount, dim=dim, rng=rng)


class LnStructured(BasePruningMethod):
    """Prunes the ``amount`` channels along ``dim`` of smallest L``n`` norm (``n``: a number,
    ``inf``, ``-inf``, or ``"fro"``/``"nuc"`` as torch.norm's 2)."""

    PRUNING_TYPE = "structured"

    def __init__(self, amount, n, dim: int = -1):
        _validate_amount("LnStructured", amount)
        self.amount, self.n, self.dim = amount, n, dim

    def compute_mask(self, t, default_mask):
        channels, k = _channels_to_prune("LnStructured", t, self.amount, self.dim)
        if k == 0:
            return default_mask
        norms = _channel_norms(t, self.n, self.dim)
        keep = np.sort(np.argsort(-norms, kind="stable")[:channels - k])
        return _channel_mask(t, self.dim, keep) * default_mask

    @classmethod
    def apply(cls, module, name, amount, n, dim, importance_scores=None):
        return super().apply(module, name, amount=amount, n=n, dim=dim,
                             importance_scores=importance_scores)


class CustomFromMask(BasePruningMethod):
    """Prunes where a given mask is 0."""

    PRUNING_TYPE = "global"

    def __init__(self, mask):
        self.mask = mask.data if isinstance(mask, Tensor) else mask

    def compute_mask(self, t, default_mask):
        if not hasattr(self.mask, "shape"):
            raise _NoShapeError(f"custom_from_mask: the mask must be a tensor, got "
                                f"{type(self.mask).__name__}")
        if self.mask.shape != default_mask.shape:
            raise _MaskShapeError(f"custom_from_mask: the mask has shape {self.mask.shape}, "
                                  f"the tensor {default_mask.shape}")
        return default_mask * self.mask.astype(default_mask.dtype, copy=False)

    @classmethod
    def apply(cls, module, name, mask):
        return super().apply(module, name, mask=mask)


def identity(module, name: str):
    """Prune nothing (an all-ones mask), e.g. to give ``module.<name>`` the pruned form."""
    Identity.apply(module, name)
    return module


def random_unstructured(module, name: str, amount, rng: np.random.Generator | None = None):
    """Prune ``amount`` (fraction or count) of ``module.<name>``'s entries at random."""
    RandomUnstructured.apply(module, name, amount, rng=rng)
    return module


def l1_unstructured(module, name: str, amount, importance_scores=None):
    """Prune the ``amount`` entries of ``module.<name>`` with the smallest |score|
    (scores: the tensor itself unless ``importance_scores`` is given)."""
    L1Unstructured.apply(module, name, amount=amount, importance_scores=importance_scores)
    return module


def random_structured(module, name: str, amount, dim: int,
                      rng: np.random.Generator | None = None):
    """Prune ``amount`` random channels of ``module.<name>`` along ``dim``."""
    RandomStructured.apply(module, name, amount, dim, rng=rng)
    return module


def ln_structured(module, name: str, amount, n, dim: int, importance_scores=None):
    """Prune the ``amount`` channels along ``dim`` with the smallest L``n`` norm."""
    LnStructured.apply(module, name, amount, n, dim, importance_scores=importance_scores)
    return module


def custom_from_mask(module, name: str, mask):
    """Prune ``module.<name>`` where ``mask`` is 0."""
    CustomFromMask.apply(module, name, mask)
    return module


def global_unstructured(parameters, pruning_method, importance_scores=None, **kwargs) -> None:
    """Prune the (module, name) pairs together: ``pruning_method`` (an unstructured method
    class, e.g. L1Unstructured) with ``kwargs`` sees them as one flat vector."""
    parameters = list(parameters)
    if not isinstance(pruning_method, type) or not issubclass(pruning_method,
                                                              BasePruningMethod):
        raise TypeError(f"global_unstructured: pruning_method must be a BasePruningMethod "
                        f"subclass, got {pruning_method!r}")
    if pruning_method.PRUNING_TYPE != "unstructured":
        raise TypeError(f"global_unstructured: only unstructured methods can prune globally, "
                        f"{pruning_method.__name__} is {pruning_method.PRUNING_TYPE}")
    importance_scores = {} if importance_scores is None else importance_scores
    if not isinstance(importance_scores, dict):
        raise TypeError(f"global_unstructured: importance_scores must be a dict, got "
                        f"{type(importance_scores).__name__}")
    scores, masks = [], []
    for module, name in parameters:
        tensor = getattr(module, name)
        score = importance_scores.get((module, name), tensor)
        scores.append(np.asarray(score.data if isinstance(score, Tensor) else score).ravel())
        mask = getattr(module, name + "_mask", None)
        masks.append(np.ones(tensor.data.size) if mask is None else mask.data.ravel())
    method = pruning_method(**kwargs)
    method._tensor_name = "temp"
    container = PruningContainer(method)
    final = container._mask(np.concatenate(scores), np.concatenate(masks))
    start = 0
    for module, name in parameters:
        tensor = getattr(module, name)
        size = tensor.data.size
        custom_from_mask(module, name, final[start:start + size].reshape(tensor.shape))
        start += size


def remove(module, name: str):
    """Make the pruning of ``module.<name>`` permanent and drop ``name_orig``, ``name_mask``
    and the hook."""
    for key, hook in list(module._forward_pre_hooks.items()):
        if isinstance(hook, BasePruningMethod) and hook._tensor_name == name:
            hook.remove(module)
            del module._forward_pre_hooks[key]
            return module
    raise ValueError(f"remove: parameter {name!r} of module {type(module).__name__} has to be "
                     f"pruned before pruning can be removed")


def is_pruned(module) -> bool:
    """Whether ``module`` or any module inside it has a pruning hook."""
    return any(isinstance(hook, BasePruningMethod)
               for sub in module.modules() for hook in sub._forward_pre_hooks.values())

