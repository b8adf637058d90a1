"""PyTorch's learning-rate schedulers: ``scheduler.step()`` once per epoch (or per optimiser step,
as you count), after ``optimizer.step()``; the scheduler sets each parameter group's ``lr``.

Each ``step()`` sets a group's lr from the group's current lr by PyTorch's recursive forms
(``_chained_lr``: StepLR, MultiStepLR, ExponentialLR, ConstantLR, LinearLR, PolynomialLR,
CosineAnnealingLR, MultiplicativeLR), so two schedulers on one optimiser multiply and an lr set
by hand carries on; at epoch 0 a group starts from its ``base_lr`` (its lr when the scheduler
was made; ``base_lrs`` holds one per group). LambdaLR, OneCycleLR, CyclicLR and
CosineAnnealingWarmRestarts compute closed forms from ``base_lrs`` and ``last_epoch``, as
PyTorch's do (``_lr``; ``_get_closed_form_lr()`` for any of them). ``state_dict`` /
``load_state_dict`` hold the scheduler's own state (``last_epoch``, ``ReduceLROnPlateau``'s
metric history, the children of ``SequentialLR`` and ``ChainedScheduler``); the lrs are the
optimiser's, so resuming loads both, as with torch.
"""

from __future__ import annotations

import math
import numbers
import types
import warnings
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any


class _MetricsTypeError(TypeError, ValueError):
    """ReduceLROnPlateau.step of a metric that is no number: a TypeError, and torch's
    ValueError (it calls ``float()`` on it)."""


class _ZeroPeriodError(ValueError, ZeroDivisionError):
    """A period of 0 (StepLR's step_size, CosineAnnealingLR's T_max): a ValueError here, and
    torch's ZeroDivisionError (torch takes the epoch modulo the period at the first step)."""


def _param_groups(owner: str, optimizer) -> list[dict[str, Any]]:
    groups = getattr(optimizer, "param_groups", None)
    if not groups:
        raise TypeError(f"{owner}: {type(optimizer).__name__} is not an Optimizer (expected "
                        "an optimiser with parameter groups)")
    return groups



def _set_lr(group: dict[str, Any], lr: float) -> None:
    """A group's new lr: a Tensor lr (torch takes one) is filled in place, as torch's."""
    from dlpy.tensor import Tensor, no_grad

    current = group["lr"]
    if isinstance(current, Tensor):
        with no_grad():
            current.fill_(float(lr))
    else:
        group["lr"] = lr


def _group_lrs(groups: list[dict[str, Any]]) -> list[Any]:
    """Each group's lr as ``_last_lr`` holds it: a copy of a Tensor lr (as torch's), else a
    float."""
    from dlpy.tensor import Tensor

    return [group["lr"].clone() if isinstance(group["lr"], Tensor) else float(group["lr"])
            for group in groups]


def _last_lrs(groups: list[dict[str, Any]], lrs: list[float]) -> list[Any]:
    """``lrs`` just set on ``groups``, with copies of the groups' Tensor lrs in their place."""
    from dlpy.tensor import Tensor

    if not any(isinstance(group["lr"], Tensor) for group in groups):
        return lrs
    return [group["lr"].clone() if isinstance(group["lr"], Tensor) else lr
            for group, lr in zip(groups, lrs)]


