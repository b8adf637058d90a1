"""torch.optim's functional forms (``torch.optim.adam.adam``, ``torch.optim._functional.sgd``...):
one step of an optimiser on lists of parameters, gradients and state tensors that the caller
keeps, with torch 2.13's signatures (keyword-only hyperparameters; ``foreach``, ``fused``,
``capturable``, ``differentiable``, ``has_complex`` where torch takes them; ``state_steps`` a
list of 0-d tensors that the step counts up in place).

Each runs the optimiser class's own update (``Optimizer._update_array``: its ``_update``, the
complex and float16/bfloat16 forms included) on the tensors' arrays, in place, so a function and
its class give the same numbers: the state tensors are the class's slots under torch's names
(``exp_avgs`` -> ``exp_avg``...), the hyperparameters a parameter group's settings.

The switches: ``foreach`` changes nothing (one implementation); ``fused`` (Adam, AdamW, SGD,
Adagrad, which have a CPU kernel in torch) takes ``grad_scale`` / ``found_inf`` as torch's
kernel: the gradients are divided by ``grad_scale`` in place and a nonzero ``found_inf`` skips
the step (the counts unchanged); elsewhere they are torch's AssertionError. ``capturable=True``
(CUDA graphs) is torch's AssertionError on the CPU. ``differentiable=True`` is the plain step
(a step recorded by the autograd is not supported). As torch's, the step runs in place on the
parameters: with grad mode on, a parameter that requires grad is torch's in-place error, so
call these under ``torch.no_grad()`` as torch's optimisers do.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlpy.ops import ArgDtypeError, UnsupportedArgError
from dlpy.optim.adadelta import Adadelta
from dlpy.optim.adaptive import ASGD, Adagrad, Adamax, NAdam, RAdam, RMSprop, Rprop
from dlpy.optim.optimizer import (
    SGD,
    Adam,
    Optimizer,
    SparseAdam,
    _NumberStepError,
)
from dlpy.sparse_grad import SparseGrad
from dlpy.tensor import Tensor, _bump, is_grad_enabled

__all__ = ["adadelta", "adagrad", "adam", "adamax", "adamw", "asgd", "nadam", "radam",
           "rmsprop", "rprop", "sgd", "sparse_adam"]


class CapturableError(UnsupportedArgError, AssertionError):
    """``capturable=True`` on CPU tensors: torch's AssertionError (CUDA graphs only)."""


class GradScaleError(ValueError, AssertionError):
    """``grad_scale`` / ``found_inf`` given to a step without a fused kernel: torch's
    AssertionError."""


class LeafInPlaceError(ValueError, RuntimeError):
    """A step with grad mode on, on a parameter that requires grad: torch's RuntimeError (an
    in-place change of a leaf the autograd tracks)."""


_STEPS_MESSAGE = "API has changed, `{}` argument must contain a list of singleton tensors"
_DEVICES = "['cuda', 'xpu', 'hpu', 'privateuseone', 'xla']"
# torch's message where capturable=True meets CPU tensors, by optimiser
_CAPTURABLE = {
    "asgd": "params, mus, etas, and state_steps",
    "nadam": "params, mu_products and state_steps",
}
_INSTANCES: dict[type, Optimizer] = {}


def _instance(cls: type) -> Optimizer:
    """One bare object of optimiser class ``cls`` per class (no parameters: its update
    methods and their scratch buffers, reused across calls)."""
    instance = _INSTANCES.get(cls)
    if instance is None:
        instance = cls.__new__(cls)
        instance._scratch, instance._scratch_views = {}, {}
        _INSTANCES[cls] = instance
    return instance


def _number(value: Any) -> Any:
    """A hyperparameter as a number: a one-element Tensor's value (torch takes Tensor
    ``lr``/``beta1``...), anything else as it is."""
    if isinstance(value, Tensor):
        return value.data.reshape(()).item()
    return value


