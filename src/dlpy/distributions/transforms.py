"""Invertible maps y = f(x) with log |det df/dx|, as torch.distributions.transforms: the pieces of
TransformedDistribution (a flow) and of ``biject_to`` / ``transform_to``.

    t = ComposeTransform([AffineTransform(1.0, 2.0), TanhTransform()])
    y = t(x);  x = t.inv(y);  t.log_abs_det_jacobian(x, y)

``cache_size=1`` keeps the last (x, y) pair, so ``t.inv(t(x))`` is x itself (no round trip
through atanh or log), as PyTorch's. Formulas as PyTorch's, so values and gradients agree.
"""

from __future__ import annotations

import math

import numpy as np

import dlpy.functional as F
from dlpy.distributions import constraints
from dlpy.distributions.distribution import (
    BroadcastError,
    _as_float_tensor,
    _shape_text,
    as_tensors,
    sum_rightmost,
)
from dlpy.ops import ArgAssertionError, ArgError, ArgTypeAssertionError
from dlpy.ops.linalg import cholesky
from dlpy.size import Size
from dlpy.tensor import Tensor, default_dtype

__all__ = [
    "AbsTransform", "AffineTransform", "CatTransform", "ComposeTransform",
    "CorrCholeskyTransform", "CumulativeDistributionTransform", "ExpTransform",
    "IndependentTransform", "LowerCholeskyTransform", "StackTransform",
    "PositiveDefiniteTransform", "PowerTransform", "ReshapeTransform", "SigmoidTransform",
    "SoftmaxTransform", "SoftplusTransform", "StickBreakingTransform", "TanhTransform",
    "Transform", "identity_transform",
]


def _tensor(x) -> Tensor:
    # an integer or bool Tensor promotes to the default dtype, as torch's float ops do
    if isinstance(x, Tensor) and x.dtype.name == "bfloat16":
        return x
    return _as_float_tensor(x, default_dtype() if isinstance(x, Tensor) else np.float64)


def power(x: Tensor, exponent) -> Tensor:
    """x ** exponent, the exponent a number or a Tensor (differentiable in both), as torch.pow."""
    return x**exponent


def _shape_of(value) -> tuple:
    return tuple(value.shape) if isinstance(value, (Tensor, np.ndarray)) else ()


def _broadcast(name: str, shape, *values) -> Size:
    """shape broadcast with the parameters' shapes: a Size, as torch.broadcast_shapes gives
    (AffineTransform's and PowerTransform's forward_shape / inverse_shape)."""
    try:
        return Size(np.broadcast_shapes(tuple(shape), *(_shape_of(v) for v in values)))
    except ValueError:
        raise BroadcastError(f"{name}: shape {_shape_text(shape)} does not broadcast with the "
                             f"parameters' {', '.join(_shape_text(_shape_of(v)) for v in values)}"
                             ) from None


def _clipped_sigmoid(x: Tensor) -> Tensor:
    finfo = np.finfo(x.dtype)
    return F.clamp(F.sigmoid(x), float(finfo.tiny), 1.0 - float(finfo.eps))


