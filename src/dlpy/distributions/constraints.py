"""Where a parameter or a value may lie, under torch.distributions.constraints' names:
``check(array)`` gives a boolean array of the batch shape (the ``event_dim`` rightmost axes are
one event, valid only if all of it is). Bounds may be numbers or Tensors (Uniform's support)."""

from __future__ import annotations

import numpy as np

from dlpy.ops import ArgAssertionError, ArgError, ArgTypeAssertionError
from dlpy.tensor import Tensor, is_floating_dtype, is_narrow_float

__all__ = [
    "Constraint", "MixtureSameFamilyConstraint", "boolean", "cat", "corr_cholesky", "dependent",
    "dependent_property", "greater_than", "greater_than_eq", "half_open_interval", "independent",
    "integer_interval", "interval", "is_dependent", "less_than", "lower_cholesky",
    "lower_triangular", "multinomial", "nonnegative", "nonnegative_integer", "one_hot", "positive",
    "positive_definite", "positive_integer", "positive_semidefinite", "real", "real_vector",
    "simplex", "square", "stack", "symmetric", "unit_interval",
]


def _array(value) -> np.ndarray:
    return value.data if isinstance(value, Tensor) else np.asarray(value)


def _against(bound, value: np.ndarray) -> np.ndarray:
    """A bound compared with ``value``: a Python number in a floating value's dtype, as torch
    compares a tensor with a scalar (greater_than(0.1) of float32 0.1 is False there)."""
    if isinstance(bound, (int, float)) and not isinstance(bound, bool) and (
            value.dtype.kind == "f" or value.dtype.name == "bfloat16"):
        with np.errstate(over="ignore"):
            return np.asarray(bound, value.dtype)
    return _array(bound)


def _bound(value) -> str:
    if isinstance(value, (int, float)):  # a number as given: 0, not 0.0 (PyTorch's repr)
        return repr(value)
    if isinstance(value, Tensor):  # as PyTorch's f-string: a 0-d Tensor as its number
        return repr(value.item()) if value.ndim == 0 else str(value)
    array = _array(value)
    if array.size == 1:
        return repr(float(array.reshape(())))
    return np.array2string(array, precision=4, threshold=8, separator=", ")


# the checks of dlpy's constraint classes, which take numpy arrays (Constraint.__init_subclass__)
_ARRAY_CHECKS: set = set()


def check_array(constraint: Constraint, array: np.ndarray) -> np.ndarray:
    """``constraint.check`` of the numpy ``array``, as a bool array. dlpy's checks take the
    array as it is; one written for torch's tensors (a constraint class defined outside dlpy,
    or a check a library set on a class after its creation: pyro patches
    ``_CorrCholesky.check``) gets a Tensor of it, as torch's validation gives it."""
    if type(constraint).check in _ARRAY_CHECKS:
        return np.asarray(constraint.check(array))
    result = constraint.check(Tensor(array))
    return np.asarray(result.data if isinstance(result, Tensor) else result)


class Constraint:
    """A region of values: ``check(value)`` -> booleans of the shape without the ``event_dim``
    rightmost axes."""

    is_discrete = False
    event_dim = 0

    def __init_subclass__(cls, **kwargs):
        # each check of dlpy's works on arrays (the distributions' validation passes .data); a
        # Tensor given by a user gets a bool Tensor back, as PyTorch's. A subclass defined
        # outside dlpy (a library's, written for torch) keeps its check as written: it gets
        # Tensors (check_array wraps an array for it)
        super().__init_subclass__(**kwargs)
        check = cls.__dict__.get("check")
        if check is not None and cls.__module__.startswith("dlpy."):
            def tensor_check(self, value, _check=check):
                if isinstance(value, Tensor):
                    return Tensor(np.asarray(_check(self, value.data), dtype=bool))
                result = _check(self, value)
                if isinstance(value, (int, float)) and np.ndim(result) == 0:
                    return bool(result)  # a Python number's check: a Python bool, as torch's
                return result
            tensor_check.__doc__ = check.__doc__
            _ARRAY_CHECKS.add(tensor_check)
            cls.check = tensor_check

    def check(self, value) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        name = type(self).__name__.lstrip("_")  # PyTorch's _Cat: "Cat()"
        return name[:1].upper() + name[1:] + "()"