def _check_steps(steps: list, name: str = "state_steps") -> None:
    """torch's refusal of a state list that holds plain numbers (its older API)."""
    if not all(isinstance(t, Tensor) for t in steps):
        raise _NumberStepError(_STEPS_MESSAGE.format(name))


def _grad_of(grad: Any) -> Any:
    """A gradient's array: a dense Tensor's numpy array, or a sparse COO tensor as the rows
    SparseGrad of dlpy's sparse steps (its sparse dimensions flattened into one)."""
    if isinstance(grad, Tensor):
        return grad.data
    if getattr(grad, "is_sparse", False) and hasattr(grad, "_indices"):
        indices = np.asarray(grad._indices().data)
        values = np.asarray(grad._values().data)
        shape = tuple(grad.shape)
        k = indices.shape[0]
        rows = np.ravel_multi_index(tuple(indices), shape[:k]) if k > 1 else indices.reshape(-1)
        return SparseGrad(rows, values, (int(np.prod(shape[:k])), *shape[k:]))
    raise TypeError(f"expected a Tensor gradient, got {type(grad).__name__}")


def _flat_rows(array: np.ndarray, grad: Any) -> np.ndarray:
    """``array`` seen as the rows of a (flattened) sparse gradient's shape (a view)."""
    if isinstance(grad, SparseGrad) and array.shape != grad.shape:
        return array.reshape(grad.shape)
    return array


def _check_in_place(params: list) -> None:
    """torch's steps change the parameters in place: with grad mode on, one that requires
    grad fails there (a leaf), or would be recorded by the autograd (not supported)."""
    if not is_grad_enabled():
        return
    for p in params:
        if isinstance(p, Tensor) and p.requires_grad:
            if p.is_leaf:
                raise LeafInPlaceError("a leaf Variable that requires grad is being used in an "
                                       "in-place operation.")
            raise UnsupportedArgError("an optimiser's functional step on a parameter that "
                                      "requires grad with grad mode on (recorded by the "
                                      "autograd) is not supported: run it under no_grad()")


def _check_flags(name: str, params: list, *, fused: bool = False, differentiable: bool = False,
                 capturable: bool = False, grad_scale: Any = None, found_inf: Any = None,
                 title: str = "", foreach: bool = False) -> None:
    """torch's checks of the implementation switches, in its order."""
    if fused:
        if not params:
            return
        if differentiable:
            raise RuntimeError(f"{title or name} with fused=True does not support "
                               "differentiable=True")
        for scale in (grad_scale, found_inf):
            if scale is not None and np.dtype(scale.dtype) != np.float32:
                raise ArgDtypeError(f"expected scalar type Float but found "
                                    f"{_torch_type_name(scale.dtype)}")
        return
    if grad_scale is not None or found_inf is not None:
        raise GradScaleError("Expected grad_scale and found_inf to be None")
    if capturable and params:
        what = _CAPTURABLE.get(name, "params and state_steps")
        if foreach and name == "nadam":  # (torch's for-each NAdam words it with a comma)
            what = "params, mu_products, and state_steps"
        devices = _DEVICES.replace(", 'xla'", "") if name == "adadelta" else _DEVICES
        raise CapturableError(f"If capturable=True, {what} must be on supported devices: "
                              f"{devices}.")


def _torch_type_name(dtype: Any) -> str:
    """torch's scalar type name of a dtype (Double, Half...), for its messages."""
    names = {"float64": "Double", "float32": "Float", "float16": "Half", "int64": "Long",
             "int32": "Int", "bool": "Bool", "bfloat16": "BFloat16"}
    return names.get(np.dtype(dtype).name, np.dtype(dtype).name)