class LRScheduler:
    """Base class: ``_lr(base_lr, group)`` from ``last_epoch``; ``step()`` advances and sets
    every group's lr; ``get_lr()`` lists them. ``_chained_lr(lr, group)``: the lr set at
    ``last_epoch`` inside a ChainedScheduler, from the group's current lr."""

    _chaining = False  # True while a ChainedScheduler steps this scheduler
    _restarting = False  # True while a SequentialLR starts this scheduler's stretch
    # True during the constructor's step: the recursive forms keep the group's lr then (a
    # resumed run, last_epoch >= 0, does not move one epoch ahead of itself), as PyTorch's
    _is_initial = False
    _get_lr_called_within_step = False  # (PyTorch's name) get_lr() from outside step warns

    def __init__(self, optimizer, last_epoch: int = -1):
        groups = _param_groups(type(self).__name__, optimizer)
        self.optimizer = optimizer
        if last_epoch != -1:  # resuming: the groups keep their initial_lr, as PyTorch's
            for g, group in enumerate(groups):
                if "initial_lr" not in group:
                    raise KeyError(f"{type(self).__name__}: param 'initial_lr' is not specified "
                                   f"in param_groups[{g}] when resuming scheduler with "
                                   "last_epoch >= 0 (load the optimiser's state first, or "
                                   "set it)")
        self.base_lrs = self._initial_lrs(groups)
        for group, base in zip(groups, self.base_lrs):
            if "initial_lr" not in group:  # (PyTorch's group key; a Tensor lr's: a Tensor)
                lr = group["lr"]
                if hasattr(base, "clone"):
                    base = base.clone()
                elif hasattr(lr, "clone"):  # (CyclicLR's base_lr, in a Tensor as torch's)
                    base = lr.detach().clone().fill_(base)
                group["initial_lr"] = base
        self.last_epoch = last_epoch
        self._step_count = 0
        _track_optimizer_step(optimizer)
        self._is_initial = True
        try:
            self.step()  # as PyTorch: the optimiser gets the lr of epoch last_epoch + 1 (0: base)
        finally:
            del self._is_initial  # back to the class's False

    def _count_step(self) -> None:
        """One more step; PyTorch's warning when the first one comes before any
        ``optimizer.step()`` (the schedule's first value would be skipped)."""
        count = getattr(self, "_step_count", 0)
        if count == 1 and not getattr(self.optimizer, "_opt_called", False):
            warnings.warn("Detected call of `lr_scheduler.step()` before `optimizer.step()`. "
                          "In PyTorch 1.1.0 and later, you should call them in the opposite "
                          "order: `optimizer.step()` before `lr_scheduler.step()`.  Failure to "
                          "do this will result in PyTorch skipping the first value of the "
                          "learning rate schedule.", UserWarning, stacklevel=3)
        self._step_count = count + 1

    def _initial_lrs(self, groups: list[dict[str, Any]]) -> list[float]:
        """``base_lrs``: each group's ``initial_lr`` (set by an earlier scheduler, or a
        resumed run), else its lr when the scheduler is made."""
        from dlpy.tensor import Tensor

        out = []
        for group in groups:  # a Tensor lr's: a copy, as torch's
            lr = group.get("initial_lr", group["lr"])
            out.append(lr.clone() if isinstance(lr, Tensor) else float(lr))
        return out

    @property
    def base_lr(self) -> float:
        """The base lr of a one-group optimiser."""
        if len(self.base_lrs) != 1:
            raise ValueError(f"{type(self).__name__}.base_lr: the optimiser has "
                             f"{len(self.base_lrs)} groups; read base_lrs")
        return self.base_lrs[0]

    def _lr(self, base_lr: float, group: int) -> float:
        raise NotImplementedError

    def _chained_lr(self, lr: float, group: int) -> float:
        """The lr at ``last_epoch`` given the group's current ``lr`` (PyTorch's recursive
        form); by default the closed form, which ignores it (as PyTorch's LambdaLR, OneCycleLR,
        CyclicLR...)."""
        return self._lr(float(self.base_lrs[group]), group)

    def get_lr(self) -> list[float]:
        """Each group's lr at ``last_epoch``, from the group's current lr (PyTorch's recursive
        form: two schedulers on one optimiser multiply, and an lr set by hand carries on; the
        schedulers torch computes in closed form, LambdaLR, OneCycleLR, CyclicLR,
        CosineAnnealingWarmRestarts, do here too). At the start of a SequentialLR's stretch
        the group starts from its base lr (PyTorch's ``step(0)``). A group added to the
        optimiser later follows the recursive forms, as with torch."""
        _warn_get_lr_outside_step(self)
        groups = self.optimizer.param_groups
        if self.last_epoch == 0 and self._restarting:
            return [float(self._lr(float(base), g)) for g, base in enumerate(self.base_lrs)]
        count = len(self.base_lrs) if type(self)._chained_lr is LRScheduler._chained_lr \
            else len(groups)
        return [float(self._chained_lr(float(groups[g]["lr"]), g)) for g in range(count)]

    def _get_closed_form_lr(self) -> list[float]:
        """Each group's lr at ``last_epoch`` from its base lr alone (torch's name)."""
        return [float(self._lr(float(base), g)) for g, base in enumerate(self.base_lrs)]

    def _check_group_count(self, count: int) -> list[dict[str, Any]]:
        groups = self.optimizer.param_groups
        if len(groups) != count:
            raise ValueError(f"{type(self).__name__}: the optimiser has {len(groups)} parameter "
                             f"groups, the scheduler was made for {count}")
        return groups

    def _apply(self) -> None:
        self._get_lr_called_within_step = True
        try:
            lrs = self.get_lr()
        finally:
            del self._get_lr_called_within_step  # back to the class's False
        groups = self._check_group_count(len(lrs))
        for group, lr in zip(groups, lrs):
            _set_lr(group, lr)
        self._last_lr = _last_lrs(groups, lrs)

    def step(self, epoch: int | None = None) -> None:
        """Advance one epoch; ``step(epoch)`` (deprecated in PyTorch, which warns) jumps to
        ``epoch`` and sets the closed form there."""
        self._count_step()
        if epoch is None:
            self.last_epoch += 1
            self._apply()
            return
        warnings.warn(_EPOCH_DEPRECATION, UserWarning, stacklevel=2)
        self.last_epoch = epoch
        # no closed form (MultiplicativeLR), or none that torch's step(epoch) takes (CyclicLR,
        # OneCycleLR: their get_lr, which also sets the momenta)
        if type(self)._lr is LRScheduler._lr or isinstance(self, _CyclicMomentum):
            self._apply()
            return
        groups = self._check_group_count(len(self.base_lrs))
        lrs = self._get_closed_form_lr()
        for group, lr in zip(groups, lrs):
            _set_lr(group, lr)
        self._last_lr = _last_lrs(groups, lrs)

    def get_last_lr(self) -> list[float]:
        """The lr of each parameter group set by the last step."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimiser (and any function, which cannot be saved); after
        ``_step_count``, PyTorch's two step flags (False between steps)."""
        state = {}
        for k, v in self.__dict__.items():
            if k not in ("optimizer", "lr_lambdas") and not callable(v):
                state[k] = v
                if k == "_step_count":
                    state["_is_initial"] = state["_get_lr_called_within_step"] = False
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """The scheduler's own state; the groups' lrs are the optimiser's (load its state too,
        as with torch)."""
        unknown = sorted(set(state) - set(self.state_dict()))
        if unknown:
            raise ValueError(f"{type(self).__name__}.load_state_dict: unexpected keys {unknown}")
        self.__dict__.update(state)


_EPOCH_DEPRECATION = ("The epoch parameter in `scheduler.step()` was not necessary and is being "
                      "deprecated where possible. Please use `scheduler.step()` to step the "
                      "scheduler.")


def _warn_get_lr_outside_step(scheduler) -> None:
    if not scheduler._get_lr_called_within_step:
        warnings.warn("To get the last learning rate computed by the scheduler, please use "
                      "`get_last_lr()`.", UserWarning, stacklevel=3)


class _TrackedStep:
    """``optimizer.step`` that records a call in ``optimizer._opt_called``, as PyTorch's
    schedulers wrap it, for the warning of a scheduler stepped first (a class, not a closure,
    so that the optimiser still pickles and deep-copies)."""

    _wrapped_by_lr_sched = True  # (PyTorch's mark)

    def __init__(self, optimizer, step):
        self.optimizer = optimizer
        # the function behind a bound method (re-bound to a copied optimiser), or the callable
        self.function = getattr(step, "__func__", None) \
            if getattr(step, "__self__", None) is optimizer else None
        self.step = None if self.function is not None else step

    def __call__(self, *args, **kwargs):
        self.optimizer._opt_called = True
        if self.function is not None:
            return self.function(self.optimizer, *args, **kwargs)
        return self.step(*args, **kwargs)


def _track_optimizer_step(optimizer) -> None:
    """Wrap ``optimizer.step`` once (see _TrackedStep)."""
    step = getattr(optimizer, "step", None)
    if step is not None and not getattr(step, "_wrapped_by_lr_sched", False):
        optimizer.step = _TrackedStep(optimizer, step)


def _period(owner: str, name: str, value) -> None:
    """Refuse a period of 0 as both a ValueError and torch's ZeroDivisionError."""
    if not isinstance(value, bool) and isinstance(value, (int, float)) and value == 0:
        kind = "integer" if isinstance(value, int) else "number"
        raise _ZeroPeriodError(f"{owner}: {name} must be a positive {kind}, got {value!r}")


