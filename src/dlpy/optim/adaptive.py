"""RMSprop, Adagrad, Adamax, NAdam, RAdam, Rprop and ASGD, as torch.optim's, on
dlpy.optim.optimizer's base (parameter groups with PyTorch's setting keys, ``state_dict``,
checkpoints).

Each step runs PyTorch's single-tensor (CPU) formulas in the same order, in place on the
parameter's array block by block with two reused temporaries (``Optimizer._blocks``), so a step
allocates nothing; scalars (bias corrections, step sizes) are worked out once per step. Every one
takes ``maximize`` (follow -grad). ``weight_decay`` adds ``weight_decay * p`` to the gradient (L2)
or, with NAdam's and RAdam's ``decoupled_weight_decay=True``, multiplies p by
``1 - lr * weight_decay`` first (as AdamW). State slots have PyTorch's names.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from dlpy.optim.optimizer import (
    _F32,
    Optimizer,
    SparseGradError,
    _adam_moments,
    _add,
    _add_ratio,
    _add_square,
    _as_real,
    _check_betas_and_eps,
    _check_flags,
    _check_hyper,
    _complex_state,
    _effective_grad,
    _lerp,
    _lerp_low,
    _low_grad,
    _num,
    _pair,
    _plus,
    _round,
    _sqrt_plus,
)
from dlpy.sparse_grad import SparseGrad
from dlpy.tensor import Tensor, default_dtype

Params = Iterable[Tensor] | Iterable[dict]


def _checked(name: str, settings: dict[str, Any], numbers: tuple[str, ...] = (),
             flags: tuple[str, ...] = ()) -> dict[str, Any]:
    """``numbers`` must be finite and >= 0 (Python numbers), ``flags`` True or False."""
    _check_hyper(name, **{key: settings[key] for key in numbers})
    settings = _check_flags(name, settings, *flags)
    return {**settings, **{key: _num(settings[key]) for key in numbers}}


def _weight_decay(group: dict[str, Any]) -> tuple[float | None, float]:
    """(the factor p is multiplied by first or None, the weight_decay added to the gradient)
    for NAdam's and RAdam's two kinds of weight decay."""
    weight_decay = group["weight_decay"]
    if group["decoupled_weight_decay"]:
        return (1.0 - group["lr"] * weight_decay if weight_decay else None), 0.0
    return None, weight_decay


class RMSprop(Optimizer):
    """v = alpha v + (1 - alpha) g^2;  centered: a = alpha a + (1 - alpha) g, d = sqrt(v - a^2)
    + eps, else d = sqrt(v) + eps;  momentum: buf = momentum buf + g / d, p -= lr buf;
    without: p -= lr g / d.

    State: ``square_avg``, ``momentum_buffer`` (momentum > 0), ``grad_avg`` (centered)."""

    torch_flags = ("capturable", "differentiable", "foreach")

    def __init__(self, params: Params, lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0, momentum: float = 0,
                 centered: bool = False, *, maximize: bool = False, **flags: Any):
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps,
                                  "weight_decay": weight_decay, "momentum": momentum,
                                  "centered": centered, "maximize": maximize}
                         | self._checked_flags(flags))

    def _check_group(self, settings):
        settings = _checked("RMSprop", super()._check_group(settings),
                            ("alpha", "eps", "weight_decay", "momentum"),
                            ("centered", "maximize"))
        if settings["alpha"] > 1:  # 1 - alpha < 0 would let square_avg turn negative
            raise ValueError(f"RMSprop: alpha must lie in [0, 1], got {settings['alpha']}")
        return settings

    def _slots(self, group):
        return ("square_avg",) + (("momentum_buffer",) if group["momentum"] else ()) \
            + (("grad_avg",) if group["centered"] else ())

    def _update(self, param, grad, state, group):
        lr, alpha, eps, momentum = group["lr"], group["alpha"], group["eps"], group["momentum"]
        weight_decay, maximize, centered = (group["weight_decay"], group["maximize"],
                                            group["centered"])
        state["step"] += 1
        # grad_avg and momentum_buffer exist only when centered / with momentum; the square
        # average stands in for a missing one, and is then never touched as such
        square_avg = state["square_avg"]
        for (p, g, square, grad_avg, buf), (s, d) in self._blocks(
                param, grad, square_avg, state.get("grad_avg", square_avg),
                state.get("momentum_buffer", square_avg)):
            g = _effective_grad(p, g, s, weight_decay, maximize)
            square *= alpha
            _add_square(square, g, 1.0 - alpha, d)
            if centered:  # d = sqrt(v - a^2)
                _lerp(grad_avg, g, 1.0 - alpha, d)
                np.multiply(grad_avg, grad_avg, out=d)
                np.subtract(square, d, out=d)
                np.sqrt(d, out=d)
            else:
                np.sqrt(square, out=d)
            d += eps
            if momentum:
                buf *= momentum
                np.divide(g, d, out=d)
                buf += d
                np.multiply(buf, lr, out=d)
                p -= d
            else:
                _add_ratio(p, g, d, -lr, s)

    def _update_low_precision(self, param, grad, state, group):
        """torch's single-tensor RMSprop on a float16/bfloat16 parameter (optimizer.py's
        low-precision steps: each op rounded to the parameter's dtype)."""
        lr, alpha, eps, momentum = group["lr"], group["alpha"], group["eps"], group["momentum"]
        dtype = param.dtype
        state["step"] += 1
        p, g = _low_grad(param, grad, group["weight_decay"], group["maximize"])
        v = state["square_avg"]  # mul_(alpha).addcmul_(g, g, value=1 - alpha)
        v[...] = _round(v.astype(_F32) * _F32(alpha), dtype) + _F32(1.0 - alpha) * g * g
        if group["centered"]:  # grad_avg.lerp_(g, 1 - alpha); v.addcmul(a, a, value=-1).sqrt_()
            a = state["grad_avg"]
            _lerp_low(a, g, 1.0 - alpha)
            a32 = a.astype(_F32)
            avg = _round(np.sqrt(_round(v.astype(_F32) + _F32(-1.0) * a32 * a32, dtype)), dtype)
            avg = _plus(avg, eps, dtype)
        else:
            avg = _sqrt_plus(v, eps, dtype)
        if momentum:  # buf.mul_(momentum).addcdiv_(g, avg); p.add_(buf, alpha=-lr)
            buf = state["momentum_buffer"]
            buf[...] = _round(buf.astype(_F32) * _F32(momentum), dtype) + g / avg
            param[...] = _add(p, buf.astype(_F32), -lr, dtype)
        else:  # p.addcdiv_(g, avg, value=-lr)
            param[...] = p + _F32(-lr) * g / avg


