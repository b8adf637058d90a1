"""Adafactor (Shazeer and Stern), as torch.optim.Adafactor (PyTorch 2.5+) on
dlpy.optim.optimizer's base.

A parameter of 2+ dimensions keeps its second moment factored over the last two: a row factor
``row_var`` (..., m, 1) and a column factor ``col_var`` (..., 1, n); a vector or a scalar keeps
a full ``variance``. The formulas and their order are PyTorch's single-tensor implementation's.
The update's norm is needed before the update is applied, so a step works on whole arrays (with
three reused temporaries of the parameter's shape) rather than block by block.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dlpy.optim.adaptive import Params, _checked
from dlpy.optim.optimizer import (
    _F32,
    Optimizer,
    _add,
    _check_hyper,
    _lerp,
    _lerp_low,
    _round,
    torch_layout_default,
)


class Adafactor(Optimizer):
    """t = step;  w = t^beta2_decay;  rho = min(lr, 1 / sqrt(t));
    alpha = max(eps2, RMS(p)) rho;  p *= 1 - lr weight_decay;
    2+ dims: R = lerp(R, mean_last(g^2), w), C = lerp(C, mean_second_last(g^2), w),
    V = R C / max(mean(R), eps1);  else V = lerp(V, g^2, w);
    U = g / sqrt(max(V, eps1^2));  p -= alpha U / max(1, RMS(U) / d).

    ``eps = (eps1, eps2)``: eps1 None is the parameter dtype's machine epsilon (in a saved
    state it is stored as NaN). State: ``row_var``, ``col_var`` or ``variance``."""

    accepts_complex = "step"  # refused by the step, as torch's

    torch_flags = ("foreach",)
    number_step_message = "`state_steps` argument must contain a list of singleton tensors"
    scratch_arrays = 3

    def __init__(self, params: Params, lr: float = 1e-2, beta2_decay: float = -0.8,
                 eps: tuple[float | None, float] = (None, 1e-3), d: float = 1.0,
                 weight_decay: float = 0.0, *, maximize: bool = False, **flags: Any):
        super().__init__(params, {"lr": lr, "beta2_decay": beta2_decay, "eps": _pair_of(eps),
                                  "d": d, "weight_decay": weight_decay, "maximize": maximize}
                         | self._checked_flags(flags))

    def _check_group(self, settings):
        settings = _checked("Adafactor", super()._check_group(settings),
                            ("d", "weight_decay"), ("maximize",))
        decay = settings["beta2_decay"]
        if isinstance(decay, bool) or not isinstance(decay, (int, float, np.number)) \
                or not math.isfinite(decay) or decay > 0:
            raise ValueError(f"Adafactor: beta2_decay must be a finite number <= 0, got "
                             f"{decay!r}")
        if settings["d"] < 1:
            raise ValueError(f"Adafactor: d (the clipping threshold) must be >= 1, got "
                             f"{settings['d']}")
        eps = settings["eps"]
        if not isinstance(eps, (tuple, list)) or len(eps) != 2:
            raise ValueError(f"Adafactor: eps must be a pair (eps1 or None, eps2), got {eps!r}")
        eps1 = None if eps[0] is None or _is_nan(eps[0]) else eps[0]
        _check_hyper("Adafactor", **({} if eps1 is None else {"eps[0]": eps1}),
                     **{"eps[1]": eps[1]})
        return {**settings, "beta2_decay": float(decay),
                "eps": (None if eps1 is None else float(eps1), float(eps[1]))}

    def _param_slots(self, ndim, group):
        return ("row_var", "col_var") if ndim > 1 else ("variance",)

    def _slot_shape(self, slot, shape):
        if slot == "row_var":
            return (*shape[:-1], 1)
        if slot == "col_var":
            return (*shape[:-2], 1, shape[-1])
        return shape

    def _init_state(self, param, group):
        state = {slot: np.zeros(self._slot_shape(slot, param.shape), param.dtype)
                 for slot in self._param_slots(param.ndim, group)}
        state["step"] = self._step_zero()
        return state

    def _flat_state_dict(self):
        out = super()._flat_state_dict()
        for g, group in enumerate(self.param_groups):  # eps1 None as NaN: an array of floats
            out[f"group.{g}.eps"] = np.asarray(_stored(group["eps"]), dtype=np.float64)
        return out

    def _flat_from_nested(self, state):
        groups = [{**group, "eps": _stored(group["eps"])} if "eps" in group else group
                  for group in state["param_groups"]]
        return super()._flat_from_nested({**state, "param_groups": groups})

    def state_dict(self, torch_layout: bool | None = None) -> dict[str, Any]:
        torch_layout = torch_layout_default(torch_layout)
        out = super().state_dict(torch_layout)
        if torch_layout and isinstance(out.get("param_groups"), list):
            for group in out["param_groups"]:  # PyTorch's (None, eps2)
                if isinstance(group, dict) and isinstance(group.get("eps"), (list, tuple)):
                    first, second = group["eps"]
                    group["eps"] = (None if _is_nan(first) else first, second)
        return out

    def _update(self, param, grad, state, group):
        lr, weight_decay, maximize = group["lr"], group["weight_decay"], group["maximize"]
        eps1, eps2 = group["eps"]
        if eps1 is None:
            eps1 = float(np.finfo(param.dtype).eps)
        state["step"] += 1
        t = float(state["step"])
        weight = t ** group["beta2_decay"]
        rho = min(lr, 1 / (t ** 0.5))
        alpha = max(eps2, _norm(param) / (param.size ** 0.5)) * rho
        if weight_decay != 0:
            param *= 1 - lr * weight_decay
        s, d, square = self._temporaries(param.dtype, param.shape)
        g = np.negative(grad, out=d) if maximize else grad
        np.multiply(g, g, out=square)
        if param.ndim > 1:
            row_var, col_var = state["row_var"], state["col_var"]
            # the means as products with ones (BLAS: numpy's sum over a short last axis is
            # several times slower); small arrays, the factors' shapes
            rows, cols = param.shape[-2:]
            row_mean = (square @ np.ones(cols, param.dtype)).reshape(row_var.shape)
            col_mean = (np.ones(rows, param.dtype) @ square).reshape(col_var.shape)
            _lerp(row_var, row_mean / cols, weight, np.empty_like(row_var))
            _lerp(col_var, col_mean / rows, weight, np.empty_like(col_var))
            np.matmul(row_var, col_var, out=s)  # as torch's: an outer product
            s /= np.maximum(row_var.mean(axis=-2, keepdims=True), eps1)
        else:
            variance = state["variance"]
            _lerp(variance, square, weight, s)
            np.copyto(s, variance)
        np.maximum(s, eps1 * eps1, out=s)  # torch's clamp_(min=eps1^2).rsqrt_()
        np.sqrt(s, out=s)
        np.divide(1.0, s, out=s)
        s *= g
        denom = max(1.0, _norm(s) / ((s.size ** 0.5) * group["d"]))
        s *= -alpha / denom
        param += s

    def _update_low_precision(self, param, grad, state, group):
        """torch's single-tensor Adafactor on a float16/bfloat16 parameter: each op rounded to
        the parameter's dtype, the norms summed in float32 and rounded too."""
        lr, weight_decay, dtype = group["lr"], group["weight_decay"], param.dtype
        eps1, eps2 = group["eps"]
        if eps1 is None:
            eps1 = float(np.finfo(dtype).eps)
        state["step"] += 1
        t = float(state["step"])
        weight = t ** group["beta2_decay"]
        alpha = max(eps2, _low_norm(param, dtype) / (param.size ** 0.5)) * min(lr, 1 / t ** 0.5)
        if weight_decay != 0:  # param.mul_(1 - lr * weight_decay)
            param[...] = param.astype(_F32) * _F32(1 - lr * weight_decay)
        g = -grad.astype(_F32) if group["maximize"] else grad.astype(_F32)
        if param.ndim > 1:  # norm(g, dim).square_().div_(size), lerp_; R @ C / R.mean().clamp
            row_var, col_var = state["row_var"], state["col_var"]
            for var, axis in ((row_var, -1), (col_var, -2)):
                mean = _round(_round(_low_norm(g, dtype, axis) ** 2, dtype)
                              / _F32(g.shape[axis]), dtype)
                _lerp_low(var, mean, weight)
            rows = row_var.astype(_F32)
            estimate = _round(rows @ col_var.astype(_F32), dtype)
            mean = np.maximum(_round(rows.mean(axis=-2, keepdims=True), dtype), _F32(eps1))
            estimate = _round(estimate / mean, dtype)
        else:  # variance.lerp_(g * g, w)
            _lerp_low(state["variance"], _round(g * g, dtype), weight)
            estimate = state["variance"].astype(_F32)
        update = _round(1 / np.sqrt(np.maximum(estimate, _F32(eps1 * eps1))), dtype)
        update = _round(update * g, dtype)  # clamp_(min=eps1^2).rsqrt_().mul_(g)
        denom = max(1.0, _low_norm(update, dtype) / ((update.size ** 0.5) * group["d"]))
        param[...] = _add(param.astype(_F32), update, -alpha / denom, dtype)


def _norm(a: np.ndarray) -> float:
    """The 2-norm of all of a's elements."""
    return math.sqrt(float(np.vdot(a, a)))


def _low_norm(a: np.ndarray, dtype: np.dtype, axis: int | None = None):
    """torch's 2-norm of a ``dtype`` tensor (all elements, or along ``axis`` keeping it):
    summed in float32, rounded to dtype; a float (or a float32 array along an axis)."""
    a = a.astype(_F32)
    norm = _round(np.sqrt(np.sum(a * a, axis=axis, keepdims=axis is not None,
                                 dtype=np.float64)).astype(_F32), dtype)
    return norm if axis is not None else float(norm)


def _is_nan(value: Any) -> bool:
    return isinstance(value, (float, np.floating)) and math.isnan(value)


def _pair_of(eps: Any) -> Any:
    """eps as a tuple (a list is fine); anything else is left for _check_group to refuse."""
    return tuple(eps) if isinstance(eps, (tuple, list)) else eps


def _stored(eps: Any) -> Any:
    """eps with eps1 None as NaN, as a state dict stores it."""
    if isinstance(eps, (tuple, list)) and len(eps) == 2:
        return (math.nan if eps[0] is None else eps[0], eps[1])
    return eps