class Transform:
    """y = f(x): ``t(x)``, ``t.inv(y)``, ``t.log_abs_det_jacobian(x, y)`` (summed over
    ``domain.event_dim`` axes), ``domain`` / ``codomain`` constraints, ``bijective``, ``sign``
    (+1 or -1 for monotone maps of one variable), ``forward_shape`` / ``inverse_shape``."""

    bijective = False
    domain: constraints.Constraint = constraints.real
    codomain: constraints.Constraint = constraints.real

    def __init__(self, cache_size: int = 0):
        if isinstance(cache_size, bool) or cache_size not in (0, 1):
            raise ValueError(f"{type(self).__name__}: cache_size must be 0 or 1, got "
                             f"{cache_size!r}")
        self._cache_size = int(cache_size)
        self._inv: Transform | None = None
        self._cached_x_y = (None, None)

    @property
    def event_dim(self) -> int:
        if self.domain.event_dim == self.codomain.event_dim:
            return self.domain.event_dim
        raise ValueError(f"{type(self).__name__}: domain and codomain have different event_dim; "
                         "use .domain.event_dim or .codomain.event_dim")

    @property
    def inv(self) -> Transform:
        """The inverse transform (x = t.inv(y)), made once."""
        if self._inv is None:
            self._inv = _InverseTransform(self)
        return self._inv

    @property
    def sign(self):
        raise NotImplementedError(f"{type(self).__name__} has no sign")

    def with_cache(self, cache_size: int = 1) -> Transform:
        if self._cache_size == cache_size:
            return self
        if type(self).__init__ is Transform.__init__:
            return type(self)(cache_size=cache_size)
        raise NotImplementedError(f"{type(self).__name__}.with_cache is not implemented")

    def __eq__(self, other) -> bool:
        return self is other

    def __ne__(self, other) -> bool:
        return not self.__eq__(other)

    __hash__ = object.__hash__

    def __call__(self, x) -> Tensor:
        x = _tensor(x)
        if not self._cache_size:
            return self._call(x)
        x_old, y_old = self._cached_x_y
        if x is x_old:
            return y_old
        y = self._call(x)
        self._cached_x_y = (x, y)
        return y

    def _inv_call(self, y) -> Tensor:
        y = _tensor(y)
        if not self._cache_size:
            return self._inverse(y)
        x_old, y_old = self._cached_x_y
        if y is y_old:
            return x_old
        x = self._inverse(y)
        self._cached_x_y = (x, y)
        return x

    def _call(self, x: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement its forward map")

    def _inverse(self, y: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} is not invertible")

    def log_abs_det_jacobian(self, x, y) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement "
                                  "log_abs_det_jacobian")

    def forward_shape(self, shape):
        return shape  # as given (a tuple stays a tuple, a Size a Size), as torch's

    def inverse_shape(self, shape):
        return shape

    def __repr__(self) -> str:
        return type(self).__name__ + "()"


class _InverseTransform(Transform):
    """The inverse of a transform: calls its ``_inv_call``, negates its log-det."""

    def __init__(self, transform: Transform):
        super().__init__(cache_size=transform._cache_size)
        self._inv = transform

    @property
    def domain(self):
        return self._inv.codomain

    @property
    def codomain(self):
        return self._inv.domain

    @property
    def bijective(self) -> bool:
        return self._inv.bijective

    @property
    def sign(self):
        return self._inv.sign

    @property
    def inv(self) -> Transform:
        return self._inv

    def with_cache(self, cache_size: int = 1) -> Transform:
        return self._inv.with_cache(cache_size).inv

    def __eq__(self, other) -> bool:
        return isinstance(other, _InverseTransform) and self._inv == other._inv

    __hash__ = object.__hash__

    def __call__(self, x) -> Tensor:
        return self._inv._inv_call(x)

    def log_abs_det_jacobian(self, x, y) -> Tensor:
        return -self._inv.log_abs_det_jacobian(y, x)

    def forward_shape(self, shape) -> tuple[int, ...]:
        return self._inv.inverse_shape(shape)

    def inverse_shape(self, shape) -> tuple[int, ...]:
        return self._inv.forward_shape(shape)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._inv!r})"


class ComposeTransform(Transform):
    """``parts`` applied in order; its log-det sums theirs (over the axes each one's event
    covers)."""

    def __init__(self, parts, cache_size: int = 0):
        parts = list(parts)
        for i, part in enumerate(parts):
            if not isinstance(part, Transform):
                raise TypeError(f"ComposeTransform: parts[{i}] must be a Transform, got "
                                f"{type(part).__name__}")
        if cache_size:
            parts = [part.with_cache(cache_size) for part in parts]
        super().__init__(cache_size=cache_size)
        self.parts = parts

    def __eq__(self, other) -> bool:
        return isinstance(other, ComposeTransform) and self.parts == other.parts

    __hash__ = object.__hash__

    @property
    def domain(self):
        if not self.parts:
            return constraints.real
        domain = self.parts[0].domain
        event_dim = self.parts[-1].codomain.event_dim
        for part in reversed(self.parts):
            event_dim += part.domain.event_dim - part.codomain.event_dim
            event_dim = max(event_dim, part.domain.event_dim)
        if event_dim > domain.event_dim:
            domain = constraints.independent(domain, event_dim - domain.event_dim)
        return domain

    @property
    def codomain(self):
        if not self.parts:
            return constraints.real
        codomain = self.parts[-1].codomain
        event_dim = self.parts[0].domain.event_dim
        for part in self.parts:
            event_dim += part.codomain.event_dim - part.domain.event_dim
            event_dim = max(event_dim, part.codomain.event_dim)
        if event_dim > codomain.event_dim:
            codomain = constraints.independent(codomain, event_dim - codomain.event_dim)
        return codomain

    @property
    def bijective(self) -> bool:
        return all(part.bijective for part in self.parts)

    @property
    def sign(self):
        sign = 1
        for part in self.parts:
            sign = sign * part.sign
        return sign

    @property
    def inv(self) -> Transform:
        if self._inv is None:
            inverse = ComposeTransform([part.inv for part in reversed(self.parts)])
            inverse._inv = self
            self._inv = inverse
        return self._inv

    def with_cache(self, cache_size: int = 1) -> Transform:
        if self._cache_size == cache_size:
            return self
        return ComposeTransform(self.parts, cache_size=cache_size)

    def __call__(self, x) -> Tensor:
        x = _tensor(x)
        for part in self.parts:
            x = part(x)
        return x

    def log_abs_det_jacobian(self, x, y) -> Tensor:
        x, y = _tensor(x), _tensor(y)
        if not self.parts:
            return Tensor(np.zeros_like(x.data))
        xs = [x]
        for part in self.parts[:-1]:
            xs.append(part(xs[-1]))
        xs.append(y)
        total = None
        event_dim = self.domain.event_dim
        for part, x_i, y_i in zip(self.parts, xs[:-1], xs[1:]):
            term = sum_rightmost(part.log_abs_det_jacobian(x_i, y_i),
                                 event_dim - part.domain.event_dim)
            total = term if total is None else total + term
            event_dim += part.codomain.event_dim - part.domain.event_dim
        return total

    def forward_shape(self, shape):
        for part in self.parts:
            shape = part.forward_shape(shape)
        return shape

    def inverse_shape(self, shape):
        for part in reversed(self.parts):
            shape = part.inverse_shape(shape)
        return shape

    def __repr__(self) -> str:
        parts = ",\n    ".join(repr(p) for p in self.parts)
        return f"{type(self).__name__}(\n    {parts}\n)"