class Adagrad(Optimizer):
    """sum += g^2;  p -= lr / (1 + (t - 1) lr_decay) * g / (sqrt(sum) + eps), with ``sum``
    starting at the constructor's ``initial_accumulator_value`` for every group (a group's own
    is kept in the group, unused, as PyTorch's).

    A sparse gradient (``nn.Embedding(sparse=True)``) updates only its rows' sums and values,
    as PyTorch's (then weight_decay must be 0)."""

    torch_flags = ("differentiable", "foreach", "fused")

    accepts_sparse = True

    def __init__(self, params: Params, lr: float = 1e-2, lr_decay: float = 0,
                 weight_decay: float = 0, initial_accumulator_value: float = 0,
                 eps: float = 1e-10, *, maximize: bool = False, **flags: Any):
        self.__dict__["_constructing"] = True  # (the eager state: the constructor's groups)
        try:
            super().__init__(params, {"lr": lr, "lr_decay": lr_decay,
                                      "weight_decay": weight_decay,
                                      "initial_accumulator_value": initial_accumulator_value,
                                      "eps": eps, "maximize": maximize}
                             | self._checked_flags(flags))
        finally:
            self.__dict__.pop("_constructing", None)

    def _check_group(self, settings):
        return _checked("Adagrad", super()._check_group(settings),
                        ("lr_decay", "weight_decay", "initial_accumulator_value", "eps"),
                        ("maximize",))

    def add_param_group(self, group: dict[str, Any]) -> None:
        # a group's own initial_accumulator_value is kept in the group but not used: every
        # group's sums start from the constructor's, as torch's (which ignores the group's)
        super().add_param_group(group)
        if not self.__dict__.get("_constructing"):  # a group added later: its state comes at
            return  # its first step with a gradient, as torch 2.13's
        # torch's Adagrad makes the state (step 0, the filled sum) when it takes the parameters
        added = self.param_groups[-1]
        for i in range(len(self.params) - len(added["params"]), len(self.params)):
            data = self.params[i].data
            state = list.__getitem__(self.state, i)
            if data.dtype.kind == "c":
                state.update(_complex_state(self._init_state(_as_real(data), added), data.shape))
            else:
                state.update(self._init_state(data, added))

    def _slots(self, group):
        return ("sum",)

    def _init_state(self, param, group):
        state = super()._init_state(param, group)
        state["sum"].fill(self._defaults["initial_accumulator_value"])
        return state

    def _update(self, param, grad, state, group):
        eps, maximize, weight_decay = group["eps"], group["maximize"], group["weight_decay"]
        sparse = isinstance(grad, SparseGrad)
        if sparse and weight_decay:
            raise SparseGradError("Adagrad: weight_decay does not work with sparse gradients "
                                  "(it touches every row); set it to 0 or leave sparse off")
        state["step"] += 1
        clr = group["lr"] / (1 + (float(state["step"]) - 1) * group["lr_decay"])
        total = state["sum"]
        if sparse:
            grad = grad.coalesce()
            rows, values = grad.indices, grad.values
            if maximize:
                values = -values
            total[rows] += values * values
            update = np.sqrt(total[rows])
            update += eps
            np.divide(values, update, out=update)
            update *= clr
            param[rows] -= update
            return
        for (p, g, sum_block), (s, d) in self._blocks(param, grad, total):
            g = _effective_grad(p, g, s, weight_decay, maximize)
            np.multiply(g, g, out=d)  # torch's addcmul_ with value 1
            sum_block += d
            np.sqrt(sum_block, out=d)
            d += eps
            _add_ratio(p, g, d, -clr, s)

    def _update_low_precision(self, param, grad, state, group):
        """torch's single-tensor Adagrad on a float16/bfloat16 parameter (a dense gradient)."""
        dtype = param.dtype
        state["step"] += 1
        clr = group["lr"] / (1 + (float(state["step"]) - 1) * group["lr_decay"])
        p, g = _low_grad(param, grad, group["weight_decay"], group["maximize"])
        total = state["sum"]  # sum.addcmul_(g, g, value=1); p.addcdiv_(g, std, value=-clr)
        total[...] = total.astype(_F32) + _F32(1.0) * g * g
        param[...] = p + _F32(-clr) * g / _sqrt_plus(total, group["eps"], dtype)