class _Dependent(Constraint):
    """A placeholder for a parameter whose valid values depend on others: never checked.
    ``is_discrete`` / ``event_dim`` are what was given; reading one not given is a
    NotImplementedError, as torch's (it cannot be determined statically)."""

    def __init__(self, *, is_discrete=NotImplemented, event_dim=NotImplemented):
        self._is_discrete, self._event_dim = is_discrete, event_dim

    @property
    def is_discrete(self) -> bool:
        if self._is_discrete is NotImplemented:
            raise NotImplementedError(".is_discrete cannot be determined statically")
        return self._is_discrete

    @property
    def event_dim(self) -> int:
        if self._event_dim is NotImplemented:
            raise NotImplementedError(".event_dim cannot be determined statically")
        return self._event_dim

    def __call__(self, *, is_discrete=NotImplemented, event_dim=NotImplemented) -> _Dependent:
        """A dependent constraint with these (the others as this one's)."""
        if is_discrete is NotImplemented:
            is_discrete = self._is_discrete
        if event_dim is NotImplemented:
            event_dim = self._event_dim
        return _Dependent(is_discrete=is_discrete, event_dim=event_dim)

    def check(self, value) -> np.ndarray:
        raise ValueError("Cannot determine validity of dependent constraint: a dependent "
                         "constraint cannot be checked")


class _DependentProperty(property, _Dependent):
    """A property that, read on the class, is a dependent constraint (Uniform's support):
    ``@dependent_property`` or ``@dependent_property(is_discrete=..., event_dim=...)``."""

    def __init__(self, fn=None, *, is_discrete=NotImplemented, event_dim=NotImplemented):
        property.__init__(self, fn)
        self._is_discrete, self._event_dim = is_discrete, event_dim

    def __call__(self, fn):
        return _DependentProperty(fn, is_discrete=self._is_discrete, event_dim=self._event_dim)


def is_dependent(constraint) -> bool:
    return isinstance(constraint, _Dependent)


class _IndependentConstraint(Constraint):
    """``base`` with ``reinterpreted_batch_ndims`` more rightmost axes in one event."""

    def __init__(self, base: Constraint, reinterpreted_batch_ndims: int):
        if not isinstance(reinterpreted_batch_ndims, int):
            raise ArgTypeAssertionError("independent: reinterpreted_batch_ndims must be an int, "
                                        f"got {type(reinterpreted_batch_ndims).__name__}")
        if reinterpreted_batch_ndims < 0:
            raise ArgAssertionError("independent: reinterpreted_batch_ndims must be >= 0, got "
                                    f"{reinterpreted_batch_ndims}")
        self.base, self.reinterpreted_batch_ndims = base, reinterpreted_batch_ndims
        self.base_constraint = base  # torch's name

    @property
    def is_discrete(self) -> bool:
        """The base's (read when asked: a dependent base has none)."""
        return self.base.is_discrete

    @property
    def event_dim(self) -> int:
        """The base's event_dim plus reinterpreted_batch_ndims."""
        return self.base.event_dim + self.reinterpreted_batch_ndims

    def check(self, value) -> np.ndarray:
        result = check_array(self.base, value)
        n = self.reinterpreted_batch_ndims
        if result.ndim < n:
            raise ValueError(f"expected a value with at least {self.event_dim} axes, got "
                             f"{_array(value).ndim}")
        try:
            return result.reshape(result.shape[:result.ndim - n] + (-1,)).all(-1) if n else result
        except ValueError as err:  # numpy's reshape of an empty batch: torch's RuntimeError
            raise ArgError(str(err)) from None

    def __repr__(self) -> str:
        return f"IndependentConstraint({self.base!r}, {self.reinterpreted_batch_ndims})"


class _Real(Constraint):
    """The extended real line [-inf, inf]: anything but nan."""

    def check(self, value) -> np.ndarray:
        value = _array(value)
        return value == value


class _Boolean(Constraint):
    is_discrete = True

    def check(self, value) -> np.ndarray:
        value = _array(value)
        return (value == 0) | (value == 1)


