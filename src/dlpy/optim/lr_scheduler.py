"""PyTorch's learning-rate schedulers: ``scheduler.step()`` once per epoch (or per optimiser step,
as you count), after ``optimizer.step()``; the scheduler sets each parameter group's ``lr``.

Each computes a group's lr from its ``base_lr`` (the group's lr when the scheduler was made;
``base_lrs`` holds one per group) and ``last_epoch`` in closed form, so ``state_dict`` /
``load_state_dict`` resume exactly. Two keep state instead: ``ReduceLROnPlateau`` (its lr follows
the metrics it was given) and ``SequentialLR`` (its children); their ``state_dict`` holds it.
"""

from __future__ import annotations

import math
import numbers
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from typing import Any


def _param_groups(owner: str, optimizer) -> list[dict[str, Any]]:
    groups = getattr(optimizer, "param_groups", None)
    if not groups:
        raise TypeError(f"{owner}: expected an optimiser with parameter "
                        f"groups, got {type(optimizer).__name__}")
    return groups


class LRScheduler:
    """Base class: ``_lr(base_lr, group)`` from ``last_epoch``; ``step()`` advances and sets
    every group's lr; ``get_lr()`` lists them."""

    def __init__(self, optimizer, last_epoch: int = -1):
        groups = _param_groups(type(self).__name__, optimizer)
        self.optimizer = optimizer
        self.base_lrs = self._initial_lrs(groups)
        self.last_epoch = last_epoch
        self.step()  # as PyTorch: the optimiser gets the lr of epoch last_epoch + 1 (0: base)

    def _initial_lrs(self, groups: list[dict[str, Any]]) -> list[float]:
        """``base_lrs``: each group's lr when the scheduler is made."""
        return [float(group["lr"]) for group in groups]

    @property
    def base_lr(self) -> float:
        """The base lr of a one-group optimiser."""
        if len(self.base_lrs) != 1:
            raise ValueError(f"{type(self).__name__}.base_lr: the optimiser has "
                             f"{len(self.base_lrs)} groups; read base_lrs")
        return self.base_lrs[0]

    def _lr(self, base_lr: float, group: int) -> float:
        raise NotImplementedError

    def get_lr(self) -> list[float]:
        """Each group's lr at ``last_epoch``."""
        return [float(self._lr(base, g)) for g, base in enumerate(self.base_lrs)]

    def _check_group_count(self, count: int) -> list[dict[str, Any]]:
        groups = self.optimizer.param_groups
        if len(groups) != count:
            raise ValueError(f"{type(self).__name__}: the optimiser has {len(groups)} parameter "
                             f"groups, the scheduler was made for {count}")
        return groups

    def _apply(self) -> None:
        groups = self._check_group_count(len(self.base_lrs))
        self._last_lr = self.get_lr()
        for group, lr in zip(groups, self._last_lr):
            group["lr"] = lr

    def step(self) -> None:
        self.last_epoch += 1
        self._apply()

    def get_last_lr(self) -> list[float]:
        """The lr of each parameter group set by the last step."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimiser (and any function, which cannot be saved)."""
        return {k: v for k, v in self.__dict__.items()
                if k not in ("optimizer", "lr_lambdas") and not callable(v)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        unknown = sorted(set(state) - set(self.state_dict()))
        if unknown:
            raise ValueError(f"{type(self).__name__}.load_state_dict: unexpected keys {unknown}")
        self.__dict__.update(state)
        self._apply()


def _positive_int(owner: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{owner}: {name} must be a positive integer, got {value!r}")
    return value


def _finite(owner: str, name: str, value) -> float:
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{owner}: {name} must be a finite number, got {value!r}")
    return float(value)


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
        self.step_size = _positive_int("StepLR", "step_size", step_size)
        self.gamma = _finite("StepLR", "gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def _lr(self, base_lr: float, group: int) -> float:
        return base_lr * self.gamma ** (self.last_epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2."""

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0,  # noqa: N803 - PyTorch's
                 last_epoch: int = -1):
        self.T_max = _positive_int("CosineAnnealingLR", "T_max", T_max)
        self.eta_min = _finite("CosineAnnealingLR", "eta_min", eta_min)
        super().__init__(optimizer, last_epoch)

    def _lr(self, base_lr: float, group: int) -> float:
        cosine = 1 + math.cos(math.pi * self.last_epoch / self.T_max)
        return self.eta_min + (base_lr - self.eta_min) * cosine / 2


class LambdaLR(LRScheduler):
    """lr = base_lr * lr_lambda(epoch); ``lr_lambda`` is one function for every group or a list
    with one per group. The functions are not part of ``state_dict``."""

    def __init__(self, optimizer,
                 lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]],
                 last_epoch: int = -1):
        lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else None
        groups = len(getattr(optimizer, "param_groups", ()))
        if lambdas is None:
            if not callable(lr_lambda):
                raise TypeError(f"LambdaLR: lr_lambda must be callable, got "
                                f"{type(lr_lambda).__name__}")
            lambdas = [lr_lambda] * max(groups, 1)
        elif len(lambdas) != groups or not all(callable(f) for f in lambdas):
            raise ValueError(f"LambdaLR: expected {groups} callables in lr_lambda (one per "
                             f"parameter group), got {lr_lambda!r:.80}")
        self.lr_lambdas = lambdas
        super().__init__(optimizer, last_epoch)

    def _lr(self, base_lr: float, group: int) -> float:
        factor = self.lr_lambdas[group](self.last_epoch)
        return base_lr * _finite("LambdaLR", f"lr_lambda({self.last_epoch})", factor)


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
        self.total_iters = _positive_int("LinearLR", "total_iters", total_iters)
        super().__init__(optimizer, last_epoch)

    def _lr(self, base_lr: float, group: int) -> float:
        fraction = min(self.last_epoch, self.total_iters) / self.total_iters
        return base_lr * (self.start_factor
                               + (self.end_factor - self.start_factor) * fraction)


class ExponentialLR(LRScheduler):
    """lr = base_lr * gamma ** epoch."""

    def __init__(self, optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = _finite("ExponentialLR", "gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def _lr(self, base_lr: float, group: int) -> float:
        return base_lr * self.gamma ** self.last_epoch


class MultiStepLR(LRScheduler):
    """lr = base_lr * gamma ** (number of milestones <= epoch); a milestone given twice decays
    twice, as PyTorch's."""

    def __init__(self, optimizer, milestones: Iterable[int], gamma: float = 0.1,
                 last_epoch: int = -1):
        self.milestones = sorted(_epochs("MultiStepLR", "milestones", milestones))
        self.gamma = _finite("MultiStepLR", "gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def _lr(self, base_lr: float, group: int) -> float:
        return base_lr * self.gamma ** bisect_right(self.milestones, self.last_epoch)


class ConstantLR(LRScheduler):
    """lr = base_lr * factor for the first total_iters epochs, base_lr after."""

    def __init__(self, optimizer, factor: float = 1.0 / 3, total_iters: int = 5,
                 last_epoch: int = -1):
        self.factor = _in_range("ConstantLR", "factor", factor, 0, 1)
        self.total_iters = _positive_int("ConstantLR", "total_iters", total_iters)
        super().__init__(optimizer, last_epoch)

    def _lr(self, base_lr: float, group: int) -> float:
        return base_lr * self.factor if self.last_epoch < self.total_iters else base_lr


class PolynomialLR(LRScheduler):
    """lr = base_lr * (1 - min(epoch, total_iters) / total_iters) ** power: 0 from total_iters
    on."""

    def __init__(self, optimizer, total_iters: int = 5, power: float = 1.0,
                 last_epoch: int = -1):
        self.total_iters = _positive_int("PolynomialLR", "total_iters", total_iters)
        self.power = _finite("PolynomialLR", "power", power)
        if self.power < 0:
            raise ValueError(f"PolynomialLR: power must be >= 0, got {power!r}")
        super().__init__(optimizer, last_epoch)

    def _lr(self, base_lr: float, group: int) -> float:
        fraction = min(self.total_iters, self.last_epoch) / self.total_iters
        return base_lr * (1.0 - fraction) ** self.power


class CosineAnnealingWarmRestarts(LRScheduler):
    """SGDR: lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2, where T_cur
    counts the epochs since the last restart and the cycles last T_0, T_0 * T_mult, T_0 *
    T_mult ** 2... epochs. Integer epochs only (PyTorch's ``step(epoch)`` with a fraction is
    not here)."""

    def __init__(self, optimizer, T_0: int, T_mult: int = 1,  # noqa: N803 - PyTorch's
                 eta_min: float = 0.0, last_epoch: int = -1):
        self.T_0 = _positive_int("CosineAnnealingWarmRestarts", "T_0", T_0)
        self.T_mult = _positive_int("CosineAnnealingWarmRestarts", "T_mult", T_mult)
        self.eta_min = _finite("CosineAnnealingWarmRestarts", "eta_min", eta_min)
        super().__init__(optimizer, last_epoch)

    def _cycle(self) -> tuple[int, int]:
        """(T_cur, T_i) at ``last_epoch``."""
        epoch = max(self.last_epoch, 0)
        if self.T_mult == 1:
            return epoch % self.T_0, self.T_0
        start, length = 0, self.T_0
        while epoch >= start + length:
            start, length = start + length, length * self.T_mult
        return epoch - start, length

    @property
    def T_cur(self) -> int:  # noqa: N802 - PyTorch's
        """Epochs since the last restart."""
        return self._cycle()[0]

    @property
    def T_i(self) -> int:  # noqa: N802 - PyTorch's
        """The length of the current cycle."""
        return self._cycle()[1]

    def _lr(self, base_lr: float, group: int) -> float:
        t_cur, t_i = self._cycle()
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * t_cur / t_i)) / 2


class OneCycleLR(LRScheduler):
    """The 1cycle policy, stepped once per batch for ``total_steps`` (or ``epochs *
    steps_per_epoch``) steps: lr anneals from max_lr / div_factor up to max_lr over the first
    ``pct_start`` of the steps, then down to max_lr / div_factor / final_div_factor
    (``three_phase``: back to the start over as many steps, then down to that minimum), by
    ``anneal_strategy`` "cos" or "linear". ``cycle_momentum`` (on by default, as PyTorch's)
    anneals each group's momentum (SGD) or beta1 (Adam, AdamW) the other way, between
    max_momentum and base_momentum. Stepping past ``total_steps`` is a ValueError.
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
        self.pct_start = _in_range(owner, "pct_start", pct_start, 0, 1)
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"{owner}: anneal_strategy must be 'cos' or 'linear', got "
                             f"{anneal_strategy!r}")
        self.anneal_strategy = anneal_strategy
        self.three_phase = bool(three_phase)
        self.div_factor = _finite(owner, "div_factor", div_factor)
        self.final_div_factor = _finite(owner, "final_div_factor", final_div_factor)
        if self.div_factor <= 0 or self.final_div_factor <= 0:
            raise ValueError(f"{owner}: div_factor and final_div_factor must be > 0, got "
                             f"{div_factor!r}, {final_div_factor!r}")
        self.max_lrs = _per_group(owner, "max_lr", max_lr, groups)
        if any(lr < 0 for lr in self.max_lrs):
            raise ValueError(f"{owner}: max_lr must be >= 0, got {max_lr!r}")
        ends = [end for end, _, _ in self._phases()]
        if any(end == start for start, end in zip([0.0, *ends], ends)):
            raise ValueError(f"{owner}: pct_start={pct_start} leaves a phase of no steps in "
                             f"total_steps={self.total_steps}")
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
            for name, values in (("base_momentum", self.base_momentums),
                                 ("max_momentum", self.max_momentums)):
                for m in values:
                    _in_range(owner, name, m, 0, 1, high_open=True)
        super().__init__(optimizer, last_epoch)

    def _initial_lrs(self, groups: list[dict[str, Any]]) -> list[float]:
        return [max_lr / self.div_factor for max_lr in self.max_lrs]

    def _phases(self) -> list[tuple[float, str, str]]:
        """(last step, from, to) of each phase: PyTorch's end steps, as floats as there."""
        total, pct = self.total_steps, self.pct_start
        if self.three_phase:
            return [(float(pct * total) - 1, "initial", "max"),
                    (float(2 * pct * total) - 2, "max", "initial"),
                    (total - 1, "initial", "min")]
        return [(float(pct * total) - 1, "initial", "max"), (total - 1, "max", "min")]

    def _check_steps(self, step: int) -> None:
        if step > self.total_steps:
            raise ValueError(f"OneCycleLR: tried to step {step} times; total_steps is "
                             f"{self.total_steps}")

    def _position(self) -> tuple[float, str, str]:
        """(fraction of the current phase done, its start, its end) at ``last_epoch``."""
        step = self.last_epoch
        self._check_steps(step)
        phases = self._phases()
        # the first phase not over yet; the last one also takes step total_steps
        i = next((i for i, (end, _, _) in enumerate(phases[:-1]) if step <= end),
                 len(phases) - 1)
        start = phases[i - 1][0] if i else 0.0
        end, low, high = phases[i]
        return (step - start) / (end - start), low, high

    def _anneal(self, start: float, end: float, fraction: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * fraction) + 1)
        return (end - start) * fraction + start

    def _lr(self, base_lr: float, group: int) -> float:
        fraction, low, high = self._position()
        initial = self.max_lrs[group] / self.div_factor
        lrs = {"initial": initial, "max": self.max_lrs[group],
               "min": initial / self.final_div_factor}
        return self._anneal(lrs[low], lrs[high], fraction)

    def _apply(self) -> None:
        super()._apply()
        if not self.cycle_momentum:
            return
        fraction, low, high = self._position()
        for g, group in enumerate(self.optimizer.param_groups):
            # momentum runs against the lr: high while the lr is low
            top, bottom = self.max_momentums[g], self.base_momentums[g]
            momentums = {"initial": top, "max": bottom, "min": top}
            momentum = self._anneal(momentums[low], momentums[high], fraction)
            if self.use_beta1:
                group["betas"] = (momentum, *group["betas"][1:])
            else:
                group["momentum"] = momentum

    def step(self) -> None:
        self._check_steps(self.last_epoch + 1)  # before counting, so the state stays usable
        super().step()


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
        schedulers = list(schedulers)
        if not schedulers:
            raise ValueError(f"{owner}: expected at least one scheduler, got none")
        for i, child in enumerate(schedulers):
            if not isinstance(child, LRScheduler):
                raise TypeError(f"{owner}: schedulers[{i}] must be an LRScheduler, got "
                                f"{type(child).__name__}")
            if isinstance(child, ReduceLROnPlateau):
                raise ValueError(f"{owner}: schedulers[{i}] is a ReduceLROnPlateau, whose step "
                                 "needs a metric; it cannot run in a sequence")
            if child.optimizer is not optimizer:
                raise ValueError(f"{owner}: schedulers[{i}] ({type(child).__name__}) belongs "
                                 "to another optimiser")
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

    def get_lr(self) -> list[float]:
        return self._current().get_lr()

    def _apply(self) -> None:
        child = self._current()
        child._apply()
        self._last_lr = child.get_last_lr()

    def state_dict(self) -> dict[str, Any]:
        """``last_epoch`` and the rest, with ``_schedulers``: each child's ``state_dict``."""
        state = {k: v for k, v in super().state_dict().items() if k != "_schedulers"}
        state["_schedulers"] = [child.state_dict() for child in self._schedulers]
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        children = state.get("_schedulers")
        if not isinstance(children, list) or len(children) != len(self._schedulers):
            raise ValueError(f"SequentialLR.load_state_dict: expected '_schedulers' with the "
                             f"states of {len(self._schedulers)} schedulers, got "
                             f"{children!r:.80}")
        for child, child_state in zip(self._schedulers, children):
            child.load_state_dict(child_state)
        super().load_state_dict({k: v for k, v in state.items() if k != "_schedulers"})


class ReduceLROnPlateau(LRScheduler):
    """``step(metric)`` once per epoch: when the metric has not improved for more than
    ``patience`` epochs in a row, every group's lr becomes max(lr * factor, min_lr) (a change
    under ``eps`` is skipped), then ``cooldown`` epochs pass before counting again. Improving
    (mode "min") means below best * (1 - threshold) (threshold_mode "rel") or best - threshold
    ("abs"); mode "max" the other way. The lr is the history of the metrics, so ``state_dict``
    holds that state and ``load_state_dict`` also puts the saved lrs back in the optimiser."""

    def __init__(self, optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float | Sequence[float] = 0.0, eps: float = 1e-8):
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
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self._last_lr = [float(group["lr"]) for group in groups]

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

    def step(self, metric: float) -> None:  # type: ignore[override]
        """Count one epoch with ``metric`` (a number, or a one-element Tensor or array)."""
        value = metric.item() if hasattr(metric, "item") else metric
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"ReduceLROnPlateau.step: metric must be a number, got "
                            f"{type(metric).__name__}")
        value = float(value)
        self.last_epoch += 1
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
        self._last_lr = [float(group["lr"]) for group in self.optimizer.param_groups]

    def _reduce_lr(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs) and self.default_min_lr is not None:
            self.min_lrs = [self.default_min_lr] * len(groups)
        self._check_group_count(len(self.min_lrs))
        for group, min_lr in zip(groups, self.min_lrs):
            old = float(group["lr"])
            new = max(old * self.factor, min_lr)
            if old - new > self.eps:
                group["lr"] = new

    def get_lr(self) -> list[float]:
        """Each group's lr as the last step left it."""
        return list(self._last_lr)

    def _apply(self) -> None:
        """(load_state_dict) put the saved lrs back."""
        for group, lr in zip(self._check_group_count(len(self._last_lr)), self._last_lr):
            group["lr"] = lr


__all__ = ["ConstantLR", "CosineAnnealingLR", "CosineAnnealingWarmRestarts", "ExponentialLR",
           "LRScheduler", "LambdaLR", "LinearLR", "MultiStepLR", "OneCycleLR", "PolynomialLR",
           "ReduceLROnPlateau", "SequentialLR", "StepLR"]