class Adamax(Optimizer):
    """m = b1 m + (1 - b1) g;  u = max(b2 u, |g| + eps);  p -= lr / (1 - b1^t) * m / u.

    State: ``exp_avg``, ``exp_inf``."""

    torch_flags = ("capturable", "differentiable", "foreach")

    def __init__(self, params: Params, lr: float = 2e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, *, maximize: bool = False, **flags: Any):
        super().__init__(params, {"lr": lr, "betas": _pair(betas), "eps": eps,
                                  "weight_decay": weight_decay, "maximize": maximize}
                         | self._checked_flags(flags))

    def _check_group(self, settings):
        settings = _check_betas_and_eps("Adamax", super()._check_group(settings))
        return _checked("Adamax", settings, ("weight_decay",), ("maximize",))

    def _slots(self, group):
        return ("exp_avg", "exp_inf")

    def _update(self, param, grad, state, group):
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        weight_decay, maximize = group["weight_decay"], group["maximize"]
        state["step"] += 1
        step_size = lr / (1.0 - beta1 ** float(state["step"]))
        for (p, g, m, u), (s, d) in self._blocks(param, grad, state["exp_avg"],
                                                 state["exp_inf"]):
            g = _effective_grad(p, g, s, weight_decay, maximize)
            _lerp(m, g, 1.0 - beta1, d)
            u *= beta2
            np.abs(g, out=d)
            d += eps
            np.maximum(u, d, out=u)
            _add_ratio(p, m, u, -step_size, d)

    def _update_low_precision(self, param, grad, state, group):
        """torch's single-tensor Adamax on a float16/bfloat16 parameter."""
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        dtype = param.dtype
        state["step"] += 1
        step_size = lr / (1.0 - beta1 ** float(state["step"]))
        p, g = _low_grad(param, grad, group["weight_decay"], group["maximize"])
        m, u = state["exp_avg"], state["exp_inf"]
        _lerp_low(m, g, 1.0 - beta1)  # max(exp_inf.mul_(b2), |g|.add_(eps))
        u[...] = np.maximum(_round(u.astype(_F32) * _F32(beta2), dtype),
                            _plus(np.abs(g), eps, dtype))
        param[...] = p + _F32(-step_size) * m.astype(_F32) / u.astype(_F32)