class _OneHot(Constraint):
    is_discrete = True
    event_dim = 1

    def check(self, value) -> np.ndarray:
        value = _array(value)
        return ((value == 0) | (value == 1)).all(-1) & (value.sum(-1) == 1)


class _GreaterThan(Constraint):
    """(lower_bound, inf]."""

    def __init__(self, lower_bound):
        self.lower_bound = lower_bound

    def check(self, value) -> np.ndarray:
        value = _array(value)
        return _against(self.lower_bound, value) < value

    def __repr__(self) -> str:
        return f"GreaterThan(lower_bound={_bound(self.lower_bound)})"


class _GreaterThanEq(_GreaterThan):
    """[lower_bound, inf)."""

    def check(self, value) -> np.ndarray:
        value = _array(value)
        return _against(self.lower_bound, value) <= value

    def __repr__(self) -> str:
        return f"GreaterThanEq(lower_bound={_bound(self.lower_bound)})"


class _LessThan(Constraint):
    """[-inf, upper_bound)."""

    def __init__(self, upper_bound):
        self.upper_bound = upper_bound

    def check(self, value) -> np.ndarray:
        value = _array(value)
        return value < _against(self.upper_bound, value)

    def __repr__(self) -> str:
        return f"LessThan(upper_bound={_bound(self.upper_bound)})"


class _Interval(Constraint):
    """[lower_bound, upper_bound]."""

    def __init__(self, lower_bound, upper_bound):
        self.lower_bound, self.upper_bound = lower_bound, upper_bound

    def check(self, value) -> np.ndarray:
        value = _array(value)
        return (_against(self.lower_bound, value) <= value) & (
            value <= _against(self.upper_bound, value))

    def __repr__(self) -> str:
        return (f"{type(self).__name__.lstrip('_')}(lower_bound="
                f"{_bound(self.lower_bound)}, upper_bound={_bound(self.upper_bound)})")


class _HalfOpenInterval(_Interval):
    """[lower_bound, upper_bound)."""

    def check(self, value) -> np.ndarray:
        value = _array(value)
        return (_against(self.lower_bound, value) <= value) & (
            value < _against(self.upper_bound, value))


class _IntegerInterval(_Interval):
    """The integers in [lower_bound, upper_bound]."""

    is_discrete = True

    def check(self, value) -> np.ndarray:
        value = _array(value)
        return (value % 1 == 0) & super().check(value)


class _IntegerGreaterThan(_GreaterThanEq):
    """The integers >= lower_bound."""

    is_discrete = True

    def check(self, value) -> np.ndarray:
        value = _array(value)
        return (value % 1 == 0) & super().check(value)

    def __repr__(self) -> str:
        return f"IntegerGreaterThan(lower_bound={_bound(self.lower_bound)})"


class _Simplex(Constraint):
    """Non-negative vectors (the last axis) that sum to 1 within 1e-6."""

    event_dim = 1

    def check(self, value) -> np.ndarray:
        value = _array(value)
        if is_narrow_float(value.dtype):  # torch sums float16 / bfloat16 in float32, then
            total = value.astype(np.float32).sum(-1).astype(value.dtype)  # rounds once
        else:
            total = np.add.reduce(value, -1)  # (the ufunc's: an inf's warning stays dlpy's)
        return (value >= 0).all(-1) & (np.abs(total - 1) < 1e-6)


class _LowerTriangular(Constraint):
    event_dim = 2

    def check(self, value) -> np.ndarray:
        value = _matrices(_array(value))
        return (np.tril(value) == value).all((-2, -1))


def _matrices(value: np.ndarray) -> np.ndarray:
    """value, which must have at least 2 axes (torch's tril refuses fewer: RuntimeError)."""
    if value.ndim < 2:
        raise ArgError("tril: input tensor must have at least 2 dimensions")
    return value


class _LowerCholesky(Constraint):
    """Lower-triangular square matrices with a positive diagonal."""

    event_dim = 2

    def check(self, value) -> np.ndarray:
        value = _matrices(_array(value))
        lower = (np.tril(value) == value).all((-2, -1))
        return lower & (np.diagonal(value, axis1=-2, axis2=-1) > 0).all(-1)


