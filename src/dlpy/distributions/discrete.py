"""Discrete distributions: Bernoulli, Categorical, OneHotCategorical, Poisson, Binomial.

Bernoulli, Categorical and Binomial take ``probs`` or ``logits`` (not both); the other is
computed from it when asked for (not cached, so each use records a fresh graph). Samples
are floats, as PyTorch's, except Categorical's, which are int64 class indices."""

from __future__ import annotations

import numpy as np

import dlpy.functional as F
from dlpy import random_streams
from dlpy.distributions import constraints
from dlpy.distributions.distribution import (
    Distribution,
    _derived,
    _shape_text,
    broadcast_all,
    broadcast_pair,
    probs_to_logits,
)
from dlpy.ops import NoKernelError
from dlpy.ops.special import lgamma, xlogy
from dlpy.tensor import Tensor, is_floating_dtype

__all__ = ["Bernoulli", "Binomial", "Categorical", "OneHotCategorical", "Poisson"]


def _one_of(name: str, probs, logits) -> None:
    if (probs is None) == (logits is None):
        raise ValueError(f"{name}: give either probs or logits, not both (and not neither)")


def _enumerate(values: np.ndarray, batch_shape: tuple, event_shape: tuple,
               expand: bool) -> Tensor:
    """values (n, *event) -> (n, 1, ..., 1, *event) or, expanded, (n, *batch, *event): a
    view with stride 0 along the batch axes, as torch's expand."""
    n = values.shape[0]
    values = Tensor(values.reshape((n,) + (1,) * len(batch_shape) + event_shape))
    return values.expand((n,) + tuple(batch_shape) + tuple(event_shape)) if expand else values


class _Binary(Distribution):
    """Bernoulli trials of probability ``probs`` or sigmoid(``logits``): the one given is kept,
    the other computed from it when asked for."""

    def _probs_or_logits(self, probs, logits, **others) -> Tensor:
        """Keep ``others`` and the one of probs / logits given, broadcast together as Tensors
        (in that order); returns the probs or logits."""
        name = type(self).__name__
        _one_of(name, probs, logits)
        what, value = ("probs", probs) if probs is not None else ("logits", logits)
        names = (*others, what)
        tensors = broadcast_all(name, names, *others.values(), value)
        self.__dict__.update(zip(names, tensors))
        return tensors[-1]

    @_derived
    def logits(self) -> Tensor:
        """log(p) - log(1 - p), p clamped to [eps, 1 - eps]."""
        return probs_to_logits(self.probs, is_binary=True)

    @_derived
    def probs(self) -> Tensor:
        """sigmoid(logits)."""
        return F.sigmoid(self.logits)

    @property
    def param_shape(self) -> tuple[int, ...]:
        return self.batch_shape


def _bce_with_logits(logits: Tensor, target) -> Tensor:
    """torch's binary_cross_entropy_with_logits(logits, target, reduction="none"):
    (1 - target) * logits - log_sigmoid(logits), in that order (its rounding), each step in
    target's dtype (torch's kernel multiplies and subtracts in place into 1 - target: float64
    logits with a float32 target give float32)."""
    if not isinstance(target, Tensor) or target.dtype == logits.dtype:
        return (1 - target) * logits - F.logsigmoid(logits)
    dtype = target.dtype
    return (((1 - target) * logits).to(dtype) - F.logsigmoid(logits)).to(dtype)


