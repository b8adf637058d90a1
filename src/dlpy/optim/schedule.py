"""Learning-rate schedules: callables step -> lr, applied with ``schedule.apply(optimizer, step)``.

``step`` is whatever the caller counts (epochs for StepDecay in the MNIST trainer, optimiser
steps for warmup and cosine).
"""

from __future__ import annotations

import math


class Schedule:
    """Base class: ``lr = schedule(step)``; ``apply`` also sets ``optimizer.lr``."""

    def __call__(self, step: int) -> float:
        raise NotImplementedError

    def apply(self, optimizer, step: int) -> float:
        lr = self(step)
        optimizer.lr = lr
        return lr


def _check_step(name: str, step: int) -> None:
    if step < 0:
        raise ValueError(f"{name}: step must be >= 0, got {step}")


class Constant(Schedule):
    def __init__(self, base_lr: float):
        self.base_lr = base_lr

    def __call__(self, step: int) -> float:
        _check_step("Constant", step)
        return self.base_lr


class StepDecay(Schedule):
    """lr = base_lr / factor ** (step // step_size); the report's ``base / 10 ** (epoch // 2)``
    with the defaults."""

    def __init__(self, base_lr: float, step_size: int = 2, factor: float = 10.0):
        if step_size < 1 or factor <= 0:
            raise ValueError(
                f"StepDecay: step_size must be >= 1 and factor > 0, got {step_size}, {factor}"
            )
        self.base_lr, self.step_size, self.factor = base_lr, step_size, factor

    def __call__(self, step: int) -> float:
        _check_step("StepDecay", step)
        return self.base_lr / self.factor ** (step // self.step_size)


class Warmup(Schedule):
    """Linear warm-up: lr = base_lr * (step + 1) / warmup_steps for the first warmup_steps
    steps, then the ``after`` schedule (shifted to start at 0), or base_lr."""

    def __init__(self, base_lr: float, warmup_steps: int, after: Schedule | None = None):
        if warmup_steps < 0:
            raise ValueError(f"Warmup: warmup_steps must be >= 0, got {warmup_steps}")
        self.base_lr, self.warmup_steps, self.after = base_lr, warmup_steps, after

    def __call__(self, step: int) -> float:
        _check_step("Warmup", step)
        if step < self.warmup_steps:
            return self.base_lr * (step + 1) / self.warmup_steps
        if self.after is None:
            return self.base_lr
        return self.after(step - self.warmup_steps)


class Cosine(Schedule):
    """Cosine decay from base_lr to min_lr over total_steps (after an optional linear warm-up
    of warmup_steps, counted inside total_steps); min_lr afterwards.

    lr = min_lr + (base_lr - min_lr) * (1 + cos(pi * t / T)) / 2, t counted after the warm-up.
    """

    def __init__(self, base_lr: float, total_steps: int, min_lr: float = 0.0,
                 warmup_steps: int = 0):
        if total_steps < 1 or not 0 <= warmup_steps < total_steps:
            raise ValueError(
                f"Cosine: need total_steps >= 1 and 0 <= warmup_steps < total_steps, got "
                f"total_steps={total_steps}, warmup_steps={warmup_steps}"
            )
        self.base_lr, self.total_steps, self.min_lr = base_lr, total_steps, min_lr
        self.warmup_steps = warmup_steps

    def __call__(self, step: int) -> float:
        _check_step("Cosine", step)
        if step < self.warmup_steps:
            return self.base_lr * (step + 1) / self.warmup_steps
        decay_steps = self.total_steps - self.warmup_steps
        t = min(step - self.warmup_steps, decay_steps)
        return self.min_lr + (self.base_lr - self.min_lr) * 0.5 * (
            1.0 + math.cos(math.pi * t / decay_steps))