identity_transform = ComposeTransform([])


class IndependentTransform(Transform):
    """``base_transform`` with ``reinterpreted_batch_ndims`` more rightmost axes in one event:
    the log-det is summed over them."""

    def __init__(self, base_transform: Transform, reinterpreted_batch_ndims: int,
                 cache_size: int = 0):
        if not isinstance(base_transform, Transform):
            raise TypeError(f"IndependentTransform: base_transform must be a Transform, got "
                            f"{type(base_transform).__name__}")
        n = reinterpreted_batch_ndims
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"IndependentTransform: reinterpreted_batch_ndims must be a "
                             f"non-negative int, got {n!r}")
        super().__init__(cache_size=cache_size)
        self.base_transform = base_transform.with_cache(cache_size)
        self.reinterpreted_batch_ndims = int(n)

    def with_cache(self, cache_size: int = 1) -> Transform:
        if self._cache_size == cache_size:
            return self
        return IndependentTransform(self.base_transform, self.reinterpreted_batch_ndims,
                                    cache_size=cache_size)

    @property
    def domain(self):
        return constraints.independent(self.base_transform.domain, self.reinterpreted_batch_ndims)

    @property
    def codomain(self):
        return constraints.independent(self.base_transform.codomain,
                                       self.reinterpreted_batch_ndims)

    @property
    def bijective(self) -> bool:
        return self.base_transform.bijective

    @property
    def sign(self):
        return self.base_transform.sign

    def _check_ndim(self, value: Tensor, event_dim: int) -> None:
        if value.ndim < event_dim:
            raise ValueError(f"IndependentTransform: expected at least {event_dim} axes, got "
                             f"shape {_shape_text(value.shape)}")

    def _call(self, x: Tensor) -> Tensor:
        self._check_ndim(x, self.domain.event_dim)
        return self.base_transform(x)

    def _inverse(self, y: Tensor) -> Tensor:
        self._check_ndim(y, self.codomain.event_dim)
        return self.base_transform.inv(y)

    def log_abs_det_jacobian(self, x, y) -> Tensor:
        return sum_rightmost(self.base_transform.log_abs_det_jacobian(x, y),
                             self.reinterpreted_batch_ndims)

    def forward_shape(self, shape) -> tuple[int, ...]:
        return self.base_transform.forward_shape(shape)

    def inverse_shape(self, shape) -> tuple[int, ...]:
        return self.base_transform.inverse_shape(shape)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_transform!r}, {self.reinterpreted_batch_ndims})"