class Bernoulli(_Binary):
    """1 with probability ``probs`` (or sigmoid(``logits``)), else 0."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.boolean
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args: bool | None = None):
        param = self._probs_or_logits(probs, logits)
        super().__init__(param.shape, validate_args=validate_args)

    @property
    def mean(self) -> Tensor:
        return self.probs

    @property
    def mode(self) -> Tensor:
        p = self.probs.data
        return Tensor(np.where(p == 0.5, np.nan, (p > 0.5).astype(p.dtype)).astype(p.dtype))

    @property
    def variance(self) -> Tensor:
        probs = self.probs
        return probs * (1 - probs)

    def sample(self, sample_shape=(), *, generator=None, rng=None) -> Tensor:
        shape = self._extended_shape(sample_shape)
        probs = self.probs.data
        # torch's bernoulli of the expanded probabilities (a float32 uniform each for float32)
        drawn = random_streams.bernoulli(self._rng(generator, rng), shape,
                                         np.broadcast_to(probs, shape))
        return Tensor(drawn.astype(probs.dtype))

    def log_prob(self, value) -> Tensor:
        """-BCE-with-logits(logits, value), in torch's kernel's order."""
        return -_bce_with_logits(*broadcast_pair(self.logits, self._value(value)))

    def entropy(self) -> Tensor:
        return _bce_with_logits(self.logits, self.probs)

    def enumerate_support(self, expand: bool = True) -> Tensor:
        return _enumerate(np.arange(2, dtype=self._dtype()), self.batch_shape, (), expand)


class Categorical(Distribution):
    """A class index in 0..K-1 with probabilities ``probs`` (normalised over the last axis) or
    softmax(``logits``); the last axis of the parameter holds the K classes."""

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args: bool | None = None):
        _one_of(type(self).__name__, probs, logits)
        what = "probs" if probs is not None else "logits"
        (param,) = broadcast_all(type(self).__name__, (what,),
                                 probs if probs is not None else logits)
        if param.ndim < 1:
            raise ValueError(f"{type(self).__name__}: {what} must have at least one axis (the "
                             f"classes), got shape {_shape_text(param.shape)}")
        if probs is not None:
            self.probs = param / param.sum(axis=-1, keepdims=True)
            param = self.probs
        else:
            self.logits = param - F.logsumexp(param, axis=-1, keepdims=True)
            param = self.logits
        self._num_events = param.shape[-1]
        super().__init__(param.shape[:-1], validate_args=validate_args)

    @_derived
    def logits(self) -> Tensor:
        """log(probs), probs clamped to [eps, 1 - eps]."""
        return probs_to_logits(self.probs)

    @_derived
    def probs(self) -> Tensor:
        """softmax(logits)."""
        return F.softmax(self.logits, dim=-1)

    @property
    def param_shape(self) -> tuple[int, ...]:
        return self.batch_shape + (self._num_events,)

    @constraints.dependent_property(is_discrete=True, event_dim=0)
    def support(self):
        return constraints.integer_interval(0, self._num_events - 1)

    @property
    def mean(self) -> Tensor:
        return Tensor(np.full(self._extended_shape(), np.nan, dtype=self._dtype()))

    @property
    def variance(self) -> Tensor:
        return self.mean

    @property
    def mode(self) -> Tensor:
        return Tensor(np.argmax(self.probs.data, axis=-1))

    def sample(self, sample_shape=(), *, generator=None, rng=None) -> Tensor:
        """int64 class indices of shape sample_shape + batch_shape, by inverting the CDF."""
        shape = self._extended_shape(sample_shape)
        probs = self.probs.data.reshape(-1, self._num_events).astype(np.float64)
        cdf = np.cumsum(probs, axis=-1)
        cdf /= cdf[:, -1:]  # exactly 1 at the end: every u in [0, 1) finds a class
        count = int(np.prod(shape[:len(shape) - len(self.batch_shape)], dtype=np.int64))
        generator = self._rng(generator, rng)
        if random_streams.is_torch(generator):  # torch's: multinomial(probs, count, True).T
            from dlpy.torch_functions import _multinomial_torch

            drawn = _multinomial_torch(generator, self.probs.data.reshape(probs.shape),
                                       count, True)
            return Tensor(drawn.T.reshape(shape))
        u = generator.random((count, len(probs), 1))
        # the first class whose CDF exceeds u: classes of probability 0 are never chosen
        indices = (cdf <= u).sum(axis=-1)
        return Tensor(np.minimum(indices, self._num_events - 1).astype(np.int64).reshape(shape))

    def _indices(self, value, method: str = "log_prob") -> np.ndarray:
        if self._validate_args and not isinstance(value, Tensor):
            self._validate_sample(value, method)  # (raises: a Tensor, as torch's)
        value = value.data if isinstance(value, Tensor) else np.asarray(value)
        if self._validate_args:
            self._validate_sample(Tensor(value), method)
        return value.astype(np.int64)

    def log_prob(self, value) -> Tensor:
        """log probs[value]: value holds class indices (any shape that broadcasts with
        batch_shape)."""
        indices = self._indices(value)
        shape = np.broadcast_shapes(indices.shape, self.batch_shape)
        logits = self.logits
        if logits.shape[:-1] != shape:
            logits = F.expand(logits, shape + (self._num_events,))
        picked = F.gather(logits, -1, np.broadcast_to(indices, shape)[..., None])
        return F.reshape(picked, shape)

    def entropy(self) -> Tensor:
        """-sum p log p, logits clamped to the dtype's lowest finite value (0 * -inf is 0)."""
        logits = F.clamp(self.logits, min=float(np.finfo(self._dtype()).min))
        return -(logits * self.probs).sum(axis=-1)

    def enumerate_support(self, expand: bool = True) -> Tensor:
        return _enumerate(np.arange(self._num_events), self.batch_shape, (), expand)


