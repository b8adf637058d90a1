"""``biject_to(constraint)`` and ``transform_to(constraint)``: a Transform from unconstrained
real numbers onto a constraint's region (to optimise a constrained parameter freely), as
torch.distributions.constraint_registry. ``biject_to`` gives bijections (usable in a
TransformedDistribution's log_prob); ``transform_to`` may give cheaper non-bijective maps
(softmax for the simplex). Register more with ``biject_to.register(constraint_type)``."""

from __future__ import annotations

from collections.abc import Callable

from dlpy.distributions import constraints
from dlpy.distributions import transforms as T

__all__ = ["ConstraintRegistry", "biject_to", "transform_to"]


class ConstraintRegistry:
    """constraint type -> a factory ``fn(constraint) -> Transform``."""

    def __init__(self, name: str = "ConstraintRegistry"):
        self.name = name
        self._registry: dict[type, Callable] = {}

    def register(self, constraint, factory: Callable | None = None):
        """Register ``factory`` for a constraint type (or the type of a constraint object);
        usable as a decorator."""
        if factory is None:
            return lambda factory: self.register(constraint, factory)
        if isinstance(constraint, constraints.Constraint):
            constraint = type(constraint)
        if not (isinstance(constraint, type) and issubclass(constraint, constraints.Constraint)):
            raise TypeError(f"{self.name}.register: expected a Constraint subclass or object, "
                            f"got {constraint!r}")
        self._registry[constraint] = factory
        return factory

    def __call__(self, constraint) -> T.Transform:
        factory = self._registry.get(type(constraint))
        if factory is None:
            raise NotImplementedError(f"{self.name}: cannot transform {type(constraint).__name__} "
                                      f"constraints ({constraint!r})")
        return factory(constraint)


biject_to = ConstraintRegistry("biject_to")
transform_to = ConstraintRegistry("transform_to")


def _both(constraint):
    def decorator(factory):
        biject_to.register(constraint, factory)
        transform_to.register(constraint, factory)
        return factory
    return decorator


@_both(constraints.real)
def _to_real(constraint):
    return T.identity_transform


@biject_to.register(constraints.independent)
def _biject_to_independent(constraint):
    return T.IndependentTransform(biject_to(constraint.base), constraint.reinterpreted_batch_ndims)


@transform_to.register(constraints.independent)
def _transform_to_independent(constraint):
    return T.IndependentTransform(transform_to(constraint.base),
                                  constraint.reinterpreted_batch_ndims)


@_both(constraints.greater_than)
@_both(constraints.greater_than_eq)
def _to_greater_than(constraint):
    return T.ComposeTransform([T.ExpTransform(), T.AffineTransform(constraint.lower_bound, 1)])


@_both(constraints.less_than)
def _to_less_than(constraint):
    return T.ComposeTransform([T.ExpTransform(), T.AffineTransform(constraint.upper_bound, -1)])


def _is_number(value, number: float) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == number


@_both(constraints.interval)
@_both(constraints.half_open_interval)
def _to_interval(constraint):
    if _is_number(constraint.lower_bound, 0) and _is_number(constraint.upper_bound, 1):
        return T.SigmoidTransform()
    loc = constraint.lower_bound
    return T.ComposeTransform([T.SigmoidTransform(),
                               T.AffineTransform(loc, constraint.upper_bound - loc)])


biject_to.register(constraints.simplex, lambda constraint: T.StickBreakingTransform())
transform_to.register(constraints.simplex, lambda constraint: T.SoftmaxTransform())
transform_to.register(constraints.lower_cholesky, lambda constraint: T.LowerCholeskyTransform())
transform_to.register(constraints.positive_definite,
                      lambda constraint: T.PositiveDefiniteTransform())
transform_to.register(constraints.positive_semidefinite,
                      lambda constraint: T.PositiveDefiniteTransform())
_both(constraints.corr_cholesky)(lambda constraint: T.CorrCholeskyTransform())


@biject_to.register(constraints.cat)
def _biject_to_cat(constraint):
    return T.CatTransform([biject_to(c) for c in constraint.cseq], constraint.dim,
                          constraint.lengths)


@transform_to.register(constraints.cat)
def _transform_to_cat(constraint):
    return T.CatTransform([transform_to(c) for c in constraint.cseq], constraint.dim,
                          constraint.lengths)


@biject_to.register(constraints.stack)
def _biject_to_stack(constraint):
    return T.StackTransform([biject_to(c) for c in constraint.cseq], constraint.dim)


@transform_to.register(constraints.stack)
def _transform_to_stack(constraint):
    return T.StackTransform([transform_to(c) for c in constraint.cseq], constraint.dim)