class ReshapeTransform(Transform):
    """Reshapes the rightmost ``in_shape`` axes to ``out_shape`` (same number of elements);
    log-det 0."""

    bijective = True

    def __init__(self, in_shape, out_shape, cache_size: int = 0):
        self.in_shape = tuple(int(n) for n in in_shape)
        self.out_shape = tuple(int(n) for n in out_shape)
        if math.prod(self.in_shape) != math.prod(self.out_shape):
            raise ValueError(f"ReshapeTransform: in_shape {_shape_text(self.in_shape)} and "
                             f"out_shape {_shape_text(self.out_shape)} have different numbers "
                             "of elements")
        super().__init__(cache_size=cache_size)

    @property
    def domain(self):
        return constraints.independent(constraints.real, len(self.in_shape))

    @property
    def codomain(self):
        return constraints.independent(constraints.real, len(self.out_shape))

    def with_cache(self, cache_size: int = 1) -> Transform:
        if self._cache_size == cache_size:
            return self
        return ReshapeTransform(self.in_shape, self.out_shape, cache_size=cache_size)

    def _call(self, x: Tensor) -> Tensor:
        batch_shape = x.shape[:x.ndim - len(self.in_shape)]
        return F.reshape(x, batch_shape + self.out_shape)

    def _inverse(self, y: Tensor) -> Tensor:
        batch_shape = y.shape[:y.ndim - len(self.out_shape)]
        return F.reshape(y, batch_shape + self.in_shape)

    def log_abs_det_jacobian(self, x, y) -> Tensor:
        x = _tensor(x)
        return Tensor(np.zeros(x.shape[:x.ndim - len(self.in_shape)], dtype=x.dtype))

    def _cut(self, shape, expected: tuple, other: tuple) -> tuple[int, ...]:
        shape = tuple(shape)
        cut = len(shape) - len(expected)
        if cut < 0 or shape[cut:] != expected:
            raise ValueError(f"ReshapeTransform: expected a shape ending in "
                             f"{_shape_text(expected)}, got {_shape_text(shape)}")
        return shape[:cut] + other

    def forward_shape(self, shape) -> tuple[int, ...]:
        return self._cut(shape, self.in_shape, self.out_shape)

    def inverse_shape(self, shape) -> tuple[int, ...]:
        return self._cut(shape, self.out_shape, self.in_shape)


class _Pointwise(Transform):
    """A parameter-free transform of one variable: equal to any other of its class."""

    bijective = True
    sign = 1

    def __eq__(self, other) -> bool:
        return type(other) is type(self)

    __hash__ = object.__hash__


class ExpTransform(_Pointwise):
    """y = exp(x); log-det x."""

    codomain = constraints.positive

    def _call(self, x):
        return x.exp()

    def _inverse(self, y):
        return y.log()

    def log_abs_det_jacobian(self, x, y):
        return _tensor(x)


class SigmoidTransform(_Pointwise):
    """y = sigmoid(x), clamped to [tiny, 1 - eps]; log-det -softplus(-x) - softplus(x)."""

    codomain = constraints.unit_interval

    def _call(self, x):
        return _clipped_sigmoid(x)

    def _inverse(self, y):
        finfo = np.finfo(y.dtype)
        y = F.clamp(y, float(finfo.tiny), 1.0 - float(finfo.eps))
        return y.log() - F.log1p(-y)

    def log_abs_det_jacobian(self, x, y):
        x = _tensor(x)
        return -F.softplus(-x) - F.softplus(x)


class SoftplusTransform(_Pointwise):
    """y = log(1 + exp(x)); log-det -softplus(-x)."""

    codomain = constraints.positive

    def _call(self, x):
        return F.softplus(x)

    def _inverse(self, y):
        return (-F.expm1(-y)).log() + y

    def log_abs_det_jacobian(self, x, y):
        return -F.softplus(-_tensor(x))


class TanhTransform(_Pointwise):
    """y = tanh(x); log-det 2 (log 2 - x - softplus(-2x)) (stable for large |x|)."""

    codomain = constraints.interval(-1.0, 1.0)

    def _call(self, x):
        return x.tanh()

    def _inverse(self, y):
        return F.atanh(y)

    def log_abs_det_jacobian(self, x, y):
        x = _tensor(x)
        return 2.0 * (math.log(2.0) - x - F.softplus(-2.0 * x))


class AbsTransform(_Pointwise):
    """y = |x|; not invertible (inv gives y back)."""

    bijective = False
    codomain = constraints.positive

    @property
    def sign(self):
        raise NotImplementedError("AbsTransform has no sign (it is not monotone)")

    def _call(self, x):
        return x.abs()

    def _inverse(self, y):
        return y


