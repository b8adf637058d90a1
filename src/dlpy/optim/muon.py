"""Muon (Keller Jordan), as torch.optim.Muon (PyTorch 2.9+), on dlpy.optim.optimizer's base:
momentum orthogonalised by a Newton-Schulz iteration, for 2-d parameters only.

PyTorch runs the iteration in bfloat16; numpy has no bfloat16, so it runs here in float32 with
every intermediate rounded to the nearest bfloat16 (ties to even) where PyTorch's ops round:
the results equal PyTorch's bit for bit on small matrices and differ in a few entries by a
bfloat16 ulp on large ones (float32 sums in another order). The update (bfloat16 values) is
then added to the parameter in the parameter's dtype, as PyTorch's.
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
    _lerp,
    _lerp_low,
    _round,
    torch_layout_default,
)
from dlpy.tensor import Tensor

# Keller Jordan's constants, as torch.optim._muon's
EPS = 1e-7
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
NS_STEPS = 5
ADJUST_LR_FNS = (None, "original", "match_rms_adamw")


def bfloat16_round(a: np.ndarray) -> np.ndarray:
    """float32 ``a`` rounded to the nearest bfloat16 values (ties to even; NaN stays NaN), kept
    as float32: the top 16 bits of each number."""
    out = np.array(a, dtype=np.float32)
    nan = np.isnan(out)
    _round_in_place(out)
    if nan.any():  # (the carry would turn a NaN's payload into inf)
        out[nan] = np.nan
    return out


def _round_in_place(x: np.ndarray) -> np.ndarray:
    """bfloat16_round of a float32 array that holds no NaN payloads (one of the iteration's
    own results: arithmetic NaNs are quiet and survive), in place."""
    bits = x.view(np.uint32)
    carry = bits >> 16
    carry &= 1
    carry += 0x7FFF
    bits += carry
    bits &= np.uint32(0xFFFF0000)
    return x


def zeropower_via_newtonschulz(grad: np.ndarray, ns_coefficients: tuple[float, float, float]
                               = NS_COEFFICIENTS, ns_steps: int = NS_STEPS,
                               eps: float = EPS) -> np.ndarray:
    """torch.optim._muon's ``_zeropower_via_newtonschulz`` of a 2-d ``grad``: X = G / max(|G|,
    eps) (the transpose if G has more rows than columns), then ``ns_steps`` times
    A = X X^T, B = b A + c A A, X = a X + B X; in bfloat16 as PyTorch's (float32 values)."""
    a, b, c = (np.float32(v) for v in ns_coefficients)
    x = bfloat16_round(grad.astype(np.float32))  # float64 -> float32 -> bfloat16, as torch's
    tall = grad.shape[0] > grad.shape[1]
    if tall:
        x = x.T
    norm = bfloat16_round(np.sqrt(np.vdot(x, x), dtype=np.float32).reshape(1))
    norm = np.maximum(norm, bfloat16_round(np.asarray([eps], dtype=np.float32)))
    x = _round_in_place(x / norm)
    for _ in range(ns_steps):
        gram = _round_in_place(x @ x.T)
        update = gram @ gram
        update *= c
        update += b * gram
        _round_in_place(update)
        step = update @ x
        step += a * x
        x = _round_in_place(step)
    return x.T if tall else x


def adjusted_lr(lr: float, adjust_lr_fn: str | None, shape: tuple[int, ...]) -> float:
    """Muon's learning rate for a (rows, columns) parameter: "original" (None) scales by
    sqrt(max(1, rows / columns)), "match_rms_adamw" by 0.2 sqrt(max(rows, columns))."""
    rows, columns = shape[:2]
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        return lr * math.sqrt(max(1, rows / columns))
    return lr * 0.2 * math.sqrt(max(rows, columns))