class _OverCategorical(Distribution):
    """A family over K classes (event_shape (K,)) built on the Categorical(probs or logits) it
    keeps as ``_categorical``, whose parameters it shows as its own (OneHotCategorical,
    Multinomial, ExpRelaxedCategorical)."""

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}

    def __init__(self, probs=None, logits=None, validate_args: bool | None = None):
        # built without validate_args, as torch's: it checks probs / logits by the default
        # (on) even when validate_args=False
        self._categorical = Categorical(probs, logits)
        super().__init__(self._categorical.batch_shape, (self._categorical._num_events,),
                         validate_args=validate_args)

    def _expand_extra(self, new: Distribution, batch_shape: tuple) -> None:
        new._categorical = self._categorical.expand(batch_shape)

    def _dtype(self) -> np.dtype:
        return self._categorical._dtype()

    @property
    def probs(self) -> Tensor:
        return self._categorical.probs

    @property
    def logits(self) -> Tensor:
        return self._categorical.logits

    @property
    def param_shape(self) -> tuple[int, ...]:
        return self._categorical.param_shape


class OneHotCategorical(_OverCategorical):
    """A Categorical whose samples are one-hot vectors of length K (event_shape (K,))."""

    support = constraints.one_hot
    has_enumerate_support = True

    @property
    def mean(self) -> Tensor:
        return self.probs

    @property
    def mode(self) -> Tensor:
        probs = self.probs.data
        return Tensor(np.eye(probs.shape[-1], dtype=probs.dtype)[np.argmax(probs, axis=-1)])

    @property
    def variance(self) -> Tensor:
        probs = self.probs
        return probs * (1 - probs)

    def sample(self, sample_shape=(), *, generator=None, rng=None) -> Tensor:
        indices = self._categorical.sample(sample_shape, generator=generator, rng=rng).data
        return Tensor(np.eye(self.event_shape[0], dtype=self._dtype())[indices])

    def log_prob(self, value) -> Tensor:
        value = self._value(value)
        return self._categorical.log_prob(Tensor(np.argmax(value.data, axis=-1)))

    def entropy(self) -> Tensor:
        return self._categorical.entropy()

    def enumerate_support(self, expand: bool = True) -> Tensor:
        n = self.event_shape[0]
        return _enumerate(np.eye(n, dtype=self._dtype()), self.batch_shape, (n,), expand)

    def __repr__(self) -> str:
        return repr(self._categorical).replace("Categorical", "OneHotCategorical", 1)