def _parameter(name: str, what: str, value):
    """A number stays a number (as PyTorch keeps it); anything else becomes a Tensor."""
    if isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool):
        return float(value)
    (tensor,) = as_tensors(name, (what,), value)
    return tensor


def _equal(a, b) -> bool:
    a = a.data if isinstance(a, Tensor) else np.asarray(a)
    b = b.data if isinstance(b, Tensor) else np.asarray(b)
    return bool(np.all(a == b))


class AffineTransform(Transform):
    """y = loc + scale * x (numbers or Tensors that broadcast with x); ``event_dim`` axes form
    one event (the log-det sums log |scale| over them)."""

    bijective = True

    def __init__(self, loc, scale, event_dim: int = 0, cache_size: int = 0):
        super().__init__(cache_size=cache_size)
        self.loc = _parameter("AffineTransform", "loc", loc)
        self.scale = _parameter("AffineTransform", "scale", scale)
        if isinstance(event_dim, bool) or not isinstance(event_dim, (int, np.integer)) \
                or event_dim < 0:
            raise ValueError(f"AffineTransform: event_dim must be a non-negative int, got "
                             f"{event_dim!r}")
        self._event_dim = int(event_dim)

    @property
    def event_dim(self) -> int:
        return self._event_dim

    @property
    def domain(self):
        return constraints.independent(constraints.real, self._event_dim) if self._event_dim \
            else constraints.real

    codomain = domain

    def with_cache(self, cache_size: int = 1) -> Transform:
        if self._cache_size == cache_size:
            return self
        return AffineTransform(self.loc, self.scale, self._event_dim, cache_size=cache_size)

    def __eq__(self, other) -> bool:
        return (isinstance(other, AffineTransform) and _equal(self.loc, other.loc)
                and _equal(self.scale, other.scale))

    __hash__ = object.__hash__

    @property
    def sign(self):
        if isinstance(self.scale, float):
            return int(np.sign(self.scale))
        return Tensor(np.sign(self.scale.data))

    def _call(self, x):
        return self.loc + self.scale * x

    def _inverse(self, y):
        return (y - self.loc) / self.scale

    def log_abs_det_jacobian(self, x, y):
        x = _tensor(x)
        shape = x.shape
        if isinstance(self.scale, float):
            result = Tensor(np.full(shape, math.log(abs(self.scale)), dtype=x.dtype))
        else:
            result = self.scale.abs().log()
        if self._event_dim:
            result = F.reshape(result, result.shape[:result.ndim - self._event_dim] + (-1,))
            result = result.sum(axis=-1)
            shape = shape[:len(shape) - self._event_dim]
        return result if result.shape == shape else F.expand(result, shape)

    def forward_shape(self, shape) -> tuple[int, ...]:
        return _broadcast("AffineTransform", shape, self.loc, self.scale)

    inverse_shape = forward_shape


class PowerTransform(Transform):
    """y = x ** exponent on x > 0; log-det log |exponent y / x|."""

    bijective = True
    domain = constraints.positive
    codomain = constraints.positive

    def __init__(self, exponent, cache_size: int = 0):
        super().__init__(cache_size=cache_size)
        (self.exponent,) = as_tensors("PowerTransform", ("exponent",), exponent)

    def with_cache(self, cache_size: int = 1) -> Transform:
        if self._cache_size == cache_size:
            return self
        return PowerTransform(self.exponent, cache_size=cache_size)

    @property
    def sign(self):
        return Tensor(np.sign(self.exponent.data))

    def __eq__(self, other) -> bool:
        return isinstance(other, PowerTransform) and _equal(self.exponent, other.exponent)

    __hash__ = object.__hash__

    def _call(self, x):
        return power(x, self.exponent)

    def _inverse(self, y):
        return power(y, 1 / self.exponent)

    def log_abs_det_jacobian(self, x, y):
        return (self.exponent * _tensor(y) / _tensor(x)).abs().log()

    def forward_shape(self, shape) -> tuple[int, ...]:
        return _broadcast("PowerTransform", shape, self.exponent)

    inverse_shape = forward_shape


class _VectorTransform(Transform):
    """Maps vectors (the last axis); the shape checks of its subclasses."""

    domain = constraints.real_vector
    codomain = constraints.simplex

    def __eq__(self, other) -> bool:
        return type(other) is type(self)

    __hash__ = object.__hash__

    def _vector(self, shape) -> tuple[int, ...]:
        shape = tuple(shape)
        if not shape:
            raise ValueError(f"{type(self).__name__}: expected at least one axis, got shape ()")
        return shape