def _run(cls: type, params: list, grads: list, slots: dict[str, list], steps: list | None,
         group: dict[str, Any], *, grad_scale: Any = None, found_inf: Any = None) -> None:
    """One step of ``cls``'s update on each parameter: parameter i's state is its slots'
    i-th tensors (``slots``: the class's slot name -> torch's list) and ``steps[i]``; only the
    slots the group uses are read (torch's empty ``max_exp_avg_sqs`` without amsgrad)."""
    if found_inf is not None and float(found_inf.data.reshape(-1)[0]) != 0.0:
        return  # torch's fused kernel skips the step (and takes its count back)
    optimizer = _instance(cls)
    group = {key: _number(value) for key, value in group.items()}
    used = optimizer._slots(group)
    scale = None if grad_scale is None else float(grad_scale.data.reshape(-1)[0])
    for i, param in enumerate(params):
        grad = grads[i]
        if scale is not None:  # torch's fused kernel unscales the gradient in place
            grad.data[...] = grad.data / scale
            _bump(grad.data)
        g = _grad_of(grad)
        data = _flat_rows(param.data, g)
        state = {slot: _flat_rows(slots[slot][i].data, g) for slot in used}
        if steps is not None:
            state["step"] = steps[i].data
        optimizer._update_array(data, g, state, group, isinstance(g, SparseGrad))
        for slot in used:
            _bump(slots[slot][i].data)
        if steps is not None:
            _bump(steps[i].data)
        _bump(param.data)


def adam(params: list[Tensor], grads: list[Tensor], exp_avgs: list[Tensor],
         exp_avg_sqs: list[Tensor], max_exp_avg_sqs: list[Tensor], state_steps: list[Tensor],
         foreach: bool | None = None, capturable: bool = False, differentiable: bool = False,
         fused: bool | None = None, grad_scale: Tensor | None = None,
         found_inf: Tensor | None = None, has_complex: bool = False,
         decoupled_weight_decay: bool = False, *, amsgrad: bool, beta1: float | Tensor,
         beta2: float | Tensor, lr: float | Tensor, weight_decay: float, eps: float,
         maximize: bool) -> None:
    """torch.optim.adam.adam: one Adam step (AdamW's with ``decoupled_weight_decay``), the
    class's update (dlpy.optim.Adam). ``max_exp_avg_sqs`` is read with ``amsgrad`` only."""
    _check_steps(state_steps)
    if foreach and not fused and params and not capturable:  # torch's for-each path's checks
        if isinstance(lr, Tensor):
            raise RuntimeError("lr as a Tensor is not supported for capturable=False and "
                               "foreach=True")
        for name, beta in (("beta1", beta1), ("beta2", beta2)):
            if isinstance(beta, Tensor):
                raise ValueError(f"{name} as a Tensor is not supported for capturable=False "
                                 "and foreach=True")
    _check_flags("adam", params, fused=bool(fused), differentiable=differentiable,
                 capturable=capturable, grad_scale=grad_scale, found_inf=found_inf,
                 title="Adam")
    if fused and params and not amsgrad and max_exp_avg_sqs:  # torch's fused kernel's check
        raise RuntimeError("Expected max_exp_avg_sqs.empty() to be true, but got false.")
    _check_in_place(params)
    _run(Adam, params, grads, {"exp_avg": exp_avgs, "exp_avg_sq": exp_avg_sqs,
                               "max_exp_avg_sq": max_exp_avg_sqs}, state_steps,
         {"lr": lr, "betas": (_number(beta1), _number(beta2)), "eps": eps,
          "weight_decay": weight_decay, "amsgrad": amsgrad, "maximize": maximize,
          "decoupled_weight_decay": bool(decoupled_weight_decay)},
         grad_scale=grad_scale if fused else None, found_inf=found_inf if fused else None)