class Poisson(Distribution):
    """Counts k = 0, 1, ... with probability rate^k e^-rate / k!."""

    arg_constraints = {"rate": constraints.nonnegative}
    support = constraints.nonnegative_integer

    def __init__(self, rate, validate_args: bool | None = None):
        if isinstance(rate, Tensor) and rate.dtype.kind in "iub":
            # an integer Tensor kept as it is, as torch's broadcast_all: its mean, variance
            # and mode are integers, and sampling it is refused (no integer poisson kernel)
            self.rate = rate
        else:
            (self.rate,) = broadcast_all("Poisson", ("rate",), rate)
        super().__init__(self.rate.shape, validate_args=validate_args)

    @property
    def mean(self) -> Tensor:
        return self.rate

    @property
    def mode(self) -> Tensor:
        return F.floor(self.rate)

    @property
    def variance(self) -> Tensor:
        return self.rate

    def sample(self, sample_shape=(), *, generator=None, rng=None) -> Tensor:
        shape = self._extended_shape(sample_shape)
        rate = self.rate.data
        if not is_floating_dtype(rate.dtype):
            raise NoKernelError(f"Poisson.sample: \"poisson_cpu\" not implemented for "
                                f"{rate.dtype} rates (as torch's; give a float rate)")
        counts = random_streams.poisson(self._rng(generator, rng), np.broadcast_to(rate, shape))
        return Tensor(counts.astype(rate.dtype))

    def log_prob(self, value) -> Tensor:
        rate, value = broadcast_pair(self.rate, self._value(value))
        return xlogy(value, rate) - rate - lgamma(value + 1)


class Binomial(_Binary):
    """The number of successes in ``total_count`` trials of probability ``probs`` (or
    sigmoid(``logits``)); total_count broadcasts with the probabilities."""

    arg_constraints = {"total_count": constraints.nonnegative_integer,
                       "probs": constraints.unit_interval, "logits": constraints.real}
    has_enumerate_support = True

    def __init__(self, total_count=1, probs=None, logits=None,
                 validate_args: bool | None = None):
        param = self._probs_or_logits(probs, logits, total_count=total_count)
        if self.total_count.dtype != param.dtype:
            # torch's type_as: differentiable, so a float32 total_count keeps its gradient
            self.total_count = self.total_count.to(param.dtype)
        super().__init__(param.shape, validate_args=validate_args)

    @constraints.dependent_property(is_discrete=True, event_dim=0)
    def support(self):
        return constraints.integer_interval(0, self.total_count)

    @property
    def mean(self) -> Tensor:
        return self.total_count * self.probs

    @property
    def mode(self) -> Tensor:
        return F.minimum(F.floor((self.total_count + 1) * self.probs), self.total_count)

    @property
    def variance(self) -> Tensor:
        probs = self.probs
        return self.total_count * probs * (1 - probs)

    def sample(self, sample_shape=(), *, generator=None, rng=None) -> Tensor:
        shape = self._extended_shape(sample_shape)
        n = np.broadcast_to(self.total_count.data, shape)
        p = np.broadcast_to(self.probs.data, shape)
        return Tensor(random_streams.binomial(self._rng(generator, rng), n, p))

    def log_prob(self, value) -> Tensor:
        """log C(n, k) + k logits - n log(1 + exp(logits))."""
        value = self._value(value)
        n, logits = self.total_count, self.logits
        log_factorial_n = lgamma(n + 1)
        # log(1 + e^logits) split as torch's, so float32 rounds the same way
        # (max(x, 0) with gradient 1/2 at 0, as torch's _clamp_by_zero)
        clamped = (logits.clamp(min=0) + logits - logits.clamp(max=0)) / 2
        normalize_term = n * clamped + n * (-logits.abs()).exp().log1p() - log_factorial_n
        return value * logits - lgamma(value + 1) - lgamma(n - value + 1) - normalize_term

    def _homogeneous_count(self, name: str) -> int:
        counts = self.total_count.data
        total = int(counts.max()) if counts.size else 0
        if counts.size and counts.min() != total:
            raise NotImplementedError(f"Binomial.{name}: total_count must be the same "
                                      "everywhere (as PyTorch's)")
        return total

    def entropy(self) -> Tensor:
        """-sum over k = 0..n of p(k) log p(k) (one total_count for the whole batch)."""
        self._homogeneous_count("entropy")
        log_prob = self.log_prob(self.enumerate_support(expand=False))
        return -(log_prob.exp() * log_prob).sum(axis=0)

    def enumerate_support(self, expand: bool = True) -> Tensor:
        total = self._homogeneous_count("enumerate_support")
        return _enumerate(np.arange(total + 1, dtype=self._dtype()), self.batch_shape, (),
                          expand)