class SoftmaxTransform(_VectorTransform):
    """y = softmax(x) over the last axis (not bijective: inv gives log y)."""

    def _call(self, x):
        return F.softmax(x, dim=-1)

    def _inverse(self, y):
        return y.log()

    def forward_shape(self, shape):
        return self._vector(shape)

    inverse_shape = forward_shape


def _offsets(k: int, first: int, dtype) -> np.ndarray:
    """first, first - 1, ..., first - k + 1."""
    return (first - np.arange(k)).astype(dtype)


class StickBreakingTransform(_VectorTransform):
    """R^K -> the simplex in R^(K+1) by breaking a stick: z_k = sigmoid(x_k - log(K + 1 - k)),
    y_k = z_k prod_{j<k} (1 - z_j), the last entry what remains. Bijective."""

    bijective = True

    def _call(self, x):
        offset = _offsets(x.shape[-1], x.shape[-1], x.dtype)
        z = _clipped_sigmoid(x - np.log(offset))
        z_cumprod = F.cumprod(1 - z, -1)
        return F.pad(z, (0, 1), value=1.0) * F.pad(z_cumprod, (1, 0), value=1.0)

    def _inverse(self, y):
        y_crop = y[..., :-1]
        offset = _offsets(y_crop.shape[-1], y.shape[-1] - 1, y.dtype)
        sf = F.clamp(1 - F.cumsum(y_crop, -1), min=float(np.finfo(y.dtype).tiny))
        return y_crop.log() - sf.log() + np.log(offset)

    def log_abs_det_jacobian(self, x, y):
        x, y = _tensor(x), _tensor(y)
        x = x - np.log(_offsets(x.shape[-1], x.shape[-1], x.dtype))
        return (-x + F.logsigmoid(x) + y[..., :-1].log()).sum(axis=-1)

    def forward_shape(self, shape):
        shape = self._vector(shape)
        return shape[:-1] + (shape[-1] + 1,)

    def inverse_shape(self, shape):
        shape = self._vector(shape)
        return shape[:-1] + (shape[-1] - 1,)


def _diagonal(x: Tensor) -> Tensor:
    return F.diagonal(x, dim1=-2, dim2=-1)


class LowerCholeskyTransform(Transform):
    """Unconstrained square matrices -> lower-triangular ones with a positive diagonal: the
    strict lower triangle kept, the diagonal exponentiated (not bijective: no log-det)."""

    domain = constraints.independent(constraints.real, 2)
    codomain = constraints.lower_cholesky

    def __eq__(self, other) -> bool:
        return isinstance(other, LowerCholeskyTransform)

    __hash__ = object.__hash__

    def _call(self, x):
        return F.tril(x, -1) + F.diag_embed(_diagonal(x).exp())

    def _inverse(self, y):
        return F.tril(y, -1) + F.diag_embed(_diagonal(y).log())


class PositiveDefiniteTransform(Transform):
    """Unconstrained square matrices -> positive-definite ones, L L^T with L from
    LowerCholeskyTransform."""

    domain = constraints.independent(constraints.real, 2)
    codomain = constraints.positive_definite

    def __eq__(self, other) -> bool:
        return isinstance(other, PositiveDefiniteTransform)

    __hash__ = object.__hash__

    def _call(self, x):
        lower = LowerCholeskyTransform()(x)
        return lower @ F.swapaxes(lower, -2, -1)

    def _inverse(self, y):
        return LowerCholeskyTransform().inv(cholesky(y))


class CumulativeDistributionTransform(Transform):
    """y = distribution.cdf(x), onto [0, 1]; inverse its icdf, log-det its log_prob."""

    bijective = True
    sign = 1
    codomain = constraints.unit_interval

    def __init__(self, distribution, cache_size: int = 0):
        super().__init__(cache_size=cache_size)
        self.distribution = distribution

    @property
    def domain(self):
        return self.distribution.support

    def with_cache(self, cache_size: int = 1) -> Transform:
        if self._cache_size == cache_size:
            return self
        return CumulativeDistributionTransform(self.distribution, cache_size=cache_size)

    def _call(self, x):
        return self.distribution.cdf(x)

    def _inverse(self, y):
        return self.distribution.icdf(y)

    def log_abs_det_jacobian(self, x, y):
        return self.distribution.log_prob(x)


def _tril_mask(n: int, diag: int) -> np.ndarray:
    """The (n, n) mask of the entries on or below the ``diag``-th diagonal."""
    arange = np.arange(n)
    return arange < arange[:, None] + (diag + 1)