class _CorrCholesky(Constraint):
    """Lower Cholesky factors whose rows have unit length (within 10 n eps): the Cholesky
    factors of correlation matrices."""

    event_dim = 2

    def check(self, value) -> np.ndarray:
        value = _array(value)
        if not is_floating_dtype(value.dtype):  # torch's finfo of the dtype, first
            raise TypeError("torch.finfo() requires a floating point input type. Use "
                            "torch.iinfo to handle 'torch.finfo'")
        if value.ndim == 0:  # (torch's value.size(-1))
            raise IndexError("Dimension specified as -1 but tensor has no dimensions")
        tol = np.finfo(value.dtype).eps * value.shape[-1] * 10
        unit_rows = (np.abs(np.linalg.norm(value, axis=-1) - 1.0) <= tol).all(-1)
        return _LowerCholesky().check(value) & unit_rows


class _Square(Constraint):
    """Square matrices (a shape check)."""

    event_dim = 2

    def check(self, value) -> np.ndarray:
        value = _array(value)
        return np.full(value.shape[:-2], value.shape[-1] == value.shape[-2])


class _Symmetric(_Square):
    """Square matrices equal to their transpose within 1e-6 (absolute, as PyTorch's isclose)."""

    def check(self, value) -> np.ndarray:
        value = _array(value)
        if value.shape[-1] != value.shape[-2]:
            return np.zeros(value.shape[:-2], dtype=bool)
        return np.isclose(value, np.swapaxes(value, -1, -2), atol=1e-6).all((-2, -1))


class _PositiveSemidefinite(_Symmetric):
    """Symmetric matrices whose eigenvalues are all >= 0."""

    def check(self, value) -> np.ndarray:
        symmetric = super().check(value)
        if not symmetric.all():
            return symmetric
        return (np.linalg.eigvalsh(_array(value)) >= 0).all(-1)


class _PositiveDefinite(_Symmetric):
    """Symmetric matrices with a Cholesky factor."""

    def check(self, value) -> np.ndarray:
        symmetric = super().check(value)
        if not symmetric.all():
            return symmetric
        value = _array(value)
        flat = value.reshape((-1,) + value.shape[-2:])
        result = np.ones(len(flat), dtype=bool)
        _mark_unfactorable(flat, result, 0, len(flat))
        return result.reshape(value.shape[:-2])


def _mark_unfactorable(flat: np.ndarray, result: np.ndarray, start: int, stop: int) -> None:
    """Sets ``result[i]`` False for the matrices of ``flat[start:stop]`` that have no Cholesky
    factor: one batched factorisation of the range, halved only where it fails (numpy refuses a
    whole batch for one bad matrix), so a batch of good matrices costs one call."""
    if start == stop:
        return
    try:
        np.linalg.cholesky(flat[start:stop])
    except np.linalg.LinAlgError:
        if stop - start == 1:
            result[start] = False
            return
        middle = (start + stop) // 2
        _mark_unfactorable(flat, result, start, middle)
        _mark_unfactorable(flat, result, middle, stop)


class _Multinomial(Constraint):
    """Non-negative vectors summing to at most ``upper_bound`` (PyTorch's weaker check)."""

    is_discrete = True
    event_dim = 1

    def __init__(self, upper_bound):
        self.upper_bound = upper_bound

    def check(self, value) -> np.ndarray:
        value = _array(value)
        return (value >= 0).all(-1) & (value.sum(-1) <= _array(self.upper_bound))


def _constraints(name: str, cseq) -> list:
    cseq = list(cseq)
    if not cseq or not all(isinstance(c, Constraint) for c in cseq):
        raise TypeError(f"constraints.{name}: expected a non-empty sequence of Constraints, got "
                        f"{cseq!r}")
    return cseq


def _axis(name: str, dim: int, ndim: int) -> int:
    if not -ndim <= dim < ndim:  # torch's assert
        raise ArgAssertionError(f"constraints.{name}: dim {dim} out of range for a value with "
                                f"{ndim} axes")
    return dim % ndim


def block_lengths(name: str, lengths, count: int, what: str) -> list[int]:
    """The lengths of ``count`` blocks (default 1 each) of torch.cat-like constraints and
    transforms, one per block."""
    lengths = [1] * count if lengths is None else list(lengths)
    if len(lengths) != count:
        raise ArgAssertionError(f"{name}: {len(lengths)} lengths for {count} {what}")
    return lengths