class NAdam(Optimizer):
    """Adam with Nesterov momentum (Dozat) and PyTorch's momentum schedule
    mu_t = b1 (1 - 0.5 * 0.96^(t * momentum_decay)):
    m, v as Adam;  d = sqrt(v / (1 - b2^t)) + eps;
    p -= lr (1 - mu_t) / (1 - prod mu_1..t) * g / d + lr mu_t+1 / (1 - prod mu_1..t+1) * m / d.

    State: ``exp_avg``, ``exp_avg_sq``, ``mu_product`` (one number of torch's scalar dtype,
    float32 unless the default dtype is float64; the parameter's once loaded, as torch's)."""

    torch_flags = ("capturable", "differentiable", "foreach")

    scalar_slots = {"mu_product": np.float32}
    torch_tensor_slots = {"mu_product": "mu_products"}  # (a plain number: torch's refusal)

    def __init__(self, params: Params, lr: float = 2e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, maximize: bool = False, **flags: Any):
        super().__init__(params, {"lr": lr, "betas": _pair(betas), "eps": eps,
                                  "weight_decay": weight_decay, "momentum_decay": momentum_decay,
                                  "decoupled_weight_decay": decoupled_weight_decay,
                                  "maximize": maximize} | self._checked_flags(flags))

    def _check_group(self, settings):
        settings = _check_betas_and_eps("NAdam", super()._check_group(settings))
        return _checked("NAdam", settings, ("weight_decay", "momentum_decay"),
                        ("decoupled_weight_decay", "maximize"))

    def _slots(self, group):
        return ("exp_avg", "exp_avg_sq", "mu_product")

    def _init_state(self, param, group):
        state = super()._init_state(param, group)
        state["mu_product"][...] = 1.0
        return state

    def _update(self, param, grad, state, group):
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        decay, weight_decay = _weight_decay(group)
        maximize, momentum_decay = group["maximize"], group["momentum_decay"]
        state["step"] += 1
        t = float(state["step"])
        bias2 = 1.0 - beta2 ** t
        mu = beta1 * (1.0 - 0.5 * (0.96 ** (t * momentum_decay)))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((t + 1) * momentum_decay)))
        mu_product = _times(state, "mu_product", mu)
        grad_size = -lr * (1.0 - mu) / (1.0 - mu_product)
        avg_size = (-lr * mu_next) / (1.0 - mu_product * mu_next)
        for (p, g, m, v), (s, d) in self._blocks(param, grad, state["exp_avg"],
                                                 state["exp_avg_sq"]):
            g = _adam_moments(p, g, m, v, s, d, decay, weight_decay, maximize, beta1, beta2)
            np.divide(v, bias2, out=d)
            np.sqrt(d, out=d)
            d += eps
            _add_ratio(p, g, d, grad_size, s)
            _add_ratio(p, m, d, avg_size, s)

    def _update_low_precision(self, param, grad, state, group):
        """torch's single-tensor NAdam on a float16/bfloat16 parameter; its mu_product is a
        float32 tensor there, so each product is rounded to float32 here (the state's float64
        number holds that value)."""
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        momentum_decay, dtype = group["momentum_decay"], param.dtype
        t = _low_weight_decay(param, state, group)
        p, g = _low_grad(param, grad, 0.0 if group["decoupled_weight_decay"] else
                         group["weight_decay"], group["maximize"])
        mu = beta1 * (1.0 - 0.5 * (0.96 ** (t * momentum_decay)))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((t + 1) * momentum_decay)))
        mu_product = _times(state, "mu_product", mu)
        m, v = _low_moments(state, g, beta1, beta2, dtype)
        denom = _round(np.sqrt(_round(v / _F32(1.0 - beta2 ** t), dtype)), dtype)
        denom = _plus(denom, eps, dtype)  # two addcdiv_, each rounded
        p = _round(p + _F32(-lr * (1.0 - mu) / (1.0 - mu_product)) * g / denom, dtype)
        param[...] = p + _F32(-lr * mu_next / (1.0 - mu_product * mu_next)) * m / denom


