"""torch's ``torch._foreach_*`` functions: one op applied over lists of tensors, as optimisers
and soft target updates (``torch._foreach_lerp_(target_params, online_params, tau)``) call
them. Each is a loop over the Tensor methods of the same name, so values, dtypes, autograd and
in-place rules are those of the single-tensor op. ``dlpy/__init__.py`` exports TOP_LEVEL."""

from __future__ import annotations

from dlpy.tensor import Tensor

TOP_LEVEL: list[str] = []


def _list(name: str, tensors) -> list:
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("Tensor list must have at least one tensor.")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}: expected Tensor as element {i} in argument 0, but got "
                            f"{type(t).__name__}")
    return tensors


def _others(name: str, other, n: int) -> list:
    """other broadcast over n tensors: a scalar or a Tensor as it is, a list (of tensors or of
    scalars) element by element."""
    if isinstance(other, (list, tuple)):
        if len(other) != n:
            raise RuntimeError(f"Tensor lists must have the same number of tensors, got {n} "
                               f"and {len(other)}")
        return list(other)
    return [other] * n


def _check_alpha(name: str, other, kwargs: dict) -> None:
    """torch takes ``alpha=`` with a list of Tensors or one Tensor only: numbers refused."""
    if "alpha" in kwargs and not isinstance(other, Tensor) and not (
            isinstance(other, (list, tuple)) and all(isinstance(o, Tensor) for o in other)):
        raise TypeError(f"{name}: alpha= goes with a list of Tensors or one Tensor, not with "
                        f"numbers (got {type(other).__name__}); scale the numbers instead")


def _binary(method: str, keyword: str | None = None):
    def plain(self, other, **kwargs):
        _check_alpha(f"_foreach_{method}", other, kwargs)
        ts = _list(f"_foreach_{method}", self)
        return tuple(getattr(t, method)(o, **kwargs)
                     for t, o in zip(ts, _others(method, other, len(ts))))

    def inplace(self, other, **kwargs):
        _check_alpha(f"_foreach_{method}_", other, kwargs)
        ts = _list(f"_foreach_{method}_", self)
        for t, o in zip(ts, _others(method, other, len(ts))):
            getattr(t, method + "_")(o, **kwargs)
        return self

    return plain, inplace


def _unary(method: str):
    def plain(self):
        return tuple(getattr(t, method)() for t in _list(f"_foreach_{method}", self))

    def inplace(self):
        for t in _list(f"_foreach_{method}_", self):
            getattr(t, method + "_")()
        return self

    return plain, inplace


def _ternary(method: str):
    def plain(self, tensor1, tensor2, value=1):
        ts = _list(f"_foreach_{method}", self)
        rows = zip(ts, _others(method, tensor1, len(ts)), _others(method, tensor2, len(ts)),
                   _others(method, _values(value), len(ts)))
        return tuple(getattr(t, method)(a, b, value=v) for t, a, b, v in rows)

    def inplace(self, tensor1, tensor2, value=1):
        ts = _list(f"_foreach_{method}_", self)
        rows = zip(ts, _others(method, tensor1, len(ts)), _others(method, tensor2, len(ts)),
                   _others(method, _values(value), len(ts)))
        for t, a, b, v in rows:
            getattr(t, method + "_")(a, b, value=v)
        return self

    return plain, inplace


def _values(value):
    """addcmul/addcdiv's ``scalars``: a list, or a 1-d Tensor of one value per tensor."""
    if isinstance(value, Tensor) and value.ndim == 1:
        return [v.item() for v in value]
    return value


def _export(name: str, plain, inplace) -> None:
    plain.__name__, plain.__qualname__ = f"_foreach_{name}", f"_foreach_{name}"
    inplace.__name__, inplace.__qualname__ = f"_foreach_{name}_", f"_foreach_{name}_"
    globals()[plain.__name__] = plain
    globals()[inplace.__name__] = inplace
    TOP_LEVEL.extend([plain.__name__, inplace.__name__])


for _name in ("add", "sub", "mul", "div", "pow", "clamp_min", "clamp_max", "lerp", "copy"):
    _export(_name, *_binary(_name))
for _name in ("abs", "neg", "sqrt", "rsqrt", "exp", "log", "reciprocal", "sign", "sigmoid",
              "tanh", "zero", "ceil", "floor", "round", "trunc", "frac", "expm1", "log1p",
              "sin", "cos"):
    _export(_name, *_unary(_name))
for _name in ("addcmul", "addcdiv"):
    _export(_name, *_ternary(_name))
del _name, _foreach_copy  # noqa: F821 - torch has only the in-place _foreach_copy_
TOP_LEVEL.remove("_foreach_copy")
del _foreach_zero  # noqa: F821 - and only _foreach_zero_
TOP_LEVEL.remove("_foreach_zero")


def _extreme(method: str, clamp: str):
    """``_foreach_maximum``/``_foreach_minimum``: elementwise against a Tensor (NaN wins, as
    ``torch.maximum``) or, as torch's foreach ops allow where ``Tensor.maximum`` does not, a
    number (``clamp_min``/``clamp_max``: an integer tensor against a float becomes float).
    The in-place forms write the result back (``copy_``: torch has no ``Tensor.maximum_``)."""
    def one(t, o):
        return getattr(t, method)(o) if isinstance(o, Tensor) else getattr(t, clamp)(o)

    def plain(self, other):
        ts = _list(f"_foreach_{method}", self)
        return tuple(one(t, o) for t, o in zip(ts, _others(method, other, len(ts))))

    def inplace(self, other):
        ts = _list(f"_foreach_{method}_", self)
        for t, o in zip(ts, _others(method, other, len(ts))):
            if isinstance(o, Tensor):
                t.copy_(getattr(t, method)(o))
            else:
                getattr(t, clamp + "_")(o)
        return self

    return plain, inplace


_export("maximum", *_extreme("maximum", "clamp_min"))
_export("minimum", *_extreme("minimum", "clamp_max"))


def _foreach_lerp(self, tensors1, weight):  # noqa: F811 - a list of weights goes one a tensor
    ts = _list("_foreach_lerp", self)
    return tuple(t.lerp(e, w) for t, e, w in zip(ts, _others("lerp", tensors1, len(ts)),
                                                 _others("lerp", weight, len(ts))))


def _foreach_lerp_(self, tensors1, weight):  # noqa: F811
    ts = _list("_foreach_lerp_", self)
    for t, e, w in zip(ts, _others("lerp", tensors1, len(ts)), _others("lerp", weight, len(ts))):
        t.lerp_(e, w)
    return self


def _foreach_pow_scalar(self, exponent):
    """``torch._foreach_pow(2.0, tensors)``: a scalar base."""
    from dlpy import functional
    return tuple(functional.pow(self, t) for t in _list("_foreach_pow", exponent))


_pow_tensors = _foreach_pow  # noqa: F821


def _foreach_pow(self, exponent):  # noqa: F811
    if not isinstance(self, (list, tuple)):
        return _foreach_pow_scalar(self, exponent)
    return _pow_tensors(self, exponent)


def _foreach_norm(self, ord=2, dtype=None) -> tuple:  # noqa: A002 - torch's name
    from dlpy import linalg
    return tuple(linalg.vector_norm(t, ord, dtype=dtype) for t in _list("_foreach_norm", self))


TOP_LEVEL.append("_foreach_norm")
