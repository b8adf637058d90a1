"""Optimisers: SGD (momentum, weight decay), Adam, AdamW, and gradient-norm clipping.

Updates run in place on the parameters' numpy arrays with preallocated buffers, so a training
step allocates nothing here. Formulas follow PyTorch's, so results match it step for step.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from dlpy.tensor import Tensor


class Optimizer:
    """Base class: holds the parameters, their per-parameter state and the hyper-parameters.

    ``hyper`` names the float hyper-parameters (``lr`` first) saved by ``state_dict``; ``slots``
    names the per-parameter state arrays (e.g. ``exp_avg``), created lazily at the first step.
    """

    hyper: tuple[str, ...] = ("lr",)
    slots: tuple[str, ...] = ()

    def __init__(self, params: Iterable[Tensor], lr: float):
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        for i, p in enumerate(self.params):
            if not isinstance(p, Tensor) or not p.requires_grad:
                raise TypeError(
                    f"{type(self).__name__}: parameter {i} must be a Tensor with "
                    f"requires_grad=True, got {type(p).__name__}"
                )
        _check_hyper(type(self).__name__, lr=lr)
        self.lr = float(lr)
        self.step_count = 0
        # per parameter: slot name -> array; plus one scratch array for temporaries
        self.state: list[dict[str, np.ndarray]] = [{} for _ in self.params]
        self._scratch: list[np.ndarray | None] = [None] * len(self.params)

    def zero_grad(self) -> None:
        """Forget the gradients (set to None, as PyTorch's default)."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """Update every parameter that has a gradient."""
        if not math.isfinite(self.lr) or self.lr < 0:  # a schedule may have set it
            raise ValueError(f"{type(self).__name__}.step: lr must be finite and >= 0, got "
                             f"{self.lr}")
        self.step_count += 1
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            if p.grad.shape != p.data.shape:
                raise ValueError(
                    f"{type(self).__name__}.step: parameter {i} has shape {p.data.shape} but "
                    f"its gradient has {p.grad.shape}"
                )
            state = self.state[i]
            if not state and self.slots:
                for name in self.slots:
                    state[name] = np.zeros_like(p.data)
                state["step"] = np.zeros((), dtype=np.int64)
            scratch = self._scratch[i]
            if scratch is None:
                scratch = self._scratch[i] = np.empty_like(p.data)
            grad = p.grad if p.grad.dtype == p.data.dtype else p.grad.astype(p.data.dtype)
            self._update(p.data, grad, state, scratch)

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray],
                scratch: np.ndarray) -> None:
        raise NotImplementedError

    # ----------------------------------------------------------------- state
    def state_dict(self) -> dict[str, np.ndarray]:
        """Flat name -> array: ``hyper.lr``..., ``step_count``, ``state.<param index>.<slot>``.
        Arrays only, so it saves in an ``.npz`` beside the model."""
        out = {f"hyper.{name}": np.asarray(float(getattr(self, name))) for name in self.hyper}
        out["step_count"] = np.asarray(self.step_count, dtype=np.int64)
        for i, state in enumerate(self.state):
            for name, value in state.items():
                out[f"state.{i}.{name}"] = value.copy()
        return out

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore hyper-parameters and per-parameter state; strict about names and shapes."""
        name = type(self).__name__
        expected = {f"hyper.{h}" for h in self.hyper} | {"step_count"}
        missing = sorted(expected - set(state))
        unexpected = sorted(k for k in state if k not in expected and not k.startswith("state."))
        if missing or unexpected:
            raise ValueError(
                f"{name}.load_state_dict: missing keys: {missing or 'none'}; unexpected keys: "
                f"{unexpected or 'none'}"
            )
        new_state: list[dict[str, np.ndarray]] = [{} for _ in self.params]
        allowed = set(self.slots) | {"step"} if self.slots else set()
        for key, value in state.items():
            if not key.startswith("state."):
                continue
            parts = key.split(".")
            if len(parts) != 3 or not parts[1].isdigit() or parts[2] not in allowed:
                raise ValueError(f"{name}.load_state_dict: unexpected key {key!r}")
            index = int(parts[1])
            if index >= len(self.params):
                raise ValueError(
                    f"{name}.load_state_dict: state for parameter {index}, but the optimiser "
                    f"has {len(self.params)} parameters"
                )
            value = np.asarray(value)
            if parts[2] != "step" and value.shape != self.params[index].shape:
                raise ValueError(
                    f"{name}.load_state_dict: {key} has shape {value.shape}, parameter {index} "
                    f"has {self.params[index].shape}"
                )
            dtype = np.int64 if parts[2] == "step" else self.params[index].dtype
            new_state[index][parts[2]] = value.astype(dtype, copy=True)
        for index, slots in enumerate(new_state):
            if slots and set(slots) != allowed:
                raise ValueError(
                    f"{name}.load_state_dict: parameter {index} has state "
                    f"{sorted(slots)}, expected {sorted(allowed)}"
                )
        for h in self.hyper:
            setattr(self, h, float(state[f"hyper.{h}"]))
        self.step_count = int(state["step_count"])
        self.state = new_state

    def __repr__(self) -> str:
        settings = ", ".join(f"{h}={getattr(self, h)}" for h in self.hyper)
        return f"{type(self).__name__}({len(self.params)} parameters, {settings})"


def _check_hyper(owner: str, **values: float) -> None:
    """Hyper-parameters must be finite, non-negative numbers: a NaN lr would pass ``lr < 0``."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
                or not math.isfinite(value) or value < 0:
            raise ValueError(f"{owner}: {name} must be a finite number >= 0, got {value!r}")


