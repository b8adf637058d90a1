"""Adadelta (Zeiler), as torch.optim.Adadelta, on dlpy.optim.optimizer's base: PyTorch's
single-tensor formulas in the same order, in place block by block (``Optimizer._blocks``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from dlpy.optim.adaptive import Params, _checked
from dlpy.optim.optimizer import (
    _F32,
    Optimizer,
    _add,
    _add_square,
    _effective_grad,
    _low_grad,
    _plus,
    _round,
)


class Adadelta(Optimizer):
    """v = rho v + (1 - rho) g^2;  delta = sqrt(u + eps) / sqrt(v + eps) * g;
    u = rho u + (1 - rho) delta^2;  p -= lr delta.

    g is the gradient (-grad with ``maximize``) plus ``weight_decay * p`` (L2).
    State: ``square_avg`` (v), ``acc_delta`` (u)."""

    torch_flags = ("foreach", "capturable", "differentiable")
    scratch_arrays = 3

    def __init__(self, params: Params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0, foreach: bool | None = None, *,
                 maximize: bool = False, **flags: Any):
        if foreach is not None:  # PyTorch's fifth positional argument (no effect here)
            flags["foreach"] = foreach
        super().__init__(params, {"lr": lr, "rho": rho, "eps": eps,
                                  "weight_decay": weight_decay, "maximize": maximize}
                         | self._checked_flags(flags))

    def _check_group(self, settings):
        settings = _checked("Adadelta", super()._check_group(settings),
                            ("rho", "eps", "weight_decay"), ("maximize",))
        if settings["rho"] > 1:  # 1 - rho < 0 would let the averages turn negative
            raise ValueError(f"Adadelta: rho must lie in [0, 1], got {settings['rho']}")
        return settings

    def _slots(self, group):
        return ("square_avg", "acc_delta")

    def _update(self, param, grad, state, group):
        lr, rho, eps = group["lr"], group["rho"], group["eps"]
        weight_decay, maximize = group["weight_decay"], group["maximize"]
        state["step"] += 1
        for (p, g, square, acc), (s, t, delta) in self._blocks(
                param, grad, state["square_avg"], state["acc_delta"]):
            g = _effective_grad(p, g, s, weight_decay, maximize)
            square *= rho
            _add_square(square, g, 1.0 - rho, t)
            np.add(square, eps, out=t)  # std
            np.sqrt(t, out=t)
            np.add(acc, eps, out=delta)
            np.sqrt(delta, out=delta)
            delta /= t
            delta *= g
            acc *= rho
            _add_square(acc, delta, 1.0 - rho, t)
            np.multiply(delta, -lr, out=t)
            p += t

    def _update_low_precision(self, param, grad, state, group):
        """torch's single-tensor Adadelta on a float16/bfloat16 parameter (each op rounded to
        the parameter's dtype, as optimizer.py's low-precision steps)."""
        lr, rho, eps = group["lr"], group["rho"], group["eps"]
        dtype = param.dtype
        state["step"] += 1
        p, g = _low_grad(param, grad, group["weight_decay"], group["maximize"])
        v, u = state["square_avg"], state["acc_delta"]
        v[...] = _round(v.astype(_F32) * _F32(rho), dtype) + _F32(1.0 - rho) * g * g
        std = _round(np.sqrt(_plus(v.astype(_F32), eps, dtype)), dtype)
        delta = _round(np.sqrt(_plus(u.astype(_F32), eps, dtype)), dtype)
        delta = _round(_round(delta / std, dtype) * g, dtype)  # delta.div_(std).mul_(g)
        u[...] = _round(u.astype(_F32) * _F32(rho), dtype) + _F32(1.0 - rho) * delta * delta
        param[...] = _add(p, delta, -lr, dtype)


# torch.optim.adadelta.adadelta, the functional form (imported last: it uses the class above)
from dlpy.optim._functional import adadelta  # noqa: E402

__all__ = ["Adadelta", "adadelta"]