class _Cat(Constraint):
    """``cseq[i]`` on the i-th block (of ``lengths[i]``, default 1) along ``dim``, as torch.cat
    puts them together."""

    def __init__(self, cseq, dim: int = 0, lengths=None):
        self.cseq = _constraints("cat", cseq)
        self.lengths = block_lengths("constraints.cat", lengths, len(self.cseq), "constraints")
        self.dim = dim

    @property
    def is_discrete(self) -> bool:
        return any(c.is_discrete for c in self.cseq)

    @property
    def event_dim(self) -> int:
        return max(c.event_dim for c in self.cseq)

    def check(self, value) -> np.ndarray:
        value = _array(value)
        axis = _axis("cat", self.dim, value.ndim)
        bounds = np.cumsum([0] + self.lengths)
        for a, b in zip(bounds, bounds[1:]):  # torch narrows block by block
            if b > value.shape[axis]:
                raise ArgError(f"start ({a}) + length ({b - a}) exceeds dimension size "
                               f"({value.shape[axis]}).")
        return np.concatenate([check_array(c, np.take(value, range(a, b), axis=axis))
                               for c, a, b in zip(self.cseq, bounds, bounds[1:])], self.dim)


class _Stack(Constraint):
    """``cseq[i]`` on the i-th slice along ``dim``, as torch.stack puts them together."""

    def __init__(self, cseq, dim: int = 0):
        self.cseq = _constraints("stack", cseq)
        self.dim = dim

    @property
    def is_discrete(self) -> bool:
        return any(c.is_discrete for c in self.cseq)

    @property
    def event_dim(self) -> int:
        dim = max(c.event_dim for c in self.cseq)
        return dim + 1 if self.dim + dim < 0 else dim

    def check(self, value) -> np.ndarray:
        value = _array(value)
        axis = _axis("stack", self.dim, value.ndim)
        if value.shape[axis] == 0:  # torch.stack of no slices
            raise ArgError("stack expects a non-empty TensorList")
        return np.stack([check_array(c, np.take(value, i, axis=axis))
                         for i, c in zip(range(value.shape[axis]), self.cseq)], self.dim)


class MixtureSameFamilyConstraint(Constraint):
    """A mixture's support: the component's ``base_constraint`` holding for the value broadcast
    over the K components (the rightmost batch axis)."""

    def __init__(self, base_constraint: Constraint):
        if not isinstance(base_constraint, Constraint):
            raise TypeError(f"MixtureSameFamilyConstraint: expected a Constraint, got "
                            f"{base_constraint!r}")
        self.base_constraint = base_constraint
        self.is_discrete = base_constraint.is_discrete
        self.event_dim = base_constraint.event_dim

    def check(self, value) -> np.ndarray:
        value = _array(value)
        return check_array(self.base_constraint,
                           np.expand_dims(value, -1 - self.event_dim)).all(-1)

    def __repr__(self) -> str:
        return f"MixtureSameFamilyConstraint({self.base_constraint!r})"


# PyTorch's public names of the constraint classes (the classes carry its private names)
greater_than = _GreaterThan
greater_than_eq = _GreaterThanEq
less_than = _LessThan
interval = _Interval
half_open_interval = _HalfOpenInterval
integer_interval = _IntegerInterval
independent = _IndependentConstraint
cat = _Cat
stack = _Stack
dependent_property = _DependentProperty

dependent = _Dependent()
boolean = _Boolean()
one_hot = _OneHot()
nonnegative_integer = _IntegerGreaterThan(0)
positive_integer = _IntegerGreaterThan(1)
real = _Real()
real_vector = independent(real, 1)
positive = greater_than(0.0)
nonnegative = greater_than_eq(0.0)
unit_interval = interval(0.0, 1.0)
simplex = _Simplex()
lower_triangular = _LowerTriangular()
lower_cholesky = _LowerCholesky()
symmetric = _Symmetric()
positive_definite = _PositiveDefinite()
positive_semidefinite = _PositiveSemidefinite()
square = _Square()
corr_cholesky = _CorrCholesky()
multinomial = _Multinomial