class RAdam(Optimizer):
    """Rectified Adam (Liu et al.): m, v as Adam; rho_inf = 2 / (1 - b2) - 1,
    rho_t = rho_inf - 2 t b2^t / (1 - b2^t);  while rho_t <= 5, p -= lr m / (1 - b1^t) (SGD
    with momentum), after it p -= lr m / (1 - b1^t) * r_t sqrt(1 - b2^t) / (sqrt(v) + eps)
    with r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t)).

    State: ``exp_avg``, ``exp_avg_sq``."""

    torch_flags = ("capturable", "differentiable", "foreach")

    def __init__(self, params: Params, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, decoupled_weight_decay: bool = False, *,
                 maximize: bool = False, **flags: Any):
        super().__init__(params, {"lr": lr, "betas": _pair(betas), "eps": eps,
                                  "weight_decay": weight_decay,
                                  "decoupled_weight_decay": decoupled_weight_decay,
                                  "maximize": maximize} | self._checked_flags(flags))

    def _check_group(self, settings):
        settings = _check_betas_and_eps("RAdam", super()._check_group(settings))
        return _checked("RAdam", settings, ("weight_decay",),
                        ("decoupled_weight_decay", "maximize"))

    def _slots(self, group):
        return ("exp_avg", "exp_avg_sq")

    def _update(self, param, grad, state, group):
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        decay, weight_decay = _weight_decay(group)
        maximize = group["maximize"]
        state["step"] += 1
        t = float(state["step"])
        bias1, bias2 = 1.0 - beta1 ** t, 1.0 - beta2 ** t
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * (beta2 ** t) / bias2
        rect = ((rho_t - 4) * (rho_t - 2) * rho_inf
                / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5 if rho_t > 5.0 else None
        for (p, g, m, v), (s, d) in self._blocks(param, grad, state["exp_avg"],
                                                 state["exp_avg_sq"]):
            _adam_moments(p, g, m, v, s, d, decay, weight_decay, maximize, beta1, beta2)
            np.divide(m, bias1, out=d)  # torch's m / bias1 * lr [* adaptive lr * rect]
            d *= lr
            if rect is not None:  # past the first steps: the adaptive, rectified step
                np.sqrt(v, out=s)
                s += eps
                np.divide(bias2 ** 0.5, s, out=s)
                d *= s
                d *= rect
            p -= d

    def _update_low_precision(self, param, grad, state, group):
        """torch's single-tensor RAdam on a float16/bfloat16 parameter."""
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        dtype = param.dtype
        t = _low_weight_decay(param, state, group)
        p, g = _low_grad(param, grad, 0.0 if group["decoupled_weight_decay"] else
                         group["weight_decay"], group["maximize"])
        m, v = _low_moments(state, g, beta1, beta2, dtype)
        bias2 = 1.0 - beta2 ** t
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * (beta2 ** t) / bias2
        update = _round(_round(m / _F32(1.0 - beta1 ** t), dtype) * _F32(lr), dtype)
        if rho_t > 5.0:  # * bias2 ** 0.5 / (sqrt(v) + eps) (torch's scalar / tensor:
            # reciprocal, then times) * rect, each rounded
            adaptive = _round(_round(1 / _sqrt_plus(v, eps, dtype), dtype)
                              * _F32(bias2 ** 0.5), dtype)
            rect = ((rho_t - 4) * (rho_t - 2) * rho_inf
                    / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
            update = _round(_round(update * adaptive, dtype) * _F32(rect), dtype)
        param[...] = _add(p, update, -1.0, dtype)


def _low_weight_decay(param: np.ndarray, state: dict, group: dict[str, Any]) -> float:
    """NAdam's and RAdam's low-precision steps: the step counted, and with decoupled weight
    decay torch's ``param.mul_(1 - lr * weight_decay)``; returns the step."""
    state["step"] += 1
    if group["weight_decay"] and group["decoupled_weight_decay"]:
        param[...] = param.astype(_F32) * _F32(1.0 - group["lr"] * group["weight_decay"])
    return float(state["step"])


def _low_moments(state: dict, g: np.ndarray, beta1: float, beta2: float, dtype: np.dtype):
    """torch's ``exp_avg.lerp_(g, 1 - b1)``, ``exp_avg_sq.mul_(b2).addcmul_(g, g, 1 - b2)`` on
    low-precision states; returns both in float32."""
    m, v = state["exp_avg"], state["exp_avg_sq"]
    _lerp_low(m, g, 1.0 - beta1)
    v[...] = _round(v.astype(_F32) * _F32(beta2), dtype) + _F32(1.0 - beta2) * g * g
    return m.astype(_F32), v.astype(_F32)


def _ordered_pair(name: str, key: str, value: Any) -> tuple[float, float]:
    """A pair of finite numbers >= 0, the first at most the second."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{name}: {key} must be a pair of numbers, got {value!r}")
    _check_hyper(name, **{f"{key}[0]": value[0], f"{key}[1]": value[1]})
    if value[0] > value[1]:
        raise ValueError(f"{name}: {key} must be (smallest, largest), got {tuple(value)}")
    return _num(value[0]), _num(value[1])


class Rprop(Optimizer):
    """Resilient backpropagation: each element has its own step size, which grows by etaplus
    while the gradient keeps its sign and shrinks by etaminus when it flips (clamped to
    ``step_sizes`` = (min, max)); p -= sign(g) * step_size, and after a flip that element
    stands still for the step and its gradient counts as 0 for the next (as PyTorch's).

    ``lr`` is only each step size's start (a schedule changing it later has no effect, as in
    PyTorch). State: ``prev`` (the last gradient used), ``step_size``."""

    torch_flags = ("capturable", "differentiable", "foreach")
    grad_layout_slots = ("step_size",)

    def __init__(self, params: Params, lr: float = 1e-2, etas: tuple[float, float] = (0.5, 1.2),
                 step_sizes: tuple[float, float] = (1e-6, 50), *, maximize: bool = False,
                 **flags: Any):
        super().__init__(params, {"lr": lr, "etas": _pair(etas),
                                  "step_sizes": _pair(step_sizes), "maximize": maximize}
                         | self._checked_flags(flags))

    def _check_group(self, settings):
        settings = _check_flags("Rprop", super()._check_group(settings), "maximize")
        etas = settings["etas"]
        if not isinstance(etas, (tuple, list)) or len(etas) != 2:
            raise ValueError(f"Rprop: etas must be a pair (etaminus, etaplus), got {etas!r}")
        _check_hyper("Rprop", etaminus=etas[0], etaplus=etas[1])
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Rprop: etas must satisfy 0 < etaminus < 1 < etaplus, got "
                             f"{tuple(etas)}")
        return {**settings, "etas": (float(etas[0]), float(etas[1])),
                "step_sizes": _ordered_pair("Rprop", "step_sizes", settings["step_sizes"])}

    def _slots(self, group):
        return ("prev", "step_size")

    def _init_state(self, param, group):
        state = super()._init_state(param, group)
        state["step_size"].fill(group["lr"])
        return state

    def _update(self, param, grad, state, group):
        (etaminus, etaplus), (smallest, largest) = group["etas"], group["step_sizes"]
        maximize = group["maximize"]
        state["step"] += 1
        for (p, g, prev, step_size), (s, d) in self._blocks(param, grad, state["prev"],
                                                            state["step_size"]):
            mask = self._temporaries(np.dtype(bool), p.shape)[0]
            g = _effective_grad(p, g, s, 0.0, maximize)
            np.multiply(g, prev, out=d)  # the factor: torch's sign(g * prev) mapped in order
            np.sign(d, out=d)
            np.nan_to_num(d, copy=False, nan=0.0)  # (torch's sign of nan is 0)
            np.greater(d, 0, out=mask)
            np.copyto(d, etaplus, where=mask)
            np.less(d, 0, out=mask)
            np.copyto(d, etaminus, where=mask)
            np.equal(d, 0, out=mask)
            np.copyto(d, 1.0, where=mask)
            step_size *= d
            np.clip(step_size, smallest, largest, out=step_size)
            np.equal(d, etaminus, out=mask)  # a flipped sign: no move, forget the gradient
            np.copyto(prev, g)
            np.copyto(prev, 0.0, where=mask)
            np.sign(prev, out=d)
            np.nan_to_num(d, copy=False, nan=0.0)  # a nan gradient moves nothing
            d *= step_size
            p -= d


class ASGD(Optimizer):
    """Averaged SGD (Polyak and Juditsky): g = grad + weight_decay * p (-grad with maximize);
    p = p * (1 - lambd * eta) - eta * g;  ax = p while mu is 1, else ax += mu * (p - ax);
    then eta = lr / (1 + lambd * lr * t) ** alpha and mu = 1 / max(1, t - t0). The averaged
    parameters are ``state[i]["ax"]``.

    State: ``ax``, ``eta``, ``mu`` (one number each, of torch's scalar dtype: float32 unless
    the default dtype is float64; the parameter's once loaded, as torch's)."""

    torch_flags = ("capturable", "differentiable", "foreach")
    torch_number_step = True  # (torch's ASGD counts from a number step, leaving it as it is)

    scalar_slots = {"eta": np.float32, "mu": np.float32}

    def __init__(self, params: Params, lr: float = 1e-2, lambd: float = 1e-4,
                 alpha: float = 0.75, t0: float = 1e6, weight_decay: float = 0, *,
                 maximize: bool = False, **flags: Any):
        super().__init__(params, {"lr": lr, "lambd": lambd, "alpha": alpha, "t0": t0,
                                  "weight_decay": weight_decay, "maximize": maximize}
                         | self._checked_flags(flags))

    def _check_group(self, settings):
        """``t0`` may be negative (torch takes any number: mu = 1 / max(1, t - t0) then averages
        from the first step on with smaller weights), but must be finite."""
        t0 = settings["t0"]
        if isinstance(t0, bool) or not isinstance(t0, (int, float, np.number)) \
                or not math.isfinite(t0):
            raise ValueError(f"ASGD: t0 must be a finite number, got {t0!r}")
        settings = _checked("ASGD", super()._check_group(settings),
                            ("lambd", "alpha", "weight_decay"), ("maximize",))
        return {**settings, "t0": _num(t0)}

    def _slots(self, group):
        return ("ax", "eta", "mu")

    def _init_state(self, param, group):
        state = super()._init_state(param, group)
        state["eta"][...] = group["lr"]
        state["mu"][...] = 1.0
        return state

    def _update(self, param, grad, state, group):
        lr, lambd, alpha, t0 = group["lr"], group["lambd"], group["alpha"], group["t0"]
        weight_decay, maximize = group["weight_decay"], group["maximize"]
        eta, mu = float(state["eta"]), state["mu"]
        step = _count_step(state)
        for (p, g, ax), (s, d) in self._blocks(param, grad, state["ax"]):
            g = _effective_grad(p, g, s, weight_decay, maximize)
            p *= 1.0 - lambd * eta
            np.multiply(g, -eta, out=d)
            p += d
            mu = _number_slot(mu, "item")
            if mu != 1.0:
                np.subtract(p, ax, out=d)
                d *= mu
                ax += d
            else:
                np.copyto(ax, p)
        # torch copies in torch.as_tensor of Python numbers: rounded to the default dtype
        # (float32) even where the slots are float64 (a state loaded for float64 parameters)
        _number_slot(state["eta"], "copy_")[...] = _as_tensor(lr / ((1 + lambd * lr * step)
                                                                    ** alpha))
        state["mu"][...] = _as_tensor(1 / max(1, step - t0))

    def _update_low_precision(self, param, grad, state, group):
        """torch's single-tensor ASGD on a float16/bfloat16 parameter; its eta and mu are
        float32 tensors there, read here rounded to float32."""
        eta, dtype = float(state["eta"]), param.dtype
        step = _count_step(state)
        p, g = _low_grad(param, grad, group["weight_decay"], group["maximize"])
        p = _round(p * _F32(1.0 - group["lambd"] * eta), dtype)  # mul_, add_(g, alpha=-eta)
        param[...] = p = _add(p, g, -eta, dtype)
        mu = _number_slot(state["mu"], "item")
        ax = state["ax"]  # ax.add_(param.sub(ax).mul_(mu)), or ax.copy_(param)
        p = param.astype(_F32)
        ax[...] = ax + _round(_round(p - ax, dtype) * _F32(mu), dtype) if mu != 1.0 else param
        lr, alpha = group["lr"], group["alpha"]
        _number_slot(state["eta"], "copy_")[...] = \
            _as_tensor(lr / ((1 + group["lambd"] * lr * step) ** alpha))
        state["mu"][...] = _as_tensor(1 / max(1, step - group["t0"]))


def _as_tensor(value: float) -> np.ndarray:
    """A Python number as torch.as_tensor makes it: of the default dtype."""
    return np.asarray(value, dtype=default_dtype())


def _times(state: dict[str, Any], slot: str, factor: float) -> float:
    """``state[slot] *= factor`` as torch's on its 0-d tensor (in the tensor's dtype, in
    place: a reference held sees it); a plain number the user set is multiplied without
    changing the state (torch's ``*=`` rebinds its local name). The product, as a float."""
    value = state[slot]
    if not isinstance(value, np.ndarray):
        return float(value * factor)
    value *= value.dtype.type(factor)
    return float(value)


def _count_step(state: dict[str, Any]) -> float:
    """``step += 1`` as torch's: a 0-d array in place; a plain number the user set (which
    torch's ASGD takes) counted without changing the state. The new count, as a float."""
    step = state["step"]
    if not isinstance(step, np.ndarray):
        return float(step + 1)
    step += 1
    return float(step)


def _number_slot(value: Any, method: str) -> Any:
    """A one-number slot torch's step calls ``method`` on (ASGD's ``mu.item()``,
    ``eta.copy_``): a plain number the user set fails there, as torch's AttributeError."""
    if isinstance(value, np.ndarray):
        return value
    raise AttributeError(f"'{type(value).__name__}' object has no attribute '{method}'")