def tril_matrix_to_vec(mat: Tensor, diag: int = 0) -> Tensor:
    """The entries of (..., n, n) matrices on or below the ``diag``-th diagonal, row by row."""
    n = mat.shape[-1]
    if not -n <= diag < n:
        raise ValueError(f"tril_matrix_to_vec: diag {diag} is outside [{-n}, {n - 1}]")
    flat = F.reshape(mat, mat.shape[:-2] + (n * n,))
    return flat[..., np.flatnonzero(_tril_mask(n, diag))]


def vec_to_tril_matrix(vec: Tensor, diag: int = 0) -> Tensor:
    """(..., m) -> (..., n, n) lower-triangular matrices holding the entries row by row on and
    below the ``diag``-th diagonal (zeros elsewhere)."""
    m = vec.shape[-1]
    n = 0
    while int(_tril_mask(n, diag).sum()) < m:
        n += 1
    if int(_tril_mask(n, diag).sum()) != m:
        raise ArgError(f"vec_to_tril_matrix: a last axis of {m} is not the lower triangle "
                       f"(diag {diag}) of a square matrix")
    index = np.zeros((n, n), dtype=np.int64)
    index[_tril_mask(n, diag)] = np.arange(1, m + 1)  # 0 picks the padded zero
    return F.pad(vec, (1, 0))[..., index]