class SGD(Optimizer):
    """g = grad + weight_decay * p;  buf = momentum * buf + g (buf = g at the first step);
    p -= lr * (g + momentum * buf if nesterov else buf), or p -= lr * g without momentum."""

    hyper = ("lr", "momentum", "weight_decay")

    def __init__(self, params: Iterable[Tensor], lr: float, momentum: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        super().__init__(params, lr)
        _check_hyper("SGD", momentum=momentum, weight_decay=weight_decay)
        if nesterov and momentum == 0:
            raise ValueError("SGD: nesterov=True needs momentum > 0")
        self.momentum, self.weight_decay, self.nesterov = momentum, weight_decay, nesterov
        self.slots = ("momentum_buffer",) if momentum else ()

    def _update(self, param, grad, state, scratch):
        if self.weight_decay:
            np.multiply(param, self.weight_decay, out=scratch)
            scratch += grad
            grad = scratch
        if self.momentum:
            buf = state["momentum_buffer"]
            if state["step"] == 0:
                buf[...] = grad
            else:
                buf *= self.momentum
                buf += grad
            state["step"] += 1
            if self.nesterov:
                if grad is not scratch:
                    np.copyto(scratch, grad)
                scratch += self.momentum * buf
                grad = scratch
            else:
                grad = buf
        np.multiply(grad, self.lr, out=scratch)
        param -= scratch


class Adam(Optimizer):
    """m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
    p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).

    weight_decay adds weight_decay * p to g (L2, as torch.optim.Adam); AdamW decays p directly.
    """

    hyper = ("lr", "beta1", "beta2", "eps", "weight_decay")
    slots = ("exp_avg", "exp_avg_sq")
    decoupled = False

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(params, lr)
        _check_hyper(type(self).__name__, beta1=betas[0], beta2=betas[1], eps=eps,
                     weight_decay=weight_decay)
        if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"{type(self).__name__}: betas must lie in [0, 1), got {betas}")
        if eps < 0 or weight_decay < 0:
            raise ValueError(
                f"{type(self).__name__}: eps and weight_decay must be >= 0, got {eps}, "
                f"{weight_decay}"
            )
        self.beta1, self.beta2 = float(betas[0]), float(betas[1])
        self.eps, self.weight_decay = float(eps), float(weight_decay)

    def _update(self, param, grad, state, scratch):
        if self.weight_decay:
            if self.decoupled:
                param *= 1.0 - self.lr * self.weight_decay
            else:
                np.multiply(param, self.weight_decay, out=scratch)
                scratch += grad
                grad = scratch.copy()
        state["step"] += 1
        t = int(state["step"])
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= self.beta1
        np.multiply(grad, 1.0 - self.beta1, out=scratch)
        m += scratch
        v *= self.beta2
        np.multiply(grad, grad, out=scratch)
        scratch *= 1.0 - self.beta2
        v += scratch
        bias1, bias2 = 1.0 - self.beta1 ** t, 1.0 - self.beta2 ** t
        np.sqrt(v, out=scratch)
        scratch *= 1.0 / math.sqrt(bias2)
        scratch += self.eps
        np.divide(m, scratch, out=scratch)
        scratch *= self.lr / bias1
        param -= scratch


class AdamW(Adam):
    """Adam with decoupled weight decay: p *= 1 - lr * weight_decay before the Adam step."""

    decoupled = True

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2):
        super().__init__(params, lr, betas, eps, weight_decay)


def clip_grad_norm(params: Iterable[Tensor], max_norm: float,
                   error_if_nonfinite: bool = True) -> float:
    """Scale the gradients in place so their joint L2 norm is at most ``max_norm``.

    Returns the norm before clipping (as torch.nn.utils.clip_grad_norm_). A NaN or infinite
    norm raises FloatingPointError (PyTorch's default is not to; pass False for that: the
    gradients are then left as they are and the non-finite norm is returned).
    """
    if not math.isfinite(max_norm) or max_norm <= 0:
        raise ValueError(f"clip_grad_norm: max_norm must be finite and > 0, got {max_norm}")
    if isinstance(params, Tensor):
        params = [params]
    grads = [p.grad for p in params if p.grad is not None]
    total = math.sqrt(sum(float(np.vdot(g, g)) for g in grads))
    if not math.isfinite(total):
        if error_if_nonfinite:
            raise FloatingPointError(
                f"clip_grad_norm: the total gradient norm is {total} (a gradient holds NaN or "
                "inf); pass error_if_nonfinite=False to carry on"
            )
        return total
    scale = max_norm / (total + 1e-6)
    if scale < 1.0:
        for g in grads:
            g *= scale
    return total