class Muon(Optimizer):
    """buf = lerp(buf, g, 1 - momentum) (= momentum buf + (1 - momentum) g);
    u = lerp(g, buf, momentum) with ``nesterov``, else buf;  O = NS(u) (bfloat16);
    p *= 1 - lr weight_decay;  p -= adjusted_lr(lr) O.

    Only 2-d parameters (hidden layers' weights): give biases, embeddings and others to another
    optimiser (AdamW). No ``maximize``, no sparse or complex gradients, as PyTorch's; PyTorch's
    checks of ``ns_steps`` (< 100) and ``ns_coefficients`` (three numbers), made at its step,
    are made here when a group is added. State: ``momentum_buffer``."""

    torch_step = False  # PyTorch's state: the momentum buffer only
    grad_layout_slots = ("momentum_buffer",)
    accepts_complex = "step"  # refused by the step, as torch's

    def __init__(self, params: Params, lr: float = 1e-3, weight_decay: float = 0.1,
                 momentum: float = 0.95, nesterov: bool = True,
                 ns_coefficients: tuple[float, float, float] = NS_COEFFICIENTS,
                 eps: float = EPS, ns_steps: int = NS_STEPS, adjust_lr_fn: str | None = None):
        super().__init__(params, {
            "lr": lr, "weight_decay": weight_decay, "momentum": momentum, "nesterov": nesterov,
            "ns_coefficients": tuple(ns_coefficients) if isinstance(ns_coefficients, list)
            else ns_coefficients, "eps": eps, "ns_steps": ns_steps,
            "adjust_lr_fn": adjust_lr_fn})

    def add_param_group(self, group: dict[str, Any]) -> None:
        if isinstance(group, dict) and "params" in group:
            params = group["params"]
            params = [params] if isinstance(params, Tensor) else list(params)
            group = {**group, "params": params}
            where = f" of group {len(self.param_groups)}" if self.param_groups else ""
            for i, p in enumerate(params):
                if isinstance(p, Tensor) and p.ndim != 2:
                    raise ValueError(
                        f"Muon: parameter {i}{where} has shape {tuple(p.shape)}; Muon takes 2-d "
                        "parameters only (weight matrices): give biases, embeddings and other "
                        "parameters to another optimiser such as AdamW")
        super().add_param_group(group)

    def _check_group(self, settings):
        settings = _checked("Muon", super()._check_group(settings),
                            ("weight_decay", "momentum", "eps"), ("nesterov",))
        coefficients = settings["ns_coefficients"]
        if not isinstance(coefficients, (tuple, list, np.ndarray)) or len(coefficients) != 3 \
                or not all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
                           and math.isfinite(v) for v in coefficients):
            raise ValueError(f"Muon: ns_coefficients must be three finite numbers (a, b, c), got "
                             f"{coefficients!r}")
        steps = settings["ns_steps"]
        if isinstance(steps, bool) or not isinstance(steps, (int, float, np.number)) \
                or not math.isfinite(steps) or steps != int(steps) or not 0 <= steps < 100:
            raise ValueError(f"Muon: ns_steps must be an integer in [0, 100) (PyTorch's limit), "
                             f"got {steps!r}")
        if settings.get("adjust_lr_fn") not in ADJUST_LR_FNS:
            raise ValueError(f"Muon: adjust_lr_fn must be None, 'original' or "
                             f"'match_rms_adamw', got {settings['adjust_lr_fn']!r}")
        return {**settings, "ns_coefficients": tuple(float(v) for v in coefficients),
                "ns_steps": int(steps), "adjust_lr_fn": settings.get("adjust_lr_fn")}

    def _slots(self, group):
        return ("momentum_buffer",)

    def _update(self, param, grad, state, group):
        lr, momentum, weight_decay = group["lr"], group["momentum"], group["weight_decay"]
        state["step"] += 1
        buf = state["momentum_buffer"]
        s, d = self._temporaries(param.dtype, param.shape)
        _lerp(buf, grad, 1.0 - momentum, s)
        if group["nesterov"]:
            np.copyto(d, grad)
            _lerp(d, buf, momentum, s)
            update = d
        else:
            update = buf
        ortho = zeropower_via_newtonschulz(update, group["ns_coefficients"], group["ns_steps"],
                                           group["eps"])
        step_size = adjusted_lr(lr, group["adjust_lr_fn"], param.shape)
        if weight_decay:
            param *= 1.0 - lr * weight_decay
        np.copyto(s, ortho)  # bfloat16 values: exact in the parameter's dtype
        s *= -step_size
        param += s

    def _update_low_precision(self, param, grad, state, group):
        """torch's single-tensor Muon on a float16/bfloat16 parameter: the momentum buffer in
        its dtype, each op rounded there (see optimizer.py's low-precision steps)."""
        lr, momentum, dtype = group["lr"], group["momentum"], param.dtype
        state["step"] += 1
        buf, g = state["momentum_buffer"], grad.astype(_F32)
        _lerp_low(buf, g, 1.0 - momentum)  # buf.lerp_(grad, 1 - momentum)
        if group["nesterov"]:  # grad.lerp(buf, momentum), a new tensor of the dtype
            update = g.copy()
            _lerp_low(update, buf.astype(_F32), momentum)
            update = _round(update, dtype)
        else:
            update = buf.astype(_F32)
        ortho = zeropower_via_newtonschulz(update, group["ns_coefficients"], group["ns_steps"],
                                           group["eps"])  # bfloat16 values (as float32)
        step_size = adjusted_lr(lr, group["adjust_lr_fn"], param.shape)
        p = _round(param.astype(_F32) * _F32(1.0 - lr * group["weight_decay"]), dtype)
        # param.add_(update, alpha=-lr): bfloat16 + bfloat16 in bfloat16 (alpha rounded to
        # it), one fused multiply-add, except for a tall parameter's update (a transpose, not
        # contiguous: torch's scalar loop rounds the product first); float16 + bfloat16
        # computes in float32
        if dtype.name != "bfloat16":
            param[...] = _add(p, ortho, -step_size, np.dtype(_F32))
        elif param.shape[0] > param.shape[1]:
            alpha = np.asarray(-step_size, dtype).astype(_F32)
            param[...] = p + _round(alpha * ortho, dtype)
        else:
            param[...] = _add(p, ortho, -step_size, dtype)

    # adjust_lr_fn is text or None, which the base's state dicts (numbers) do not hold: it is
    # stored as a string ("" for None)
    def _flat_state_dict(self):
        out = super()._flat_state_dict()
        for g, group in enumerate(self.param_groups):
            out[f"group.{g}.adjust_lr_fn"] = np.asarray(group["adjust_lr_fn"] or "")
        return out

    def _groups_from_state(self, state):
        stored = {g: state.get(f"group.{g}.adjust_lr_fn") for g in range(len(self.param_groups))}
        defaults = self._defaults
        self._defaults = {k: v for k, v in defaults.items() if k != "adjust_lr_fn"}
        try:  # the numbers, as every optimiser's; then the text
            groups = super()._groups_from_state(state)
        finally:
            self._defaults = defaults
        missing = [f"group.{g}.adjust_lr_fn" for g, value in stored.items()
                   if value is None and f"group.{g}.params" in state]
        if missing:
            raise ValueError(f"Muon.load_state_dict: missing keys: {missing}")
        return [self._check_group({**group, "adjust_lr_fn": _stored_fn(stored[g])})
                for g, group in enumerate(groups)]

    def state_dict(self, torch_layout: bool | None = None) -> dict[str, Any]:
        torch_layout = torch_layout_default(torch_layout)
        out = super().state_dict(torch_layout)
        if torch_layout and isinstance(out.get("param_groups"), list):
            for group in out["param_groups"]:  # PyTorch's values
                if isinstance(group, dict) and "adjust_lr_fn" in group:
                    group["adjust_lr_fn"] = group["adjust_lr_fn"] or None
                    group["ns_coefficients"] = tuple(group["ns_coefficients"])
        return out


def _stored_fn(value: Any) -> Any:
    """A stored adjust_lr_fn ("" or None for None, or the name)."""
    value = np.asarray(value).item() if isinstance(value, np.ndarray) else value
    if isinstance(value, bytes):
        value = value.decode()
    return None if value is None or value == "" else value
