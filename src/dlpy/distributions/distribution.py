"""The base class of every distribution, and the helpers the families share.

A distribution holds its parameters as Tensors (gradients flow from ``log_prob``, ``entropy``,
``cdf`` and ``rsample`` back to them) broadcast to ``batch_shape`` (+ their event axes). Samples
have the shape ``sample_shape + batch_shape + event_shape`` and come from dlpy's default
generator (``dlpy.manual_seed``) or the numpy Generator passed as ``generator=``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from functools import update_wrapper

import numpy as np

import dlpy.functional as F
from dlpy.creation import _generator
from dlpy.distributions import constraints
from dlpy.size import Size
from dlpy.tensor import Tensor, default_dtype, enable_grad, is_floating_dtype, no_grad

__all__ = ["Distribution", "as_tensors", "broadcast_all"]


def draw(sampler, sample_shape, generator=None, rng=None) -> Tensor:
    """``sampler(sample_shape)`` (a distribution's bound ``sample`` or ``rsample``), passing
    dlpy's ``generator=`` / ``rng=`` only when one is given: a subclass written for torch
    overrides ``rsample(self, sample_shape=torch.Size())`` without them, and ``sample()``,
    ``Independent`` and ``TransformedDistribution`` still reach it."""
    extra = {name: value for name, value in (("generator", generator), ("rng", rng))
             if value is not None}
    return sampler(sample_shape, **extra)


def _shape_text(shape: tuple) -> str:
    return str(tuple(int(n) for n in shape))


class ExpandError(ValueError, RuntimeError):
    """expand() to a batch_shape the current one does not broadcast to (torch raises a
    RuntimeError there, dlpy's house style a ValueError: either catches it)."""


class BroadcastError(ValueError, RuntimeError):
    """Parameters whose shapes do not broadcast together (torch's broadcast_tensors raises a
    RuntimeError there, dlpy's house style a ValueError: either catches it)."""


class _derived:  # noqa: N801 - a property-like decorator
    """A parameter computed from another one when it was not given (Bernoulli's probs from its
    logits). A non-data descriptor: a value set on the instance wins. Not cached, so each use
    records a fresh graph (a second backward never meets a freed one)."""

    def __init__(self, fn):
        self.fn = fn
        self.__doc__ = fn.__doc__

    def __get__(self, instance, owner):
        if instance is None:
            return self
        return self.fn(instance)


class lazy_property:  # noqa: N801 - torch's name
    """A decorator: the method runs on the first access of the attribute (gradients enabled,
    as torch's), and its value is then stored on the instance under the method's name, so
    later accesses read it. On the class it is a ``property`` too (``isinstance(...,
    property)``: what a distribution's argument validation and Sphinx look for)."""

    def __init__(self, wrapped: Callable) -> None:
        self.wrapped = wrapped
        update_wrapper(self, wrapped)

    def __get__(self, instance, obj_type=None):
        if instance is None:
            return _lazy_property_and_property(self.wrapped)
        with enable_grad():
            value = self.wrapped(instance)
        setattr(instance, self.wrapped.__name__, value)
        return value


class _lazy_property_and_property(lazy_property, property):  # noqa: N801 - torch's name
    """A lazy_property read from its class: a property as well."""

    def __init__(self, wrapped: Callable) -> None:
        property.__init__(self, wrapped)


class Distribution:
    """The base class: ``batch_shape``, ``event_shape``, ``sample``, ``rsample``, ``log_prob``,
    ``entropy``, ``mean``, ``variance``, ``stddev``, ``cdf``/``icdf`` where a family has them.

    ``validate_args`` (default: on, as PyTorch's ``__debug__``) checks the parameters against
    ``arg_constraints`` when the distribution is made and the values given to ``log_prob`` and
    ``cdf`` against ``support``, raising a ValueError that names what was wrong.
    """

    has_rsample = False
    has_enumerate_support = False
    _validate_args = __debug__
    # the class whose parameters the generic expand() knows: each of dlpy's own classes
    # (set by __init_subclass__); a user's subclass inherits its parent's
    _expand_owner: type | None = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__module__.startswith("dlpy."):
            cls._expand_owner = cls

    @property
    def arg_constraints(self) -> dict[str, constraints.Constraint]:
        """Each parameter's constraint (name -> Constraint), as a class dict or a property; the
        base class has none: NotImplementedError, as torch's (validation then warns)."""
        raise NotImplementedError

    @property
    def support(self) -> constraints.Constraint:
        """The constraint the values of ``log_prob`` / ``cdf`` lie in; the base class has none:
        NotImplementedError, as torch's (value validation then warns and checks only shapes)."""
        raise NotImplementedError

    @staticmethod
    def set_default_validate_args(value: bool) -> None:
        """Turn argument validation on or off for distributions made without ``validate_args``
        (anything equal to True or False, as torch's ``value in [True, False]``)."""
        if value not in (True, False):
            raise ValueError(f"set_default_validate_args: expected True or False, got {value!r}")
        Distribution._validate_args = value

    def __init__(self, batch_shape=(), event_shape=(), validate_args: bool | None = None):
        self._batch_shape = Size(int(n) for n in batch_shape)
        self._event_shape = Size(int(n) for n in event_shape)
        if validate_args is not None:
            if not isinstance(validate_args, (bool, np.bool_)):
                raise TypeError(f"{type(self).__name__}: validate_args must be True, False or "
                                f"None, got {validate_args!r}")
            self._validate_args = bool(validate_args)
        if self._validate_args:
            self._validate_params()

    def _validate_params(self) -> None:
        """Check every parameter of ``arg_constraints`` (read with getattr, as torch's: a
        property works, one not set yet is an AttributeError), skipping dependent constraints
        and lazily computed parameters not computed yet (a ``lazy_property``, or dlpy's
        ``_derived`` probs/logits twin). A class without ``arg_constraints`` warns."""
        try:
            arg_constraints = self.arg_constraints
        except NotImplementedError:
            arg_constraints = {}
            warnings.warn(f"{type(self)} does not define `arg_constraints`. Please set "
                          "`arg_constraints = {}` or initialize the distribution with "
                          "`validate_args=False` to turn off validation.", stacklevel=3)
        for name, constraint in arg_constraints.items():
            if constraints.is_dependent(constraint):
                continue
            if name not in self.__dict__ and isinstance(getattr(type(self), name, None),
                                                        (lazy_property, _derived)):
                continue
            value = getattr(self, name)
            data = value.data if isinstance(value, Tensor) else np.asarray(value)
            valid = constraints.check_array(constraint, data)
            if not np.all(valid):
                raise ValueError(
                    f"{type(self).__name__}: expected parameter {name} (shape "
                    f"{_shape_text(data.shape)}) to satisfy the constraint {constraint!r}, "
                    f"but found invalid values{_first_invalid(data, valid, constraint.event_dim)}")

    # ------------------------------------------------------------------ shapes
    @property
    def batch_shape(self) -> tuple[int, ...]:
        """The shape over which the parameters are batched."""
        return self._batch_shape

    @property
    def event_shape(self) -> tuple[int, ...]:
        """The shape of one sample (without batching)."""
        return self._event_shape

    def _extended_shape(self, sample_shape=()) -> tuple[int, ...]:
        return _sample_shape(type(self).__name__, sample_shape) + self._batch_shape + \
            self._event_shape

    def _given_params(self) -> list[str]:
        """The parameters given (or computed at construction), in arg_constraints' order."""
        return [name for name in self.arg_constraints if name in self.__dict__]

    def expand(self, batch_shape, _instance=None) -> Distribution:
        """A new distribution with its parameters broadcast to ``batch_shape`` (which
        ``batch_shape`` must broadcast to); it is not validated again. ``_instance``: the
        object to fill instead of a new one (torch's argument, which a subclass's own
        ``expand`` passes from ``_get_checked_instance``). Without ``_instance``, a subclass
        written outside dlpy needs its own ``expand`` when it defines ``__init__`` (torch's
        ``_get_checked_instance`` rule), and a direct subclass of Distribution always does
        (torch's base has no generic expand): NotImplementedError."""
        if _instance is None:
            owner = type(self)._expand_owner
            if owner is None or owner is Distribution:
                raise NotImplementedError(f"{type(self).__name__} does not implement expand")
            _instance = self._get_checked_instance(owner)
        batch_shape = _sample_shape(f"{type(self).__name__}.expand", batch_shape)
        try:
            ok = np.broadcast_shapes(self._batch_shape, batch_shape) == batch_shape
        except ValueError:
            ok = False
        if not ok:
            raise ExpandError(f"{type(self).__name__}.expand: batch_shape "
                             f"{_shape_text(self._batch_shape)} does not broadcast to "
                             f"{_shape_text(batch_shape)}")
        new = _instance
        new.__dict__.update(self.__dict__)
        for name in self._given_params():
            value = self.__dict__[name]
            event_dim = self.arg_constraints[name].event_dim
            shape = batch_shape + value.shape[value.ndim - event_dim:]
            if value.shape != shape:
                new.__dict__[name] = F.expand(value, shape)
        self._expand_extra(new, batch_shape)
        Distribution.__init__(new, batch_shape, self._event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _get_checked_instance(self, cls, _instance=None) -> Distribution:
        """torch's helper for a subclass's ``expand``: ``_instance`` when given, else a new
        uninitialised object of ``type(self)``; NotImplementedError when that type has its own
        ``__init__`` but inherits ``cls``'s expand (it would not know the new arguments)."""
        if _instance is None and type(self).__init__ != cls.__init__:
            raise NotImplementedError(
                f"Subclass {type(self).__name__} of {cls.__name__} that defines a custom "
                "__init__ method must also define a custom .expand() method.")
        return self.__new__(type(self)) if _instance is None else _instance

    def _expand_extra(self, new: Distribution, batch_shape: tuple) -> None:
        """Hook for expand: state besides the parameters (a wrapped distribution)."""

    # ------------------------------------------------------------------ moments
    @property
    def mean(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement mean")

    @property
    def mode(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement mode")

    @property
    def variance(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement variance")

    @property
    def stddev(self) -> Tensor:
        return self.variance.sqrt()

    # ------------------------------------------------------------------ sampling
    def sample(self, sample_shape=(), *, generator: np.random.Generator | None = None,
               rng: np.random.Generator | None = None) -> Tensor:
        """Draw ``sample_shape`` samples (shape ``sample_shape + batch_shape + event_shape``),
        recording no graph. ``generator`` (or ``rng``): a numpy Generator, by default dlpy's."""
        with no_grad():
            return draw(self.rsample, sample_shape, generator, rng)

    def sample_n(self, n: int) -> Tensor:
        """``sample((n,))``; deprecated (a FutureWarning), as torch's."""
        warnings.warn("`sample_n(n)` will be deprecated. Use `sample((n,))` instead.",
                      FutureWarning, stacklevel=2)
        return self.sample((n,))

    def rsample(self, sample_shape=(), *, generator: np.random.Generator | None = None,
                rng: np.random.Generator | None = None) -> Tensor:
        """A reparameterised sample: a differentiable function of the parameters and of noise
        drawn from ``generator`` (or ``rng``; by default dlpy's generator)."""
        raise NotImplementedError(f"{type(self).__name__} has no reparameterised sampler "
                                  "(rsample); use sample(), and a score-function estimator "
                                  "(log_prob) for gradients")

    def _rng(self, generator, rng) -> np.random.Generator:
        return _generator(f"{type(self).__name__}.sample", generator, rng)

    # ------------------------------------------------------------------ densities
    def log_prob(self, value) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement log_prob")

    def cdf(self, value) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement cdf")

    def icdf(self, value) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement icdf")

    def entropy(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement entropy")

    def perplexity(self) -> Tensor:
        """exp(entropy)."""
        return self.entropy().exp()

    def enumerate_support(self, expand: bool = True) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement enumerate_support")

    def _value(self, value, method: str = "log_prob") -> Tensor:
        """``value`` as a float Tensor of the parameters' dtype (Tensors keep theirs), checked
        against the shapes and the support when validating, where, as torch's, it must be a
        Tensor (``_validate_sample``'s ValueError); numbers and arrays are taken with
        ``validate_args=False``."""
        if self._validate_args and not isinstance(value, Tensor):
            self._validate_sample(value, method)  # (raises)
        value = _as_float_tensor(value, self._dtype())
        if self._validate_args:
            self._validate_sample(value, method)
        return value

    def _unchecked(self, value) -> Tensor:
        """An icdf's argument as a Tensor, not validated (PyTorch checks no icdf argument)."""
        return _as_float_tensor(value, self._dtype())

    def _dtype(self) -> np.dtype:
        for name in self._given_params():
            return self.__dict__[name].dtype
        return default_dtype()

    def _validate_sample(self, value: Tensor, method: str = "log_prob") -> None:
        """Check a value given to ``log_prob`` / ``cdf`` (what a subclass calls when
        ``self._validate_args``): a Tensor (else ValueError, as torch's), whose rightmost axes
        are ``event_shape``, broadcasting with ``batch_shape + event_shape``, within
        ``support`` (a class without one warns and checks only the shapes)."""
        name = f"{type(self).__name__}.{method}"
        if not isinstance(value, Tensor):
            raise ValueError(f"{name}: The value argument to log_prob must be a Tensor, got "
                             f"{type(value).__name__}")
        shape, event = value.shape, self._event_shape
        if shape[len(shape) - len(event):] != event or len(shape) < len(event):
            raise ValueError(f"{name}: the rightmost axes of value {_shape_text(shape)} must "
                             f"match event_shape {_shape_text(event)} (the right-most size of "
                             "value must match event_shape)")
        expected = self._batch_shape + event
        for i, j in zip(reversed(shape), reversed(expected)):
            if i != 1 and j != 1 and i != j:
                raise ValueError(f"{name}: value {_shape_text(shape)} does not broadcast with "
                                 f"batch_shape + event_shape {_shape_text(expected)} (value "
                                 "is not broadcastable)")
        try:
            support = self.support
        except NotImplementedError:
            warnings.warn(f"{type(self)} does not define `support` to enable sample "
                          "validation. Please initialize the distribution with "
                          "`validate_args=False` to turn off validation.", stacklevel=3)
            return
        valid = constraints.check_array(support, value.data)
        if not np.all(valid):
            raise ValueError(f"{name}: expected value (shape {_shape_text(shape)}) within the "
                             f"support {support!r} of {self!r}, but found invalid values"
                             f"{_first_invalid(value.data, valid, support.event_dim)}")

    def __repr__(self) -> str:
        parts = []
        for name in self._given_params():
            value = self.__dict__[name]
            # PyTorch's: a 0-d value's number, a one-element one's tensor, else its Size
            shown = value.data.item() if value.ndim == 0 else value if value.data.size == 1 \
                else Size(value.shape)
            parts.append(f"{name}: {shown}")
        return f"{type(self).__name__}({', '.join(parts)})"


# ---------------------------------------------------------------------- helpers
def _first_invalid(values: np.ndarray, valid: np.ndarray, event_dim: int = 0) -> str:
    """': 2 of 3 entries, the first at index (1,): -1.0' (an event's values when event_dim)."""
    valid = np.broadcast_to(valid, values.shape[:values.ndim - event_dim])
    bad = ~valid
    count, total = int(bad.sum()), bad.size
    where = tuple(int(i) for i in np.argwhere(bad)[0]) if count else ()
    shown = np.asarray(values[where] if count else values)
    text = repr(shown.item()) if shown.ndim == 0 else \
        np.array2string(shown, precision=6, threshold=10, separator=", ")
    what = "events" if event_dim else "entries"
    return f": {count} of {total} {what}, the first at index {where}: {text}"


def _sample_shape(name: str, sample_shape) -> tuple[int, ...]:
    """A shape given as a tuple or list of ints -> tuple (one int is torch.Size's TypeError,
    as torch's). A 0-d integer Tensor stands for its int, as in torch.Size (pyro's
    ``sample((mask.sum(),))``)."""
    shape = sample_shape
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        raise TypeError(f"{name}: the shape must be a tuple or list of ints (torch.Size), got "
                        f"the int {shape}: 'int' object is not iterable")
    if isinstance(shape, (tuple, list)) and any(isinstance(n, Tensor) for n in shape):
        shape = [int(n.item()) if isinstance(n, Tensor) and n.ndim == 0 and n.dtype.kind in "iu"
                 else n for n in shape]
    if not isinstance(shape, (tuple, list)) or not all(
            isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 0
            for n in shape):
        raise ValueError(f"{name}: expected a shape (a tuple of non-negative ints), got "
                         f"{sample_shape!r}")
    return tuple(int(n) for n in shape)


def _as_float_tensor(value, dtype) -> Tensor:
    """A Tensor (its float dtype kept, an integer one cast to ``dtype``), or an array, list or
    number made a constant Tensor (float arrays keep their dtype, the rest take ``dtype``)."""
    if isinstance(value, Tensor):  # (bfloat16 too: a float dtype numpy calls kind "V")
        return value if is_floating_dtype(value.dtype) else Tensor(value.data.astype(dtype))
    array = np.asarray(value)
    if not is_floating_dtype(array.dtype) or not isinstance(value, np.ndarray):
        array = array.astype(dtype)
    return Tensor(array)


def as_tensors(name: str, names: tuple[str, ...], *values) -> tuple[Tensor, ...]:
    """Parameters as Tensors of one float dtype family: Tensors and float arrays keep their
    dtype, numbers (and integer arrays) take the first float Tensor's or array's dtype
    (the default dtype if none), as torch's ``broadcast_all``."""
    dtype = None
    for v in values:
        data = v.data if isinstance(v, Tensor) else v
        if isinstance(data, np.ndarray) and is_floating_dtype(data.dtype):
            dtype = data.dtype
            break
    dtype = default_dtype() if dtype is None else dtype
    tensors = []
    for what, v in zip(names, values):
        if isinstance(v, bool) or not isinstance(v, (Tensor, np.ndarray, int, float, np.number,
                                                     list, tuple)):
            raise TypeError(f"{name}: {what} must be a Tensor, an array or a number, got "
                            f"{type(v).__name__}")
        tensors.append(_as_float_tensor(v, dtype))
    return tuple(tensors)


def broadcast_all(name: str, names: tuple[str, ...], *values) -> tuple[Tensor, ...]:
    """``as_tensors``, then broadcast to one shape (a Tensor of that shape is kept as it is,
    so its gradient lands on it directly)."""
    tensors = as_tensors(name, names, *values)
    try:
        shape = np.broadcast_shapes(*(t.shape for t in tensors))
    except ValueError:
        shapes = ", ".join(f"{w} {_shape_text(t.shape)}" for w, t in zip(names, tensors))
        raise BroadcastError(f"{name}: the parameters cannot be broadcast together: "
                             f"{shapes}") from None
    return tuple(t if t.shape == shape else F.expand(t, shape) for t in tensors)


def broadcast_pair(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """a and b expanded to their broadcast shape, as torch's broadcast_all(param, value) in
    some families' log_prob: then neither is 0-d, so a 0-d float64 value promotes float32
    parameters (and a 0-d float64 parameter a float32 value)."""
    shape = np.broadcast_shapes(a.shape, b.shape)
    return (a if a.shape == shape else F.expand(a, shape),
            b if b.shape == shape else F.expand(b, shape))


def sum_rightmost(value: Tensor, dims: int) -> Tensor:
    """Sum the ``dims`` rightmost axes (none for 0; all of them when ``dims`` exceeds the
    number of axes, as torch's reshape-then-sum)."""
    if dims == 0:
        return value
    if dims >= value.ndim:
        return value.sum()
    return value.sum(axis=tuple(range(value.ndim - dims, value.ndim)))


def masked_set(t: Tensor, mask: np.ndarray, value: float) -> Tensor:
    """t with ``value`` where mask (broadcast to t); no gradient flows there, as PyTorch's
    in-place assignment ``t[mask] = value``."""
    mask = np.broadcast_to(mask, t.shape)
    if not mask.any():
        return t
    return F.where(mask, np.asarray(value, dtype=t.dtype), t)


def clamp_probs(probs: Tensor) -> Tensor:
    """probs limited to [eps, 1 - eps] (eps: the dtype's machine epsilon), as PyTorch's."""
    eps = float(np.finfo(probs.dtype).eps)
    return F.clamp(probs, eps, 1 - eps)


def probs_to_logits(probs: Tensor, is_binary: bool = False) -> Tensor:
    """log(p) (log-odds log(p) - log(1 - p) when binary), probs clamped away from 0 and 1."""
    clamped = clamp_probs(probs)
    if is_binary:
        return clamped.log() - F.log1p(-clamped)
    return clamped.log()


def logits_to_probs(logits: Tensor, is_binary: bool = False) -> Tensor:
    """sigmoid(logits) when binary, else softmax over the last axis."""
    return F.sigmoid(logits) if is_binary else F.softmax(logits, dim=-1)


LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
EULER_GAMMA = 0.57721566490153286060


class CentredAtLoc(Distribution):
    """A family whose mean and mode are its ``loc``: the location-scale families of
    continuous.py, VonMises (its circular mean), the multivariate normals."""

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc
