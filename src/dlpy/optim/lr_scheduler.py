"""PyTorch's learning-rate schedulers: ``scheduler.step()`` once per epoch (or per optimiser step,
as you count), after ``optimizer.step()``; the scheduler sets ``optimizer.lr``.

Each computes lr from ``base_lr`` (the optimiser's lr when the scheduler was made) and
``last_epoch`` in closed form, so ``state_dict``/``load_state_dict`` resume exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any


class LRScheduler:
    """Base class: ``get_lr()`` from ``base_lr`` and ``last_epoch``; ``step()`` advances."""

    def __init__(self, optimizer, last_epoch: int = -1):
        if not hasattr(optimizer, "lr"):
            raise TypeError(f"{type(self).__name__}: expected an optimiser with an lr, got "
                            f"{type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lr = float(optimizer.lr)
        self.last_epoch = last_epoch
        self.step()  # as PyTorch: the optimiser gets the lr of epoch last_epoch + 1 (0: base)

    def get_lr(self) -> float:
        raise NotImplementedError

    def step(self) -> None:
        self.last_epoch += 1
        self.optimizer.lr = self._last_lr = float(self.get_lr())

    def get_last_lr(self) -> list[float]:
        """The lr set by the last step, in a list (one entry per parameter group, as PyTorch)."""
        return [self._last_lr]

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimiser (and any function, which cannot be saved)."""
        return {k: v for k, v in self.__dict__.items()
                if k != "optimizer" and not callable(v)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        unknown = sorted(set(state) - set(self.state_dict()))
        if unknown:
            raise ValueError(f"{type(self).__name__}.load_state_dict: unexpected keys {unknown}")
        self.__dict__.update(state)
        self.optimizer.lr = self._last_lr = float(self.get_lr())


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

    def get_lr(self) -> float:
        return self.base_lr * self.gamma ** (self.last_epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2."""

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0,  # noqa: N803 - PyTorch's
                 last_epoch: int = -1):
        self.T_max = _positive_int("CosineAnnealingLR", "T_max", T_max)
        self.eta_min = _finite("CosineAnnealingLR", "eta_min", eta_min)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> float:
        cosine = 1 + math.cos(math.pi * self.last_epoch / self.T_max)
        return self.eta_min + (self.base_lr - self.eta_min) * cosine / 2


class LambdaLR(LRScheduler):
    """lr = base_lr * lr_lambda(epoch). The function is not part of ``state_dict``."""

    def __init__(self, optimizer, lr_lambda: Callable[[int], float], last_epoch: int = -1):
        if not callable(lr_lambda):
            raise TypeError(f"LambdaLR: lr_lambda must be callable, got "
                            f"{type(lr_lambda).__name__}")
        self.lr_lambda = lr_lambda
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> float:
        factor = self.lr_lambda(self.last_epoch)
        return self.base_lr * _finite("LambdaLR", f"lr_lambda({self.last_epoch})", factor)


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

    def get_lr(self) -> float:
        fraction = min(self.last_epoch, self.total_iters) / self.total_iters
        return self.base_lr * (self.start_factor
                               + (self.end_factor - self.start_factor) * fraction)


__all__ = ["CosineAnnealingLR", "LRScheduler", "LambdaLR", "LinearLR", "StepLR"]
