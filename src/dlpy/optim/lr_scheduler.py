"""PyTorch's learning-rate schedulers: ``scheduler.step()`` once per epoch (or per optimiser step,
as you count), after ``optimizer.step()``; the scheduler sets each parameter group's ``lr``.

Each computes a group's lr from its ``base_lr`` (the group's lr when the scheduler was made;
``base_lrs`` holds one per group) and ``last_epoch`` in closed form, so ``state_dict`` /
``load_state_dict`` resume exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any


class LRScheduler:
    """Base class: ``_lr(base_lr, group)`` from ``last_epoch``; ``step()`` advances and sets
    every group's lr; ``get_lr()`` lists them."""

    def __init__(self, optimizer, last_epoch: int = -1):
        groups = getattr(optimizer, "param_groups", None)
        if not groups:
            raise TypeError(f"{type(self).__name__}: expected an optimiser with parameter "
                            f"groups, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lrs = [float(group["lr"]) for group in groups]
        self.last_epoch = last_epoch
        self.step()  # as PyTorch: the optimiser gets the lr of epoch last_epoch + 1 (0: base)

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

    def _apply(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.base_lrs):
            raise ValueError(f"{type(self).__name__}: the optimiser has {len(groups)} parameter "
                             f"groups, the scheduler was made for {len(self.base_lrs)}")
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


__all__ = ["CosineAnnealingLR", "LRScheduler", "LambdaLR", "LinearLR", "StepLR"]