def adamw(params: list[Tensor], grads: list[Tensor], exp_avgs: list[Tensor],
          exp_avg_sqs: list[Tensor], max_exp_avg_sqs: list[Tensor], state_steps: list[Tensor],
          foreach: bool | None = None, capturable: bool = False, differentiable: bool = False,
          fused: bool | None = None, grad_scale: Tensor | None = None,
          found_inf: Tensor | None = None, has_complex: bool = False, *, amsgrad: bool,
          beta1: float | Tensor, beta2: float | Tensor, lr: float | Tensor,
          weight_decay: float, eps: float, maximize: bool) -> None:
    """torch.optim.adamw.adamw: ``adam`` with decoupled weight decay (dlpy.optim.AdamW)."""
    adam(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps, foreach=foreach,
         capturable=capturable, differentiable=differentiable, fused=fused,
         grad_scale=grad_scale, found_inf=found_inf, has_complex=has_complex, amsgrad=amsgrad,
         beta1=beta1, beta2=beta2, lr=lr, weight_decay=weight_decay, eps=eps,
         maximize=maximize, decoupled_weight_decay=True)


def sgd(params: list[Tensor], d_p_list: list[Tensor],
        momentum_buffer_list: list[Tensor | None], has_sparse_grad: bool = False,
        foreach: bool | None = None, fused: bool | None = None,
        grad_scale: Tensor | None = None, found_inf: Tensor | None = None, *,
        weight_decay: float, momentum: float, lr: float, dampening: float, nesterov: bool,
        maximize: bool) -> None:
    """torch.optim.sgd.sgd: one SGD step (dlpy.optim.SGD's update). With momentum, a None in
    ``momentum_buffer_list`` starts that parameter's buffer (the effective gradient, as
    torch's first step) and the list then holds it."""
    _check_flags("sgd", params, fused=bool(fused), grad_scale=grad_scale, found_inf=found_inf,
                 title="SGD")
    _check_in_place(params)
    if fused and found_inf is not None and float(found_inf.data.reshape(-1)[0]) != 0.0:
        return
    group = {"lr": _number(lr), "momentum": momentum, "dampening": dampening,
             "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize}
    buffers, steps = [], []
    for i, param in enumerate(params):
        buf = momentum_buffer_list[i] if momentum else None
        # (dlpy's SGD counts steps: 0 makes the buffer the gradient, as torch's None)
        buffers.append(Tensor(np.zeros_like(param.data)) if buf is None else buf)
        steps.append(Tensor(np.asarray(0 if buf is None else 1, dtype=np.int64)))
    _run(SGD, params, d_p_list, {"momentum_buffer": buffers}, steps, group,
         grad_scale=grad_scale if fused else None)
    if momentum:
        for i in range(len(params)):
            if momentum_buffer_list[i] is None:
                momentum_buffer_list[i] = buffers[i]


def adagrad(params: list[Tensor], grads: list[Tensor], state_sums: list[Tensor],
            state_steps: list[Tensor], fused: bool | None = None,
            grad_scale: Tensor | None = None, found_inf: Tensor | None = None,
            has_sparse_grad: bool = False, foreach: bool | None = None,
            differentiable: bool = False, has_complex: bool = False, *, lr: float,
            weight_decay: float, lr_decay: float, eps: float, maximize: bool) -> None:
    """torch.optim.adagrad.adagrad: one Adagrad step (dlpy.optim.Adagrad's update; a sparse
    COO gradient updates its rows only)."""
    _check_steps(state_steps)
    _check_flags("adagrad", params, fused=bool(fused), differentiable=differentiable,
                 grad_scale=grad_scale, found_inf=found_inf, title="adagrad")
    _check_in_place(params)
    _run(Adagrad, params, grads, {"sum": state_sums}, state_steps,
         {"lr": lr, "weight_decay": weight_decay, "lr_decay": lr_decay, "eps": eps,
          "maximize": maximize},
         grad_scale=grad_scale if fused else None, found_inf=found_inf if fused else None)


def rmsprop(params: list[Tensor], grads: list[Tensor], square_avgs: list[Tensor],
            grad_avgs: list[Tensor], momentum_buffer_list: list[Tensor],
            state_steps: list[Tensor], foreach: bool | None = None, maximize: bool = False,
            differentiable: bool = False, capturable: bool = False, has_complex: bool = False,
            *, lr: float, alpha: float, eps: float, weight_decay: float, momentum: float,
            centered: bool) -> None:
    """torch.optim.rmsprop.rmsprop: one RMSprop step (dlpy.optim.RMSprop's update);
    ``grad_avgs`` is read when centered, ``momentum_buffer_list`` with momentum."""
    _check_steps(state_steps)
    _check_flags("rmsprop", params, capturable=capturable)
    _check_in_place(params)
    _run(RMSprop, params, grads, {"square_avg": square_avgs, "grad_avg": grad_avgs,
                                  "momentum_buffer": momentum_buffer_list}, state_steps,
         {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": weight_decay,
          "momentum": momentum, "centered": centered, "maximize": maximize})


def adadelta(params: list[Tensor], grads: list[Tensor], square_avgs: list[Tensor],
             acc_deltas: list[Tensor], state_steps: list[Tensor], capturable: bool = False,
             foreach: bool | None = None, differentiable: bool = False,
             has_complex: bool = False, *, lr: float, rho: float, eps: float,
             weight_decay: float, maximize: bool) -> None:
    """torch.optim.adadelta.adadelta: one Adadelta step (dlpy.optim.Adadelta's update)."""
    _check_steps(state_steps)
    _check_flags("adadelta", params, capturable=capturable)
    _check_in_place(params)
    _run(Adadelta, params, grads, {"square_avg": square_avgs, "acc_delta": acc_deltas},
         state_steps, {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay,
                       "maximize": maximize})


def adamax(params: list[Tensor], grads: list[Tensor], exp_avgs: list[Tensor],
           exp_infs: list[Tensor], state_steps: list[Tensor], foreach: bool | None = None,
           maximize: bool = False, differentiable: bool = False, capturable: bool = False,
           has_complex: bool = False, *, eps: float, beta1: float, beta2: float, lr: float,
           weight_decay: float) -> None:
    """torch.optim.adamax.adamax: one Adamax step (dlpy.optim.Adamax's update)."""
    _check_steps(state_steps)
    _check_flags("adamax", params, capturable=capturable)
    _check_in_place(params)
    _run(Adamax, params, grads, {"exp_avg": exp_avgs, "exp_inf": exp_infs}, state_steps,
         {"lr": lr, "betas": (_number(beta1), _number(beta2)), "eps": eps,
          "weight_decay": weight_decay, "maximize": maximize})


def asgd(params: list[Tensor], grads: list[Tensor], axs: list[Tensor], mus: list[Tensor],
         etas: list[Tensor], state_steps: list[Tensor], foreach: bool | None = None,
         maximize: bool = False, differentiable: bool = False, capturable: bool = False,
         has_complex: bool = False, *, lambd: float, lr: float, t0: float, alpha: float,
         weight_decay: float) -> None:
    """torch.optim.asgd.asgd: one ASGD step (dlpy.optim.ASGD's update): ``etas`` and ``mus``
    are 0-d tensors it rewrites in place."""
    _check_flags("asgd", params, capturable=capturable)
    _check_in_place(params)
    _run(ASGD, params, grads, {"ax": axs, "mu": mus, "eta": etas}, state_steps,
         {"lr": lr, "lambd": lambd, "alpha": alpha, "t0": t0, "weight_decay": weight_decay,
          "maximize": maximize})


def nadam(params: list[Tensor], grads: list[Tensor], exp_avgs: list[Tensor],
          exp_avg_sqs: list[Tensor], mu_products: list[Tensor], state_steps: list[Tensor],
          decoupled_weight_decay: bool = False, foreach: bool | None = None,
          capturable: bool = False, differentiable: bool = False, has_complex: bool = False,
          maximize: bool = False, *, beta1: float, beta2: float, lr: float,
          weight_decay: float, momentum_decay: float, eps: float) -> None:
    """torch.optim.nadam.nadam: one NAdam step (dlpy.optim.NAdam's update); ``mu_products``
    are 0-d tensors multiplied in place."""
    _check_steps(state_steps)
    _check_steps(mu_products, "mu_products")
    _check_flags("nadam", params, capturable=capturable, foreach=bool(foreach))
    _check_in_place(params)
    _run(NAdam, params, grads, {"exp_avg": exp_avgs, "exp_avg_sq": exp_avg_sqs,
                                "mu_product": mu_products}, state_steps,
         {"lr": lr, "betas": (_number(beta1), _number(beta2)), "eps": eps,
          "weight_decay": weight_decay, "momentum_decay": momentum_decay,
          "decoupled_weight_decay": decoupled_weight_decay, "maximize": maximize})


def radam(params: list[Tensor], grads: list[Tensor], exp_avgs: list[Tensor],
          exp_avg_sqs: list[Tensor], state_steps: list[Tensor],
          decoupled_weight_decay: bool = False, foreach: bool | None = None,
          differentiable: bool = False, capturable: bool = False, has_complex: bool = False,
          maximize: bool = False, *, beta1: float, beta2: float, lr: float,
          weight_decay: float, eps: float) -> None:
    """torch.optim.radam.radam: one RAdam step (dlpy.optim.RAdam's update)."""
    _check_steps(state_steps)
    _check_flags("radam", params, capturable=capturable)
    _check_in_place(params)
    _run(RAdam, params, grads, {"exp_avg": exp_avgs, "exp_avg_sq": exp_avg_sqs}, state_steps,
         {"lr": lr, "betas": (_number(beta1), _number(beta2)), "eps": eps,
          "weight_decay": weight_decay, "decoupled_weight_decay": decoupled_weight_decay,
          "maximize": maximize})


def rprop(params: list[Tensor], grads: list[Tensor], prevs: list[Tensor],
          step_sizes: list[Tensor], state_steps: list[Tensor], foreach: bool | None = None,
          capturable: bool = False, maximize: bool = False, differentiable: bool = False,
          has_complex: bool = False, *, step_size_min: float, step_size_max: float,
          etaminus: float, etaplus: float) -> None:
    """torch.optim.rprop.rprop: one Rprop step (dlpy.optim.Rprop's update); ``step_sizes``
    holds each element's step size (the class starts them at its lr)."""
    _check_steps(state_steps)
    _check_flags("rprop", params, capturable=capturable)
    _check_in_place(params)
    _run(Rprop, params, grads, {"prev": prevs, "step_size": step_sizes}, state_steps,
         {"etas": (etaminus, etaplus), "step_sizes": (step_size_min, step_size_max),
          "maximize": maximize})


def sparse_adam(params: list[Tensor], grads: list[Any], exp_avgs: list[Tensor],
                exp_avg_sqs: list[Tensor], state_steps: list[int], *, eps: float,
                beta1: float, beta2: float, lr: float, maximize: bool) -> None:
    """torch.optim._functional.sparse_adam: one SparseAdam step on sparse COO gradients
    (dlpy.optim.SparseAdam's update: only the gradient's rows move); ``state_steps`` are the
    step numbers as Python ints, already counted (as torch's SparseAdam passes them)."""
    _check_in_place(params)
    steps = [Tensor(np.asarray(int(step) - 1, dtype=np.int64)) for step in state_steps]
    for grad in grads[:len(params)]:
        if isinstance(grad, Tensor) and not getattr(grad, "is_sparse", False):
            raise RuntimeError("coalesce(): expected a sparse COO gradient, got a dense one "
                               "(sparse_adam takes sparse gradients only)")
    _run(SparseAdam, params, grads, {"exp_avg": exp_avgs, "exp_avg_sq": exp_avg_sqs}, steps,
         {"lr": lr, "betas": (beta1, beta2), "eps": eps, "maximize": maximize})