class CorrCholeskyTransform(Transform):
    """Unconstrained vectors of length D (D - 1) / 2 -> Cholesky factors of D x D correlation
    matrices: tanh, then a signed stick-breaking of each row of the strict lower triangle so
    each row has unit length. Bijective; the log-det is of x and y's strict lower triangle."""

    domain = constraints.real_vector
    codomain = constraints.corr_cholesky
    bijective = True

    def _call(self, x):
        eps = float(np.finfo(x.dtype).eps)
        r = vec_to_tril_matrix(F.clamp(F.tanh(x), -1 + eps, 1 - eps), diag=-1)
        # y = sign(r) sqrt(z * cumprod(1 - z)) with z = r^2, = r * sqrt(cumprod(1 - z))
        z1m_cumprod_sqrt = F.cumprod((1 - r**2).sqrt(), -1)
        r = r + np.eye(r.shape[-1], dtype=r.dtype)
        return r * F.pad(z1m_cumprod_sqrt[..., :-1], (1, 0), value=1.0)

    def _inverse(self, y):
        y_cumsum = 1 - F.cumsum(y * y, -1)
        y_cumsum_shifted = F.pad(y_cumsum[..., :-1], (1, 0), value=1.0)
        t = tril_matrix_to_vec(y, diag=-1) / tril_matrix_to_vec(y_cumsum_shifted, diag=-1).sqrt()
        return (F.log1p(t) - F.log1p(-t)) / 2

    def log_abs_det_jacobian(self, x, y):
        x, y = _tensor(x), _tensor(y)
        y1m_cumsum = 1 - F.cumsum(y * y, -1)
        stick_breaking_logdet = 0.5 * tril_matrix_to_vec(y1m_cumsum, diag=-2).log().sum(axis=-1)
        tanh_logdet = -2 * (x + F.softplus(-2 * x) - math.log(2.0)).sum(axis=-1)
        return stick_breaking_logdet + tanh_logdet

    def forward_shape(self, shape):
        if len(shape) < 1:
            raise ValueError("CorrCholeskyTransform: expected at least one axis, got shape ()")
        n = shape[-1]
        d = round((0.25 + 2 * n) ** 0.5 + 0.5)
        if d * (d - 1) // 2 != n:
            raise ValueError(f"CorrCholeskyTransform: a last axis of {n} is not D (D - 1) / 2")
        return tuple(shape[:-1]) + (d, d)

    def inverse_shape(self, shape):
        if len(shape) < 2 or shape[-1] != shape[-2]:
            raise ValueError(f"CorrCholeskyTransform: expected square matrices, got shape "
                             f"{_shape_text(tuple(shape))}")
        d = shape[-1]
        return tuple(shape[:-2]) + (d * (d - 1) // 2,)


def _transforms(name: str, tseq, cache_size: int) -> list:
    tseq = list(tseq)
    if not tseq or not all(isinstance(t, Transform) for t in tseq):
        raise ArgTypeAssertionError(f"{name}: expected a non-empty sequence of Transforms, got "
                                    f"{tseq!r}")
    return [t.with_cache(cache_size) for t in tseq] if cache_size else tseq


def _dim(name: str, dim: int, value: Tensor, size: int) -> tuple:
    """The index prefix (:, ..., :) up to axis ``dim`` of value, whose length there must be
    ``size``."""
    if not -value.ndim <= dim < value.ndim:
        raise ArgAssertionError(f"{name}: dim {dim} out of range for a value with {value.ndim} "
                                f"axes")
    if value.shape[dim] != size:
        raise ArgAssertionError(f"{name}: expected size {size} along dim {dim}, got shape "
                                f"{_shape_text(value.shape)}")
    return (slice(None),) * (dim % value.ndim)


class _PieceWise(Transform):
    """``transforms[i]`` applied to the i-th piece of a value along ``dim``: what CatTransform
    and StackTransform share. A subclass says how a value splits (``_pieces``) and how the
    results, or the transforms' constraints, are put together (``_join``, ``_join_constraints``)."""

    @property
    def bijective(self) -> bool:
        return all(t.bijective for t in self.transforms)

    @property
    def domain(self):
        return self._join_constraints([t.domain for t in self.transforms])

    @property
    def codomain(self):
        return self._join_constraints([t.codomain for t in self.transforms])

    def _call(self, x):
        return self._join([t(p) for t, p in zip(self.transforms, self._pieces(x))])

    def _inverse(self, y):
        return self._join([t.inv(p) for t, p in zip(self.transforms, self._pieces(y))])


class CatTransform(_PieceWise):
    """``tseq[i]`` applied to the i-th block (of ``lengths[i]``, default 1) along ``dim``, the
    results concatenated as torch.cat."""

    def __init__(self, tseq, dim: int = 0, lengths=None, cache_size: int = 0):
        super().__init__(cache_size=cache_size)
        self.transforms = _transforms("CatTransform", tseq, cache_size)
        self.lengths = constraints.block_lengths("CatTransform", lengths, len(self.transforms),
                                                 "transforms")
        self.dim = dim

    @property
    def event_dim(self) -> int:
        return max(t.event_dim for t in self.transforms)

    @property
    def length(self) -> int:
        return sum(self.lengths)

    def with_cache(self, cache_size: int = 1) -> Transform:
        if self._cache_size == cache_size:
            return self
        return CatTransform(self.transforms, self.dim, self.lengths, cache_size)

    def _join_constraints(self, cseq):
        return constraints.cat(cseq, self.dim, self.lengths)

    def _join(self, parts):
        return F.cat(parts, self.dim)

    def _pieces(self, value: Tensor) -> list[Tensor]:
        head = _dim("CatTransform", self.dim, value, self.length)
        bounds = np.cumsum([0] + self.lengths)
        return [value[head + (slice(int(a), int(b)),)] for a, b in zip(bounds, bounds[1:])]

    def log_abs_det_jacobian(self, x, y):
        x, y = _tensor(x), _tensor(y)
        parts = []
        for t, xb, yb in zip(self.transforms, self._pieces(x), self._pieces(y)):
            parts.append(sum_rightmost(t.log_abs_det_jacobian(xb, yb),
                                       self.event_dim - t.event_dim))
        dim = (self.dim - x.ndim if self.dim >= 0 else self.dim) + self.event_dim
        return F.cat(parts, dim) if dim < 0 else sum(parts[1:], parts[0])


class StackTransform(_PieceWise):
    """``tseq[i]`` applied to the i-th slice along ``dim``, the results stacked as torch.stack."""

    def __init__(self, tseq, dim: int = 0, cache_size: int = 0):
        super().__init__(cache_size=cache_size)
        self.transforms = _transforms("StackTransform", tseq, cache_size)
        self.dim = dim

    def with_cache(self, cache_size: int = 1) -> Transform:
        if self._cache_size == cache_size:
            return self
        return StackTransform(self.transforms, self.dim, cache_size)

    def _join_constraints(self, cseq):
        return constraints.stack(cseq, self.dim)

    def _join(self, parts):
        return F.stack(parts, self.dim)

    def _pieces(self, value: Tensor) -> list[Tensor]:
        head = _dim("StackTransform", self.dim, value, len(self.transforms))
        return [value[head + (i,)] for i in range(len(self.transforms))]

    def log_abs_det_jacobian(self, x, y):
        x, y = _tensor(x), _tensor(y)
        return F.stack([t.log_abs_det_jacobian(xs, ys) for t, xs, ys in
                        zip(self.transforms, self._pieces(x), self._pieces(y))], self.dim)