def _positive_int(owner: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{owner}: {name} must be a positive integer, got {value!r}")
    return value


def _non_negative_int(owner: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{owner}: {name} must be an integer >= 0, got {value!r}")
    return value


def _positive_number(owner: str, name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{owner}: {name} must be a positive number, got {value!r}")
    return float(value)


def _finite(owner: str, name: str, value) -> float:
    """``value``, a finite number: an int stays one (torch keeps the arguments as given, its
    state_dict shows min_lr=0 as 0)."""
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{owner}: {name} must be a finite number, got {value!r}")
    return value if type(value) is int else float(value)


def _in_range(owner: str, name: str, value, low: float, high: float,
              high_open: bool = False) -> float:
    value = _finite(owner, name, value)
    if not low <= value <= high or (high_open and value == high):
        close = ")" if high_open else "]"
        raise ValueError(f"{owner}: {name} must lie in [{low:g}, {high:g}{close}, got {value!r}")
    return value


def _non_negative_int(owner: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{owner}: {name} must be an integer >= 0, got {value!r}")
    return value


def _epochs(owner: str, name: str, values) -> list[int]:
    """A list of epochs (integers >= 0), as given."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TypeError(f"{owner}: {name} must be a list of epochs, got {values!r:.80}")
    values = list(values)
    if any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0 for v in values):
        raise ValueError(f"{owner}: {name} must be integers >= 0, got {values!r:.80}")
    return [int(v) for v in values]


def _per_group(owner: str, name: str, value, groups: int) -> list[float]:
    """One finite number for every group, or a list with one per group."""
    if isinstance(value, (list, tuple)):
        if len(value) != groups:
            raise ValueError(f"{owner}: expected {groups} values of {name} (one per parameter "
                             f"group), got {len(value)}")
        return [_finite(owner, name, v) for v in value]
    return [_finite(owner, name, value)] * groups


class StepLR(LRScheduler):
    """lr = base_lr * gamma ** (epoch // step_size). The report's schedule is
    ``StepLR(optimizer, step_size=2, gamma=0.1)``."""

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        # a float step_size is taken, as PyTorch's (the language-modeling tutorial passes 1.0)
        _period("StepLR", "step_size", step_size)
        self.step_size = _positive_int("StepLR", "step_size", step_size) \
            if isinstance(step_size, int) else _positive_number("StepLR", "step_size", step_size)
        self.gamma = _finite("StepLR", "gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def _lr(self, base_lr: float, group: int) -> float:
        return base_lr * self.gamma ** (self.last_epoch // self.step_size)

    def _chained_lr(self, lr: float, group: int) -> float:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return lr
        return lr * self.gamma


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2."""

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0,  # noqa: N803 - PyTorch's
                 last_epoch: int = -1):
        # a float T_max is taken, as PyTorch's
        _period("CosineAnnealingLR", "T_max", T_max)
        self.T_max = _positive_int("CosineAnnealingLR", "T_max", T_max) \
            if isinstance(T_max, int) else _positive_number("CosineAnnealingLR", "T_max", T_max)
        self.eta_min = _finite("CosineAnnealingLR", "eta_min", eta_min)
        super().__init__(optimizer, last_epoch)

    def _lr(self, base_lr: float, group: int) -> float:
        cosine = 1 + math.cos(math.pi * self.last_epoch / self.T_max)
        return self.eta_min + (base_lr - self.eta_min) * cosine / 2

    def _chained_lr(self, lr: float, group: int) -> float:
        epoch, t_max, eta_min = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return lr
        if self._step_count == 1 and epoch > 0:
            # never stepped since made (last_epoch set by hand, as ignite's LRScheduler
            # does): the closed form, as PyTorch's
            return self._lr(float(self.base_lrs[group]), group)
        if (epoch - 1 - t_max) % (2 * t_max) == 0:
            base = float(self.base_lrs[group])
            return lr + (base - eta_min) * (1 - math.cos(math.pi / t_max)) / 2
        return (1 + math.cos(math.pi * epoch / t_max)) \
            / (1 + math.cos(math.pi * (epoch - 1) / t_max)) * (lr - eta_min) + eta_min


def _lambdas(owner: str, optimizer, lr_lambda) -> list[Callable[[int], float]]:
    """One function per parameter group: ``lr_lambda`` for every group, or its list."""
    lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else None
    groups = len(getattr(optimizer, "param_groups", ()))
    if lambdas is None:
        if not callable(lr_lambda):
            raise TypeError(f"{owner}: lr_lambda must be callable, got "
                            f"{type(lr_lambda).__name__}")
        return [lr_lambda] * max(groups, 1)
    if len(lambdas) != groups or not all(callable(f) for f in lambdas):
        raise ValueError(f"{owner}: expected {groups} callables in lr_lambda (one per "
                         f"parameter group), got {lr_lambda!r:.80}")
    return lambdas


def _lambdas_state_dict(self) -> dict[str, Any]:
    """LambdaLR's and MultiplicativeLR's state: as the base's, with ``lr_lambdas``: None for a
    function (or a builtin), a copy of its ``__dict__`` for a callable object (PyTorch's
    form)."""
    state = LRScheduler.state_dict(self)
    state["lr_lambdas"] = [None if isinstance(f, types.FunctionType)
                           or not hasattr(f, "__dict__") else dict(vars(f))
                           for f in self.lr_lambdas]
    return state


def _lambdas_load_state_dict(self, state: dict[str, Any]) -> None:
    """The base's, and each callable object's ``__dict__`` back from ``lr_lambdas``."""
    lambdas = state.get("lr_lambdas", [])
    LRScheduler.load_state_dict(self, {k: v for k, v in state.items() if k != "lr_lambdas"})
    for f, saved in zip(self.lr_lambdas, lambdas):
        if saved is not None:
            vars(f).update(saved)


class LambdaLR(LRScheduler):
    """lr = base_lr * lr_lambda(epoch); ``lr_lambda`` is one function for every group or a list
    with one per group. The functions are not part of ``state_dict``."""

    def __init__(self, optimizer,
                 lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]],
                 last_epoch: int = -1):
        self.lr_lambdas = _lambdas(type(self).__name__, optimizer, lr_lambda)
        super().__init__(optimizer, last_epoch)

    def _lr(self, base_lr: float, group: int) -> float:
        factor = self.lr_lambdas[group](self.last_epoch)
        return base_lr * _finite("LambdaLR", f"lr_lambda({self.last_epoch})", factor)

    state_dict = _lambdas_state_dict
    load_state_dict = _lambdas_load_state_dict


class LinearLR(LRScheduler):
    """Linear warm-up (or decay) of the factor: lr = base_lr * (start_factor + (end_factor -
    start_factor) * min(epoch, total_iters) / total_iters)."""

    def __init__(self, optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1):
        self.start_factor = _finite("LinearLR", "start_factor", start_factor)
        self.end_factor = _finite("LinearLR", "end_factor", end_factor)
        if not 0 < self.start_factor <= 1 or not 0 <= self.end_factor <= 1:
            raise ValueError(f"LinearLR: need 0 < start_factor <= 1 and 0 <= end_factor <= 1, "
                             f"got {start_factor}, {end_factor}")
        self.total_iters = _non_negative_int("LinearLR", "total_iters", total_iters)
        super().__init__(optimizer, last_epoch)

    def _lr(self, base_lr: float, group: int) -> float:
        # (total_iters=0: start_factor for good, as torch's steps give)
        fraction = min(self.last_epoch, self.total_iters) / self.total_iters \
            if self.total_iters else 0.0
        return base_lr * (self.start_factor
                               + (self.end_factor - self.start_factor) * fraction)

    def _chained_lr(self, lr: float, group: int) -> float:
        start, end, epoch = self.start_factor, self.end_factor, self.last_epoch
        if epoch == 0:
            return lr * start
        if self._is_initial or epoch > self.total_iters:
            return lr
        return lr * (1.0 + (end - start) / (self.total_iters * start + (epoch - 1) * (end - start)))


class ExponentialLR(LRScheduler):
    """lr = base_lr * gamma ** epoch."""

    def __init__(self, optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = _finite("ExponentialLR", "gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def _lr(self, base_lr: float, group: int) -> float:
        return base_lr * self.gamma ** self.last_epoch

    def _chained_lr(self, lr: float, group: int) -> float:
        # (only the constructor's step keeps the lr: a get_lr() at last_epoch 0 after it, as
        # ignite's LRScheduler makes, multiplies, as PyTorch's)
        return lr if self._is_initial else lr * self.gamma


class MultiStepLR(LRScheduler):
    """lr = base_lr * gamma ** (number of milestones <= epoch); a milestone given twice decays
    twice, as PyTorch's (``milestones``: a Counter of them, as there)."""

    def __init__(self, optimizer, milestones: Iterable[int], gamma: float = 0.1,
                 last_epoch: int = -1):
        self.milestones = Counter(_epochs("MultiStepLR", "milestones", milestones))
        self.gamma = _finite("MultiStepLR", "gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def _lr(self, base_lr: float, group: int) -> float:
        milestones = sorted(Counter(self.milestones).elements())  # (a list, from an old state)
        return base_lr * self.gamma ** bisect_right(milestones, self.last_epoch)

    def _chained_lr(self, lr: float, group: int) -> float:
        count = Counter(self.milestones)[self.last_epoch]
        return lr * self.gamma ** count if count else lr


class ConstantLR(LRScheduler):
    """lr = base_lr * factor for the first total_iters epochs, base_lr after."""

    def __init__(self, optimizer, factor: float = 1.0 / 3, total_iters: int = 5,
                 last_epoch: int = -1):
        self.factor = _in_range("ConstantLR", "factor", factor, 0, 1)
        self.total_iters = _non_negative_int("ConstantLR", "total_iters", total_iters)
        super().__init__(optimizer, last_epoch)

    def _lr(self, base_lr: float, group: int) -> float:
        return base_lr * self.factor if self.last_epoch < self.total_iters else base_lr

    def _chained_lr(self, lr: float, group: int) -> float:
        if self.last_epoch == 0:
            return lr * self.factor
        return lr * (1.0 / self.factor) if self.last_epoch == self.total_iters else lr


class PolynomialLR(LRScheduler):
    """lr = base_lr * (1 - min(epoch, total_iters) / total_iters) ** power: 0 from total_iters
    on."""

    def __init__(self, optimizer, total_iters: int = 5, power: float = 1.0,
                 last_epoch: int = -1):
        self.total_iters = _non_negative_int("PolynomialLR", "total_iters", total_iters)
        self.power = _finite("PolynomialLR", "power", power)
        if self.power < 0:
            raise ValueError(f"PolynomialLR: power must be >= 0, got {power!r}")
        super().__init__(optimizer, last_epoch)

    def _lr(self, base_lr: float, group: int) -> float:
        # (total_iters=0: base_lr for good, as torch's steps give)
        fraction = min(self.total_iters, self.last_epoch) / self.total_iters \
            if self.total_iters else 0.0
        return base_lr * (1.0 - fraction) ** self.power

    def _chained_lr(self, lr: float, group: int) -> float:
        epoch, total = self.last_epoch, self.total_iters
        if self._is_initial or epoch > total:  # (last_epoch 0 after the constructor:
            return lr                             # the factor, as PyTorch's)
        return lr * ((1.0 - epoch / total) / (1.0 - (epoch - 1) / total)) ** self.power


class CosineAnnealingWarmRestarts(LRScheduler):
    """SGDR: lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2, where T_cur
    counts the epochs since the last restart and the cycles last T_0, T_0 * T_mult, T_0 *
    T_mult ** 2... epochs. ``step(epoch)`` takes a fractional epoch (stepping within an
    epoch), as PyTorch's; ``T_cur`` and ``T_i`` are the state."""

    def __init__(self, optimizer, T_0: int, T_mult: int = 1,  # noqa: N803 - PyTorch's
                 eta_min: float = 0.0, last_epoch: int = -1):
        self.T_0 = _positive_int("CosineAnnealingWarmRestarts", "T_0", T_0)
        self.T_mult = _positive_int("CosineAnnealingWarmRestarts", "T_mult", T_mult)
        self.eta_min = _finite("CosineAnnealingWarmRestarts", "eta_min", eta_min)
        # epochs since the last restart, the length of the current cycle (PyTorch's names);
        # a resumed run starts from T_cur = last_epoch in a cycle of T_0, as PyTorch's
        self.T_cur, self.T_i = last_epoch, self.T_0  # noqa: N815
        super().__init__(optimizer, last_epoch)

    def _cycle(self, epoch: float) -> tuple[float, int]:
        """(T_cur, T_i) at ``epoch``, as PyTorch's ``step(epoch)``."""
        if epoch < self.T_0:
            return epoch, self.T_0
        if self.T_mult == 1:
            return epoch % self.T_0, self.T_0
        n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
        return (epoch - self.T_0 * (self.T_mult ** n - 1) / (self.T_mult - 1),
                self.T_0 * self.T_mult ** n)

    def step(self, epoch: float | None = None) -> None:
        """One epoch on, or to ``epoch`` (a fraction steps within an epoch); PyTorch's does
        not warn of a step before ``optimizer.step()`` (nor count it in ``_step_count``)."""
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur += 1
            if self.T_cur >= self.T_i:
                self.T_cur, self.T_i = self.T_cur % self.T_i, self.T_i * self.T_mult
        else:
            if epoch < 0:
                raise ValueError(f"CosineAnnealingWarmRestarts.step: expected a non-negative "
                                 f"epoch, got {epoch}")
            self.T_cur, self.T_i = self._cycle(epoch)
        self.last_epoch = self._cycle_epoch = math.floor(epoch)
        self._apply()

    def _lr(self, base_lr: float, group: int) -> float:
        if self.last_epoch != getattr(self, "_cycle_epoch", None):
            # last_epoch set from outside (a SequentialLR's stretch, an older state dict)
            self.T_cur, self.T_i = self._cycle(max(self.last_epoch, 0))
            self._cycle_epoch = self.last_epoch
        cosine = 1 + math.cos(math.pi * self.T_cur / self.T_i)
        return self.eta_min + (base_lr - self.eta_min) * cosine / 2

    def state_dict(self) -> dict[str, Any]:
        """As the base's, without the epoch T_cur was computed at (PyTorch's keys)."""
        state = super().state_dict()
        state.pop("_cycle_epoch", None)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        state = dict(state)
        state.pop("_cycle_epoch", None)
        super().load_state_dict(state)
        self._cycle_epoch = self.last_epoch  # T_cur and T_i come with the state


class _CyclicMomentum(LRScheduler):
    """OneCycleLR's and CyclicLR's ``cycle_momentum``: each step also sets each group's momentum
    (SGD) or beta1 (Adam...) to ``_momentum(max_momentum, base_momentum, *_position())`` of the
    group, so that it moves against the lr."""

    def _momentum_settings(self, owner: str, optimizer, cycle_momentum: bool, base_momentum,
                           max_momentum, groups: int) -> None:
        """``cycle_momentum``, and with it ``use_beta1``, ``base_momentums``, ``max_momentums``."""
        self.cycle_momentum = bool(cycle_momentum)
        if self.cycle_momentum:
            defaults = getattr(optimizer, "defaults", {})
            if "momentum" not in defaults and "betas" not in defaults:
                raise ValueError(f"{owner}: cycle_momentum needs an optimiser with momentum "
                                 f"or betas, got {type(optimizer).__name__}; pass "
                                 "cycle_momentum=False")
            self.use_beta1 = "betas" in defaults
            self.base_momentums = _per_group(owner, "base_momentum", base_momentum, groups)
            self.max_momentums = _per_group(owner, "max_momentum", max_momentum, groups)

    def _momentum(self, top: float, bottom: float, *position) -> float:
        """A group's momentum at ``_position()``, between top and bottom."""
        raise NotImplementedError

    def _momentum_bounds(self, g: int, group: dict) -> tuple[float, float]:
        """Group ``g``'s (max_momentum, base_momentum)."""
        return self.max_momentums[g], self.base_momentums[g]

    def _apply(self) -> None:
        super()._apply()
        if not self.cycle_momentum:
            return
        position = self._position()
        for g, group in enumerate(self.optimizer.param_groups):
            momentum = self._momentum(*self._momentum_bounds(g, group), *position)
            if self.use_beta1:
                group["betas"] = (momentum, *group["betas"][1:])
            else:
                group["momentum"] = momentum


class OneCycleLR(_CyclicMomentum):
    """The 1cycle policy, stepped once per batch for ``total_steps`` (or ``epochs *
    steps_per_epoch``) steps: lr anneals from max_lr / div_factor up to max_lr over the first
    ``pct_start`` of the steps, then down to max_lr / div_factor / final_div_factor
    (``three_phase``: back to the start over as many steps, then down to that minimum), by
    ``anneal_strategy`` "cos" or "linear". ``cycle_momentum`` (on by default, as PyTorch's)
    anneals each group's momentum (SGD) or beta1 (Adam, AdamW) the other way, between
    max_momentum and base_momentum. Stepping past ``total_steps`` is a ValueError (the step
    counted, as torch's: each later step is refused too).
    ``base_lrs`` are max_lr / div_factor."""

    def __init__(self, optimizer, max_lr: float | Sequence[float], total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None,
                 pct_start: float = 0.3, anneal_strategy: str = "cos",
                 cycle_momentum: bool = True, base_momentum: float | Sequence[float] = 0.85,
                 max_momentum: float | Sequence[float] = 0.95, div_factor: float = 25.0,
                 final_div_factor: float = 1e4, three_phase: bool = False,
                 last_epoch: int = -1):
        owner = "OneCycleLR"
        groups = len(_param_groups(owner, optimizer))
        if total_steps is not None:
            self.total_steps = _positive_int(owner, "total_steps", total_steps)
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = (_positive_int(owner, "epochs", epochs)
                                * _positive_int(owner, "steps_per_epoch", steps_per_epoch))
        else:
            raise ValueError(f"{owner}: give total_steps, or epochs and steps_per_epoch")
        pct_start = _in_range(owner, "pct_start", pct_start, 0, 1)
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"{owner}: anneal_strategy must be 'cos' or 'linear', got "
                             f"{anneal_strategy!r}")
        self._anneal_func_type = anneal_strategy  # (PyTorch's state keys)
        self._schedule_phases = self._make_phases(pct_start, bool(three_phase))
        div_factor = _finite(owner, "div_factor", div_factor)
        final_div_factor = _finite(owner, "final_div_factor", final_div_factor)
        if div_factor <= 0 or final_div_factor <= 0:
            raise ValueError(f"{owner}: div_factor and final_div_factor must be > 0, got "
                             f"{div_factor!r}, {final_div_factor!r}")
        max_lrs = _per_group(owner, "max_lr", max_lr, groups)
        if any(lr < 0 for lr in max_lrs):
            raise ValueError(f"{owner}: max_lr must be >= 0, got {max_lr!r}")
        # a first phase of no steps divides by zero at step 0, as torch's (an empty later
        # phase is never reached, or only at step total_steps, where torch's divides too)
        if self._schedule_phases[0]["end_step"] == 0.0:
            raise ValueError(f"{owner}: pct_start={pct_start} leaves a phase of no steps in "
                             f"total_steps={self.total_steps}")
        self._momentum_settings(owner, optimizer, cycle_momentum, base_momentum, max_momentum,
                                groups)
        if self.cycle_momentum:
            for name, values in (("base_momentum", self.base_momentums),
                                 ("max_momentum", self.max_momentums)):
                for m in values:
                    _in_range(owner, name, m, 0, 1, high_open=True)
            if last_epoch == -1:  # PyTorch's group keys, which the schedule reads
                for group, top, bottom in zip(optimizer.param_groups, self.max_momentums,
                                              self.base_momentums):
                    group["max_momentum"], group["base_momentum"] = top, bottom
            del self.max_momentums, self.base_momentums  # (the groups hold them, as torch's)
        # PyTorch's group keys, which the schedule reads (a resumed run's groups keep theirs)
        if last_epoch == -1:
            for group, max_lr in zip(optimizer.param_groups, max_lrs):
                group["initial_lr"] = max_lr / div_factor
                group["max_lr"] = max_lr
                group["min_lr"] = group["initial_lr"] / final_div_factor
        super().__init__(optimizer, last_epoch)

    def _make_phases(self, pct: float, three_phase: bool) -> list[dict[str, Any]]:
        """torch's phases (its state dict's ``_schedule_phases``, so a torch checkpoint
        resumes): each phase's last step (a float, as there) and the group keys its lr and
        momentum go from and to."""
        total = self.total_steps

        def phase(end, start_lr, end_lr, start_momentum, end_momentum):
            return {"end_step": end, "start_lr": start_lr, "end_lr": end_lr,
                    "start_momentum": start_momentum, "end_momentum": end_momentum}

        if three_phase:
            return [phase(float(pct * total) - 1, "initial_lr", "max_lr", "max_momentum",
                          "base_momentum"),
                    phase(float(2 * pct * total) - 2, "max_lr", "initial_lr", "base_momentum",
                          "max_momentum"),
                    phase(total - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum")]
        return [phase(float(pct * total) - 1, "initial_lr", "max_lr", "max_momentum",
                      "base_momentum"),
                phase(total - 1, "max_lr", "min_lr", "base_momentum", "max_momentum")]

    def _check_steps(self, step: int) -> None:
        if step > self.total_steps:
            raise ValueError(f"OneCycleLR: tried to step {step} times; total_steps is "
                             f"{self.total_steps}")

    def _position(self) -> tuple[float, dict]:
        """(fraction of the current phase done, the phase) at ``last_epoch``."""
        step = self.last_epoch
        self._check_steps(step)
        phases = [_phase(p) for p in self._schedule_phases]
        # the first phase not over yet; the last one also takes step total_steps
        i = next((i for i, p in enumerate(phases[:-1]) if step <= p["end_step"]),
                 len(phases) - 1)
        start = phases[i - 1]["end_step"] if i else 0.0
        end = phases[i]["end_step"]
        return (step - start) / (end - start), phases[i]

    def _anneal(self, start: float, end: float, fraction: float) -> float:
        if self._anneal_func_type == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * fraction) + 1)
        return (end - start) * fraction + start

    def _lr(self, base_lr: float, group: int) -> float:
        fraction, phase = self._position()
        g = self.optimizer.param_groups[group]
        return self._anneal(g[phase["start_lr"]], g[phase["end_lr"]], fraction)

    def _momentum_bounds(self, g: int, group: dict) -> tuple[float, float]:
        return group["max_momentum"], group["base_momentum"]

    def _momentum(self, top: float, bottom: float, fraction: float, phase: dict) -> float:
        # momentum runs against the lr: high while the lr is low
        momentums = {"max_momentum": top, "base_momentum": bottom}
        return self._anneal(momentums[phase["start_momentum"]],
                            momentums[phase["end_momentum"]], fraction)


_PHASE_KEYS = {"initial": ("initial_lr", "max_momentum"), "max": ("max_lr", "base_momentum"),
               "min": ("min_lr", "max_momentum")}


def _phase(phase) -> dict:
    """A OneCycleLR phase as torch's dict; an older dlpy state's (end, from, to) tuple too."""
    if isinstance(phase, dict):
        return phase
    end, low, high = phase
    return {"end_step": end, "start_lr": _PHASE_KEYS[low][0], "end_lr": _PHASE_KEYS[high][0],
            "start_momentum": _PHASE_KEYS[low][1], "end_momentum": _PHASE_KEYS[high][1]}


def _children(owner: str, schedulers: Sequence[LRScheduler], optimizer,
              cannot: str) -> list[LRScheduler]:
    """SequentialLR's and ChainedScheduler's children as a list: at least one, each an
    LRScheduler of ``optimizer`` (None: the first child's) and none a ReduceLROnPlateau (whose
    step needs a metric; ``cannot`` says what it cannot do)."""
    schedulers = list(schedulers)
    if not schedulers:
        raise ValueError(f"{owner}: expected at least one scheduler, got none")
    for i, child in enumerate(schedulers):
        if not isinstance(child, LRScheduler):
            raise TypeError(f"{owner}: schedulers[{i}] must be an LRScheduler, got "
                            f"{type(child).__name__}")
        if isinstance(child, ReduceLROnPlateau):
            raise ValueError(f"{owner}: schedulers[{i}] is a ReduceLROnPlateau, whose step "
                             f"needs a metric; it cannot {cannot}")
        optimizer = child.optimizer if optimizer is None else optimizer
        if child.optimizer is not optimizer:
            raise ValueError(f"{owner}: schedulers[{i}] ({type(child).__name__}) belongs "
                             "to another optimiser")
    return schedulers


def _child_states(owner: str, state: dict[str, Any], schedulers: list[LRScheduler]) -> list:
    """``state["_schedulers"]``, checked: one state dict per child."""
    children = state.get("_schedulers")
    if not isinstance(children, list) or len(children) != len(schedulers):
        raise ValueError(f"{owner}.load_state_dict: expected '_schedulers' with the states of "
                         f"{len(schedulers)} schedulers, got {children!r:.80}")
    return children


class SequentialLR(LRScheduler):
    """``schedulers[0]`` until epoch ``milestones[0]``, then ``schedulers[1]`` from its own
    epoch 0, and so on (a warm-up, then a decay). Every child takes the first child's
    ``base_lrs`` (PyTorch's shared ``initial_lr``: make the children in list order, as usual)
    and runs at ``last_epoch`` minus the milestone where it began; ``state_dict`` holds
    ``last_epoch`` and each child's state."""

    def __init__(self, optimizer, schedulers: Sequence[LRScheduler], milestones: Sequence[int],
                 last_epoch: int = -1):
        owner = "SequentialLR"
        _param_groups(owner, optimizer)
        schedulers = _children(owner, schedulers, optimizer, "run in a sequence")
        milestones = _epochs(owner, "milestones", milestones)
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"{owner}: expected {len(schedulers) - 1} milestones (one fewer "
                             f"than the {len(schedulers)} schedulers), got {len(milestones)}")
        if milestones != sorted(milestones):
            raise ValueError(f"{owner}: milestones must be in increasing order, got "
                             f"{milestones}")
        for child in schedulers[1:]:
            child.base_lrs = list(schedulers[0].base_lrs)
        self._schedulers = schedulers
        self._milestones = milestones
        super().__init__(optimizer, last_epoch)

    def _initial_lrs(self, groups: list[dict[str, Any]]) -> list[float]:
        return list(self._schedulers[0].base_lrs)

    def _current(self) -> LRScheduler:
        """The child whose stretch holds ``last_epoch``, set to its own epoch."""
        index = bisect_right(self._milestones, self.last_epoch)
        child = self._schedulers[index]
        child.last_epoch = self.last_epoch - (self._milestones[index - 1] if index else 0)
        return child

    def step(self) -> None:
        """Advance one epoch (torch's SequentialLR.step takes no epoch: step(5) is its
        TypeError)."""
        super().step()

    def get_lr(self) -> list[float]:
        """None here, as torch's (its base class's NotImplementedError): ``get_last_lr()``
        gives the lrs the last step set."""
        raise NotImplementedError

    def _apply(self) -> None:
        child = self._current()
        child._restarting = child.last_epoch == 0  # from its base lr, as PyTorch's step(0)
        if not child._restarting and not self._is_initial:
            child._step_count += 1  # a step of the child's, as PyTorch's child.step()
        try:
            child._apply()
        finally:
            del child._restarting  # back to the class's False
        self._last_lr = child.get_last_lr()

    def state_dict(self) -> dict[str, Any]:
        """``last_epoch`` and the rest, with ``_schedulers``: each child's ``state_dict``."""
        # (base_lrs and the step count are the children's, as PyTorch's keys)
        state = {k: v for k, v in super().state_dict().items()
                 if k not in ("_schedulers", "base_lrs", "_step_count", "_is_initial",
                              "_get_lr_called_within_step")}
        state["_schedulers"] = [child.state_dict() for child in self._schedulers]
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        children = _child_states("SequentialLR", state, self._schedulers)
        for child, child_state in zip(self._schedulers, children):
            child.load_state_dict(child_state)
        super().load_state_dict({k: v for k, v in state.items() if k != "_schedulers"})


class ReduceLROnPlateau(LRScheduler):
    """``step(metric)`` once per epoch: when the metric has not improved for more than
    ``patience`` epochs in a row, every group's lr becomes max(lr * factor, min_lr) (a change
    under ``eps`` is skipped), then ``cooldown`` epochs pass before counting again. Improving
    (mode "min") means below best * (1 - threshold) (threshold_mode "rel") or best - threshold
    ("abs"); mode "max" the other way. The lr is the history of the metrics: ``state_dict``
    holds that state (the lrs themselves are the optimiser's, as with torch)."""

    def __init__(self, optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float | Sequence[float] = 0, eps: float = 1e-8):
        owner = "ReduceLROnPlateau"
        groups = _param_groups(owner, optimizer)
        if mode not in ("min", "max"):
            raise ValueError(f"{owner}: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"{owner}: threshold_mode must be 'rel' or 'abs', got "
                             f"{threshold_mode!r}")
        self.mode, self.threshold_mode = mode, threshold_mode
        self.factor = _in_range(owner, "factor", factor, 0, 1, high_open=True)
        self.patience = _non_negative_int(owner, "patience", patience)
        self.cooldown = _non_negative_int(owner, "cooldown", cooldown)
        self.threshold = _finite(owner, "threshold", threshold)
        self.eps = _finite(owner, "eps", eps)
        if self.threshold < 0 or self.eps < 0:
            raise ValueError(f"{owner}: threshold and eps must be >= 0, got {threshold!r}, "
                             f"{eps!r}")
        # a single min_lr also covers groups added later (PyTorch's default_min_lr)
        self.default_min_lr = None if isinstance(min_lr, (list, tuple)) \
            else _finite(owner, "min_lr", min_lr)
        self.min_lrs = _per_group(owner, "min_lr", min_lr, len(groups))
        self.optimizer = optimizer
        self.last_epoch = 0
        self.best = math.inf if mode == "min" else -math.inf
        self.mode_worse = self.best  # (PyTorch's name)
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self._last_lr = _group_lrs(groups)

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def _is_better(self, value: float) -> bool:
        if self.mode == "min":
            bound = self.best * (1.0 - self.threshold) if self.threshold_mode == "rel" \
                else self.best - self.threshold
            return value < bound
        bound = self.best * (self.threshold + 1.0) if self.threshold_mode == "rel" \
            else self.best + self.threshold
        return value > bound

    def step(self, metrics: float, epoch: int | None = None) -> None:  # type: ignore[override]
        """Count one epoch with ``metrics`` (a number, or a one-element Tensor or array);
        ``epoch`` (deprecated in PyTorch, which warns) sets ``last_epoch``."""
        value = metrics.item() if hasattr(metrics, "item") else metrics
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise _MetricsTypeError(f"ReduceLROnPlateau.step: metrics must be a number, got "
                                    f"{type(metrics).__name__}")
        value = float(value)
        if epoch is None:
            self.last_epoch += 1
        else:
            warnings.warn(_EPOCH_DEPRECATION, UserWarning, stacklevel=2)
            self.last_epoch = epoch
        if self._is_better(value):
            self.best, self.num_bad_epochs = value, 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in the cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = _group_lrs(self.optimizer.param_groups)

    def _reduce_lr(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs) and self.default_min_lr is not None:
            self.min_lrs = [self.default_min_lr] * len(groups)
        self._check_group_count(len(self.min_lrs))
        for group, min_lr in zip(groups, self.min_lrs):
            old = float(group["lr"])
            new = max(old * self.factor, min_lr)
            if old - new > self.eps:
                _set_lr(group, new)

    def get_lr(self) -> list[float]:
        """None here, as torch's (its base class's NotImplementedError): ``get_last_lr()``
        gives the lrs the last step set."""
        raise NotImplementedError

class MultiplicativeLR(LRScheduler):
    """lr = the group's lr * lr_lambda(epoch) at every step after the first (the lr keeps
    what it was multiplied by, so the lr is the state); ``lr_lambda`` is one function for
    every group or one per group. ``state_dict`` holds the lr last set (not the functions);
    the lrs themselves come back with the optimiser's state, as with torch."""

    def __init__(self, optimizer,
                 lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]],
                 last_epoch: int = -1):
        self.lr_lambdas = _lambdas("MultiplicativeLR", optimizer, lr_lambda)
        super().__init__(optimizer, last_epoch)

    def _chained_lr(self, lr: float, group: int) -> float:
        if self._is_initial:  # (any other epoch multiplies, 0 too, as PyTorch's)
            return lr
        factor = self.lr_lambdas[group](self.last_epoch)
        return lr * _finite("MultiplicativeLR", f"lr_lambda({self.last_epoch})", factor)

    def get_lr(self) -> list[float]:
        """Each group's lr after this epoch's factor (from the optimiser's lr)."""
        _warn_get_lr_outside_step(self)
        groups = self.optimizer.param_groups
        return [float(self._chained_lr(float(groups[g]["lr"]), g))
                for g in range(len(self.base_lrs))]

    state_dict = _lambdas_state_dict
    load_state_dict = _lambdas_load_state_dict


class CyclicLR(_CyclicMomentum):
    """The cyclical learning rate (Smith), stepped once per batch: each group's lr climbs from
    base_lr to max_lr over ``step_size_up`` steps and back over ``step_size_down`` (default
    the same), the cycle's height scaled by ``mode``: "triangular" (1), "triangular2" (halved
    each cycle), "exp_range" (gamma ** step), or by ``scale_fn(cycle or step)`` with
    ``scale_mode`` "cycle" / "iterations". ``cycle_momentum`` (on by default, as PyTorch's)
    moves each group's momentum (SGD) or beta1 (Adam...) the other way, between
    max_momentum and base_momentum. The constructor sets the lrs to base_lr (``base_lrs``)
    and the momenta to max_momentum."""

    def __init__(self, optimizer, base_lr: float | Sequence[float],
                 max_lr: float | Sequence[float], step_size_up: int = 2000,
                 step_size_down: int | None = None, mode: str = "triangular",
                 gamma: float = 1.0, scale_fn: Callable[[float], float] | None = None,
                 scale_mode: str = "cycle", cycle_momentum: bool = True,
                 base_momentum: float | Sequence[float] = 0.8,
                 max_momentum: float | Sequence[float] = 0.9, last_epoch: int = -1):
        owner = "CyclicLR"
        groups = len(_param_groups(owner, optimizer))
        base_lrs = _per_group(owner, "base_lr", base_lr, groups)
        self.max_lrs = _per_group(owner, "max_lr", max_lr, groups)
        up = _positive_number(owner, "step_size_up", step_size_up)
        # (step_size_down=0, as torch takes: the lr climbs, then drops back at once)
        down = up if step_size_down is None else 0.0 if step_size_down == 0 \
            and not isinstance(step_size_down, bool) \
            else _positive_number(owner, "step_size_down", step_size_down)
        self.total_size = up + down
        self.step_ratio = up / self.total_size
        if scale_fn is None and mode not in ("triangular", "triangular2", "exp_range"):
            raise ValueError(f"{owner}: mode must be 'triangular', 'triangular2' or "
                             f"'exp_range' (or give scale_fn), got {mode!r}")
        if scale_fn is not None and not callable(scale_fn):
            raise TypeError(f"{owner}: scale_fn must be callable, got "
                            f"{type(scale_fn).__name__}")
        if scale_mode not in ("cycle", "iterations"):
            raise ValueError(f"{owner}: scale_mode must be 'cycle' or 'iterations', got "
                             f"{scale_mode!r}")
        self.mode = mode
        self.gamma = _finite(owner, "gamma", gamma)
        self._scale_fn_custom = scale_fn
        # the built-in modes fix the scale mode, as PyTorch's
        self.scale_mode = scale_mode if scale_fn is not None \
            else "iterations" if mode == "exp_range" else "cycle"
        self._momentum_settings(owner, optimizer, cycle_momentum, base_momentum, max_momentum,
                                groups)
        if self.cycle_momentum and last_epoch == -1:  # torch's group keys (its schedule
            # reads the scheduler's lists, as here)
            for group, top, bottom in zip(optimizer.param_groups, self.max_momentums,
                                          self.base_momentums):
                group["max_momentum"], group["base_momentum"] = top, bottom
        if last_epoch == -1:
            for group, lr in zip(optimizer.param_groups, base_lrs):
                _set_lr(group, lr)
        # as PyTorch's: the constructor's step is from the groups' initial_lr (base_lr unless a
        # run resumes, or another scheduler set it), the steps after it from base_lr
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    def scale_fn(self, x: float) -> float:
        """The height's scale at cycle (or step) x."""
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return self.gamma ** x

    def _position(self) -> tuple[float, float]:
        """(the fraction of the way from base to max at ``last_epoch``, the scale)."""
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle
        if x <= self.step_ratio:
            fraction = x / self.step_ratio
        else:
            fraction = (x - 1) / (self.step_ratio - 1)
        return fraction, self.scale_fn(cycle if self.scale_mode == "cycle" else self.last_epoch)

    def _lr(self, base_lr: float, group: int) -> float:
        fraction, scale = self._position()
        return base_lr + (self.max_lrs[group] - base_lr) * fraction * scale

    def _momentum(self, top: float, bottom: float, fraction: float, scale: float) -> float:
        return top - (top - bottom) * fraction * scale

    def state_dict(self) -> dict[str, Any]:
        """As the base's; ``_scale_fn_custom`` is None, or a callable object's attributes (a
        function cannot be saved), as PyTorch's."""
        state = super().state_dict()
        fn = self._scale_fn_custom
        state["_scale_fn_custom"] = None if fn is None or isinstance(fn, types.FunctionType) \
            else dict(getattr(fn, "__dict__", {}))
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        state = dict(state)
        attributes = state.pop("_scale_fn_custom", None)
        fn = self._scale_fn_custom
        super().load_state_dict(state)
        self._scale_fn_custom = fn
        if attributes is not None and fn is not None:
            fn.__dict__.update(attributes)


class ChainedScheduler(LRScheduler):
    """Steps every scheduler in ``schedulers`` at each ``step()``, in order, each one from the
    lr the one before it set (PyTorch's recursive forms: StepLR, MultiStepLR, ConstantLR,
    LinearLR, ExponentialLR, PolynomialLR, CosineAnnealingLR and MultiplicativeLR multiply;
    the others set their closed form). Every child takes the first child's ``base_lrs``
    (PyTorch's shared ``initial_lr``: make them in list order). ``state_dict`` holds each
    child's state."""

    def __init__(self, schedulers: Sequence[LRScheduler], optimizer=None):
        schedulers = _children("ChainedScheduler", schedulers, optimizer, "be chained")
        optimizer = schedulers[0].optimizer
        for child in schedulers[1:]:
            child.base_lrs = list(schedulers[0].base_lrs)
        self._schedulers = schedulers
        self.optimizer = optimizer
        self._last_lr = _group_lrs(optimizer.param_groups)

    def step(self) -> None:
        for child in self._schedulers:
            child._chaining = True
            try:
                child.step()
            finally:
                del child._chaining  # back to the class's False
        self._last_lr = _group_lrs(self.optimizer.param_groups)

    def get_lr(self) -> list[float]:
        """None here, as torch's (its base class's NotImplementedError): ``get_last_lr()``
        gives the lrs the last step set."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """``_last_lr`` and ``_schedulers``: each child's ``state_dict``."""
        return {"_last_lr": list(self._last_lr),
                "_schedulers": [child.state_dict() for child in self._schedulers]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        children = _child_states("ChainedScheduler", state, self._schedulers)
        unknown = sorted(set(state) - {"_last_lr", "_schedulers"})
        if unknown or "_last_lr" not in state:
            raise ValueError(f"ChainedScheduler.load_state_dict: expected keys '_last_lr' and "
                             f"'_schedulers', got {sorted(state)}")
        for child, child_state in zip(self._schedulers, children):
            child.load_state_dict(child_state)
            # (each child's last lr is the chain's, as it was when the state was saved)
            child._last_lr = list(child_state.get("_last_lr", child._last_lr))
        self._last_lr = list(state["_last_lr"])
        for group, lr in zip(self._check_group_count(len(self._last_lr)), self._last_lr):
            _set_lr(group, lr)


class _LRScheduler(LRScheduler):
    """torch's deprecated name of LRScheduler (old code subclasses it, overriding
    ``get_lr``): a subclass, as torch's, so its ``__name__`` stays ``_LRScheduler``."""


__all__ = ["ChainedScheduler", "ConstantLR", "CosineAnnealingLR", "CosineAnnealingWarmRestarts",
           "CyclicLR", "ExponentialLR", "LRScheduler", "LambdaLR", "LinearLR", "MultiStepLR",
           "MultiplicativeLR", "OneCycleLR", "PolynomialLR", "ReduceLROnPlateau",
           "SequentialLR", "StepLR"]
