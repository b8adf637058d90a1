"""Optimisers: SGD (momentum, weight decay), Adam, AdamW (amsgrad), SparseAdam, gradient-norm
clipping, and the Optimizer base that dlpy.optim.adaptive's RMSprop, Adagrad, Adamax, NAdam and
RAdam build on.

Updates run in place on the parameters' numpy arrays, block by block (``Optimizer._blocks``) with
small reused temporaries, so a training step allocates nothing here and each array streams
through memory about once. Formulas follow PyTorch's single-tensor ones in the same order, so
results match it step for step.

Parameters come as PyTorch takes them: an iterable of tensors (one group with the constructor's
settings) or of dicts, each a parameter group with its own settings::

    optim.AdamW([{"params": decay, "weight_decay": 0.01},
                 {"params": no_decay, "weight_decay": 0.0}], lr=3e-4)

``opt.param_groups`` is that list (a dict per group, the settings filled in from the
constructor's); learning-rate schedulers set each group's ``lr``. ``opt.lr`` reads the learning
rate all groups share and sets it for every group.
"""

from __future__ import annotations

import copy
import functools
import inspect
import math
import sys
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from dlpy import meta as _meta
from dlpy._caller import user_stacklevel
from dlpy.amp.dtypes import is_low_precision
from dlpy.hooks import add_hook
from dlpy.ops import ArgError, UnsupportedArgError
from dlpy.ops.complex import complex_dtype
from dlpy.optim._optimizer_helpers import (  # noqa: F401 - torch.optim.optimizer's names
    _capturable_doc,
    _default_to_fused_or_foreach,
    _device_dtype_check_for_fused,
    _differentiable_doc,
    _disable_dynamo_if_unsupported,
    _foreach_doc,
    _foreach_supported_types,
    _fused_doc,
    _get_capturable_supported_devices,
    _get_foreach_kernels_supported_devices,
    _get_fused_kernels_supported_devices,
    _get_scalar_dtype,
    _get_value,
    _maximize_doc,
    _params_doc,
    _stack_if_compiling,
    _to_scalar,
    _use_grad_for_differentiable,
    _view_as_real,
)
from dlpy.sparse_grad import SparseGrad
from dlpy.tensor import ShapeError, Tensor, _bump, default_dtype

# torch.optim.optimizer's public names (the module's other names are dlpy's or torch's helpers)
__all__ = ["Optimizer", "register_optimizer_step_pre_hook", "register_optimizer_step_post_hook"]

_tensor_zero_grad = Tensor.zero_grad  # (zero_grad's test for the plain method)

# PyTorch's implementation switches (for loops or fused kernels, CUDA graphs, a differentiable
# step): dlpy has one implementation, so they change nothing; accepted so PyTorch code runs
TORCH_FLAGS = ("foreach", "fused", "capturable", "differentiable")
# their values in a PyTorch optimiser made without them (its state_dict's groups show them)
_TORCH_FLAG_DEFAULTS = {"foreach": None, "fused": None, "capturable": False,
                        "differentiable": False}


class SparseGradError(TypeError, RuntimeError):
    """A sparse gradient given to an optimiser that takes only dense ones (or the other way
    round); torch raises RuntimeError there, so both ``except`` forms catch it."""


class _GroupKeyError(TypeError, KeyError):
    """A parameter group without a 'params' entry: a TypeError, and torch's KeyError. Its
    message prints as given (not quoted, as a KeyError's)."""

    __str__ = Exception.__str__


class _StateKeyError(ValueError, KeyError):
    """A state dict with missing or unexpected entries: a ValueError, and torch's KeyError (a
    missing 'state' or 'param_groups'). Its message prints as given (not quoted)."""

    __str__ = Exception.__str__


class _StateTypeError(AttributeError, TypeError):
    """A state dict that is no dict of names (a list): Python's AttributeError at the first
    name, and torch's TypeError."""


class _RequiredParameter:
    """The type of ``required``: one object, shown as torch's."""

    def __repr__(self) -> str:
        return "<required parameter>"


# torch.optim.optimizer.required: a default a parameter group must set (``defaults =
# dict(lr=required)``); a group leaving it out is a ValueError, as torch's
required = _RequiredParameter()

# torch.optim.optimizer.ParamsT: what an optimiser's ``params`` may be (an annotation)
ParamsT = Iterable[Tensor] | Iterable[dict[str, Any]] | Iterable[tuple[str, Tensor]]


def torch_layout_default(torch_layout: bool | None) -> bool:
    """``state_dict(torch_layout=None)``: PyTorch's layout while dlpy.compat is installed."""
    if torch_layout is not None:
        return bool(torch_layout)
    compat = sys.modules.get("dlpy.compat")
    return compat is not None and compat.is_installed()


class Optimizer:
    """Base class: holds the parameter groups, the per-parameter state and the step count.

    ``defaults`` names each group's settings and their values when a group does not give them
    (PyTorch's keys: ``lr``, ``momentum``, ``betas``...); ``_slots(group)`` names the
    per-parameter state arrays (e.g. ``exp_avg``), created lazily at the first step.
    ``params`` and ``state`` run over every group's parameters in order (the numbering of
    ``state_dict``, as PyTorch's). ``accepts_sparse`` / ``accepts_dense``: which gradients
    (dlpy.sparse_grad.SparseGrad or arrays) the optimiser takes. ``scalar_slots``: the slots
    that are one number (0-d, of the given dtype) rather than an array like the parameter.
    ``scratch_arrays``: how many temporaries each block of ``_blocks`` comes with;
    ``block_bytes``: a block's size, per array.
    ``added_settings``: settings added after dlpy first saved this optimiser's state, with the
    value an older state implies when it lacks them.
    """

    accepts_sparse = False
    accepts_dense = True
    # updates complex parameters as torch: on view_as_real pairs (False: refused when given,
    # "step": refused by the step, as torch's Adafactor and Muon)
    accepts_complex: bool | str = True
    scratch_arrays = 2
    block_bytes = 1 << 20  # per array: a block's few arrays stay in the L2/L3 cache
    scalar_slots: dict[str, type] = {}
    added_settings: dict[str, Any] = {}
    torch_flags: tuple[str, ...] = ()  # which of TORCH_FLAGS PyTorch's constructor takes
    # a switch's value where a loaded group lacks it, if not _TORCH_FLAG_DEFAULTS' (SGD's)
    torch_load_flags: dict[str, Any] = {}
    # settings of PyTorch's groups that are fixed in this class (Adam's decoupled_weight_decay)
    torch_fixed: dict[str, Any] = {}
    # those of them a saved group may change, kept in the group (Adam's decoupled_weight_decay)
    torch_group_settings: tuple[str, ...] = ()
    # whether PyTorch's per-parameter state has a "step" (SGD's and Muon's have none) and
    # holds Tensors (LBFGS's keeps Python numbers and lists: dlpy's arrays are left as they are)
    torch_step = True
    # whether PyTorch's "step" is a Python int (SparseAdam's) rather than a 0-d float32 Tensor
    torch_step_int = False
    torch_state_tensors = True

    # a user's optimiser written the torch way (its own step filling ``self.state[p]``): the
    # state is the dicts it fills, saved and loaded as they are (``__init_subclass__``)
    _torch_style_state = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "step" in cls.__dict__:
            cls.step = _with_global_hooks(cls.__dict__["step"])
            # (a user's subclass of SGD, Adam..., or one written dlpy's way, keeps theirs)
            own = cls.__mro__[:cls.__mro__.index(Optimizer)]
            if not any(c.__module__.startswith("dlpy.") for c in own) \
                    and cls._update is Optimizer._update:
                cls._torch_style_state = True
        elif cls.__module__.startswith("dlpy.optim"):
            # each of torch's optimisers defines its own step: a class deriving from one
            # (SGD) and from another Optimizer subclass reaches SGD's step before the other's
            step = cls.step  # (Optimizer's own is wrapped after the classes of its module)
            cls.step = step if getattr(step, "_global_hooks", False) \
                else _with_global_hooks(step)

    @staticmethod
    def profile_hook_step(func):
        """torch's decorator of a ``step``: the step pre-hooks (global, then the optimiser's;
        one may return new ``(args, kwargs)``) before it and the post-hooks after, as torch's
        wrapper. (As in torch, a class whose ``step`` is decorated runs them twice: every
        class's ``step`` runs them already, ``__init_subclass__``.)"""
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            self = args[0]
            own = self.__dict__
            args, kwargs = _step_pre_hooks(
                self, [*_GLOBAL_STEP_PRE_HOOKS.values(), *own.get("_step_pre_hooks", {}).values()],
                args, kwargs, lambda result: f"{func} must return None or a tuple of (new_args, "
                                             f"new_kwargs), but got {result}.")
            out = func(*args, **kwargs)
            for hook in [*own.get("_step_post_hooks", {}).values(),
                         *_GLOBAL_STEP_POST_HOOKS.values()]:
                hook(self, args, kwargs)
            return out

        return wrapper

    @staticmethod
    def _group_tensors_by_device_and_dtype(tensorlistlist, with_indices: bool = False):
        """torch's grouping of parallel tensor lists for its for-each kernels: {(device,
        dtype): (the lists' entries of that parameter device and dtype, their indices with
        ``with_indices``)}, by the first list's tensors, in order."""
        groups: dict[Any, tuple[list[list[Any]], list[int]]] = {}
        for i, first in enumerate(tensorlistlist[0]):
            key = (first.device, first.dtype) if first is not None else (None, None)
            lists, indices = groups.setdefault(key, ([[] for _ in tensorlistlist], []))
            for out, source in zip(lists, tensorlistlist):
                out.append(source[i] if i < len(source) else None)
            if with_indices:  # (torch's are empty without)
                indices.append(i)
        return groups

    def _init_hooks(self) -> None:
        """Empty tables of the step and state-dict hooks (handle id -> hook)."""
        self._step_pre_hooks: dict[int, Any] = {}
        self._step_post_hooks: dict[int, Any] = {}
        self._state_dict_pre_hooks: dict[int, Any] = {}
        self._state_dict_post_hooks: dict[int, Any] = {}
        self._load_state_dict_pre_hooks: dict[int, Any] = {}
        self._load_state_dict_post_hooks: dict[int, Any] = {}

    def _checked_flags(self, flags: dict[str, Any]) -> dict[str, Any]:
        """The implementation switches a built-in optimiser's constructor was given, checked
        (an unknown keyword is Python's TypeError): they go up to ``Optimizer.__init__`` inside
        ``defaults``, as torch's, so that a class deriving from this one and from another
        ``Optimizer`` subclass, whose ``__init__(params, defaults)`` comes between them in the
        method order, gets two arguments only."""
        owner = next((c for c in type(self).__mro__
                      if "__init__" in c.__dict__ and c.__module__.startswith("dlpy.optim")),
                     type(self))  # the built-in class whose signature took them, as Python
        _check_torch_flags(owner.__name__, self.torch_flags, flags)
        return flags

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], defaults: dict[str, Any],
                 **flags: Any):
        name = type(self).__name__
        if any(flag in defaults for flag in self.torch_flags):  # given inside defaults
            flags = {**{flag: defaults[flag] for flag in self.torch_flags if flag in defaults},
                     **flags}
            defaults = {key: value for key, value in defaults.items()
                        if key not in self.torch_flags}
        _check_torch_flags(name, self.torch_flags, flags)
        # the switches' values, kept in every group as torch's (its state dict and repr show
        # them), with the settings this class fixes (Adam's decoupled_weight_decay)
        self._torch_extras = {**{flag: flags.get(flag, _TORCH_FLAG_DEFAULTS[flag])
                                 for flag in self.torch_flags}, **self.torch_fixed}
        self._init_hooks()
        self._defaults = dict(defaults)
        if isinstance(params, (Tensor, dict)):
            self._check_defaults(defaults)  # torch's constructor checks the settings first
            raise TypeError(f"{name}: params must be an iterable of Tensors or of parameter "
                            f"groups (dicts), got one {type(params).__name__}; wrap it in a list")
        self._defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.params: list[Tensor] = []
        # per parameter: slot name -> array (a ParamStates: also keyed by the parameter)
        self.state = []
        # temporaries shared by every parameter, not state (never saved, made when needed):
        # dtype -> a (scratch_arrays, n) buffer, and (dtype, shape) -> views of it
        self._scratch: dict[np.dtype, np.ndarray] = {}
        self._scratch_views: dict[tuple[np.dtype, tuple[int, ...]], tuple[np.ndarray, ...]] = {}
        self.step_count = 0
        entries = list(params)
        if not entries:
            self._check_defaults(defaults)
            raise ValueError(f"{name}: got an empty parameter list")
        kinds = {isinstance(entry, dict) for entry in entries}
        if kinds == {True, False}:
            raise TypeError(f"{name}: params mixes tensors and parameter groups (dicts); give "
                            "one or the other")
        for group in entries if kinds == {True} else [{"params": entries}]:
            self.add_param_group(group)

    @property
    def state(self) -> ParamStates:
        """Per parameter, in ``params`` order: slot name -> array; ``state[p]`` (torch's
        form) gives parameter ``p``'s as Tensors."""
        return self._state

    @state.setter
    def state(self, value) -> None:
        if isinstance(value, dict):  # torch's form (``defaultdict(dict)``): parameter -> state
            if "params" not in self.__dict__:
                # a wrapper that skips Optimizer.__init__ (Lookahead around an inner
                # optimiser): its state is the dict it keeps, as torch's
                self._state = value
                return
            extras = {i: dict(value[p]) for i, p in enumerate(self.params) if value.get(p)}
            self._state = ParamStates(self, [{} for _ in self.params])
            self.__dict__.pop("_extras", None)
            self.__dict__.pop("_loaded_scalars", None)
            self._forget_entries()
            position = {id(p): i for i, p in enumerate(self.params)}
            self.__dict__["_order"] = {position[id(p)]: None for p in value
                                       if isinstance(p, Tensor) and id(p) in position}
            for i, entries in extras.items():  # (torch's dict: kept through opt.state[p])
                self._state[self.params[i]] = entries
            self._state.keyed.update((k, v) for k, v in value.items()
                                     if ParamStates._is_keyed(k))
            return
        self.__dict__.pop("_extras", None)  # (the user's keys go with the state they were in)
        self.__dict__.pop("_loaded_scalars", None)
        self._forget_entries()
        self._state = value if isinstance(value, ParamStates) else ParamStates(self, value)

    @property
    def defaults(self) -> dict[str, Any]:
        """The constructor's settings, PyTorch's switches (``foreach``...) among them as torch
        shows them; a group added later takes the ones it leaves out from here."""
        public = self.__dict__.get("_public_defaults")
        if public is None:
            public = self._public_defaults = {**self._defaults,
                                              **getattr(self, "_torch_extras", {})}
        return public

    @defaults.setter
    def defaults(self, value: dict[str, Any]) -> None:
        self._defaults, self._public_defaults = dict(value), None

    def add_param_group(self, group: dict[str, Any]) -> None:
        """Add a group (``{"params": [...], setting: value...}``); settings it leaves out take
        the constructor's values. A parameter may belong to one group only."""
        name, index = type(self).__name__, len(self.param_groups)
        if not isinstance(group, dict) or "params" not in group:
            error = _GroupKeyError if isinstance(group, dict) else TypeError  # as torch's
            raise error(f"{name}: a parameter group is a dict with a 'params' entry, got "
                        f"{group!r:.80}")
        # a group may carry PyTorch's implementation switches too (no effect here) and keys
        # of the user's own (a name, a tag): kept in the group, as torch's
        extras = {**getattr(self, "_torch_extras", {}),
                  **{k: v for k, v in group.items() if k != "params" and k not in self._defaults
                     and k != "param_names"}}
        group = {k: v for k, v in group.items() if k == "params" or k in self._defaults}
        params = group["params"]
        if isinstance(params, (set, frozenset)):
            raise TypeError(f"{name}: optimizer parameters need to be organized in ordered "
                            "collections, but the ordering of tensors in sets will change "
                            "between runs. Please use a list instead.")
        params = [params] if isinstance(params, Tensor) else list(params)
        names = None  # (a group may be empty, as torch's: only no group at all is an error)
        if params and all(isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str)
                          for p in params):
            # named_parameters(), as torch 2.13 takes: the names go to "param_names"
            names, params = [n for n, _ in params], [p for _, p in params]
        if self.param_groups and ("param_names" in self.param_groups[0]) != (names is not None):
            raise ValueError("all optimizer param groups should be with/without names. cannot "
                             f"add param group {'with' if names is not None else 'without'} "
                             "names to the optimizer")
        seen = {id(p) for p in self.params}  # (the other groups')
        for i, p in enumerate(params):
            label = f"parameter {i}" + (f" of group {index}" if index else "")
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: {label} must be a Tensor, got {type(p).__name__}")
            # a frozen leaf is fine: it has no gradient, step skips it; a non-leaf that
            # retains its grad, or any with differentiable=True, torch takes too
            if not p.is_leaf and not getattr(p, "retains_grad", False) \
                    and not getattr(self, "_torch_extras", {}).get("differentiable"):
                raise ValueError(f"{name}: {label} is not a leaf tensor (the result of an op); "
                                 "an optimiser updates leaves such as parameters")
            if id(p) in seen:
                raise ValueError(f"{name}: {label} appears in more than one parameter group")
            if self.accepts_complex is False and p.data.dtype.kind == "c":
                # (SparseAdam's; Adafactor's and Muon's refuse it at the step, as torch's)
                raise _ComplexParamValueError(
                    f"{name}: {label} is complex ({p.dtype}); {name} does not support complex "
                    "parameters (as torch's): use Adam or SGD, or optimise view_as_real "
                    "parameters")
        if len({id(p) for p in params}) != len(params):
            # torch's warning; the parameter is kept at each place, as torch's (a step updates
            # it once per place; dlpy's state is per place, torch's shared)
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in "
                          "future, this will cause an error; see "
                          "github.com/pytorch/pytorch/issues/40967 for more information",
                          stacklevel=user_stacklevel())
        public = self.__dict__.get("_public_defaults") or {}  # (as the user may have set)
        for key, value in self._defaults.items():
            if public.get(key, value) is required and key not in group:
                raise ValueError("parameter group didn't specify a value of required "
                                 f"optimization parameter {key}")
        settings = {**{k: public.get(k, v) for k, v in self._defaults.items()},
                    **{k: v for k, v in group.items() if k != "params"}}
        # torch takes one-element Tensors (lr, betas, weight_decay, momentum...) and keeps
        # them in the group: checked as numbers, kept as given
        given = {k: v for k, v in settings.items() if _has_tensor(v)}
        if given:
            settings.update({k: _as_numbers(v) for k, v in given.items()})
        settings = self._check_group(settings)
        if given:
            settings.update(given)
            if any(k != "lr" for k in given):
                self._tensor_hypers = True
        self.param_groups.append({"params": params,  # param_names second, as torch's
                                  **({"param_names": names} if names is not None else {}),
                                  **settings, **extras})
        self.params.extend(params)
        self.state.extend({} for _ in params)

    def _check_defaults(self, defaults: dict[str, Any]) -> None:
        """The constructor's settings checked as a group's (one-element Tensors as numbers)."""
        self._check_group({k: _as_numbers(v) if _has_tensor(v) else v
                           for k, v in defaults.items()})

    def _check_group(self, settings: dict[str, Any]) -> dict[str, Any]:
        """Validate and normalise one group's settings (subclasses add theirs); a user's
        optimiser may have no ``lr``, and one written the torch way (its own ``step``) keeps
        its settings as given: torch's base class checks none (AdaFactor's ``lr=None`` asks it
        for a relative step size)."""
        if "lr" not in settings or self._torch_style_state:
            return settings
        _check_hyper(type(self).__name__, lr=settings["lr"])
        return {**settings, "lr": _num(settings["lr"])}

    def _slots(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ()

    def _param_slots(self, ndim: int, group: dict[str, Any]) -> tuple[str, ...]:
        """The slots of a parameter with ``ndim`` dimensions (Adafactor's depend on it)."""
        return self._slots(group)

    def _slot_shape(self, slot: str, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape of an array slot of a parameter of ``shape`` (Adafactor's factors
        differ)."""
        return shape

    def _init_state(self, param: np.ndarray, group: dict[str, Any]) -> dict[str, np.ndarray]:
        """A parameter's state before its first step: every slot zeros, the step count 0 (the
        one-number slots, NAdam's mu_product, of torch's scalar dtype as the step)."""
        state = {slot: np.zeros((), _scalar_dtype(group)) if slot in self.scalar_slots
                 else np.zeros_like(param) for slot in self._slots(group)}
        state["step"] = self._step_zero(group)
        return state

    def _step_zero(self, group: dict[str, Any] | None = None) -> np.ndarray:
        """A parameter's step count before its first step: as PyTorch's, a 0-d array of its
        scalar dtype (float32; float64 under set_default_dtype(float64), but fused) that the
        steps count up in place (``opt.state[p]["step"]`` is a Tensor on it, so a reference
        the user holds sees the count and the user's in-place writes reach the next step); an
        int64 one where PyTorch keeps none (SGD's) or a Python int (SparseAdam's)."""
        torch_float = self.torch_step and not self.torch_step_int
        return np.zeros((), dtype=_scalar_dtype(group) if torch_float else np.int64)

    @property
    def lr(self) -> float:
        """The learning rate of every group (an error if the groups differ: then read
        ``param_groups[i]["lr"]``). An optimiser written the torch way that sets its own
        ``self.lr`` (torch's Optimizer has no ``lr``) keeps that value as a plain attribute."""
        if "lr" in self.__dict__:
            return self.__dict__["lr"]
        lrs = [group["lr"] for group in self.param_groups]
        if any(lr != lrs[0] for lr in lrs):
            raise ValueError(f"{type(self).__name__}.lr: the parameter groups have different "
                             f"learning rates {lrs}; read param_groups[i]['lr']")
        return lrs[0]

    @lr.setter
    def lr(self, value: float) -> None:
        if self._torch_style_state or "lr" in self.__dict__ or "param_groups" not in self.__dict__:
            self.__dict__["lr"] = value  # (a torch-style subclass's own attribute)
            return
        for group in self.param_groups:
            group["lr"] = value

    def _patch_step_function(self) -> None:
        """torch's hook that wraps the class's ``step`` for profiling and the step hooks, as
        optimisers written for torch (wrappers around another one) call from ``__init__``:
        dlpy wraps ``step`` once per class already (``__init_subclass__``), so nothing more
        is needed but the profiler name torch sets."""
        self._zero_grad_profile_name = f"Optimizer.zero_grad#{type(self).__name__}.zero_grad"

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: set to None (PyTorch's default) or, with
        ``set_to_none=False``, fill them with zeros. A subclass that skips ``__init__`` (timm's
        Lookahead, which shares its base optimiser's ``param_groups``) zeroes its groups'."""
        params = self.__dict__.get("params")
        if params is None:
            params = [p for group in self.param_groups for p in group["params"]]
        for p in params:
            if set_to_none is True and type(p).zero_grad is _tensor_zero_grad:
                p._grad = None  # (Tensor.zero_grad's, without a call per parameter)
            else:
                p.zero_grad(set_to_none)

    def _indexed(self):
        """(flat index, parameter, its group) over every group in order."""
        index = 0
        for group in self.param_groups:
            for p in group["params"]:
                yield index, p, group
                index += 1

    def step(self, closure=None):
        """Update every parameter that has a gradient; ``closure`` (as torch's): called first,
        with gradients on, to recompute the loss (and the gradients), which step returns."""
        loss = None
        if closure is not None:
            from dlpy.tensor import enable_grad

            with enable_grad():
                loss = closure()
        self._step()
        return loss

    def _step(self) -> None:
        name = type(self).__name__
        numeric = {}  # groups with Tensor settings: a copy with their numbers, for the updates
        tensor_hypers = self.__dict__.get("_tensor_hypers")
        # torch's step runs with the autograd on where the constructor's differentiable is
        # (a group's own flag changes only its formulas)
        differentiable = "differentiable" in self.torch_flags and (  # (the cached dict: no
            self.__dict__.get("_public_defaults") or self.defaults).get("differentiable")  # call)
        for g, group in enumerate(self.param_groups):
            lr = group["lr"]  # a schedule may have set it
            plain = type(lr) is float  # (the common case, without isinstance's costs)
            if not plain and isinstance(lr, Tensor) and lr.data.size == 1:
                lr = float(lr.data.reshape(()))
                numeric[id(group)] = {**group, "lr": lr}
            if tensor_hypers:
                numeric[id(group)] = {**numeric.get(id(group), group),
                                      **{k: _as_numbers(v) for k, v in group.items()
                                         if k not in ("params", "lr") and _has_tensor(v)}}
            if not plain and (isinstance(lr, bool) or not isinstance(lr, (int, float, np.number))) \
                    or not math.isfinite(lr):  # (a negative one is torch's constructor's error
                where = f" (parameter group {g})" if len(self.param_groups) > 1 else ""  # only:
                raise ValueError(f"{name}.step: lr must be finite, got {lr}{where}")  # LinearLR
                # to end_factor 0 leaves -1.5e-17, which torch's step takes)
            if differentiable:
                if group.get("foreach") and self.foreach_asserts_differentiable \
                        and any(p._grad is not None for p in group["params"]):
                    self._make_group_states(g)  # (torch's for-each step: after them)
                    raise _ForeachAutogradError("_foreach ops don't support autograd")
                _check_differentiable(name, group)
        self.step_count += 1
        # (plain indexing: ParamStates' own __getitem__ costs; list() would call its __len__)
        states = list.copy(self.state)
        # a step set to a plain number (state["step"] = 5): torch's step refuses the group
        refused = self._number_step_group(states) if self.__dict__.get("_number_steps") else None
        # a complex parameter with a gradient where torch's step refuses it (Adafactor, Muon):
        # its group's error, after the groups before it stepped
        complex_group = self._complex_group() if self.accepts_complex == "step" else None
        # the per-parameter work below is the step's overhead on small models: attributes read
        # once, the slots once per group (unless a subclass makes them depend on the shape)
        by_group = type(self)._param_slots is Optimizer._param_slots
        group_slots: dict[int, tuple[str, ...]] = {}
        accepts_sparse, accepts_dense = self.accepts_sparse, self.accepts_dense
        update, low_update = self._update, getattr(self, "_update_low_precision", None)
        # (_indexed's pairs in one list: a generator's resumption costs more per parameter)
        for i, (p, group) in enumerate([(p, g) for g in self.param_groups for p in g["params"]]):
            grad = p._grad  # a Tensor (its array is read), a SparseGrad or None
            if grad is None:
                continue
            if refused is not None and group is refused:
                self._refuse_number_step(states, group)
            if complex_group is not None and group is complex_group:
                self._refuse_complex(i)
            if numeric:
                group = numeric.get(id(group), group)
            data = p.data
            sparse = type(grad) is SparseGrad
            if not sparse:
                grad = grad.data
            if grad.shape != data.shape:
                raise ValueError(
                    f"{name}.step: parameter {i} has shape {data.shape} but its gradient has "
                    f"{tuple(grad.shape)}"
                )
            state = states[i]
            if by_group:
                slots = group_slots.get(id(group))
                if slots is None:
                    slots = group_slots[id(group)] = self._slots(group)
            else:
                slots = self._param_slots(data.ndim, group)
            if slots:
                if not state:
                    state.update(self._fresh_state(data, group))
                    if self.grad_layout_slots and not sparse and data.dtype.kind != "c":
                        self._lay_like_grad(state, grad, data, group)
                    self._state_made(i)
                elif state[slots[0]].dtype != data.dtype:  # (the first slot: an array)
                    # the parameter changed dtype (module.to(np.float64)) after some steps:
                    # its state follows, as load_state_dict casts it
                    for slot in slots:
                        if slot not in self.scalar_slots and slot in state:
                            state[slot] = state[slot].astype(data.dtype)
                    self._state_made(i)
                missing = [slot for slot in slots if slot not in state]
                if missing:  # a setting turned on after the first step (RMSprop's momentum or
                    # centered, Adam's amsgrad): its buffer was never made, torch's KeyError
                    raise _StateKeyError(missing[0])
            if group.get("capturable") and "capturable" in self.torch_flags:
                self._refuse_capturable(i)
            if sparse and not accepts_sparse:
                raise SparseGradError(
                    f"{name}: parameter {i} has a sparse gradient (an op with sparse=True); "
                    f"{name} does not take sparse gradients: use optim.SparseAdam, Adagrad or "
                    "SGD for that parameter, or leave sparse off"
                )
            if not sparse and not accepts_dense:
                raise SparseGradError(
                    f"{name}: parameter {i} has a dense gradient; {name} takes only sparse "
                    "gradients (nn.Embedding(sparse=True), sparse_linear(..., sparse=True)): "
                    "use Adam for the dense parameters"
                )
            dtype = data.dtype
            if grad.dtype is dtype and dtype.kind == "f" and dtype.itemsize > 2:
                # float32/float64: _update_array's common case here (its call per parameter
                # costs on small models)
                update(data, grad, state, group)
                _bump(data)
            else:
                self._update_array(data, grad, state, group, sparse, update, low_update)

    def _complex_group(self) -> dict[str, Any] | None:
        """The first group with a complex parameter that has a gradient (None: none)."""
        for group in self.param_groups:
            if any(p._grad is not None and p.data.dtype.kind == "c" for p in group["params"]):
                return group
        return None

    def _refuse_complex(self, index: int) -> None:
        """torch's RuntimeError of a step on a complex parameter (Adafactor's, Muon's): its
        group's parameters before it with a gradient get their state first, as torch's
        _init_group makes them."""
        name = type(self).__name__
        first = 0
        for group in self.param_groups:
            if index < first + len(group["params"]):
                break
            first += len(group["params"])
        states = list.copy(self.state)
        for i, p in enumerate(group["params"], first):
            if p._grad is None:
                continue
            if p.data.dtype.kind == "c":
                raise _ComplexParamError(f"{name} does not support complex parameters")
            if not states[i] and self._param_slots(p.data.ndim, group):
                states[i].update(self._fresh_state(p.data, group))
                self._state_made(i)

    def _make_group_states(self, g: int) -> None:
        """The states of group ``g``'s parameters with a gradient, made as a step makes them:
        torch's step makes a group's states before its checks of the implementation switches
        (capturable, foreach with differentiable), so they stay after its error."""
        states = list.copy(self.state)
        group = self.param_groups[g]
        first = sum(len(other["params"]) for other in self.param_groups[:g])
        for i, p in enumerate(group["params"], first):
            if p._grad is not None and not states[i] \
                    and self._param_slots(p.data.ndim, group):
                states[i].update(self._fresh_state(p.data, group))
                self._state_made(i)

    def _refuse_capturable(self, index: int) -> None:
        """``capturable=True`` (CUDA graphs) on CPU parameters: torch's AssertionError, raised
        after the states of the group of parameter ``index`` are made, the groups before it
        stepped."""
        from dlpy.optim._functional import _check_flags

        g, first = 0, 0
        while index >= first + len(self.param_groups[g]["params"]):
            first += len(self.param_groups[g]["params"])
            g += 1
        self._make_group_states(g)
        group = self.param_groups[g]
        foreach = "foreach" in self.torch_flags and group.get("foreach")
        _check_flags(type(self).__name__.lower(), group["params"], capturable=True,
                     foreach=bool(foreach))

    # the slots torch makes from the gradient (zeros_like(grad), full_like(grad), a clone of
    # it), laid out as it is, not as the parameter; with ``weight_decay`` SGD's buffer is a
    # clone of grad.add(param), laid out over both
    grad_layout_slots: tuple[str, ...] = ()

    def _lay_like_grad(self, state: dict[str, Any], grad: np.ndarray, data: np.ndarray,
                       group: dict[str, Any]) -> None:
        """A fresh state's ``grad_layout_slots`` in the memory order torch gives them."""
        from dlpy.layouts import iterator_layout

        operands = (grad, data) if group.get("weight_decay") and "weight_decay" in \
            self.grad_layout_slots_over_param else (grad,)
        for slot in self.grad_layout_slots:
            value = state.get(slot)
            if type(value) is np.ndarray and value.ndim >= 2:
                state[slot] = iterator_layout(value, *operands)

    grad_layout_slots_over_param: tuple[str, ...] = ()

    def _update_array(self, data: np.ndarray, grad: Any, state: dict[str, np.ndarray],
                      group: dict[str, Any], sparse: bool, update=None,
                      low_update=None) -> None:
        """One parameter's update in place, the class's rule for its dtype (``_update``;
        complex numbers as pairs of reals, as torch; float16/bfloat16 through
        ``_update_low_precision``, torch's rounding), then the array's version bumped. Shared
        by ``step`` and the functional forms (dlpy.optim._functional); ``update`` and
        ``low_update`` are the bound methods where the caller has them already."""
        if update is None:
            update, low_update = self._update, getattr(self, "_update_low_precision", None)
        dtype = data.dtype
        if grad.dtype != dtype:
            grad = grad.astype(dtype)
        if dtype.kind == "c" and not sparse:  # as torch: each complex number a pair of reals
            # (a sparse gradient's rows are complex numbers in torch's sparse kernels too)
            update(_as_real(data), _as_real(grad),
                   {key: _as_real(value) for key, value in state.items()}, group)
        elif not sparse and dtype.itemsize == 2 and low_update is not None \
                and is_low_precision(dtype):
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                # torch's inf/nan where float16 underflows (an eps of 0), without warnings
                low_update(data, grad, state, group)
        else:
            update(data, grad, state, group)
        # changed in place by numpy: an op recorded before refuses its backward, as torch's
        _bump(data)

    # whether torch's for-each step asserts differentiable=False (an AssertionError after the
    # group's states are made; SGD's fails on the in-place update instead)
    foreach_asserts_differentiable = True
    # whether PyTorch's step takes a "step" set to a plain number (ASGD's: counted locally)
    torch_number_step = False
    # PyTorch's message when its step finds a "step" that is not a Tensor
    number_step_message = ("API has changed, `state_steps` argument must contain a list of "
                           "singleton tensors")
    # the one-number slots torch's step refuses as plain numbers (NAdam's mu_product), with
    # the name its message gives them
    torch_tensor_slots: dict[str, str] = {}

    def _number_step_group(self, states: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The first group with a parameter that has a gradient and a ``step`` (or one of
        ``torch_tensor_slots``) set to a plain number, which torch's step refuses (None where
        there is none, or the class takes it)."""
        slots = ("step",) if not self.torch_number_step else ()
        slots += tuple(self.torch_tensor_slots)
        for i, p, group in self._indexed():
            if p._grad is not None and any(
                    states[i].get(slot) is not None
                    and not isinstance(states[i].get(slot), np.ndarray) for slot in slots):
                return group
        return None

    def _refuse_number_step(self, states: list[dict[str, Any]], group: dict[str, Any]) -> None:
        """torch's refusal of a group holding a number ``step`` (RuntimeError), after its
        _init_group made the state of the group's parameters that had none."""
        members = [i for i, p, own in self._indexed() if own is group and p._grad is not None]
        for i in members:
            if not states[i]:
                states[i].update(self._fresh_state(self.params[i].data, group))
                self._state_made(i)
        if self.torch_number_step or all(isinstance(states[i].get("step"), np.ndarray)
                                         for i in members):
            name = next(slot for slot in self.torch_tensor_slots for i in members
                        if not isinstance(states[i].get(slot), np.ndarray))
            raise _NumberStepError(f"API has changed, `{self.torch_tensor_slots[name]}` "
                                   "argument must contain a list of singleton tensors")
        raise _NumberStepError(self.number_step_message)

    def _fresh_state(self, data: np.ndarray, group: dict[str, Any]) -> dict[str, np.ndarray]:
        """A parameter's state before its first step; a complex parameter's made on its
        (real, imaginary) pairs: a fill value (Adagrad's sum, Rprop's step size) goes to both
        parts, as torch's."""
        if data.dtype.kind == "c":
            return _complex_state(self._init_state(_as_real(data), group), data.shape)
        return self._init_state(data, group)

    # ------------------------------------------- opt.state[p] as torch's live dict of Tensors
    def _state_made(self, index: int) -> None:
        """Parameter ``index``'s state made (or remade) by a step: its entry in torch's
        ``defaultdict`` exists from now on (``len(opt.state)``, the state dict's order), and an
        ``opt.state[p]`` the user holds shows it, as torch's dict the step fills."""
        self.__dict__.setdefault("_order", {}).setdefault(index)
        live = self.__dict__.get("_live")
        if live and index in live:
            live[index]._refresh()

    def _view(self, index: int, slot: str, array: np.ndarray) -> Tensor:
        """The Tensor on parameter ``index``'s live ``slot`` array: the same object while the
        array is (``opt.state[p]["exp_avg"] is opt.state_dict()["state"][0]["exp_avg"]``, as
        torch's), so in-place writes to it reach the next step."""
        views = self.__dict__.setdefault("_views", {})
        tensor = views.get((index, slot))
        if tensor is None or tensor.data is not array:
            tensor = views[(index, slot)] = Tensor(array)
            if _meta.is_meta_array(array):  # a fake parameter's state is fake, as torch's
                _meta.like_fakes(tensor, (self.params[index],))
        return tensor

    def _live_state(self, index: int) -> _LiveState:
        """Parameter ``index``'s ``opt.state[p]``: one dict while the entry lives (torch's
        ``opt.state[p] is opt.state[p]``), refreshed from the stored state."""
        live = self.__dict__.setdefault("_live", {})
        entry = live.get(index)
        if entry is None:
            entry = live[index] = _LiveState(self, index, {})
        entry._refresh()
        return entry

    def _forget_entries(self) -> None:
        """The state replaced as a whole: torch's new dict, whose entries, dicts and Tensors
        are new (the ones the user holds are no longer the optimiser's)."""
        for key in ("_order", "_live", "_views"):
            self.__dict__.pop(key, None)

    def _given_entries(self, given: dict) -> Iterator[tuple[int, Any]]:
        """The (flat parameter index, its state) pairs of a loaded state dict's ``state``,
        in its order: keys that are ints (or digit strings) naming one of the parameters."""
        for key, slots in given.items():
            if not (isinstance(key, (int, np.integer)) and not isinstance(key, bool)
                    or isinstance(key, str) and key.isdigit()):
                continue
            index = int(key)
            if 0 <= index < len(self.params):
                yield index, slots

    def _adopt(self, given: Any, saved_groups: Any) -> None:
        """After load_state_dict of PyTorch's layout: the entries in the loaded state's order,
        and its Tensors kept as the state's own where torch's load keeps them (a slot of the
        parameter's dtype, ``step`` as it is; float32 where the saved group is capturable or
        fused): the optimiser's steps then update them in place, as torch's."""
        order = self.__dict__["_order"] = {}
        if not isinstance(given, dict):
            return
        group_of = [saved if isinstance(saved, dict) else {}
                    for saved, own in zip(saved_groups, self.param_groups)
                    for _ in own["params"]]
        for index, slots in self._given_entries(given):
            order.setdefault(index)
            if not isinstance(slots, dict):
                continue
            raw = list.__getitem__(self.state, index)
            for slot, value in slots.items():
                if slot in self.scalar_slots and slot in raw and isinstance(value, (int, float)) \
                        and not isinstance(value, bool):
                    # a number: torch's __setstate__ makes it a Tensor of its scalar dtype
                    raw[slot] = np.array(value, dtype=_scalar_dtype(group_of[index]))
                    continue
                if not isinstance(value, Tensor) or slot not in raw:
                    continue
                array, target = value.data, raw[slot]
                if not isinstance(array, np.ndarray) or not isinstance(target, np.ndarray):
                    continue
                if slot in self.scalar_slots:
                    # torch's load casts it to a floating parameter's dtype (NAdam's
                    # mu_product, ASGD's eta and mu): the given Tensor where it is of it
                    dtype = self.params[index].data.dtype  # (bfloat16 is floating too)
                    dtype = dtype if dtype.kind == "f" or is_low_precision(dtype) \
                        else array.dtype
                    raw[slot] = np.array(array.reshape(()), dtype=dtype)
                    keep = array.dtype == dtype and array.ndim == 0
                elif slot == "step":
                    if not self.torch_step or self.torch_step_int:
                        continue
                    group = group_of[index]
                    keep = array.ndim == 0 and array.dtype.kind in "fiu" and (
                        array.dtype == np.float32
                        or not (group.get("capturable") or group.get("fused")))
                else:
                    keep = array.dtype == target.dtype and array.shape == target.shape
                if keep and array.flags.writeable and array.flags.c_contiguous:
                    raw[slot] = array
                    self.__dict__.setdefault("_views", {})[(index, slot)] = value

    # ---------------------------------------------------- opt.state[p] changed by the user
    def _extra_state(self, index: int) -> dict[str, Any]:
        """Parameter ``index``'s keys of the user's own in ``opt.state[p]`` (saved in
        PyTorch's layout only)."""
        return self.__dict__.setdefault("_extras", {}).setdefault(index, {})

    def _set_state_entry(self, index: int, key: Any, value: Any) -> None:
        """``opt.state[p][key] = value`` as torch's live dict: ``step`` or a slot changes
        what the next step uses (a slot's array shared where it can be, else copied; a slot
        set to None starts the parameter's state afresh, as torch's SGD does with its
        momentum buffer); any other key is kept as the user's."""
        name, param = type(self).__name__, self.params[index]
        group = next(g for i, _, g in self._indexed() if i == index)
        slots = self._param_slots(param.ndim, group)
        if not (key in slots or (key == "step" and self.torch_step)):
            self._extra_state(index)[key] = value
            return
        raw = list.__getitem__(self.state, index)
        if value is None:
            raw.clear()
            return
        if not raw:  # a state set before the first step: the rest as the step would make it
            raw.update(self._fresh_state(param.data, group))
        array = value.data if isinstance(value, Tensor) else np.asarray(value)
        if not isinstance(array, np.ndarray):
            raise TypeError(f"{name}.state[p][{key!r}]: expected a Tensor or a number, got "
                            f"{type(value).__name__}")
        target = raw[key]
        if (key == "step" or key in self.scalar_slots) and isinstance(value, Tensor) \
                and array.ndim == 0 and array.dtype.kind in ("fiu" if key == "step" else "f") \
                and array.flags.writeable and not (key == "step" and self.torch_step_int):
            # the Tensor itself from now on, counted (multiplied, copied into) in place
            raw[key] = array
            self.__dict__.setdefault("_views", {})[(index, key)] = value
            return
        if not isinstance(value, Tensor) and isinstance(value, (int, float)) and (
                key == "step" and not self.torch_step_int or key in self.scalar_slots):
            # a plain number, kept as one (torch's dict holds it): most of torch's steps refuse
            # a number step, ASGD's counts from it without changing it, NAdam's multiplies
            # its mu_product without changing it
            raw[key] = value
            self._number_steps = True
            return
        if key == "step" or key in self.scalar_slots:
            if array.size != 1:
                raise ValueError(f"{name}.state[p][{key!r}]: expected one number, got shape "
                                 f"{array.shape}")
            number = array.reshape(()).item()
            raw[key] = np.asarray(round(number) if key == "step" else number, target.dtype)
            return
        if array.shape != target.shape:  # (torch's step would fail: RuntimeError too)
            raise ShapeError(f"{name}.state[p][{key!r}]: expected shape {target.shape} (the "
                             f"slot of a parameter of shape {param.data.shape}), got "
                             f"{array.shape}")
        shared = array.dtype == target.dtype and array.flags.c_contiguous \
            and array.flags.writeable
        raw[key] = array if shared else np.array(array, dtype=target.dtype)
        if shared and isinstance(value, Tensor):
            self.__dict__.setdefault("_views", {})[(index, key)] = value
        if not self.torch_step and raw["step"] == 0:  # (SGD's buffer: used from the next step)
            raw["step"] = np.asarray(1, dtype=np.int64)

    def _del_state_entry(self, index: int, key: Any) -> None:
        """``del opt.state[p][key]``: a key of the user's goes; ``step`` or a slot starts the
        parameter's state afresh (torch's next step would fail on the missing key)."""
        extras = self.__dict__.get("_extras", {}).get(index)
        if extras is not None and key in extras:
            del extras[key]
        else:
            list.__getitem__(self.state, index).clear()

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray],
                group: dict[str, Any]) -> None:
        """One parameter's step, in place on ``param`` and ``state``."""
        raise NotImplementedError

    def _blocks(self, *arrays: np.ndarray):
        """Matching blocks of ``arrays`` (a parameter, its gradient, its state: one shape), as
        pairs (the arrays' blocks, ``scratch_arrays`` temporaries of the block's shape).

        An update makes several passes (multiply, add, sqrt...); done block by block, every
        pass after the first finds the block in cache, where on whole arrays each pass would
        stream them from memory again. A parameter of one block comes whole."""
        param = arrays[0]
        if param.nbytes <= self.block_bytes:
            return ((arrays, self._temporaries(param.dtype, param.shape)),)
        return self._split(arrays)

    def _split(self, arrays: tuple[np.ndarray, ...]):
        """``_blocks`` for a parameter larger than a block."""
        if all(a.flags.c_contiguous for a in arrays):
            arrays = tuple(a.reshape(-1) for a in arrays)  # flat views
        # else (a transposed gradient, say) blocks of whole rows: slices are views in any layout
        dtype, (rows, *rest) = arrays[0].dtype, arrays[0].shape
        per_block = max(1, self.block_bytes // (math.prod(rest) * dtype.itemsize))  # rows
        for start in range(0, rows, per_block):
            blocks = tuple(a[start:start + per_block] for a in arrays)
            yield blocks, self._temporaries(dtype, blocks[0].shape)

    def _temporaries(self, dtype: np.dtype, shape: tuple[int, ...]) -> tuple[np.ndarray, ...]:
        """``scratch_arrays`` arrays of ``shape``: views of one buffer per dtype that every
        parameter shares (a parameter's dtype may change: module.to)."""
        views = self._scratch_views.get((dtype, shape))
        if views is None:
            size = math.prod(shape)
            buffer = self._scratch.get(dtype)
            if buffer is None or buffer.shape[1] < size:
                buffer = np.empty((self.scratch_arrays,
                                   max(size, self.block_bytes // dtype.itemsize)), dtype)
                self._scratch[dtype] = buffer
                self._scratch_views = {key: value for key, value in self._scratch_views.items()
                                       if key[0] != dtype}  # views of the old buffer
            views = tuple(b[:size].reshape(shape) for b in buffer)
            self._scratch_views[dtype, shape] = views
        return views

    # ----------------------------------------------------------------- hooks
    def register_step_pre_hook(self, hook):
        """``hook(optimizer, args, kwargs)`` before every ``step``; it may return
        ``(new_args, new_kwargs)``. Returns a handle whose ``remove()`` takes it off."""
        return self._add_step_hook(self._step_pre_hooks, hook, "register_step_pre_hook")

    def register_step_post_hook(self, hook):
        """``hook(optimizer, args, kwargs)`` after every ``step``."""
        return self._add_step_hook(self._step_post_hooks, hook, "register_step_post_hook")

    def _add_step_hook(self, hooks, hook, what):
        handle = add_hook(hooks, hook, f"{type(self).__name__}.{what}")
        # only an optimiser with step hooks goes through _hooked_step: without, step is the
        # class's own and hooks cost nothing
        self.step = self._hooked_step
        return handle

    def _hooked_step(self, *args, **kwargs):
        """step with the hooks: the global ones (register_optimizer_step_pre_hook) first, then
        this optimiser's; as torch's, a hook's ``args`` start with the optimiser."""
        self._opt_called = True  # (as the lr schedulers' wrapper of step, which this replaces)
        args, kwargs = _step_pre_hooks(
            self, [*_GLOBAL_STEP_PRE_HOOKS.values(), *self._step_pre_hooks.values()],
            (self, *args), kwargs, lambda result: f"{type(self).__name__}.step: a step pre-hook "
                                                  f"must return None or (args, kwargs), got "
                                                  f"{result!r:.80}")
        self._in_hooked_step = True  # (the class's step wrapper then runs no hook again)
        try:
            out = type(self).step(*args, **kwargs)
        finally:
            self._in_hooked_step = False
        for hook in [*self._step_post_hooks.values(), *_GLOBAL_STEP_POST_HOOKS.values()]:
            hook(self, args, kwargs)
        return out

    def register_state_dict_pre_hook(self, hook, prepend: bool = False):
        """``hook(optimizer)`` before ``state_dict`` builds the state."""
        return _add_ordered(self._state_dict_pre_hooks, hook, prepend,
                            f"{type(self).__name__}.register_state_dict_pre_hook")

    def register_state_dict_post_hook(self, hook, prepend: bool = False):
        """``hook(optimizer, state_dict)`` after; it may return a state dict to use instead."""
        return _add_ordered(self._state_dict_post_hooks, hook, prepend,
                            f"{type(self).__name__}.register_state_dict_post_hook")

    def register_load_state_dict_pre_hook(self, hook, prepend: bool = False):
        """``hook(optimizer, state_dict)`` before ``load_state_dict``; it may return a state
        dict to load instead."""
        return _add_ordered(self._load_state_dict_pre_hooks, hook, prepend,
                            f"{type(self).__name__}.register_load_state_dict_pre_hook")

    def register_load_state_dict_post_hook(self, hook, prepend: bool = False):
        """``hook(optimizer)`` after ``load_state_dict``."""
        return _add_ordered(self._load_state_dict_post_hooks, hook, prepend,
                            f"{type(self).__name__}.register_load_state_dict_post_hook")

    # ----------------------------------------------------------------- state
    def state_dict(self, torch_layout: bool | None = None) -> dict[str, Any]:
        """The optimiser's state: flat name -> array (``_flat_state_dict``: saves in an
        ``.npz``, as ``nn.save_checkpoint`` does) with ``torch_layout=False``, PyTorch's
        ``{"state": {index: {slot: array}}, "param_groups": [{setting: value, "params":
        [indices]}]}`` with ``True``; None (the default): PyTorch's while dlpy.compat stands
        in for torch (a torch program reads ``sd["param_groups"][0]["lr"]``), else the flat
        one. ``load_state_dict`` takes either, and a PyTorch optimiser's (tensors converted to
        arrays, or left as they are)."""
        torch_layout = torch_layout_default(torch_layout)
        for hook in list(self._state_dict_pre_hooks.values()):
            hook(self)
        if self._torch_style_state:
            out = self._user_state_dict()
        else:
            flat = self._flat_state_dict()
            out = self._torch_state(flat) if torch_layout else flat
        for hook in list(self._state_dict_post_hooks.values()):
            result = hook(self, out)
            if result is not None:
                out = result
        return out

    def _torch_state(self, flat: dict[str, np.ndarray]) -> dict[str, Any]:
        """``flat`` in PyTorch's layout, as a PyTorch optimiser's state_dict: each group with
        the class's implementation switches (``foreach``... at PyTorch's defaults) and fixed
        settings (Adam's ``decoupled_weight_decay``) before ``params``; the state as Tensors,
        ``step`` a 0-d float32 one (left out where PyTorch keeps none)."""
        nested = _nested_state(flat, len(self.param_groups))
        for group, own in zip(nested["param_groups"], self.param_groups):
            params = group.pop("params")
            for key, value in own.items():  # switches, fixed settings, the user's keys
                if key not in ("params", "param_names"):
                    # a Tensor lr..., an int or a pair holding one (weight_decay=0,
                    # step_sizes=(1e-6, 50)): the group's own, as torch's (the flat arrays'
                    # numbers are floats)
                    if _has_tensor(value) or _holds_int(value):
                        group[key] = value
                    else:
                        group.setdefault(key, value)
            group["params"] = params  # last, as PyTorch's
            if "param_names" in own:  # first, as PyTorch's
                names = {"param_names": own["param_names"]}
                names.update(group)
                group.clear()
                group.update(names)
        if not self.torch_state_tensors:
            return nested
        live_step = self.torch_step and not self.torch_step_int
        for index, slots in list(nested["state"].items()):
            slots = nested["state"][index] = self._torch_slots(slots)
            # the state's Tensors are the live ones, as torch's (flat's are copies): the same
            # objects as opt.state[p]'s, the step's count among them
            live = list.__getitem__(self.state, int(index))
            for slot, value in slots.items():
                array = live.get(slot)
                if isinstance(array, (int, float)) and (slot == "step" and live_step
                                                        or slot in self.scalar_slots):
                    slots[slot] = array  # a number the user set, as torch's dict holds it
                if not isinstance(value, Tensor) or not isinstance(array, np.ndarray):
                    continue
                if slot == "step" and live_step and array.ndim == 0 \
                        or slot != "step" and array.shape == value.data.shape \
                        and array.dtype == value.data.dtype:
                    slots[slot] = self._view(int(index), slot, array)
        # the user's own keys of opt.state[p], as they are (torch's state dict holds them)
        for index, extras in sorted(self.__dict__.get("_extras", {}).items()):
            if extras:
                nested["state"].setdefault(index, {}).update(extras)
        # torch's order (its dict's: the entries made first, by a step or a read, first), an
        # entry without state among them ({}: a parameter whose opt.state[p] was read)
        saved = nested["state"]
        nested["state"] = {i: saved.get(i, {}) for i in self._state.entries()
                           if saved.get(i) or i in self.__dict__.get("_order", ())}
        return nested

    def _torch_slots(self, slots: dict[str, Any], scalars: bool = False,
                     scalar_dtype: Any = np.float32, index: int | None = None) -> dict[str, Any]:
        """One parameter's state as PyTorch's: arrays as Tensors (sharing memory), ``step`` a
        0-d float32 Tensor (left out where PyTorch keeps none); with ``scalars`` the
        ``scalar_slots`` too, as ``scalar_dtype`` Tensors (PyTorch's are float32, the
        parameter's dtype once loaded; a state dict keeps dlpy's precision). With ``index``
        (``slots`` parameter ``index``'s live state): the live Tensors (``_view``)."""
        if not self.torch_state_tensors:
            return slots
        out = {}
        # torch's order: step first, then one-number slots (NAdam's mu_product), the rest
        order = sorted(slots, key=lambda s: (s != "step", s not in self.scalar_slots))
        for slot in order:
            value = slots[slot]
            if slot == "step" or (scalars and slot in self.scalar_slots):
                if slot == "step" and self.torch_step_int:
                    out[slot] = int(value)
                elif not isinstance(value, np.ndarray) and (slot != "step" or self.torch_step):
                    out[slot] = value  # a number the user set, as torch's dict holds it
                elif (slot != "step" or self.torch_step) and index is not None \
                        and value.ndim == 0:
                    out[slot] = self._view(index, slot, value)
                elif slot != "step" or self.torch_step:
                    dtype = np.float32 if slot == "step" else scalar_dtype
                    out[slot] = Tensor(np.asarray(value, dtype=dtype))
            elif isinstance(value, np.ndarray):
                out[slot] = self._view(index, slot, value) if index is not None else Tensor(value)
            else:
                out[slot] = value
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict``'s state (either layout, or PyTorch's); strict about names,
        group layout and shapes."""
        if isinstance(state, dict):
            state = dict(state)  # (shallow, as torch's: a pre hook's changes stay here)
        for hook in list(self._load_state_dict_pre_hooks.values()):
            result = hook(self, state)
            if result is not None:
                state = result
        extras, user_keys, given = None, {}, None
        if self._torch_style_state:
            self._load_user_state_dict(state)
        elif "param_groups" in state and "state" in state:
            given, saved_groups = state["state"], state["param_groups"]
            if self.torch_state_tensors:  # (LBFGS's state is all its own numbers and lists)
                state, user_keys = self._split_user_keys(state)
            flat = self._flat_from_nested(state)
            # what the flat layout does not hold (switches, the user's keys): as saved; a
            # switch the saved group lacks gets torch's __setstate__ value
            extras = [{**{k: self.torch_load_flags.get(k, _TORCH_FLAG_DEFAULTS.get(k))
                          for k in self.torch_flags if k not in group},
                       **{k: v for k, v in group.items() if k not in self._defaults
                          and k != "params"}}
                      for group in state["param_groups"]]
            orders = [list(group) for group in state["param_groups"]]
            # a saved Tensor lr (betas...): a copy of it, as torch's (it deep-copies the
            # groups); an int (weight_decay=0) stays one
            extras = [{**extra, **{k: copy.deepcopy(v) for k, v in group.items()
                                   if k != "params" and (_has_tensor(v) or _holds_int(v))}}
                      for extra, group in zip(extras, state["param_groups"])]
            state = flat
        if not self._torch_style_state:
            self._load_flat_state_dict(state)
            if given is not None:  # (LBFGS: its own _adopt)
                self._adopt(given, saved_groups)
            if user_keys:
                self.__dict__["_extras"] = user_keys
        for group, extra in zip(self.param_groups, extras or ()):
            group.update(extra)
            if any(k != "lr" and _has_tensor(v) for k, v in extra.items()):
                self._tensor_hypers = True
        if extras is not None:  # the saved groups' key order, as torch's (the rest after)
            for group, order in zip(self.param_groups, orders):
                ordered = {k: group[k] for k in order if k in group}
                ordered.update(group)
                group.clear()
                group.update(ordered)
        if "differentiable" not in self.torch_flags and not self._torch_style_state:
            # torch's load_state_dict runs __setstate__, which gives every optimiser's defaults
            # a "differentiable" (False): groups added later carry it
            self._torch_extras = {**getattr(self, "_torch_extras", {}), "differentiable": False}
            self._public_defaults = None
        for hook in list(self._load_state_dict_post_hooks.values()):
            hook(self)

    def _split_user_keys(self, state: dict[str, Any]) -> tuple[dict[str, Any], dict]:
        """PyTorch's layout without the per-parameter keys that are not this optimiser's
        (``step`` or a slot under the saved group's settings), and those keys (flat index ->
        {key: value}, kept as they are, as torch's load keeps them)."""
        saved = state["state"]
        if not isinstance(saved, dict) or not isinstance(state["param_groups"], (list, tuple)):
            return state, {}
        known: dict[int, set] = {}
        i = 0
        for g, group in enumerate(self.param_groups):
            settings = {**group, **(state["param_groups"][g]
                                    if g < len(state["param_groups"]) else {})}
            for p in group["params"]:
                try:
                    known[i] = {*self._param_slots(p.ndim, settings), "step"}
                except (KeyError, TypeError, ValueError):
                    known[i] = None  # (settings that do not read: every key kept as a slot)
                i += 1
        kept, user_keys = {}, {}
        for index, slots in saved.items():
            names = known.get(int(index)) if isinstance(index, (int, np.integer, str)) \
                and str(index).isdigit() else None
            if names is None or not isinstance(slots, dict):
                kept[index] = slots
                continue
            kept[index] = {k: v for k, v in slots.items() if k in names}
            own = {k: v for k, v in slots.items() if k not in names}
            if own:
                user_keys[int(index)] = own
        return {**state, "state": kept}, user_keys

    def _signature_defaults(self) -> dict[str, Any]:
        """The constructor's default settings (a loaded group that lacks one gets it, as
        torch's __setstate__ fills them), but ``lr``: torch leaves it missing."""
        out = {}
        for key, param in inspect.signature(type(self).__init__).parameters.items():
            if key != "lr" and param.default is not inspect.Parameter.empty:
                out[key] = param.default
        return out

    def _user_state_dict(self) -> dict[str, Any]:
        """A torch-style subclass's state as torch's: each parameter's dict (its values
        shared), keyed by the parameter's flat index, and the groups with indices."""
        groups, start = [], 0
        for group in self.param_groups:
            count = len(group["params"])
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = list(range(start, start + count))
            groups.append(packed)
            start += count
        states = dict(self.state.keyed)  # (torch's dict's keys that are no parameter)
        states.update((i, state) for i, state in enumerate(list.__iter__(self.state)) if state)
        return {"state": states, "param_groups": groups}

    def _load_user_state_dict(self, state: dict[str, Any]) -> None:
        """``_user_state_dict``'s (or a torch optimiser's) state into a torch-style subclass:
        the groups' settings, and each parameter's dict (Tensors cast to the parameter's dtype
        but ``step``), as torch's load_state_dict."""
        if not isinstance(state, dict) or "param_groups" not in state or "state" not in state:
            raise ValueError(f"{type(self).__name__}.load_state_dict: expected a dict with "
                             f"'state' and 'param_groups', got {type(state).__name__}")
        saved = state["param_groups"]
        if len(saved) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(own["params"]) for g, own in zip(saved, self.param_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match "
                             "the size of optimizer's group")
        index = {}
        for g, own in zip(saved, self.param_groups):
            index.update(zip(g["params"], own["params"]))
        states = [{} for _ in self.params]
        keyed = {}  # (torch's load keeps a key that names no parameter as it is)
        position = {id(p): i for i, p in enumerate(self.params)}
        for key, slots in state["state"].items():
            param = index.get(key)
            if param is None:
                if ParamStates._is_keyed(key):
                    keyed[key] = slots
                continue
            states[position[id(param)]] = {
                slot: value.to(param.dtype) if isinstance(value, Tensor) and slot != "step"
                and value.is_floating_point() else value for slot, value in slots.items()}
        self.state = states
        self.state.keyed.update(keyed)
        for g, own in zip(saved, self.param_groups):
            names = own.get("param_names")
            own.clear()
            # a copy of the saved settings, as torch's (which deep-copies the groups): a
            # Tensor the step updates in place (Prodigy's d_numerator) is not shared with the
            # optimiser the state dict came from
            own.update({k: copy.deepcopy(v) for k, v in g.items() if k != "params"})
            own["params"] = [index[i] for i in g["params"]]
            if names is not None and "param_names" not in own:
                own["param_names"] = names

    def _flat_from_nested(self, state: dict[str, Any]) -> dict[str, np.ndarray]:
        """PyTorch's layout as ``_flat_state_dict``'s names. A group's keys other than
        settings (``foreach``, ``initial_lr``, the user's) are left out, as is a slot PyTorch
        leaves None (SGD's momentum buffer without momentum); the step count is the largest
        parameter's ``step`` (PyTorch keeps none), and a parameter with state but no ``step``
        (PyTorch's SGD) gets 1: it has taken steps."""
        name = type(self).__name__
        groups = state["param_groups"]
        if not isinstance(groups, (list, tuple)):
            raise ValueError(f"{name}.load_state_dict: 'param_groups' must be a list of dicts, "
                             f"got {type(groups).__name__}")
        if len(groups) != len(self.param_groups):  # (torch's messages)
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(own["params"]) for g, own in zip(groups, self.param_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match "
                             "the size of optimizer's group")
        flat: dict[str, np.ndarray] = {}
        fallback = None
        for g, group in enumerate(groups):
            # a setting the saved group lacks (saved by an older torch): the value torch's
            # __setstate__ gives it, the constructor's default
            for key in self._defaults:
                if key not in group:
                    fallback = self._signature_defaults() if fallback is None else fallback
                    if key in fallback:
                        flat[f"group.{g}.{key}"] = np.asarray(fallback[key])
            for key, value in group.items():
                if key == "params":
                    flat[f"group.{g}.params"] = np.asarray(list(value), dtype=np.int64)
                elif key in self.torch_fixed and key not in self._defaults:
                    if bool(value) != self.torch_fixed[key] \
                            and key not in self.torch_group_settings:
                        raise ValueError(f"{name}.load_state_dict: parameter group {g} has "
                                         f"{key}={value!r}; {name} has "
                                         f"{key}={self.torch_fixed[key]}")
                elif key in self._defaults:  # (the rest: load_state_dict keeps as they are)
                    flat[f"group.{g}.{key}"] = np.asarray(value)
        steps = [0]
        for index, slots in state["state"].items():
            slots = {slot: np.asarray(value) for slot, value in slots.items()
                     if value is not None}
            if slots and "step" not in slots and self.torch_state_tensors:
                # (LBFGS's state has no step: its n_iter counts)
                slots["step"] = np.asarray(1, dtype=np.int64)
            for slot, value in slots.items():
                flat[f"state.{int(index)}.{slot}"] = value
            if "step" in slots:
                steps.append(int(slots["step"]))
        flat["step_count"] = np.asarray(max(steps), dtype=np.int64)
        return flat

    def _flat_state_dict(self) -> dict[str, np.ndarray]:
        """Flat name -> array: ``group.<g>.<setting>`` and ``group.<g>.params`` (the flat
        indices of the group's parameters), ``step_count``, ``state.<param index>.<slot>``.
        Arrays only, so it saves in an ``.npz`` beside the model."""
        out: dict[str, np.ndarray] = {}
        start = 0
        for g, group in enumerate(self.param_groups):
            for key in self._defaults:
                out[f"group.{g}.{key}"] = np.asarray(group[key])
            count = len(group["params"])
            out[f"group.{g}.params"] = np.arange(start, start + count, dtype=np.int64)
            start += count
        out["step_count"] = np.asarray(self.step_count, dtype=np.int64)
        for i, state in enumerate(self.state):
            for slot, value in state.items():
                out[f"state.{i}.{slot}"] = value.copy() if isinstance(value, np.ndarray) \
                    else np.asarray(value)  # (a number set by the user)
        return out

    def _groups_from_state(self, state: dict[str, np.ndarray]) -> list[dict[str, Any]]:
        """The groups' settings stored in ``state`` (also the one-group ``hyper.<name>`` keys
        that dlpy wrote before parameter groups)."""
        name = type(self).__name__
        if any(key.startswith("hyper.") for key in state):
            old = {key[len("hyper."):]: float(value) for key, value in state.items()
                   if key.startswith("hyper.")}
            if "beta1" in old and "beta2" in old:
                old["betas"] = (old.pop("beta1"), old.pop("beta2"))
            unknown = sorted(set(old) - set(self._defaults))
            missing = sorted(k for k in self._defaults if k not in old and k != "nesterov"
                             and k not in self.added_settings)
            if unknown or missing or len(self.param_groups) != 1:
                raise ValueError(f"{name}.load_state_dict: missing keys: "
                                 f"{[f'hyper.{k}' for k in missing] or 'none'}; unexpected keys: "
                                 f"{[f'hyper.{k}' for k in unknown] or 'none'}")
            return [{**self.param_groups[0], **self.added_settings, **old,
                     "params": self.param_groups[0]["params"]}]
        groups = []
        for g, group in enumerate(self.param_groups):
            expected = [f"group.{g}.{key}" for key in (*self._defaults, "params")
                        if key not in self.added_settings]
            missing = [key for key in expected if key not in state]
            if missing:
                raise ValueError(f"{name}.load_state_dict: missing keys: {missing}")
            indices = [i for i, p, grp in self._indexed() if grp is group]
            stored = np.asarray(state[f"group.{g}.params"]).tolist()
            if stored != indices:
                raise ValueError(
                    f"{name}.load_state_dict: parameter group {g} holds parameters {stored} in "
                    f"the state but {indices} in this optimiser"
                )
            settings = {}
            for key, default in self._defaults.items():
                if f"group.{g}.{key}" not in state:  # one of added_settings
                    settings[key] = self.added_settings[key]
                    continue
                value = np.asarray(state[f"group.{g}.{key}"])
                if isinstance(default, bool):
                    settings[key] = bool(value)
                elif isinstance(default, tuple):
                    settings[key] = tuple(float(v) for v in value.reshape(-1))
                else:
                    settings[key] = float(value)
            groups.append({"params": group["params"], **self._check_group(settings)})
        return groups

    def _load_flat_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore ``_flat_state_dict``'s groups' settings and per-parameter state."""
        name = type(self).__name__
        known = {f"group.{g}.{key}" for g in range(len(self.param_groups))
                 for key in (*self._defaults, "params")}
        try:
            unexpected = sorted(k for k in state if k not in known and k != "step_count"
                                and not k.startswith(("state.", "hyper.")))
        except AttributeError as err:  # not a dict of names (a list): torch's TypeError
            raise _StateTypeError(str(err)) from None
        if unexpected or "step_count" not in state:
            raise _StateKeyError(
                f"{name}.load_state_dict: missing keys: "
                f"{['step_count'] if 'step_count' not in state else 'none'}; unexpected keys: "
                f"{unexpected or 'none'}"
            )
        groups = self._groups_from_state(state)
        # the slots a parameter has follow the restored settings (SGD's momentum, RMSprop's
        # centered, Adam's amsgrad), not the ones this optimiser was made with
        group_of = [groups[g] for g, group in enumerate(self.param_groups)
                    for _ in group["params"]]
        scalars = {"step": self._step_zero().dtype, **self.scalar_slots}
        new_state: list[dict[str, np.ndarray]] = [{} for _ in self.params]
        for key, value in state.items():
            if not key.startswith("state."):
                continue
            parts = key.split(".")
            index = int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else -1
            slots = self._param_slots(self.params[index].ndim, group_of[index]) \
                if 0 <= index < len(self.params) else ()
            if index >= len(self.params):
                raise ValueError(
                    f"{name}.load_state_dict: state for parameter {index}, but the optimiser "
                    f"has {len(self.params)} parameters"
                )
            if index < 0 or parts[2] not in (*slots, "step") or not slots:
                raise ValueError(f"{name}.load_state_dict: unexpected key {key!r}")
            value = np.asarray(value)
            if parts[2] in scalars:
                if value.size != 1:
                    raise ValueError(f"{name}.load_state_dict: {key} must hold one number, got "
                                     f"shape {value.shape}")
                value = value.reshape(())
            elif value.shape != self._slot_shape(parts[2], self.params[index].data.shape):
                raise ValueError(
                    f"{name}.load_state_dict: {key} has shape {value.shape}, parameter {index} "
                    f"has {self.params[index].data.shape} (the slot: "
                    f"{self._slot_shape(parts[2], self.params[index].data.shape)})"
                )
            dtype = scalars.get(parts[2], self.params[index].dtype)
            if parts[2] in self.scalar_slots and value.dtype.kind == "f":
                dtype = value.dtype  # (float32 as torch's, float64 as dlpy's older states)
            new_state[index][parts[2]] = value.astype(dtype, copy=True)
        for index, slots in enumerate(new_state):
            allowed = {*self._param_slots(self.params[index].ndim, group_of[index]), "step"}
            if slots and set(slots) != allowed:
                raise ValueError(
                    f"{name}.load_state_dict: parameter {index} has state "
                    f"{sorted(slots)}, expected {sorted(allowed)}"
                )
        for group, restored in zip(self.param_groups, groups):
            group.update(restored)
        self.step_count = int(state["step_count"])
        self.state = new_state

    def __repr__(self) -> str:
        """torch's layout: each group's settings, one a line, sorted by name."""
        text = f"{type(self).__name__} ("
        for g, group in enumerate(self.param_groups):
            text += f"\nParameter Group {g}\n"
            text += "".join(f"    {key}: {group[key]}\n" for key in sorted(group)
                            if key != "params")
        return text + ")"


class ParamStates(list):
    """An optimiser's per-parameter states, a list in ``params`` order (dlpy's ``state[i]``);
    indexed by a parameter (torch's ``opt.state[p]``) it gives that parameter's state as
    PyTorch holds it (``Optimizer._torch_slots``: Tensors sharing the arrays; {} before the
    parameter's first step), ``p in opt.state`` says whether it has any and ``len`` counts
    those that have.

    Keys that are neither parameters nor list positions (a string: MADGRAD's
    ``opt.state["k"]``, a counter kept for the whole optimiser) are entries of torch's
    ``defaultdict(dict)`` too: kept apart (``keyed``), reading a missing one makes it ``{}``,
    and ``keys``/``items``/``len``/``in`` and the state dict count them (first, as they are
    usually made before any parameter's)."""

    __slots__ = ("_optimizer", "_keyed")

    def __init__(self, optimizer: Optimizer, states=()):
        super().__init__(states)
        self._optimizer = optimizer
        self._keyed: dict[Any, Any] = {}

    @staticmethod
    def _is_keyed(key) -> bool:
        """Whether ``key`` is one of torch's dict keys that is no parameter and no position."""
        return not isinstance(key, (Tensor, int, slice, np.integer))

    @property
    def keyed(self) -> dict[Any, Any]:
        """The entries under keys that are not parameters (torch's dict's other keys)."""
        return self._keyed

    def _index(self, param: Tensor) -> int:
        for i, p in enumerate(self._optimizer.params):
            if p is param:
                return i
        return -1

    def _checked_index(self, param: Tensor) -> int:
        index = self._index(param)
        if index < 0:
            raise KeyError(f"{type(self._optimizer).__name__}.state: the tensor is not one of "
                           "the optimiser's parameters")
        return index

    def _raw(self) -> bool:
        """Whether ``state[p]`` is the stored dict itself: a torch-style subclass's (the dict
        its step fills) or one whose state holds no Tensors (LBFGS's)."""
        optimizer = self._optimizer
        return optimizer._torch_style_state or not optimizer.torch_state_tensors

    def __getitem__(self, key):
        if self._is_keyed(key):  # (torch's defaultdict: a missing key makes its {})
            return self._keyed.setdefault(key, {})
        if isinstance(key, Tensor):
            index = self._checked_index(key)
            # torch's defaultdict: reading a parameter's state makes its (empty) entry
            self._optimizer.__dict__.setdefault("_order", {}).setdefault(index)
            if self._raw():
                return list.__getitem__(self, index)
            return self._optimizer._live_state(index)
        return list.__getitem__(self, key)

    def entries(self) -> list[int]:
        """The flat indices of the parameters with an entry, in torch's dict order: those
        made by a step or a read in that order, then any whose state came otherwise (a
        checkpoint of dlpy's layout) in ``params`` order."""
        order = [i for i in self._optimizer.__dict__.get("_order", ())
                 if i < list.__len__(self)]
        made = set(order)
        return order + [i for i in range(list.__len__(self))
                        if i not in made and self._has_state(i)]

    def __setitem__(self, key, value) -> None:
        """``opt.state[p] = {...}`` (torch's dict): the parameter's state replaced, ``{}``
        starting it afresh."""
        if self._is_keyed(key):
            self._keyed[key] = value
            return
        if not isinstance(key, Tensor):
            list.__setitem__(self, key, value)
            return
        index = self._checked_index(key)
        self._optimizer.__dict__.setdefault("_order", {}).setdefault(index)
        if self._raw():
            list.__setitem__(self, index, value)
            return
        list.__setitem__(self, index, {})
        self._optimizer.__dict__.get("_loaded_scalars", set()).discard(index)
        self._optimizer.__dict__.get("_extras", {}).pop(index, None)
        items = dict(value).items()
        live = self._optimizer._live_state(index)
        for entry, item in items:
            live[entry] = item

    def __delitem__(self, key) -> None:
        if self._is_keyed(key):
            del self._keyed[key]
            return
        if not isinstance(key, Tensor):
            list.__delitem__(self, key)
            return
        index = self._checked_index(key)  # (a parameter without state too: torch's
        list.__setitem__(self, index, {})  # defaultdict made its entry when it was read)
        optimizer = self._optimizer
        optimizer.__dict__.get("_loaded_scalars", set()).discard(index)
        optimizer.__dict__.get("_extras", {}).pop(index, None)
        optimizer.__dict__.get("_order", {}).pop(index, None)
        optimizer.__dict__.get("_live", {}).pop(index, None)  # (a held one: torch's old dict)

    def _has_state(self, index: int) -> bool:
        return bool(list.__getitem__(self, index)) \
            or index in self._optimizer.__dict__.get("_order", ()) \
            or bool(self._optimizer.__dict__.get("_extras", {}).get(index))

    def __len__(self) -> int:
        """How many parameters have an entry (torch's: those that took a step, or whose
        ``opt.state[p]`` was read: its defaultdict made one)."""
        return len(self._keyed) + sum(1 for index in range(list.__len__(self))
                                      if self._has_state(index))

    def __contains__(self, key) -> bool:
        if self._is_keyed(key):
            return key in self._keyed
        if isinstance(key, Tensor):
            index = self._index(key)
            return index >= 0 and self._has_state(index)
        return list.__contains__(self, key)

    # torch's ``optimizer.state`` is a dict: parameter -> its state, those that have one
    def keys(self) -> list[Any]:
        params = self._optimizer.params
        return [*self._keyed, *(params[i] for i in self.entries())]

    def values(self) -> list[dict[str, Any]]:
        return [self[p] for p in self.keys()]

    def items(self) -> list[tuple[Tensor, dict[str, Any]]]:
        return [(p, self[p]) for p in self.keys()]

    def get(self, key, default=None):
        """dict.get: a parameter's state, or ``default`` where it has none (yet)."""
        return self[key] if key in self else default

    def setdefault(self, key, default=None):
        """dict.setdefault: the entry under ``key``, set to ``default`` first if it has none."""
        if key not in self:
            self[key] = default
        return self[key]


class _LiveState(dict):
    """``opt.state[p]`` of a built-in optimiser: the parameter's state as PyTorch shows it
    (Tensors sharing the arrays its steps update) and, as torch's live dict, one whose changes
    reach the optimiser: ``step`` or a slot set (``state["step"] += 1``, a buffer replaced), a
    key of the user's own kept (and saved by ``state_dict``), a key deleted."""

    __slots__ = ("_optimizer", "_index")

    def __init__(self, optimizer: Optimizer, index: int, shown: dict[str, Any]):
        super().__init__(shown)
        self._optimizer, self._index = optimizer, index

    def _refresh(self) -> None:
        """Show the stored state (the live Tensors) and the user's keys."""
        optimizer, index = self._optimizer, self._index
        raw = list.__getitem__(optimizer.state, index)
        shown = optimizer._torch_slots(raw, scalars=True, index=index)
        dict.clear(self)
        dict.update(self, shown)
        extras = optimizer.__dict__.get("_extras", {}).get(index)
        if extras:
            dict.update(self, extras)

    def __setitem__(self, key, value) -> None:
        self._optimizer._set_state_entry(self._index, key, value)
        dict.__setitem__(self, key, value)

    def __delitem__(self, key) -> None:
        dict.__delitem__(self, key)
        self._optimizer._del_state_entry(self._index, key)

    def update(self, *args, **kwargs) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def setdefault(self, key, default=None):
        if key not in self:
            self[key] = default
        return dict.__getitem__(self, key)

    _missing = object()

    def pop(self, key, default=_missing):
        if key not in self:
            if default is _LiveState._missing:
                raise KeyError(key)
            return default
        value = dict.__getitem__(self, key)
        del self[key]
        return value

    def popitem(self):
        key = next(reversed(self))
        return key, self.pop(key)

    def clear(self) -> None:
        dict.clear(self)
        list.__getitem__(self._optimizer.state, self._index).clear()
        self._optimizer.__dict__.get("_extras", {}).pop(self._index, None)


def _as_real(array: np.ndarray) -> np.ndarray:
    """A complex array as its (..., 2) real and imaginary parts, a view that writes go through
    (numpy's torch.view_as_real); a real array as it is."""
    if array.dtype.kind != "c":
        return array
    return array[..., None].view(array.real.dtype)


def _complex_state(state: dict[str, np.ndarray], shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """A state made on a parameter's real view: its (*shape, 2) arrays as complex ones (the
    dtype torch's state has; 0-d slots as they are)."""
    pairs = (*shape, 2)
    return {key: np.ascontiguousarray(value).view(complex_dtype(value.dtype))[..., 0]
            if value.shape == pairs else value for key, value in state.items()}


def _check_differentiable(owner: str, group: dict[str, Any]) -> None:
    """An optimiser made with ``differentiable=True``: torch's step runs with the autograd
    on, so its in-place update of a parameter that requires grad fails (RuntimeError); on
    parameters that do not, it is the plain step, unless a gradient requires grad or the
    parameter is not a leaf (torch records the step in the graph, which dlpy's numpy steps
    cannot)."""
    for p in group["params"]:
        grad = p._grad
        if grad is None:
            continue
        if p.requires_grad and not p.is_leaf:  # torch records the update in the graph
            raise UnsupportedArgError(f"{owner}: differentiable=True on a parameter that is "
                                      "not a leaf (a step recorded by the autograd) is not "
                                      "supported: dlpy's steps are not recorded")
        if p.requires_grad:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place "
                               "operation.")
        if isinstance(grad, Tensor) and grad.requires_grad:
            raise UnsupportedArgError(f"{owner}: differentiable=True with a gradient that "
                                      "requires grad (a step recorded by the autograd) is not "
                                      "supported: dlpy's steps are not recorded")


class _ComplexParamValueError(TypeError, ValueError):
    """A complex parameter given to SparseAdam: torch's ValueError (TypeError as dlpy's was)."""


class _ComplexParamError(RuntimeError):
    """A step on a complex parameter where torch's refuses it (Adafactor, Muon)."""


class _ForeachAutogradError(AssertionError):
    """differentiable=True with foreach=True: torch's for-each step asserts it is not
    recorded by the autograd."""


class _NumberStepError(RuntimeError):
    """torch's step on a state whose ``step`` is a plain number (RuntimeError)."""


def _scalar_dtype(group: dict[str, Any] | None = None) -> np.dtype:
    """torch's _get_scalar_dtype: the dtype of a step count and the one-number slots
    (float32; float64 under set_default_dtype(float64), but for a fused group)."""
    if group is not None and group.get("fused"):
        return np.dtype(np.float32)
    return np.dtype(np.float64 if default_dtype() == np.float64 else np.float32)


def _check_torch_flags(owner: str, accepted: tuple[str, ...], flags: dict[str, Any]) -> None:
    """PyTorch's implementation switches a constructor takes (``foreach``...): no effect in
    dlpy (``differentiable=True`` is checked by the step: _check_differentiable); any other
    keyword is Python's TypeError."""
    for key in flags:
        if key not in accepted:
            raise TypeError(f"{owner}.__init__() got an unexpected keyword argument {key!r}")
    if flags.get("foreach") and flags.get("fused"):
        raise RuntimeError("`fused` and `foreach` cannot be `True` together.")


# hooks of every optimiser's step (torch.optim.optimizer.register_optimizer_step_pre_hook)
_GLOBAL_STEP_PRE_HOOKS: dict[int, Any] = {}
_GLOBAL_STEP_POST_HOOKS: dict[int, Any] = {}
# (torch's names of those tables)
_global_optimizer_pre_hooks = _GLOBAL_STEP_PRE_HOOKS
_global_optimizer_post_hooks = _GLOBAL_STEP_POST_HOOKS


def register_optimizer_step_pre_hook(hook):
    """``hook(optimizer, args, kwargs)`` before every optimiser's ``step`` (before the
    optimiser's own hooks); returns a handle whose ``remove()`` takes it off."""
    return add_hook(_GLOBAL_STEP_PRE_HOOKS, hook, "register_optimizer_step_pre_hook")


def register_optimizer_step_post_hook(hook):
    """``hook(optimizer, args, kwargs)`` after every optimiser's ``step``."""
    return add_hook(_GLOBAL_STEP_POST_HOOKS, hook, "register_optimizer_step_post_hook")


def _step_pre_hooks(optimizer, hooks: list, args: tuple, kwargs: dict, message):
    """Call each step pre-hook ``hook(optimizer, args, kwargs)`` in order; one may return new
    ``(args, kwargs)`` for the hooks after it and the step (anything else but None: a
    RuntimeError, ``message(result)``)."""
    for hook in hooks:
        result = hook(optimizer, args, kwargs)
        if result is not None:
            if not (isinstance(result, tuple) and len(result) == 2):
                raise RuntimeError(message(result))
            args, kwargs = result
    return args, kwargs


def _with_global_hooks(step):
    """A class's ``step`` that goes through ``_hooked_step`` while global step hooks exist
    (two dict checks otherwise)."""
    def hooked(self, *args, **kwargs):
        if (_GLOBAL_STEP_PRE_HOOKS or _GLOBAL_STEP_POST_HOOKS) \
                and not self.__dict__.get("_in_hooked_step"):
            return self._hooked_step(*args, **kwargs)
        return step(self, *args, **kwargs)
    hooked.__name__, hooked.__qualname__, hooked.__doc__ = \
        step.__name__, step.__qualname__, step.__doc__
    hooked.__wrapped__ = step
    hooked._global_hooks = True
    return hooked


def _add_ordered(hooks: dict[int, Any], hook, prepend: bool, owner: str):
    """add_hook, first in line with ``prepend``."""
    handle = add_hook(hooks, hook, owner)
    if prepend:
        hooks[handle.id] = hooks.pop(handle.id)  # (to the end, then the rest after it)
        for key in [k for k in hooks if k != handle.id]:
            hooks[key] = hooks.pop(key)
    return handle


def _nested_state(flat: dict[str, np.ndarray], num_groups: int) -> dict[str, Any]:
    """``_flat_state_dict``'s names in PyTorch's layout (settings as Python values)."""
    state: dict[int, dict[str, np.ndarray]] = {}
    groups: list[dict[str, Any]] = [{} for _ in range(num_groups)]
    for key, value in flat.items():
        kind, _, rest = key.partition(".")
        if kind == "state":
            index, _, slot = rest.partition(".")
            state.setdefault(int(index), {})[slot] = value
        elif kind == "group":
            g, _, setting = rest.partition(".")
            groups[int(g)][setting] = value.tolist()
    for group in groups:
        for key in ("betas", "etas", "step_sizes"):  # pairs: tuples, as torch keeps them
            if isinstance(group.get(key), list):
                group[key] = tuple(group[key])
        group["params"] = group.pop("params")  # last, as PyTorch's
    return {"state": state, "param_groups": groups}


def _check_hyper(owner: str, **values: float) -> None:
    """Hyper-parameters must be finite, non-negative numbers: a NaN lr would pass ``lr < 0``."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
                or not math.isfinite(value) or value < 0:
            raise ValueError(f"{owner}: {name} must be a finite number >= 0, got {value!r}")


def _holds_int(value: Any) -> bool:
    """A Python int (not a bool), or a pair holding one: a setting torch keeps as given."""
    if type(value) is tuple:
        return any(type(v) is int for v in value)
    return type(value) is int


def _has_tensor(value: Any) -> bool:
    """A one-element Tensor, or a pair holding one (torch takes them as settings)."""
    if isinstance(value, Tensor):
        return value.data.size == 1
    return type(value) is tuple and any(isinstance(v, Tensor) and v.data.size == 1
                                        for v in value)


def _as_numbers(value: Any) -> Any:
    """``_has_tensor``'s value with its one-element Tensors as Python floats."""
    if isinstance(value, Tensor):
        return float(value.data.reshape(()))
    return tuple(float(v.data.reshape(())) if isinstance(v, Tensor) and v.data.size == 1
                 else v for v in value)


def _num(value: Any) -> int | float:
    """A checked hyper-parameter as a Python number: an int stays an int (torch keeps what it
    is given: its groups and repr show ``momentum: 0``), anything else becomes a float."""
    return value if type(value) is int or type(value) is float else float(value)


def _pair(betas: Any) -> Any:
    """betas as a tuple (a list is fine); anything else is left for _check_betas_and_eps to
    refuse with a clear message."""
    return tuple(betas) if isinstance(betas, (tuple, list)) else betas


def _check_betas_and_eps(name: str, settings: dict[str, Any]) -> dict[str, Any]:
    betas = settings["betas"]
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"{name}: betas must be a pair of numbers, got {betas!r}")
    _check_hyper(name, beta1=betas[0], beta2=betas[1], eps=settings["eps"])
    if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
        raise ValueError(f"{name}: betas must lie in [0, 1), got {tuple(betas)}")
    return {**settings, "betas": (_num(betas[0]), _num(betas[1])), "eps": _num(settings["eps"])}


def _check_flags(name: str, settings: dict[str, Any], *keys: str) -> dict[str, Any]:
    """On/off settings (``maximize``, ``amsgrad``...) must be True or False: a string "False"
    would read as on."""
    for key in keys:
        if not isinstance(settings[key], (bool, np.bool_)):
            raise ValueError(f"{name}: {key} must be True or False, got {settings[key]!r}")
    return {**settings, **{key: bool(settings[key]) for key in keys}}


def _effective_grad(param: np.ndarray, grad: np.ndarray, out: np.ndarray, weight_decay: float,
                    maximize: bool) -> np.ndarray:
    """The gradient a step follows, as PyTorch's: -grad with ``maximize``, plus
    ``weight_decay * param`` (L2). Written to ``out`` when it differs from ``grad``; the
    caller's gradient is never changed."""
    if weight_decay:
        np.multiply(param, weight_decay, out=out)
        if maximize:
            out -= grad
        else:
            out += grad
        return out
    if maximize:
        np.negative(grad, out=out)
        return out
    return grad


def _add_square(average: np.ndarray, grad: np.ndarray, weight: float,
                scratch: np.ndarray) -> None:
    """average += weight * grad * grad (torch's addcmul_ order)."""
    np.multiply(grad, weight, out=scratch)
    scratch *= grad
    average += scratch


def _add_ratio(param: np.ndarray, numerator: np.ndarray, denominator: np.ndarray, value: float,
               scratch: np.ndarray) -> None:
    """param += value * numerator / denominator (torch's addcdiv_ order); ``scratch`` may be
    ``numerator`` itself."""
    np.multiply(numerator, value, out=scratch)
    scratch /= denominator
    param += scratch


def _lerp(average: np.ndarray, target: np.ndarray, weight: float, scratch: np.ndarray) -> None:
    """average += weight * (target - average) in place: torch.lerp_'s two formulas (the second
    for weight >= 0.5, exact at weight 1)."""
    np.subtract(target, average, out=scratch)
    if abs(weight) < 0.5:
        scratch *= weight
        average += scratch
    else:
        scratch *= 1.0 - weight
        np.subtract(target, scratch, out=average)


def _adam_moments(p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, s: np.ndarray,
                  d: np.ndarray, decay: float | None, weight_decay: float, maximize: bool,
                  beta1: float, beta2: float) -> np.ndarray:
    """The start of an Adam-family step on one block (Adam, AdamW, NAdam, RAdam), in place:
    p *= decay (decoupled weight decay, unless None); m = b1 m + (1 - b1) g;
    v = b2 v + (1 - b2) g^2, with g the gradient followed (``_effective_grad``), returned.
    s and d are scratch arrays (g may be written to s)."""
    if decay is not None:
        p *= decay
    g = _effective_grad(p, g, s, weight_decay, maximize)
    _lerp(m, g, 1.0 - beta1, d)
    v *= beta2
    _add_square(v, g, 1.0 - beta2, d)
    return g


# ------------------------------------------------------------------ float16/bfloat16 steps
# torch keeps a low-precision parameter's state in its dtype and runs its single-tensor step
# (foreach=False, the CPU default) as separate ops, each computing in float32 and rounding its
# output to the parameter's dtype: the steps below repeat those ops, rounding where torch's do.
# Python scalars are float32 in mul/lerp/addcmul/addcdiv, but add's alpha is rounded to the
# tensor's dtype and a + alpha * b is one float32 fmadd (torch's vectorised loop; its scalar
# loop, for tensors shorter than a vector, rounds the product first: a last bit may differ).
_F32 = np.float32


def _round(a: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``a`` rounded to ``dtype`` (an op's output), back in float32 for the next op."""
    return a.astype(dtype).astype(_F32)


def _add(a: np.ndarray, b: np.ndarray, alpha: float, dtype: np.dtype) -> np.ndarray:
    """torch's ``a.add(b, alpha=alpha)`` on ``dtype`` tensors (given in float32), in float32:
    alpha rounded to dtype, one rounding of the fused a + alpha * b (from float64: exact)."""
    alpha = float(np.asarray(alpha, dtype).astype(_F32))
    return (a.astype(np.float64) + alpha * b.astype(np.float64)).astype(_F32)


def _lerp_low(state: np.ndarray, g: np.ndarray, weight: float) -> None:
    """torch's ``state.lerp_(g, weight)`` on a ``dtype`` state (g in float32): its float32
    formula, which takes the nearer end for the weight, as one fused multiply-add (its
    vector and scalar loops alike; emulated in float64), rounded to float32 and into
    ``state``."""
    s32, weight = state.astype(_F32), _F32(weight)
    diff = (g - s32).astype(np.float64)
    if weight < 0.5:
        out = s32.astype(np.float64) + float(weight) * diff
    else:
        out = g.astype(np.float64) - diff * float(_F32(1) - weight)
    state[...] = out.astype(_F32)


def _plus(a: np.ndarray, number: float, dtype: np.dtype) -> np.ndarray:
    """torch's ``a.add(number)`` on a ``dtype`` tensor (given in float32): the number rounded
    to dtype first (mul and div keep it float32), the sum rounded."""
    return _round(a + np.asarray(number, dtype).astype(_F32), dtype)


def _sqrt_plus(v: np.ndarray, eps: float, dtype: np.dtype) -> np.ndarray:
    """torch's ``v.sqrt().add_(eps)`` on a ``dtype`` tensor: each op rounded."""
    return _plus(_round(np.sqrt(v.astype(_F32)), dtype), eps, dtype)


def _low_grad(param, grad, weight_decay: float, maximize: bool):
    """(p, g) in float32, g = -grad with maximize, + weight_decay * p (grad.add(param, alpha))."""
    p, g = param.astype(_F32), grad.astype(_F32)
    if maximize:
        g = -g
    if weight_decay:
        g = _round(_add(g, p, weight_decay, param.dtype), param.dtype)
    return p, g


class SGD(Optimizer):
    """g = grad + weight_decay * p (-grad with maximize);  buf = momentum * buf + (1 -
    dampening) * g (buf = g at the first step, as PyTorch's);  p -= lr * (g + momentum * buf if
    nesterov else buf), or p -= lr * g without momentum.

    A sparse gradient moves only its rows without momentum; with momentum it is densified
    (the buffer touches every row); with weight decay it is refused, as torch's."""

    accepts_sparse = True
    added_settings = {"maximize": False, "dampening": 0.0}
    torch_flags = ("foreach", "differentiable", "fused")
    foreach_asserts_differentiable = False
    grad_layout_slots = ("momentum_buffer",)
    grad_layout_slots_over_param = ("weight_decay",)
    torch_load_flags = {"fused": False}
    torch_step = False  # PyTorch's SGD keeps its momentum buffer only

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float = 1e-3,
                 momentum: float = 0, dampening: float = 0, weight_decay: float = 0,
                 nesterov: bool = False, *, maximize: bool = False, **flags: Any):
        # (torch's positional order: lr, momentum, dampening, weight_decay, nesterov)
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "weight_decay": weight_decay, "nesterov": nesterov,
                                  "maximize": maximize} | self._checked_flags(flags))

    def _check_group(self, settings):
        settings = super()._check_group(settings)
        _check_hyper("SGD", momentum=settings["momentum"], dampening=settings["dampening"],
                     weight_decay=settings["weight_decay"])
        if settings["nesterov"] and (settings["momentum"] == 0 or settings["dampening"] != 0):
            raise ValueError(f"SGD: nesterov=True needs momentum > 0 and dampening 0, got "
                             f"momentum={settings['momentum']}, "
                             f"dampening={settings['dampening']}")
        settings = _check_flags("SGD", settings, "maximize")
        return {**settings, "momentum": _num(settings["momentum"]),
                "dampening": _num(settings["dampening"]),
                "weight_decay": _num(settings["weight_decay"]),
                "nesterov": bool(settings["nesterov"])}

    def _slots(self, group):
        return ("momentum_buffer",) if group["momentum"] else ()

    def _update(self, param, grad, state, group):
        lr, momentum, weight_decay = group["lr"], group["momentum"], group["weight_decay"]
        maximize, nesterov = group["maximize"], group["nesterov"]
        if type(grad) is not np.ndarray and isinstance(grad, SparseGrad):
            if not momentum and not weight_decay:
                grad = grad.coalesce()
                if maximize:
                    param[grad.indices] += lr * grad.values
                else:
                    param[grad.indices] -= lr * grad.values
                return
            if weight_decay:  # torch's grad.add(param, alpha=weight_decay) refuses it
                raise SparseGradError(
                    "SGD: weight_decay does not take a sparse gradient (torch: add(sparse, "
                    "dense) is not supported); leave weight_decay 0 for that parameter")
            grad = grad.dense()
        if not momentum:
            if not weight_decay and not maximize and param.nbytes <= self.block_bytes:
                if param.nbytes <= 1024 and type(lr) is float:  # (a small array costs less
                    param -= grad * lr  # than finding the scratch one; the same numbers)
                    return
                scratch = self._temporaries(param.dtype, param.shape)[0]  # (plain SGD: the
                np.multiply(grad, lr, out=scratch)  # step's common case, without _blocks)
                param -= scratch
                return
            for (p, g), (s, _) in self._blocks(param, grad):
                g = _effective_grad(p, g, s, weight_decay, maximize)
                np.multiply(g, lr, out=s)
                p -= s
            return
        first = state["step"] == 0
        state["step"] += 1
        undamped = 1.0 - group["dampening"]
        for (p, g, buf), (s, t) in self._blocks(param, grad, state["momentum_buffer"]):
            g = _effective_grad(p, g, s, weight_decay, maximize)
            if first:
                np.copyto(buf, g)
            else:
                buf *= momentum
                if undamped == 1.0:
                    buf += g
                else:  # (nesterov is off: t is free)
                    np.multiply(g, undamped, out=t)
                    buf += t
            if nesterov:  # g + momentum * buf
                np.multiply(buf, momentum, out=t)
                t += g
                g = t
            else:
                g = buf
            np.multiply(g, lr, out=s)
            p -= s


    def _update_low_precision(self, param, grad, state, group):
        """torch's single-tensor SGD on a float16/bfloat16 parameter (see above)."""
        lr, momentum, dtype = group["lr"], group["momentum"], param.dtype
        p, g = _low_grad(param, grad, group["weight_decay"], group["maximize"])
        if momentum:
            buf = state["momentum_buffer"]
            if state["step"] == 0:
                b = g
            else:  # buf.mul_(momentum).add_(g, alpha=1 - dampening)
                b = _round(_add(_round(buf.astype(_F32) * _F32(momentum), dtype), g,
                                1.0 - group["dampening"], dtype), dtype)
            state["step"] += 1
            buf[...] = b
            g = _round(_add(g, b, momentum, dtype), dtype) if group["nesterov"] else b
        param[...] = _add(p, g, -lr, dtype)  # param.add_(g, alpha=-lr)


class Adam(Optimizer):
    """m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
    p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).

    weight_decay adds weight_decay * p to g (L2, as torch.optim.Adam); AdamW decays p directly.
    amsgrad divides by the largest v so far (``max_exp_avg_sq``) instead of v; maximize
    follows -grad.
    """

    decoupled = False
    torch_group_settings = ("decoupled_weight_decay",)  # (kept from a loaded group, as torch)
    added_settings = {"amsgrad": False, "maximize": False}
    torch_flags = ("foreach", "capturable", "differentiable", "fused")  # (torch's order)

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False, **flags: Any):
        if decoupled_weight_decay:  # torch 2.13's Adam(decoupled_weight_decay=True): AdamW
            self.decoupled = True
        if isinstance(lr, Tensor) and flags.get("foreach") and not flags.get("capturable"):
            raise ValueError("lr as a Tensor is not supported for capturable=False and "
                             "foreach=True")
        if isinstance(betas, (tuple, list)) and len(betas) == 2 \
                and any(isinstance(v, Tensor) for v in betas):  # torch's checks, in its order
            if not all(isinstance(v, Tensor) for v in betas):
                raise ArgError("betas must be either both floats or both Tensors")
            for i, v in enumerate(betas):
                if flags.get("foreach") and not flags.get("capturable"):
                    raise ValueError(f"betas[{i}] as a Tensor is not supported for "
                                     "capturable=False and foreach=True")
                if v.data.size != 1:
                    raise ArgError(f"Tensor betas[{i}] must be 1-element")
        super().__init__(params, {"lr": lr, "betas": _pair(betas), "eps": eps,
                                  "weight_decay": weight_decay, "amsgrad": amsgrad,
                                  "maximize": maximize} | self._checked_flags(flags))

    @property
    def torch_fixed(self) -> dict[str, Any]:
        return {"decoupled_weight_decay": self.decoupled}

    def _check_group(self, settings):
        name = type(self).__name__
        settings = _check_betas_and_eps(name, super()._check_group(settings))
        _check_hyper(name, weight_decay=settings["weight_decay"])
        settings = _check_flags(name, settings, "amsgrad", "maximize")
        return {**settings, "weight_decay": _num(settings["weight_decay"])}

    def _slots(self, group):
        return ("exp_avg", "exp_avg_sq", "max_exp_avg_sq") if group["amsgrad"] \
            else ("exp_avg", "exp_avg_sq")

    def _update(self, param, grad, state, group):
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        weight_decay, maximize = group["weight_decay"], group["maximize"]
        decoupled = group.get("decoupled_weight_decay", self.decoupled)  # (per group, as torch)
        decay = 1.0 - lr * weight_decay if decoupled and weight_decay else None
        if decoupled:
            weight_decay = 0.0  # not added to the gradient
        state["step"] += 1
        t = float(state["step"])
        step_size = lr / (1.0 - beta1 ** t)
        bias2_sqrt = (1.0 - beta2 ** t) ** 0.5
        slots = [state["exp_avg"], state["exp_avg_sq"]]
        if group["amsgrad"]:
            slots.append(state["max_exp_avg_sq"])
        for (p, g, m, v, *v_max), (s, d) in self._blocks(param, grad, *slots):
            _adam_moments(p, g, m, v, s, d, decay, weight_decay, maximize, beta1, beta2)
            if v_max:  # amsgrad: divide by the largest v so far
                v = np.maximum(v_max[0], v, out=v_max[0])
            np.sqrt(v, out=d)
            d /= bias2_sqrt
            d += eps
            _add_ratio(p, m, d, -step_size, s)


    def _update_low_precision(self, param, grad, state, group):
        """torch's single-tensor Adam/AdamW on a float16/bfloat16 parameter (see above)."""
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        weight_decay, dtype = group["weight_decay"], param.dtype
        state["step"] += 1
        t = float(state["step"])
        decoupled = group.get("decoupled_weight_decay", self.decoupled)
        if decoupled and weight_decay:  # param.mul_(1 - lr * weight_decay)
            param[...] = param.astype(_F32) * _F32(1.0 - lr * weight_decay)
        p, g = _low_grad(param, grad, 0.0 if decoupled else weight_decay,
                         group["maximize"])
        m, v = state["exp_avg"], state["exp_avg_sq"]
        _lerp_low(m, g, 1.0 - beta1)  # exp_avg.lerp_(g, 1 - beta1)
        v32 = _round(v.astype(_F32) * _F32(beta2), dtype)  # mul_(beta2).addcmul_(g, g, 1 - b2)
        v[...] = v32 + _F32(1.0 - beta2) * g * g
        if group["amsgrad"]:
            v = np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
        bias2_sqrt = (1.0 - beta2 ** t) ** 0.5
        denom = _round(np.sqrt(v.astype(_F32)), dtype)  # (v.sqrt() / bias2_sqrt).add_(eps)
        denom = _plus(_round(denom / _F32(bias2_sqrt), dtype), eps, dtype)
        step_size = lr / (1.0 - beta1 ** t)  # param.addcdiv_(m, denom, value=-step_size)
        param[...] = p + _F32(-step_size) * m.astype(_F32) / denom


class AdamW(Adam):
    """Adam with decoupled weight decay: p *= 1 - lr * weight_decay before the Adam step."""

    decoupled = True
    torch_group_settings = ()  # (fixed: torch's AdamW sets it back to True on loading)

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 **flags: Any):
        if "decoupled_weight_decay" in flags:  # (fixed here, as torch's AdamW)
            raise TypeError("AdamW.__init__() got an unexpected keyword argument "
                            "'decoupled_weight_decay'")
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         **flags)


def _coalesce_low(grad: SparseGrad) -> tuple[np.ndarray, np.ndarray]:
    """(rows, values in float32) of a float16/bfloat16 sparse gradient with each row once, as
    torch's coalesce: a repeated row's values added in their order, each sum rounded to the
    dtype."""
    grad = grad.coalesce()  # (its low-precision sums round each add, as torch's)
    return grad.indices, grad.values.astype(_F32)


class SparseAdam(Optimizer):
    """Adam for sparse gradients, as ``torch.optim.SparseAdam``: only the rows a step's gradient
    touches move, and only their moments are updated (the "lazy" Adam); a row's moments keep
    their values while it is absent. With t the parameter's step count:
    m[rows] = b1 m[rows] + (1 - b1) g;  v[rows] = b2 v[rows] + (1 - b2) g^2;
    p[rows] -= lr sqrt(1 - b2^t) / (1 - b1^t) * m[rows] / (sqrt(v[rows]) + eps).

    Gradients must be sparse (``nn.Embedding(sparse=True)``, ``F.embedding(..., sparse=True)``,
    ``sparse_linear(..., sparse=True)``); no weight decay, as PyTorch's; maximize follows -grad.
    """

    accepts_sparse = True
    accepts_dense = False
    accepts_complex = False  # as torch's
    added_settings = {"maximize": False}
    torch_step_int = True  # PyTorch's SparseAdam counts its steps in a Python int

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 maximize: bool = False):
        # torch's SparseAdam wants its lr and eps above 0 (the other optimisers take 0)
        for name, value in (("lr", lr), ("eps", eps)):
            number = _as_numbers(value) if _has_tensor(value) else value
            if isinstance(number, (int, float, np.number)) and not isinstance(number, bool) \
                    and not number > 0:
                raise ValueError(f"SparseAdam: {name} must be > 0, got {value!r}")
        super().__init__(params, {"lr": lr, "betas": _pair(betas), "eps": eps,
                                  "maximize": maximize})

    def _check_group(self, settings):
        settings = _check_betas_and_eps("SparseAdam", super()._check_group(settings))
        return _check_flags("SparseAdam", settings, "maximize")

    def _slots(self, group):
        return ("exp_avg", "exp_avg_sq")

    def _update(self, param, grad, state, group):
        if param.dtype.itemsize == 2 and is_low_precision(param.dtype):
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                self._update_low_precision(param, grad, state, group)
            return
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        grad = grad.coalesce()
        rows, g = grad.indices, grad.values
        if group["maximize"]:
            g = -g
        state["step"] += 1
        t = int(state["step"])
        m_rows = state["exp_avg"][rows]
        m_rows += (g - m_rows) * (1.0 - beta1)
        state["exp_avg"][rows] = m_rows
        v_rows = state["exp_avg_sq"][rows]
        v_rows += (g * g - v_rows) * (1.0 - beta2)
        state["exp_avg_sq"][rows] = v_rows
        step_size = lr * math.sqrt(1.0 - beta2 ** t) / (1.0 - beta1 ** t)
        np.sqrt(v_rows, out=v_rows)
        v_rows += eps
        m_rows /= v_rows
        m_rows *= step_size
        param[rows] -= m_rows

    def _update_low_precision(self, param, grad, state, group):
        """torch's sparse_adam on a float16/bfloat16 parameter (see "float16/bfloat16 steps"):
        repeated rows summed in the dtype (coalesce), each op on the rows' values rounded."""
        lr, (beta1, beta2), eps, dtype = group["lr"], group["betas"], group["eps"], param.dtype
        rows, g = _coalesce_low(grad)
        if group["maximize"]:
            g = -g
        state["step"] += 1
        t = int(state["step"])
        m_old, v_old = state["exp_avg"][rows].astype(_F32), state["exp_avg_sq"][rows].astype(_F32)
        # update = (g - m) * (1 - beta1), added to m; (g^2 - v) * (1 - beta2), added to v
        m = _round(_round(_round(g - m_old, dtype) * _F32(1.0 - beta1), dtype) + m_old, dtype)
        v = _round(_round(_round(_round(g * g, dtype) - v_old, dtype) * _F32(1.0 - beta2),
                          dtype) + v_old, dtype)
        state["exp_avg"][rows], state["exp_avg_sq"][rows] = m, v
        step_size = lr * math.sqrt(1.0 - beta2 ** t) / (1.0 - beta1 ** t)
        update = _round(_round(m / _sqrt_plus(v, eps, dtype), dtype) * _F32(-step_size), dtype)
        param[rows] = param[rows].astype(_F32) + update


def grad_arrays(params: Iterable[Tensor]) -> list[np.ndarray]:
    """The gradient arrays of ``params`` that have one, to scale in place (a sparse gradient
    is coalesced first and gives its values: the norm of summed rows)."""
    if isinstance(params, Tensor):
        params = [params]
    grads = []
    for p in params:
        grad = p.grad
        if isinstance(grad, SparseGrad):
            p.grad = grad = grad.coalesce()
            grads.append(grad.values)
        elif grad is not None:
            grads.append(grad.data)
    return grads


def norm_power(arrays: list[np.ndarray], norm_type: float) -> float:
    """The sum of |g|^norm_type over the arrays (``inf``: the largest |g|; 0 for none): the
    part of a total norm that adds up over pieces."""
    # np.max / np.min of each array, then of those: a NaN in any is the answer (Python's
    # max / min keep or drop a NaN by its place)
    if norm_type == math.inf:
        return float(np.max([np.max(np.abs(g)) for g in arrays if g.size], initial=0.0))
    if norm_type == -math.inf:
        return float(np.min([np.min(np.abs(g)) for g in arrays if g.size], initial=math.inf))
    if norm_type == 2.0:  # float16 / bfloat16 summed in float32, as torch's (no overflow);
        # a complex array's parts apart (conj(g) g of an inf part is NaN)
        parts = [p for g in arrays for p in ((g.real, g.imag) if g.dtype.kind == "c" else (g,))]
        return sum(float(np.vdot(g, g)) if g.dtype.itemsize > 2 else
                   float(np.vdot(*(g.astype(np.float32),) * 2)) for g in parts)
    # |g| before the cast to float64: a complex gradient's modulus, not its real part
    with np.errstate(divide="ignore"):  # a negative order: |0|^p is inf, as torch's
        return sum(float(np.sum(np.abs(g).astype(np.float64) ** norm_type)) for g in arrays)


def split_pieces(params: Iterable[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
    """(plain parameters, parameters whose .data and .grad are one rank's piece of the whole:
    DTensors, see dlpy.tensor.register_piece_type)."""
    from dlpy.tensor import _PIECES

    params = [params] if isinstance(params, Tensor) else list(params)
    pieces = [p for p in params if _PIECES and isinstance(p, _PIECES)]
    return [p for p in params if not (_PIECES and isinstance(p, _PIECES))], pieces


def total_norm(arrays: list[np.ndarray], norm_type: float, owner: str,
               pieces: list[Tensor] = ()) -> float:
    """The ``norm_type``-norm of the arrays seen as one vector (2: L2, ``inf``: the largest
    absolute value); 0 for none. ``pieces``: sharded parameters (DTensors) whose whole
    gradients count too, their pieces' parts combined over the ranks (collectives: every rank
    must call it). clip_grad_norm and nn.utils.get_total_norm share it."""
    try:
        norm_type = float(norm_type)  # 'inf' too, as torch's
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: norm_type must be a number, got {norm_type!r}") from None
    if math.isnan(norm_type) or (norm_type <= 0 and pieces):
        raise ValueError(f"{owner}: norm_type must be a number (> 0 for sharded gradients), "
                         f"got {norm_type}")
    if not arrays and not pieces:
        return 0.0
    if norm_type == 0:  # torch's two stages: each tensor's count of non-zeros, then their count
        return float(sum(bool(np.count_nonzero(g)) for g in arrays))
    part = norm_power(arrays, norm_type)
    if pieces:
        shared = type(pieces[0]).grad_norm_power(pieces, norm_type)
        part = max(part, shared) if norm_type == math.inf else part + shared
    if abs(norm_type) == math.inf:
        return part
    return math.sqrt(part) if norm_type == 2.0 else part ** (1.0 / norm_type)


class NonFiniteNormError(RuntimeError, FloatingPointError):
    """A gradient norm is NaN or infinite (``error_if_nonfinite``): torch's RuntimeError, and
    the FloatingPointError dlpy raised before."""


def scale_to_norm(arrays: list[np.ndarray], max_norm: float, total: float) -> None:
    """Multiply the arrays in place by min(max_norm / (total + 1e-6), 1), PyTorch's clip
    coefficient (a NaN total gives NaN, as torch's)."""
    coefficient = max_norm / (total + 1e-6)
    if not coefficient >= 1.0:  # NaN too
        with np.errstate(invalid="ignore"):  # inf * 0 is NaN, as torch's, without a warning
            for g in arrays:
                g *= coefficient


def clip_grad_norm(params: Iterable[Tensor], max_norm: float,
                   error_if_nonfinite: bool = True, norm_type: float = 2.0) -> float:
    """Scale the gradients in place so their joint ``norm_type``-norm (2: L2, ``inf``: the
    largest absolute value) is at most ``max_norm``.

    Returns the norm before clipping (as torch.nn.utils.clip_grad_norm_). A NaN or infinite
    norm raises NonFiniteNormError (PyTorch's default is not to; pass False for that: the
    gradients are then left as they are and the non-finite norm is returned).
    """
    if not math.isfinite(max_norm) or max_norm <= 0:
        raise ValueError(f"clip_grad_norm: max_norm must be finite and > 0, got {max_norm}")
    plain, pieces = split_pieces(params)
    grads = grad_arrays(plain)
    total = total_norm(grads, norm_type, "clip_grad_norm",
                       [p for p in pieces if p.grad is not None])
    grads += grad_arrays(pieces)
    if not math.isfinite(total):
        if error_if_nonfinite:
            raise NonFiniteNormError(
                f"clip_grad_norm: the total gradient norm is {total} (a gradient holds NaN or "
                "inf); pass error_if_nonfinite=False to carry on"
            )
        return total
    scale_to_norm(grads, max_norm, total)
    return total


Optimizer.step = _with_global_hooks(Optimizer.step)
